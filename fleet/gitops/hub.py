"""Registering spokes with their hub. The format follows the HUB's engine, the access the clouds.

Argo CD hub: a declarative cluster Secret in the hub's argocd namespace, labelled with every
registration label (what ApplicationSet cluster generators select on) and annotated with where the
spoke is (what they template from).
Flux hub: a Kustomization in the hub's flux-system per spoke, applying the spoke's add-on layer
(addons/<spoke engine>/<environment>) on the spoke with the spoke's identity substituted.

Access: when hub and spoke share a cloud, the hub's controllers reach the spoke keylessly with the
hub identity (fleet.clouds.<cloud>.grant_hub_access). Across clouds the spoke gets a service account
with a long-lived token Secret (what `argocd cluster add` does) and the token travels as a Pulumi
secret only.

Stable names: every name derives from the spoke's name alone, so adding, removing or reordering
other clusters never renames a registration (a renamed Argo CD cluster Secret makes Argo CD delete
what it deployed). Every registration object depends on the spoke's bootstrap, so decommissioning
a spoke deletes its registration first, then its GitOps engine, then the cluster.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from fleet import clouds
from fleet.clouds.base import ClusterHandle, HubIdentity, SpokeAccess
from fleet.gitops import argocd, flux
from fleet.gitops.identity import FLEET_LABELS, addons_path, identity_data
from fleet.plan import ClusterPlan

# On every spoke reached with a token: who the hub is there.
SPOKE_NAMESPACE = "kube-system"
SPOKE_ACCOUNT = "fleet-hub"
SPOKE_TOKEN_SECRET = "fleet-hub-token"
# What the hub's engine needs on a spoke: Argo CD and Flux apply arbitrary manifests, as
# `argocd cluster add` grants (argocd-manager-role).
SPOKE_RULES = [
    k8s.rbac.v1.PolicyRuleArgs(api_groups=["*"], resources=["*"], verbs=["*"]),
    k8s.rbac.v1.PolicyRuleArgs(non_resource_urls=["*"], verbs=["*"]),
]
KUBECONFIG_KEY = "value"
NAME_LIMIT = 63  # Flux labels applied objects with the Kustomization name: a label value


# --- pure decisions --------------------------------------------------------------------------


def registration_name(spoke_name: str, prefix: str) -> str:
    """`prefix-<spoke>`, shortened with a stable hash when longer than a label value allows."""
    name = f"{prefix}-{spoke_name}"
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(spoke_name.encode()).hexdigest()[:8]
    return f"{name[: NAME_LIMIT - 9].rstrip('-')}-{digest}"


def is_keyless(hub: ClusterPlan, spoke: ClusterPlan, hub_identity: HubIdentity | None) -> bool:
    """Keyless access needs the hub's cloud identity, and a spoke on that same cloud."""
    return hub_identity is not None and spoke.provider == hub.provider


def argocd_config(access: dict[str, Any], ca_data: str) -> dict[str, Any]:
    """Argo CD cluster `config`: the access fields plus the spoke's CA when it has a private one."""
    config = dict(access)
    if ca_data:
        config["tlsClientConfig"] = {**config.get("tlsClientConfig", {}), "caData": ca_data}
    return config


