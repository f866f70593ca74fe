"""The hub as a shard stack sees it: rebuilt from the environment stack's outputs.

The environment's stack exports what its shards need of each hub (`hub_outputs`): where it is, its
egress, its GitOps controllers' cloud identity, and its kubeconfig and the fleet repository token
as Pulumi secrets. A shard reads them through `pulumi.StackReference`, whose outputs keep their
secrecy (https://www.pulumi.com/docs/iac/concepts/stacks/#stackreferences), and `RemoteHub` turns
them back into the same handle, identity and bootstrap facts that an in-stack hub gives the
registrar (fleet.fleet.HubSide), so a spoke registers the same way in either layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pulumi

from fleet.clouds.base import ClusterHandle, HubIdentity
from fleet.clouds.kubeconfig import cluster_provider
from fleet.gitops import flux
from fleet.plan import ClusterPlan

HUBS_OUTPUT = "hubs"
HUB_KUBECONFIGS_OUTPUT = "hubKubeconfigs"
GIT_TOKEN_OUTPUT = "gitToken"
# HubIdentity.details keys per cloud that grant_hub_access reads (fleet/clouds/<cloud>.py hub_identity
# and federated_hub_identity both have them); a shard must know them before the outputs resolve.
# tests/test_shards_synth.py checks them against an environment synth.
IDENTITY_DETAILS = {"aws": ("role_name",), "azure": ("client_id", "tenant_id", "principal_id", "resource_id"),
                    "gcp": ("project", "member")}


def hub_outputs(handle: ClusterHandle, identities: Mapping[str, HubIdentity]) -> dict[str, Any]:
    """One hub's entry of the environment stack's `hubs` output (no secret in it): `identities` holds
    the hub controllers' identity in each cloud its spokes are on (fleet.gitops.hub.hub_identities)."""
    exported: dict[str, Any] = {
        "provider": handle.provider, "location": handle.location, "endpoint": handle.endpoint,
        "hubServer": handle.hub_server, "caData": handle.ca_data, "oidcIssuer": handle.oidc_issuer,
        "resourceId": handle.resource_id, "account": handle.account, "egressCidrs": handle.egress_cidrs,
        "identities": {cloud: _identity_output(identity) for cloud, identity in identities.items()},
        # the identity on the hub's own cloud, as before federated identities were exported
        "identity": _identity_output(identities[handle.provider]) if handle.provider in identities else None,
    }
    return exported


def _identity_output(identity: HubIdentity) -> dict[str, Any]:
    return {"provider": identity.provider, "principal": identity.principal, "details": dict(identity.details)}


def stack_reference_name(environment_stack: str) -> str:
    """`<organization>/<project>/<stack>`: the fully qualified name works on every backend
    (self-managed backends use the literal organization `organization`)."""
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{environment_stack}"


class _OutputDetails(Mapping[str, pulumi.Output[Any]]):
    """HubIdentity.details whose values arrive through the stack reference."""

    def __init__(self, details: pulumi.Output[dict[str, Any]], keys: tuple[str, ...]) -> None:
        self._details, self._keys = details, keys

    def __getitem__(self, key: str) -> pulumi.Output[Any]:
        if key not in self._keys:
            raise KeyError(key)
        return self._details.apply(lambda details: details[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class RemoteHub(pulumi.ComponentResource):
    """A hub declared by the environment's stack, as its shards use it: a Kubernetes provider for
    the hub built from its (secret) kubeconfig, its handle and its identity. Nothing here creates
    anything on the hub or in a cloud."""

    def __init__(self, plan: ClusterPlan, reference: pulumi.StackReference, spoke_clouds: tuple[str, ...],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:index:HubRef", plan.name, None, opts)
        name = plan.name
        hub = reference.require_output(HUBS_OUTPUT).apply(lambda hubs: hubs[name])
        kubeconfig = pulumi.Output.secret(reference.require_output(HUB_KUBECONFIGS_OUTPUT)
                                          .apply(lambda configs: configs[name]))

        def field(key: str) -> pulumi.Output[Any]:
            return hub.apply(lambda values: values[key])

        self.handle = ClusterHandle(
            name=name, provider=plan.provider, location=plan.location, endpoint=field("endpoint"),
            hub_server=field("hubServer"), ca_data=field("caData"), kubeconfig=kubeconfig,
            oidc_issuer=field("oidcIssuer"), resource_id=field("resourceId"), account=field("account"),
            egress_cidrs=field("egressCidrs"), k8s_provider=cluster_provider(name, kubeconfig, parent=self),
        )
        self.identities: dict[str, HubIdentity] = {}
        for cloud in spoke_clouds:
            identity = field("identities").apply(lambda identities, cloud=cloud: identities[cloud])
            self.identities[cloud] = HubIdentity(
                provider=cloud, principal=identity.apply(lambda i: i["principal"]),
                details=_OutputDetails(identity.apply(lambda i: i["details"]), IDENTITY_DETAILS[cloud]),
            )
        # What the registrar reads of a hub's bootstrap: its readiness lives in the environment's
        # stack (deployed first), and a Flux hub's source is named from the plan alone.
        self.ready: list[pulumi.Resource] = []
        if plan.gitops.engine == "flux":
            self.source = {"kind": flux.source_kind(plan.gitops.repository_url), "name": flux.SYNC_NAME,
                           "namespace": flux.NAMESPACE}
        self.register_outputs({"hub": name})
