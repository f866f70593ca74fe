"""Behaviour rules for kubernetes: see fleet/behaviour/__init__.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fleet import guard
from fleet.identity_data import IDENTITY_NAME, IDENTITY_NAMESPACE
from fleet.recorded import Resource, ResourceRule, Stack, lookup, text_value

PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
# The GitOps engines' charts (fleet.gitops.flux.OPERATOR_CHART, fleet.gitops.argocd.CHART).
ENGINE_CHARTS = ("oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator", "argo-cd")


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


def _named(resources: Sequence[Resource], cluster: str, type_: str, name: str,
           namespace: str | None = None) -> list[Resource]:
    return [r for r in (resources.of_type(type_) if isinstance(resources, Stack) else
                        [x for x in resources if x.type == type_])
            if r.kubernetes_cluster == cluster and lookup(r.inputs, "metadata.name") == name
            and (namespace is None or lookup(r.inputs, "metadata.namespace") == namespace)]


def _guard_problems(policy: Mapping, binding: Mapping) -> list[str]:
    """What the recorded policy and binding must hold for the guard to judge with the identity."""
    wrong = []
    if lookup(policy, "spec.paramKind") != {"apiVersion": "v1", "kind": "ConfigMap"}:
        wrong.append("the policy's paramKind is not ConfigMap v1")
    if lookup(policy, "spec.failurePolicy") != "Fail":
        wrong.append("the policy's failurePolicy is not Fail")
    ref = lookup(binding, "spec.paramRef") or {}
    if (ref.get("name"), ref.get("namespace")) != (IDENTITY_NAME, IDENTITY_NAMESPACE):
        wrong.append(f"the binding's paramRef is not {IDENTITY_NAMESPACE}/{IDENTITY_NAME}")
    if ref.get("parameterNotFoundAction") != "Deny":
        wrong.append("the binding does not Deny when the identity is missing (parameterNotFoundAction)")
    if "Deny" not in (lookup(binding, "spec.validationActions") or []):
        wrong.append("the binding's validationActions do not Deny")
    return wrong


def _identity_guard_before_engine(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """Every cluster's GitOps engine starts after the identity guard that refuses misplaced objects.

    A ValidatingAdmissionPolicy only judges requests once it and its binding exist, and it reads
    its parameter (paramKind ConfigMap) at admission time; with parameterNotFoundAction Deny a
    missing parameter refuses (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/,
    "Parameter resources"). If the engine's chart is installed first, its first sync may place
    objects for another compliance zone or environment before anything can refuse them (the
    seed's war story: EU-only configuration reached US clusters). So the engine's Release waits
    for the identity ConfigMap, the policy and its binding on the same cluster (fleet.guard).
    """
    if resource.type != RELEASE or resource.inputs.get("chart") not in ENGINE_CHARTS:
        return []
    cluster = resource.kubernetes_cluster
    if not cluster:
        return []
    where = f"cluster '{cluster}' ({RELEASE} '{resource.name}')"
    config_maps = _named(stack, cluster, CONFIG_MAP, IDENTITY_NAME, IDENTITY_NAMESPACE)
    policies = _named(stack, cluster, POLICY, guard.POLICY_NAME)
    bindings = _named(stack, cluster, BINDING, guard.POLICY_NAME)
    if not (config_maps and policies and bindings):
        missing = [what for what, found in (("the identity ConfigMap", config_maps), ("the policy", policies),
                                            ("the binding", bindings)) if not found]
        return [f"{where} installs the GitOps engine but the identity guard is incomplete ({', '.join(missing)} "
                "missing): declare fleet.gitops.identity.ClusterIdentity's policy and binding on every cluster"]
    messages = [f"{where}: identity guard: {text}" for text in _guard_problems(policies[0].inputs, bindings[0].inputs)]
    waits = stack.waits_for if isinstance(stack, Stack) else Stack(stack).waits_for
    late = [r for r in (config_maps[0], policies[0], bindings[0]) if not waits(resource, r.urn)]
    if late:
        messages.append(f"{where} does not wait for {', '.join(r.name for r in late)}: the engine's first sync could "
                        "place objects before the identity guard refuses misplaced ones; make the Release depend on "
                        "ClusterIdentity.ready (fleet.gitops.flux / fleet.gitops.argocd)")
    if not waits(bindings[0], config_maps[0].urn):
        messages.append(f"{where}: the identity guard's binding does not wait for the identity ConfigMap: with "
                        "parameterNotFoundAction Deny every placed object is refused until it exists")
    return messages


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("identity-guard-before-engine",
                 "Every cluster's GitOps engine starts after the identity guard (policy, binding, identity).",
                 _identity_guard_before_engine, needs_stack=True),
    ResourceRule("no-delete-unreachable",
                 "No Kubernetes provider drops unreachable clusters' objects from the state.",
                 _no_delete_unreachable),
)
