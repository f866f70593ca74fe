"""Flux on one cluster: the Flux Operator (Helm) and one FluxInstance that syncs the fleet repository.

Zero touch: the FluxInstance syncs the environment path that every cluster of the environment
shares. Its generated Kustomization (flux-system/flux-system) is patched through
spec.kustomize.patches so that it
- substitutes the cluster's identity (postBuild.substituteFrom the flux-system copy of
  cluster-identity: substituteFrom only reads ConfigMaps of the Kustomization's own namespace);
- adds the per-cluster folder and, where the cluster installs its own add-ons, the engine's add-on
  layer as kustomize Components, with ignoreMissingComponents so a missing folder is no error.
On a hub, the kustomize-controller (which applies spoke registrations) runs as the hub identity.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s
import yaml

from fleet.access import GCP_CREDENTIALS_CONFIG_MAP
from fleet.behaviour.gitops import ENGINE_TOLERATIONS
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef
from fleet.gitops.identity import FLEET_LABELS, IDENTITY_NAME, ClusterIdentity, source_kind, sync_components
from fleet.plan import ClusterPlan

NAMESPACE = "flux-system"
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
REGISTRY = "ghcr.io/fluxcd"
INSTANCE_API_VERSION = "fluxcd.controlplane.io/v1"
SYNC_NAME = NAMESPACE  # the FluxInstance names its source and Kustomization after its namespace
PULL_SECRET = "fleet-repository"
GIT_USERNAME = "git"  # any non-empty user works with a token on GitHub, GitLab and Azure DevOps
OCI_USERNAME = "flux"
COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
CONTROLLER_SERVICE_ACCOUNTS = (ServiceAccountRef(NAMESPACE, "kustomize-controller"),)
CLUSTER_TYPES = {"aws": "aws", "azure": "azure", "gcp": "gcp"}
# A hub reconciles one Kustomization per spoke on top of its own: give its controllers more room.
SIZES = {"hub": "large", "spoke": "medium"}
SYNC_INTERVAL = "5m"


# --- pure decisions --------------------------------------------------------------------------


def source_ref(kind: str, revision: str) -> str:
    """FluxInstance spec.sync.ref: a Git ref name, or an OCI tag."""
    if kind == "OCIRepository" or revision.startswith("refs/"):
        return revision
    return f"refs/heads/{revision}"


def registry_host(url: str) -> str:
    return urlparse(url).netloc


def sync_patches(plan: ClusterPlan) -> list[dict[str, Any]]:
    """Patches of the generated sync Kustomization: identity substitution and optional components."""
    operations = [
        {
            "op": "add",
            "path": "/spec/postBuild",
            "value": {"substituteFrom": [{"kind": "ConfigMap", "name": IDENTITY_NAME}]},
        },
        {"op": "add", "path": "/spec/components", "value": sync_components(plan)},
        {"op": "add", "path": "/spec/ignoreMissingComponents", "value": True},
    ]
    return [
        {
            "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization", "name": SYNC_NAME},
            "patch": yaml.safe_dump(operations, sort_keys=False),
        }
    ]


def toleration_patch() -> dict[str, Any]:
    """Every controller Deployment tolerates the system pools' taint (Flux Operator docs,
    instance-customization.md "Node affinity and tolerations"): a cluster whose only pool is a
    system pool still runs Flux."""
    document = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "all"},
                "spec": {"template": {"spec": {"tolerations": [dict(t) for t in ENGINE_TOLERATIONS]}}}}
    return {"target": {"kind": "Deployment"}, "patch": yaml.safe_dump(document, sort_keys=False)}


def operator_values() -> dict[str, Any]:
    """flux-operator chart values: CRDs, fleet's own labels, the engine tolerations."""
    return {"installCRDs": True, "commonLabels": dict(FLEET_LABELS),
            "tolerations": [dict(t) for t in ENGINE_TOLERATIONS]}


