"""Rollout gates: is the previous wave healthy? Pure functions over Kubernetes API objects.

What they read, and where its shape comes from:
- Argo CD Applications (argoproj.io/v1alpha1), on an Argo CD hub: `status.sync.status` must be
  `Synced` and `status.health.status` `Healthy` (application-crd.yaml of argoproj/argo-cd,
  manifests/crds; the values are Argo CD's SyncStatusCode and HealthStatusCode). An Application
  targets a cluster by `spec.destination.name` (the `name` of its cluster Secret, which fleet
  sets to the cluster's name: fleet/gitops/argocd.py) or by `spec.destination.server`, mapped to a
  name through the cluster Secrets' `server`.
- Flux Kustomizations (kustomize.toolkit.fluxcd.io/v1) and HelmReleases (helm.toolkit.fluxcd.io/v2):
  the `Ready` condition of `status.conditions` must be `True` for the object's current generation
  (`status.observedGeneration` == `metadata.generation`: a Ready of an older spec says nothing
  about this one). kustomize.toolkit.fluxcd.io_kustomizations.yaml of fluxcd/kustomize-controller;
  https://fluxcd.io/flux/components/helm/helmreleases/ (status conditions). A Flux hub's
  Kustomization targets a spoke through its identity substitution (`spec.postBuild.substitute.
  CLUSTER_NAME`, fleet/gitops/hub.py) or the `fleet.example.com/hub-registration` label it puts on
  what it applies; objects read from a spoke itself belong to that spoke.
- The version a cluster reports: the `/version` answer of its API server (k8s.io/apimachinery
  version.Info: `major`, `minor`, `gitVersion`; EKS reports a minor such as "35+").

A failed gate names the cluster and the object at fault. Nothing here talks to a cluster: the
command line reads the objects (fleet.gates_reader) and hands them over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ARGO_APPLICATION = ("argoproj.io", "v1alpha1", "applications")
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
FLUX_HELMRELEASE = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")
REGISTRATION_LABEL = "fleet.example.com/hub-registration"


@dataclass(frozen=True)
class Finding:
    cluster: str
    object: str  # "Application argocd/podinfo-demo-us-east-01", "cluster", ...
    reason: str

    def __str__(self) -> str:
        return f"{self.cluster}: {self.object}: {self.reason}"


@dataclass(frozen=True)
class Snapshot:
    """What was read: the hub's objects, each spoke's own Flux objects, the clusters' /version."""

    hub_objects: Sequence[Mapping[str, Any]] = ()
    spoke_objects: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    argocd_servers: Mapping[str, str] = field(default_factory=dict)  # cluster Secret server -> name
    versions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # cluster -> version.Info


def _ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "?")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def application_target(app: Mapping[str, Any], servers: Mapping[str, str]) -> str | None:
    destination = _get(app, "spec", "destination") or {}
    return destination.get("name") or servers.get(destination.get("server", ""))


def application_problem(app: Mapping[str, Any]) -> str | None:
    sync = _get(app, "status", "sync", "status") or "Unknown"
    health = _get(app, "status", "health", "status") or "Unknown"
    if sync == "Synced" and health == "Healthy":
        return None
    detail = _get(app, "status", "health", "message") or _get(app, "status", "operationState", "message")
    return f"sync {sync}, health {health}" + (f" ({_short(detail)})" if detail else "")


def flux_target(obj: Mapping[str, Any]) -> str | None:
    substituted = _get(obj, "spec", "postBuild", "substitute", "CLUSTER_NAME")
    return substituted or (_get(obj, "metadata", "labels") or {}).get(REGISTRATION_LABEL)


def flux_problem(obj: Mapping[str, Any]) -> str | None:
    conditions = _get(obj, "status", "conditions") or []
    ready = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    if ready is None:
        return "no Ready condition yet (not reconciled)"
    generation = _get(obj, "metadata", "generation")
    observed = _get(obj, "status", "observedGeneration")
    if ready.get("status") != "True":
        return f"Ready {ready.get('status')}: {ready.get('reason', '')} {_short(ready.get('message', ''))}".rstrip()
    if generation is not None and observed is not None and observed < generation:
        return f"Ready is for generation {observed}, the object is at {generation} (not reconciled yet)"
    return None


def reported_minor(info: Mapping[str, Any]) -> str | None:
    """'1.35' from a version.Info ({"major": "1", "minor": "35+", "gitVersion": "v1.35.2-eks-..."})."""
    major, minor = str(info.get("major", "")), re.sub(r"\D", "", str(info.get("minor", "")))
    if major.isdigit() and minor:
        return f"{major}.{minor}"
    match = re.match(r"v?(\d+)\.(\d+)", str(info.get("gitVersion", "")))
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _short(text: Any, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def health_findings(clusters: Iterable[str], snapshot: Snapshot) -> list[Finding]:
    """Every GitOps object that targets one of `clusters` and is not synced/healthy/ready; a cluster
    no object targets is a finding too (its registration or its engine is missing)."""
    wanted = set(clusters)
    findings: list[Finding] = []
    seen: set[str] = set()
    for obj in snapshot.hub_objects:
        kind = obj.get("kind")
        if kind == "Application":
            target, problem = application_target(obj, snapshot.argocd_servers), application_problem(obj)
        elif kind in ("Kustomization", "HelmRelease"):
            target, problem = flux_target(obj), flux_problem(obj)
        else:
            continue
        if target in wanted:
            seen.add(target)
            if problem:
                findings.append(Finding(target, _ref(obj), problem))
    for cluster, objects in snapshot.spoke_objects.items():
        if cluster not in wanted:
            continue
        for obj in objects:
            if obj.get("kind") in ("Kustomization", "HelmRelease"):
                seen.add(cluster)
                problem = flux_problem(obj)
                if problem:
                    findings.append(Finding(cluster, _ref(obj), problem))
    findings += [Finding(c, "GitOps", "no Application, Kustomization or HelmRelease targets it")
                 for c in sorted(wanted - seen)]
    return findings


def version_findings(expected: Mapping[str, str], snapshot: Snapshot) -> list[Finding]:
    """Clusters whose API server does not report the minor the new revision declares."""
    findings = []
    for cluster, minor in sorted(expected.items()):
        info = snapshot.versions.get(cluster)
        reported = reported_minor(info) if info else None
        if reported is None:
            findings.append(Finding(cluster, "version", "reported no version (not reachable?)"))
        elif reported != minor:
            findings.append(Finding(cluster, "version", f"reports Kubernetes {reported}, the rollout declares {minor}"))
    return findings


def evaluate(expected: Mapping[str, str], snapshot: Snapshot, health: bool = True,
             versions: bool = True) -> list[Finding]:
    """The gates of one wave: `expected` maps its clusters to the minor they should run."""
    return ((health_findings(expected, snapshot) if health else [])
            + (version_findings(expected, snapshot) if versions else []))


def items(document: Any) -> list[Mapping[str, Any]]:
    """The objects of a `kubectl get -o json` answer (a List) or of a single object."""
    if isinstance(document, Mapping) and isinstance(document.get("items"), list):
        return [i for i in document["items"] if isinstance(i, Mapping)]
    return [document] if isinstance(document, Mapping) and document.get("kind") else []
