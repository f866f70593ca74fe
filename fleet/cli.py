"""`fleet` command line: validate | plan | synth | diff | schema | kubeconfig | versions
(docs/contracts.md section 3).

Every command answers bad input with one line on stderr and exit 1, never a traceback: problems in
declarations are collected and reported together; anything else (a missing project, an unreadable
file, a folder that is not fleet's) is a CommandError raised where it is found and printed by main().
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from fleet.problems import Problem, did_you_mean, excerpt
from fleet.project import NOT_FOUND, find_project
from fleet.safeyaml import LoadError, load_json, load_yaml

if TYPE_CHECKING:  # the planner (pydantic models: about a second to import) only where a command plans
    from fleet.plan import ClusterPlan, FleetPlan
    from fleet.stack import StackConfig

EXIT_OK, EXIT_INVALID, EXIT_DIFFERENT = 0, 1, 2
# "Stack names may only contain alphanumeric characters, hyphens, underscores, or periods."
# (https://www.pulumi.com/docs/iac/concepts/stacks/)
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class CommandError(Exception):
    """Bad input outside the declarations: one line, exit 1."""


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder upwards holding Pulumi.yaml (fleet.project); an error outside any project."""
    found = find_project(start)
    if found is None:
        raise CommandError(f"fleet: {NOT_FOUND}")
    return found


def _config(project_dir: Path, stack: str, files: Sequence[str] | None) -> tuple[StackConfig, list[Problem]]:
    from fleet.stack import read_stack_file

    _check_stack_name(stack)
    config, problems = read_stack_file(project_dir, stack)
    return (config.with_declaration_files(files) if files else config), problems


def _check_stack_name(stack: str) -> None:
    """Pulumi stack names are letters, digits, '-', '_' and '.'; anything else (a path, say) is a typo."""
    if not STACK_NAME.fullmatch(stack):
        raise CommandError(f"fleet: --stack {excerpt(stack)}: not a stack name (letters, digits, '-', '_', '.'); "
                           "the stack's settings are in Pulumi.<stack>.yaml")


def _report(problems: Sequence[Problem]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) found", file=sys.stderr)
    return EXIT_INVALID


# --- commands --------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from fleet.stack import plan_stack, stack_names

    project_dir = find_project_dir()
    stacks = [args.stack] if args.stack is not None else (["prod"] if args.file else stack_names(project_dir))
    if not stacks:
        raise CommandError(f"fleet validate: no Pulumi.<stack>.yaml in {project_dir}; create one with "
                           "`pulumi stack init <name>`")
    problems: list[Problem] = []
    warnings: list[Problem] = []
    summaries = []
    today = _as_of(args.as_of, "validate") if args.as_of else None
    for stack in stacks:
        config, trouble = _config(project_dir, stack, args.file)
        running = _running_from_base(args.base, stack, today) if args.base and not trouble else None
        result = plan_stack(config, project_dir, today, running) if not trouble else None
        problems += trouble + (result.problems if result else [])
        warnings += result.plan.warnings if result else ()
        if result and not result.problems:
            if args.deep:
                problems += _deep_problems(project_dir, config, today)
            summaries.append(f"{stack}: {_describe(result.plan)}")
    if problems:  # the report of problems stays as it was: warnings follow once they are fixed
        return _report(problems)
    _print_warnings(warnings)
    for line in summaries:
        print(f"valid: {line}")
    return EXIT_OK


def _print_warnings(warnings: Sequence[Problem]) -> None:
    """Warnings go to stderr and never change the exit code (stdout stays the command's answer)."""
    for warning in warnings:
        print(warning, file=sys.stderr)


def _running_from_base(base: str, stack: str, today: date | None) -> dict[str, str]:
    """What each cluster runs: the effective versions of the same stack planned from `base`, the
    checkout a pull request merges into (fleet.spec.versions.judge). A stack the base does not
    have, or cannot plan, runs nothing: every cluster of the head is judged as new."""
    from fleet.stack import plan_stack, read_stack_file

    base_dir = Path(base).expanduser()
    if not (base_dir / "Pulumi.yaml").is_file():
        raise CommandError(f"fleet: --base {excerpt(base)}: not a fleet project (no Pulumi.yaml); give the "
                           "checkout of the base branch, e.g. a `git worktree add` of it")
    if not (base_dir / f"Pulumi.{stack}.yaml").is_file():
        return {}
    config, trouble = read_stack_file(base_dir, stack)
    result = None if trouble else plan_stack(config, base_dir, today)
    if result is None or result.problems:
        print(f"note: stack {stack} cannot be planned on the base {base}; every cluster counts as new",
              file=sys.stderr)
        return {}
    return {c.name: c.kubernetes_version for c in result.plan.clusters}


def _deep_problems(project_dir: Path, config: StackConfig, today: date | None) -> list[Problem]:
    """Run the program offline and judge what it declares with the resource guardrails too."""
    from fleet.synth import synthesize

    result = synthesize(project_dir, config, as_of=today)
    if result.program_error:
        return [Problem(config.source, "", "", result.program_error)]
    return result.problems + result.guardrails


