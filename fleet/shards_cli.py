"""`fleet shards`, `fleet shards migrate`, `fleet preview`, `fleet up` (docs/shards.md).

Kept apart from fleet/cli.py so the shard commands read as one piece; fleet.cli registers them
(`add_commands`) and prints their CommandError like every other command's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.problems import excerpt
from fleet.safeyaml import LoadError, load_json, load_yaml

if TYPE_CHECKING:
    from fleet.shards import Shard
    from fleet.stack import StackResult

EXIT_OK, EXIT_INVALID = 0, 1


def _planned(args: argparse.Namespace) -> tuple[Path, Any, StackResult | None, int]:
    from fleet.cli import _config, _report, find_project_dir
    from fleet.stack import plan_stack

    project_dir = find_project_dir()
    config, trouble = _config(project_dir, args.stack, None)
    if trouble:
        return project_dir, config, None, _report(trouble)
    result = plan_stack(config, project_dir)
    if result.problems:
        return project_dir, config, None, _report(result.problems)
    return project_dir, config, result, EXIT_OK


def environment_shards(project_dir: Path, config: Any, result: StackResult) -> list[Shard]:
    """The stacks of the environment: one (itself) unsharded, else the hub and a stack per region,
    plus retired shards whose stack file is still there."""
    from fleet.shards import HUB_SHARD, Shard, plan_shards
    from fleet.stack import shard_stack_files

    if result.settings.sharding != "region":
        return [Shard(HUB_SHARD, config.stack, tuple(c.name for c in result.plan.clusters))]
    return plan_shards(result.plan, config.stack, shard_stack_files(project_dir, config.stack))


def write_stack_files(project_dir: Path, config: Any, shards: Sequence[Shard]) -> list[str]:
    """Create or update each region shard's Pulumi.<env>.<region>.yaml; keys fleet does not own
    (encryptionsalt, secretsprovider, a user's own settings) are kept. The files changed."""
    import yaml

    from fleet.shards import shard_stack_config

    changed = []
    for shard in shards:
        if shard.is_hub or shard.retired:
            continue
        path = project_dir / f"Pulumi.{shard.stack}.yaml"
        body: dict[str, Any] = {}
        if path.exists():
            loaded = load_yaml(path, path.name)
            body = loaded if isinstance(loaded, dict) else {}
        wanted = shard_stack_config(config.stack, shard.name, _raw_config(project_dir, config.stack))
        current = body.get("config") if isinstance(body.get("config"), dict) else {}
        merged = {**current, **wanted}
        if merged == current and path.exists():
            continue
        body["config"] = merged
        header = (f"# Shard {shard.name} of stack {config.stack} (written by `fleet shards`): the declaration, "
                  f"settings and secrets\n# are those of Pulumi.{config.stack}.yaml; this stack holds the region's "
                  "clusters (docs/shards.md).\n")
        path.write_text(header + yaml.safe_dump(body, sort_keys=False))
        changed.append(path.name)
    return changed


def _raw_config(project_dir: Path, stack: str) -> dict[str, Any]:
    body = load_yaml(project_dir / f"Pulumi.{stack}.yaml", f"Pulumi.{stack}.yaml")
    config = body.get("config") if isinstance(body, dict) else None
    return config if isinstance(config, dict) else {}


def cmd_shards(args: argparse.Namespace) -> int:
    project_dir, config, result, code = _planned(args)
    if result is None:
        return code
    shards = environment_shards(project_dir, config, result)
    written = [] if args.no_write else write_stack_files(project_dir, config, shards)
    if args.json:
        print(json.dumps([s.as_json() for s in shards], indent=2))
    else:
        for shard in shards:
            state = " (retired: its next update deletes what it holds)" if shard.retired else ""
            print(f"{shard.name:<16} {shard.stack:<28} {len(shard.clusters)} clusters{state}")
    for name in written:
        print(f"wrote {name}", file=sys.stderr)
    return EXIT_OK


# --- migrate -------------------------------------------------------------------------------------


def state_resources(document: Any, source: str) -> list[dict[str, Any]]:
    """Resources (urn, type, name, parent, provider) of a `pulumi stack export` or a synth's
    resources.json."""
    from fleet.cli import CommandError

    if isinstance(document, dict) and isinstance(document.get("deployment"), dict):
        listed = document["deployment"].get("resources") or []
        rows = []
        for r in listed:
            if not isinstance(r, dict) or not isinstance(r.get("urn"), str):
                raise CommandError(f"{source}: a resource without a urn; not a `pulumi stack export`")
            provider = r.get("provider")
            rows.append({"urn": r["urn"], "type": r.get("type", ""), "name": r["urn"].rsplit("::", 1)[-1],
                         "parent": r.get("parent"),
                         "provider": provider.rsplit("::", 1)[0] if isinstance(provider, str) and provider else None})
        return rows
    if isinstance(document, dict) and isinstance(document.get("resources"), list):
        return [r for r in document["resources"] if isinstance(r, dict) and isinstance(r.get("urn"), str)]
    raise CommandError(f"{source}: neither `pulumi stack export` output nor a fleet synth resources.json")


def cmd_migrate(args: argparse.Namespace) -> int:
    from fleet.cli import CommandError
    from fleet.shards import migration_moves

    project_dir, config, result, code = _planned(args)
    if result is None:
        return code
    if result.settings.sharding != "region":
        raise CommandError(f"fleet shards migrate: {config.source} does not set fleet:sharding: region; set it "
                           "first (the commands move each region's clusters into its shard's stack)")
    if args.state:
        try:
            document = load_json(Path(args.state), args.state)
        except LoadError as error:
            raise CommandError(str(error.problem)) from None
        source = args.state
    else:
        document, source = _exported(config.stack), f"`pulumi stack export --stack {config.stack}`"
    shards = environment_shards(project_dir, config, result)
    moves = migration_moves(state_resources(document, source), _placement(project_dir, config), config.stack)
    if not moves:
        print(f"nothing to move: {source} holds no cluster of a region shard", file=sys.stderr)
        return EXIT_OK
    write_stack_files(project_dir, config, shards)
    for move in moves:
        print(move.text())
    if not args.execute:
        print(f"# {len(moves)} command(s); run them with --run (after `pulumi stack init` of each shard stack, "
              "which --run does)", file=sys.stderr)
        return EXIT_OK
    for move in moves:
        _pulumi(["pulumi", "stack", "init", move.dest], allow_failure=True)
        _pulumi(move.command())
    print("moved; now `fleet preview --stack " + config.stack + "`: every stack should show no replacement",
          file=sys.stderr)
    return EXIT_OK


def _placement(project_dir: Path, config: Any) -> dict[tuple[str, str], str]:
    """Where the sharded layout declares each resource: an offline synth of the environment."""
    from fleet.cli import CommandError
    from fleet.shards import placement
    from fleet.synth import synthesize

    synth = synthesize(project_dir, config)
    if synth.program_error or synth.document is None:
        raise CommandError(f"fleet shards migrate: the sharded layout cannot be synthesised: {synth.program_error}")
    return placement(synth.document["resources"])


def _exported(stack: str) -> Any:
    text = _pulumi(["pulumi", "stack", "export", "--stack", stack])
    try:
        return json.loads(text)
    except ValueError:
        from fleet.cli import CommandError

        raise CommandError(f"`pulumi stack export --stack {stack}`: not JSON") from None


def _pulumi(command: list[str], allow_failure: bool = False) -> str:
    from fleet.cli import CommandError

    try:
        run = subprocess.run(command, capture_output=True, text=True, check=not allow_failure)
    except FileNotFoundError:
        raise CommandError("fleet: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); "
                           "without it, pass --state FILE and run the printed commands elsewhere") from None
    except subprocess.CalledProcessError as error:
        lines = (error.stderr or "").strip().splitlines() or [str(error)]
        raise CommandError(f"fleet: {excerpt(' '.join(command[:4]))}: {lines[-1]}") from None
    return run.stdout


# --- what a pull request touches ---------------------------------------------------------------


def cmd_changed(args: argparse.Namespace) -> int:
    """The shards whose clusters' plans differ between the base checkout and this one, decided from
    the declarations alone (fleet.shards.changed_shards); every shard when the base cannot be
    planned (nothing to compare with)."""
    from fleet.shards import changed_shards
    from fleet.stack import plan_stack, read_stack_file

    project_dir, config, result, code = _planned(args)
    if result is None:
        return code
    shards = environment_shards(project_dir, config, result)
    base_dir = Path(args.base).expanduser()
    names = [s.name for s in shards]
    if (base_dir / f"Pulumi.{config.stack}.yaml").is_file():
        base_config, trouble = read_stack_file(base_dir, config.stack)
        base = None if trouble else plan_stack(base_config, base_dir)
        if base is not None and not base.problems:
            settings_changed = _settings(base.settings) != _settings(result.settings)
            if result.settings.sharding != "region":
                names = names if base.plan != result.plan or settings_changed else []
            else:
                names = changed_shards(base.plan, result.plan, config.stack, settings_changed)
    chosen = [s for s in shards if s.name in names]
    if args.json:
        print(json.dumps([s.as_json() for s in chosen]))
    else:
        for shard in chosen:
            print(shard.name)
    return EXIT_OK


def _settings(settings: Any) -> dict[str, Any]:
    """Stack settings other than the declaration (whose effect the plans already show)."""
    return settings.model_dump(exclude={"documents", "declarations"})


# --- preview / up ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from fleet.cli import CommandError
    from fleet.orchestrate import LiveView, NoPulumiError, automation_runner, exit_code, run_shards, summary

    project_dir, config, result, code = _planned(args)
    if result is None:
        return code
    shards = environment_shards(project_dir, config, result)
    if args.shard:
        unknown = [n for n in args.shard if not any(s.name == n for s in shards)]
        if unknown:
            raise CommandError(f"fleet {args.operation}: --shard {excerpt(unknown[0])}: no such shard "
                               f"(shards: {', '.join(s.name for s in shards)})")
        shards = [s for s in shards if s.is_hub or s.name in args.shard]
    try:
        runner = automation_runner(project_dir, args.parallel)
    except NoPulumiError as error:
        raise CommandError(f"fleet {args.operation}: {error}") from None
    write_stack_files(project_dir, config, shards)
    if sys.stderr.isatty():
        with LiveView(shards) as view:
            outcomes = run_shards(shards, args.operation, runner, args.concurrency, view.update)
    else:
        def plain(outcome: Any) -> None:
            if outcome.status != "running" or not outcome.last:
                print(f"{outcome.stack}: {outcome.status}", file=sys.stderr)

        outcomes = run_shards(shards, args.operation, runner, args.concurrency, plain)
    print("\n".join(summary(outcomes, args.operation)))
    return exit_code(outcomes)


def add_commands(commands: Any) -> None:
    """Register the shard commands on fleet's subparsers."""
    shards = commands.add_parser("shards", help="the environment's stacks (hub, one per region); writes their files")
    shards.add_argument("--stack", "-s", default="prod", help="the environment's stack (default prod)")
    shards.add_argument("--json", action="store_true", help='[{"shard", "stack", "clusters"}], the hub first')
    shards.add_argument("--no-write", action="store_true", help="list only; do not create or update stack files")
    shards.set_defaults(run=cmd_shards)
    below = shards.add_subparsers(dest="shards_command", parser_class=type(shards))
    migrate = below.add_parser("migrate", help="the `pulumi state move` commands from one stack into shards")
    migrate.add_argument("--stack", "-s", default="prod", help="the environment's stack (default prod)")
    migrate.add_argument("--state", metavar="FILE",
                         help="`pulumi stack export` output (or a single-stack synth's resources.json); "
                              "default: run `pulumi stack export`")
    migrate.add_argument("--run", action="store_true", dest="execute",
                         help="run the commands (pulumi stack init + state move)")
    migrate.set_defaults(run=cmd_migrate)
    changed = below.add_parser("changed", help="the shards a change touches, decided from the declarations")
    changed.add_argument("--stack", "-s", default="prod", help="the environment's stack (default prod)")
    changed.add_argument("--base", required=True, metavar="DIR", help="checkout of the base (e.g. git worktree)")
    changed.add_argument("--json", action="store_true", help='[{"shard", "stack", "clusters"}]')
    changed.set_defaults(run=cmd_changed)
    for operation in ("preview", "up"):
        command = commands.add_parser(operation, help=f"pulumi {operation} of the environment's stack, then its "
                                                      "shards in parallel (Automation API)")
        command.add_argument("--stack", "-s", default="prod", help="the environment's stack (default prod)")
        command.add_argument("--concurrency", "-c", type=int, default=4, help="shards at once (default 4)")
        command.add_argument("--parallel", "-p", type=int, default=None,
                             help="resource operations at once within a stack (pulumi --parallel)")
        command.add_argument("--shard", action="append", help="only these shards (and the environment's stack)")
        command.set_defaults(run=cmd_run, operation=operation)
