"""Guardrails: rules that must never be broken, as plain functions.

Plan rules judge a ClusterPlan (run by `fleet validate`, `fleet synth` and `pulumi up` before any
resource is declared). Resource rules judge one recorded resource (type + engine inputs), so the
same function runs on `fleet synth` output and inside the CrossGuard policy pack (policy/).
Every message names the cluster, the rule and the fix.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import yaml

from fleet import behaviour
from fleet.credentials import credential_in
from fleet.plan import DECOMMISSION_TAG, ClusterPlan, FleetPlan
from fleet.problems import Problem
from fleet.recorded import (
    OPEN_TO_ALL,
    SECRET,
    UNKNOWN,
    Expect,
    Resource,
    ResourceRule,
    Stack,
    lookup,
    of_type,
)
from fleet.recorded import text_value as _text
from fleet.spec import versions
from fleet.spec.load import Declaration
from fleet.spec.regions import LOCATIONS

GDPR_JURISDICTIONS = frozenset({"EU"})  # EU/EEA member states (see fleet.spec.regions)


@dataclass(frozen=True)
class PlanRule:
    id: str
    description: str
    check: Callable[[ClusterPlan], str | None]  # a message, or None when the cluster complies


def _gdpr_residency(cluster: ClusterPlan) -> str | None:
    if cluster.labels.get("compliance") != "gdpr":
        return None
    location = LOCATIONS[(cluster.provider, cluster.location)]
    if location.jurisdiction in GDPR_JURISDICTIONS:
        return None
    eu = sorted(name for (cloud, name), loc in LOCATIONS.items()
                if cloud == cluster.provider and loc.jurisdiction in GDPR_JURISDICTIONS)
    return (f"cluster '{cluster.name}' is labelled compliance: gdpr but {cluster.provider} location "
            f"'{cluster.location}' is outside the EU/EEA ({location.jurisdiction}); move the region entry "
            f"to an EU location such as {', '.join(eu[:4])}")


def _production_endpoint(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or "0.0.0.0/0" not in cluster.endpoint.authorized_cidrs:
        return None
    return (f"production cluster '{cluster.name}' would open its API endpoint to the whole internet "
            "(0.0.0.0/0 in its authorized networks or fleet:ciRunnerCidrs); list the networks that need "
            "access, or use apiAccess: private")


def _production_encryption(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or cluster.secrets_encryption:
        return None
    return (f"production cluster '{cluster.name}' has secrets encryption turned off; set "
            f"spec.security.secretsEncryption: true in template '{cluster.template}'")


def _production_protection(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or cluster.protect or cluster.decommissioning:
        return None
    return (f"production cluster '{cluster.name}' is not protected from deletion; remove "
            "fleet:protect: false from the production stack")


def _supported_version(cluster: ClusterPlan, today: date) -> str | None:
    # Only what no policy accepts (fleet.spec.versions.hard_problem): past standard support is the
    # planner's warning, never this rule's error (a date alone must not stop a deploy).
    message = versions.hard_problem(cluster.provider, cluster.kubernetes_version, today)
    return f"cluster '{cluster.name}': {message}" if message else None


# Clouds where the program gives the deploying principal per-cluster access (EKS access entry, AKS
# role assignment). GKE has none: the deployer reaches clusters through its project IAM role.
DEPLOYER_CLOUDS = frozenset({"aws", "azure"})
DEPLOYER_FORMS = {"aws": "the deploying role's ARN (arn:aws:iam::<account>:role/<name>)",
                  "azure": "the deploying principal's Entra object id"}


def _deployer_from_config(cluster: ClusterPlan) -> str | None:
    """The deployer's access is keyed on configuration, never on whoever runs the program: keyed
    on the caller (aws.get_caller_identity / azure-native getClientConfig), a preview by the
    read-only identity shows the deployer's access replaced on every cluster, and an `up` by
    another identity would replace it. Required in production; elsewhere the program falls back to
    the caller with a warning."""
    if cluster.deployer and cluster.deployer in cluster.admins:
        return (f"cluster '{cluster.name}': {cluster.deployer} is both fleet:deployer.{cluster.provider} and in "
                f"fleet:admins.{cluster.provider}; {cluster.provider} allows one access grant per principal "
                "(EKS access entry, AKS role assignment), so remove it from fleet:admins")
    if not cluster.is_production or cluster.provider not in DEPLOYER_CLOUDS or cluster.deployer:
        return None
    return (f"production cluster '{cluster.name}' on {cluster.provider} has no fleet:deployer.{cluster.provider}: "
            "the deployer's cluster-admin access would follow whoever runs the program, so every preview by "
            f"another identity shows it replaced; set fleet:deployer.{cluster.provider} in the stack to "
            f"{DEPLOYER_FORMS[cluster.provider]}")


def plan_rules(today: date) -> tuple[PlanRule, ...]:
    """The plan rules, the support calendar judged at `today`: the caller's day (`--as-of`,
    FLEET_AS_OF or the clock, all read by the shell), never read here."""
    return (
        PlanRule("gdpr-data-residency", "Clusters labelled compliance: gdpr run only in EU/EEA locations.",
                 _gdpr_residency),
        PlanRule("production-private-endpoint", "Production API endpoints are never open to the internet.",
                 _production_endpoint),
        PlanRule("production-secrets-encryption", "Production clusters encrypt Secrets with a managed key.",
                 _production_encryption),
        PlanRule("production-deletion-protection", "Production clusters are protected from deletion.",
                 _production_protection),
        PlanRule("supported-kubernetes-version", "Kubernetes version is inside the cloud's support window.",
                 functools.partial(_supported_version, today=today)),
        PlanRule("engine-fits-start-capacity", "The node pools a cluster starts with can run its GitOps engine.",
                 behaviour.gitops.engine_capacity),
        PlanRule("deployer-from-config", "The deployer's access is keyed on stack configuration, not the caller.",
                 _deployer_from_config),
    )


def violations(plan: FleetPlan, today: date) -> Iterator[tuple[ClusterPlan, PlanRule, str]]:
    rules = plan_rules(today)
    for cluster in plan.clusters:
        for rule in rules:
            message = rule.check(cluster)
            if message:
                yield cluster, rule, message


def check_plan(plan: FleetPlan, declaration: Declaration, today: date) -> list[Problem]:
    """Rule violations as located problems (the region entry that declared the cluster), the
    support calendar judged at `today`."""
    problems = []
    for cluster, rule, message in violations(plan, today):
        owner = next(c for c in declaration.cluster_sets if c.model.metadata.name == cluster.cluster_set)
        regions = [r.name for r in owner.model.spec.regions]  # type: ignore[union-attr]
        path = "spec.hub" if cluster.is_hub else f"spec.regions[{regions.index(cluster.region)}]"
        problems.append(Problem(owner.source, owner.ident, path, f"[{rule.id}] {message}"))
    return problems


# === Resource rules ===========================================================================
# The same guardrails judged on what the program declares: one resource (type + engine inputs)
# at a time, or the whole stack where a guarantee lives in a companion resource (an EKS add-on,
# an Azure lock). Inputs use the engine's camelCase names; a secret value is the string
# "[secret]" and a value not known yet (preview) is "[unknown]", exactly as in `fleet synth`
# output. `fleet synth` runs these on its recording (check_synth); the CrossGuard pack in
# policy/ runs the very same functions inside `pulumi preview` / `pulumi up`.

@dataclass(frozen=True)
class Companion:
    """A guarantee held by another resource of the stack, linked to the cluster by a shared input
    value (or, when that value is not known yet, by depending on the cluster)."""

    type: str
    link: tuple[str, str]  # (companion input path, cluster input path) holding the same value
    expect: tuple[Expect, ...]
    what: str  # how a person names it, for messages
    scope_prefix: str = ""  # the companion's value is an ARM scope ending in f"{prefix}{cluster's value}"

    def present(self, cluster: Resource, stack: Sequence[Resource]) -> bool:
        wanted = lookup(cluster.inputs, self.link[1])
        for other in of_type(stack, self.type):
            value = lookup(other.inputs, self.link[0])
            if self.scope_prefix and _text(value) and _text(wanted):
                value = value if not value.lower().endswith(f"{self.scope_prefix}{wanted}".lower()) else wanted
            linked = (value == wanted and _text(value)) or (value == UNKNOWN and cluster.urn in other.dependencies)
            if linked and all(e.holds(other.inputs) is not False for e in self.expect):
                return True
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where a cluster type says whether its API server is reachable from the internet."""

    public_switch: str | None  # input that, when false, turns the public endpoint off
    private_switch: str | None  # input that, when true, makes the endpoint private
    allowlist: str  # input listing the networks allowed on the public endpoint
    widen_switch: str | None = None  # input that, when true, also admits other public ranges
    allowlist_block: str | None = None  # input whose presence turns the allow-list on even when empty

    def exposure(self, inputs: Mapping[str, Any]) -> str | None:
        """How the endpoint is open to the internet, or None when it is not (or not known yet)."""
        if self.public_switch and lookup(inputs, self.public_switch) is False:
            return None
        if self.private_switch and lookup(inputs, self.private_switch) is True:
            return None
        allowed = lookup(inputs, self.allowlist)
        if allowed == UNKNOWN or (isinstance(allowed, list) and UNKNOWN in allowed):
            return None
        if not allowed:
            if self.allowlist_block and isinstance(lookup(inputs, self.allowlist_block), Mapping):
                allowed = []  # an allow-list that admits nobody
            else:
                return f"its public endpoint has no allow-list ({self.allowlist} is empty)"
        if OPEN_TO_ALL & set(allowed):
            return f"{self.allowlist} admits {', '.join(sorted(OPEN_TO_ALL & set(allowed)))}"
        if self.widen_switch and lookup(inputs, self.widen_switch) is True:
            return f"{self.widen_switch} also admits the cloud provider's public addresses"
        return None


