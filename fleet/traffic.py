"""Traffic: what a ClusterSet's `loadBalancing` decides, as plain data (no Pulumi here).

One mechanism for every cloud (docs/traffic.md says why): DNS in one Route 53 public hosted zone
(the stack setting fleet:traffic), answered by routing policies and health checks that Route 53
evaluates, with one record per cluster kept current by external-dns on that cluster.

    global    <hostname>.<zone>, *.<hostname>.<zone>      latency records, one per published region entry,
                                                          each guarded by a calculated health check
                  -> <entry>.<hostname>.<zone>            weighted records, one per cluster of the entry,
                                                          each guarded by the cluster's health check
                      -> <cluster>.<hostname>.<zone>      written by external-dns on that cluster only
    regional  <entry>.<hostname>.<zone> (and *.<entry>...) weighted records, as above, no latency layer
    none      nothing

The data plane: every workload cluster of a publishing ClusterSet installs Envoy Gateway and the
BackendTrafficPolicy of the `traffic-policy` its registration label and identity carry
(gitops/addons/traffic/<policy>/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.spec.models import ClusterSet, RegionEntry
from fleet.spec.regions import equivalent

DEFAULT_WEIGHT = 100
MAX_WEIGHT = 255  # Route 53 weights are 0..255 (routing-policy-weighted.html)
RECORD_TTL = 60  # seconds: a drained or failed cluster leaves resolvers' caches within a minute
HEALTH_CHECK_PORT = 443  # the entry gateway's HTTPS listener (gitops/addons/traffic/gateway)
HEALTH_CHECK_INTERVAL = 30
HEALTH_CHECK_FAILURES = 3

# What Envoy Gateway's BackendTrafficPolicy spec.loadBalancer.type is for each algorithm
# (envoyproxy/gateway v1.9.0 api/v1alpha1/loadbalancer_types.go). Envoy's LEAST_REQUEST already
# honours endpoint weights (it picks by weight / active requests when weights differ: Envoy docs,
# "Load balancers: Weighted least request"), so weighted-least-request and least-request share it.
ENVOY_LOAD_BALANCER = {
    "round-robin": "RoundRobin",
    "least-request": "LeastRequest",
    "weighted-least-request": "LeastRequest",
    "random": "Random",
    "ring-hash": "ConsistentHash",
}
# The CRD refuses `zoneAware.preferLocal` on ConsistentHash ("PreferLocal zone-aware routing is not
# supported for ConsistentHash load balancers", CEL rule in loadbalancer_types.go v1.9.0): the
# API server would reject the policy after the merge, so `fleet validate` refuses it first.
NOT_ZONE_AWARE = frozenset({"ring-hash"})

ENVOY_GATEWAY_LABEL = "enable_envoy_gateway"  # ENABLE_ENVOY_GATEWAY in the identity
POLICY_LABEL = "traffic-policy"
POLICY_KEY = "TRAFFIC_POLICY"
# The Gateway every workload cluster's entry traffic arrives at; Envoy Gateway labels the Service it
# creates for it with these (external-dns selects that Service with --label-filter).
GATEWAY_NAME = "fleet-entry"
GATEWAY_NAMESPACE = "fleet-traffic"
GATEWAY_SERVICE_SELECTOR = (f"gateway.envoyproxy.io/owning-gateway-name={GATEWAY_NAME},"
                            f"gateway.envoyproxy.io/owning-gateway-namespace={GATEWAY_NAMESPACE}")

EXTERNAL_DNS_NAMESPACE = "external-dns"
EXTERNAL_DNS_ACCOUNT = "external-dns"
# external-dns >= 0.18 keeps ownership in one TXT record per record type, named
# '<type>-<first label>...' (docs/registry/txt.md): the names its IAM policy must also allow.
TXT_REGISTRY_TYPES = ("a", "aaaa", "cname")
RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT")
DNS_LABEL_LIMIT = 63
DNS_NAME_LIMIT = 253


def policy_name(algorithm: str, zone_aware: bool) -> str:
    """The folder of gitops/addons/traffic/ (and the traffic-policy label) of an algorithm."""
    return f"{algorithm}-zone-aware" if zone_aware else algorithm


def load_balancer(algorithm: str, zone_aware: bool) -> dict[str, object]:
    """BackendTrafficPolicy spec.loadBalancer for an algorithm (what gitops/addons/traffic holds)."""
    spec: dict[str, object] = {"type": ENVOY_LOAD_BALANCER[algorithm]}
    if algorithm == "ring-hash":
        spec["consistentHash"] = {"type": "SourceIP"}
    if zone_aware:
        spec["zoneAware"] = {"preferLocal": {}}
    return spec


def publishes(cluster_set: ClusterSet) -> bool:
    return cluster_set.spec.load_balancing.mode != "none"


def cluster_labels(cluster_set: ClusterSet, role: str) -> dict[str, str]:
    """Registration labels of a cluster: workload clusters of a publishing set run the gateway."""
    lb = cluster_set.spec.load_balancing
    if not publishes(cluster_set) or role == "hub":
        return {}
    return {ENVOY_GATEWAY_LABEL: "true", POLICY_LABEL: policy_name(lb.algorithm, lb.zone_aware)}


def identity_keys(labels: Mapping[str, str]) -> dict[str, str]:
    """The traffic policy as a cluster-identity key (Flux substitutes it into the policy's path)."""
    return {POLICY_KEY: labels[POLICY_LABEL]} if POLICY_LABEL in labels else {}


# --- the DNS plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterTraffic:
    cluster: str
    region: str  # region entry name
    provider: str
    weight: int
    record: str  # <cluster>.<hostname>.<zone>: the only name this cluster's external-dns may write

    @property
    def owner_id(self) -> str:
        """external-dns --txt-owner-id: the cluster's name."""
        return self.cluster

    @property
    def writable_names(self) -> tuple[str, ...]:
        """Record names the cluster's DNS identity may change (IAM ChangeResourceRecordSetsNormalizedRecordNames)."""
        first, _, rest = self.record.partition(".")
        return (self.record, *(f"{kind}-{first}.{rest}" for kind in TXT_REGISTRY_TYPES))


@dataclass(frozen=True)
class RegionTraffic:
    region: str  # region entry name
    name: str  # <entry>.<hostname>.<zone>
    latency_region: str  # the AWS region Route 53 measures latency to (the entry's location or its AWS twin)
    clusters: tuple[ClusterTraffic, ...]

    @property
    def drained(self) -> bool:
        """Every cluster at weight 0: Route 53 would answer such a group with equal probability
        (resource-record-sets-values-weighted.html), so a drained entry publishes no record at all."""
        return all(c.weight == 0 for c in self.clusters)


@dataclass(frozen=True)
class TrafficPlan:
    cluster_set: str
    mode: str  # global | regional
    algorithm: str
    zone_aware: bool
    zone: str
    zone_id: str
    entry: str  # <hostname>.<zone>
    regions: tuple[RegionTraffic, ...]

    @property
    def clusters(self) -> tuple[ClusterTraffic, ...]:
        return tuple(c for r in self.regions for c in r.clusters)

    @property
    def published(self) -> tuple[RegionTraffic, ...]:
        return tuple(r for r in self.regions if not r.drained)

    def hostnames(self) -> list[str]:
        """What users resolve: the entry point (global) or one name per region entry (regional)."""
        if self.mode == "global":
            return [self.entry, f"*.{self.entry}"]
        return [n for r in self.published for n in (r.name, f"*.{r.name}")]


@dataclass(frozen=True)
class Member:
    """What the traffic plan needs of one planned cluster (fleet.plan.ClusterPlan has it all)."""

    name: str
    role: str
    region: str
    index: int  # 0-based position in its entry
    provider: str
    location: str
    decommissioning: bool


def cluster_weight(entry: RegionEntry, index: int, decommissioning: bool) -> int:
    """0 while the cluster is being decommissioned (traffic leaves before its protection is
    lifted); else its clusterWeights entry, else the entry's weight."""
    if decommissioning:
        return 0
    return entry.cluster_weights.get(index + 1, entry.weight)


def plan_traffic(cluster_set: ClusterSet, members: Sequence[Member], zone: str, zone_id: str,
                 hostname: str) -> TrafficPlan | None:
    lb = cluster_set.spec.load_balancing
    if lb.mode == "none":
        return None
    entry = f"{hostname}.{zone}"
    entries = {e.name: e for e in cluster_set.spec.regions}
    regions = []
    for name, declared in entries.items():
        spokes = sorted((m for m in members if m.role != "hub" and m.region == name), key=lambda m: m.index)
        if not spokes:
            continue
        clusters = tuple(ClusterTraffic(m.name, name, m.provider, cluster_weight(declared, m.index, m.decommissioning),
                                        f"{m.name}.{entry}") for m in spokes)
        regions.append(RegionTraffic(name, f"{name}.{entry}", latency_region(spokes[0].provider, spokes[0].location),
                                     clusters))
    return TrafficPlan(cluster_set.metadata.name, lb.mode, lb.algorithm, lb.zone_aware, zone, zone_id, entry,
                       tuple(regions))


def latency_region(provider: str, location: str) -> str:
    """Route 53 latency records name an AWS region: an Azure or GCP location is measured as the
    AWS region in the same city (else alias, else jurisdiction: fleet.spec.regions.equivalent)."""
    if provider == "aws":
        return location
    twin = equivalent(location, provider, "aws")
    return twin.name if twin else "us-east-1"


# --- validation ----------------------------------------------------------------------------


def problems(cluster_set: ClusterSet, plan: TrafficPlan | None, has_settings: bool) -> list[tuple[str, str]]:
    """(field path, message) for every traffic declaration that cannot work."""
    lb = cluster_set.spec.load_balancing
    found: list[tuple[str, str]] = []
    if lb.mode == "none":
        return _ignored_under_none(cluster_set)
    if not has_settings:
        found.append(("spec.loadBalancing.mode",
                      f"'{lb.mode}' publishes the set's services in DNS, but the stack has no fleet:traffic "
                      "(zone, zoneId, hostname); set it, or write mode: none"))
    if lb.zone_aware and lb.algorithm in NOT_ZONE_AWARE:
        found.append(("spec.loadBalancing.zoneAware",
                      f"'{lb.algorithm}' cannot be zone-aware (Envoy Gateway refuses preferLocal zone-aware routing "
                      "on ConsistentHash); drop zoneAware or choose round-robin, least-request, "
                      "weighted-least-request or random"))
    found += _cluster_weight_numbers(cluster_set)
    if plan is not None:
        found += _names_fit(plan)
        if plan.mode == "global" and plan.regions and not plan.published:
            found.append(("spec.regions", "every region entry's clusters have weight 0: the global entry point "
                          "would answer nothing; keep at least one cluster with a weight above 0"))
    return found


def _ignored_under_none(cluster_set: ClusterSet) -> list[tuple[str, str]]:
    lb = cluster_set.spec.load_balancing
    found = [(f"spec.loadBalancing.{key}", "has no effect with mode: none (nothing is published and no gateway "
              "is installed); remove it or choose mode global or regional")
             for key, field in (("algorithm", "algorithm"), ("zoneAware", "zone_aware"))
             if field in lb.model_fields_set]
    for position, entry in enumerate(cluster_set.spec.regions):
        for key, field in (("weight", "weight"), ("clusterWeights", "cluster_weights")):
            if field in entry.model_fields_set:
                found.append((f"spec.regions[{position}].{key}",
                              "has no effect with loadBalancing mode: none; remove it or publish the set"))
    return found


def _cluster_weight_numbers(cluster_set: ClusterSet) -> list[tuple[str, str]]:
    found = []
    for position, entry in enumerate(cluster_set.spec.regions):
        outside = sorted(n for n in entry.cluster_weights if not 1 <= n <= entry.clusters)
        if outside:
            found.append((f"spec.regions[{position}].clusterWeights",
                          f"cluster number(s) {outside} do not exist (this entry has clusters 1..{entry.clusters})"))
    return found


def _names_fit(plan: TrafficPlan) -> list[tuple[str, str]]:
    """DNS limits (RFC 1035: 63-byte labels, 253-character names), TXT registry names included."""
    found = []
    for cluster in plan.clusters:
        longest = max(cluster.writable_names, key=lambda n: len(n.split(".")[0]))
        label = longest.split(".")[0]
        if len(label) > DNS_LABEL_LIMIT or max(len(n) for n in cluster.writable_names) > DNS_NAME_LIMIT:
            found.append(("metadata.name",
                          f"cluster '{cluster.cluster}' cannot be published: its ownership record '{label}' exceeds "
                          f"DNS limits ({DNS_LABEL_LIMIT} characters a label, {DNS_NAME_LIMIT} a name); shorten "
                          "the ClusterSet or region entry name, or the fleet:traffic hostname/zone"))
    return found
