"""Write a recording as the synth contract (CONTRACTS section 4): resources.json + manifests/."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from fleet.plan import ClusterPlan, FleetPlan
from fleet.synth.engine import REDACTED, Record, Recording, clean

K8S_PROVIDER_TYPE = "pulumi:providers:kubernetes"
# libyaml's emitter when PyYAML has it (six times faster for the hundreds of manifests of a big fleet)
MANIFEST_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Helm releases and YAML/kustomize bundles are not objects of their own (their contents are not ours).
NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml:", "kubernetes:yaml/", "kubernetes:kustomize:",
               "kubernetes:kustomize/")


def cluster_entry(cluster: ClusterPlan) -> dict[str, Any]:
    return {
        "name": cluster.name,
        "provider": cluster.provider,
        "location": cluster.location,
        "region": cluster.region,
        "role": cluster.role,
        "engine": cluster.gitops.engine,
        "kubernetesVersion": cluster.kubernetes_version,
        "hub": cluster.hub,
        "labels": dict(cluster.labels),
    }


def resource_entry(record: Record, show_secrets: bool) -> dict[str, Any]:
    entry = {
        "urn": record.urn,
        "type": record.type,
        "name": record.name,
        "parent": record.parent,
        "provider": record.provider,
        "dependencies": record.dependencies,
        "protect": record.protect,
        "custom": record.custom,
        "inputs": clean(record.inputs, show_secrets),
    }
    if record.options:
        entry["options"] = record.options
    return entry


def synth_document(recording: Recording, plan: FleetPlan, show_secrets: bool = False) -> dict[str, Any]:
    return {
        "project": recording.project,
        "stack": recording.stack,
        "clusters": [cluster_entry(c) for c in plan.clusters],
        # by URN: registration order depends on when outputs resolve, and a review wants stable files
        "resources": [resource_entry(r, show_secrets) for r in sorted(recording.records, key=lambda r: r.urn)],
        "outputs": clean(recording.outputs, show_secrets),
    }


def kubernetes_objects(recording: Recording, show_secrets: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every Kubernetes object the program declares, per cluster (by its provider's clusterIdentifier)."""
    cluster_of_provider = {
        r.urn: clean(r.inputs).get("clusterIdentifier") for r in recording.records if r.type == K8S_PROVIDER_TYPE
    }
    objects: dict[str, list[dict[str, Any]]] = {}
    for record in recording.records:
        if not record.custom or not record.type.startswith("kubernetes:") or record.type.startswith(NOT_OBJECTS):
            continue
        body = clean(record.inputs, show_secrets=True)
        if not isinstance(body, dict) or "kind" not in body:
            continue
        if not show_secrets:
            body = _redacted(body, clean(record.inputs))
        cluster = cluster_of_provider.get(record.provider or "") or "_default"
        objects.setdefault(cluster, []).append(body)
    return objects


def _redacted(revealed: dict[str, Any], redacted: dict[str, Any]) -> dict[str, Any]:
    """The object with every secret value redacted, but a Secret's keys kept (so it stays a
    valid object: `stringData: {config: "[secret]"}`, not `stringData: "[secret]"`)."""
    body = dict(redacted)
    if revealed.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(revealed.get(key), dict):
                body[key] = {k: REDACTED for k in revealed[key]}
    return body


def manifest_file_name(body: dict[str, Any]) -> str:
    metadata = body.get("metadata") or {}
    parts = [body.get("kind", "object"), metadata.get("namespace") or "cluster", metadata.get("name") or "unnamed"]
    return re.sub(r"[^a-z0-9.-]+", "-", "_".join(str(p) for p in parts).lower()) + ".yaml"


def write_synth(recording: Recording, document: dict[str, Any], out_dir: Path, show_secrets: bool = False) -> None:
    """`document` as resources.json, and every Kubernetes object under manifests/<cluster>/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "resources.json").write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    manifests = out_dir / "manifests"
    if manifests.exists():
        shutil.rmtree(manifests)
    for cluster, bodies in kubernetes_objects(recording, show_secrets).items():
        folder = manifests / cluster
        folder.mkdir(parents=True, exist_ok=True)
        for body in bodies:
            text = yaml.dump(body, Dumper=MANIFEST_DUMPER, sort_keys=False, default_flow_style=False)
            (folder / manifest_file_name(body)).write_text(text)
