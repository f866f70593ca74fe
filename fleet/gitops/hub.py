"""Registering spokes with their hub. The format follows the HUB's engine, the access the clouds.

Argo CD hub: a declarative cluster Secret in the hub's argocd namespace, labelled with every
registration label (what ApplicationSet cluster generators select on) and annotated with where the
spoke is (what they template from).
Flux hub: a Kustomization in the hub's flux-system per spoke, applying the spoke's add-on layer
(addons/<spoke engine>/<environment>) on the spoke with the spoke's identity substituted.

Access is keyless for every hub x spoke pair (fleet.access decides the address and the path;
docs/access.md). The hub's controllers run as one identity per spoke cloud, created with the hub
(the trust ANCHORS: the native workload identity on the hub's own cloud, a federated one in every
other cloud its spokes are on). Per spoke, the registration creates the GRANT on the spoke
(fleet.clouds.<cloud>.grant_hub_access: EKS access entry, AKS role assignment, GKE IAM + RBAC)
and the hub's object, which names identities and addresses, never a credential: Argo CD's
awsAuthConfig / execProviderConfig (argocd-k8s-auth), Flux's spec.kubeConfig.configMapRef.

Stable names: every name derives from the spoke's name alone, so adding, removing or reordering
other clusters never renames a registration (a renamed Argo CD cluster Secret makes Argo CD delete
what it deployed). Every registration object depends on the spoke's bootstrap, so decommissioning
a spoke deletes its registration first, then its GitOps engine, then the cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet import clouds
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef, SpokeAccess
from fleet.gitops import argocd, flux
from fleet.gitops.identity import FLEET_LABELS, addons_path, identity_data
from fleet.plan import ClusterPlan

NAME_LIMIT = 63  # Flux labels applied objects with the Kustomization name: a label value


# --- pure decisions --------------------------------------------------------------------------


def registration_name(spoke_name: str, prefix: str) -> str:
    """`prefix-<spoke>`, shortened with a stable hash when longer than a label value allows."""
    name = f"{prefix}-{spoke_name}"
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(spoke_name.encode()).hexdigest()[:8]
    return f"{name[: NAME_LIMIT - 9].rstrip('-')}-{digest}"


def kubeconfig_name(spoke_name: str) -> str:
    """The Flux registration's ConfigMap (spec.kubeConfig.configMapRef): the name the token path's
    kubeconfig Secret had, so a migrated Kustomization keeps pointing at `<name>-kubeconfig`."""
    return f"{registration_name(spoke_name, 'spoke')}-kubeconfig"


def argocd_config(access: dict[str, Any], ca_data: str) -> dict[str, Any]:
    """Argo CD cluster `config`: the access fields plus the spoke's CA when it has a private one."""
    config = dict(access)
    if ca_data:
        config["tlsClientConfig"] = {**config.get("tlsClientConfig", {}), "caData": ca_data}
    return config


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


# --- the hub's trust anchors ------------------------------------------------------------------


def hub_identities(
    hub: ClusterPlan,
    handle: ClusterHandle,
    spokes: Sequence[ClusterPlan],
    service_accounts: Sequence[ServiceAccountRef],
    parent: pulumi.Resource,
) -> dict[str, HubIdentity]:
    """One identity of the hub's controllers per cloud its spokes are on, created with the hub:
    the native workload identity on the hub's own cloud, a federated one (the cloud trusting the
    hub's issuer) on every other. Their principals and details are plain Outputs, so a shard
    stack holding spokes can receive them by StackReference and only grant."""
    identities: dict[str, HubIdentity] = {}
    for cloud in sorted({spoke.provider for spoke in spokes}):
        module = clouds.load(cloud)
        if cloud == hub.provider:
            identities[cloud] = module.hub_identity(hub, handle, service_accounts, parent=parent)
        else:
            same = [spoke for spoke in spokes if spoke.provider == cloud]
            identities[cloud] = module.federated_hub_identity(hub, handle, service_accounts, same, parent=parent)
    return identities


