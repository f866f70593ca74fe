"""A cluster's identity as data: what ConfigMap kube-system/cluster-identity holds, and where the
cluster's desired state lives in the fleet repository. Pure (no Pulumi): fleet.gitops.identity
writes it on the cluster, fleet.targets evaluates the fleet repository with it.

Zero touch: every cluster syncs its environment path (clusters/<environment>); its own folder
(clusters/<environment>/<cluster-name>, a kustomize Component) is added when it exists, and the
engine's add-on layer (the Component named after the engine) only where no hub delivers add-ons.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the planner's models only for type checkers: fleet.behaviour imports this module lean
    from fleet.plan import ClusterPlan

IDENTITY_NAME = "cluster-identity"
IDENTITY_NAMESPACE = "kube-system"
# fleet's own label key, never app.kubernetes.io/*: those are what Argo CD and the Flux Operator
# find their own objects by (fleet.behaviour.gitops, rule no-foreign-app-labels).
FLEET_LABELS = {"fleet.example.com/managed-by": "pulumi"}

# Identity keys filled from the cloud once the cluster exists (ClusterHandle attribute per key).
RUNTIME_KEYS = {
    "OIDC_ISSUER": "oidc_issuer",
    "CLOUD_ACCOUNT": "account",
    "CLUSTER_RESOURCE_ID": "resource_id",
}


def addon_variables(labels: Mapping[str, str]) -> dict[str, str]:
    """The enable_<addon> registration labels as ENABLE_<ADDON> substitution variables."""
    return {key.upper(): value for key, value in labels.items() if key.startswith("enable_")}


def static_identity(plan: ClusterPlan) -> dict[str, str]:
    """Everything the plan knows: CONTRACTS section 2 keys, PURPOSE, the add-on switches and where
    the cluster's desired state lives (so the fleet repository names no repository or folder)."""
    return {
        **plan.identity,
        "PURPOSE": plan.labels["purpose"],
        **addon_variables(plan.labels),
        "FLEET_REPO_PATH": repository_root(plan) or ".",
        "FLEET_SOURCE_KIND": source_kind(plan.gitops.repository_url),
    }


def source_kind(url: str) -> str:
    """Flux source kind of the fleet repository: oci:// is an OCI artifact, anything else Git."""
    return "OCIRepository" if url.startswith("oci://") else "GitRepository"


def repository_root(plan: ClusterPlan) -> str:
    """Folder of the fleet repository holding clusters/ and addons/ ('' for the repository root)."""
    return posixpath.dirname(posixpath.dirname(plan.gitops.environment_path))


def cluster_component(plan: ClusterPlan) -> str:
    """The optional per-cluster folder, relative to the environment path (the cluster's name)."""
    return posixpath.relpath(plan.gitops.cluster_path, plan.gitops.environment_path)


def installs_own_addons(plan: ClusterPlan) -> bool:
    """A hub delivers its spokes' add-ons; the hub itself and hub-less clusters install their own."""
    return plan.hub is None


def sync_components(plan: ClusterPlan) -> list[str]:
    """kustomize Components (relative to the environment path) the cluster's own sync adds."""
    engine = [plan.gitops.engine] if installs_own_addons(plan) else []
    return [*engine, cluster_component(plan)]


def addons_path(plan: ClusterPlan, engine: str | None = None) -> str:
    """The add-on layer of the cluster's environment, for `engine` (default: the cluster's own)."""
    return posixpath.join(repository_root(plan), "addons", engine or plan.gitops.engine, plan.environment)