def token_kubeconfig(name: str, server: str, ca_data: str, token: str) -> str:
    """A self-contained kubeconfig (no exec plugin: Flux cannot run one) for a token."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(document, sort_keys=False)


def flux_registration_spec(
    spoke: ClusterPlan, source: dict[str, str], kube_config: dict[str, Any], substitute: dict[str, Any]
) -> dict[str, Any]:
    """The hub's Kustomization for one spoke: the spoke's add-on layer, applied on the spoke."""
    return {
        "interval": "10m",
        "retryInterval": "2m",
        "timeout": "5m",
        "prune": True,
        "sourceRef": {"kind": source["kind"], "name": source["name"]},
        "path": addons_path(spoke),
        "kubeConfig": kube_config,
        "postBuild": {"substitute": substitute},
        "commonMetadata": {"labels": {"fleet.example.com/hub-registration": spoke.name}},
    }


# --- access ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """How the hub reaches one spoke: keyless (cloud identity) or with a token."""

    keyless: SpokeAccess | None
    token: pulumi.Output[str] | None  # a Pulumi secret
    resources: list[pulumi.Resource]


def _token_access(
    spoke: ClusterPlan, handle: ClusterHandle, waits_for: list[pulumi.Resource], parent: pulumi.Resource
) -> Access:
    """A service account on the spoke with cluster-wide rights and a long-lived token."""
    opts = pulumi.ResourceOptions(
        parent=parent, provider=handle.k8s_provider, depends_on=[*handle.ready, *waits_for]
    )
    metadata = {"namespace": SPOKE_NAMESPACE, "labels": FLEET_LABELS}
    account = k8s.core.v1.ServiceAccount(
        f"{spoke.name}-hub-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SPOKE_ACCOUNT, **metadata),
        opts=opts,
    )
    role = k8s.rbac.v1.ClusterRole(
        f"{spoke.name}-hub-role",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SPOKE_ACCOUNT, labels=FLEET_LABELS),
        rules=SPOKE_RULES,
        opts=opts,
    )
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{spoke.name}-hub-binding",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SPOKE_ACCOUNT, labels=FLEET_LABELS),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=SPOKE_ACCOUNT
        ),
        subjects=[
            k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SPOKE_ACCOUNT, namespace=SPOKE_NAMESPACE)
        ],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account, role])),
    )
    token_secret = k8s.core.v1.Secret(
        f"{spoke.name}-hub-token",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=SPOKE_TOKEN_SECRET,
            annotations={"kubernetes.io/service-account.name": SPOKE_ACCOUNT},
            **metadata,
        ),
        type="kubernetes.io/service-account-token",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account])),
    )
    token = pulumi.Output.secret(
        token_secret.data.apply(lambda data: base64.b64decode((data or {}).get("token", "")).decode())
    )
    return Access(None, token, [account, role, binding, token_secret])


# --- registration formats, by the hub's engine -------------------------------------------------


@dataclass(frozen=True)
class _Hub:
    plan: ClusterPlan
    handle: ClusterHandle
    bootstrap: pulumi.ComponentResource


def _argocd_registration(
    hub: _Hub, spoke: ClusterPlan, handle: ClusterHandle, access: Access, opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    if access.keyless is not None:
        config = pulumi.Output.all(access.keyless.argocd_config, handle.ca_data).apply(
            lambda values: argocd_config(values[0], values[1])
        )
    else:
        config = pulumi.Output.all(access.token, handle.ca_data).apply(
            lambda values: argocd_config({"bearerToken": values[0]}, values[1])
        )
    secret = argocd.cluster_secret(
        f"{spoke.name}-hub-registration",
        argocd.cluster_secret_name(spoke.name),
        spoke,
        handle,
        handle.hub_server,
        pulumi.Output.secret(config),
        opts,
    )
    return [secret]


def _flux_registration(
    hub: _Hub, spoke: ClusterPlan, handle: ClusterHandle, access: Access, opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    name = registration_name(spoke.name, "spoke")
    kubeconfig_name = f"{name}-kubeconfig"
    metadata = {"namespace": flux.NAMESPACE, "labels": {**FLEET_LABELS, **spoke.labels}}
    if access.keyless is not None and access.keyless.flux_config is not None:
        reference: k8s.core.v1.ConfigMap | k8s.core.v1.Secret = k8s.core.v1.ConfigMap(
            f"{spoke.name}-hub-kubeconfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=kubeconfig_name, **metadata),
            data=access.keyless.flux_config,
            opts=opts,
        )
        kube_config: dict[str, Any] = {"configMapRef": {"name": kubeconfig_name}}
    else:
        kubeconfig = pulumi.Output.all(handle.hub_server, handle.ca_data, access.token).apply(
            lambda values: token_kubeconfig(spoke.name, values[0], values[1], values[2])
        )
        reference = k8s.core.v1.Secret(
            f"{spoke.name}-hub-kubeconfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=kubeconfig_name, **metadata),
            type="Opaque",
            string_data={KUBECONFIG_KEY: pulumi.Output.secret(kubeconfig)},
            opts=opts,
        )
        kube_config = {"secretRef": {"name": kubeconfig_name, "key": KUBECONFIG_KEY}}
    source = getattr(hub.bootstrap, "source", {"kind": "GitRepository", "name": flux.SYNC_NAME})
    spec = pulumi.Output.from_input(identity_data(spoke, handle)).apply(
        lambda substitute: flux_registration_spec(spoke, source, kube_config, substitute)
    )
    kustomization = k8s.apiextensions.CustomResource(
        f"{spoke.name}-hub-registration",
        api_version="kustomize.toolkit.fluxcd.io/v1",
        kind="Kustomization",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, **metadata),
        spec=spec,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[reference])),
    )
    return [reference, kustomization]


Format = Callable[[_Hub, ClusterPlan, ClusterHandle, Access, pulumi.ResourceOptions], list[pulumi.Resource]]
FORMATS: dict[str, Format] = {"argocd": _argocd_registration, "flux": _flux_registration}


# --- components ------------------------------------------------------------------------------


class SpokeRegistration(pulumi.ComponentResource):
    """One spoke known to its hub: access on the spoke (keyless or token) and the hub's object(s)."""

    def __init__(
        self,
        hub: _Hub,
        hub_identity: HubIdentity | None,
        spoke: ClusterPlan,
        handle: ClusterHandle,
        spoke_bootstrap: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fleet:gitops:SpokeRegistration", spoke.name, None, opts)
        if is_keyless(hub.plan, spoke, hub_identity):
            assert hub_identity is not None
            granted = clouds.load(spoke.provider).grant_hub_access(spoke, handle, hub_identity, self)
            self.access = Access(granted, None, list(granted.resources))
        else:
            self.access = _token_access(spoke, handle, [spoke_bootstrap], self)
        self.keyless = self.access.keyless is not None
        waits_for = [
            spoke_bootstrap,
            *getattr(hub.bootstrap, "ready", [hub.bootstrap]),
            *self.access.resources,
        ]
        on_hub = pulumi.ResourceOptions(parent=self, provider=hub.handle.k8s_provider, depends_on=waits_for)
        engine = spoke.hub_engine or hub.plan.gitops.engine  # the hub's engine decides the format
        self.objects = FORMATS[engine](hub, spoke, handle, self.access, on_hub)
        self.register_outputs({"spoke": spoke.name, "hub": hub.plan.name, "keyless": self.keyless})


class HubRegistrar:
    """Registers the spokes of one hub, in the hub's format (spoke_plan.hub_engine)."""

    def __init__(
        self,
        hub_plan: ClusterPlan,
        hub_handle: ClusterHandle,
        hub_bootstrap: pulumi.ComponentResource,
        hub_identity: HubIdentity | None,
        parent: pulumi.Resource,
    ) -> None:
        self.hub = _Hub(hub_plan, hub_handle, hub_bootstrap)
        self.hub_identity = hub_identity
        self.parent = parent
        self.registrations: dict[str, SpokeRegistration] = {}

    def register(
        self,
        spoke_plan: ClusterPlan,
        spoke_handle: ClusterHandle,
        spoke_bootstrap: pulumi.Resource,
        parent: pulumi.Resource,
    ) -> SpokeRegistration:
        assert spoke_plan.hub_engine in (None, self.hub.plan.gitops.engine), (
            f"{spoke_plan.name}: hub engine {spoke_plan.hub_engine} != {self.hub.plan.gitops.engine}"
        )
        registration = SpokeRegistration(
            self.hub,
            self.hub_identity,
            spoke_plan,
            spoke_handle,
            spoke_bootstrap,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        self.registrations[spoke_plan.name] = registration
        return registration