def hub_identity_patches(
    annotations: Mapping[str, str], pod_labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Patches running kustomize-controller as the hub's cloud identity (workload identity)."""
    patches: list[dict[str, Any]] = []
    for ref in CONTROLLER_SERVICE_ACCOUNTS:
        if annotations:
            metadata = {"name": ref.name, "annotations": dict(annotations)}
            patches.append(_object_patch("v1", "ServiceAccount", metadata))
        if pod_labels:
            template = {"template": {"metadata": {"labels": dict(pod_labels)}}}
            patches.append(_object_patch("apps/v1", "Deployment", {"name": ref.name}, spec=template))
    return patches


def federation_patch(env: Mapping[str, str], volumes: Sequence[Mapping[str, Any]],
                     mounts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A JSON patch giving kustomize-controller what another cloud's SDK reads: environment,
    projected token and credential-configuration volumes (Flux integrations, "At the controller
    level", for a cluster that is not EKS/AKS/GKE: https://fluxcd.io/flux/integrations/aws/,
    /azure/, /gcp/)."""
    if not env:
        return []
    container = "/spec/template/spec/containers/0"
    operations = [
        *({"op": "add", "path": f"{container}/env/-", "value": {"name": key, "value": value}}
          for key, value in sorted(env.items())),
        *({"op": "add", "path": "/spec/template/spec/volumes/-", "value": dict(v)} for v in volumes),
        *({"op": "add", "path": f"{container}/volumeMounts/-", "value": dict(m)} for m in mounts),
    ]
    patch = yaml.safe_dump(operations, sort_keys=False)
    return [{"target": {"kind": "Deployment", "name": ref.name}, "patch": patch} for ref in CONTROLLER_SERVICE_ACCOUNTS]


def _object_patch(api_version: str, kind: str, metadata: dict[str, Any], **body: Any) -> dict[str, Any]:
    """A strategic-merge patch of one object of the Flux install, targeted by kind and name."""
    document = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
    return {"target": {"kind": kind, "name": metadata["name"]}, "patch": yaml.safe_dump(document)}


def instance_spec(plan: ClusterPlan, pull_secret: str | None) -> dict[str, Any]:
    """FluxInstance spec (without the hub identity patches, which carry Outputs)."""
    kind = source_kind(plan.gitops.repository_url)
    sync: dict[str, Any] = {
        "kind": kind,
        "url": plan.gitops.repository_url,
        "ref": source_ref(kind, plan.gitops.revision),
        "path": plan.gitops.environment_path,
        "interval": SYNC_INTERVAL,
    }
    if pull_secret:
        sync["pullSecret"] = pull_secret
    return {
        "distribution": {"version": plan.gitops.flux_version, "registry": REGISTRY},
        "components": list(COMPONENTS),
        "cluster": {
            "type": CLUSTER_TYPES[plan.provider],
            "size": SIZES[plan.role],
            "networkPolicy": True,
            # The fleet repository is the platform team's: its Kustomizations (and a hub's spoke
            # registrations) act cluster-wide. Tenants get their own service accounts in their folders.
            "multitenant": False,
            "domain": "cluster.local",
        },
        "commonMetadata": {"labels": dict(FLEET_LABELS)},
        "sync": sync,
        "kustomize": {"patches": [*sync_patches(plan), toleration_patch()]},
    }


def instance_annotations(plan: ClusterPlan) -> dict[str, str]:
    """The operator re-checks the distribution hourly. A hub's registrations are Flux
    Kustomizations whose CRD the operator installs: Pulumi waits for the hub's Flux to be Ready
    (pulumi-kubernetes `pulumi.com/waitFor`) before creating them."""
    annotations = {"fluxcd.controlplane.io/reconcileEvery": "1h"}
    if plan.is_hub:
        annotations["pulumi.com/waitFor"] = "condition=Ready"
    return annotations


def git_credentials(token: str) -> dict[str, str]:
    return {"username": GIT_USERNAME, "password": token}


def docker_config(url: str, token: str) -> dict[str, str]:
    auth = base64.b64encode(f"{OCI_USERNAME}:{token}".encode()).decode()
    config = {"auths": {registry_host(url): {"username": OCI_USERNAME, "password": token, "auth": auth}}}
    return {".dockerconfigjson": json.dumps(config, sort_keys=True)}


# Pull secret per source kind: Secret type and how its data is built from the token.
PULL_SECRET_FORMATS = {
    "GitRepository": ("Opaque", lambda url, token: git_credentials(token)),
    "OCIRepository": ("kubernetes.io/dockerconfigjson", docker_config),
}


# --- component -------------------------------------------------------------------------------


class FluxBootstrap(pulumi.ComponentResource):
    """The Flux Operator and the FluxInstance `flux` that syncs the fleet repository."""

    def __init__(
        self,
        plan: ClusterPlan,
        handle: ClusterHandle,
        identity: ClusterIdentity,
        hub_identity: HubIdentity | None,
        git_token: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fleet:gitops:FluxBootstrap", plan.name, None, opts)
        self.namespace = NAMESPACE
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=handle.k8s_provider)

        self.release = k8s.helm.v3.Release(
            f"{plan.name}-flux-operator",
            name="flux-operator",
            chart=OPERATOR_CHART,
            version=plan.gitops.flux_operator_chart_version,
            namespace=NAMESPACE,
            create_namespace=True,
            values=operator_values(),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[*handle.ready, *identity.ready])
            ),
        )
        after_release = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[self.release])
        )

        # substituteFrom reads ConfigMaps of the Kustomization's namespace: a copy of the identity.
        self.identity = k8s.core.v1.ConfigMap(
            f"{plan.name}-flux-cluster-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=IDENTITY_NAME, namespace=NAMESPACE, labels=FLEET_LABELS),
            data=identity.data,
            opts=after_release,
        )
        self.pull_secret = self._pull_secret(plan, git_token, after_release)

        spec: pulumi.Input[dict[str, Any]] = instance_spec(plan, PULL_SECRET if self.pull_secret else None)
        self.credentials = self._credentials(plan, hub_identity, after_release)
        if hub_identity is not None and (
            hub_identity.service_account_annotations or hub_identity.pod_labels or hub_identity.pod_env
        ):
            wiring = {
                "annotations": dict(hub_identity.service_account_annotations),
                "env": dict(hub_identity.pod_env),
                "volumes": [dict(v) for v in hub_identity.volumes],
                "mounts": [dict(m) for m in hub_identity.volume_mounts],
            }
            spec = pulumi.Output.from_input(wiring).apply(
                lambda wired, base=spec: {
                    **base,
                    "kustomize": {
                        "patches": base["kustomize"]["patches"]
                        + hub_identity_patches(wired["annotations"], hub_identity.pod_labels)
                        + federation_patch(wired["env"], wired["volumes"], wired["mounts"])
                    },
                }
            )
        self.instance = k8s.apiextensions.CustomResource(
            f"{plan.name}-flux-instance",
            api_version=INSTANCE_API_VERSION,
            kind="FluxInstance",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="flux",
                namespace=NAMESPACE,
                labels=FLEET_LABELS,
                annotations=instance_annotations(plan),
            ),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    depends_on=[
                        self.release,
                        self.identity,
                        *([self.pull_secret] if self.pull_secret else []),
                        *([self.credentials] if self.credentials else []),
                    ]
                ),
            ),
        )
        # What a hub's registrations wait for: the Flux APIs and the source they reference.
        self.ready: list[pulumi.Resource] = [self.instance]
        self.source = {
            "kind": source_kind(plan.gitops.repository_url),
            "name": SYNC_NAME,
            "namespace": NAMESPACE,
        }
        self.register_outputs(
            {"namespace": NAMESPACE, "instance": "flux", "sync_path": plan.gitops.environment_path}
        )

    def _credentials(
        self, plan: ClusterPlan, hub_identity: HubIdentity | None, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ConfigMap | None:
        """The GCP external-account credential configuration kustomize-controller mounts (no key in
        it), before the FluxInstance that starts the controller."""
        if hub_identity is None or not hub_identity.files:
            return None
        return k8s.core.v1.ConfigMap(
            f"{plan.name}-flux-gcp-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GCP_CREDENTIALS_CONFIG_MAP, namespace=NAMESPACE, labels=FLEET_LABELS
            ),
            data=dict(hub_identity.files),
            opts=opts,
        )

    def _pull_secret(
        self, plan: ClusterPlan, git_token: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret | None:
        if git_token is None:
            return None
        secret_type, build = PULL_SECRET_FORMATS[source_kind(plan.gitops.repository_url)]
        url = plan.gitops.repository_url
        data = pulumi.Output.secret(git_token).apply(lambda token: build(url, token))
        return k8s.core.v1.Secret(
            f"{plan.name}-flux-repository",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PULL_SECRET, namespace=NAMESPACE, labels=FLEET_LABELS),
            type=secret_type,
            string_data=pulumi.Output.secret(data),
            opts=opts,
        )
