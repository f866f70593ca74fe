"""Expansion: ClusterSets + ClusterTemplates -> one frozen ClusterPlan per cluster.

Every decision the program makes lives here, in pure functions: names, address ranges, labels,
identity, versions, sizes, GitOps paths and the hub relation. Nothing here imports Pulumi.

Stability rules (tested with hypothesis):
- a cluster's name depends only on (ClusterSet name, region entry name, index in the entry);
- a cluster's address block depends only on (cloud location, slot offset, index), through the
  append-only block table of fleet.spec.regions, never on list positions.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

from fleet import rollout as rollouts
from fleet import traffic
from fleet.access import refusal as unreachable
from fleet.problems import WARNING, Problem, did_you_mean, excerpt
from fleet.settings import StackSettings, environment_for_stack
from fleet.spec import versions
from fleet.spec.load import Declaration, Located
from fleet.spec.models import ClusterSet, ClusterTemplate, NodePool, TemplateSpec
from fleet.spec.regions import CITIES, Location, clouds_of, equivalent, locations_of, resolve_location

SUPERNET = ipaddress.ip_network("10.0.0.0/8")
CLUSTER_PREFIX = 19  # one /19 per cluster: nodes /21, services /21, pods /20
SLOTS_PER_LOCATION = 16
HUB_SLOT = 15
MAX_CLUSTERS_PER_ENTRY = 15

# Longest cluster name each managed service accepts (GKE: 40, AKS: 63, EKS: 100).
NAME_LIMITS = {"aws": 100, "azure": 63, "gcp": 40}
# Most nodes a cluster's /20 pod range serves where every node takes a fixed pod block
# (GKE: 32 pods per node -> a /26 per node -> 64 nodes).
MAX_NODES = {"gcp": 64}

DECOMMISSION_TAG = "fleet-decommission"

# Labels fleet sets on every cluster (CONTRACTS section 2) and tags it adds: a region or hub label
# may not redefine them (it would be silently overridden, or break the GitOps selectors).
CONTRACT_LABELS = ("purpose", "env", "region", "cloud", "cluster-set", "template", "engine", "service-type",
                   "fleet-cluster", "managed-by", DECOMMISSION_TAG)
# Tags whose value never changes in a cluster's life (its name is made of them). Only these, the
# pool's name and the cluster's name may reach what rolls nodes when it changes (an EKS launch
# template's tagSpecifications: a changed template is a new version and every node is replaced);
# region labels, the template name and DECOMMISSION_TAG change under a running cluster.
STABLE_TAG_KEYS = ("purpose", "env", "region", "cloud", "cluster-set", "fleet-cluster", "managed-by")

# Add-ons that GitOps installs, as the enable_<addon> labels gitops-bridge ApplicationSets select on.
POLICY_ENGINE_ADDONS = {"OPA": "enable_gatekeeper", "Kyverno": "enable_kyverno"}
# Where Cilium is part of the managed dataplane it is not an add-on GitOps installs.
CILIUM_IS_ADDON = {"aws": True, "azure": False, "gcp": False}


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(sorted(mapping.items())))


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePoolPlan:
    name: str
    size: str
    min_nodes: int
    max_nodes: int
    spot: bool
    system: bool
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]


@dataclass(frozen=True)
class NetworkPlan:
    block: str  # the cluster's whole /19
    node_cidr: str  # VPC / VNet / primary subnet range
    service_cidr: str
    pod_cidr: str
    zones: tuple[str, ...]
    private_subnets: tuple[str, ...]  # one per zone, inside node_cidr
    public_subnets: tuple[str, ...]  # one per zone, inside node_cidr (load balancers, NAT)

    @property
    def dns_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])


@dataclass(frozen=True)
class EndpointPlan:
    mode: str  # private | authorized | dns
    authorized_cidrs: tuple[str, ...]  # declared networks + CI runners (hub egress added at deploy)
    allow_hub_egress: bool


@dataclass(frozen=True)
class GitOpsPlan:
    engine: str  # flux | argocd
    repository_url: str
    revision: str
    environment_path: str  # synced by every cluster of the environment: zero touch
    cluster_path: str  # optional per-cluster folder, used when it exists
    flux_version: str
    flux_operator_chart_version: str
    argocd_chart_version: str
    private_repository: bool


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    role: str  # hub | spoke
    cluster_set: str
    environment: str
    region: str  # region entry name (the hub: its declared location)
    index: int  # position within the region entry (0 for the hub)
    provider: str
    location: str
    template: str
    kubernetes_version: str  # MAJOR.MINOR as the clouds take it
    node_pools: tuple[NodePoolPlan, ...]
    network: NetworkPlan
    endpoint: EndpointPlan
    cni: str
    service_type: str
    policy_engine: str
    image_scanning: bool
    prometheus: bool
    opentelemetry: bool
    secrets_encryption: bool
    labels: Mapping[str, str]  # registration labels: CONTRACTS section 2 + enable_<addon>
    identity: Mapping[str, str]  # cluster-identity ConfigMap data
    tags: Mapping[str, str]  # cloud resource tags/labels
    gitops: GitOpsPlan
    hub: str | None  # name of the hub cluster (None for the hub itself, or no hub)
    hub_provider: str | None
    hub_engine: str | None
    protect: bool  # Pulumi protect and the cloud's deletion protection
    decommissioning: bool  # protection deliberately lifted (region entry `decommission`)
    load_balancing: Mapping[str, str]
    admins: tuple[str, ...] = ()  # this cloud's admin principals (ARNs / Entra group ids / IAM members)
    project: str | None = None  # GCP project id for gcp clusters (None: the gcp:project config)
    deployer: str | None = None  # this cloud's deploying principal (fleet:deployer), None: unset
    extended_support: bool = False  # EKS upgrade policy EXTENDED / AKS LTS (fleet:versionPolicy)
    wave: str | None = None  # the rollout wave of the cluster, when its ClusterSet declares a rollout
    cilium_version: str | None = None  # the Cilium release fleet installs (EKS with cni cilium), else None
    node_release_version: str | None = None  # EKS AMI release of the node groups (None: latest at creation)
    node_os_upgrade_channel: str = "NodeImage"  # AKS autoUpgradeProfile.nodeOSUpgradeChannel
    node_version: str | None = None  # GKE version pinned on every node pool (None: the release channel's)

    @property
    def is_hub(self) -> bool:
        return self.role == "hub"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def stable_tags(self) -> Mapping[str, str]:
        """The tags that never change while the cluster exists (STABLE_TAG_KEYS)."""
        return {k: v for k, v in self.tags.items() if k in STABLE_TAG_KEYS}


@dataclass(frozen=True)
class FleetPlan:
    clusters: tuple[ClusterPlan, ...]
    warnings: tuple[Problem, ...] = ()  # printed, never stopping anything (fleet.spec.versions.judge)
    traffic: tuple[traffic.TrafficPlan, ...] = ()  # ClusterSets that publish an entry point (fleet.traffic)

    @property
    def hubs(self) -> tuple[ClusterPlan, ...]:
        return tuple(c for c in self.clusters if c.is_hub)

    def spokes_of(self, hub: ClusterPlan) -> tuple[ClusterPlan, ...]:
        return tuple(c for c in self.clusters if c.hub == hub.name)

    def providers(self) -> set[str]:
        return {c.provider for c in self.clusters}


# --- expansion -------------------------------------------------------------------------------


@dataclass
class _Context:
    settings: StackSettings
    stack: str
    today: date
    templates: Mapping[str, Located]
    running: Mapping[str, str] | None = None  # cluster -> minor it runs; None: the declaration is what runs
    problems: list[Problem] = field(default_factory=list)
    traffic: list[traffic.TrafficPlan] = field(default_factory=list)
    template_users: dict[tuple[str, str, str, str, str], list[str]] = field(default_factory=dict)

    def problem(self, where: Located, path: str, message: str) -> None:
        self.problems.append(Problem(where.source, where.ident, path, message))

    def template_problem(self, template: Located, path: str, message: str, user: str,
                         severity: str = "error") -> None:
        """A template problem is reported once, naming every entry that uses the template."""
        users = self.template_users.setdefault((template.source, template.ident, path, message, severity), [])
        if user not in users:
            users.append(user)

    def _template_problems(self, severity: str) -> list[Problem]:
        return [Problem(source, ident, path, f"{message} (used by {', '.join(users)})", kind)
                for (source, ident, path, message, kind), users in self.template_users.items() if kind == severity]

    def all_problems(self) -> list[Problem]:
        return self.problems + self._template_problems("error")

    def all_warnings(self) -> list[Problem]:
        return self._template_problems(WARNING)


@dataclass(frozen=True)
class _Member:
    """One cluster to be, before its plan is assembled."""

    name: str
    role: str
    region: str
    index: int
    provider: str
    location: Location
    template: Located
    labels: Mapping[str, str]
    block: ipaddress.IPv4Network
    where: str  # field path of the declaring entry, for messages
    decommissioning: bool = False
    wave: str | None = None


def expand(declaration: Declaration, settings: StackSettings, stack: str,
           today: date, running: Mapping[str, str] | None = None) -> tuple[FleetPlan, list[Problem]]:
    """All clusters of all ClusterSets, or the problems that stop us (all of them).

    `today`: the day the support calendar is judged at (the caller's clock; this reads none).
    `running` maps each cluster that exists to the Kubernetes minor it runs (from the base of a
    pull request); a cluster missing from it is new. None: the declaration is taken as what runs
    (`pulumi up` deploys what a reviewed pull request merged), so no date alone refuses it."""
    context = _Context(settings, stack, today, declaration.templates, running)
    if not declaration.cluster_sets:
        context.problems.append(Problem("", "", "", "no ClusterSet document found in the declaration"))
    clusters: list[ClusterPlan] = []
    for located in _unique_sets(declaration.cluster_sets, context):
        clusters += _expand_set(located, context)
    _check_unique_names(clusters, declaration, context)
    problems = context.all_problems()
    if problems:
        return FleetPlan(()), sorted(set(problems))
    ordered = tuple(sorted(clusters, key=lambda c: (c.role != "hub", c.name)))
    return FleetPlan(ordered, tuple(sorted(set(context.all_warnings()))), tuple(context.traffic)), []


def _unique_sets(cluster_sets: Sequence[Located], context: _Context) -> list[Located]:
    """ClusterSets by name, the first of each: names of clusters, paths and labels derive from it."""
    first: dict[str, Located] = {}
    for located in cluster_sets:
        name = located.model.metadata.name
        if name in first:
            context.problem(located, "metadata.name",
                            f"duplicate ClusterSet '{name}' (also {first[name].ident} in {first[name].source}); "
                            "ClusterSet names must be unique, rename one")
            continue
        first[name] = located
    return list(first.values())


def _expand_set(located: Located, context: _Context) -> list[ClusterPlan]:
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    members, target = _rolled_out(_hub_member(located, context) + _spoke_members(located, context), located, context)
    if cluster_set.spec.repository is None and context.settings.repository is None:
        context.problem(located, "spec.repository",
                        "no fleet repository: set spec.repository.url here or fleet:repository in the stack")
    _check_blocks(members, located, context)
    _check_runner_ranges(members, located, context)
    _check_contract_labels(located, context)
    hub = next((m for m in members if m.role == "hub"), None)
    environment = (cluster_set.spec.environment or context.settings.environment
                   or environment_for_stack(context.stack))
    if target is not None:
        _check_rollout_target(members, target, environment, located, context)
    plans = []
    for member in members:
        plan = _plan_member(member, cluster_set, environment, hub, context, located)
        if plan is not None:
            plans.append(plan)
    _check_reachability(plans, members, located, context)
    _plan_traffic(plans, located, context)
    return plans


def _plan_traffic(plans: Sequence[ClusterPlan], located: Located, context: _Context) -> None:
    """The set's DNS entry point and weights (fleet.traffic); one publishing set per stack, since
    fleet:traffic names one entry point."""
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    settings = context.settings.traffic
    members = [traffic.Member(p.name, p.role, p.region, p.index, p.provider, p.location, p.decommissioning)
               for p in plans]
    plan = (traffic.plan_traffic(cluster_set, members, settings.zone, settings.zone_id, settings.hostname)
            if settings is not None else None)
    for path, message in traffic.problems(cluster_set, plan, settings is not None):
        context.problem(located, path, message)
    if plan is not None and context.traffic:
        context.problem(located, "spec.loadBalancing.mode",
                        f"ClusterSet/{context.traffic[0].cluster_set} already publishes {plan.entry} "
                        "(fleet:traffic names one entry point per stack); write mode: none here")
    elif plan is not None:
        context.traffic.append(plan)


def _check_reachability(plans: Sequence[ClusterPlan], members: Sequence[_Member], located: Located,
                        context: _Context) -> None:
    """Every spoke is reachable by its hub on an address that accepts the hub's credential
    (fleet.access decides; a pair with no working path stops validate, plan, synth and up)."""
    where = {m.name: m.where for m in members}
    for plan in plans:
        if plan.hub is None or plan.hub_provider is None:
            continue
        message = unreachable(plan.name, plan.provider, plan.endpoint.mode, plan.hub, plan.hub_provider,
                              plan.hub_engine or "")
        if message:
            context.problem(located, f"{where[plan.name]}.template", message)


def _rolled_out(members: list[_Member], located: Located,
                context: _Context) -> tuple[list[_Member], Located | None]:
    """Members with their rollout wave, those of reached waves on the new revision (fleet.rollout),
    and the new revision (None without a valid rollout)."""
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    rollout = cluster_set.spec.rollout
    if rollout is None:
        return members, None
    new = _template(rollout.to, located, "spec.rollout.to", context)
    _template(rollout.from_, located, "spec.rollout.from", context)
    candidates = [rollouts.Candidate(m.name, m.region, m.index, m.role, m.provider, m.labels,
                                     m.template.model.metadata.name) for m in members]
    plans, problems = rollouts.waves(rollout, candidates)
    for problem in problems:
        context.problem(located, problem.path, problem.message)
    if new is None or problems:
        return members, None
    result = []
    for member in members:
        index = rollouts.wave_index_of(plans, member.name)
        if index is None:
            result.append(member)
            continue
        template = new if index < rollout.reached else member.template
        result.append(replace(member, template=template, wave=plans[index].name))
    return result, new


def _check_rollout_target(members: list[_Member], target: Located, environment: str, located: Located,
                          context: _Context) -> None:
    """The new revision on every cluster it is yet to reach, from the pull request that declares the
    rollout on: a version, node image or Cilium release it cannot run is refused before any wave
    moves (the reached waves' clusters are planned with it and checked there)."""
    model = target.model
    assert isinstance(model, ClusterTemplate)
    for member in members:
        if member.wave is not None and member.template is not target:
            _check_template_on_cloud(replace(member, template=target), model, environment, context, located)


def _hub_member(located: Located, context: _Context) -> list[_Member]:
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    hub = cluster_set.spec.hub
    if hub is None:
        return []
    template = _template(hub.template, located, "spec.hub.template", context)
    location = _location(hub.provider, hub.location, None, located, "spec.hub.location", context)
    if template is None or location is None:
        return []
    name = hub.name or f"{cluster_set.metadata.name}-hub"
    block = _nth_block(location.block * SLOTS_PER_LOCATION + HUB_SLOT)
    return [_Member(name, "hub", hub.location, 0, hub.provider, location, template, hub.labels, block, "spec.hub")]


def _spoke_members(located: Located, context: _Context) -> list[_Member]:
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    members: list[_Member] = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(cluster_set.spec.regions):
        where = f"spec.regions[{position}]"
        if entry.name in seen:
            context.problem(located, f"{where}.name",
                            f"duplicate region name '{entry.name}' (also spec.regions[{seen[entry.name]}])")
            continue
        seen[entry.name] = position
        provider = entry.provider or context.settings.default_provider
        template = _template(entry.template, located, f"{where}.template", context)
        location = _location(provider, entry.name, entry.location, located, f"{where}.location", context)
        count_ok = _check_count(entry.clusters, entry.network.slot_offset, located, where, context)
        blocks = _entry_blocks(entry, location, located, where, context) if location and count_ok else None
        if template is None or location is None or blocks is None:
            continue
        leaving = _decommissioned(entry.decommission, entry.clusters, located, where, context)
        for index in range(entry.clusters):
            name = f"{cluster_set.metadata.name}-{entry.name}-{index + 1:02d}"
            members.append(_Member(name, "spoke", entry.name, index, provider, location, template,
                                   entry.labels, blocks[index], where, index + 1 in leaving))
    return members


def _decommissioned(decommission: bool | list[int], count: int, located: Located, where: str,
                    context: _Context) -> set[int]:
    """Cluster numbers (1-based, as in the names) whose protection is lifted."""
    if decommission is True:
        return set(range(1, count + 1))
    if decommission is False:
        return set()
    outside = sorted(n for n in decommission if not 1 <= n <= count)
    if outside:
        context.problem(located, f"{where}.decommission",
                        f"cluster number(s) {outside} do not exist (this entry has clusters 1..{count})")
    return set(decommission)


def _template(name: str, located: Located, path: str, context: _Context) -> Located | None:
    template = context.templates.get(name)
    if template is None:
        known = sorted(context.templates)
        hint = did_you_mean(name, known)
        listing = f"; known templates: {', '.join(known)}" if known and not hint else ""
        if not known:
            listing = "; no ClusterTemplate documents were loaded"
        context.problem(located, path, f"unknown template {excerpt(name)}{hint}{listing}")
    return template


def _location(provider: str, region_name: str, location: str | None, located: Located, path: str,
              context: _Context) -> Location | None:
    if provider not in ("aws", "azure", "gcp"):
        context.problem(located, path.rsplit(".", 1)[0] + ".provider",
                        f"unknown provider {excerpt(provider)}{did_you_mean(provider, ['aws', 'azure', 'gcp'])}; "
                        "expected 'aws', 'azure' or 'gcp'")
        return None
    found = resolve_location(provider, region_name, location)
    if found is None and clouds_of(location or region_name):
        context.problem(located, path, _other_cloud(location or region_name, provider))
    elif found is None:
        wanted = location or region_name
        known = locations_of(provider)
        context.problem(
            located, path,
            f"{excerpt(wanted)} is not {_a(provider)} region{did_you_mean(wanted, known)}; set location to one of "
            f"{', '.join(known)} (or use an alias such as us-east, eu-west)",
        )
    return found


def _other_cloud(name: str, provider: str) -> str:
    """'germanywestcentral' on gcp: say whose name it is and gcp's counterpart."""
    owner = clouds_of(name)[0]
    counterpart = equivalent(name, owner, provider)
    advice = (f"{provider}'s equivalent is {counterpart.name} ({CITIES[counterpart.name]}): set location to it"
              if counterpart else f"choose one of {', '.join(locations_of(provider))}")
    return (f"'{name}' is {_a(owner)} location ({CITIES[name]}), not {_a(provider)} one; {advice}, or set "
            f"provider: {owner}")


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _check_count(count: int, offset: int, located: Located, where: str, context: _Context) -> bool:
    if count < 1:
        context.problem(located, f"{where}.clusters", f"must be at least 1, got {count}")
        return False
    if count + offset > MAX_CLUSTERS_PER_ENTRY:
        context.problem(
            located, f"{where}.clusters",
            f"{count} clusters from slot {offset} exceed the {MAX_CLUSTERS_PER_ENTRY} address slots of one "
            "location; split the entry into two region entries (the second with network.slotOffset) or "
            "set network.cidr",
        )
        return False
    return True


def _nth_block(slot: int) -> ipaddress.IPv4Network:
    size = 2 ** (32 - CLUSTER_PREFIX)
    return ipaddress.ip_network((int(SUPERNET.network_address) + slot * size, CLUSTER_PREFIX))


def _entry_blocks(entry, location: Location, located: Located, where: str,
                  context: _Context) -> list[ipaddress.IPv4Network] | None:
    if entry.network.cidr is None:
        first = location.block * SLOTS_PER_LOCATION + entry.network.slot_offset
        return [_nth_block(first + i) for i in range(entry.clusters)]
    explicit = ipaddress.ip_network(entry.network.cidr)
    if explicit.prefixlen > CLUSTER_PREFIX or explicit.num_addresses < entry.clusters * 2 ** (32 - CLUSTER_PREFIX):
        needed = CLUSTER_PREFIX - (entry.clusters - 1).bit_length()
        context.problem(located, f"{where}.network.cidr",
                        f"{explicit} is too small for {entry.clusters} cluster(s): each needs a "
                        f"/{CLUSTER_PREFIX}, so use a /{needed} or larger")
        return None
    return list(explicit.subnets(new_prefix=CLUSTER_PREFIX))[: entry.clusters]


def _check_blocks(members: Sequence[_Member], located: Located, context: _Context) -> None:
    ordered = sorted(members, key=lambda m: (int(m.block.network_address), m.name))
    for previous, current in itertools.pairwise(ordered):
        if previous.block.overlaps(current.block):
            context.problem(
                located, f"{current.where}.network",
                f"address block {current.block} of cluster '{current.name}' overlaps {previous.block} of "
                f"cluster '{previous.name}' ({previous.where}); give one entry a network.slotOffset past the "
                "other's clusters, or an explicit network.cidr",
            )


def _check_runner_ranges(members: Sequence[_Member], located: Located, context: _Context) -> None:
    """A cluster network overlapping the CI runners' range: the runners' traffic to the API endpoint
    would be routed into the cluster's own network (and an authorized network equal to the nodes'
    range authorises every pod)."""
    reported: set[tuple[str, str]] = set()
    for member in members:
        for runner in context.settings.ci_runner_cidrs:
            if member.block.overlaps(ipaddress.ip_network(runner)) and (member.where, runner) not in reported:
                reported.add((member.where, runner))
                fix = ("narrow fleet:ciRunnerCidrs to the runners' real egress range (the hub's block follows "
                       "its location)" if member.role == "hub" else
                       "give the entry a network.cidr (or network.slotOffset) outside the runners' range")
                context.problem(located, member.where if member.role == "hub" else f"{member.where}.network",
                                f"address block {member.block} of cluster '{member.name}' overlaps the CI runner "
                                f"range {runner} (fleet:ciRunnerCidrs); {fix}")


def _check_contract_labels(located: Located, context: _Context) -> None:
    cluster_set = located.model
    assert isinstance(cluster_set, ClusterSet)
    owners = [(f"spec.regions[{i}]", e.labels) for i, e in enumerate(cluster_set.spec.regions)]
    if cluster_set.spec.hub is not None:
        owners.append(("spec.hub", cluster_set.spec.hub.labels))
    for where, labels in owners:
        for key in sorted(set(labels) & set(CONTRACT_LABELS)):
            context.problem(located, f"{where}.labels.{key}",
                            f"'{key}' is a label fleet sets on every cluster (CONTRACTS section 2) and cannot be "
                            "redefined here; use another key" + _contract_hint(key))


def _contract_hint(key: str) -> str:
    return {"env": " (the environment comes from spec.environment or fleet:environment)",
            "cloud": " (the cloud comes from the entry's provider)",
            "region": " (the region label is the entry's name)"}.get(key, "")


def _plan_member(member: _Member, cluster_set: ClusterSet, environment: str, hub: _Member | None,
                 context: _Context, located: Located) -> ClusterPlan | None:
    template = member.template.model
    assert isinstance(template, ClusterTemplate)
    spec = template.spec
    ok = _check_template_on_cloud(member, template, environment, context, located)
    limit = NAME_LIMITS[member.provider]
    if len(member.name) > limit:
        context.problem(located, f"{member.where}.name",
                        f"cluster name '{member.name}' is {len(member.name)} characters; {member.provider} "
                        f"allows at most {limit}: shorten the ClusterSet or region entry name")
        ok = False
    if not ok:
        return None
    labels = _registration_labels(member, cluster_set, environment, template)
    identity = _identity(member, cluster_set, environment, template)
    hub_template = hub.template.model if hub else None
    return ClusterPlan(
        name=member.name,
        role=member.role,
        cluster_set=cluster_set.metadata.name,
        environment=environment,
        region=member.region,
        index=member.index,
        provider=member.provider,
        location=member.location.name,
        template=template.metadata.name,
        kubernetes_version=_minor(spec.version),
        node_pools=_node_pools(spec.node_pools),
        network=_network(member.block, member.location.zones),
        endpoint=EndpointPlan(
            mode=spec.networking.api_access,
            authorized_cidrs=tuple(dict.fromkeys([*spec.networking.authorized_networks,
                                                  *context.settings.ci_runner_cidrs])),
            allow_hub_egress=member.role == "spoke" and hub is not None,
        ),
        cni=spec.networking.cni,
        service_type=spec.networking.service_type,
        policy_engine=spec.security.policy_engine,
        image_scanning=spec.security.image_scanning,
        prometheus=spec.observability.prometheus,
        opentelemetry=spec.observability.opentelemetry,
        secrets_encryption=spec.security.secrets_encryption,
        labels=_frozen(labels),
        identity=_frozen(identity),
        tags=_frozen(_tags(member, cluster_set, environment, template)),
        gitops=_gitops(member, cluster_set, environment, template, context.settings),
        hub=hub.name if hub and member.role == "spoke" else None,
        hub_provider=hub.provider if hub and member.role == "spoke" else None,
        hub_engine=(hub_template.spec.gitops.engine
                    if isinstance(hub_template, ClusterTemplate) and member.role == "spoke" else None),
        protect=not member.decommissioning and (
            context.settings.protect if context.settings.protect is not None else environment == "production"),
        decommissioning=member.decommissioning,
        load_balancing=_frozen({"mode": cluster_set.spec.load_balancing.mode,
                                "algorithm": cluster_set.spec.load_balancing.algorithm}),
        admins=tuple(getattr(context.settings.admins, member.provider)),
        project=context.settings.gcp_project if member.provider == "gcp" else None,
        deployer=getattr(context.settings.deployer, member.provider, None),
        extended_support=_extended_support(member, environment, context.settings),
        wave=member.wave,
        cilium_version=_cilium_version(member.provider, spec),
        node_release_version=spec.node_images.eks_release_version if member.provider == "aws" else None,
        node_os_upgrade_channel=spec.node_images.aks_node_os_upgrade_channel,
        node_version=spec.node_images.gke_node_version if member.provider == "gcp" else None,
    )


def _check_template_on_cloud(member: _Member, template: ClusterTemplate, environment: str,
                             context: _Context, located: Located) -> bool:
    spec = template.spec
    tpl = member.template
    user = f"{located.ident} {member.where}"
    ok = True
    verdict = versions.judge(member.provider, spec.version, context.today,
                             versions.VersionPolicy(_extended_support(member, environment, context.settings),
                                                    context.settings.version_policy.warn_days),
                             _running(member, spec.version, context.running))
    if verdict is not None:
        who = user if context.running is None or member.name in context.running else f"{user} (new {member.name})"
        context.template_problem(tpl, "spec.version", verdict.message, who, verdict.severity)
        ok = ok and verdict.severity == WARNING
    ok = _check_cilium(member, spec, context, user) and ok
    ok = _check_node_images(member, spec, context, user) and ok
    if spec.networking.api_access == "dns" and member.provider != "gcp":
        context.template_problem(tpl, "spec.networking.apiAccess",
                                 f"'dns' (IAM-authorised DNS endpoint) exists only on gcp, not on "
                                 f"{member.provider}; use 'private' or 'authorized'", user)
        ok = False
    if environment == "production" and "0.0.0.0/0" in spec.networking.authorized_networks:
        context.template_problem(tpl, "spec.networking.authorizedNetworks",
                                 "0.0.0.0/0 opens the API endpoint to the whole internet, not allowed in "
                                 "production; list the networks that need access", user)
        ok = False
    ceiling = MAX_NODES.get(member.provider)
    total = sum(p.max_nodes for p in _node_pools(spec.node_pools))
    if ceiling is not None and total > ceiling:
        context.template_problem(tpl, "spec.nodePools",
                                 f"node pools may grow to {total} nodes, but a {member.provider} cluster's pod "
                                 f"range serves at most {ceiling}; lower the pools' max", user)
        ok = False
    if member.provider == "gcp" and not member.name[0].isalpha():
        context.problem(located, f"{member.where}.name",
                        f"GKE cluster names start with a letter; '{member.name}' does not (rename the ClusterSet)")
        ok = False
    if member.provider == "gcp" and not context.settings.gcp_project:
        context.problem(located, f"{member.where}.provider",
                        "gcp clusters need a project: set fleet:gcpProject (or gcp:project) in the stack")
        ok = False
    names = [p.name for p in spec.node_pools]
    for position, pool in enumerate(spec.node_pools):
        where = f"spec.nodePools[{position}]"
        if names.count(pool.name) > 1 and names.index(pool.name) != position:
            context.template_problem(tpl, f"{where}.name", f"duplicate node pool name '{pool.name}'", user)
            ok = False
        if len(pool.name) > 12:
            context.template_problem(tpl, f"{where}.name",
                                     f"node pool name '{pool.name}' is longer than 12 characters (AKS limit)", user)
            ok = False
        if pool.system and (pool.spot or pool.min < 1):
            context.template_problem(tpl, where, f"system pool '{pool.name}' must run on regular capacity with "
                                     "min >= 1 (cluster add-ons live there); drop spot or raise min", user)
            ok = False
        if pool.min > pool.max:
            context.template_problem(tpl, f"{where}.min", f"min ({pool.min}) is greater than max ({pool.max})",
                                     user)
            ok = False
    return ok


def _check_node_images(member: _Member, spec: TemplateSpec, context: _Context, user: str) -> bool:
    """A pinned node image belongs to the template's Kubernetes minor, the one its control plane runs."""
    minor = versions.parse_version(spec.version)
    if minor is None:
        return True
    kubernetes = f"{minor[0]}.{minor[1]}"
    # (cloud, field, pinned value, what it must be): a node image belongs to one Kubernetes minor.
    # EKS: an AMI release is "AMI version ... for Kubernetes version" (pulumi_aws eks.NodeGroup
    # release_version). GKE: nodes "cannot be newer than the control plane version"
    # (https://cloud.google.com/kubernetes-engine/versioning), and the control plane runs spec.version.
    pins = (("aws", "eksReleaseVersion", spec.node_images.eks_release_version,
             f"AMI release {{}} is not a release of Kubernetes {kubernetes} (spec.version); use a "
             f"{kubernetes}.x-YYYYMMDD release of the EKS optimized AL2023 AMI"),
            ("gcp", "gkeNodeVersion", spec.node_images.gke_node_version,
             f"GKE version {{}} is not a version of Kubernetes {kubernetes} (spec.version), the minor the "
             f"control plane runs; use a {kubernetes}.x-gke.N version (`gcloud container get-server-config` "
             "lists them)"))
    for cloud, name, pinned, message in pins:
        if member.provider == cloud and pinned and not pinned.startswith(f"{kubernetes}."):
            context.template_problem(member.template, f"spec.nodeImages.{name}", message.format(pinned), user)
            return False
    return True


def _cilium_version(provider: str, spec: TemplateSpec) -> str | None:
    if spec.networking.cni != "cilium" or not CILIUM_IS_ADDON[provider]:
        return None
    if spec.networking.cilium_version:
        return spec.networking.cilium_version
    parsed = versions.parse_version(spec.version)  # malformed: refused by versions.judge, never planned
    return versions.default_cilium(f"{parsed[0]}.{parsed[1]}") if parsed else versions.CILIUM_VERSION


def _check_cilium(member: _Member, spec: TemplateSpec, context: _Context, user: str) -> bool:
    """Cilium's compatibility table (fleet.spec.versions.cilium_verdict); a version the template
    chooses, a new cluster or another Kubernetes minor is a change that introduces the pair."""
    chosen = _cilium_version(member.provider, spec)
    minor = versions.parse_version(spec.version)
    if chosen is None or minor is None:
        return True
    running = _running(member, spec.version, context.running)
    introducing = (spec.networking.cilium_version is not None or running is None
                   or versions.parse_version(running)[:2] != minor[:2])
    verdict = versions.cilium_verdict(chosen, f"{minor[0]}.{minor[1]}", introducing)
    if verdict is None:
        return True
    path = "spec.networking.ciliumVersion" if spec.networking.cilium_version else "spec.networking.cni"
    context.template_problem(member.template, path, verdict.message, user, verdict.severity)
    return verdict.severity == WARNING


def _extended_support(member: _Member, environment: str, settings: StackSettings) -> bool:
    """fleet:versionPolicy.extendedSupport, or by default EKS's own for production (EXTENDED)."""
    chosen = settings.version_policy.extended_support
    if chosen is not None:
        return chosen and member.provider in ("aws", "azure")
    return member.provider == "aws" and environment == "production"


def _running(member: _Member, declared: str, running: Mapping[str, str] | None) -> str | None:
    """The minor the cluster runs: from `running` when known (absent: a new cluster), else the declared one."""
    return declared if running is None else running.get(member.name)


def _minor(version: str) -> str:
    parsed = versions.parse_version(version)
    assert parsed is not None  # checked before
    return f"{parsed[0]}.{parsed[1]}"


SYSTEM_POOL = NodePool(name="system", size="medium", min=2, max=4, system=True)
GENERAL_POOL = NodePool(name="general", size="large", min=2, max=10)


def _node_pools(pools: Sequence[NodePool]) -> tuple[NodePoolPlan, ...]:
    chosen = list(pools) or [GENERAL_POOL]
    if not any(p.system for p in chosen):
        chosen = [SYSTEM_POOL, *chosen]
    return tuple(
        NodePoolPlan(
            name=p.name, size=p.size, min_nodes=p.min, max_nodes=p.max, spot=p.spot, system=p.system,
            labels=_frozen({**p.labels, "fleet.example.com/pool": p.name}),
            taints=tuple(Taint(t.key, t.value, t.effect) for t in p.taints)
            + ((Taint("CriticalAddonsOnly", "true", "NoSchedule"),) if p.system else ()),
        )
        for p in chosen
    )


def _network(block: ipaddress.IPv4Network, zones: tuple[str, ...]) -> NetworkPlan:
    nodes, services, pods = _split(block)
    zones = zones[:3]
    private = list(nodes.subnets(new_prefix=23))[: len(zones)]
    public_space = list(nodes.subnets(new_prefix=23))[3]
    public = list(public_space.subnets(new_prefix=25))[: len(zones)]
    return NetworkPlan(
        block=str(block), node_cidr=str(nodes), service_cidr=str(services), pod_cidr=str(pods),
        zones=zones, private_subnets=tuple(map(str, private)), public_subnets=tuple(map(str, public)),
    )


def _split(block: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Network, ...]:
    halves = list(block.subnets(prefixlen_diff=1))
    nodes, services = halves[0].subnets(prefixlen_diff=1)
    return nodes, services, halves[1]


def _addon_labels(provider: str, template: ClusterTemplate) -> dict[str, str]:
    spec = template.spec
    enabled = {
        POLICY_ENGINE_ADDONS.get(spec.security.policy_engine, ""): True,
        "enable_trivy_operator": spec.security.image_scanning,
        "enable_kube_prometheus_stack": spec.observability.prometheus,
        "enable_opentelemetry_operator": spec.observability.opentelemetry,
        "enable_cilium": spec.networking.cni == "cilium" and CILIUM_IS_ADDON[provider],
    }
    return {key: "true" for key, on in enabled.items() if key and on}


def _contract_labels(member: _Member, cluster_set: ClusterSet, environment: str,
                     template: ClusterTemplate) -> dict[str, str]:
    """The labels of CONTRACTS section 2, region labels included (they never override these)."""
    return {
        **member.labels,
        "purpose": "management" if member.role == "hub" else "workload",
        "env": environment,
        "region": member.region,
        "cloud": member.provider,
        "cluster-set": cluster_set.metadata.name,
        "template": template.metadata.name,
    }


def _registration_labels(member: _Member, cluster_set: ClusterSet, environment: str,
                         template: ClusterTemplate) -> dict[str, str]:
    return {
        **_addon_labels(member.provider, template),
        **traffic.cluster_labels(cluster_set, member.role),
        **_contract_labels(member, cluster_set, environment, template),
        "engine": template.spec.gitops.engine,
        "service-type": template.spec.networking.service_type,
    }


def _identity(member: _Member, cluster_set: ClusterSet, environment: str,
              template: ClusterTemplate) -> dict[str, str]:
    identity = {
        "CLUSTER_NAME": member.name,
        "REGION": member.region,
        "ENVIRONMENT": environment,
        "CLOUD": member.provider,
        "LOCATION": member.location.name,
        "CLUSTER_SET": cluster_set.metadata.name,
        "CLUSTER_ROLE": member.role,
        "TEMPLATE": template.metadata.name,
        "SERVICE_TYPE": template.spec.networking.service_type,
        "KUBERNETES_VERSION": _minor(template.spec.version),
    }
    identity.update(traffic.identity_keys(traffic.cluster_labels(cluster_set, member.role)))
    if "compliance" in member.labels:
        identity["COMPLIANCE"] = member.labels["compliance"]
    return identity


def _tags(member: _Member, cluster_set: ClusterSet, environment: str,
          template: ClusterTemplate) -> dict[str, str]:
    tags = {
        **_contract_labels(member, cluster_set, environment, template),
        "fleet-cluster": member.name,
        "managed-by": "fleet",
    }
    if member.decommissioning:
        tags[DECOMMISSION_TAG] = "true"  # tells guardrails (and people) the lifted protection is deliberate
    return tags


def _gitops(member: _Member, cluster_set: ClusterSet, environment: str, template: ClusterTemplate,
            settings: StackSettings) -> GitOpsPlan:
    repository = cluster_set.spec.repository or settings.repository
    base = settings.repository_path.strip("/")
    prefix = f"{base}/" if base else ""
    return GitOpsPlan(
        engine=template.spec.gitops.engine,
        repository_url=repository.url if repository else "",
        revision=repository.revision if repository else "main",
        environment_path=f"{prefix}clusters/{environment}",
        cluster_path=f"{prefix}clusters/{environment}/{member.name}",
        # A template revision may carry the engine's versions, so an engine upgrade rolls in waves.
        flux_version=template.spec.gitops.flux_version or settings.flux.version,
        flux_operator_chart_version=(template.spec.gitops.flux_operator_chart_version
                                     or settings.flux.operator_chart_version),
        argocd_chart_version=template.spec.gitops.argocd_chart_version or settings.argocd.chart_version,
        private_repository=settings.git_token is not None,
    )


def _check_unique_names(clusters: Sequence[ClusterPlan], declaration: Declaration, context: _Context) -> None:
    seen: dict[str, ClusterPlan] = {}
    for cluster in clusters:
        first = seen.setdefault(cluster.name, cluster)
        if first is not cluster:
            owner = next((c for c in declaration.cluster_sets if c.model.metadata.name == cluster.cluster_set), None)
            context.problems.append(Problem(
                owner.source if owner else "", owner.ident if owner else "", "metadata.name",
                f"cluster name '{cluster.name}' is produced twice (ClusterSet/{first.cluster_set} and "
                f"ClusterSet/{cluster.cluster_set}); rename a ClusterSet or region entry",
            ))
