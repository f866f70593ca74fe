"""The Fleet component: translates a FleetPlan into clusters, GitOps bootstraps and registrations.

It decides nothing (fleet.plan did); it only wires steps in the one order that works:

    hub:   Cluster -> hub identities (one per spoke cloud) -> ClusterIdentity -> Bootstrap -> Registrar
    spoke: Cluster (authorized for the hub's egress) -> ClusterIdentity -> Bootstrap
           -> registration on the hub (removed first when the spoke is decommissioned)

A spoke depends on its hub's network egress and registration endpoint only, never on another
spoke, so a new region waits for nothing but its own chain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from fleet import clouds
from fleet.clouds.aliases import without_api_version_aliases
from fleet.clouds.base import ClusterHandle, HubIdentity, controller_identity
from fleet.gitops import bootstrap, controller_service_accounts
from fleet.gitops.hub import HubRegistrar, hub_identities
from fleet.gitops.identity import ClusterIdentity
from fleet.plan import ClusterPlan, FleetPlan


class FleetMember(pulumi.ComponentResource):
    """One cluster and everything fleet puts on it (grouped so `pulumi preview` reads per cluster)."""

    def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                 spokes: Sequence[ClusterPlan], git_token: pulumi.Output[str] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:index:FleetMember", plan.name, None, opts)
        cloud = clouds.load(plan.provider)
        cluster = cloud.Cluster(plan, hub_egress, opts=pulumi.ResourceOptions(parent=self))
        self.handle: ClusterHandle = cluster.handle
        # a hub's trust anchors, one identity per cloud its spokes are on (none for other clusters)
        self.hub_identities: dict[str, HubIdentity] = hub_identities(
            plan, self.handle, spokes, controller_service_accounts(plan.gitops.engine), parent=self)
        self.hub_identity = controller_identity(list(self.hub_identities.values()))
        identity = ClusterIdentity(plan, self.handle, opts=pulumi.ResourceOptions(parent=self))
        self.bootstrap = bootstrap(plan, self.handle, identity, self.hub_identity, git_token, parent=self)
        self.register_outputs({"name": plan.name, "endpoint": self.handle.endpoint})


@dataclass(frozen=True)
class HubSide:
    """What spokes need of their hub: the hub member of this stack, or (in a shard stack) the hub
    rebuilt from the environment stack's outputs (fleet.hubref.RemoteHub)."""

    handle: ClusterHandle
    bootstrap: Any  # has `ready` (and `source` for a Flux hub)
    identities: Mapping[str, HubIdentity]  # cloud -> the hub controllers' identity there
    owner: pulumi.Resource


# (hub plan, the clouds its spokes are on) -> the hub seen from a shard
RemoteHubs = Callable[[ClusterPlan, tuple[str, ...]], HubSide]

# Who declares the grants clusters share (a GCP project-level binding is one resource per stack,
# fleet.clouds.gcp.project_grants): "own" each stack those its clusters need (one stack), "all" those
# of every cluster of the plan (a sharded environment's stack), "none" (a shard: its environment's).
SharedGrants = Literal["own", "all", "none"]


class Fleet(pulumi.ComponentResource):
    """Every cluster of the plan, bootstrapped and registered with its hub.

    `clusters`: only these (the part of the plan this stack holds, fleet.shards); a spoke whose hub
    is held by another stack registers through `remote_hub`. `shared_grants`: see SharedGrants."""

    def __init__(self, name: str, plan: FleetPlan, git_token: pulumi.Output[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None, clusters: Collection[str] | None = None,
                 remote_hub: RemoteHubs | None = None, shared_grants: SharedGrants = "own") -> None:
        # every resource below inherits the transformation (fleet/clouds/aliases.py says why)
        dropping_aliases = pulumi.ResourceOptions(transformations=[without_api_version_aliases])
        super().__init__("fleet:index:Fleet", name, None, pulumi.ResourceOptions.merge(opts, dropping_aliases))
        self.members: dict[str, FleetMember] = {}
        self.hubs: dict[str, HubSide] = {}  # the hubs this stack declares
        held = {c.name for c in plan.clusters} if clusters is None else set(clusters)
        child = pulumi.ResourceOptions(parent=self)
        # the GCP SDK only where GKE clusters are: held here, or (environment) held by a shard
        gke = {c.name for c in plan.clusters if c.provider == "gcp"}
        if shared_grants == "none" and gke & held:
            clouds.load("gcp").project_grants_held_elsewhere()
        for hub in plan.hubs:
            # from the whole plan, not this stack's part: the hub's identities never depend on the layout
            every_spoke = plan.spokes_of(hub)
            spokes = [s for s in every_spoke if s.name in held]
            if hub.name in held:
                hub_member = FleetMember(hub, None, every_spoke, git_token, opts=child)
                self.members[hub.name] = hub_member
                side = HubSide(hub_member.handle, hub_member.bootstrap, hub_member.hub_identities, hub_member)
                self.hubs[hub.name] = side
            elif spokes and remote_hub is not None:
                side = remote_hub(hub, tuple(sorted({s.provider for s in every_spoke})))
            else:
                assert not spokes, f"spokes of {hub.name} without their hub and no remote hub"
                continue
            registrar = HubRegistrar(hub, side.handle, side.bootstrap, side.identities, parent=side.owner)
            for spoke in spokes:
                member = FleetMember(spoke, side.handle.egress_cidrs, (), git_token, opts=child)
                self.members[spoke.name] = member
                registrar.register(spoke, member.handle, member.bootstrap, parent=member)
        for lone in (c for c in plan.clusters if not c.is_hub and c.hub is None and c.name in held):
            self.members[lone.name] = FleetMember(lone, None, (), git_token, opts=child)
        if shared_grants == "all" and gke:
            on_gcp = {hub: side.identities["gcp"] for hub, side in self.hubs.items() if "gcp" in side.identities}
            clouds.load("gcp").declare_project_grants(plan, on_gcp)
        for published in plan.traffic:  # loadBalancing global | regional (fleet.traffic)
            from fleet.gitops.traffic import publish  # the AWS SDK only for stacks that publish
            publish(published, {n: m.handle for n, m in self.members.items()}, dict(self.members), parent=self)
        self.register_outputs({"clusters": sorted(self.members)})
