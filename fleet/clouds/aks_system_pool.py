"""A guard that refuses, at preview, a change AKS would refuse halfway through an update.

The first system pool of an AKS cluster is the managed cluster's inline `agentPoolProfiles[0]`:
AKS needs it to create the cluster. Its create-only fields (fleet.clouds.poolnames.AKS_CREATE_ONLY:
VM size, spot priority, OS disk, zones) cannot change in place ("You can't change the VM size of a
node pool after you create it", https://learn.microsoft.com/azure/aks/manage-node-pools#limitations),
and pulumi-azure-native updates the cluster rather than replacing it (pulumi-azure-native #2774),
so the update reaches AKS and fails there. Unlike a separate AgentPool, an inline profile cannot
be replaced under a new name by Pulumi.

The guard is a dynamic resource holding those fields; the cluster depends on it. Its `diff` sees
the fields the cluster was created with and the new ones, and refuses the change with one line
that says what to do, during `pulumi preview`, before anything is touched. Under the synth
engine's mocks it is recorded like any resource (fleet.behaviour.azure checks it is there and holds
the inline profile's fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic

from fleet.clouds import poolnames
from fleet.clouds.markers import GUARD_MARKER
from fleet.clouds.poolnames import inline_create_only as create_only


def refusal(cluster: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The message refusing a create-only change of the inline system pool, or None."""
    old = {k: poolnames.canonical(v) for k, v in old.items()}  # the engine's numbers are floats
    new = {k: poolnames.canonical(v) for k, v in new.items()}
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if not changed:
        return None
    what = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
    return (f"cluster {cluster}: the first system pool is the AKS cluster's inline pool and AKS cannot change "
            f"its {', '.join(changed)} in place ({what}); keep that pool's size and spot setting in the template, "
            "and to run system add-ons on other nodes declare a second pool with system: true (fleet creates it "
            "as a separate agent pool, replaced under a new name whenever its size changes)")


class _GuardProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"{props['cluster']}-system-pool", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        message = refusal(news["cluster"], olds.get("fields") or {}, news.get("fields") or {})
        if message:
            raise RuntimeError(message)
        return pulumi.dynamic.DiffResult(changes=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)


class SystemPoolGuard(pulumi.dynamic.Resource):
    def __init__(self, name: str, *, cluster: str, profile: Mapping[str, Any], parent: pulumi.Resource) -> None:
        props = {"guard": GUARD_MARKER, "cluster": cluster, "fields": create_only(profile)}
        super().__init__(_GuardProvider(), name, props, pulumi.ResourceOptions(parent=parent))
