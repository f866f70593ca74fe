"""Node pool names that change exactly when the cloud must build a new pool.

GKE node pools and AKS agent pools have create-only fields: a change replaces the pool, and
Pulumi replaces create-before-delete, so a pool under a fixed name collides with itself ("already
exists"). A name that carries a short hash of exactly those fields is new whenever one of them
changes (Pulumi creates the new pool, moves nothing, deletes the old one: no capacity gap) and
stays the same otherwise. Pure (no cloud SDK): the cloud modules name their pools with it and the
behaviour rules (fleet.behaviour.azure / gcp) recompute it from the recorded inputs.

Keys are compared without case and underscores, so the same function reads the SDK's snake_case
arguments and the engine's camelCase inputs; integral floats (the engine's numbers) count as ints.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

UNKNOWN = "[unknown]"

# pulumi-azure-native replaces an AgentPool for vmSize and gpuInstanceProfile (forceNewMap in
# provider/pkg/gen/replacement.go, pulumi-azure-native #3655: "You can't change the VM size of a
# node pool after you create it", https://learn.microsoft.com/azure/aks/manage-node-pools#limitations).
# AKS refuses as an update a change of priority (spot) or eviction policy, OS type, OS disk type or
# size, and zones: only a new pool can have them.
AKS_CREATE_ONLY = ("vmSize", "gpuInstanceProfile", "scaleSetPriority", "scaleSetEvictionPolicy", "osType",
                   "osDiskType", "osDiskSizeGB", "availabilityZones")
AKS_SUFFIX = 4  # AKS Linux pool names have at most 12 characters
# The node label fleet.plan puts on every pool with the pool's declared name. It is part of the
# AKS hash: two declared names may share their first 8 letters and digits ("generalpool1",
# "generalpool2"), and their pools must still have different names.
POOL_LABEL = "fleet.example.com/pool"

# ForceNew fields of google_container_node_pool that fleet sets (terraform-provider-google
# google/services/container/node_config.go and resource_container_node_pool.go, which pulumi-gcp
# wraps). machineType, disk size and type, image, labels and taints are updated in place.
GKE_CREATE_ONLY = ("nodeConfig.spot", "nodeConfig.serviceAccount", "nodeConfig.oauthScopes",
                   "nodeConfig.metadata", "nodeConfig.shieldedInstanceConfig", "maxPodsPerNode")
GKE_SUFFIX = 6


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_norm(str(k)): canonical(v) for k, v in sorted(value.items(), key=lambda kv: _norm(str(kv[0])))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field(values: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, keys matched without case and underscores."""
    current: Any = values
    for segment in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = next((v for k, v in current.items() if _norm(str(k)) == _norm(segment)), None)
    return current


def _unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_unknown(v) for v in value)
    return False


def fields_digest(values: Mapping[str, Any], paths: Sequence[str], length: int,
                  extra: Mapping[str, Any] | None = None) -> str | None:
    """Hash of the create-only fields (and `extra`), or None while one is not known yet (a preview)."""
    chosen = {path: canonical(field(values, path)) for path in paths} | dict(extra or {})
    if any(_unknown(v) for v in chosen.values()):
        return None
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def aks_stem(name: str) -> str:
    """The readable part of an AKS pool name: lowercase letters and digits, starting with a letter."""
    cleaned = re.sub(r"[^a-z0-9]", "", name.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"p{cleaned}"
    return cleaned[: 12 - AKS_SUFFIX]


def aks_digest(name: str, args: Mapping[str, Any]) -> str | None:
    return fields_digest(args, AKS_CREATE_ONLY, AKS_SUFFIX, extra={"pool": name})


def aks_pool_name(name: str, args: Mapping[str, Any]) -> str:
    """`<first 8 letters and digits of the declared name><hash of the name and create-only fields>`."""
    return f"{aks_stem(name)}{aks_digest(name, args)}"


def declared_pool(labels: Any) -> str | None:
    """The declared pool name a pool's node labels carry (POOL_LABEL), if any."""
    value = labels.get(POOL_LABEL) if isinstance(labels, Mapping) else None
    return value if isinstance(value, str) and value != UNKNOWN else None


def gke_pool_name(name: str, args: Mapping[str, Any]) -> str:
    return f"{name}-{fields_digest(args, GKE_CREATE_ONLY, GKE_SUFFIX)}"


def inline_create_only(profile: Mapping[str, Any]) -> dict[str, Any]:
    """An inline AKS profile's create-only fields, canonical (engine names, ints for whole numbers)."""
    return {path: canonical(field(profile, path)) for path in AKS_CREATE_ONLY}
