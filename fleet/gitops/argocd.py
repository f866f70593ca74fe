"""Argo CD on one cluster: the argo-cd Helm chart, the cluster's own labelled registration, the root app.

- Chart `argo-cd` from https://argoproj.github.io/argo-helm (10.x = Argo CD 3.4.x), HA values in
  production (the chart README's "HA mode with autoscaling"), the controllers that reach spokes
  running as the hub identity when this cluster is a hub.
- A cluster Secret for https://kubernetes.default.svc named after the cluster and carrying its
  registration labels: Argo CD has no Secret for its own cluster by default, so without it no
  ApplicationSet cluster generator would ever select the hub (or a hub-less cluster).
- The root Application syncs the environment path, zero touch, with the per-cluster folder (and the
  Argo CD add-on layer where the cluster installs its own add-ons) as optional kustomize Components.

The cluster Secret format (labels, annotations, stringData) lives here and is shared with
fleet.gitops.hub, which writes the same Secret for every spoke of an Argo CD hub.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet.access import GCP_CREDENTIALS_CONFIG_MAP
from fleet.behaviour.gitops import ENGINE_TOLERATIONS
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef
from fleet.gitops.identity import FLEET_LABELS, ClusterIdentity, repository_root, sync_components
from fleet.plan import ClusterPlan

NAMESPACE = "argocd"
RELEASE_NAME = "argocd"
CHART = "argo-cd"
CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
API_VERSION = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
SECRET_TYPE = "argocd.argoproj.io/secret-type"
ROOT_APPLICATION = "fleet"
REPOSITORY_SECRET = "fleet-repository"
GIT_USERNAME = "git"

# Argo CD's service accounts fleet names (chart values key of each), and the one that reaches
# spokes with a cloud identity: the application controller alone (fleet.access.CONTROLLERS says why
# the server and the ApplicationSet controller get no cloud trust).
CONTROLLERS = {
    "controller": ServiceAccountRef(NAMESPACE, "argocd-application-controller"),
    "applicationSet": ServiceAccountRef(NAMESPACE, "argocd-applicationset-controller"),
    "server": ServiceAccountRef(NAMESPACE, "argocd-server"),
}
SPOKE_CONTROLLERS = ("controller",)
CONTROLLER_SERVICE_ACCOUNTS = tuple(CONTROLLERS[key] for key in SPOKE_CONTROLLERS)

# "HA mode with autoscaling" (argo-helm charts/argo-cd/README.md); redis-ha's redis and haproxy
# pods each need three distinct nodes (fleet.behaviour.gitops.ARGOCD_HA): its pods tolerate the
# system pools' taint like every engine pod, and `fleet validate` refuses a cluster whose pools
# start with fewer nodes (rule engine-fits-start-capacity).
HA_VALUES: dict[str, Any] = {
    "redis-ha": {
        "enabled": True,
        "tolerations": [dict(t) for t in ENGINE_TOLERATIONS],
        "haproxy": {"tolerations": [dict(t) for t in ENGINE_TOLERATIONS]},
    },
    "server": {
        "autoscaling": {"enabled": True, "minReplicas": 2},
        "pdb": {"enabled": True, "minAvailable": 1},
    },
    "repoServer": {
        "autoscaling": {"enabled": True, "minReplicas": 2},
        "pdb": {"enabled": True, "minAvailable": 1},
    },
    "applicationSet": {"replicas": 2, "pdb": {"enabled": True, "minAvailable": 1}},
    "controller": {"pdb": {"enabled": True, "minAvailable": 1}},
}
# A production hub shards its spokes over two application controllers.
HUB_CONTROLLER_REPLICAS = 2

# Sources Argo CD reads the fleet repository from, by URL scheme: repository Secret `type`.
REPOSITORY_TYPES = {"oci": "oci"}


# --- pure decisions --------------------------------------------------------------------------


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merge(merged[key], value)
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def chart_values(
    plan: ClusterPlan,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
    pod_labels: Mapping[str, str] | None = None,
    identity: HubIdentity | None = None,
) -> dict[str, Any]:
    """argo-cd chart values: fixed names, HA in production, the hub identity on the application
    controller only, every pod tolerating the system pools' taint (global.tolerations; redis-ha
    takes its own). Across clouds the controller also gets the federated environment and volumes
    (argo-cd 10.1.1 values `controller.env`, `controller.volumes`, `controller.volumeMounts`) and
    the GCP credential configuration comes as a chart object (`extraObjects`), so it exists
    before the controller's pods mount it."""
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE_NAME,
        "global": {"additionalLabels": dict(FLEET_LABELS), "tolerations": [dict(t) for t in ENGINE_TOLERATIONS]},
        "configs": {"cm": {"application.resourceTrackingMethod": "annotation"}},
    }
    for key, ref in CONTROLLERS.items():
        values[key] = {"serviceAccount": {"create": True, "name": ref.name}}
    if plan.is_production:
        values = _merge(values, HA_VALUES)
        if plan.is_hub:
            values = _merge(values, {"controller": {"replicas": HUB_CONTROLLER_REPLICAS}})
    for key in SPOKE_CONTROLLERS:
        if annotations:
            values = _merge(values, {key: {"serviceAccount": {"annotations": dict(annotations)}}})
        if pod_labels:
            values = _merge(values, {key: {"podLabels": dict(pod_labels)}})
        if identity is not None and identity.pod_env:
            values = _merge(values, {key: {
                "env": [{"name": name, "value": value} for name, value in sorted(identity.pod_env.items())],
                "volumes": [dict(v) for v in identity.volumes],
                "volumeMounts": [dict(m) for m in identity.volume_mounts],
            }})
    if identity is not None and identity.files:
        values["extraObjects"] = [{
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": GCP_CREDENTIALS_CONFIG_MAP, "namespace": NAMESPACE, "labels": dict(FLEET_LABELS)},
            "data": dict(identity.files),
        }]
    return values


