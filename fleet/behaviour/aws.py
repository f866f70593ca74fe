"""What EKS, EC2 Auto Scaling and the charts fleet installs on EKS enforce: see fleet/behaviour/__init__.py.

The facts the rules rest on are data here too (the Cluster Autoscaler's ASG tag conventions), so
fleet.clouds.aws builds exactly what the rules expect, and this module stays free of the SDK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fleet.plan import DECOMMISSION_TAG, STABLE_TAG_KEYS
from fleet.recorded import UNKNOWN, Resource, ResourceRule, Stack, lookup, of_type, text_value

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG_TAG = "aws:autoscaling/tag:Tag"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
RELEASE = "kubernetes:helm.sh/v3:Release"

# Cluster Autoscaler on AWS (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md,
# "Auto-Discovery Setup"): an ASG is discovered when it carries every tag of
# --node-group-auto-discovery=asg:tag=...; EKS puts the first two on every managed node group's
# ASG itself ("Nodes launched as part of a managed node group are automatically tagged for
# auto-discovery", docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html).
AUTOSCALER_CHART = "cluster-autoscaler"
EKS_DISCOVERY_TAGS = ("k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/{cluster}")
# Scaling a group up from zero nodes: the labels and taints its nodes will have, as ASG tags.
NODE_TEMPLATE_LABEL = "k8s.io/cluster-autoscaler/node-template/label/"
NODE_TEMPLATE_TAINT = "k8s.io/cluster-autoscaler/node-template/taint/"
SCALING_ACTIONS = frozenset({"autoscaling:setdesiredcapacity", "autoscaling:terminateinstanceinautoscalinggroup"})
# Taints the autoscaler is told to ignore in node templates (its --startup-taint flag): they are
# removed from a node by an agent once it is up (Cilium's agent-not-ready).
STARTUP_TAINT_ARG = "startup-taint"

EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
# Launch template tag specifications may carry these besides STABLE_TAG_KEYS: fixed per pool.
POOL_TAG_KEYS = frozenset({"Name", "fleet-node-pool"})


# --- helpers ---------------------------------------------------------------------------------


def _stack(stack: Sequence[Resource]) -> Stack:
    return stack if isinstance(stack, Stack) else Stack(stack)


def _cluster_of(group: Resource) -> str:
    return text_value(group.inputs.get("clusterName")) or group.name


def _where(group: Resource) -> str:
    return f"cluster '{_cluster_of(group)}' ({group.type} '{group.name}')"


def _releases(stack: Stack, cluster: str, chart: str) -> list[Resource]:
    return [r for r in stack.of_type(RELEASE) if r.kubernetes_cluster == cluster and r.inputs.get("chart") == chart]


def _eks_cluster(stack: Stack, cluster: str) -> Resource | None:
    return next((c for c in stack.of_type(CLUSTER) if c.inputs.get("name") == cluster), None)


def _int(value: Any) -> int | None:
    """A whole number (the engine's wire format carries numbers as floats: 3.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value)


# --- eks-cni-before-nodes --------------------------------------------------------------------


def _cnis(stack: Stack, cluster: str) -> list[Resource]:
    cilium = _releases(stack, cluster, "cilium")
    vpc_cni = [a for a in stack.of_type(ADDON)
               if a.inputs.get("clusterName") == cluster and a.inputs.get("addonName") == "vpc-cni"]
    return cilium + vpc_cni


def cni_before_nodes(group: Resource, stack: Sequence[Resource]) -> list[str]:
    """A managed node group's nodes become Ready only once a CNI runs on them; EKS waits for Ready
    nodes and fails the group (NodeCreationFailure, after 20+ minutes) otherwise. With
    bootstrapSelfManagedAddons=false EKS installs no CNI, so the cluster's CNI (the vpc-cni add-on,
    or a Cilium Helm release on the cluster's Kubernetes provider) must be created before every node
    group, must not itself wait for them (a cycle), and a Cilium release must not wait for its pods
    to be Ready (skipAwait), which they cannot be before there are nodes.
    Sources: terraform-aws-modules/terraform-aws-eks#3446 ("Managed EKS Node Groups boot without
    CNI": nodes NotReady, "cni plugin not initialized"), #3160 (bootstrap_self_managed_addons makes
    node group creation fail), #1972; Cilium's EKS install (docs.cilium.io installation/k8s-install-helm,
    "EKS": node groups tainted node.cilium.io/agent-not-ready, Cilium installed before workloads);
    pulumi-kubernetes helm.v3.Release `skipAwait` ("By default, the provider waits until all
    resources are in a ready state")."""
    if group.type != NODE_GROUP:
        return []
    cluster = text_value(group.inputs.get("clusterName"))
    if cluster is None:
        return []
    stack = _stack(stack)
    eks = _eks_cluster(stack, cluster)
    if eks is None or eks.inputs.get("bootstrapSelfManagedAddons") is not False:
        return []  # EKS installs the VPC CNI itself
    cnis = _cnis(stack, cluster)
    if not cnis:
        return [f"{_where(group)}: the cluster is created without EKS's own add-ons "
                "(bootstrapSelfManagedAddons=false) and has no CNI, so its nodes never become Ready and the "
                "node group fails; install the vpc-cni add-on or Cilium before the node groups"]
    messages = []
    before = {c.urn for c in cnis if stack.waits_for(group, c.urn)}
    if not before:
        names = ", ".join(f"{c.type} '{c.name}'" for c in cnis)
        messages.append(f"{_where(group)} is created before the cluster's CNI ({names}), so its nodes join "
                        "NotReady and EKS fails the group with NodeCreationFailure; make the node group depend on "
                        "the CNI (depends_on)")
    for cni in cnis:
        if stack.waits_for(cni, group.urn):
            messages.append(f"{_where(group)}: the CNI {cni.type} '{cni.name}' waits for this node group, which "
                            "needs the CNI to become Ready (a deadlock); the CNI must not depend on node groups")
        elif cni.urn in before and cni.type == RELEASE and cni.inputs.get("skipAwait") is not True:
            messages.append(f"{_where(group)}: the CNI release '{cni.name}' comes before the nodes but waits for "
                            "its pods to be Ready, which needs nodes: it never finishes; set skip_await=True on it")
    return messages


# --- eks-autoscaled-pools --------------------------------------------------------------------


def _has_room(group: Resource) -> bool:
    low, high = _int(lookup(group.inputs, "scalingConfig.minSize")), _int(lookup(group.inputs, "scalingConfig.maxSize"))
    return low is not None and high is not None and high > low


def _asg_tags(stack: Stack, group: Resource) -> dict[str, Any]:
    """Tags fleet puts on the group's Auto Scaling group (aws.autoscaling.Tag, which waits for the group)."""
    tags: dict[str, Any] = {}
    for tag in stack.of_type(ASG_TAG):
        if group.urn in tag.dependencies:
            key = lookup(tag.inputs, "tag.key")
            if isinstance(key, str):
                tags[key] = lookup(tag.inputs, "tag.value")
    return tags


def _undiscoverable(release: Resource, cluster: str, tags: Mapping[str, Any]) -> list[str]:
    """Discovery tags of the autoscaler that the group's ASG does not carry."""
    values = release.inputs.get("values")
    if not isinstance(values, Mapping):
        return []
    discovery = lookup(values, "autoDiscovery.tags")
    if lookup(values, "autoDiscovery.clusterName") != cluster or not isinstance(discovery, list):
        return [f"autoDiscovery.clusterName is not '{cluster}'"]
    eks_tags = {t.format(cluster=cluster) for t in EKS_DISCOVERY_TAGS}
    missing = []
    for entry in discovery:
        key, has_value, value = str(entry).partition("=")
        if key in eks_tags:
            continue
        if key not in tags or (has_value and tags[key] not in (value, UNKNOWN)):
            missing.append(str(entry))
    return missing


def _statements(policy: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(policy, str) or policy == UNKNOWN:
        return
    try:
        document = json.loads(policy)
    except ValueError:
        return
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
            yield statement


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def _scales(statement: Mapping[str, Any]) -> bool:
    actions = {a.lower() for a in _listed(statement.get("Action"))}
    return bool(actions & (SCALING_ACTIONS | {"autoscaling:*", "*"}))


def _scoped_to(statement: Mapping[str, Any], cluster: str) -> bool:
    """The statement acts only on Auto Scaling groups tagged as this cluster's."""
    conditions = statement.get("Condition")
    if not isinstance(conditions, Mapping):
        return False
    own = f"aws:resourcetag/k8s.io/cluster-autoscaler/{cluster}".lower()
    for operator, tests in conditions.items():
        if not isinstance(tests, Mapping) or str(operator).startswith("ForAnyValue"):
            continue
        for key, value in tests.items():
            key = str(key).lower()
            if not key.startswith("aws:resourcetag/"):
                continue
            if operator == "StringEquals" and (key == own or _listed(value) == [cluster]):
                return True
    return False


def _identity_problem(stack: Stack, release: Resource, cluster: str) -> str | None:
    """How the autoscaler's AWS identity fails to be limited to (or able to scale) this cluster."""
    values = release.inputs.get("values")
    account = lookup(values, "rbac.serviceAccount.name") if isinstance(values, Mapping) else None
    namespace = release.inputs.get("namespace") or "default"
    associations = [a for a in stack.of_type(POD_IDENTITY)
                    if a.inputs.get("clusterName") == cluster and a.inputs.get("namespace") == namespace
                    and a.inputs.get("serviceAccount") == account]
    if not associations:
        return (f"no EKS Pod Identity association gives its service account {namespace}/{account} an IAM role "
                "(aws.eks.PodIdentityAssociation)")
    if not any(a.inputs.get("clusterName") == cluster and a.inputs.get("addonName") == "eks-pod-identity-agent"
               for a in stack.of_type(ADDON)):
        return ("its Pod Identity association does nothing without the eks-pod-identity-agent add-on, which "
                "hands pods their role's credentials")
    roles = {urn for a in associations for urn in a.dependencies if (r := stack.by_urn(urn)) and r.type == ROLE}
    policies = [p for p in stack.of_type(ROLE_POLICY) if roles & set(p.dependencies)]
    statements = [s for p in policies for s in _statements(p.inputs.get("policy"))]
    if any(p.inputs.get("policy") == UNKNOWN for p in policies):
        return None  # previewing: the policy is not known yet
    scaling = [s for s in statements if _scales(s)]
    if not scaling:
        return "its IAM role may not autoscaling:SetDesiredCapacity, so it can never add a node"
    loose = [s for s in scaling if not _scoped_to(s, cluster)]
    if loose:
        return ("its IAM role may scale Auto Scaling groups of other clusters (a statement with "
                f"{', '.join(_listed(loose[0].get('Action')))} has no StringEquals condition on "
                f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster} or on a tag whose value is the cluster)")
    return None


def autoscaled_pools(group: Resource, stack: Sequence[Resource]) -> list[str]:
    """EKS managed node groups do not scale by themselves: their min/max only bound what an
    autoscaler asks for, and a group at 0 nodes stays at 0. Every group with room to grow
    (maxSize > minSize) must be discovered by a Cluster Autoscaler installed on its cluster (it
    carries every auto-discovery tag), whose AWS identity may change only this cluster's groups.
    Sources: kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md ("Auto-Discovery
    Setup", "IAM Policy": restrict SetDesiredCapacity/TerminateInstanceInAutoScalingGroup with
    tag-based conditions); docs.aws.amazon.com/eks/latest/userguide/autoscaling.html;
    docs.aws.amazon.com/autoscaling/ec2/userguide/control-access-using-iam.html (aws:ResourceTag)."""
    if group.type != NODE_GROUP or not _has_room(group):
        return []
    cluster = text_value(group.inputs.get("clusterName"))
    if cluster is None:
        return []
    stack = _stack(stack)
    releases = _releases(stack, cluster, AUTOSCALER_CHART)
    low, high = (_int(lookup(group.inputs, f"scalingConfig.{k}")) for k in ("minSize", "maxSize"))
    if not releases:
        return [f"{_where(group)} may grow from {low} to {high} nodes but no Cluster Autoscaler runs on the "
                "cluster, so it never leaves its minimum; install the cluster-autoscaler chart on it"]
    release = releases[0]
    messages = []
    missing = _undiscoverable(release, cluster, _asg_tags(stack, group))
    if missing:
        messages.append(f"{_where(group)} may grow from {low} to {high} nodes but the Cluster Autoscaler "
                        f"'{release.name}' does not discover its Auto Scaling group (missing: {', '.join(missing)}); "
                        "tag the group's ASG with aws.autoscaling.Tag")
    problem = _identity_problem(stack, release, cluster)
    if problem:
        messages.append(f"{_where(group)}: the Cluster Autoscaler '{release.name}': {problem}; give it a Pod "
                        "Identity role whose scaling actions are conditioned on "
                        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}")
    return messages


# --- eks-scale-from-zero ---------------------------------------------------------------------


def _startup_taints(stack: Stack, cluster: str) -> set[str]:
    keys: set[str] = set()
    for release in _releases(stack, cluster, AUTOSCALER_CHART):
        values = release.inputs.get("values")
        argument = lookup(values, f"extraArgs.{STARTUP_TAINT_ARG}") if isinstance(values, Mapping) else None
        keys.update(_listed(argument))
    return keys


def scale_from_zero(group: Resource, stack: Sequence[Resource]) -> list[str]:
    """With no node to copy, the Cluster Autoscaler predicts a group's nodes from its ASG tags
    (`k8s.io/cluster-autoscaler/node-template/label/<key>`, `.../taint/<key>` = `<value>:<Effect>`):
    a group at 0 nodes whose labels are missing is never chosen for a pod that selects them, and
    one whose taints are missing is scaled up for pods that cannot run there. (EKS DescribeNodegroup
    fills in only for a group that never had a node.) Taints the autoscaler ignores as startup
    taints (--startup-taint) need no tag. Source: kubernetes/autoscaler
    cluster-autoscaler/cloudprovider/aws/README.md ("Auto-Discovery Setup", scaling up from 0, and the
    DescribeNodegroup note under "Minimal IAM Permissions Policy"); FAQ.md "Startup taints"."""
    if group.type != NODE_GROUP or _int(lookup(group.inputs, "scalingConfig.minSize")) != 0 or not _has_room(group):
        return []
    cluster = text_value(group.inputs.get("clusterName"))
    if cluster is None:
        return []
    stack = _stack(stack)
    tags = _asg_tags(stack, group)
    labels = group.inputs.get("labels") if isinstance(group.inputs.get("labels"), Mapping) else {}
    taints = group.inputs.get("taints") if isinstance(group.inputs.get("taints"), list) else []
    ignored = _startup_taints(stack, cluster)
    missing = [f"{NODE_TEMPLATE_LABEL}{k}={v}" for k, v in labels.items() if tags.get(f"{NODE_TEMPLATE_LABEL}{k}") != v]
    for taint in taints:
        if not isinstance(taint, Mapping) or taint.get("key") in ignored:
            continue
        expected = f"{taint.get('value', '')}:{EFFECTS.get(str(taint.get('effect')), taint.get('effect'))}"
        if tags.get(f"{NODE_TEMPLATE_TAINT}{taint.get('key')}") != expected:
            missing.append(f"{NODE_TEMPLATE_TAINT}{taint.get('key')}={expected}")
    if not missing:
        return []
    return [f"{_where(group)} starts at 0 nodes but its Auto Scaling group does not tell the Cluster Autoscaler "
            f"what its nodes look like (missing ASG tags: {', '.join(missing)}); add them with aws.autoscaling.Tag"]


# --- eks-stable-launch-template --------------------------------------------------------------


def stable_launch_template(template: Resource, stack: Sequence[Resource]) -> list[str]:
    """Every change of a launch template's version content (its tagSpecifications included) is a
    new template version; a node group that follows the template's latest version then replaces
    every node (a rolling update). So only what really changes the nodes may reach a launch
    template: never the decommission tag (lifting protection), region labels or the template name.
    Sources: hashicorp/terraform-provider-aws internal/service/ec2/ec2_launch_template.go
    (resourceLaunchTemplateUpdate: a change of any of its updateKeys, tag_specifications included,
    calls CreateLaunchTemplateVersion; `tags` does not); EKS "Update a managed node group"
    (docs.aws.amazon.com/eks/latest/userguide/update-managed-node-group.html: a new launch template
    version is a rolling node replacement)."""
    if template.type != LAUNCH_TEMPLATE:
        return []
    specifications = template.inputs.get("tagSpecifications")
    keys = {str(k) for spec in specifications if isinstance(spec, Mapping)
            for k in (spec.get("tags") if isinstance(spec.get("tags"), Mapping) else {})} \
        if isinstance(specifications, list) else set()
    moving = sorted(keys - set(STABLE_TAG_KEYS) - POOL_TAG_KEYS)
    if not moving:
        return []
    cluster = text_value(lookup(template.inputs, "tags.fleet-cluster")) or template.name
    why = (f"{DECOMMISSION_TAG} (lifting protection)" if DECOMMISSION_TAG in moving
           else "values that change under a running cluster")
    return [f"cluster '{cluster}' ({template.type} '{template.name}'): tagSpecifications carry {', '.join(moving)}: "
            f"{why} would make a new launch template version and replace every node of the group; tag "
            f"instances, volumes and ENIs only with {', '.join(STABLE_TAG_KEYS)}, Name and fleet-node-pool"]


# --- iam-role-name-limits -------------------------------------------------------------------

IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def iam_role_name(role: Resource, stack: Sequence[Resource]) -> list[str]:
    r"""IAM refuses a role name longer than 64 characters or outside [A-Za-z0-9_+=,.@-]
    (ValidationError at CreateRole; the mocks accept any). Names fleet derives from cluster names
    go through fleet.clouds.aws.bounded_name. Source:
    docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName: 1-64, pattern [\w+=,.@-]+)."""
    if role.type != ROLE:
        return []
    name = text_value(role.inputs.get("name"))
    if name is None or IAM_ROLE_NAME.match(name):
        return []
    cluster = text_value(lookup(role.inputs, "tags.fleet-cluster")) or role.name
    return [f"cluster '{cluster}' ({role.type} '{role.name}'): IAM role name {name!r} ({len(name)} characters) is "
            "refused by IAM (at most 64 of letters, digits and _+=,.@-); derive it with "
            "fleet.clouds.aws.bounded_name"]


# --- eks-one-access-entry-per-principal ------------------------------------------------------


def one_access_entry(entry: Resource, stack: Sequence[Resource]) -> list[str]:
    """EKS holds at most one access entry per IAM principal and cluster: a second CreateAccessEntry
    for the same principal fails with ResourceInUseException (the mocks accept both). A deploying
    role also listed as an admin is the usual way to get there.
    Source: docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessEntry.html (ResourceInUseException);
    docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html."""
    if entry.type != ACCESS_ENTRY:
        return []
    cluster, principal = text_value(entry.inputs.get("clusterName")), text_value(entry.inputs.get("principalArn"))
    if cluster is None or principal is None:
        return []
    first = next(e for e in of_type(stack, ACCESS_ENTRY)
                 if e.inputs.get("clusterName") == cluster and e.inputs.get("principalArn") == principal)
    if first is entry or first.urn == entry.urn:
        return []
    return [f"cluster '{cluster}' ({entry.type} '{entry.name}'): principal {principal} already has the access entry "
            f"'{first.name}', and EKS allows one per principal (the second fails with ResourceInUseException); "
            "remove the duplicate (for example the deploying role listed in fleet:admins.aws)"]


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("eks-cni-before-nodes",
                 "EKS node groups wait for their cluster's CNI, which does not wait for them.",
                 cni_before_nodes, needs_stack=True),
    ResourceRule("eks-autoscaled-pools",
                 "Every EKS node group with room to grow is discovered by a Cluster Autoscaler limited to its cluster.",
                 autoscaled_pools, needs_stack=True),
    ResourceRule("eks-scale-from-zero",
                 "An EKS node group starting at 0 nodes tells the autoscaler its labels and taints (ASG tags).",
                 scale_from_zero, needs_stack=True),
    ResourceRule("eks-stable-launch-template",
                 "No launch template carries values that change without the nodes needing to (no node roll).",
                 stable_launch_template),
    ResourceRule("iam-role-name-limits", "IAM role names fit IAM's limits (64 characters, [A-Za-z0-9_+=,.@-]).",
                 iam_role_name),
    ResourceRule("eks-one-access-entry-per-principal",
                 "At most one EKS access entry per principal and cluster.",
                 one_access_entry, needs_stack=True),
)
