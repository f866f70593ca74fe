"""GKE: one regional, private-node, Workload-Identity cluster per ClusterPlan (pulumi_gcp 10.x).

Per cluster: VPC + subnet (pods/services secondary ranges, flow logs), Cloud Router + Cloud NAT on
static addresses (the cluster's known egress), a KMS key ring + key for Secrets envelope encryption,
one least-privilege node service account, the GKE cluster (fleet member -> Connect Gateway), one
node pool per plan pool, and the admins' Kubernetes RBAC. Decisions that are pure data live in the
tables and small functions at the top; the component below only wires them to resources.

How the API server is reached (handle.endpoint is what this program uses, handle.hub_server what
the hub uses; both carry Google OAuth tokens from gke-gcloud-auth-plugin / argocd-k8s-auth):

| apiAccess  | control plane                                | program uses        | hub uses            |
|------------|----------------------------------------------|---------------------|---------------------|
| authorized | public IP, master authorized networks        | public IP + CA      | public IP + CA      |
| private    | private IP only (no public IP)               | Connect Gateway     | Connect Gateway     |
| dns        | IAM-authorised DNS endpoint, IP access off   | DNS endpoint        | Connect Gateway     |
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from fleet import access as federation
from fleet.clouds import kubeconfig, poolnames
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef, SpokeAccess
from fleet.clouds.sizes import OS_DISK_GB, instance_type
from fleet.plan import ClusterPlan, FleetPlan, NodePoolPlan

# --- decisions as data -------------------------------------------------------------------------

POD_RANGE = "pods"  # subnet secondary range names, referenced by the cluster's ip_allocation_policy
SERVICE_RANGE = "services"

RELEASE_CHANNEL = {True: "STABLE", False: "REGULAR"}  # keyed by plan.is_production
DATAPATH = {"cilium": "ADVANCED_DATAPATH", "cloud": "LEGACY_DATAPATH"}  # Dataplane V2 is Cilium-based
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                 "NoExecute": "NO_EXECUTE"}

# Control-plane and workload logs to Cloud Logging (Kubernetes audit logs are Cloud Audit Logs,
# always on for Admin Activity; they need no cluster setting).
LOGGING_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS")
MONITORING_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER")

# Weekend maintenance window (UTC), recurring; GKE auto-upgrades happen inside it.
MAINTENANCE_WINDOW = {"start_time": "2025-01-04T02:00:00Z", "end_time": "2025-01-04T10:00:00Z",
                      "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU"}

KMS_ROTATION_PERIOD = "7776000s"  # 90 days
KMS_ENCRYPTER_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

# Least-privilege node service account (GKE hardening guide) + pulling images from Artifact Registry.
NODE_SA_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
OAUTH_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)  # access is decided by IAM roles
NODE_METADATA = {"disable-legacy-endpoints": "true"}
SHIELDED_INSTANCE = {"enable_secure_boot": True, "enable_integrity_monitoring": True}

# Pods per node. The plan gives each cluster a /20 pod range: 4096 addresses, i.e. at most 2048
# pods whatever the node count, because GKE reserves twice the pod count per node rounded up to a
# power of two. At 32 pods per node (a /26 each, Autopilot's default) the range holds 64 nodes; at
# 64 it holds 32 and at GKE's default 110 only 16. The production blueprint scales to 56 nodes.
# Changing it later replaces the cluster: keep it fixed.
MAX_PODS_PER_NODE = 32

# Cloud NAT on static addresses, dynamic port allocation: enough addresses for every node at the
# maximum port count, so egress never depends on ephemeral addresses.
NAT_MIN_PORTS_PER_VM = 64
NAT_MAX_PORTS_PER_VM = 4096
NAT_PORTS_PER_ADDRESS = 64512

# Who reaches the control plane how (see the module docstring).
GATEWAY_MODES = frozenset({"private", "dns"})  # the hub goes through Connect Gateway
PUBLIC_CA_MODES = frozenset({"private", "dns"})  # program's address has a public (Google) CA

# Project-level IAM: humans and the hub's service account see clusters (get credentials, DNS
# endpoint's container.clusters.connect); what they may do inside is Kubernetes RBAC
# (cluster-admin through a ClusterRoleBinding), never project-wide roles/container.admin.
ADMIN_PROJECT_ROLES = ("roles/container.clusterViewer",)
HUB_PROJECT_ROLES = {
    "authorized": ("roles/container.clusterViewer",),
    "private": ("roles/container.clusterViewer", "roles/gkehub.gatewayEditor"),
    "dns": ("roles/container.clusterViewer", "roles/gkehub.gatewayEditor"),
}
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
CLUSTER_ADMIN = {"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"  # on the hub's Kubernetes SAs

AUTH_PLUGIN = kubeconfig.ExecPlugin(
    command="gke-gcloud-auth-plugin",
    install_hint="Install gke-gcloud-auth-plugin: `gcloud components install gke-gcloud-auth-plugin` "
    "(https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)",
    provide_cluster_info=True,
)

ARGOCD_EXEC_CONFIG: dict[str, Any] = {
    "execProviderConfig": {
        "command": "argocd-k8s-auth",
        "args": ["gcp"],
        "apiVersion": kubeconfig.EXEC_API_VERSION,
    }
}



# --- pure functions ----------------------------------------------------------------------------


def resolve_project(plan_project: str | None, configured: str | None) -> str:
    """The project of a cluster: the plan's, else the gcp provider's configured project."""
    project = plan_project or configured
    if not project:
        raise ValueError("no GCP project: set fleet:gcpProject or gcp:project in the stack config "
                         "(or GOOGLE_PROJECT in the environment)")
    return project


def _label_text(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as GCP labels: lowercase [a-z0-9_-], keys start with a letter, at most 63 characters."""
    labels: dict[str, str] = {}
    for key, value in sorted(tags.items()):
        name = _label_text(key)
        if not name[:1].isalpha():
            name = f"x-{name}"
        labels[name[:63]] = _label_text(value)[:63]
    return labels


