"""`fleet` command line: validate | plan | synth | diff | schema | kubeconfig (CONTRACTS section 3)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import yaml

from fleet.plan import ClusterPlan, FleetPlan
from fleet.problems import Problem
from fleet.stack import PROJECT_DIR, StackConfig, plan_stack, read_stack_file

EXIT_OK, EXIT_INVALID, EXIT_DIFFERENT = 0, 1, 2


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder upwards holding a Pulumi.yaml (else the folder fleet is installed from)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").exists() and (folder / "__main__.py").exists():
            return folder
    return PROJECT_DIR


def _stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def _config(project_dir: Path, stack: str, files: Sequence[str] | None) -> tuple[StackConfig, list[Problem]]:
    config, problems = read_stack_file(project_dir, stack)
    return (config.with_declaration_files(files) if files else config), problems


def _report(problems: Sequence[Problem]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) found", file=sys.stderr)
    return EXIT_INVALID


# --- commands --------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    project_dir = find_project_dir()
    stacks = [args.stack] if args.stack else (["prod"] if args.file else _stacks(project_dir))
    problems: list[Problem] = []
    summaries = []
    for stack in stacks:
        config, trouble = _config(project_dir, stack, args.file)
        result = plan_stack(config, project_dir) if not trouble else None
        problems += trouble + (result.problems if result else [])
        if result and not result.problems:
            if args.deep:
                problems += _deep_problems(project_dir, config)
            summaries.append(f"{stack}: {_describe(result.plan)}")
    if problems:
        return _report(problems)
    for line in summaries:
        print(f"valid: {line}")
    return EXIT_OK


def _deep_problems(project_dir: Path, config: StackConfig) -> list[Problem]:
    """Run the program offline and judge what it declares with the resource guardrails too."""
    from fleet.synth import synthesize

    result = synthesize(project_dir, config)
    if result.program_error:
        return [Problem(config.source, "", "", result.program_error)]
    return result.problems + result.guardrails


def _describe(plan: FleetPlan) -> str:
    clouds = ", ".join(sorted(plan.providers()))
    return f"{len(plan.clusters)} clusters ({len(plan.hubs)} hub) on {clouds}"


def cmd_plan(args: argparse.Namespace) -> int:
    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, args.file)
    if trouble:
        return _report(trouble)
    result = plan_stack(config, project_dir)
    if result.problems:
        return _report(result.problems)
    if args.json:
        print(json.dumps([_plan_row(c) for c in result.plan.clusters], indent=2))
    else:
        _print_plan_table(args.stack, result.plan)
    return EXIT_OK


def _pools(cluster: ClusterPlan) -> str:
    return "\n".join(
        f"{p.name} {p.size} {p.min_nodes}-{p.max_nodes}{' spot' if p.spot else ''}" for p in cluster.node_pools
    )


def _extra_labels(cluster: ClusterPlan) -> str:
    shown = {k: v for k, v in cluster.labels.items() if not k.startswith("enable_")
             and k not in ("cloud", "region", "cluster-set", "template", "engine")}
    addons = sorted(k.removeprefix("enable_") for k in cluster.labels if k.startswith("enable_"))
    text = "\n".join(f"{k}={v}" for k, v in shown.items())
    return text + (f"\naddons: {', '.join(addons)}" if addons else "")


def _plan_row(cluster: ClusterPlan) -> dict:
    return {
        "cluster": cluster.name, "role": cluster.role, "cloud": cluster.provider, "location": cluster.location,
        "version": cluster.kubernetes_version, "engine": cluster.gitops.engine, "hub": cluster.hub,
        "network": cluster.network.block, "endpoint": cluster.endpoint.mode, "protect": cluster.protect,
        "nodePools": [f"{p.name} {p.size} {p.min_nodes}-{p.max_nodes}{' spot' if p.spot else ''}"
                      for p in cluster.node_pools],
        "labels": dict(cluster.labels),
    }


def _print_plan_table(stack: str, plan: FleetPlan) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fleet plan: stack {stack}: {_describe(plan)}", show_lines=True)
    for column in ("cluster", "cloud", "location", "version", "engine", "node pools", "network",
                   "api", "hub", "labels"):
        table.add_column(column, overflow="fold")
    for c in plan.clusters:
        table.add_row(
            f"{c.name}\n({c.role}{', protected' if c.protect else ''})", c.provider, c.location,
            c.kubernetes_version, c.gitops.engine, _pools(c), c.network.block, c.endpoint.mode,
            c.hub or "-", _extra_labels(c),
        )
    width = None if sys.stdout.isatty() else 200
    Console(width=width).print(table)


def cmd_synth(args: argparse.Namespace) -> int:
    from fleet.synth import synthesize

    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, args.file)
    if trouble:
        return _report(trouble)
    out_dir = Path(args.out)
    result = synthesize(project_dir, config, out_dir, args.show_secrets)
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
    print(f"synth {args.stack}: {len(result.stack.plan.clusters)} clusters, "
          f"{len(result.recording.records)} resources -> {out_dir / 'resources.json'}; "
          f"{objects} Kubernetes objects for {len(clusters)} clusters -> {manifests}/")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from fleet.synth.diff import SynthReadError, diff_synth, load_synth, render_markdown, render_text

    try:
        base, head = load_synth(Path(args.base)), load_synth(Path(args.head))
    except SynthReadError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    result = diff_synth(base, head)
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


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from fleet.clouds.kubeconfig import merge_kubeconfigs

    if args.from_json:
        text = Path(args.from_json).read_text()
    else:
        command = ["pulumi", "stack", "output", "kubeconfigs", "--show-secrets", "--json", "--stack", args.stack]
        try:
            text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            print("the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)", file=sys.stderr)
            return EXIT_INVALID
        except subprocess.CalledProcessError as error:
            print(error.stderr.strip() or str(error), file=sys.stderr)
            return EXIT_INVALID
    per_cluster = json.loads(text)
    wanted = [n for n in sorted(per_cluster) if not args.cluster or n in args.cluster]
    merged = merge_kubeconfigs([yaml.safe_load(per_cluster[name]) for name in wanted])
    body = yaml.safe_dump(merged, sort_keys=False)
    if args.output == "-":
        print(body, end="")
    else:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
        print(f"wrote {len(wanted)} contexts to {args.output}", file=sys.stderr)
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

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
    validate.set_defaults(run=cmd_validate)

    plan = commands.add_parser("plan", help="the fleet as a table, offline")
    with_inputs(plan, "prod")
    plan.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plan.set_defaults(run=cmd_plan)

    synth = commands.add_parser("synth", help="run the program under the mock engine and write its output")
    with_inputs(synth, "prod")
    synth.add_argument("--out", "-o", required=True, help="output folder")
    synth.add_argument("--show-secrets", action="store_true", help="write secret values instead of [secret]")
    synth.set_defaults(run=cmd_synth)

    diff = commands.add_parser("diff", help="compare two synth outputs (exit 0 equal, 2 different, 1 error)")
    diff.add_argument("base")
    diff.add_argument("head")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--title", default="fleet diff", help="heading of the markdown output")
    diff.set_defaults(run=cmd_diff)

    schema = commands.add_parser("schema", help="JSON Schema of the declaration documents")
    schema.set_defaults(run=cmd_schema)

    kubeconfig = commands.add_parser("kubeconfig", help="merged kubeconfig of a deployed stack")
    kubeconfig.add_argument("--stack", "-s", default="prod")
    kubeconfig.add_argument("--cluster", action="append", help="only these clusters (repeatable)")
    kubeconfig.add_argument("--output", "-o", default="-", help="file to write (mode 0600), - for stdout")
    kubeconfig.add_argument("--from-json", help="read `pulumi stack output kubeconfigs --json` from a file")
    kubeconfig.set_defaults(run=cmd_kubeconfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


def run() -> NoReturn:
    """The `fleet` command and `python -m fleet`: main(), then a hard exit.

    A command is one short run whose heap is dropped whole at exit, so cyclic garbage collection
    only costs time: 2 s of the 13 s synth of 60 spokes went to the one collection that ran when
    the synth re-enabled it (docs/performance.md)."""
    gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `fleet diff ... | head`: the reader left, nothing more to say
        code = 128 + 13  # as a shell reports SIGPIPE
    except KeyboardInterrupt:
        code = 130
    with contextlib.suppress(BrokenPipeError):
        sys.stderr.flush()
    # Without freeing a heap of hundreds of MB object by object (seconds), as mypy's hard_exit does.
    os._exit(code)