# --- registration formats, by the hub's engine -------------------------------------------------


@dataclass(frozen=True)
class _Hub:
    plan: ClusterPlan
    handle: ClusterHandle
    bootstrap: pulumi.ComponentResource


def _argocd_registration(
    hub: _Hub, spoke: ClusterPlan, handle: ClusterHandle, access: SpokeAccess, opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    config = pulumi.Output.all(access.argocd_config, handle.ca_data).apply(
        lambda values: argocd_config(values[0], values[1])
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
    hub: _Hub, spoke: ClusterPlan, handle: ClusterHandle, access: SpokeAccess, opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    if access.flux_config is None:
        raise ValueError(f"{spoke.name}: the {spoke.provider} cloud module gives Flux no kubeConfig provider data")
    name = registration_name(spoke.name, "spoke")
    metadata = {"namespace": flux.NAMESPACE, "labels": {**FLEET_LABELS, **spoke.labels}}
    reference = k8s.core.v1.ConfigMap(
        f"{spoke.name}-hub-kubeconfig",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=kubeconfig_name(spoke.name), **metadata),
        data=access.flux_config,
        opts=opts,
    )
    kube_config: dict[str, Any] = {"configMapRef": {"name": kubeconfig_name(spoke.name)}}
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


Format = Callable[[_Hub, ClusterPlan, ClusterHandle, SpokeAccess, pulumi.ResourceOptions], list[pulumi.Resource]]
FORMATS: dict[str, Format] = {"argocd": _argocd_registration, "flux": _flux_registration}


# --- components ------------------------------------------------------------------------------


class SpokeRegistration(pulumi.ComponentResource):
    """One spoke known to its hub: the grant on the spoke for the hub's identity of the spoke's
    cloud, and the hub's object(s)."""

    def __init__(
        self,
        hub: _Hub,
        hub_identity: HubIdentity,
        spoke: ClusterPlan,
        handle: ClusterHandle,
        spoke_bootstrap: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fleet:gitops:SpokeRegistration", spoke.name, None, opts)
        self.access = clouds.load(spoke.provider).grant_hub_access(spoke, handle, hub_identity, self)
        self.federated = hub.plan.provider != spoke.provider
        waits_for = [
            spoke_bootstrap,
            *getattr(hub.bootstrap, "ready", [hub.bootstrap]),
            *self.access.resources,
        ]
        on_hub = pulumi.ResourceOptions(parent=self, provider=hub.handle.k8s_provider, depends_on=waits_for)
        engine = spoke.hub_engine or hub.plan.gitops.engine  # the hub's engine decides the format
        self.objects = FORMATS[engine](hub, spoke, handle, self.access, on_hub)
        self.register_outputs({"spoke": spoke.name, "hub": hub.plan.name, "federated": self.federated})


class HubRegistrar:
    """Registers the spokes of one hub, in the hub's format (spoke_plan.hub_engine), each with the
    hub's identity of the spoke's cloud (hub_identities: cloud -> identity, made with the hub)."""

    def __init__(
        self,
        hub_plan: ClusterPlan,
        hub_handle: ClusterHandle,
        hub_bootstrap: pulumi.ComponentResource,
        hub_identities: Mapping[str, HubIdentity],
        parent: pulumi.Resource,
    ) -> None:
        self.hub = _Hub(hub_plan, hub_handle, hub_bootstrap)
        self.hub_identities = dict(hub_identities)
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
        identity = self.hub_identities.get(spoke_plan.provider)
        if identity is None:
            raise ValueError(f"{spoke_plan.name}: hub {self.hub.plan.name} has no identity for {spoke_plan.provider}")
        registration = SpokeRegistration(
            self.hub,
            identity,
            spoke_plan,
            spoke_handle,
            spoke_bootstrap,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        self.registrations[spoke_plan.name] = registration
        return registration