def _describe(plan: FleetPlan) -> str:
    clouds = ", ".join(sorted(plan.providers()))
    return f"{len(plan.clusters)} clusters ({len(plan.hubs)} hub) on {clouds}"


def cmd_plan(args: argparse.Namespace) -> int:
    from fleet.stack import plan_stack

    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, args.file)
    if trouble:
        return _report(trouble)
    today = _as_of(args.as_of, "plan") if args.as_of else None
    running = _running_from_base(args.base, args.stack, today) if args.base else None
    result = plan_stack(config, project_dir, today, running)
    if result.problems:
        return _report(result.problems)
    _print_warnings(result.plan.warnings)
    if args.format == "mermaid":
        return _print_mermaid(args, result.plan)
    if args.json:
        print(json.dumps([_plan_row(c) for c in result.plan.clusters], indent=2))
    else:
        print_plan(args.stack, result.plan)
    return EXIT_OK


def _pool_texts(cluster: ClusterPlan) -> list[str]:
    return [f"{p.name} {p.size} {p.min_nodes}-{p.max_nodes}{' spot' if p.spot else ''}" for p in cluster.node_pools]


def _plan_row(cluster: ClusterPlan) -> dict:
    return {
        "cluster": cluster.name, "role": cluster.role, "cloud": cluster.provider, "location": cluster.location,
        "version": cluster.kubernetes_version, "engine": cluster.gitops.engine, "hub": cluster.hub,
        "network": cluster.network.block, "endpoint": cluster.endpoint.mode, "protect": cluster.protect,
        "nodePools": _pool_texts(cluster),
        "labels": dict(cluster.labels),
        **({"wave": cluster.wave, "template": cluster.template} if cluster.wave is not None else {}),
        **_hub_access(cluster),
    }


def _hub_access(cluster: ClusterPlan) -> dict:
    """How the hub reaches a spoke (fleet.access): `hubAccess` {address, credential, trust}."""
    from fleet import access

    if cluster.hub_provider is None:
        return {}
    route = access.route(cluster.hub_provider, cluster.provider, cluster.endpoint.mode)
    if route is None:  # refused by fleet.plan before any plan exists; kept total
        return {}
    trust = access.TRUST[(cluster.hub_provider, cluster.provider)]
    return {"hubAccess": {"address": route.address, "credential": route.credential, "trust": trust}}


# Labels the plan shows elsewhere: the cloud and engine on the cluster's first line, the set in the title.
_SHOWN_ELSEWHERE = ("cloud", "engine", "cluster-set")


def plan_lines(stack: str, plan: FleetPlan, width: int) -> list[tuple[str, str]]:
    """The plan as (style, line) pairs, each at most `width` characters unless one item alone is longer:
    a few lines per cluster, its name on a line of its own, lists wrapped between items."""
    title = f"fleet plan: stack {stack}: {_describe(plan)}"
    lines = [("bold", title)] if len(title) <= width else [("bold", f"fleet plan: stack {stack}:"),
                                                           ("bold", f"  {_describe(plan)}")]
    lines.append(("", ""))
    published = {t.cluster: (entry, t) for entry in plan.traffic for t in entry.clusters}
    for c in plan.clusters:
        role = c.role + (f" of {c.hub}" if c.hub else "") + (", protected" if c.protect else "")
        if len(c.name) + 2 + len(role) <= width:
            lines.append(("bold", f"{c.name}  {role}"))
        else:
            lines += [("bold", c.name), ("", f"  {role}")]
        lines += [("", line) for line in _wrapped("  on", [
            f"{c.provider} {c.location}", f"Kubernetes {c.kubernetes_version}", c.gitops.engine,
            f"api {c.endpoint.mode}", c.network.block], width, " · ")]
        if c.wave is not None:  # a declared rollout: the cluster's wave and the revision it runs now
            lines += [("", line) for line in _wrapped("  rollout:", [f"wave {c.wave}", f"template {c.template}"],
                                                      width, " · ")]
        lines += [("", line) for line in _wrapped("  node pools:", _pool_texts(c), width)]
        labels = [f"{k}={v}" for k, v in c.labels.items() if not k.startswith("enable_") and k not in _SHOWN_ELSEWHERE]
        lines += [("", line) for line in _wrapped("  labels:", labels, width)]
        addons = sorted(k.removeprefix("enable_") for k in c.labels if k.startswith("enable_"))
        if addons:
            lines += [("", line) for line in _wrapped("  add-ons:", addons, width)]
        if c.name in published:  # fleet.traffic: where users reach it, and its share
            entry, own = published[c.name]
            answers = entry.entry if entry.mode == "global" else f"{own.region}.{entry.entry}"
            lines += [("", line) for line in _wrapped("  traffic:", [
                f"{entry.mode} {answers}", f"weight {own.weight}"], width, " · ")]
        lines.append(("", ""))
    return lines[:-1]


