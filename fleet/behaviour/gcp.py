"""Behaviour rules for Google Cloud (GKE): see fleet/behaviour/__init__.py."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fleet.clouds import poolnames
from fleet.recorded import Resource, ResourceRule, of_type, text_value

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
_MINOR = re.compile(r"^(\d+)\.(\d+)(?:\.|$)")


def gke_pool_named_by_create_only_fields(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A GKE node pool's name encodes its create-only fields (fleet.clouds.poolnames).

    google_container_node_pool forces a new pool when spot, the service account, OAuth scopes,
    metadata, shielded-instance settings or max pods per node change (terraform-provider-google
    google/services/container/node_config.go, resource_container_node_pool.go, wrapped by
    pulumi-gcp). Pulumi replaces create-before-delete: under a fixed name the new pool collides with
    the old one ("already exists") and the update fails; under a name that changes with those
    fields it is created next to the old pool, which is deleted afterwards, with no capacity gap.
    """
    if resource.type != NODE_POOL:
        return []
    name = text_value(resource.inputs.get("name"))
    digest = poolnames.fields_digest(resource.inputs, poolnames.GKE_CREATE_ONLY, poolnames.GKE_SUFFIX)
    if name is None or digest is None or name.endswith(f"-{digest}"):
        return []
    cluster = text_value(resource.inputs.get("cluster")) or resource.name
    return [f"cluster '{cluster}': node pool '{name}' ({resource.name}) is not named after its create-only fields "
            f"({', '.join(poolnames.GKE_CREATE_ONLY)}): a spot change replaces it under the same name and collides "
            "with itself; name it with fleet.clouds.poolnames.gke_pool_name "
            f"(expected a name ending in '-{digest}')"]


def _minor(version: str | None) -> tuple[int, int] | None:
    match = _MINOR.match(version or "")
    return (int(match[1]), int(match[2])) if match else None


def _held(policies: Any) -> bool:
    return any(isinstance(policy, dict) and any(isinstance(e, dict) and e.get("enabled") is True
                                                for e in policy.get("exclusionUntilEndOfSupports") or [])
               for policy in policies or [])


def gke_pinned_node_version_held(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A GKE node pool whose `version` is pinned is held there, and is no newer than its control plane.

    A release-channel cluster always has node auto-upgrade on
    (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels): a pinned `version`
    next to auto-upgrade is fought over (pulumi_gcp container.NodePool `version`) unless the pool's
    maintenance exclusion until end of support holds it (GKE API v1
    NodePool.maintenancePolicy.exclusionUntilEndOfSupport). "Nodes and node pool versions can be up
    to two minor versions older than the control plane, but cannot be newer"
    (https://cloud.google.com/kubernetes-engine/versioning): GKE refuses the update otherwise.
    """
    if resource.type != NODE_POOL:
        return []
    version = text_value(resource.inputs.get("version"))
    if version is None:
        return []
    cluster = text_value(resource.inputs.get("cluster")) or resource.name
    found = []
    if not _held(resource.inputs.get("maintenancePolicies")):
        found.append(f"cluster '{cluster}': node pool {resource.name} pins version {version} with node auto-upgrade on "
                     "and no maintenance exclusion until end of support: the release channel upgrades it past "
                     "the pin; hold it with maintenance_policies exclusion_until_end_of_supports enabled "
                     "(fleet.clouds.gcp.pinned_node_version)")
    node = _minor(version)
    planes = [_minor(text_value(c.inputs.get("minMasterVersion"))) for c in of_type(stack, CLUSTER)
              if text_value(c.inputs.get("name")) == cluster]
    plane = planes[0] if planes else None
    if node and plane and not (plane[0] == node[0] and plane[1] - 2 <= node[1] <= plane[1]):
        found.append(f"cluster '{cluster}': node pool {resource.name} version {version} is not within two minors "
                     f"below its control plane's {plane[0]}.{plane[1]} (minMasterVersion): GKE refuses nodes newer "
                     "than the control plane or more than two minors older")
    return found


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("gke-pool-replaced-under-new-name",
                 "A GKE node pool's name encodes its create-only fields, so a change replaces it under a new name.",
                 gke_pool_named_by_create_only_fields),
    ResourceRule("gke-pinned-node-version-held",
                 "A GKE node pool's pinned version is held by its maintenance exclusion and fits its control plane.",
                 gke_pinned_node_version_held, needs_stack=True),
)
