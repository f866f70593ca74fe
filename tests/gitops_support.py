"""Helpers of the GitOps tests: a label-selector evaluator, Flux-style substitution, synth objects,
kustomize builds and schema validation against upstream CRDs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from fleet.plan import ClusterPlan
from fleet.stack import PROJECT_DIR, plan_stack, read_stack_file

GITOPS = PROJECT_DIR / "gitops"
SHARED_CRDS = PROJECT_DIR.parent / "shared" / "schemas" / "crds"
KUBECTL = shutil.which("kubectl")
SECRET_TYPE = "argocd.argoproj.io/secret-type"


# --- Kubernetes label selectors (metav1.LabelSelector semantics) -----------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """matchLabels AND every matchExpression (In, NotIn, Exists, DoesNotExist). An empty selector
    matches everything (as the ApplicationSet cluster generator does)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {operator}")
    return True


# --- Flux post-build substitution (the subset the fleet repository uses) ---------------------

_VARIABLE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)(?::=([^}]*))?\}")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """${VAR} and ${VAR:=default}, as kustomize-controller's envsubst resolves them."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(2) or ""), text)


# --- synth output --------------------------------------------------------------------------

NOT_OBJECTS = (
    "kubernetes:helm.sh/",
    "kubernetes:yaml:",
    "kubernetes:yaml/",
    "kubernetes:kustomize:",
    "kubernetes:kustomize/",
)


def kubernetes_objects(synth: dict) -> list[tuple[dict, dict]]:
    """(resource record, object body) of every Kubernetes object the program declares."""
    found = []
    for resource in synth["resources"]:
        if not resource["custom"] or not resource["type"].startswith("kubernetes:"):
            continue
        if resource["type"].startswith(NOT_OBJECTS) or "kind" not in resource["inputs"]:
            continue
        found.append((resource, resource["inputs"]))
    return found


def cluster_of(synth: dict) -> dict[str, str]:
    """Kubernetes provider URN -> cluster name (its clusterIdentifier)."""
    return {
        r["urn"]: r["inputs"].get("clusterIdentifier")
        for r in synth["resources"]
        if r["type"] == "pulumi:providers:kubernetes"
    }


def objects_by(synth: dict, kind: str) -> list[tuple[str, dict, dict]]:
    """(cluster, record, body) of every object of `kind`."""
    clusters = cluster_of(synth)
    return [
        (clusters.get(r["provider"]), r, body)
        for r, body in kubernetes_objects(synth)
        if body["kind"] == kind
    ]


def argocd_registrations(synth: dict) -> dict[str, dict]:
    """Argo CD cluster Secrets: spoke name (stringData.name) -> Secret body."""
    found = {}
    for _cluster, _record, body in objects_by(synth, "Secret"):
        if (body["metadata"].get("labels") or {}).get(SECRET_TYPE) == "cluster":
            found[body["metadata"]["name"].removeprefix("cluster-")] = body
    return found