def _wrapped(head: str, items: Sequence[str], width: int, separator: str = ", ") -> list[str]:
    """`head item, item, ...` over as many lines as `width` needs, never breaking inside an item;
    continuation lines are indented under the first item."""
    indent = " " * (len(head) + 1)
    lines, current = [], head
    for index, item in enumerate(items):
        candidate = f"{current} {item}" if current == head else f"{current}{separator}{item}"
        room = width - (len(separator.rstrip()) if index < len(items) - 1 else 0)  # for a trailing separator
        if current != head and len(candidate) > room:
            lines.append(current + separator.rstrip())
            current = indent + item
        else:
            current = candidate
    lines.append(current)
    return lines


def print_plan(stack: str, plan: FleetPlan, console: Any = None) -> None:
    """The plan on the terminal (its width; 100 columns into a pipe)."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console(width=None if sys.stdout.isatty() else 100, highlight=False)
    for style, line in plan_lines(stack, plan, console.width):
        console.print(Text(line, style=style), soft_wrap=True)


def cmd_synth(args: argparse.Namespace) -> int:
    from fleet.synth import synthesize

    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, args.file)
    if trouble:
        return _report(trouble)
    out_dir = Path(args.out).expanduser()
    as_of = _as_of(args.as_of, "synth") if args.as_of else None
    result = synthesize(project_dir, config, out_dir, args.show_secrets, args.shard, args.jobs, as_of)
    if result.problems:
        return _report(result.problems)
    if result.program_error:
        print(result.program_error, file=sys.stderr)
        return EXIT_INVALID
    assert result.recording is not None
    if result.guardrails:  # the files are written all the same: they show what broke the rule
        return _report(result.guardrails)
    manifests = out_dir / "manifests"
    clusters = sorted(p.name for p in manifests.iterdir()) if manifests.exists() else []
    objects = sum(1 for _ in manifests.rglob("*.yaml")) if manifests.exists() else 0
    synthesised = result.document or {}  # a shard synth: its own stack and clusters
    print(f"synth {synthesised.get('stack', args.stack)}: {len(synthesised.get('clusters', []))} clusters, "
          f"{len(result.recording.records)} resources -> {out_dir / 'resources.json'}; "
          f"{objects} Kubernetes objects for {len(clusters)} clusters -> {manifests}/")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from fleet.synth.diff import (
        SynthReadError,
        diff_synth,
        load_synth,
        render_markdown,
        render_text,
        stack_mismatch,
    )

    try:
        base, head = load_synth(Path(args.base), args.base), load_synth(Path(args.head), args.head)
    except SynthReadError as error:
        raise CommandError(str(error)) from None
    mismatch = stack_mismatch(base, head)
    if mismatch and not args.allow_different_stacks:
        raise CommandError(f"fleet diff: {mismatch}")
    try:
        result = diff_synth(base, head)
    except RecursionError:
        raise CommandError("fleet diff: an input value is nested too deeply to compare") from None
    if args.format == "markdown":
        print(render_markdown(result, args.title), end="")
    elif args.format == "json":
        print(json.dumps({"equal": result.equal, "changes": [c.__dict__ for c in result.changes],
                          "clustersAdded": result.clusters_added, "clustersRemoved": result.clusters_removed},
                         indent=2, default=list))
    else:
        print(render_text(result) if not result.equal else "No changes.")
    return EXIT_OK if result.equal else EXIT_DIFFERENT


def cmd_schema(args: argparse.Namespace) -> int:
    from fleet.spec.schema import declaration_schema

    print(json.dumps(declaration_schema(), indent=2))
    return EXIT_OK


# --- kubeconfig ------------------------------------------------------------------------------


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    import yaml

    from fleet.clouds.kubeconfig import merge_kubeconfigs

    target = None if args.output == "-" else _output_file(args.output)
    if args.from_json:
        source = args.from_json
        try:
            per_cluster = load_json(Path(args.from_json), source)
        except LoadError as error:
            raise CommandError(str(error.problem)) from None
        documents = stack_kubeconfigs(per_cluster, source)
    else:
        source = f"`pulumi stack output kubeconfigs` of stack {args.stack}"
        documents = _environment_kubeconfigs(args.stack, source)
    wanted = _wanted_clusters(sorted(documents), args.cluster, source)
    body = yaml.safe_dump(merge_kubeconfigs([documents[name] for name in wanted]), sort_keys=False)
    if target is None:
        print(body, end="")
    else:
        _write_private(target, body)
        print(f"wrote {len(wanted)} contexts to {args.output}", file=sys.stderr)
    return EXIT_OK


class _NoOutputError(CommandError):
    """`pulumi stack output` refused: no such stack, or one never deployed (no `kubeconfigs` output)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"fleet kubeconfig: {reason}")
        self.reason = reason