@dataclass(frozen=True)
class ClusterShape:
    """Which input of one cluster resource type holds what the guardrails read."""

    cloud: str
    name: str
    location: str
    labels: str  # tags / labels map (fleet writes env, compliance, fleet-cluster there)
    version: str
    endpoint: Endpoint
    encryption: tuple[Expect, ...]
    deletion_protection: tuple[Expect, ...]  # the cloud's own flag, when it has one
    deletion_companion: Companion | None
    workload_identity: tuple[Expect, ...]
    workload_identity_companion: Companion | None


CLUSTER_SHAPES: dict[str, ClusterShape] = {
    "aws:eks/cluster:Cluster": ClusterShape(
        cloud="aws", name="name", location="region", labels="tags", version="version",
        endpoint=Endpoint(public_switch="vpcConfig.endpointPublicAccess", private_switch=None,
                          allowlist="vpcConfig.publicAccessCidrs"),
        encryption=(Expect("encryptionConfig.resources", contains="secrets"),
                    Expect("encryptionConfig.provider.keyArn")),
        deletion_protection=(Expect("deletionProtection", equals=True),),
        deletion_companion=None,
        workload_identity=(),
        workload_identity_companion=Companion(
            "aws:eks/addon:Addon", ("clusterName", "name"), (Expect("addonName", equals="eks-pod-identity-agent"),),
            "the eks-pod-identity-agent add-on (aws.eks.Addon) on this cluster"),
    ),
    "azure-native:containerservice:ManagedCluster": ClusterShape(
        cloud="azure", name="resourceName", location="location", labels="tags", version="kubernetesVersion",
        endpoint=Endpoint(public_switch=None, private_switch="apiServerAccessProfile.enablePrivateCluster",
                          allowlist="apiServerAccessProfile.authorizedIPRanges"),
        encryption=(Expect("securityProfile.azureKeyVaultKms.enabled", equals=True),
                    Expect("securityProfile.azureKeyVaultKms.keyId"),),
        deletion_protection=(),  # AKS has no flag: a CanNotDelete lock on its resource group
        # A denyAction assignment, not a CanNotDelete lock: a lock also locks the agent pools, so
        # no pool could be replaced (fleet/clouds/azure.py, docs/clouds/azure.md).
        deletion_companion=Companion(
            "azure-native:authorization:PolicyAssignment", ("scope", "resourceGroupName"),
            (Expect("parameters.listOfResourceTypesDisallowedForDeletion.value",
                    contains="Microsoft.ContainerService/managedClusters"),
             Expect("enforcementMode", equals="Default")),
            "a denyAction policy assignment (\"Do not allow deletion of resource types\") on the cluster's "
            "resource group", scope_prefix="/resourcegroups/"),
        workload_identity=(Expect("securityProfile.workloadIdentity.enabled", equals=True),
                           Expect("oidcIssuerProfile.enabled", equals=True)),
        workload_identity_companion=None,
    ),
    "gcp:container/cluster:Cluster": ClusterShape(
        cloud="gcp", name="name", location="location", labels="resourceLabels", version="minMasterVersion",
        endpoint=Endpoint(public_switch="controlPlaneEndpointsConfig.ipEndpointsConfig.enabled",
                          private_switch="privateClusterConfig.enablePrivateEndpoint",
                          allowlist="masterAuthorizedNetworksConfig.cidrBlocks[*].cidrBlock",
                          widen_switch="masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled",
                          allowlist_block="masterAuthorizedNetworksConfig"),
        encryption=(Expect("databaseEncryption.state", equals="ENCRYPTED"), Expect("databaseEncryption.keyName")),
        deletion_protection=(Expect("deletionProtection", equals=True),),
        deletion_companion=None,
        workload_identity=(Expect("workloadIdentityConfig.workloadPool"),),
        workload_identity_companion=None,
    ),
}