def normalise_numbers(value: Any) -> Any:
    """The engine's wire format has only doubles: 10.0 -> 10, as the API server would see it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalise_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_numbers(v) for v in value]
    return value


# --- the reference repository ---------------------------------------------------------------


def kustomization_dirs() -> list[Path]:
    return sorted(p.parent for p in GITOPS.rglob("kustomization.yaml"))


def load_kustomization(folder: Path) -> dict:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def kustomize_build(folder: Path, components: Iterable[str] = ()) -> list[dict]:
    """`kubectl kustomize` of `folder`, with Components added the way Flux and Argo CD add them
    (appended to the folder's kustomization.yaml, missing ones dropped: ignoreMissingComponents).
    With components, `folder` must be inside a scratch copy of the repository: it is rewritten."""
    assert KUBECTL, "kubectl is not installed"
    present = [c for c in components if (folder / c / "kustomization.yaml").is_file()]
    if present:
        kustomization = load_kustomization(folder)
        kustomization["components"] = [*kustomization.get("components", []), *present]
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    text = _run([KUBECTL, "kustomize", str(folder)])
    return [d for d in yaml.safe_load_all(text) if d]


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result.stdout


# --- schemas --------------------------------------------------------------------------------

APACHE_CRDS = {  # (group, kind) -> file: copyable, but read from ../shared like the others
    ("argoproj.io", "Application"): "application-crd.yaml",
    ("argoproj.io", "ApplicationSet"): "applicationset-crd.yaml",
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    ("source.toolkit.fluxcd.io", "GitRepository"): "source.toolkit.fluxcd.io_gitrepositories.yaml",
    ("source.toolkit.fluxcd.io", "OCIRepository"): "source.toolkit.fluxcd.io_ocirepositories.yaml",
}
AGPL_CRDS = {("fluxcd.controlplane.io", "FluxInstance"): "fluxcd.controlplane.io_fluxinstances.yaml"}
CRD_FILES = {**APACHE_CRDS, **AGPL_CRDS}


@cache
def crd_schema(group: str, kind: str, version: str) -> dict | None:
    """openAPIV3Schema of one served version, read from ../shared/schemas/crds (never copied)."""
    name = CRD_FILES.get((group, kind))
    if name is None or not (SHARED_CRDS / name).is_file():
        return None
    crd = yaml.safe_load((SHARED_CRDS / name).read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return served["schema"]["openAPIV3Schema"]
    raise AssertionError(f"{name} has no version {version}")


def validate_custom(body: dict) -> None:
    group, _, version = body["apiVersion"].rpartition("/")
    schema = crd_schema(group, body["kind"], version)
    assert schema is not None, f"no CRD for {body['apiVersion']} {body['kind']}"
    jsonschema.validate(normalise_numbers(body), schema, cls=jsonschema.Draft7Validator)


def has_crd(body: dict) -> bool:
    group = body["apiVersion"].rpartition("/")[0]
    return (group, body["kind"]) in CRD_FILES


CORE_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
        "scheduling.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
    }
)


def is_core(body: dict) -> bool:
    """Kinds of Kubernetes itself (kubernetes-validate ships their schemas)."""
    return body["apiVersion"].rpartition("/")[0] in CORE_GROUPS


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- the example stacks' clusters, and what each add-on is meant for ------------------------


def example_plans() -> dict[str, ClusterPlan]:
    """Every cluster of the prod and staging stacks, by name."""
    found = {}
    for stack in ("prod", "staging"):
        config, _ = read_stack_file(PROJECT_DIR, stack)
        result = plan_stack(config, PROJECT_DIR)
        assert not result.problems
        found |= {c.name: c for c in result.plan.clusters}
    return found


# What each add-on is for, as a decision on the cluster's plan (not on any label).
INTENDED: dict[str, Callable[[ClusterPlan], bool]] = {
    "gatekeeper": lambda c: c.policy_engine == "OPA",
    "kyverno": lambda c: c.policy_engine == "Kyverno",
    "trivy-operator": lambda c: c.image_scanning,
    "kube-prometheus-stack": lambda c: c.prometheus,
    "opentelemetry-operator": lambda c: c.opentelemetry,
    "cilium": lambda c: c.cni == "cilium" and c.provider == "aws",
    "workload-baseline": lambda c: c.role == "spoke",
    "production-guardrails": lambda c: c.environment == "production",
    "compliance-gdpr": lambda c: c.identity.get("COMPLIANCE") == "gdpr",
}


def synth_both_ways(source: Path) -> tuple[dict, dict[str, dict], Any]:
    """One run of the real program over the declaration file `source` with prod's settings: the synth
    document as written (secrets redacted), every resource's inputs revealed by name, and the plan."""
    from fleet.synth import synthesize
    from fleet.synth.output import synth_document

    config, _ = read_stack_file(PROJECT_DIR, "prod")
    result = synthesize(PROJECT_DIR, config.with_declaration_files([str(source)]))
    assert not result.problems and result.program_error is None, result.program_error
    redacted = json.loads(json.dumps(synth_document(result.recording, result.stack.plan)))
    revealed = synth_document(result.recording, result.stack.plan, show_secrets=True)
    return redacted, {r["name"]: r["inputs"] for r in revealed["resources"]}, result.stack.plan

