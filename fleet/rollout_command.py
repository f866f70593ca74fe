"""`fleet rollout status | advance | finish`: the imperative shell around fleet.rollout and fleet.gates.

status   the waves of every declared rollout, which clusters run the new revision, what is next
         (text, markdown for the pull-request comment, or json for scripts).
advance  checks the gates of the wave reached last (soak time since it was applied, its health on
         the hub, the versions its clusters report), then writes `reached: N+1` in the file that
         declares the rollout: the next step, as a change to review and merge.
finish   once every wave is reached (and the last one passes its gates): every region entry and the
         hub of template `from` now name `to`, and the rollout block is removed.

Time is an input: `--now` (default: the clock) and `--applied-at` (default: the committer time of
the last commit that changed a `reached:` line of the declaring file: the deploy workflow applies
every merge to main, so merging is applying). The hub's objects come from `--hub-state DIR`
(`kubectl get -o json` answers, recorded by the workflow) or `--kubeconfig FILE` (read live with the
kubernetes client; `fleet kubeconfig` writes the file from the stack outputs).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleet import gates
from fleet import rollout as rollouts
from fleet.plan import ClusterPlan, FleetPlan
from fleet.problems import Problem
from fleet.spec.load import Located
from fleet.spec.models import ClusterSet, Rollout


class RolloutError(Exception):
    """One line for the user, exit 1."""


@dataclass(frozen=True)
class Declared:
    """One ClusterSet's rollout as declared and as planned."""

    located: Located
    rollout: Rollout
    waves: list[rollouts.WavePlan]

    @property
    def name(self) -> str:
        return self.located.model.metadata.name


def declared_rollouts(plan: FleetPlan, cluster_sets: Sequence[Located]) -> list[Declared]:
    """The rollouts of the declaration, their waves read from the plan (ClusterPlan.wave)."""
    found = []
    for located in cluster_sets:
        model = located.model
        if not isinstance(model, ClusterSet) or model.spec.rollout is None:
            continue
        rollout = model.spec.rollout
        members = [c for c in plan.clusters if c.cluster_set == model.metadata.name and c.wave]
        names = [w.name for w in rollout.waves] + [rollouts.REST_WAVE]
        waves = [rollouts.WavePlan(name, index, tuple(c.name for c in members if c.wave == name),
                                   implicit=name == rollouts.REST_WAVE)
                 for index, name in enumerate(names)]
        found.append(Declared(located, rollout, [w for w in waves if w.clusters or not w.implicit]))
    return found


# --- status ------------------------------------------------------------------------------------


def render_status(declared: Sequence[Declared], fmt: str, base_reached: Mapping[str, int]) -> str:
    if fmt == "json":
        return json.dumps([_status_json(d, base_reached.get(d.name)) for d in declared], indent=2) + "\n"
    if not declared:
        return "No rollout declared.\n" if fmt == "text" else ""
    render = rollouts.status_markdown if fmt == "markdown" else rollouts.status_text
    return "\n".join(render(d.name, d.rollout, d.waves, base_reached.get(d.name)) for d in declared)


def _status_json(declared: Declared, base_reached: int | None) -> dict[str, Any]:
    step = rollouts.next_step(declared.rollout, declared.waves)
    return {
        "clusterSet": declared.name, "file": declared.located.source, "from": declared.rollout.from_,
        "to": declared.rollout.to, "reached": declared.rollout.reached, "soak": declared.rollout.soak,
        "next": step.kind, "nextWave": step.wave.name if step.wave else None,
        "gatedWave": step.previous.name if step.previous else None,
        "gatedClusters": list(step.previous.clusters) if step.previous else [],
        "waves": [{"name": s.wave.name, "clusters": list(s.wave.clusters), "state": s.state}
                  for s in rollouts.statuses(declared.rollout, declared.waves, base_reached)],
    }


# --- gates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateInputs:
    now: datetime
    applied_at: datetime | None
    snapshot: gates.Snapshot | None  # None: the hub was not read (only allowed when no gate needs it)


