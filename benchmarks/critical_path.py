"""The chain of resources a new region waits on, in modelled minutes, from `fleet synth`'s graph.

What a resource waits for under `pulumi up` (the model used here):
- every URN in its `dependencies` (property dependencies and depends_on, as the SDK sends them);
- its `provider` (a provider is configured from its own inputs, e.g. a kubeconfig built from the
  cluster's endpoint, so it waits for those and then costs nothing);
- its parent when the parent is a CUSTOM resource: the SDK awaits the parent's URN, which the engine
  only returns once the parent's RegisterResource completed, i.e. after it was created.
A component parent is not a wait: a component has no create step, its RegisterResource returns at
once, and a child waits for nothing inside it unless it names those resources in `dependencies`
(depends_on a component is expanded by the SDK to the component's custom children, which then
appear in `dependencies`). Providers and components take 0 minutes; every custom resource takes
the minutes of its type in TYPE_MINUTES. `pulumi up` runs independent operations concurrently
(`--parallel` defaults to unbounded), so the time to the last resource is the longest weighted
chain: the critical path.

A NEW region: the resources of the region's clusters (everything under their FleetMember
components, including their registration on the hub) are to be created; everything else (the hub,
the other regions) already exists and is ready at minute 0. A region must wait for nothing outside
itself except the hub's (egress addresses, hub identity, hub API / registration endpoint), and
nothing outside the region may wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SOURCES: dict[str, str] = {
    "eks-roadmap": "github.com/aws/containers-roadmap/issues/1227 (EKS team: control plane creation averaged "
                   "15 min, later ~9 min on average; users report 10-14 min)",
    "eks-regions": "easontechtalk.com/unofficial-eks-cluster-creation-performance-across-aws-regions "
                   "(measured 13-16 min in 21 regions)",
    "eks-tf-log": "github.com/DevopsArtFactory/terraform-provisioning/pull/46 (aws_eks_cluster 8m33s; "
                  "aws_iam_openid_connect_provider 1s)",
    "nodegroup": "github.com/eksctl-io/eksctl/pull/482 (managed node group stack 3m36s); "
                 "github.com/umotif-public/terraform-aws-eks-node-group/issues/7 (aws_eks_node_group 2m50s)",
    "nat": "github.com/kubernetes/kops/pull/944 (NAT gateway pending -> available 'up to 5 min')",
    "tf-aws-net": "github.com/turbot/steampipe-plugin-aws/pull/131 and /pull/571 (aws_vpc 13-24s, aws_subnet "
                  "3-7s, aws_iam_role 5-7s, aws_iam_role_policy_attachment 2-4s)",
    "tf-aws-rta": "github.com/terraform-aws-modules/terraform-aws-eks/issues/2203 (aws_route_table_association "
                  "1s, aws_subnet 10s)",
    "aks": "gist.github.com/sacreman/9054e4e9def7df545437b62b500d55e9 (2018: AKS create 13 min); "
           "current AKS creates in 5-10 min (estimate)",
    "rg": "github.com/turbot/steampipe-plugin-azure/pull/83 (azurerm_resource_group 4s)",
    "keyvault": "github.com/Azure/terraform-azurerm-avm-res-keyvault-vault/pull/79 (azurerm_key_vault 3m6s); "
                "github.com/hashicorp/terraform-provider-azurerm/issues/21447 ('creation takes too much time')",
    "gke": "github.com/eclipse-theia/theia-cloud/issues/336 (google_container_cluster still creating after "
           "8m20s); 6-10 min (estimate)",
    "gcp-net": "github.com/opea-project/GenAIInfra/pull/977 (google_compute_network 22s)",
    "parallel": "pulumi.com/docs/iac/cli/commands/pulumi_up (--parallel: 'Defaults to unbounded'); "
                "github.com/pulumi/pulumi/pull/2123",
    "estimate": "estimate (no published figure found)",
}

# type token -> (typical creation minutes, source key). Kubernetes objects without readiness
# logic in the Pulumi Kubernetes provider (ConfigMap, Secret, RBAC, custom resources) are created
# in about a second.
TYPE_MINUTES: dict[str, tuple[float, str]] = {
    # AWS
    "aws:eks/cluster:Cluster": (12.0, "eks-roadmap"),
    "aws:eks/nodeGroup:NodeGroup": (3.5, "nodegroup"),
    "aws:eks/addon:Addon": (1.0, "estimate"),
    "aws:eks/accessEntry:AccessEntry": (0.05, "estimate"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": (0.05, "estimate"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": (0.05, "estimate"),
    "aws:ec2/vpc:Vpc": (0.3, "tf-aws-net"),
    "aws:ec2/subnet:Subnet": (0.1, "tf-aws-net"),
    "aws:ec2/natGateway:NatGateway": (2.0, "nat"),
    "aws:ec2/eip:Eip": (0.05, "estimate"),
    "aws:ec2/internetGateway:InternetGateway": (0.1, "estimate"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": (0.05, "estimate"),
    "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation": (0.1, "estimate"),
    "aws:ec2/routeTable:RouteTable": (0.05, "estimate"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (0.02, "tf-aws-rta"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (0.2, "estimate"),
    "aws:ec2/launchTemplate:LaunchTemplate": (0.05, "estimate"),
    "aws:kms/key:Key": (0.1, "estimate"),
    "aws:kms/alias:Alias": (0.02, "estimate"),
    "aws:iam/role:Role": (0.1, "tf-aws-net"),
    "aws:iam/rolePolicy:RolePolicy": (0.05, "estimate"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (0.05, "tf-aws-net"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (0.02, "eks-tf-log"),
    "aws:cloudwatch/logGroup:LogGroup": (0.02, "estimate"),
    # Azure
    "azure-native:containerservice:ManagedCluster": (8.0, "aks"),
    "azure-native:containerservice:AgentPool": (4.0, "estimate"),
    "azure-native:resources:ResourceGroup": (0.1, "rg"),
    "azure-native:network:VirtualNetwork": (0.2, "estimate"),
    "azure-native:network:Subnet": (0.1, "estimate"),
    "azure-native:network:PublicIPAddress": (0.1, "estimate"),
    "azure-native:network:NatGateway": (0.5, "estimate"),
    "azure-native:operationalinsights:Workspace": (0.5, "estimate"),
    "azure-native:keyvault:Vault": (3.0, "keyvault"),
    "azure-native:keyvault:Key": (0.1, "estimate"),
    "azure-native:managedidentity:UserAssignedIdentity": (0.1, "estimate"),
    "azure-native:managedidentity:FederatedIdentityCredential": (0.1, "estimate"),
    "azure-native:authorization:RoleAssignment": (0.2, "estimate"),
    "azure-native:authorization:ManagementLockAtResourceGroupLevel": (0.05, "estimate"),
    "azure-native:monitor:DiagnosticSetting": (0.1, "estimate"),
    "azure-native:kubernetesconfiguration:Extension": (3.0, "estimate"),
    # GCP
    "gcp:container/cluster:Cluster": (8.0, "gke"),
    "gcp:container/nodePool:NodePool": (3.0, "estimate"),
    "gcp:compute/network:Network": (0.4, "gcp-net"),
    "gcp:compute/subnetwork:Subnetwork": (0.3, "estimate"),
    "gcp:compute/router:Router": (0.3, "estimate"),
    "gcp:compute/routerNat:RouterNat": (0.5, "estimate"),
    "gcp:compute/address:Address": (0.1, "estimate"),
    "gcp:kms/keyRing:KeyRing": (0.05, "estimate"),
    "gcp:kms/cryptoKey:CryptoKey": (0.1, "estimate"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": (0.1, "estimate"),
    "gcp:projects/iAMMember:IAMMember": (0.1, "estimate"),
    "gcp:serviceaccount/account:Account": (0.1, "estimate"),
    "gcp:serviceaccount/iAMMember:IAMMember": (0.1, "estimate"),
    "gcp:gkehub/membership:Membership": (0.5, "estimate"),
    # Kubernetes (Helm releases wait for their workloads to be ready)
    "kubernetes:helm.sh/v3:Release": (2.0, "estimate"),
}
# Helm releases by name suffix: Argo CD (several Deployments + Redis) is the slowest.
RELEASE_MINUTES: dict[str, float] = {"argocd": 3.0, "argo-cd": 3.0, "cilium": 2.0, "flux-operator": 1.0}
KUBERNETES_OBJECT_MINUTES = 0.02  # estimate: ConfigMap, Secret, RBAC, CRs have no readiness wait
UNKNOWN_MINUTES = 0.25  # estimate for a cloud type missing from the table (reported)

PROVIDER_PREFIX = "pulumi:providers:"
MEMBER_TYPE = "fleet:index:FleetMember"


def minutes_of(resource: Mapping[str, Any], unknown: set[str] | None = None) -> float:
    type_ = resource["type"]
    if not resource["custom"] or type_.startswith(PROVIDER_PREFIX):
        return 0.0
    if type_ == "kubernetes:helm.sh/v3:Release":
        for suffix, minutes in RELEASE_MINUTES.items():
            if resource["name"].endswith(suffix):
                return minutes
    if type_ in TYPE_MINUTES:
        return TYPE_MINUTES[type_][0]
    if type_.startswith("kubernetes:"):
        return KUBERNETES_OBJECT_MINUTES
    if unknown is not None:
        unknown.add(type_)
    return UNKNOWN_MINUTES


@dataclass
class Graph:
    resources: dict[str, dict[str, Any]]  # urn -> resource
    waits: dict[str, list[str]]  # urn -> urns it waits for
    owner: dict[str, str | None]  # urn -> FleetMember (cluster) name, None when outside any cluster
    registration: set[str]  # urns of hub registration resources
    clusters: dict[str, dict[str, Any]]  # cluster name -> cluster entry
    unknown_types: set[str] = field(default_factory=set)

    def minutes(self, urn: str) -> float:
        return minutes_of(self.resources[urn], self.unknown_types)


def build(document: Mapping[str, Any]) -> Graph:
    resources = {r["urn"]: r for r in document["resources"]}
    waits: dict[str, list[str]] = {}
    for urn, r in resources.items():
        wanted = list(r["dependencies"])
        if r["provider"]:
            wanted.append(r["provider"])
        parent = resources.get(r["parent"] or "")
        if parent is not None and parent["custom"]:
            wanted.append(parent["urn"])
        waits[urn] = [w for w in dict.fromkeys(wanted) if w in resources]
    owner: dict[str, str | None] = {}
    registration: set[str] = set()
    for urn, r in resources.items():
        node, name, in_registration = r, None, False
        while node is not None:
            if not node["custom"] and "Registration" in node["type"]:
                in_registration = True
            if node["type"] == MEMBER_TYPE:
                name = node["name"]
                break
            node = resources.get(node["parent"] or "")
        owner[urn] = name
        if in_registration:
            registration.add(urn)
    clusters = {c["name"]: c for c in document.get("clusters", [])}
    return Graph(resources, waits, owner, registration, clusters)


@dataclass
class Step:
    urn: str
    type: str
    name: str
    start: float
    finish: float
    registration: bool


@dataclass
class RegionChain:
    region: str
    clusters: list[str]
    provider: str
    engine: str
    minutes: float  # the new region's critical path
    own_minutes: float  # longest chain over the region's own (non-registration) resources
    path: list[Step]
    outside: dict[str, list[str]]  # "hub" / "shared" / other cluster -> resources waited on directly
    waited_on_by_others: list[str]  # resources outside the region that wait for the region
    other_spokes: list[str]  # other clusters reached through the waits, directly or not (must be none)

    @property
    def violations(self) -> list[str]:
        """Other spokes this region waits for, directly or through shared/hub resources (must be none)."""
        return self.other_spokes

    @property
    def equals_own_plus_registration(self) -> bool:
        own = [s for s in self.path if not s.registration]
        tail = self.path[len(own):]
        ordered = all(not s.registration for s in own) and all(s.registration for s in tail)
        prefix_minutes = own[-1].finish if own else 0.0
        return (ordered and bool(tail) and abs(prefix_minutes - self.own_minutes) < 1e-9
                and not self.violations and not self.waited_on_by_others)

    def signature(self) -> tuple:
        return round(self.minutes, 3), tuple(s.type for s in self.path)


def _short(resource: Mapping[str, Any]) -> str:
    return f"{resource['type'].split(':')[-1]}/{resource['name']}"


def region_chain(graph: Graph, region: str) -> RegionChain:
    """The critical path of `region` created new, every other resource already existing."""
    members = sorted(name for name, c in graph.clusters.items() if c.get("region") == region and
                     c.get("role") != "hub")
    inside = {urn for urn, o in graph.owner.items() if o in members}
    finish: dict[str, float] = {}
    best: dict[str, str | None] = {}

    def done(urn: str) -> float:
        if urn not in inside:
            return 0.0
        if urn in finish:
            return finish[urn]
        stack = [urn]
        while stack:  # iterative DFS: chains can be long
            top = stack[-1]
            pending = [w for w in graph.waits[top] if w in inside and w not in finish]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if top in finish:
                continue
            starts = [(finish[w] if w in inside else 0.0, w in inside, w) for w in graph.waits[top]]
            start, _, before = max(starts, default=(0.0, False, None))
            finish[top] = start + graph.minutes(top)
            best[top] = before if before in inside else None
        return finish[urn]

    for urn in inside:
        done(urn)
    end = max(inside, key=lambda u: (finish[u], u in graph.registration), default=None)
    own_end = max((u for u in inside if u not in graph.registration), key=lambda u: finish[u], default=None)
    path: list[Step] = []
    node = end
    while node is not None:
        r = graph.resources[node]
        path.append(Step(node, r["type"], r["name"], finish[node] - graph.minutes(node), finish[node],
                         node in graph.registration))
        node = best[node]
    path.reverse()
    outside: dict[str, list[str]] = {}
    for urn in sorted({w for u in inside for w in graph.waits[u] if w not in inside}):
        outside.setdefault(_owner_key(graph, urn), []).append(_short(graph.resources[urn]))
    transitive = {_owner_key(graph, urn) for urn in _ancestors(graph, inside)}
    waited_on = sorted(_short(graph.resources[u]) for u, ws in graph.waits.items()
                       if u not in inside and any(w in inside for w in ws))
    first = graph.clusters[members[0]] if members else {}
    return RegionChain(region, members, first.get("provider", "?"), first.get("engine", "?"),
                       finish[end] if end else 0.0, finish[own_end] if own_end else 0.0, path,
                       {k: sorted(v) for k, v in outside.items()}, waited_on,
                       sorted(transitive - {"hub", "shared"}))


def _owner_key(graph: Graph, urn: str) -> str:
    """'hub', 'shared' (outside every cluster) or the name of the other cluster owning `urn`."""
    owner = graph.owner[urn]
    if owner is None:
        return "shared"
    return "hub" if graph.clusters.get(owner, {}).get("role") == "hub" else owner


def _ancestors(graph: Graph, inside: set[str]) -> list[str]:
    """Resources outside `inside` that resources inside wait for, directly or through others outside."""
    seen: set[str] = set()
    stack = [w for u in inside for w in graph.waits[u] if w not in inside]
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        stack.extend(w for w in graph.waits[urn] if w not in inside and w not in seen)
    return sorted(seen)


def from_scratch(graph: Graph) -> float:
    """Minutes of a first deployment of the whole fleet (nothing exists yet)."""
    finish: dict[str, float] = {}
    for urn in _topological(graph):
        finish[urn] = max((finish[w] for w in graph.waits[urn]), default=0.0) + graph.minutes(urn)
    return max(finish.values(), default=0.0)


def _topological(graph: Graph) -> Iterable[str]:
    state: dict[str, int] = {}
    order: list[str] = []
    for root in graph.resources:
        stack = [(root, False)]
        while stack:
            urn, expanded = stack.pop()
            if expanded:
                state[urn] = 2
                order.append(urn)
                continue
            if state.get(urn):
                continue
            state[urn] = 1
            stack.append((urn, True))
            stack.extend((w, False) for w in graph.waits[urn] if not state.get(w))
    return order


def render_path(chain: RegionChain) -> str:
    parts = []
    for step in chain.path:
        kind = step.type.split(":")[-1]
        mark = "*" if step.registration else ""
        parts.append(f"{kind}{mark}@{step.finish:.1f}")
    return " -> ".join(parts)


def duration_table() -> list[tuple[str, float, str]]:
    rows = [(t, m, SOURCES[s]) for t, (m, s) in TYPE_MINUTES.items()]
    rows += [(f"kubernetes:helm.sh/v3:Release (name ends {k})", v, SOURCES["estimate"])
             for k, v in RELEASE_MINUTES.items()]
    rows.append(("other kubernetes:* objects", KUBERNETES_OBJECT_MINUTES, SOURCES["estimate"]))
    rows.append(("pulumi:providers:*, components", 0.0, "no cloud operation"))
    return rows
