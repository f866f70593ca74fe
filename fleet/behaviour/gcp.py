"""Behaviour rules for Google Cloud (GKE): see fleet/behaviour/__init__.py."""

from __future__ import annotations

from collections.abc import Sequence

from fleet.clouds import poolnames
from fleet.recorded import Resource, ResourceRule, text_value

NODE_POOL = "gcp:container/nodePool:NodePool"


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


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("gke-pool-replaced-under-new-name",
                 "A GKE node pool's name encodes its create-only fields, so a change replaces it under a new name.",
                 gke_pool_named_by_create_only_fields),
)