def gate_failures(declared: Declared, plan: FleetPlan, inputs: GateInputs) -> list[str]:
    """Every reason the next step may not be made yet (empty: go)."""
    step = rollouts.next_step(declared.rollout, declared.waves)
    if step.previous is None:
        return []  # the first wave (the canary) needs nothing before it
    failures = []
    soak = rollouts.soak_problem(declared.rollout, step.previous, inputs.applied_at, inputs.now)
    if soak:
        failures.append(soak)
    wanted = declared.rollout.gates
    if wanted.health or wanted.versions:
        if inputs.snapshot is None:
            return [*failures, "gates: the hub's state was not read; give --hub-state DIR or --kubeconfig FILE"]
        by_name = {c.name: c for c in plan.clusters}
        expected = {name: by_name[name].kubernetes_version for name in step.previous.clusters}
        failures += [f"gate: {f}" for f in gates.evaluate(expected, inputs.snapshot, wanted.health,
                                                           wanted.versions)]
    return failures


def snapshot_from_folder(folder: Path) -> gates.Snapshot:
    """A recorded hub state: hub/*.json (`kubectl get applications.argoproj.io,kustomizations,helmreleases
    -A -o json` on the hub; hub/argocd-clusters.json: the Argo CD cluster Secrets), spokes/<cluster>/*.json
    (the spoke's own Flux objects) and versions/<cluster>.json (`kubectl version -o json`)."""
    if not folder.is_dir():
        raise RolloutError(f"fleet rollout: --hub-state {folder}: not a folder")
    hub_objects: list[Mapping[str, Any]] = []
    servers: dict[str, str] = {}
    for path in sorted((folder / "hub").glob("*.json")):
        objects = gates.items(_json(path))
        hub_objects += [o for o in objects if o.get("kind") != "Secret"]
        servers.update(argocd_servers([o for o in objects if o.get("kind") == "Secret"]))
    spokes = {p.name: [o for f in sorted(p.glob("*.json")) for o in gates.items(_json(f))]
              for p in sorted((folder / "spokes").glob("*")) if p.is_dir()}
    versions = {}
    for path in sorted((folder / "versions").glob("*.json")):
        answer = _json(path)
        versions[path.stem] = answer.get("serverVersion", answer) if isinstance(answer, Mapping) else {}
    return gates.Snapshot(hub_objects, spokes, servers, versions)