def digest(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def account_id(cluster: str, purpose: str) -> str:
    """A service account id (6-30 chars, [a-z][-a-z0-9]*[a-z0-9]), stable per cluster and purpose."""
    stem = re.sub(r"[^a-z0-9-]", "-", f"{cluster}-{purpose}".lower())
    head = stem[:23].strip("-")
    if not head[:1].isalpha():
        head = f"g{head}"[:23].rstrip("-")
    return f"{head}-{digest(stem)}"


def role_slug(role: str) -> str:
    """roles/monitoring.metricWriter -> monitoring-metricwriter (for resource names)."""
    return re.sub(r"[^a-z0-9]+", "-", role.removeprefix("roles/").lower()).strip("-")


def workload_pool(project: str) -> str:
    return f"{project}.svc.id.goog"


def workload_identity_member(project: str, ref: ServiceAccountRef) -> str:
    return f"serviceAccount:{workload_pool(project)}[{ref.namespace}/{ref.name}]"


def gke_service_agent(project_number: str) -> str:
    return f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


def connect_gateway_url(project_number: str, location: str, membership: str) -> str:
    """Connect Gateway address of a fleet membership (regional memberships have regional hosts)."""
    host = "connectgateway.googleapis.com"
    if location != "global":
        host = f"{location}-{host}"
    return f"https://{host}/v1/projects/{project_number}/locations/{location}/gkeMemberships/{membership}"


def authorized_blocks(declared: Iterable[str], hub_egress: Iterable[str] = ()) -> list[dict[str, str]]:
    """Master authorized networks: declared + CI runners, then the hub's egress; never the internet."""
    blocks: list[dict[str, str]] = []
    for source, cidrs in (("declared", declared), ("hub-egress", hub_egress)):
        for cidr in cidrs:
            if cidr in ("0.0.0.0/0", "::/0") or any(b["cidr_block"] == cidr for b in blocks):
                continue
            blocks.append({"cidr_block": cidr, "display_name": f"{source}-{len(blocks) + 1}"})
    return blocks


def endpoint_settings(mode: str) -> dict[str, Any]:
    """Cluster arguments that decide how the control plane is exposed (nodes are always private)."""
    private = {"enable_private_nodes": True}
    if mode == "dns":
        return {
            "private_cluster_config": private,
            "control_plane_endpoints_config": {
                "dns_endpoint_config": {"allow_external_traffic": True},
                "ip_endpoints_config": {"enabled": False},
            },
        }
    return {
        "private_cluster_config": {**private, "enable_private_endpoint": mode == "private"},
        "control_plane_endpoints_config": {
            "dns_endpoint_config": {"allow_external_traffic": False},
            "ip_endpoints_config": {"enabled": True},
        },
    }


def pod_range_node_capacity(pod_cidr: str, max_pods_per_node: int = MAX_PODS_PER_NODE) -> int:
    """How many nodes the pod range can hold at max_pods_per_node."""
    prefix = int(pod_cidr.split("/")[1])
    per_node = 2 ** math.ceil(math.log2(2 * max_pods_per_node))
    return 2 ** (32 - prefix) // per_node


def nat_address_count(node_pools: Sequence[NodePoolPlan]) -> int:
    nodes = sum(p.max_nodes for p in node_pools)
    return max(1, math.ceil(nodes * NAT_MAX_PORTS_PER_VM / NAT_PORTS_PER_ADDRESS))


def initial_nodes_per_zone(pool: NodePoolPlan, zones: int) -> int:
    """GKE's initial_node_count is per zone; the plan's min is the pool's total."""
    return math.ceil(pool.min_nodes / max(zones, 1))


def node_taints(pool: NodePoolPlan) -> list[dict[str, str]]:
    return [{"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]} for t in pool.taints]


def autoscaling(pool: NodePoolPlan) -> dict[str, Any]:
    """Total (cluster-wide) limits, the plan's meaning of min/max; spot pools take any zone."""
    return {"total_min_node_count": pool.min_nodes, "total_max_node_count": pool.max_nodes,
            "location_policy": "ANY" if pool.spot else "BALANCED"}


def create_only_fields(pool: NodePoolPlan, node_account_email: str) -> dict[str, Any]:
    """The create-only values of a pool (poolnames.GKE_CREATE_ONLY), exactly as _node_pool sets them."""
    return {
        "node_config": {"spot": pool.spot, "service_account": node_account_email,
                        "oauth_scopes": list(OAUTH_SCOPES), "metadata": dict(NODE_METADATA),
                        "shielded_instance_config": dict(SHIELDED_INSTANCE)},
        "max_pods_per_node": MAX_PODS_PER_NODE,
    }


def pinned_node_version(version: str | None) -> dict[str, Any]:
    """Node pool arguments that hold a pool on the template's GKE version (spec.nodeImages.gkeNodeVersion).

    A cluster in a release channel always has node auto-upgrade on
    (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels), and a pool `version`
    set next to auto-upgrade is fought over (pulumi_gcp container.NodePool `version`). The pool's
    maintenance exclusion until end of support (GKE API v1 NodePool.maintenancePolicy
    .exclusionUntilEndOfSupport: "the node pool will not be automatically upgraded by GKE until the
    node pool version's end of support date"; https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools)
    holds it there with no date to choose: GKE sets start (creation) and end (end of support) itself.
    The cluster-wide exclusion with scope NO_MINOR_OR_NODE_UPGRADES was not used: it needs a
    start_time (pulumi_gcp ClusterMaintenancePolicyMaintenanceExclusionArgs) and also holds the
    control plane's minor upgrades. Unpinned: no argument at all, the channel upgrades the nodes."""
    if version is None:
        return {}
    return {"version": version,
            "maintenance_policies": [{"exclusion_until_end_of_supports": [{"enabled": True}]}]}


def rbac_subject(member: str) -> dict[str, str] | None:
    """An IAM member as a Kubernetes RBAC subject (GKE authenticates Google identities by email)."""
    kind, _, email = member.partition(":")
    if not email or "@" not in email:
        return None
    if kind in ("user", "serviceAccount"):
        return {"kind": "User", "name": email, "api_group": "rbac.authorization.k8s.io"}
    if kind == "group":
        return {"kind": "Group", "name": email, "api_group": "rbac.authorization.k8s.io"}
    return None


def groups_security_group(admins: Sequence[str]) -> str | None:
    """Google Groups for RBAC needs gke-security-groups@<domain> (the first group admin's domain)."""
    for member in admins:
        kind, _, email = member.partition(":")
        if kind == "group" and "@" in email:
            return f"gke-security-groups@{email.split('@', 1)[1]}"
    return None


def flux_ca(mode: str, cluster_ca_data: str) -> str:
    """PEM for Flux's `ca.crt`: the cluster CA on its IP endpoint, Google's public roots otherwise."""
    if mode in GATEWAY_MODES:
        return GOOGLE_TRUST_SERVICES_ROOTS
    return base64.b64decode(cluster_ca_data).decode() if cluster_ca_data else ""


def _field(value: Any, key: str) -> Any:
    """A field of a nested output, whether the SDK hands it over as its output type or a dict."""
    if value is None:
        return None
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


# --- shared project-level grants ---------------------------------------------------------------
# A project-level IAMMember is non-authoritative for one (project, role, member): two Pulumi
# resources for the same binding would let the deletion of one cluster revoke it for all others.
# Clusters sharing a project therefore share one resource, a child of the stack itself, so its URN
# depends neither on which cluster asked first nor on any cluster's component. With shards
# (fleet.shards), the same holds across stacks: the environment's stack declares every shared grant
# its shards' clusters need (project_grants, the same names as in one stack) and shard stacks none,
# so removing a shard never revokes a binding another shard still uses.


@dataclass(frozen=True)
class ProjectGrant:
    """One shared project-level binding. `hub`: the member is that hub's GitOps identity on GCP,
    known only once the identity exists; otherwise `member` is the IAM member itself."""

    name: str
    project: str
    role: str
    member: str | None = None
    hub: str | None = None


def admin_project_grants(plan: ClusterPlan, project: str) -> list[ProjectGrant]:
    """The admins see the clusters of `project` (what they may do inside is Kubernetes RBAC)."""
    return [ProjectGrant(f"gcp-admin-{role_slug(role)}-{digest(project, role, member, length=10)}",
                         project, role, member=member)
            for member in plan.admins for role in ADMIN_PROJECT_ROLES]


def hub_project_grants(spoke: ClusterPlan, project: str) -> list[ProjectGrant]:
    """The hub's GitOps identity reaches the spoke's project (Connect Gateway too when the spoke's
    API is private or DNS-only)."""
    hub = spoke.hub or "hub"
    return [ProjectGrant(f"{hub}-gitops-{role_slug(role)}-{digest(project, length=8)}", project, role, hub=hub)
            for role in HUB_PROJECT_ROLES[spoke.endpoint.mode]]


def project_grants(plan: FleetPlan, configured_project: str | None) -> list[ProjectGrant]:
    """Every shared project-level grant the GKE clusters of `plan` need, once each, in plan order:
    what each cluster declares in one stack (GkeCluster, grant_hub_access), gathered for the
    environment's stack of a sharded environment."""
    grants: dict[str, ProjectGrant] = {}
    for cluster in plan.clusters:
        if cluster.provider != "gcp":
            continue
        project = resolve_project(cluster.project, configured_project)
        needed = admin_project_grants(cluster, project)
        if cluster.hub is not None:
            needed += hub_project_grants(cluster, project)
        for grant in needed:
            grants.setdefault(grant.name, grant)
    return list(grants.values())


@dataclass
class _StackGrants:
    """The shared grants of one program run (one stack)."""

    declared: dict[str, gcp.projects.IAMMember] = field(default_factory=dict)
    held_elsewhere: bool = False  # a shard's run: its environment's stack declares them


_SHARED_GRANTS: weakref.WeakKeyDictionary[pulumi.Resource, _StackGrants] = weakref.WeakKeyDictionary()


def _stack_grants() -> _StackGrants:
    stack = pulumi.runtime.get_root_resource()  # one registry per program run
    return _SHARED_GRANTS.setdefault(stack, _StackGrants()) if stack is not None else _StackGrants()


def project_grants_held_elsewhere() -> None:
    """This program run is a shard's: the GKE clusters it declares declare no shared grant (their
    environment's stack does, declare_project_grants)."""
    _stack_grants().held_elsewhere = True


def _declares_shared_grants() -> bool:
    return not _stack_grants().held_elsewhere


def _project_grant(grant: ProjectGrant, member: pulumi.Input[str] | None = None) -> gcp.projects.IAMMember:
    """The stack's one resource for `grant`. `member`: for a hub's grant, its identity's member."""
    grants = _stack_grants()
    if grant.name not in grants.declared:
        grants.declared[grant.name] = gcp.projects.IAMMember(
            grant.name, project=grant.project, role=grant.role,
            member=member if member is not None else grant.member,
            opts=pulumi.ResourceOptions(depends_on=[]),
        )
    return grants.declared[grant.name]


def hub_member(identity: HubIdentity) -> pulumi.Input[str]:
    """The IAM member of a hub's GitOps identity on GCP."""
    return (identity.details["member"] if "member" in identity.details
            else identity.principal.apply(lambda email: f"serviceAccount:{email}"))


def declare_project_grants(plan: FleetPlan, hubs: Mapping[str, HubIdentity]) -> list[gcp.projects.IAMMember]:
    """The environment's stack of a sharded environment: every shared grant of every shard's GKE
    clusters (project_grants). `hubs`: hub name -> its GitOps identity on GCP; every hub is this
    stack's, so the member is a local output."""
    return [_project_grant(grant, hub_member(hubs[grant.hub]) if grant.hub is not None else None)
            for grant in project_grants(plan, gcp.config.project)]


# --- the cluster -------------------------------------------------------------------------------


class GkeCluster(pulumi.ComponentResource):
    """One GKE cluster and everything it needs, from a ClusterPlan."""

    handle: ClusterHandle

    def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:clouds:GkeCluster", plan.name, None, opts)
        name, location = plan.name, plan.location
        project = resolve_project(plan.project, gcp.config.project)
        labels = gcp_labels(plan.tags)
        child = pulumi.ResourceOptions(parent=self)
        project_number = gcp.organizations.get_project_output(
            project_id=project, opts=pulumi.InvokeOutputOptions(parent=self)).number

        # Network: custom-mode VPC, one regional subnet, NAT on static addresses.
        network = gcp.compute.Network(
            f"{name}-vpc", name=f"{name}-vpc", project=project, auto_create_subnetworks=False,
            routing_mode="REGIONAL", description=f"fleet cluster {name}", opts=child)
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes", name=f"{name}-nodes", project=project, region=location, network=network.id,
            ip_cidr_range=plan.network.node_cidr,
            secondary_ip_ranges=[
                {"range_name": POD_RANGE, "ip_cidr_range": plan.network.pod_cidr},
                {"range_name": SERVICE_RANGE, "ip_cidr_range": plan.network.service_cidr},
            ],
            private_ip_google_access=True,
            log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5,
                        "metadata": "INCLUDE_ALL_METADATA"},
            opts=child)
        router = gcp.compute.Router(
            f"{name}-router", name=f"{name}-router", project=project, region=location, network=network.id,
            opts=child)
        addresses = [
            gcp.compute.Address(
                f"{name}-nat-{index}", name=f"{name}-nat-{index}", project=project, region=location,
                address_type="EXTERNAL", network_tier="PREMIUM", labels=labels,
                description=f"Cloud NAT egress of fleet cluster {name}", opts=child)
            for index in range(nat_address_count(plan.node_pools))
        ]
        nat = gcp.compute.RouterNat(
            f"{name}-nat", name=f"{name}-nat", project=project, region=location, router=router.name,
            nat_ip_allocate_option="MANUAL_ONLY", nat_ips=[a.self_link for a in addresses],
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[{"name": subnet.self_link, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
            enable_dynamic_port_allocation=True, enable_endpoint_independent_mapping=False,
            min_ports_per_vm=NAT_MIN_PORTS_PER_VM, max_ports_per_vm=NAT_MAX_PORTS_PER_VM,
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child)
        egress_cidrs = pulumi.Output.all(*[a.address for a in addresses]).apply(
            lambda ips: [f"{ip}/32" for ip in ips])

        # Secrets envelope encryption with a customer-managed key the GKE service agent may use.
        encryption: dict[str, Any] | None = None
        encryption_ready: list[pulumi.Resource] = []
        if plan.secrets_encryption:
            ring = gcp.kms.KeyRing(f"{name}-keyring", name=f"{name}-gke", project=project, location=location,
                                   opts=child)
            key = gcp.kms.CryptoKey(
                f"{name}-secrets", name="kubernetes-secrets", key_ring=ring.id, purpose="ENCRYPT_DECRYPT",
                rotation_period=KMS_ROTATION_PERIOD, labels=labels,
                opts=pulumi.ResourceOptions(parent=self, protect=plan.protect))
            encryption_ready.append(gcp.kms.CryptoKeyIAMMember(
                f"{name}-secrets-gke-agent", crypto_key_id=key.id, role=KMS_ENCRYPTER_ROLE,
                member=project_number.apply(lambda n: f"serviceAccount:{gke_service_agent(n)}"),
                opts=child))
            encryption = {"state": "ENCRYPTED", "key_name": key.id}

        # Nodes run as their own least-privilege service account (one per cluster, shared by its pools).
        nodes_sa = gcp.serviceaccount.Account(
            f"{name}-nodes", account_id=account_id(name, "nodes"), project=project,
            display_name=f"GKE nodes of {name}"[:100],
            description=f"Least-privilege node service account of fleet cluster {name}", opts=child)
        node_grants = [
            gcp.projects.IAMMember(f"{name}-nodes-{role_slug(role)}", project=project, role=role,
                                   member=nodes_sa.member, opts=child)
            for role in NODE_SA_ROLES
        ]
        node_defaults = {
            "service_account": nodes_sa.email,
            "oauth_scopes": list(OAUTH_SCOPES),
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "shielded_instance_config": dict(SHIELDED_INSTANCE),
            "metadata": dict(NODE_METADATA),
        }

        master_authorized = None
        if plan.endpoint.mode == "authorized":
            if not plan.endpoint.authorized_cidrs:
                pulumi.log.warn(f"{name}: apiAccess 'authorized' with no authorizedNetworks or "
                                "fleet:ciRunnerCidrs: nothing outside Google can reach the API", self)
            hub = hub_egress if (hub_egress is not None and plan.endpoint.allow_hub_egress) else []
            master_authorized = pulumi.Output.from_input(hub).apply(lambda egress: {
                "cidr_blocks": authorized_blocks(plan.endpoint.authorized_cidrs, egress or []),
                "gcp_public_cidrs_access_enabled": False,
            })
        capacity = pod_range_node_capacity(plan.network.pod_cidr)
        if sum(p.max_nodes for p in plan.node_pools) > capacity:
            pulumi.log.warn(f"{name}: node pools may grow past the {capacity} nodes the pod range "
                            f"{plan.network.pod_cidr} holds at {MAX_PODS_PER_NODE} pods per node", self)
        security_group = groups_security_group(plan.admins)

        cluster = gcp.container.Cluster(
            name,
            name=name,
            project=project,
            location=location,
            node_locations=list(plan.network.zones),
            network=network.id,
            subnetwork=subnet.id,
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=node_defaults,  # only the short-lived default pool
            min_master_version=plan.kubernetes_version,
            release_channel={"channel": RELEASE_CHANNEL[plan.is_production]},
            workload_identity_config={"workload_pool": workload_pool(project)},
            datapath_provider=DATAPATH[plan.cni],
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": POD_RANGE,
                                  "services_secondary_range_name": SERVICE_RANGE},
            default_max_pods_per_node=MAX_PODS_PER_NODE,
            master_authorized_networks_config=master_authorized,
            database_encryption=encryption,
            deletion_protection=plan.protect,
            logging_config={"enable_components": list(LOGGING_COMPONENTS)},
            monitoring_config={"enable_components": list(MONITORING_COMPONENTS),
                               "managed_prometheus": {"enabled": True}},
            fleet={"project": project},
            resource_labels=labels,
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            security_posture_config={"mode": "BASIC"},
            gateway_api_config={"channel": "CHANNEL_STANDARD"},
            node_pool_defaults={"node_config_defaults": {"insecure_kubelet_readonly_port_enabled": "FALSE"}},
            maintenance_policy={"recurring_window": MAINTENANCE_WINDOW},
            authenticator_groups_config={"security_group": security_group} if security_group else None,
            **endpoint_settings(plan.endpoint.mode),
            opts=pulumi.ResourceOptions(
                parent=self, protect=plan.protect, depends_on=[*encryption_ready, *node_grants, nat],
                ignore_changes=["node_config"]),
        )

        nodes_email = f"{account_id(name, 'nodes')}@{project}.iam.gserviceaccount.com"  # = nodes_sa.email
        pools = [self._node_pool(plan, project, labels, cluster, pool, node_defaults, node_grants,
                                 poolnames.gke_pool_name(pool.name, create_only_fields(pool, nodes_email)))
                 for pool in plan.node_pools]

        # Addresses: what this program uses, what the hub uses, and their CA.
        # The membership is created with the cluster (`fleet` block): id = cluster name, location =
        # the cluster's region, unless GKE reports otherwise.
        membership = pulumi.Output.all(project_number, cluster.fleet).apply(
            lambda values: connect_gateway_url(
                values[0], _field(values[1], "membership_location") or location,
                _field(values[1], "membership_id") or name))
        membership_name = cluster.fleet.apply(lambda f: _field(f, "membership") or "")
        if plan.endpoint.mode == "private":
            endpoint = membership
        elif plan.endpoint.mode == "dns":
            endpoint = cluster.control_plane_endpoints_config.apply(
                lambda c: f"https://{_field(_field(c, 'dns_endpoint_config'), 'endpoint')}")
        else:
            endpoint = cluster.endpoint.apply(lambda ip: f"https://{ip}")
        hub_server = membership if plan.endpoint.mode in GATEWAY_MODES else endpoint
        if plan.endpoint.mode in PUBLIC_CA_MODES:
            ca_data: pulumi.Output[str] = pulumi.Output.from_input("")
        else:
            ca_data = cluster.master_auth.apply(lambda auth: _field(auth, "cluster_ca_certificate") or "")

        config = kubeconfig.exec_kubeconfig(name, endpoint, ca_data, AUTH_PLUGIN)
        provider = kubeconfig.cluster_provider(name, config, parent=self, depends_on=pools)

        subjects = [s for s in (rbac_subject(m) for m in plan.admins) if s]
        for member in plan.admins:
            if rbac_subject(member) is None:
                pulumi.log.warn(f"{name}: admin '{member}' is not a user:, group: or serviceAccount: "
                                "member; it gets no Kubernetes RBAC", self)
        # Shared by every cluster of the project (see _project_grant); a shard's are its environment's.
        if _declares_shared_grants():
            for grant in admin_project_grants(plan, project):
                _project_grant(grant)
        if subjects:
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-fleet-admins",
                metadata={"name": "fleet-admins", "labels": {"app.kubernetes.io/managed-by": "fleet"}},
                role_ref=CLUSTER_ADMIN,
                subjects=subjects,
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=pools))

        resource_id = cluster.id
        self.handle = ClusterHandle(
            name=name,
            provider="gcp",
            location=location,
            endpoint=endpoint,
            hub_server=hub_server,
            ca_data=ca_data,
            kubeconfig=config,
            oidc_issuer=resource_id.apply(lambda rid: f"https://container.googleapis.com/v1/{rid}"),
            resource_id=resource_id,
            account=pulumi.Output.from_input(project),
            egress_cidrs=egress_cidrs,
            k8s_provider=provider,
            ready=list(pools),
            annotations={
                "gcp_project_id": project,
                "gcp_project_number": project_number,
                "gcp_region": location,
                "gcp_cluster_id": name,
                "gcp_membership": membership_name,
                "gcp_workload_identity_pool": workload_pool(project),
            },
        )
        self.register_outputs({
            "endpoint": endpoint,
            "hubServer": hub_server,
            "resourceId": resource_id,
            "egressCidrs": egress_cidrs,
            "nodeServiceAccount": nodes_sa.email,
        })

    def _node_pool(self, plan: ClusterPlan, project: str, labels: Mapping[str, str],
                   cluster: gcp.container.Cluster, pool: NodePoolPlan, node_defaults: Mapping[str, Any],
                   node_grants: Sequence[pulumi.Resource], pool_name: str) -> gcp.container.NodePool:
        return gcp.container.NodePool(
            f"{plan.name}-{pool.name}",
            name=pool_name,
            project=project,
            location=plan.location,
            cluster=cluster.name,
            initial_node_count=initial_nodes_per_zone(pool, len(plan.network.zones)),
            autoscaling=autoscaling(pool),
            max_pods_per_node=MAX_PODS_PER_NODE,
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
            **pinned_node_version(plan.node_version),
            node_config={
                **node_defaults,
                "machine_type": instance_type("gcp", pool.size),
                "disk_size_gb": OS_DISK_GB[pool.size],
                "disk_type": "pd-balanced",
                "image_type": "COS_CONTAINERD",
                "spot": pool.spot,
                "labels": dict(pool.labels),
                "resource_labels": {**labels, "fleet-pool": _label_text(pool.name)},
                "taints": node_taints(pool),
                "kubelet_config": {"insecure_kubelet_readonly_port_enabled": "FALSE"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(node_grants),
                                        ignore_changes=["initial_node_count"]),
        )


Cluster = GkeCluster


# --- the hub's identity and its access to spokes -------------------------------------------------


def hub_identity(plan: ClusterPlan, handle: ClusterHandle, service_accounts: Sequence[ServiceAccountRef],
                 parent: pulumi.Resource) -> HubIdentity:
    """A Google service account the hub's GitOps controllers impersonate through Workload Identity.

    Each Kubernetes service account in `service_accounts` must carry the annotation
    `iam.gke.io/gcp-service-account: <principal>`: service_account_annotations holds it.
    """
    project = resolve_project(plan.project, gcp.config.project)
    account = gcp.serviceaccount.Account(
        f"{plan.name}-gitops", account_id=account_id(plan.name, "gitops"), project=project,
        display_name=f"GitOps controllers of {plan.name}"[:100],
        description=f"Identity of the GitOps controllers on hub {plan.name}; administers its spokes",
        opts=pulumi.ResourceOptions(parent=parent))
    bindings = [
        gcp.serviceaccount.IAMMember(
            f"{plan.name}-gitops-wi-{ref.namespace}-{ref.name}",
            service_account_id=account.name, role=WORKLOAD_IDENTITY_USER,
            member=workload_identity_member(project, ref),
            # the workload pool exists once the hub cluster does
            opts=pulumi.ResourceOptions(parent=account, depends_on=list(handle.ready)))
        for ref in service_accounts
    ]
    return HubIdentity(
        provider="gcp",
        principal=account.email,
        details={"project": pulumi.Output.from_input(project), "member": account.member},
        resources=[account, *bindings],
        service_account_annotations={WORKLOAD_IDENTITY_ANNOTATION: account.email},
    )


FEDERATION_PROVIDER_ID = "hub-oidc"


def federation_pool_id(hub: str) -> str:
    """Workload identity pool id of a hub (4-32 of [a-z0-9-], starting with a letter, never 'gcp-'),
    from the hub's name alone: a deleted pool keeps its id for 30 days, so it must never move."""
    stem = re.sub(r"[^a-z0-9-]", "-", f"fleet-{hub}".lower())[:25].strip("-")
    return f"{stem}-{digest(hub)}"


def federated_hub_identity(hub: ClusterPlan, hub_handle: ClusterHandle,
                           service_accounts: Sequence[ServiceAccountRef], spokes: Sequence[ClusterPlan],
                           parent: pulumi.Resource) -> HubIdentity:
    """A hub on another cloud reaching GKE spokes (Google Cloud, "Configure Workload Identity
    Federation with Kubernetes"; Flux gcp integration, controller level on a cluster that is not
    GKE): a workload identity pool and OIDC provider in the spokes' project trusting the hub's
    issuer for exactly its controllers (attribute condition), and a Google service account those
    principals impersonate (roles/iam.workloadIdentityUser). Kubernetes RBAC, project IAM and
    Connect Gateway then know the hub as that service account, as for a GKE hub. Its controllers
    get a projected token for the provider's audience and GOOGLE_APPLICATION_CREDENTIALS naming an
    external-account credential configuration (ConfigMap fleet-gcp-credentials: no key in it)."""
    opts = pulumi.ResourceOptions(parent=parent)
    project = resolve_project(spokes[0].project if spokes else None, gcp.config.project)
    number = gcp.organizations.get_project_output(
        project_id=project, opts=pulumi.InvokeOutputOptions(parent=parent)).number
    pool_id = federation_pool_id(hub.name)
    subjects = [federation.subject(sa.namespace, sa.name) for sa in service_accounts]
    audience = number.apply(lambda n: federation.gcp_audience(n, pool_id, FEDERATION_PROVIDER_ID))
    pool = gcp.iam.WorkloadIdentityPool(
        f"{hub.name}-gcp-federation", workload_identity_pool_id=pool_id, project=project,
        display_name=f"fleet hub {hub.name}"[:32], description=f"GitOps controllers of hub {hub.name} ({hub.provider})",
        opts=opts)
    provider = gcp.iam.WorkloadIdentityPoolProvider(
        f"{hub.name}-gcp-federation", workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id=FEDERATION_PROVIDER_ID, project=project,
        attribute_mapping={"google.subject": "assertion.sub"},
        attribute_condition=federation.gcp_attribute_condition(subjects),
        oidc={"issuer_uri": hub_handle.oidc_issuer, "allowed_audiences": [audience]}, opts=opts)
    account = gcp.serviceaccount.Account(
        f"{hub.name}-gcp-federated", account_id=account_id(hub.name, "federated"), project=project,
        display_name=f"GitOps controllers of {hub.name}"[:100],
        description=f"Impersonated by the GitOps controllers of hub {hub.name} ({hub.provider}) through "
        f"workload identity pool {pool_id}", opts=opts)
    bindings = [
        gcp.serviceaccount.IAMMember(
            f"{hub.name}-gcp-federated-{sa.namespace}-{sa.name}", service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=number.apply(lambda n, sub=sub: federation.gcp_principal(n, pool_id, sub)),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[provider]))
        for sa, sub in zip(service_accounts, subjects, strict=True)
    ]
    configuration = pulumi.Output.all(number, account.email).apply(
        lambda v: federation.gcp_credential_configuration(v[0], pool_id, FEDERATION_PROVIDER_ID, v[1]))
    return HubIdentity(
        provider="gcp", principal=account.email,
        details={"project": pulumi.Output.from_input(project), "member": account.member,
                 "workload_identity_provider": number.apply(
                     lambda n: federation.gcp_provider_name(n, pool_id, FEDERATION_PROVIDER_ID))},
        resources=[pool, provider, account, *bindings],
        pod_env={"GOOGLE_APPLICATION_CREDENTIALS":
                 f"{federation.GCP_CREDENTIALS_DIR}/{federation.GCP_CREDENTIALS_FILE}"},
        volumes=(federation.token_volume("gcp", audience), federation.credentials_volume()),  # type: ignore[arg-type]
        volume_mounts=(federation.token_mount("gcp"), federation.credentials_mount()),
        files={federation.GCP_CREDENTIALS_FILE: configuration},
    )


