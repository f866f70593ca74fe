"""Behaviour rules for gitops: see fleet/behaviour/__init__.py.

What the GitOps engines' charts and operators ask of a cluster, as data read from the pinned
charts, and the rules that hold a plan and a recorded stack to it:
- ENGINE_WORKLOADS: the pods each engine's install runs, their hard anti-affinity and requests;
  `engine-fits-start-capacity` (a plan rule, `fleet validate`) refuses a cluster whose pools
  cannot start them, and `release-fits-start-capacity` judges the recorded Release values against
  the node pools the recorded stack starts with.
- `no-foreign-app-labels`: fleet never sets another tool's app.kubernetes.io/* labels on what
  that tool owns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.plan import ClusterPlan, NodePoolPlan
from fleet.recorded import Resource, ResourceRule, lookup, of_type

# --- what the engines ask for ------------------------------------------------------------------

# Every engine pod tolerates the system pools' taint (fleet.plan puts CriticalAddonsOnly on them):
# a GitOps engine is a cluster add-on, and a cluster whose only pool is a system pool (the staging
# hub) must still run it. The components put this on the charts' and the FluxInstance's pods.
SYSTEM_TAINT = "CriticalAddonsOnly"
ENGINE_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": SYSTEM_TAINT, "operator": "Exists", "effect": "NoSchedule"},
)
TOLERATED_TAINTS = frozenset(t["key"] for t in ENGINE_TOLERATIONS)


@dataclass(frozen=True)
class Workload:
    """One group of pods of an engine's install."""

    name: str
    pods: int
    one_per_node: bool  # required anti-affinity on kubernetes.io/hostname
    cpu_m: int = 0  # requests per pod (the chart's defaults; 0 where the chart sets none)
    memory_mi: int = 0

    @property
    def nodes(self) -> int:
        return self.pods if self.one_per_node else 1


# argo-cd 10.1.1 (argoproj/argo-helm charts/argo-cd/values.yaml at tag argo-cd-10.1.1): every
# component has `resources: {}` and `global.affinity.podAntiAffinity: soft`; its redis-ha 4.38.0
# dependency (DandyDeveloper/charts charts/redis-ha/values.yaml at redis-ha-4.38.0) runs
# `replicas: 3` redis servers and `haproxy.replicas: 3`, both `hardAntiAffinity: true`
# (requiredDuringScheduling on kubernetes.io/hostname, templates/redis-ha-statefulset.yaml), and
# no requests. The HA replica counts are fleet.gitops.argocd.HA_VALUES.
ARGOCD_HA = (
    Workload("redis-ha redis", 3, one_per_node=True),
    Workload("redis-ha haproxy", 3, one_per_node=True),
    Workload("argocd-server", 2, one_per_node=False),
    Workload("argocd-repo-server", 2, one_per_node=False),
    Workload("argocd-applicationset-controller", 2, one_per_node=False),
    Workload("argocd-application-controller", 2, one_per_node=False),
    Workload("argocd-dex-server", 1, one_per_node=False),
    Workload("argocd-notifications-controller", 1, one_per_node=False),
)
ARGOCD_SINGLE = (
    Workload("argocd-redis", 1, one_per_node=False),
    Workload("argocd-server", 1, one_per_node=False),
    Workload("argocd-repo-server", 1, one_per_node=False),
    Workload("argocd-applicationset-controller", 1, one_per_node=False),
    Workload("argocd-application-controller", 1, one_per_node=False),
    Workload("argocd-dex-server", 1, one_per_node=False),
    Workload("argocd-notifications-controller", 1, one_per_node=False),
)
# flux-operator chart values (controlplaneio-fluxcd/charts charts/flux-operator/values.yaml:
# requests 100m / 64Mi) and the controllers the operator deploys (flux-operator v0.58.1
# internal/builder/testdata/v2.6.0/*-controller.yaml: source 50m, the others 100m, all 64Mi).
FLUX = (
    Workload("flux-operator", 1, one_per_node=False, cpu_m=100, memory_mi=64),
    Workload("source-controller", 1, one_per_node=False, cpu_m=50, memory_mi=64),
    Workload("kustomize-controller", 1, one_per_node=False, cpu_m=100, memory_mi=64),
    Workload("helm-controller", 1, one_per_node=False, cpu_m=100, memory_mi=64),
    Workload("notification-controller", 1, one_per_node=False, cpu_m=100, memory_mi=64),
)


