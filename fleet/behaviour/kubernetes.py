"""Behaviour rules for kubernetes: see fleet/behaviour/__init__.py."""

from __future__ import annotations

from collections.abc import Sequence

from fleet.recorded import Resource, ResourceRule, text_value

PROVIDER = "pulumi:providers:kubernetes"


def _truthy(value: object) -> bool:
    """Provider inputs are JSON-encoded by the SDK ('true'); a program may also pass a bool."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _no_delete_unreachable(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A Kubernetes provider never deletes what it cannot reach from the state.

    pulumi-kubernetes made `deleteUnreachable` opt-in "to avoid accidental state deletion for a
    temporarily unreachable cluster" (https://github.com/pulumi/pulumi-kubernetes/pull/2489,
    #2037): with it on, a network blip, an expired CI credential or a runner outside the API
    allow-list during a refresh silently drops Helm releases, FluxInstances and hub registrations
    from the state, and the next `up` collides with the live objects. A cluster that is really
    gone is handled once, by hand (README, Decommission: PULUMI_K8S_DELETE_UNREACHABLE=true for
    one `pulumi refresh`).
    """
    if resource.type != PROVIDER or not _truthy(resource.inputs.get("deleteUnreachable")):
        return []
    cluster = text_value(resource.inputs.get("clusterIdentifier")) or resource.name
    return [f"cluster '{cluster}' ({PROVIDER} '{resource.name}') sets deleteUnreachable: a cluster that is "
            "unreachable for a moment would lose its Kubernetes objects from the state; remove "
            "delete_unreachable from the provider (fleet/clouds/kubeconfig.py) and, for a cluster that is "
            "really gone, run one `pulumi refresh` with PULUMI_K8S_DELETE_UNREACHABLE=true"]


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("no-delete-unreachable",
                 "No Kubernetes provider drops unreachable clusters' objects from the state.",
                 _no_delete_unreachable),
)