def _environment_kubeconfigs(stack: str, source: str) -> dict[str, dict]:
    """The stack's kubeconfigs and, for a sharded environment (whose own stack holds only the
    hubs), every shard stack's; a shard stack not deployed yet is skipped with a note."""
    shards = _shard_stacks(stack)
    own = _stack_output(stack, source)
    if not shards:
        return stack_kubeconfigs(own, source)
    documents = {} if own == {} else stack_kubeconfigs(own, source)  # lone clusters only: no hub
    for shard in shards:
        where = f"`pulumi stack output kubeconfigs` of stack {shard}"
        try:
            output = _stack_output(shard, where)
        except _NoOutputError as error:
            print(f"fleet kubeconfig: skipped stack {shard}: not deployed yet ({error.reason})", file=sys.stderr)
            continue
        if output == {}:  # a retired shard's, after its last update
            print(f"fleet kubeconfig: skipped stack {shard}: it holds no cluster", file=sys.stderr)
            continue
        documents.update(stack_kubeconfigs(output, where))
    if not documents:
        raise CommandError(f"{source} and its shard stacks hold no cluster; has the environment been deployed "
                           f"(`fleet up --stack {stack}`)?")
    return documents


def _shard_stacks(stack: str) -> list[str]:
    """The shard stacks of environment `stack`, from its declaration (fleet.shards_cli, the list
    `fleet shards` prints); none outside a project, for a stack without a stack file, for a shard's
    own stack, or for a single-stack environment."""
    from fleet.shards_cli import environment_shards
    from fleet.stack import plan_stack, read_stack_file

    project_dir = find_project()
    if project_dir is None or not STACK_NAME.fullmatch(stack) or not (project_dir / f"Pulumi.{stack}.yaml").is_file():
        return []
    config, problems = read_stack_file(project_dir, stack)
    if config.shard is not None or config.values.get("fleet:sharding") != "region":
        return []
    result = None if problems else plan_stack(config, project_dir)
    problems = problems or (result.problems if result else [])
    if problems or result is None:
        raise CommandError(f"fleet kubeconfig: {stack} is sharded, but its shard stacks cannot be listed: "
                           f"{len(problems)} problem(s), the first: {problems[0]} (`fleet validate --stack {stack}`)")
    return [shard.stack for shard in environment_shards(project_dir, config, result) if not shard.is_hub]


def _stack_output(stack: str, source: str) -> Any:
    command = ["pulumi", "stack", "output", "kubeconfigs", "--show-secrets", "--json", "--stack", stack]
    try:
        text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise CommandError("fleet kubeconfig: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); "
                           "or pass --from-json FILE") from None
    except subprocess.CalledProcessError as error:
        lines = (error.stderr or "").strip().splitlines() or [str(error)]
        raise _NoOutputError(lines[-1]) from None
    try:
        return json.loads(text)
    except ValueError:
        raise CommandError(f"{source}: not JSON; expected an object of cluster name -> kubeconfig") from None


def stack_kubeconfigs(per_cluster: Any, source: str) -> dict[str, dict]:
    """The stack output `kubeconfigs` (cluster name -> kubeconfig YAML text) as parsed documents,
    each checked to be a kubeconfig; CommandError naming the cluster otherwise."""
    if not isinstance(per_cluster, dict):
        raise CommandError(f"{source}: expected an object of cluster name -> kubeconfig "
                           f"(`pulumi stack output kubeconfigs --show-secrets --json`), got {excerpt(per_cluster)}")
    if not per_cluster:
        raise CommandError(f"{source}: holds no cluster; has the stack been deployed (`pulumi up`)?")
    documents = {}
    for name, text in per_cluster.items():
        where = f"{source}: {excerpt(name)}"
        if text == "[secret]" or not isinstance(text, str):
            hint = "; run `pulumi stack output` with --show-secrets" if text == "[secret]" else ""
            raise CommandError(f"{where}: expected a kubeconfig as YAML text, got {excerpt(text)}{hint}")
        try:
            document = load_yaml(text, where)
        except LoadError as error:
            raise CommandError(str(error.problem)) from None
        if not isinstance(document, dict) or not all(isinstance(document.get(k), list)
                                                      for k in ("clusters", "users", "contexts")):
            raise CommandError(f"{where}: not a kubeconfig (expected clusters, users and contexts lists)")
        documents[name] = document
    return documents


def _wanted_clusters(names: list[str], asked: Sequence[str] | None, source: str) -> list[str]:
    unknown = [name for name in asked or () if name not in names]
    if unknown:
        raise CommandError(f"fleet kubeconfig: --cluster {excerpt(unknown[0])}: no such cluster in {source}"
                           f"{did_you_mean(unknown[0], names)}; clusters: {', '.join(names)}")
    return [name for name in names if not asked or name in asked]


def _output_file(output: str) -> Path:
    """The -o file, checked before anything is read or written."""
    path = Path(output).expanduser()
    folder = path.parent
    if path.is_dir():
        raise CommandError(f"fleet kubeconfig: -o {output}: is a folder; name a file, e.g. {path / 'config'}")
    if not folder.is_dir():
        raise CommandError(f"fleet kubeconfig: -o {output}: the folder {folder} does not exist; create it first")
    return path