def engine_workloads(plan: ClusterPlan) -> tuple[Workload, ...]:
    """What the cluster's engine runs: Argo CD is HA in production (fleet.gitops.argocd)."""
    if plan.gitops.engine == "argocd":
        return ARGOCD_HA if plan.is_production else ARGOCD_SINGLE
    return FLUX


def nodes_needed(workloads: Sequence[Workload]) -> int:
    return max((w.nodes for w in workloads), default=1)


# Allocatable room per size class (fleet.clouds.sizes: small 2 vCPU / 8 GiB ... xlarge 16 / 64),
# less a quarter for the system daemons and reservations every cloud keeps.
SIZE_ROOM = {"small": (1500, 6144), "medium": (3000, 12288), "large": (6000, 24576), "xlarge": (12000, 49152)}


def engine_pools(plan: ClusterPlan) -> list[NodePoolPlan]:
    """Pools the engine's pods can run on from the start: regular capacity (a spot pool may get no
    node), no taint the engine does not tolerate."""
    return [p for p in plan.node_pools
            if not p.spot and all(t.key in TOLERATED_TAINTS or t.effect == "PreferNoSchedule" for t in p.taints)]


def engine_capacity(plan: ClusterPlan) -> str | None:
    """The pools a cluster starts with can run its GitOps engine.

    The engine's Release (and a FluxInstance) waits for its pods to be Ready: a pod that cannot be
    scheduled times the update out, and nothing after it (the root app, every spoke's
    registration) is created. Node pools start at their `min` (EKS desired_size, AKS count, GKE
    initial_node_count per zone rounded up). An autoscaler, where one runs, may add nodes for
    pending pods later, but the first `up` must not depend on scale-up timing: the engine fits the
    nodes the cluster starts with.
    """
    workloads = engine_workloads(plan)
    pools = engine_pools(plan)
    nodes = sum(p.min_nodes for p in pools)
    needed = nodes_needed(workloads)
    engine = plan.gitops.engine + (" (HA)" if workloads is ARGOCD_HA else "")
    have = ", ".join(f"{p.name}: {p.min_nodes}" for p in pools) or "none"
    where = f"cluster '{plan.name}' (template '{plan.template}')"
    if nodes < needed:
        spread = [w for w in workloads if w.nodes == needed]
        why = " and ".join(f"{w.pods} {w.name}" for w in spread)
        return (f"{where} cannot start its GitOps engine: {engine} runs {why} pods on distinct nodes "
                f"(hard anti-affinity) but the regular, untainted-or-system pools start with {nodes} node(s) "
                f"({have}); raise the pools' min to {needed} nodes in total, e.g. add a pool with min: "
                f"{needed - nodes} to the template")
    cpu = sum(w.cpu_m * w.pods for w in workloads)
    memory = sum(w.memory_mi * w.pods for w in workloads)
    room_cpu = sum(SIZE_ROOM[p.size][0] * p.min_nodes for p in pools)
    room_memory = sum(SIZE_ROOM[p.size][1] * p.min_nodes for p in pools)
    if cpu > room_cpu or memory > room_memory:
        return (f"{where} cannot start its GitOps engine: {engine} requests {cpu}m CPU and {memory}Mi memory "
                f"but its pools start with {room_cpu}m and {room_memory}Mi ({have}); raise a pool's min or size")
    return None


# --- labels other tools own ----------------------------------------------------------------------

# The app.kubernetes.io/* keys tools select their own objects by (Kubernetes "Recommended Labels").
FOREIGN_LABELS = frozenset({
    "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "app.kubernetes.io/name",
    "app.kubernetes.io/instance", "app.kubernetes.io/component",
})
RELEASE = "kubernetes:helm.sh/v3:Release"
# Custom resources of the GitOps engines: objects the engines own and select on.
ENGINE_GROUPS = ("argoproj.io/", "fluxcd.controlplane.io/", "toolkit.fluxcd.io/")
LABEL_KEYS = ("labels", "additionalLabels", "commonLabels", "podLabels", "extraLabels", "customLabels")


