"""The one contract every cloud module honours (fleet/clouds/aws.py, azure.py, gcp.py).

Each cloud module exports, with the same names and signatures:

    class Cluster(pulumi.ComponentResource):
        def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                     opts: pulumi.ResourceOptions | None = None) -> None
        handle: ClusterHandle           # set in __init__

    def hub_identity(plan: ClusterPlan, handle: ClusterHandle,
                     service_accounts: Sequence[ServiceAccountRef],
                     parent: pulumi.Resource) -> HubIdentity
        # a cloud identity for the hub's GitOps controllers (federated to those Kubernetes
        # service accounts of the hub): IAM role + Pod Identity, managed identity + federated
        # credentials, Google service account + Workload Identity binding

    def federated_hub_identity(hub: ClusterPlan, hub_handle: ClusterHandle,
                               service_accounts: Sequence[ServiceAccountRef],
                               spokes: Sequence[ClusterPlan], parent: pulumi.Resource) -> HubIdentity
        # a hub-side trust ANCHOR in this cloud for a hub on ANOTHER cloud, created with the hub:
        # this cloud trusts the hub's OIDC issuer for exactly those service accounts (IAM OIDC
        # provider + role, Entra identity + federated credentials, workload identity pool +
        # provider impersonating a Google service account), and the identity says what the hub's
        # controllers mount (pod_env, volumes, files). Its principal and details are plain
        # Outputs (ARNs, ids, emails), so a shard stack can receive them by StackReference.

    def grant_hub_access(plan: ClusterPlan, handle: ClusterHandle, identity: HubIdentity,
                         parent: pulumi.Resource) -> SpokeAccess
        # the PER-SPOKE GRANT, created with the spoke's registration: let `identity` (native or
        # federated) administer the spoke keylessly (EKS access entry, AKS role assignment, GKE
        # IAM + RBAC) and say how Argo CD / Flux authenticate with it

Nothing outside fleet/clouds/ knows which cloud a cluster is on; fleet.clouds.load(provider)
imports only the module of that cloud.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str


@dataclass(frozen=True)
class ClusterHandle:
    """What every GitOps step needs from a cluster, whatever its cloud."""

    name: str
    provider: str  # aws | azure | gcp
    location: str
    endpoint: pulumi.Output[str]  # https:// API server URL used by the program
    hub_server: pulumi.Output[str]  # address the hub uses (e.g. GKE Connect Gateway), often == endpoint
    ca_data: pulumi.Output[str]  # base64 PEM CA bundle of hub_server ("" when it has a public CA)
    kubeconfig: pulumi.Output[str]  # Pulumi secret; exec-plugin kubeconfig for people
    oidc_issuer: pulumi.Output[str]
    resource_id: pulumi.Output[str]  # EKS ARN / AKS ARM id / GKE projects/../clusters/.. id
    account: pulumi.Output[str]  # AWS account id / Azure subscription id / GCP project id
    egress_cidrs: pulumi.Output[list[str]]  # the cluster network's public egress, as /32 ranges
    k8s_provider: k8s.Provider  # cluster_identifier=name, so kubeconfig rotation replaces nothing
    ready: list[pulumi.Resource] = field(default_factory=list)  # to exist before Kubernetes objects
    annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # cloud metadata for add-ons


@dataclass(frozen=True)
class HubIdentity:
    """The cloud identity the hub's GitOps controllers run as."""

    provider: str
    principal: pulumi.Output[str]  # IAM role ARN / managed identity client id / service account email
    details: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)  # e.g. tenant id, object id
    resources: list[pulumi.Resource] = field(default_factory=list)
    # What the hub's GitOps controllers need to use it: annotations on their Kubernetes service
    # accounts (GKE: iam.gke.io/gcp-service-account; AKS: azure.workload.identity/client-id) and
    # labels on their pods (AKS: azure.workload.identity/use: "true"). EKS Pod Identity needs none.
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    # Across clouds (federated: the spoke's cloud trusts the hub's issuer): the environment the
    # cloud's SDK reads in the controllers, the projected-token and ConfigMap volumes they mount
    # (fleet.access shapes), and the data of ConfigMap fleet.access.GCP_CREDENTIALS_CONFIG_MAP.
    pod_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()
    files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def controller_identity(identities: Sequence[HubIdentity]) -> HubIdentity | None:
    """What the hub's controllers run with: the native identity's annotations and labels plus
    every federated identity's environment, volumes and files (one per spoke cloud)."""
    if not identities:
        return None
    merged: dict[str, dict[str, Any]] = {"annotations": {}, "labels": {}, "env": {}, "files": {}}
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for identity in identities:
        merged["annotations"].update(identity.service_account_annotations)
        merged["labels"].update(identity.pod_labels)
        merged["env"].update(identity.pod_env)
        merged["files"].update(identity.files)
        volumes += [v for v in identity.volumes if v not in volumes]
        mounts += [m for m in identity.volume_mounts if m not in mounts]
    first = identities[0]
    return HubIdentity(
        provider=first.provider, principal=first.principal, details=first.details,
        resources=[r for identity in identities for r in identity.resources],
        service_account_annotations=merged["annotations"], pod_labels=merged["labels"],
        pod_env=merged["env"], volumes=tuple(volumes), volume_mounts=tuple(mounts), files=merged["files"],
    )


@dataclass(frozen=True)
class SpokeAccess:
    """How the hub reaches one spoke without a stored credential."""

    # Fields of Argo CD's cluster `config` JSON other than tlsClientConfig (awsAuthConfig or
    # execProviderConfig), as the Argo CD docs name them.
    argocd_config: pulumi.Output[dict[str, Any]]
    # Data of the ConfigMap that Flux's `spec.kubeConfig.configMapRef` points at
    # (keys `provider`, `cluster`, `address`, `ca.crt`: with both address and CA set, no Flux
    # provider describes the cluster; no `serviceAccountName`: controller-level identity). Every
    # cloud module gives it; None would make fleet.gitops.hub refuse a Flux registration.
    flux_config: pulumi.Output[dict[str, str]] | None
    resources: list[pulumi.Resource] = field(default_factory=list)