def argocd_servers(secrets: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """server URL -> cluster name of Argo CD cluster Secrets (only these two fields are decoded;
    `config`, which holds credentials, is never read)."""
    import base64

    found = {}
    for secret in secrets:
        data = secret.get("data") or {}
        try:
            name = base64.b64decode(data.get("name", "")).decode()
            server = base64.b64decode(data.get("server", "")).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if name and server:
            found[server] = name
    return found


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RolloutError(f"fleet rollout: {path}: not readable JSON ({error})") from None


ClientFactory = Callable[[Mapping[str, Any]], Any]


def snapshot_live(kubeconfigs: Mapping[str, Mapping[str, Any]], hub: str, clusters: Sequence[str],
                  new_client: ClientFactory | None = None) -> gates.Snapshot:
    """Read the hub's GitOps objects and each cluster's /version through their kubeconfigs.
    `new_client(kubeconfig)` gives an object with `list_cluster_custom_object(group, version, plural)`
    and `get_code()` (the kubernetes client's CustomObjectsApi and VersionApi in one); injectable."""
    factory = new_client or _kubernetes_client
    if hub not in kubeconfigs:
        raise RolloutError(f"fleet rollout: no kubeconfig for the hub '{hub}' in the file given")
    hub_client = factory(kubeconfigs[hub])
    objects: list[Mapping[str, Any]] = []
    for group, version, plural in (gates.ARGO_APPLICATION, gates.FLUX_KUSTOMIZATION, gates.FLUX_HELMRELEASE):
        try:
            objects += gates.items(hub_client.list_cluster_custom_object(group, version, plural))
        except Exception as error:  # a CRD absent on this hub's engine (404): nothing of that kind
            if getattr(error, "status", None) != 404:
                raise RolloutError(f"fleet rollout: reading {plural} on the hub failed: {error}") from None
    versions = {}
    for cluster in clusters:
        if cluster in kubeconfigs:
            versions[cluster] = _version_info(factory(kubeconfigs[cluster]).get_code())
    return gates.Snapshot(objects, {}, {}, versions)


def _version_info(answer: Any) -> dict[str, Any]:
    if isinstance(answer, Mapping):
        return dict(answer)
    return {k: getattr(answer, k, None) for k in ("major", "minor", "git_version")} | {
        "gitVersion": getattr(answer, "git_version", "")}


def _kubernetes_client(kubeconfig: Mapping[str, Any]) -> Any:  # pragma: no cover - needs a cluster
    try:
        from kubernetes import client, config
    except ImportError:
        raise RolloutError("fleet rollout: --kubeconfig needs the kubernetes client: pip install 'fleet[rollout]'"
                           " (or record the hub's state with kubectl and give --hub-state DIR)") from None
    api = config.new_client_from_config_dict(dict(kubeconfig))

    class _Both:
        def list_cluster_custom_object(self, group: str, version: str, plural: str) -> Any:
            return client.CustomObjectsApi(api).list_cluster_custom_object(group, version, plural)

        def get_code(self) -> Any:
            return client.VersionApi(api).get_code()

    return _Both()


def applied_at_from_git(path: Path) -> datetime | None:
    """The committer time of the last commit that changed a `reached:` line of `path` (merging is
    applying: .github/workflows/deploy.yml runs `pulumi up` on every push to main)."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cI", "-G", r"^\s*reached:", "--", path.name],
                             cwd=path.parent, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return datetime.fromisoformat(out) if out else None


# --- editing the declaration -------------------------------------------------------------------


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _find_set(documents: list[Any], name: str) -> Any:
    """The ClusterSet `name` among the documents of a file, or inline in a stack file's fleet:documents."""
    candidates = list(documents)
    for document in documents:
        config = document.get("config") if isinstance(document, dict) else None
        if isinstance(config, dict) and isinstance(config.get("fleet:documents"), list):
            candidates += config["fleet:documents"]
    for document in candidates:
        if (isinstance(document, dict) and document.get("kind") == "ClusterSet"
                and (document.get("metadata") or {}).get("name") == name):
            return document
    raise RolloutError(f"fleet rollout: ClusterSet '{name}' not found in its file")


def edit_set(text: str, name: str, change: Callable[[Any], None]) -> str:
    """`text` (one or more YAML documents) with `change` applied to ClusterSet `name`; comments,
    order and quoting kept (ruamel.yaml round trip)."""
    yaml = _yaml()
    documents = list(yaml.load_all(text))
    change(_find_set(documents, name))
    out = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.dump_all(documents, out)
    return out.getvalue()


def set_reached(value: int) -> Callable[[Any], None]:
    def change(cluster_set: Any) -> None:
        cluster_set["spec"]["rollout"]["reached"] = value
    return change


def finish_rollout(cluster_set: Any) -> None:
    """Entries and hub of template `from` name `to`; the rollout block goes."""
    spec = cluster_set["spec"]
    old, new = spec["rollout"]["from"], spec["rollout"]["to"]
    for entry in spec.get("regions") or []:
        if entry.get("template") == old:
            entry["template"] = new
    hub = spec.get("hub")
    if isinstance(hub, dict) and hub.get("template") == old:
        hub["template"] = new
    del spec["rollout"]


def write_step(declared: Declared, change: Callable[[Any], None]) -> Path:
    path = Path(declared.located.source)
    if not path.is_file():
        raise RolloutError(f"fleet rollout: {path}: the file declaring ClusterSet/{declared.name} is not here")
    path.write_text(edit_set(path.read_text(), declared.name, change))
    return path


def problems_text(problems: Sequence[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def now_or(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    return parse_time(text, "--now")


def parse_time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RolloutError(f"fleet rollout: {option} {text[:40]!r}: expected a time such as "
                           "2026-12-03T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wave_clusters(declared: Declared, plan: FleetPlan) -> list[ClusterPlan]:
    step = rollouts.next_step(declared.rollout, declared.waves)
    names = set(step.wave.clusters) if step.wave else set()
    return [c for c in plan.clusters if c.name in names]