def repository_type(url: str) -> str:
    return REPOSITORY_TYPES.get(url.split("://", 1)[0], "git")


def root_application(plan: ClusterPlan) -> dict[str, Any]:
    """The root Application: the environment path with the cluster's optional Components."""
    return {
        "project": "default",
        "source": {
            "repoURL": plan.gitops.repository_url,
            "targetRevision": plan.gitops.revision,
            "path": plan.gitops.environment_path,
            "kustomize": {"components": sync_components(plan), "ignoreMissingComponents": True},
        },
        "destination": {"server": IN_CLUSTER, "namespace": NAMESPACE},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["ServerSideApply=true", "CreateNamespace=true"],
            "retry": {"limit": 10, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}},
        },
    }


def cluster_secret_name(cluster: str) -> str:
    """The cluster Secret's name: from the cluster's name alone, so it never changes (renaming a
    cluster Secret makes Argo CD delete what it deployed there)."""
    return f"cluster-{cluster}"


def cluster_secret_labels(plan: ClusterPlan) -> dict[str, str]:
    """What ApplicationSet cluster generators select on: every registration label."""
    return {**plan.labels, SECRET_TYPE: "cluster"}


def cluster_secret_annotations(plan: ClusterPlan, handle: ClusterHandle) -> dict[str, pulumi.Input[str]]:
    """What ApplicationSets template from ({{.metadata.annotations.<key>}}): where the cluster is and
    where its desired state lives (gitops-bridge style keys, so templates need no index calls)."""
    return {
        "cluster_name": plan.name,
        "cloud": plan.provider,
        "location": plan.location,
        "region": plan.region,
        "environment": plan.environment,
        "account": handle.account,
        "resource_id": handle.resource_id,
        "oidc_issuer": handle.oidc_issuer,
        "fleet_repo_url": plan.gitops.repository_url,
        "fleet_repo_revision": plan.gitops.revision,
        "fleet_repo_basepath": repository_root(plan) or ".",
        **dict(handle.annotations),
    }