def _write_private(path: Path, body: str) -> None:
    """Write `body` with mode 0600, whole or not at all (a temporary file renamed over the target,
    so an existing file with a wider mode does not keep it)."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise CommandError(f"fleet kubeconfig: -o {path}: cannot write in {path.parent} "
                           f"({error.strerror or error})") from None
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(body)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise CommandError(f"fleet kubeconfig: -o {path}: cannot write ({error.strerror or error})") from None


# --- versions --------------------------------------------------------------------------------


def cmd_versions(args: argparse.Namespace) -> int:
    from fleet import docs

    table = docs.versions_table(_as_of(args.as_of, "versions") if args.as_of else None)
    if args.update:
        return _update_versions(Path(args.update), table)
    print(table if args.markdown else _plain_table(table), end="")
    return EXIT_OK


def _as_of(text: str, command: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"fleet {command}: --as-of {excerpt(text)}: expected a day as YYYY-MM-DD") from None


def _plain_table(markdown: str) -> str:
    """The Markdown table with aligned columns and no pipes, the rest as it is."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("| ---")]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines, done = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            lines += [] if done else table
            done = True
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _update_versions(path: Path, table: str) -> int:
    from fleet import docs

    try:
        changed = docs.update(path, docs.VERSIONS, table)
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"fleet versions: --update {path}: cannot read ({error})") from None
    except ValueError as error:
        raise CommandError(f"fleet versions: --update {error}") from None
    print(f"{path}: version table {'updated' if changed else 'already current'}", file=sys.stderr)
    return EXIT_OK


# --- rollout ---------------------------------------------------------------------------------


def cmd_rollout(args: argparse.Namespace) -> int:
    """status | advance | finish of the rollouts a stack declares (fleet/rollout_command.py)."""
    from fleet import rollout_command as rc
    from fleet.stack import load_declaration, plan_stack

    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, args.file)
    if trouble:
        return _report(trouble)
    result = plan_stack(config, project_dir, _as_of(args.as_of, "rollout") if args.as_of else None)
    if result.problems:
        return _report(result.problems)
    declaration, _ = load_declaration(config, result.settings, project_dir)
    declared = rc.declared_rollouts(result.plan, declaration.cluster_sets)
    try:
        if args.action == "status":
            base = _base_reached(args.base, args.stack) if args.base else {}
            print(rc.render_status(declared, args.format, base), end="")
            return EXIT_OK
        return _rollout_step(args, rc, result.plan, declared)
    except rc.RolloutError as error:
        raise CommandError(str(error)) from None


def _base_reached(base: str, stack: str) -> dict[str, int]:
    """ClusterSet -> rollout.reached on the base checkout (what the pull request changes)."""
    from fleet import rollout_command as rc
    from fleet.stack import load_declaration, plan_stack, read_stack_file

    base_dir = Path(base).expanduser()
    config, trouble = read_stack_file(base_dir, stack)
    result = None if trouble else plan_stack(config, base_dir)
    if result is None or result.problems:
        return {}
    declaration, _ = load_declaration(config, result.settings, base_dir)
    return {d.name: d.rollout.reached for d in rc.declared_rollouts(result.plan, declaration.cluster_sets)}