def _labels(resource: Resource, shape: ClusterShape) -> Mapping[str, Any]:
    labels = lookup(resource.inputs, shape.labels)
    return labels if isinstance(labels, Mapping) else {}


def cluster_name(resource: Resource) -> str:
    """The fleet cluster a resource belongs to, for messages."""
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape:
        return (_text(_labels(resource, shape).get("fleet-cluster"))
                or _text(lookup(resource.inputs, shape.name)) or resource.name)
    if resource.type == "pulumi:providers:kubernetes":
        return _text(resource.inputs.get("clusterIdentifier")) or resource.name
    return resource.kubernetes_cluster or resource.name


def _where(resource: Resource) -> str:
    return f"cluster '{cluster_name(resource)}' ({resource.type} '{resource.name}')"


def _is_production(resource: Resource, shape: ClusterShape) -> bool:
    return _labels(resource, shape).get("env") == "production"


def _residency(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None or _labels(resource, shape).get("compliance") != "gdpr":
        return []
    location = lookup(resource.inputs, shape.location)
    if location == UNKNOWN:
        return []
    known = _location(shape.cloud, location)
    if known is not None and known.jurisdiction in GDPR_JURISDICTIONS:
        return []
    eu = sorted(name for (cloud, name), loc in LOCATIONS.items()
                if cloud == shape.cloud and loc.jurisdiction in GDPR_JURISDICTIONS)
    where = (f"{shape.cloud} location '{location}' is outside the EU/EEA ({known.jurisdiction})" if known
             else f"its {shape.cloud} location {location!r} ({shape.location}) is not a known EU/EEA location")
    return [f"{_where(resource)} is labelled compliance: gdpr but {where}; move its region entry to an EU "
            f"location such as {', '.join(eu[:4])}"]


def _location(cloud: str, name: Any) -> Any:
    if not isinstance(name, str):
        return None
    found = LOCATIONS.get((cloud, name))
    if found is None and cloud == "gcp":  # a zonal GKE cluster: europe-west1-b -> europe-west1
        found = LOCATIONS.get((cloud, name.rsplit("-", 1)[0]))
    return found


def _private_endpoint(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None or not _is_production(resource, shape):
        return []
    exposure = shape.endpoint.exposure(resource.inputs)
    if exposure is None:
        return []
    return [f"production {_where(resource)} has its API endpoint open to the internet: {exposure}; use "
            "apiAccess: private, or list only the networks that need access in authorizedNetworks / "
            "fleet:ciRunnerCidrs"]


def _unmet(expectations: Sequence[Expect], inputs: Mapping[str, Any]) -> list[Expect]:
    return [e for e in expectations if e.holds(inputs) is False]


def _secrets_encryption(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None or not _is_production(resource, shape):
        return []
    unmet = _unmet(shape.encryption, resource.inputs)
    if not unmet:
        return []
    return [f"production {_where(resource)} does not encrypt Kubernetes Secrets with a managed key "
            f"({'; '.join(e.fix() for e in unmet)}); set spec.security.secretsEncryption: true in its template"]


def _deletion_protection(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None or not _is_production(resource, shape):
        return []
    if _labels(resource, shape).get(DECOMMISSION_TAG) == "true":
        return []  # protection lifted on purpose: the region entry says `decommission`
    missing = [] if resource.protect else ["Pulumi `protect` is off"]
    missing += [e.fix() for e in _unmet(shape.deletion_protection, resource.inputs)]
    if shape.deletion_companion and not shape.deletion_companion.present(resource, stack):
        missing.append(f"{shape.deletion_companion.what} is missing")
    if not missing:
        return []
    return [f"production {_where(resource)} is not protected from deletion ({'; '.join(missing)}); remove "
            "fleet:protect: false from the production stack so fleet protects it"]


def _workload_identity(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None or not _is_production(resource, shape):
        return []
    missing = [e.fix() for e in _unmet(shape.workload_identity, resource.inputs)]
    companion = shape.workload_identity_companion
    if companion and not companion.present(resource, stack):
        missing.append(f"{companion.what} is missing")
    if not missing:
        return []
    return [f"production {_where(resource)} has no workload identity ({'; '.join(missing)}); pods must get "
            "cloud credentials from their service account, not from stored keys: restore the identity "
            f"settings in fleet/clouds/{shape.cloud}.py"]


def _version_window(resource: Resource, stack: Sequence[Resource], today: date) -> list[str]:
    shape = CLUSTER_SHAPES.get(resource.type)
    if shape is None:
        return []
    version = lookup(resource.inputs, shape.version)
    if not isinstance(version, str) or version == UNKNOWN:
        return []  # unset: the cloud picks its default, which it supports
    message = versions.hard_problem(shape.cloud, version, today)  # never standard support alone
    if not message:
        return []
    return [f"{_where(resource)}: {message}; set spec.version of its template to a supported version"]


# --- credentials -------------------------------------------------------------------------------
# A credential is a value under one of these keys (compared lower-case without '-' and '_'), any
# key ending in 'password' or 'token', or, in any string, a PEM private key, a URL with user:password@
# or x-access-token:, or a token with a known prefix (ghp_, github_pat_, glpat-, AKIA; see
# fleet/credentials.py for the sources). It may appear only as a secret. JSON or YAML held in a
# string (Argo CD's cluster `config`, a kubeconfig) is searched too.
CREDENTIAL_KEYS = frozenset({
    "password", "token", "bearertoken", "keydata", "clientkeydata", "clientkey", "clientsecret", "privatekey",
    "secretaccesskey", "sessiontoken", "kubeconfig", "kubeconfigs", "apikey", "identity",
})
CREDENTIAL_SUFFIXES = ("password", "token")
REFERENCE = re.compile(r"^\$\{[^}]+\}$")  # ${VAR}: substituted later, not a value


def _normal(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def _credential_key(key: str) -> bool:
    normal = _normal(key)
    return normal in CREDENTIAL_KEYS or normal.endswith(CREDENTIAL_SUFFIXES)


def plaintext_credentials(value: Any, path: str = "") -> Iterator[str]:
    """Field paths under `value` that hold a credential in plain text."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            normal = _normal(str(key))
            if normal == "kubeconfigs" and isinstance(item, Mapping):  # {cluster: kubeconfig}
                yield from (f"{where}.{name}" for name, config in item.items() if _plain_kubeconfig(config))
            elif (_plain_kubeconfig(item) if normal == "kubeconfig"
                  else _credential_key(str(key)) and _plain_text(item)):
                yield where
            else:
                yield from plaintext_credentials(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plaintext_credentials(item, f"{path}[{index}]")
    elif isinstance(value, str) and value not in (SECRET, UNKNOWN):
        if credential_in(value):
            yield path
        elif value[:1] in "{[" or "\nkind: Config" in value or value.startswith(("apiVersion:", "kind:")):
            nested = _parse_text(value)
            if nested is not None:
                yield from plaintext_credentials(nested, path)


def _plain_text(value: Any) -> bool:
    return (isinstance(value, str) and bool(value) and value not in (SECRET, UNKNOWN)
            and not REFERENCE.match(value))


def _plain_kubeconfig(value: Any) -> bool:
    """A kubeconfig in clear text: as text, or as data (not a reference such as Flux's
    `kubeConfig: {secretRef: ...}`)."""
    if isinstance(value, Mapping):
        return bool({"clusters", "users"} & set(value)) and any(True for _ in _only_secrets(value))
    return _plain_text(value)


def _only_secrets(value: Any) -> Iterator[Any]:
    """Leaves of a structure that are not redacted (an all-secret structure yields nothing)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _only_secrets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _only_secrets(item)
    elif value not in (SECRET, UNKNOWN, None, ""):
        yield value


def _parse_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, Mapping | list) else None


def _decoded_secret_data(resource: Resource) -> Mapping[str, Any]:
    """A Kubernetes Secret's `data` (base64), decoded, for the same search as stringData."""
    data = resource.inputs.get("data") if resource.type == "kubernetes:core/v1:Secret" else None
    if not isinstance(data, Mapping):
        return {}
    decoded = {}
    for key, value in data.items():
        if isinstance(value, str) and value not in (SECRET, UNKNOWN):
            try:
                decoded[key] = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded[key] = value
    return decoded


def _no_plaintext_credentials(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    paths = list(plaintext_credentials(resource.inputs))
    paths += [f"data.{p}" for p in plaintext_credentials(_decoded_secret_data(resource))
              if f"data.{p}" not in paths]
    if not paths:
        return []
    return [f"{_where(resource)} holds a credential in plain text at {', '.join(paths)}; pass it as a Pulumi "
            "secret (pulumi.Output.secret, or `pulumi config set --secret`) so it is encrypted in the state, or "
            "switch to keyless access (workload identity)"]


CREDENTIALS = ResourceRule("no-plaintext-credentials", "No credential in plain text in any resource input or output.",
                           _no_plaintext_credentials)


def guardrails(today: date) -> tuple[ResourceRule, ...]:
    """fleet's own resource rules, the support calendar judged at `today`: the caller's day
    (`fleet synth --as-of`, FLEET_AS_OF or the clock, all read by the shell), never read here."""
    return (
        ResourceRule("gdpr-data-residency", "Clusters labelled compliance: gdpr run only in EU/EEA locations.",
                     _residency),
        ResourceRule("production-private-endpoint", "Production API endpoints are never open to the internet.",
                     _private_endpoint),
        ResourceRule("production-secrets-encryption", "Production clusters encrypt Secrets with a managed key.",
                     _secrets_encryption),
        ResourceRule("production-deletion-protection", "Production clusters are protected from deletion.",
                     _deletion_protection, needs_stack=True),
        ResourceRule("production-workload-identity", "Production clusters give pods cloud identities (no keys).",
                     _workload_identity, needs_stack=True),
        ResourceRule("supported-kubernetes-version", "Kubernetes version is inside the cloud's support window.",
                     functools.partial(_version_window, today=today)),
        CREDENTIALS,
    )


def resource_rules(today: date) -> tuple[ResourceRule, ...]:
    """The guardrails (fleet's own policy) and what the clouds, charts and operators enforce
    (fleet.behaviour): `fleet synth`, `fleet validate --deep` and the policy pack run all of them."""
    return guardrails(today) + behaviour.RULES


@dataclass(frozen=True)
class Violation:
    rule: ResourceRule
    resource: Resource | None  # None: a stack output
    message: str

    def __str__(self) -> str:
        return f"[{self.rule.id}] {self.message}"


def check_resources(resources: Sequence[Resource], rules: Sequence[ResourceRule]) -> list[Violation]:
    stack = resources if isinstance(resources, Stack) else Stack(resources)
    return [Violation(rule, resource, message)
            for resource in stack for rule in rules for message in rule.check(resource, stack)]


def _output_violations(outputs: Any) -> list[Violation]:
    paths = list(plaintext_credentials(outputs)) if isinstance(outputs, Mapping) else []
    return [Violation(CREDENTIALS, None, f"stack output {p} holds a credential in plain text; export it with "
                      "pulumi.Output.secret") for p in paths]


def check_synth(document: Mapping[str, Any], today: date) -> list[Violation]:
    """Every resource rule on a `fleet synth` document (resources.json), outputs included, the
    support calendar judged at `today`."""
    found = check_resources(Stack.from_synth(document), resource_rules(today))
    return found + _output_violations(document.get("outputs"))


def synth_problems(document: Mapping[str, Any], source: str, today: date) -> list[Problem]:
    """check_synth as problems located at `source` (the resources.json file) and the resource."""
    return [Problem(source, f"{v.resource.type}/{v.resource.name}" if v.resource else "outputs", "", str(v))
            for v in check_synth(document, today)]