def _label_maps(value: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, labels) for every labels-like map in a Helm values tree."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in LABEL_KEYS and isinstance(item, Mapping):
                yield where, item
            else:
                yield from _label_maps(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _label_maps(item, f"{path}[{index}]")


def _foreign(labels: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in labels if k in FOREIGN_LABELS)


def _owned_label_sets(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if resource.type == RELEASE:
        yield from ((f"values.{p}", m) for p, m in _label_maps(resource.inputs.get("values")))
        return
    group = resource.type.removeprefix("kubernetes:")
    if not group.startswith(ENGINE_GROUPS):
        return
    for path in ("metadata.labels", "spec.commonMetadata.labels"):
        labels = lookup(resource.inputs, path)
        if isinstance(labels, Mapping):
            yield path, labels


def _no_foreign_app_labels(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """fleet never sets another tool's app.kubernetes.io/* labels on what that tool owns.

    Helm values such as argo-cd `global.additionalLabels` and flux-operator `commonLabels` are
    added after a chart's own labels (duplicate keys: the last wins), and a FluxInstance's
    `commonMetadata.labels` after the operator's. Argo CD reads argocd-cm and argocd-secret only
    through the selector app.kubernetes.io/part-of=argocd (argo-helm #147, #151: server and
    controller crashloop; argo-cd util/settings/settings.go); the Flux Operator's FluxReport and
    its CRD storage migration select app.kubernetes.io/part-of=<instance> (flux-operator v0.58.1
    internal/reporter/reporter.go, internal/controller/fluxinstance_controller.go) and its
    uninstall part-of=flux (internal/install/uninstall.go). fleet's own labels use its own
    domain (fleet.gitops.identity.FLEET_LABELS).
    """
    messages = []
    for path, labels in _owned_label_sets(resource):
        keys = _foreign(labels)
        if keys:
            cluster = resource.kubernetes_cluster or resource.name
            messages.append(
                f"cluster '{cluster}' ({resource.type} '{resource.name}') sets {', '.join(keys)} at {path}: "
                "these are the labels the chart or operator finds its own objects by, and fleet's value "
                "overrides its own; use fleet's own keys (fleet.example.com/...) instead")
    return messages


# --- the recorded stack: a Release that waits fits the nodes its cluster starts with -------------

NODE_POOL_TYPES = ("aws:eks/nodeGroup:NodeGroup", "azure-native:containerservice:AgentPool",
                   "gcp:container/nodePool:NodePool")


def _int(value: Any) -> int:
    """A recorded count (the engine's numbers arrive as floats)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


# Taints an agent removes from its node once it runs (Cilium's startup taint): no obstacle.
STARTUP_TAINTS = frozenset({"node.cilium.io/agent-not-ready"})
HARD_EFFECTS = frozenset({"NoSchedule", "NO_SCHEDULE", "NoExecute", "NO_EXECUTE"})


@dataclass(frozen=True)
class StartPool:
    name: str
    nodes: int
    spot: bool
    taints: tuple[tuple[str, str], ...]  # (key, effect)

    def runs(self, tolerated: frozenset[str]) -> bool:
        return not self.spot and all(key in tolerated or key in STARTUP_TAINTS or effect not in HARD_EFFECTS
                                     for key, effect in self.taints)


def _aks_taints(taints: Any) -> tuple[tuple[str, str], ...]:
    """AKS nodeTaints 'key=value:Effect'."""
    return tuple((str(t).split(":", 1)[0].split("=", 1)[0], str(t).rsplit(":", 1)[-1]) for t in taints or [])


def _object_taints(taints: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(t.get("key")), str(t.get("effect"))) for t in taints or [] if isinstance(t, Mapping))


def _recorded_pool(resource: Resource) -> tuple[str | None, StartPool]:
    """(fleet cluster, pool) of one recorded EKS node group, AKS agent pool or GKE node pool."""
    inputs = resource.inputs
    if resource.type == "aws:eks/nodeGroup:NodeGroup":
        return lookup(inputs, "tags.fleet-cluster"), StartPool(
            resource.name, _int(lookup(inputs, "scalingConfig.desiredSize")), inputs.get("capacityType") == "SPOT",
            _object_taints(inputs.get("taints")))
    if resource.type == "gcp:container/nodePool:NodePool":
        nodes = max(_int(lookup(inputs, "autoscaling.totalMinNodeCount")), _int(inputs.get("initialNodeCount")),
                    _int(inputs.get("nodeCount")))
        return lookup(inputs, "nodeConfig.resourceLabels.fleet-cluster"), StartPool(
            resource.name, nodes, lookup(inputs, "nodeConfig.spot") is True,
            _object_taints(lookup(inputs, "nodeConfig.taints")))
    return lookup(inputs, "tags.fleet-cluster"), StartPool(
        resource.name, _int(inputs.get("count")), inputs.get("scaleSetPriority") == "Spot",
        _aks_taints(inputs.get("nodeTaints")))


def start_pools(cluster: str, stack: Sequence[Resource]) -> list[StartPool]:
    """The node pools a cluster starts with, from the recorded stack: pool resources, and the pools
    AKS declares inline on the ManagedCluster."""
    pools = []
    for type_ in NODE_POOL_TYPES:
        for resource in of_type(stack, type_):
            owner, pool = _recorded_pool(resource)
            if owner == cluster:
                pools.append(pool)
    for managed in of_type(stack, "azure-native:containerservice:ManagedCluster"):
        if lookup(managed.inputs, "tags.fleet-cluster") != cluster:
            continue
        for profile in managed.inputs.get("agentPoolProfiles") or []:
            if isinstance(profile, Mapping):
                pools.append(StartPool(str(profile.get("name")), _int(profile.get("count")),
                                       profile.get("scaleSetPriority") == "Spot",
                                       _aks_taints(profile.get("nodeTaints"))))
    return pools


def _release_tolerations(values: Mapping[str, Any]) -> frozenset[str]:
    """Taint keys every pod of the argo-cd chart (and its redis-ha) tolerates."""
    lists = [lookup(values, "global.tolerations"), lookup(values, "redis-ha.tolerations"),
             lookup(values, "redis-ha.haproxy.tolerations")]
    keys = [frozenset(t.get("key", "") for t in items if isinstance(t, Mapping)) if isinstance(items, list)
            else frozenset() for items in lists]
    return frozenset.intersection(*keys)


def _argocd_nodes_needed(values: Mapping[str, Any]) -> int:
    redis = lookup(values, "redis-ha")
    if not isinstance(redis, Mapping) or redis.get("enabled") is not True:
        return 1
    needed = 1
    if redis.get("hardAntiAffinity", True) is not False:
        needed = max(needed, _int(redis.get("replicas")) or 3)
    haproxy = redis.get("haproxy") if isinstance(redis.get("haproxy"), Mapping) else {}
    if haproxy.get("enabled", True) is not False and haproxy.get("hardAntiAffinity", True) is not False:
        needed = max(needed, _int(haproxy.get("replicas")) or 3)
    return needed


def _release_fits(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A Release that waits for readiness fits the nodes its cluster starts with.

    Only the argo-cd chart asks for distinct nodes (redis-ha's hard anti-affinity, see ARGOCD_HA);
    a Release waits for its pods unless skipAwait is set (pulumi-kubernetes helm.v3.Release).
    """
    if resource.type != RELEASE or resource.inputs.get("chart") != "argo-cd" or resource.inputs.get("skipAwait"):
        return []
    values = resource.inputs.get("values")
    cluster = resource.kubernetes_cluster
    if not isinstance(values, Mapping) or not cluster:
        return []
    needed = _argocd_nodes_needed(values)
    tolerated = _release_tolerations(values)
    pools = start_pools(cluster, stack)
    usable = [p for p in pools if p.runs(tolerated)]
    nodes = sum(p.nodes for p in usable)
    if not pools or nodes >= needed:
        return []
    have = ", ".join(f"{p.name}: {p.nodes}" for p in usable) or "none"
    return [f"cluster '{cluster}' ({RELEASE} '{resource.name}') waits for Argo CD, whose redis-ha needs {needed} "
            f"distinct nodes (hard anti-affinity), but the pools its pods may run on start with {nodes} ({have}); "
            f"tolerate the system pools' taint in the chart values (fleet.behaviour.gitops.ENGINE_TOLERATIONS) "
            f"or start the cluster with {needed} such nodes"]


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("no-foreign-app-labels",
                 "fleet never sets another tool's app.kubernetes.io/* labels on objects that tool owns.",
                 _no_foreign_app_labels),
    ResourceRule("release-fits-start-capacity",
                 "A Release that waits for readiness fits the nodes its cluster starts with.",
                 _release_fits, needs_stack=True),
)

