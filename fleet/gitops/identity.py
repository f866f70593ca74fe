"""A cluster's identity on the cluster: ConfigMap kube-system/cluster-identity, and the identity
guard that makes the cluster refuse what is placed for another one.

ConfigMap kube-system/cluster-identity (CONTRACTS section 2) holds plan.identity plus values only
known once the cluster exists (OIDC issuer, cloud account, resource id) and the ENABLE_<ADDON> /
PURPOSE switches derived from the registration labels (fleet.identity_data decides them). Flux reads
the same data through postBuild substitution (a copy in flux-system, see fleet.gitops.flux), a Flux
hub through postBuild.substitute on the spoke's registration; nothing in the fleet repository is
per cluster.

The identity guard (fleet.guard): a ValidatingAdmissionPolicy and its binding, whose parameter is
that ConfigMap, created after it and before the GitOps engine (the bootstraps wait for
`ClusterIdentity.ready`), so not even the engine's first sync can place a GDPR workload on a
cluster outside the EU. Rule identity-guard-before-engine (fleet.behaviour.kubernetes) checks the
recorded graph.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet import guard
from fleet.clouds.base import ClusterHandle
from fleet.identity_data import (  # noqa: F401  (re-exported: fleet.gitops.* import them from here)
    FLEET_LABELS,
    IDENTITY_NAME,
    IDENTITY_NAMESPACE,
    RUNTIME_KEYS,
    addon_variables,
    addons_path,
    cluster_component,
    installs_own_addons,
    repository_root,
    source_kind,
    static_identity,
    sync_components,
)
from fleet.plan import ClusterPlan


def identity_data(plan: ClusterPlan, handle: ClusterHandle) -> dict[str, pulumi.Input[str]]:
    """The cluster-identity ConfigMap data (also the Flux substitution variables)."""
    runtime = {key: getattr(handle, attribute) for key, attribute in RUNTIME_KEYS.items()}
    return {**static_identity(plan), **runtime}


def _metadata(body: dict[str, Any]) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=body["metadata"]["name"], labels=FLEET_LABELS)


# --- component -------------------------------------------------------------------------------


class ClusterIdentity(pulumi.ComponentResource):
    """ConfigMap kube-system/cluster-identity on the cluster, and the identity guard reading it."""

    def __init__(
        self, plan: ClusterPlan, handle: ClusterHandle, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("fleet:gitops:ClusterIdentity", plan.name, None, opts)
        self.data = identity_data(plan, handle)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=handle.k8s_provider, depends_on=handle.ready)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{plan.name}-cluster-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=IDENTITY_NAME, namespace=IDENTITY_NAMESPACE, labels=FLEET_LABELS
            ),
            data=self.data,
            opts=k8s_opts,
        )
        policy, binding = guard.policy(), guard.binding()
        self.policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{plan.name}-identity-guard",
            metadata=_metadata(policy),
            spec=policy["spec"],
            opts=k8s_opts,
        )
        self.binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{plan.name}-identity-guard-binding",
            metadata=_metadata(binding),
            spec=binding["spec"],
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[self.config_map, self.policy])
            ),
        )
        # What the GitOps engine waits for before its first sync.
        self.ready: list[pulumi.Resource] = [self.config_map, self.policy, self.binding]
        self.register_outputs({"namespace": IDENTITY_NAMESPACE, "name": IDENTITY_NAME,
                               "guard": guard.POLICY_NAME})