def _rollout_step(args: argparse.Namespace, rc: Any, plan: FleetPlan, declared: list) -> int:
    chosen = [d for d in declared if args.cluster_set in (None, d.name)]
    if not chosen:
        raise CommandError(f"fleet rollout {args.action}: no rollout declared"
                           + (f" in ClusterSet {excerpt(args.cluster_set)}" if args.cluster_set else ""))
    if len(chosen) > 1:
        raise CommandError(f"fleet rollout {args.action}: several rollouts ({', '.join(d.name for d in chosen)}); "
                           "name one with --cluster-set")
    one = chosen[0]
    step = rc.rollouts.next_step(one.rollout, one.waves)
    if args.action == "advance" and step.kind != "advance":
        raise CommandError(f"fleet rollout advance: every wave of {one.name} is reached; "
                           "run `fleet rollout finish`")
    if args.action == "finish" and step.kind != "finish":
        raise CommandError(f"fleet rollout finish: {one.name} has reached {one.rollout.reached} of {len(one.waves)} "
                           "wave(s); advance it first")
    failures = rc.gate_failures(one, plan, _gate_inputs(args, rc, one, plan))
    if failures:
        print(f"fleet rollout {args.action}: {one.name}: the rollout waits", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return EXIT_DIFFERENT  # not an error: nothing to do yet (a scheduled job opens no pull request)
    if args.action == "advance":
        path = rc.write_step(one, rc.set_reached(one.rollout.reached + 1))
        print(f"{path}: {one.name} reached wave {one.rollout.reached + 1} of {len(one.waves)} '{step.wave.name}': "
              f"{', '.join(step.wave.clusters)} move to {one.rollout.to}")
    else:
        path = rc.write_step(one, rc.finish_rollout)
        print(f"{path}: {one.name} finished: its entries name {one.rollout.to}; the rollout block is removed "
              f"(delete ClusterTemplate {one.rollout.from_} once nothing uses it)")
    return EXIT_OK


def _gate_inputs(args: argparse.Namespace, rc: Any, one: Any, plan: FleetPlan) -> Any:
    now = rc.now_or(args.now)
    applied = rc.parse_time(args.applied_at, "--applied-at") if args.applied_at else \
        rc.applied_at_from_git(Path(one.located.source))
    snapshot = None
    if args.hub_state:
        snapshot = rc.snapshot_from_folder(Path(args.hub_state))
    elif args.kubeconfig:
        snapshot = _live_snapshot(args, rc, one, plan)
    return rc.GateInputs(now, applied, snapshot)


def _live_snapshot(args: argparse.Namespace, rc: Any, one: Any, plan: FleetPlan) -> Any:
    import yaml

    try:
        document = yaml.safe_load(Path(args.kubeconfig).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CommandError(f"fleet rollout: --kubeconfig {args.kubeconfig}: not readable ({error})") from None
    contexts = {c["name"]: c for c in document.get("contexts", []) if isinstance(c, dict) and "name" in c}
    per_cluster = {name: {**document, "current-context": name} for name in contexts}
    step = rc.rollouts.next_step(one.rollout, one.waves)
    hub = next((c.hub for c in plan.clusters if c.cluster_set == one.name and c.hub), None)
    if hub is None:
        raise CommandError(f"fleet rollout: ClusterSet {one.name} has no hub to read the gates from")
    return rc.snapshot_live(per_cluster, hub, list(step.previous.clusters) if step.previous else [])


# --- targets and the picture (fleet/targets.py, fleet/targets_preview.py, fleet/mermaid.py) ----


def cmd_targets(args: argparse.Namespace) -> int:
    """What the fleet repository delivers to which clusters; with --base, what a change moves."""
    from fleet import targets_preview

    project_dir = find_project_dir()
    head, head_plan = _targets_report(project_dir, args.stack, args.file, args.repo, "")
    if args.base is None:
        if args.json or args.format == "json":
            print(json.dumps(head.as_json(), indent=2))
        elif args.format == "markdown":
            print(_targets_markdown(head, args.title or f"stack `{args.stack}`"), end="")
        else:
            print(_targets_text(head), end="")
        return EXIT_OK
    base_dir = _base_dir(args.base)
    base, base_plan = _base_targets(base_dir, args.stack)
    preview = targets_preview.compare(base, head)
    if args.json or args.format == "json":
        print(json.dumps({"warnings": [w.as_json() for w in preview.warnings],
                          "movements": [{"target": m.key, "engine": m.engine, "status": m.status,
                                         "gained": m.gained, "lost": m.lost} for m in preview.movements],
                          "notes": preview.notes, "head": head.as_json()}, indent=2))
    elif args.format == "markdown":
        from fleet import mermaid

        picture = mermaid.markdown(head_plan, base_plan)
        print(targets_preview.render_markdown(preview, args.title or f"stack `{args.stack}`", picture), end="")
    else:
        print(targets_preview.render_text(preview), end="")
    same = preview.equal and base_plan is not None and _same_clusters(base_plan, head_plan)
    return EXIT_OK if same else EXIT_DIFFERENT


def _same_clusters(base: FleetPlan, head: FleetPlan) -> bool:
    from fleet import mermaid

    return not mermaid.changes(head, base)


def _targets_report(project_dir: Path, stack: str, files: Sequence[str] | None, repo: str | None,
                    where: str) -> tuple[Any, FleetPlan]:
    from fleet.identity_data import repository_root
    from fleet.kustomize import Repository
    from fleet.stack import plan_stack
    from fleet.targets import evaluate

    config, trouble = _config(project_dir, stack, files)
    result = None if trouble else plan_stack(config, project_dir)
    problems = trouble or (result.problems if result else [])
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise CommandError(f"fleet targets: stack {stack}{where} does not plan ({len(problems)} problem(s) above)")
    assert result is not None
    root = Path(repo).expanduser() if repo else project_dir
    folders = sorted({repository_root(c) or "." for c in result.plan.clusters})
    missing = [f for f in folders if not (root / f).is_dir()]
    if missing:
        raise CommandError(f"fleet targets: the fleet repository folder {missing[0]!r} (fleet:repositoryPath) is "
                           f"not in {root}; pass --repo with a checkout of the fleet repository")
    return evaluate(stack, result.plan, Repository(root)), result.plan


def _base_dir(base: str) -> Path:
    base_dir = Path(base).expanduser()
    if not (base_dir / "Pulumi.yaml").is_file():
        raise CommandError(f"fleet: --base {excerpt(base)}: not a fleet project (no Pulumi.yaml); give the "
                           "checkout of the base branch, e.g. a `git worktree add` of it")
    return base_dir


def _base_targets(base_dir: Path, stack: str) -> tuple[Any, FleetPlan | None]:
    """The base's report, or (None, None) when the base has no such stack or cannot plan it: every
    target of the head then counts as new."""
    if not (base_dir / f"Pulumi.{stack}.yaml").is_file():
        return None, None
    try:
        return _targets_report(base_dir, stack, None, None, f" on the base {base_dir}")
    except CommandError as error:
        print(f"note: {error}; comparing with nothing", file=sys.stderr)
        return None, None


def _targets_text(report: Any) -> str:
    lines = [f"fleet targets: stack {report.stack}: {len(report.targets)} targets"]
    for target in sorted(report.targets.values(), key=lambda t: (t.engine, t.kind, t.name)):
        on = f"on {', '.join(sorted(target.delivered_on))}" if target.delivered_on else "no cluster receives it"
        lines.append(f"{target.kind} {target.name} ({target.engine}, {on}): {len(target.clusters)} cluster(s)")
        lines += [f"    {cluster}" for cluster in sorted(target.clusters)]
        lines += [f"    not evaluated: {reason}" for reason in target.unevaluated]
    if report.findings:
        lines.append("findings:")
        lines += [f"  {f.rule}: {f.target} on {f.cluster}: {f.message}" for f in report.findings]
    return "\n".join(lines) + "\n"


def _targets_markdown(report: Any, title: str) -> str:
    lines = [f"### Targets: {title}", "", "| target | engine | clusters |", "| --- | --- | --- |"]
    for target in sorted(report.targets.values(), key=lambda t: (t.engine, t.kind, t.name)):
        reached = ", ".join(f"`{c}`" for c in sorted(target.clusters)) or "none"
        lines.append(f"| `{target.key}` | {target.engine} | {reached} |")
    lines += ["", *[f"- **{f.rule}**: `{f.target}` on `{f.cluster}`: {f.message}" for f in report.findings]]
    return "\n".join(lines).rstrip("\n") + "\n"


def _print_mermaid(args: argparse.Namespace, plan: FleetPlan) -> int:
    from fleet import mermaid

    base_plan = None
    if args.base:
        from fleet.stack import plan_stack, read_stack_file

        base_dir = _base_dir(args.base)
        if (base_dir / f"Pulumi.{args.stack}.yaml").is_file():
            config, trouble = read_stack_file(base_dir, args.stack)
            result = None if trouble else plan_stack(config, base_dir)
            base_plan = result.plan if result and not result.problems else None
    print(mermaid.render(plan, base_plan), end="")
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with one line and exit 1 for a usage error (argparse's exit 2 means "different"
    to `fleet diff` callers)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def _rollout_parser(commands: Any, with_inputs: Any) -> None:
    rollout = commands.add_parser("rollout", help="status | advance | finish of a wave-by-wave rollout")
    actions = rollout.add_subparsers(dest="action", required=True, parser_class=_Parser)
    status = actions.add_parser("status", help="the waves, what runs the new revision, what is next")
    with_inputs(status, "prod")
    status.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    status.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge the version calendar at this day")
    status.add_argument("--base", metavar="DIR", help="base checkout: mark the waves this change reaches")
    for name, text in (("advance", "check the gates, then write the next wave into the declaration"),
                       ("finish", "after the last wave: entries name the new revision, the rollout block goes")):
        step = actions.add_parser(name, help=text)
        with_inputs(step, "prod")
        step.add_argument("--cluster-set", help="the ClusterSet whose rollout to move (when several)")
        step.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge the version calendar at this day")
        step.add_argument("--now", help="the time to judge the soak at, ISO 8601 (default: the clock)")
        step.add_argument("--applied-at", help="when the wave reached last was applied, ISO 8601 (default: the "
                          "time of the last commit that changed `reached:` in the declaring file)")
        step.add_argument("--hub-state", metavar="DIR", help="recorded hub objects (docs/upgrading.md)")
        step.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig with a context per cluster "
                          "(`fleet kubeconfig`): read the hub and the clusters live")
    rollout.set_defaults(run=cmd_rollout)


def _calendar_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--as-of", metavar="YYYY-MM-DD",
                         help="judge the Kubernetes support calendar at this day (default: FLEET_AS_OF, else today)")
    command.add_argument("--base", metavar="DIR",
                         help="checkout of the base branch: its clusters' versions are what runs, so only a "
                              "version the head introduces can be refused by the calendar (the PR check); "
                              "plan --format mermaid also marks what differs from it")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fleet", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_inputs(command: argparse.ArgumentParser, default_stack: str | None) -> None:
        command.add_argument("--stack", "-s", default=default_stack,
                             help="stack whose Pulumi.<stack>.yaml to read" + (
                                 f" (default {default_stack})" if default_stack else " (default: every stack)"))
        command.add_argument("-f", "--file", action="append",
                             help="declaration file(s) to use instead of the stack's (repeatable)")

    validate = commands.add_parser("validate", help="check declarations; one line per problem")
    with_inputs(validate, None)
    validate.add_argument("--deep", action="store_true",
                          help="also run the program offline and apply the resource guardrails (as synth does)")
    _calendar_options(validate)
    validate.set_defaults(run=cmd_validate)

    plan = commands.add_parser("plan", help="the fleet, offline, a few lines per cluster")
    with_inputs(plan, "prod")
    plan.add_argument("--json", action="store_true", help="print JSON instead of text")
    plan.add_argument("--format", choices=("text", "mermaid"), default="text",
                      help="mermaid: the fleet as a Mermaid graph (with --base: added, changed and removed "
                           "clusters marked)")
    _calendar_options(plan)
    plan.set_defaults(run=cmd_plan)

    synth = commands.add_parser("synth", help="run the program under the mock engine and write its output")
    with_inputs(synth, "prod")
    synth.add_argument("--out", "-o", required=True,
                       help="output folder: new, empty, or written by an earlier synth (nothing else is touched)")
    synth.add_argument("--show-secrets", action="store_true", help="write secret values instead of [secret]")
    synth.add_argument("--shard", help="a sharded environment: only this shard (fleet shards lists them)")
    synth.add_argument("--jobs", "-j", type=int, default=1, help="shards synthesised at once, in processes")
    synth.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge the Kubernetes support calendar at this day, "
                       "in the program and every shard's too (default: FLEET_AS_OF, else today)")
    synth.set_defaults(run=cmd_synth)

    diff = commands.add_parser("diff", help="compare two synth outputs (exit 0 equal, 2 different, 1 error)")
    diff.add_argument("base", help="synth folder (or its resources.json) before the change")
    diff.add_argument("head", help="synth folder (or its resources.json) after the change")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--title", default="fleet diff", help="heading of the markdown output")
    diff.add_argument("--allow-different-stacks", action="store_true",
                      help="compare synths of different stacks or projects (refused by default)")
    diff.set_defaults(run=cmd_diff)

    schema = commands.add_parser("schema", help="JSON Schema of the declaration documents")
    schema.set_defaults(run=cmd_schema)

    kubeconfig = commands.add_parser("kubeconfig", help="merged kubeconfig of a deployed stack")
    kubeconfig.add_argument("--stack", "-s", default="prod")
    kubeconfig.add_argument("--cluster", action="append", help="only these clusters (repeatable)")
    kubeconfig.add_argument("--output", "-o", default="-", help="file to write (mode 0600), - for stdout")
    kubeconfig.add_argument("--from-json", help="read `pulumi stack output kubeconfigs --json` from a file")
    kubeconfig.set_defaults(run=cmd_kubeconfig)

    _rollout_parser(commands, with_inputs)

    versions = commands.add_parser("versions", help="the Kubernetes support calendar of EKS, AKS and GKE")
    versions.add_argument("--markdown", action="store_true", help="as the README's Markdown table")
    versions.add_argument("--as-of", help="judge support at this day, YYYY-MM-DD (default: the calendar's date)")
    versions.add_argument("--update", metavar="FILE",
                          help="rewrite the table between the markers in FILE (make versions: README.md)")
    versions.set_defaults(run=cmd_versions)
    targets = commands.add_parser("targets", help="which clusters each add-on of the fleet repository reaches, offline")
    with_inputs(targets, "prod")
    targets.add_argument("--json", action="store_true", help="print JSON (docs/contracts.md section 3)")
    targets.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                         help="markdown (with --base): the pull-request preview, with the fleet's picture")
    targets.add_argument("--repo", metavar="PATH",
                         help="checkout of the fleet repository (default: the project, holding fleet:repositoryPath)")
    targets.add_argument("--base", metavar="DIR",
                         help="checkout of the base branch: show what the change moves (exit 0 same, 2 moved)")
    targets.add_argument("--title", help="heading of the markdown preview")
    targets.set_defaults(run=cmd_targets)
    from fleet.shards_cli import add_commands

    add_commands(commands)  # shards, shards migrate, preview, up
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    except LoadError as error:
        print(error.problem, file=sys.stderr)
        return EXIT_INVALID


def run() -> NoReturn:
    """The `fleet` command and `python -m fleet`: main(), then a hard exit.

    A command is one short run whose heap is dropped whole at exit, so cyclic garbage collection
    only costs time: 2 s of the 13 s synth of 60 spokes went to the one collection that ran when
    the synth re-enabled it (docs/performance.md). An unexpected exception is one line too (the
    traceback with FLEET_DEBUG=1): whatever a user feeds the command, a stack trace is not an answer."""
    gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else EXIT_INVALID
    except BrokenPipeError:  # `fleet diff ... | head`: the reader left, nothing more to say
        code = 128 + 13  # as a shell reports SIGPIPE
    except KeyboardInterrupt:
        code = 130
    except Exception as error:
        if os.environ.get("FLEET_DEBUG"):
            raise
        print(f"fleet: internal error: {type(error).__name__}: {str(error)[:200]} "
              "(please report it; FLEET_DEBUG=1 shows the traceback)", file=sys.stderr)
        code = EXIT_INVALID
    with contextlib.suppress(BrokenPipeError):
        sys.stderr.flush()
    # Without freeing a heap of hundreds of MB object by object (seconds), as mypy's hard_exit does.
    os._exit(code)
