"""GitOps on every cluster: identity, engine bootstrap (Flux or Argo CD) and hub registration.

Bootstrap follows the spoke (plan.gitops.engine picks the component from ENGINES); the hub's
registration format follows the hub (fleet.gitops.hub). Adding an engine is adding one module
and one row here.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef
from fleet.gitops import argocd, flux
from fleet.gitops.identity import ClusterIdentity
from fleet.plan import ClusterPlan

Bootstrap = Callable[..., pulumi.ComponentResource]

# engine -> (bootstrap component, the hub's controllers that talk to spokes)
ENGINES: dict[str, tuple[Bootstrap, tuple[ServiceAccountRef, ...]]] = {
    "flux": (flux.FluxBootstrap, flux.CONTROLLER_SERVICE_ACCOUNTS),
    "argocd": (argocd.ArgoCDBootstrap, argocd.CONTROLLER_SERVICE_ACCOUNTS),
}


def controller_service_accounts(engine: str) -> list[ServiceAccountRef]:
    """Kubernetes service accounts of `engine` that reach spokes (federated to the hub identity)."""
    return list(ENGINES[engine][1])


def bootstrap(
    plan: ClusterPlan,
    handle: ClusterHandle,
    identity: ClusterIdentity,
    hub_identity: HubIdentity | None,
    git_token: pulumi.Input[str] | None,
    parent: pulumi.Resource,
) -> pulumi.ComponentResource:
    """Install the cluster's GitOps engine and point it at the fleet repository."""
    component = ENGINES[plan.gitops.engine][0]
    return component(
        plan, handle, identity, hub_identity, git_token, opts=pulumi.ResourceOptions(parent=parent)
    )