def grant_hub_access(plan: ClusterPlan, handle: ClusterHandle, identity: HubIdentity,
                     parent: pulumi.Resource) -> SpokeAccess:
    """Let the hub's service account administer a GKE spoke: project IAM to reach it, RBAC inside."""
    project = resolve_project(plan.project, gcp.config.project)
    # In a shard's stack these grants are its environment's (declare_project_grants) and nothing
    # here depends on them: a dependency cannot cross stacks. The deploy order runs the
    # environment's stack first and its shards only after it succeeded (fleet/orchestrate.py,
    # .github/workflows/deploy.yml), so the grant exists before the registration uses it.
    grants = []
    if _declares_shared_grants():
        member = hub_member(identity)
        grants = [_project_grant(grant, member) for grant in hub_project_grants(plan, project)]
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{plan.name}-fleet-hub",
        metadata={"name": "fleet-hub-gitops", "labels": {"app.kubernetes.io/managed-by": "fleet"}},
        role_ref=CLUSTER_ADMIN,
        subjects=[{"kind": "User", "name": identity.principal, "api_group": "rbac.authorization.k8s.io"}],
        opts=pulumi.ResourceOptions(parent=parent, provider=handle.k8s_provider,
                                    depends_on=list(handle.ready)))
    mode = plan.endpoint.mode
    flux_config = pulumi.Output.all(handle.resource_id, handle.hub_server, handle.ca_data).apply(
        lambda values: {"provider": "gcp", "cluster": values[0], "address": values[1],
                        "ca.crt": flux_ca(mode, values[2])})
    return SpokeAccess(
        argocd_config=pulumi.Output.from_input(copy.deepcopy(ARGOCD_EXEC_CONFIG)),
        flux_config=flux_config,
        resources=[*grants, binding],
    )


