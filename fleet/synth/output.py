"""Write a recording as the synth contract (docs/contracts.md section 4): resources.json + manifests/.

A synth never deletes what it did not write: it records the files it wrote in DIR/.fleet-synth.json,
removes only those before writing again, and refuses a folder holding anything else
(`check_out_dir`, called before the program runs).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from fleet.plan import ClusterPlan, FleetPlan
from fleet.synth.engine import REDACTED, Record, Recording, clean

K8S_PROVIDER_TYPE = "pulumi:providers:kubernetes"
# libyaml's emitter when PyYAML has it (six times faster for the hundreds of manifests of a big fleet)
MANIFEST_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Helm releases and YAML/kustomize bundles are not objects of their own (their contents are not ours).
WRITTEN_LIST = ".fleet-synth.json"  # the files the last synth wrote, relative to its folder
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
    if record.stack is not None:  # a sharded environment: the stack that holds it
        entry["stack"] = record.stack
    return entry


def synth_document(recording: Recording, plan: FleetPlan, show_secrets: bool = False) -> dict[str, Any]:
    document = {
        "project": recording.project,
        "stack": recording.stack,
        "clusters": [cluster_entry(c) for c in plan.clusters],
        # by URN: registration order depends on when outputs resolve, and a review wants stable files
        "resources": [resource_entry(r, show_secrets) for r in sorted(recording.records, key=lambda r: r.urn)],
        "outputs": clean(recording.outputs, show_secrets),
    }
    if recording.stack_outputs:  # a sharded environment: the outputs of each shard's stack
        document["stackOutputs"] = {stack: clean(outputs, show_secrets)
                                    for stack, outputs in sorted(recording.stack_outputs.items())}
    return document


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


class OutDirError(Exception):
    """A synth output folder that cannot be written without harming what is there; one line."""


def check_out_dir(out_dir: Path) -> list[str]:
    """The files a synth into `out_dir` will replace (those the last synth wrote there).

    Raises OutDirError for a path that is not a folder, or a folder holding anything fleet did not
    write: a file of the user's would otherwise be overwritten or deleted."""
    shown = str(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutDirError(f"--out {shown}: is a file, not a folder; give a new or empty folder")
    if not out_dir.exists():
        blocking = next((p for p in out_dir.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutDirError(f"--out {shown}: {blocking} is a file, not a folder; give a new or empty folder")
        return []
    present = sorted(_files_under(out_dir))
    written = _written_before(out_dir) if (out_dir / WRITTEN_LIST).is_file() else None
    if written is None:
        if present:
            raise OutDirError(f"--out {shown}: the folder holds files fleet did not write (e.g. "
                              f"{_relative(present[0], out_dir)}); give a new or empty folder")
        return []
    foreign = [p for p in present if _relative(p, out_dir) not in written and p.name != WRITTEN_LIST]
    if foreign:
        raise OutDirError(f"--out {shown}: {_relative(foreign[0], out_dir)} was not written by fleet synth "
                          "and would be mixed with its output; move it away or give another folder")
    return sorted(written)


def _files_under(folder: Path) -> list[Path]:
    """Every file (and symlink) below folder; empty subfolders count as nothing."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [Path(root) / name for name in files]
        found += [Path(root) / name for name in dirs if (Path(root) / name).is_symlink()]
    return found


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _written_before(out_dir: Path) -> set[str]:
    try:
        listed = json.loads((out_dir / WRITTEN_LIST).read_text())["written"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutDirError(f"--out {out_dir}: {WRITTEN_LIST} is not the list fleet synth writes; "
                          "give a new or empty folder") from None
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise OutDirError(f"--out {out_dir}: {WRITTEN_LIST} is not the list fleet synth writes; "
                          "give a new or empty folder")
    return set(listed)


def _remove_written(out_dir: Path, written: list[str]) -> None:
    """Remove the previous synth's files, then the folders they leave empty (never anything else)."""
    folders = set()
    for name in written:
        path = out_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not path.is_file():
            continue  # the list is a file on disk: it names nothing outside the folder
        path.unlink()
        folders.update(path.parents)
    for folder in sorted((f for f in folders if out_dir in f.parents), key=lambda f: -len(f.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()


def write_synth(recording: Recording, document: dict[str, Any], out_dir: Path, show_secrets: bool = False) -> None:
    """`document` as resources.json, and every Kubernetes object under manifests/<cluster>/.

    Raises OutDirError when the folder holds files fleet did not write (see check_out_dir)."""
    previous = check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_written(out_dir, previous)
    manifests = {f"manifests/{cluster}/{manifest_file_name(body)}": body
                 for cluster, bodies in kubernetes_objects(recording, show_secrets).items() for body in bodies}
    # the list first: a synth that stops half-way still leaves a folder the next synth may clean
    written = sorted({"resources.json", *manifests})
    (out_dir / WRITTEN_LIST).write_text(json.dumps({"written": written}, indent=1) + "\n")
    (out_dir / "resources.json").write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    for name, body in manifests.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(body, Dumper=MANIFEST_DUMPER, sort_keys=False, default_flow_style=False))