def cluster_secret_string_data(
    name: str, server: pulumi.Input[str], config: pulumi.Input[dict[str, Any]]
) -> dict[str, pulumi.Input[str]]:
    """stringData of an Argo CD cluster Secret: name and server in clear (reviewable in synth and
    diffs), `config` (JSON, it holds credentials) a Pulumi secret."""
    config_json = pulumi.Output.from_input(config).apply(lambda value: json.dumps(value, sort_keys=True))
    return {"name": name, "server": server, "config": pulumi.Output.secret(config_json)}


def cluster_secret(
    resource_name: str,
    secret_name: str,
    plan: ClusterPlan,
    handle: ClusterHandle,
    server: pulumi.Input[str],
    config: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """A declarative Argo CD cluster Secret in the Argo CD namespace of the provider in `opts`."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=secret_name,
            namespace=NAMESPACE,
            labels={**FLEET_LABELS, **cluster_secret_labels(plan)},
            annotations=cluster_secret_annotations(plan, handle),
        ),
        type="Opaque",
        string_data=cluster_secret_string_data(plan.name, server, config),
        opts=opts,
    )


# --- component -------------------------------------------------------------------------------


class ArgoCDBootstrap(pulumi.ComponentResource):
    """Argo CD, its own cluster's registration and the root Application."""

    def __init__(
        self,
        plan: ClusterPlan,
        handle: ClusterHandle,
        identity: ClusterIdentity,
        hub_identity: HubIdentity | None,
        git_token: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fleet:gitops:ArgoCDBootstrap", plan.name, None, opts)
        self.namespace = NAMESPACE
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=handle.k8s_provider)
        values = chart_values(
            plan,
            hub_identity.service_account_annotations if hub_identity else None,
            hub_identity.pod_labels if hub_identity else None,
            hub_identity,
        )
        self.release = k8s.helm.v3.Release(
            f"{plan.name}-argocd",
            name=RELEASE_NAME,
            chart=CHART,
            version=plan.gitops.argocd_chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            create_namespace=True,
            values=values,
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[*handle.ready, *identity.ready])
            ),
        )
        # The Application and ApplicationSet CRDs come with the chart: everything below waits for it.
        after_release = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[self.release])
        )

        self.cluster_secret = cluster_secret(
            f"{plan.name}-argocd-in-cluster",
            cluster_secret_name(plan.name),
            plan,
            handle,
            IN_CLUSTER,
            {"tlsClientConfig": {"insecure": False}},
            after_release,
        )
        self.repository_secret = self._repository_secret(plan, git_token, after_release)
        waits_for = [
            self.release,
            self.cluster_secret,
            *([self.repository_secret] if self.repository_secret else []),
        ]
        self.root = k8s.apiextensions.CustomResource(
            f"{plan.name}-argocd-root",
            api_version=API_VERSION,
            kind="Application",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROOT_APPLICATION, namespace=NAMESPACE, labels=FLEET_LABELS
            ),
            spec=root_application(plan),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=waits_for)),
        )
        self.ready: list[pulumi.Resource] = [self.release]
        self.register_outputs(
            {"namespace": NAMESPACE, "root": ROOT_APPLICATION, "sync_path": plan.gitops.environment_path}
        )

    def _repository_secret(
        self, plan: ClusterPlan, git_token: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret | None:
        if git_token is None:
            return None
        url = plan.gitops.repository_url
        data = pulumi.Output.secret(git_token).apply(
            lambda token: {
                "type": repository_type(url),
                "url": url,
                "username": GIT_USERNAME,
                "password": token,
            }
        )
        return k8s.core.v1.Secret(
            f"{plan.name}-argocd-repository",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=REPOSITORY_SECRET,
                namespace=NAMESPACE,
                labels={**FLEET_LABELS, SECRET_TYPE: "repository"},
            ),
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=opts,
        )