# Roots of Google Trust Services, which sign connectgateway.googleapis.com and the GKE DNS
# endpoints. Flux's `gcp` kubeConfig provider falls back to the cluster's own CA when `ca.crt` is
# absent, which cannot verify those addresses, so Flux gets these public roots instead.
GOOGLE_TRUST_SERVICES_ROOTS = """\
-----BEGIN CERTIFICATE-----
MIIFVzCCAz+gAwIBAgINAgPlk28xsBNJiGuiFzANBgkqhkiG9w0BAQwFADBHMQsw
CQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2VzIExMQzEU
MBIGA1UEAxMLR1RTIFJvb3QgUjEwHhcNMTYwNjIyMDAwMDAwWhcNMzYwNjIyMDAw
MDAwWjBHMQswCQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZp
Y2VzIExMQzEUMBIGA1UEAxMLR1RTIFJvb3QgUjEwggIiMA0GCSqGSIb3DQEBAQUA
A4ICDwAwggIKAoICAQC2EQKLHuOhd5s73L+UPreVp0A8of2C+X0yBoJx9vaMf/vo
27xqLpeXo4xL+Sv2sfnOhB2x+cWX3u+58qPpvBKJXqeqUqv4IyfLpLGcY9vXmX7w
Cl7raKb0xlpHDU0QM+NOsROjyBhsS+z8CZDfnWQpJSMHobTSPS5g4M/SCYe7zUjw
TcLCeoiKu7rPWRnWr4+wB7CeMfGCwcDfLqZtbBkOtdh+JhpFAz2weaSUKK0Pfybl
qAj+lug8aJRT7oM6iCsVlgmy4HqMLnXWnOunVmSPlk9orj2XwoSPwLxAwAtcvfaH
szVsrBhQf4TgTM2S0yDpM7xSma8ytSmzJSq0SPly4cpk9+aCEI3oncKKiPo4Zor8
Y/kB+Xj9e1x3+naH+uzfsQ55lVe0vSbv1gHR6xYKu44LtcXFilWr06zqkUspzBmk
MiVOKvFlRNACzqrOSbTqn3yDsEB750Orp2yjj32JgfpMpf/VjsPOS+C12LOORc92
wO1AK/1TD7Cn1TsNsYqiA94xrcx36m97PtbfkSIS5r762DL8EGMUUXLeXdYWk70p
aDPvOmbsB4om3xPXV2V4J95eSRQAogB/mqghtqmxlbCluQ0WEdrHbEg8QOB+DVrN
VjzRlwW5y0vtOUucxD/SVRNuJLDWcfr0wbrM7Rv1/oFB2ACYPTrIrnqYNxgFlQID
AQABo0IwQDAOBgNVHQ8BAf8EBAMCAYYwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4E
FgQU5K8rJnEaK0gnhS9SZizv8IkTcT4wDQYJKoZIhvcNAQEMBQADggIBAJ+qQibb
C5u+/x6Wki4+omVKapi6Ist9wTrYggoGxval3sBOh2Z5ofmmWJyq+bXmYOfg6LEe
QkEzCzc9zolwFcq1JKjPa7XSQCGYzyI0zzvFIoTgxQ6KfF2I5DUkzps+GlQebtuy
h6f88/qBVRRiClmpIgUxPoLW7ttXNLwzldMXG+gnoot7TiYaelpkttGsN/H9oPM4
7HLwEXWdyzRSjeZ2axfG34arJ45JK3VmgRAhpuo+9K4l/3wV3s6MJT/KYnAK9y8J
ZgfIPxz88NtFMN9iiMG1D53Dn0reWVlHxYciNuaCp+0KueIHoI17eko8cdLiA6Ef
MgfdG+RCzgwARWGAtQsgWSl4vflVy2PFPEz0tv/bal8xa5meLMFrUKTX5hgUvYU/
Z6tGn6D/Qqc6f1zLXbBwHSs09dR2CQzreExZBfMzQsNhFRAbd03OIozUhfJFfbdT
6u9AWpQKXCBfTkBdYiJ23//OYb2MI3jSNwLgjt7RETeJ9r/tSQdirpLsQBqvFAnZ
0E6yove+7u7Y/9waLd64NnHi/Hm3lCXRSHNboTXns5lndcEZOitHTtNCjv0xyBZm
2tIMPNuzjsmhDYAPexZ3FL//2wmUspO8IFgV6dtxQ/PeEMMA3KgqlbbC1j+Qa3bb
bP6MvPJwNQzcmRk13NfIRmPVNnGuV/u3gm3c
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
MIIFVzCCAz+gAwIBAgINAgPlrsWNBCUaqxElqjANBgkqhkiG9w0BAQwFADBHMQsw
CQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2VzIExMQzEU
MBIGA1UEAxMLR1RTIFJvb3QgUjIwHhcNMTYwNjIyMDAwMDAwWhcNMzYwNjIyMDAw
MDAwWjBHMQswCQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZp
Y2VzIExMQzEUMBIGA1UEAxMLR1RTIFJvb3QgUjIwggIiMA0GCSqGSIb3DQEBAQUA
A4ICDwAwggIKAoICAQDO3v2m++zsFDQ8BwZabFn3GTXd98GdVarTzTukk3LvCvpt
nfbwhYBboUhSnznFt+4orO/LdmgUud+tAWyZH8QiHZ/+cnfgLFuv5AS/T3KgGjSY
6Dlo7JUle3ah5mm5hRm9iYz+re026nO8/4Piy33B0s5Ks40FnotJk9/BW9BuXvAu
MC6C/Pq8tBcKSOWIm8Wba96wyrQD8Nr0kLhlZPdcTK3ofmZemde4wj7I0BOdre7k
RXuJVfeKH2JShBKzwkCX44ofR5GmdFrS+LFjKBC4swm4VndAoiaYecb+3yXuPuWg
f9RhD1FLPD+M2uFwdNjCaKH5wQzpoeJ/u1U8dgbuak7MkogwTZq9TwtImoS1mKPV
+3PBV2HdKFZ1E66HjucMUQkQdYhMvI35ezzUIkgfKtzra7tEscszcTJGr61K8Yzo
dDqs5xoic4DSMPclQsciOzsSrZYuxsN2B6ogtzVJV+mSSeh2FnIxZyuWfoqjx5RW
Ir9qS34BIbIjMt/kmkRtWVtd9QCgHJvGeJeNkP+byKq0rxFROV7Z+2et1VsRnTKa
G73VululycslaVNVJ1zgyjbLiGH7HrfQy+4W+9OmTN6SpdTi3/UGVN4unUu0kzCq
gc7dGtxRcw1PcOnlthYhGXmy5okLdWTK1au8CcEYof/UVKGFPP0UJAOyh9OktwID
AQABo0IwQDAOBgNVHQ8BAf8EBAMCAYYwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4E
FgQUu//KjiOfT5nK2+JopqUVJxce2Q4wDQYJKoZIhvcNAQEMBQADggIBAB/Kzt3H
vqGf2SdMC9wXmBFqiN495nFWcrKeGk6c1SuYJF2ba3uwM4IJvd8lRuqYnrYb/oM8
0mJhwQTtzuDFycgTE1XnqGOtjHsB/ncw4c5omwX4Eu55MaBBRTUoCnGkJE+M3DyC
B19m3H0Q/gxhswWV7uGugQ+o+MePTagjAiZrHYNSVc61LwDKgEDg4XSsYPWHgJ2u
NmSRXbBoGOqKYcl3qJfEycel/FVL8/B/uWU9J2jQzGv6U53hkRrJXRqWbTKH7QMg
yALOWr7Z6v2yTcQvG99fevX4i8buMTolUVVnjWQye+mew4K6Ki3pHrTgSAai/Gev
HyICc/sgCq+dVEuhzf9gR7A/Xe8bVr2XIZYtCtFenTgCR2y59PYjJbigapordwj6
xLEokCZYCDzifqrXPW+6MYgKBesntaFJ7qBFVHvmJ2WZICGoo7z7GJa7Um8M7YNR
TOlZ4iBgxcJlkoKM8xAfDoqXvneCbT+PHV28SSe9zE8P4c52hgQjxcCMElv924Sg
JPFI/2R80L5cFtHvma3AH/vLrrw4IgYmZNralw4/KBVEqE8AyvCazM90arQ+POuV
7LXTWtiBmelDGDfrs7vRWGJB82bSj6p4lVQgw1oudCvV0b4YacCs1aTPObpRhANl
6WLAYv7YTVWW4tAR+kg0Eeye7QUd5MjWHYbL
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
MIICCTCCAY6gAwIBAgINAgPluILrIPglJ209ZjAKBggqhkjOPQQDAzBHMQswCQYD
VQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2VzIExMQzEUMBIG
A1UEAxMLR1RTIFJvb3QgUjMwHhcNMTYwNjIyMDAwMDAwWhcNMzYwNjIyMDAwMDAw
WjBHMQswCQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2Vz
IExMQzEUMBIGA1UEAxMLR1RTIFJvb3QgUjMwdjAQBgcqhkjOPQIBBgUrgQQAIgNi
AAQfTzOHMymKoYTey8chWEGJ6ladK0uFxh1MJ7x/JlFyb+Kf1qPKzEUURout736G
jOyxfi//qXGdGIRFBEFVbivqJn+7kAHjSxm65FSWRQmx1WyRRK2EE46ajA2ADDL2
4CejQjBAMA4GA1UdDwEB/wQEAwIBhjAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQW
BBTB8Sa6oC2uhYHP0/EqEr24Cmf9vDAKBggqhkjOPQQDAwNpADBmAjEA9uEglRR7
VKOQFhG/hMjqb2sXnh5GmCCbn9MN2azTL818+FsuVbu/3ZL3pAzcMeGiAjEA/Jdm
ZuVDFhOD3cffL74UOO0BzrEXGhF16b0DjyZ+hOXJYKaV11RZt+cRLInUue4X
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
MIICCTCCAY6gAwIBAgINAgPlwGjvYxqccpBQUjAKBggqhkjOPQQDAzBHMQswCQYD
VQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2VzIExMQzEUMBIG
A1UEAxMLR1RTIFJvb3QgUjQwHhcNMTYwNjIyMDAwMDAwWhcNMzYwNjIyMDAwMDAw
WjBHMQswCQYDVQQGEwJVUzEiMCAGA1UEChMZR29vZ2xlIFRydXN0IFNlcnZpY2Vz
IExMQzEUMBIGA1UEAxMLR1RTIFJvb3QgUjQwdjAQBgcqhkjOPQIBBgUrgQQAIgNi
AATzdHOnaItgrkO4NcWBMHtLSZ37wWHO5t5GvWvVYRg1rkDdc/eJkTBa6zzuhXyi
QHY7qca4R9gq55KRanPpsXI5nymfopjTX15YhmUPoYRlBtHci8nHc8iMai/lxKvR
HYqjQjBAMA4GA1UdDwEB/wQEAwIBhjAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQW
BBSATNbrdP9JNqPV2Py1PsVq8JQdjDAKBggqhkjOPQQDAwNpADBmAjEA6ED/g94D
9J+uHXqnLrmvT/aDHQ4thQEd0dlq7A/Cr8deVl5c1RxYIigL9zC2L7F8AjEA8GE8
p/SgguMh1YQdc4acLa/KNJvxn7kjNuK8YAOdgLOaVsjh4rsUecrNIdSUtUlD
-----END CERTIFICATE-----
"""
