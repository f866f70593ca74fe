"""The identity guard: a ValidatingAdmissionPolicy on every cluster that refuses namespaces and
workloads declaring where they may run (fleet placement labels) when the cluster's own identity
(ConfigMap kube-system/cluster-identity, the policy's parameter) says otherwise. Pure: the
manifests as data, written by fleet.gitops.identity, judged by fleet.behaviour.kubernetes and
fleet.targets (which reads the same labels in the fleet repository before anything is applied).

Placement labels (README, "Placement labels"), each optional, each one value:

    placement.fleet.example.com/compliance   the cluster's COMPLIANCE   (region label `compliance`)
    placement.fleet.example.com/environment  the cluster's ENVIRONMENT  (ClusterSet spec.environment)
    placement.fleet.example.com/region       the cluster's REGION       (region entry name)
    placement.fleet.example.com/cloud        the cluster's CLOUD        (aws | azure | gcp)

An object carrying one is admitted only where the identity holds that key with that value; a
cluster without a `compliance` label has no COMPLIANCE key, so anything placed for `gdpr` is
refused there. Objects without placement labels are not judged at all.

Kubernetes semantics relied on (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/,
admissionregistration.k8s.io/v1, GA in 1.30):
- paramKind ConfigMap v1 with paramRef name/namespace: `params` is the ConfigMap object, so the
  identity is `params.data`; parameterNotFoundAction Deny refuses a matched request when the
  ConfigMap is missing (fail closed: a cluster whose identity was deleted admits no placed object).
- failurePolicy Fail: an expression error or a misconfigured binding refuses instead of letting a
  misplaced object in. matchConditions narrow the policy to objects that carry a placement label
  (an error there also follows failurePolicy, so they test has() first), and the namespaceSelector
  keeps kube-system out entirely: nothing else on the cluster, the GitOps engines included, can
  ever be blocked by this policy, whatever happens to the identity.
- For a Namespace request the namespaceSelector is matched against the namespace object itself.
- CREATE and UPDATE: relabelling an existing object is judged like creating it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.identity_data import IDENTITY_NAME, IDENTITY_NAMESPACE

PREFIX = "placement.fleet.example.com/"
# placement label (after the prefix) -> cluster-identity key it must equal
PLACEMENT_KEYS: Mapping[str, str] = {
    "compliance": "COMPLIANCE",
    "environment": "ENVIRONMENT",
    "region": "REGION",
    "cloud": "CLOUD",
}
POLICY_NAME = "fleet-identity-guard"
API_VERSION = "admissionregistration.k8s.io/v1"
EXEMPT_NAMESPACES = ("kube-system",)

RESOURCE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("namespaces", "pods")),
    ("apps", ("deployments", "statefulsets", "daemonsets", "replicasets")),
    ("batch", ("jobs", "cronjobs")),
)

_OBJECT_LABELS = "has(object.metadata.labels) ? object.metadata.labels : {}"


def _present(path: str) -> str:
    """has() for every step of a field path: CEL's has() tests the last field only."""
    parts = path.split(".")
    return " && ".join(f"has({'.'.join(parts[:i])})" for i in range(2, len(parts) + 1))


# The pod template's labels (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job: spec.template;
# CronJob: spec.jobTemplate.spec.template), found by shape rather than by kind.
_POD_TEMPLATE = "object.spec.template.metadata.labels"
_JOB_TEMPLATE = "object.spec.jobTemplate.spec.template.metadata.labels"
_TEMPLATE_LABELS = (f"{_present(_POD_TEMPLATE)} ? {_POD_TEMPLATE} : "
                    f"({_present(_JOB_TEMPLATE)} ? {_JOB_TEMPLATE} : {{}})")


def placement(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The placement a set of labels declares: {'compliance': 'gdpr', ...}."""
    return {key.removeprefix(PREFIX): value for key, value in (labels or {}).items()
            if key.startswith(PREFIX) and key.removeprefix(PREFIX) in PLACEMENT_KEYS}


def misplacement(declared: Mapping[str, str], identity: Mapping[str, str | None]) -> list[str]:
    """What in `declared` (a placement) the identity does not satisfy, one text per key; the same
    decision the policy's CEL makes (tests evaluate both on the same samples)."""
    wrong = []
    for key, value in sorted(declared.items()):
        have = identity.get(PLACEMENT_KEYS[key])
        if have != value:
            wrong.append(f"{PREFIX}{key}={value} but the cluster's {PLACEMENT_KEYS[key]} is "
                         + (repr(have) if have is not None else "not set"))
    return wrong


def _validation(key: str, identity_key: str) -> dict[str, str]:
    label = f"{PREFIX}{key}"
    return {
        "expression": (f"variables.placed.all(labels, !('{label}' in labels) || "
                       f"('{identity_key}' in variables.identity && "
                       f"variables.identity['{identity_key}'] == labels['{label}']))"),
        "messageExpression": (f"'{label} does not match this cluster: its {identity_key} is ' + "
                              f"('{identity_key}' in variables.identity ? "
                              f"\"'\" + variables.identity['{identity_key}'] + \"'\" : 'not set') + "
                              "' (kube-system/cluster-identity)'"),
        "reason": "Forbidden",
    }


def policy() -> dict[str, Any]:
    """The ValidatingAdmissionPolicy: placement labels on the object or its pod template must
    match the identity ConfigMap (the binding's parameter)."""
    has_placement = f"labels.exists(key, key.startsWith('{PREFIX}'))"
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {
                "namespaceSelector": {"matchExpressions": [{
                    "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(EXEMPT_NAMESPACES)}]},
                "resourceRules": [
                    {"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                     "resources": list(resources)}
                    for group, resources in RESOURCE_RULES
                ],
            },
            "matchConditions": [{
                "name": "declares-placement",
                "expression": f"[{_OBJECT_LABELS}, {_TEMPLATE_LABELS}].exists(labels, {has_placement})",
            }],
            "variables": [
                {"name": "placed", "expression": f"[{_OBJECT_LABELS}, {_TEMPLATE_LABELS}]"},
                {"name": "identity", "expression": "has(params.data) ? params.data : {}"},
            ],
            "validations": [_validation(key, identity_key) for key, identity_key in PLACEMENT_KEYS.items()],
        },
    }


def binding() -> dict[str, Any]:
    """The binding: the cluster's own identity ConfigMap as the parameter, refusing (Deny)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "policyName": POLICY_NAME,
            "validationActions": ["Deny"],
            "paramRef": {"name": IDENTITY_NAME, "namespace": IDENTITY_NAMESPACE,
                         "parameterNotFoundAction": "Deny"},
        },
    }
