"""The Fleet component: translates a FleetPlan into clusters, GitOps bootstraps and registrations.

It decides nothing (fleet.plan did); it only wires steps in the one order that works:

    hub:   Cluster -> (hub identity for same-cloud spokes) -> ClusterIdentity -> Bootstrap -> Registrar
    spoke: Cluster (authorized for the hub's egress) -> ClusterIdentity -> Bootstrap
           -> registration on the hub (removed first when the spoke is decommissioned)

A spoke depends on its hub's network egress and registration endpoint only, never on another
spoke, so a new region waits for nothing but its own chain.
"""

from __future__ import annotations

import pulumi

from fleet import clouds
from fleet.clouds.aliases import without_api_version_aliases
from fleet.clouds.base import ClusterHandle, HubIdentity
from fleet.gitops import bootstrap, controller_service_accounts
from fleet.gitops.hub import HubRegistrar
from fleet.gitops.identity import ClusterIdentity
from fleet.plan import ClusterPlan, FleetPlan


class FleetMember(pulumi.ComponentResource):
    """One cluster and everything fleet puts on it (grouped so `pulumi preview` reads per cluster)."""

    def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                 hub_identity_for: bool, git_token: pulumi.Output[str] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:index:FleetMember", plan.name, None, opts)
        cloud = clouds.load(plan.provider)
        cluster = cloud.Cluster(plan, hub_egress, opts=pulumi.ResourceOptions(parent=self))
        self.handle: ClusterHandle = cluster.handle
        self.hub_identity: HubIdentity | None = None
        if hub_identity_for:
            self.hub_identity = cloud.hub_identity(
                plan, self.handle, controller_service_accounts(plan.gitops.engine), parent=self
            )
        identity = ClusterIdentity(plan, self.handle, opts=pulumi.ResourceOptions(parent=self))
        self.bootstrap = bootstrap(plan, self.handle, identity, self.hub_identity, git_token, parent=self)
        self.register_outputs({"name": plan.name, "endpoint": self.handle.endpoint})


class Fleet(pulumi.ComponentResource):
    """Every cluster of the plan, bootstrapped and registered with its hub."""

    def __init__(self, name: str, plan: FleetPlan, git_token: pulumi.Output[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        # every resource below inherits the transformation (fleet/clouds/aliases.py says why)
        dropping_aliases = pulumi.ResourceOptions(transformations=[without_api_version_aliases])
        super().__init__("fleet:index:Fleet", name, None, pulumi.ResourceOptions.merge(opts, dropping_aliases))
        self.members: dict[str, FleetMember] = {}
        child = pulumi.ResourceOptions(parent=self)
        for hub in plan.hubs:
            spokes = plan.spokes_of(hub)
            same_cloud = any(s.provider == hub.provider for s in spokes)
            hub_member = FleetMember(hub, None, same_cloud, git_token, opts=child)
            self.members[hub.name] = hub_member
            registrar = HubRegistrar(hub, hub_member.handle, hub_member.bootstrap, hub_member.hub_identity,
                                     parent=hub_member)
            for spoke in spokes:
                member = FleetMember(spoke, hub_member.handle.egress_cidrs, False, git_token, opts=child)
                self.members[spoke.name] = member
                registrar.register(spoke, member.handle, member.bootstrap, parent=member)
        for lone in (c for c in plan.clusters if not c.is_hub and c.hub is None):
            self.members[lone.name] = FleetMember(lone, None, False, git_token, opts=child)
        self.register_outputs({"clusters": sorted(self.members)})
