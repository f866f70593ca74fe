"""The identity guard: its CEL is evaluated (cel-python) against sample objects and identities,
accepted and refused; its objects validate against the Kubernetes OpenAPI schema
(kubernetes-validate); every cluster of both stacks carries it, installed before its GitOps engine
(rule identity-guard-before-engine), and the README documents the placement labels."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import pytest

from fleet import guard
from fleet.behaviour.kubernetes import RULES
from fleet.recorded import Stack
from fleet.stack import PROJECT_DIR
from tests.gitops_support import cluster_of, kubernetes_objects

celpy = pytest.importorskip("celpy", reason="cel-python is not installed (pip install -e '.[test]')")
from celpy import celtypes  # noqa: E402

KUBERNETES_VERSION = "1.35.0"
P = guard.PREFIX
US_PROD = {"CLUSTER_NAME": "production-fleet-us-east-01", "ENVIRONMENT": "production", "REGION": "us-east",
           "CLOUD": "aws"}
EU_GDPR = {"CLUSTER_NAME": "production-fleet-eu-west-01", "ENVIRONMENT": "production", "REGION": "eu-west",
           "CLOUD": "azure", "COMPLIANCE": "gdpr"}
STAGING = {"CLUSTER_NAME": "staging-fleet-us-east-01", "ENVIRONMENT": "staging", "REGION": "us-east", "CLOUD": "aws"}


# --- an admission request, judged as the API server would ---------------------------------------

_environment = celpy.Environment()


def _evaluate(expression: str, activation: Mapping[str, Any]) -> Any:
    return _environment.program(_environment.compile(expression)).evaluate(dict(activation))


def _in_scope(body: Mapping[str, Any], namespace: str) -> bool:
    """matchConstraints: the resource rules and the namespace selector (for a Namespace, itself)."""
    spec = guard.policy()["spec"]["matchConstraints"]
    resource = {"Namespace": ("", "namespaces"), "Pod": ("", "pods"), "Deployment": ("apps", "deployments"),
                "StatefulSet": ("apps", "statefulsets"), "DaemonSet": ("apps", "daemonsets"),
                "ReplicaSet": ("apps", "replicasets"), "Job": ("batch", "jobs"),
                "CronJob": ("batch", "cronjobs")}.get(body["kind"])
    if resource is None or not any(resource[0] in r["apiGroups"] and resource[1] in r["resources"]
                                   for r in spec["resourceRules"]):
        return False
    exempt = spec["namespaceSelector"]["matchExpressions"][0]["values"]
    own = body["metadata"]["name"] if body["kind"] == "Namespace" else namespace
    return own not in exempt


def admit(body: Mapping[str, Any], identity: Mapping[str, str] | None,
          namespace: str = "apps") -> tuple[bool, list[str]]:
    """(admitted, messages) for a CREATE of `body` on a cluster with that identity ConfigMap data
    (None: the ConfigMap does not exist)."""
    if not _in_scope(body, namespace):
        return True, []
    spec = guard.policy()["spec"]
    activation: dict[str, Any] = {"object": celpy.json_to_cel(dict(body))}
    if not all(bool(_evaluate(c["expression"], activation)) for c in spec["matchConditions"]):
        return True, []
    if identity is None:  # parameterNotFoundAction: Deny
        assert guard.binding()["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
        return False, ["no params found for the binding (the identity ConfigMap is missing)"]
    activation["params"] = celpy.json_to_cel({"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": "cluster-identity"}, "data": dict(identity)})
    variables = {}
    for variable in spec["variables"]:
        activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
        variables[variable["name"]] = _evaluate(variable["expression"], activation)
    activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    messages = [str(_evaluate(v["messageExpression"], activation))
                for v in spec["validations"] if not bool(_evaluate(v["expression"], activation))]
    return not messages, messages


def deployment(labels: Mapping[str, str] | None = None, template: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "app", "namespace": "apps"}
    if labels is not None:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x", **(template or {})}},
                                  "spec": {"containers": [{"name": "x", "image": "x:1"}]}}}}


# --- accepted and refused -------------------------------------------------------------------------


def test_gdpr_workload_refused_outside_gdpr_clusters() -> None:
    body = deployment({f"{P}compliance": "gdpr"})
    assert admit(body, EU_GDPR) == (True, [])
    admitted, messages = admit(body, US_PROD)
    assert not admitted
    assert messages == [f"{P}compliance does not match this cluster: its COMPLIANCE is not set "
                        "(kube-system/cluster-identity)"]


def test_pod_template_placement_is_judged_on_the_workload() -> None:
    body = deployment(template={f"{P}environment": "production"})
    assert admit(body, US_PROD)[0]
    admitted, messages = admit(body, STAGING)
    assert not admitted and "its ENVIRONMENT is 'staging'" in messages[0]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "apps"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {f"{P}region": "eu-west"}},
                "spec": {"containers": [{"name": "x", "image": "x:1"}], "restartPolicy": "Never"}}}}}}
    assert admit(cron, EU_GDPR)[0]
    assert not admit(cron, US_PROD)[0]


def test_namespace_placement_and_every_key() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "payments", "labels": {f"{P}environment": "production", f"{P}cloud": "azure",
                                                             f"{P}region": "eu-west"}}}
    assert admit(namespace, EU_GDPR)[0]
    admitted, messages = admit(namespace, US_PROD)
    assert not admitted and len(messages) == 2  # region and cloud, each named
    assert {m.split(" ")[0] for m in messages} == {f"{P}region", f"{P}cloud"}


def test_objects_without_placement_are_never_judged() -> None:
    """Nothing else can be blocked: no placement label, no judgement, even without an identity."""
    assert admit(deployment(), None) == (True, [])
    assert admit(deployment({"app": "x"}), None) == (True, [])
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
            "spec": {"containers": [{"name": "x", "image": "x:1"}]}}
    assert admit(bare, US_PROD) == (True, [])
    system = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": "kube-system", "labels": {f"{P}compliance": "gdpr"}}}
    assert admit(system, US_PROD) == (True, [])  # kube-system is outside the policy
    in_system = deployment({f"{P}compliance": "gdpr"})
    assert admit(in_system, US_PROD, namespace="kube-system") == (True, [])


def test_shapes_without_a_pod_template_evaluate_without_error() -> None:
    """The template labels are found by shape (has() at every step), never by kind: a Namespace
    with a spec, a Pod, a Deployment whose template has no metadata all evaluate cleanly."""
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "n", "labels": {f"{P}region": "us-east"}}, "spec": {"finalizers": ["kubernetes"]}}
    assert admit(namespace, US_PROD) == (True, [])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps",
                                                          "labels": {f"{P}cloud": "gcp"}},
           "spec": {"containers": [{"name": "x", "image": "x:1"}]}}
    assert not admit(pod, US_PROD)[0]
    bare = deployment({f"{P}cloud": "aws"})
    del bare["spec"]["template"]["metadata"]
    assert admit(bare, US_PROD) == (True, [])


def test_missing_identity_refuses_placed_objects() -> None:
    admitted, messages = admit(deployment({f"{P}environment": "production"}), None)
    assert not admitted and "identity ConfigMap is missing" in messages[0]
    assert not admit(deployment({f"{P}environment": "production"}), {})[0]  # a ConfigMap without data


@pytest.mark.parametrize("identity", [US_PROD, EU_GDPR, STAGING, {}])
def test_cel_decides_as_fleet_does(identity: Mapping[str, str]) -> None:
    """The CEL and fleet.guard.misplacement (what `fleet targets` uses before merge) agree on every
    combination of placements."""
    values = {"compliance": ["gdpr", "hipaa"], "environment": ["production", "staging"],
              "region": ["us-east", "eu-west"], "cloud": ["aws", "azure"]}
    keys = list(values)
    for size in range(0, 3):
        for chosen in itertools.combinations(keys, size):
            for picked in itertools.product(*(values[k] for k in chosen)):
                declared = dict(zip(chosen, picked, strict=True))
                labels = {f"{P}{k}": v for k, v in declared.items()}
                admitted, messages = admit(deployment(labels), identity)
                assert admitted == (not guard.misplacement(declared, identity)), (declared, identity)
                assert len(messages) == len(guard.misplacement(declared, identity))


# --- schemas --------------------------------------------------------------------------------------


def test_guard_objects_validate_against_the_kubernetes_schema() -> None:
    kubernetes_validate.validate(guard.policy(), KUBERNETES_VERSION, strict=True)
    kubernetes_validate.validate(guard.binding(), KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(guard.binding())
    broken["spec"]["paramRef"]["parameterNotFoundAction"] = ["Deny"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    misspelt = copy.deepcopy(guard.policy())
    misspelt["spec"]["matchCondition"] = misspelt["spec"].pop("matchConditions")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


# --- on every cluster, before the engine ------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_cluster_carries_the_guard(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    synth = {"prod": prod_synth, "staging": staging_synth}[stack]
    clusters = cluster_of(synth)
    guarded: dict[str, set[str]] = {}
    for record, body in kubernetes_objects(synth):
        if body["kind"] in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") \
                and body["metadata"]["name"] == guard.POLICY_NAME:
            guarded.setdefault(clusters[record["provider"]], set()).add(body["kind"])
            assert body["spec"] == (guard.policy() if body["kind"] == "ValidatingAdmissionPolicy"
                                    else guard.binding())["spec"]
    assert set(guarded) == {c["name"] for c in synth["clusters"]}
    assert all(kinds == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} for kinds in guarded.values())


def _rule(stack: Stack) -> list[str]:
    rule = next(r for r in RULES if r.id == "identity-guard-before-engine")
    return [m for resource in stack for m in rule.check(resource, stack)]


def test_engine_waits_for_the_guard(prod_synth: dict, staging_synth: dict) -> None:
    assert _rule(Stack.from_synth(prod_synth)) == []
    assert _rule(Stack.from_synth(staging_synth)) == []
    early = copy.deepcopy(prod_synth)
    releases = [r for r in early["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"
                and r["inputs"].get("chart") in ("argo-cd", "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator")]
    assert len(releases) == len(early["clusters"])
    for release in releases:
        release["dependencies"] = [d for d in release["dependencies"]
                                   if "identity-guard" not in d and "cluster-identity" not in d]
    messages = _rule(Stack.from_synth(early))
    assert len(messages) == len(releases)
    assert all("does not wait for" in m and "identity-guard" in m for m in messages)
    unguarded = copy.deepcopy(prod_synth)
    unguarded["resources"] = [r for r in unguarded["resources"] if "ValidatingAdmissionPolicyBinding" not in r["type"]]
    assert all("the binding missing" in m for m in _rule(Stack.from_synth(unguarded)))


def test_readme_documents_the_placement_labels() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("### Placement labels")[1].split("\n## ")[0]
    for key, identity_key in guard.PLACEMENT_KEYS.items():
        assert f"`{P}{key}`" in section and f"`{identity_key}`" in section
