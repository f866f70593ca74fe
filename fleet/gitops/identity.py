"""A cluster's identity as Kubernetes data, and where its desired state lives in the fleet repository.

ConfigMap kube-system/cluster-identity (CONTRACTS section 2) holds plan.identity plus values only
known once the cluster exists (OIDC issuer, cloud account, resource id) and the ENABLE_<ADDON> /
PURPOSE switches derived from the registration labels. Flux reads the same data through
postBuild substitution (a copy in flux-system, see fleet.gitops.flux), a Flux hub through
postBuild.substitute on the spoke's registration; nothing in the fleet repository is per cluster.

Zero touch: every cluster syncs its environment path (clusters/<environment>); its own folder
(clusters/<environment>/<cluster-name>, a kustomize Component) is added when it exists, and the
engine's add-on layer (the Component named after the engine) only where no hub delivers add-ons.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from fleet.clouds.base import ClusterHandle
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


# --- pure decisions --------------------------------------------------------------------------


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


def identity_data(plan: ClusterPlan, handle: ClusterHandle) -> dict[str, pulumi.Input[str]]:
    """The cluster-identity ConfigMap data (also the Flux substitution variables)."""
    runtime = {key: getattr(handle, attribute) for key, attribute in RUNTIME_KEYS.items()}
    return {**static_identity(plan), **runtime}


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


# --- component -------------------------------------------------------------------------------


class ClusterIdentity(pulumi.ComponentResource):
    """ConfigMap kube-system/cluster-identity on the cluster."""

    def __init__(
        self, plan: ClusterPlan, handle: ClusterHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("fleet:gitops:ClusterIdentity", plan.name, None, opts)
        self.data = identity_data(plan, handle)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{plan.name}-cluster-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=IDENTITY_NAME, namespace=IDENTITY_NAMESPACE, labels=FLEET_LABELS
            ),
            data=self.data,
            opts=pulumi.ResourceOptions(parent=self, provider=handle.k8s_provider, depends_on=handle.ready),
        )
        self.register_outputs({"namespace": IDENTITY_NAMESPACE, "name": IDENTITY_NAME})
