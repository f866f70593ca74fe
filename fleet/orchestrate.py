"""Run a sharded environment: the environment's stack first, then its shards in parallel.

The order, the bounded concurrency, the isolation of failures and the summary are decided here,
with the runner injected: `fleet preview|up` passes `automation_runner` (Pulumi's Automation API,
https://www.pulumi.com/docs/iac/using-pulumi/automation-api/), tests pass a fake. The program
itself never imports this module.

- The environment's stack runs alone and first: every shard reads its outputs. If it fails, no
  shard runs (they would read outputs that are not there), and the summary says so.
- Shards run `concurrency` at a time; a failed shard is reported and never stops the others.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.shards import Shard

OPERATIONS = ("preview", "up")


@dataclass
class Outcome:
    shard: str
    stack: str
    status: str  # pending | running | succeeded | failed | skipped
    changes: dict[str, int] = field(default_factory=dict)  # operation -> count (create, update, ...)
    error: str = ""
    last: str = ""  # the last thing the engine said about this stack (progress view)


Progress = Callable[[Outcome], None]
# (shard, operation, report of progress lines) -> change counts; raises on failure
Runner = Callable[[Shard, str, Callable[[str], None]], dict[str, int]]


def run_shards(shards: Sequence[Shard], operation: str, runner: Runner, concurrency: int = 4,
               progress: Progress | None = None) -> list[Outcome]:
    """Every shard's outcome, in the order of `shards` (the environment's first)."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}")
    outcomes = {s.name: Outcome(s.name, s.stack, "pending") for s in shards}
    lock = threading.Lock()

    def report(outcome: Outcome) -> None:
        if progress is not None:
            with lock:
                progress(outcome)

    def run_one(shard: Shard) -> None:
        outcome = outcomes[shard.name]
        outcome.status = "running"
        report(outcome)

        def said(line: str) -> None:
            outcome.last = line
            report(outcome)

        try:
            outcome.changes = dict(runner(shard, operation, said))
            outcome.status = "succeeded"
        except Exception as error:  # one shard's failure is its own; the others go on
            outcome.status, outcome.error = "failed", _one_line(error)
        report(outcome)

    hub = [s for s in shards if s.is_hub]
    regions = [s for s in shards if not s.is_hub]
    for shard in hub:
        run_one(shard)
    if any(outcomes[s.name].status == "failed" for s in hub):
        for shard in regions:
            outcomes[shard.name].status = "skipped"
            outcomes[shard.name].error = "the environment's stack failed; shards read its outputs"
            report(outcomes[shard.name])
    elif regions:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            list(pool.map(run_one, regions))
    return [outcomes[s.name] for s in shards]


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def summary(outcomes: Sequence[Outcome], operation: str) -> list[str]:
    """One line per stack, then the totals."""
    lines = []
    for o in outcomes:
        counted = [f"{n} {kind}" for kind, n in sorted(o.changes.items()) if kind != "same" and n]
        changes = ", ".join(counted) or "no changes"
        detail = o.error if o.status in ("failed", "skipped") else changes
        lines.append(f"{o.status:<9} {o.stack:<28} {detail}")
    failed = [o.stack for o in outcomes if o.status == "failed"]
    skipped = [o.stack for o in outcomes if o.status == "skipped"]
    totals = f"{operation}: {len(outcomes) - len(failed) - len(skipped)} of {len(outcomes)} stacks succeeded"
    if failed:
        totals += f"; failed: {', '.join(failed)}"
    if skipped:
        totals += f"; skipped: {', '.join(skipped)}"
    return [*lines, totals]


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return 0 if all(o.status == "succeeded" for o in outcomes) else 1


# --- the real runner: Pulumi's Automation API ----------------------------------------------------


class NoPulumiError(Exception):
    pass


def automation_runner(project_dir: Path, parallel: int | None = None) -> Runner:
    """A Runner driving the Pulumi CLI through the Automation API: the local program in
    `project_dir`, the stack selected (or created) by name, preview or up with events streamed."""
    if shutil.which("pulumi") is None:
        raise NoPulumiError("the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); "
                            "`fleet preview`/`fleet up` drive it through the Automation API")
    from pulumi import automation as auto

    def run(shard: Shard, operation: str, said: Callable[[str], None]) -> dict[str, int]:
        stack = auto.create_or_select_stack(stack_name=shard.stack, work_dir=str(project_dir))

        def on_event(event: Any) -> None:
            line = _event_line(event)
            if line:
                said(line)

        if operation == "preview":
            result = stack.preview(parallel=parallel, on_event=on_event, color="never")
            return {str(k): int(v) for k, v in (result.change_summary or {}).items()}
        result = stack.up(parallel=parallel, on_event=on_event, color="never", show_secrets=False)
        return {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}

    return run


def _event_line(event: Any) -> str:
    """What a progress line says of an engine event (pulumi.automation.events.EngineEvent)."""
    if getattr(event, "resource_pre_event", None) is not None:
        metadata = event.resource_pre_event.metadata
        return f"{metadata.op.value if hasattr(metadata.op, 'value') else metadata.op} {metadata.urn.split('::')[-1]}"
    if getattr(event, "res_op_failed_event", None) is not None:
        return f"failed {event.res_op_failed_event.metadata.urn.split('::')[-1]}"
    if getattr(event, "diagnostic_event", None) is not None and event.diagnostic_event.severity == "error":
        return event.diagnostic_event.message.strip().splitlines()[-1][:200] if event.diagnostic_event.message else ""
    return ""


# --- the live view -------------------------------------------------------------------------------


class LiveView:
    """One line per stack, redrawn as events arrive (rich.live), then left on screen."""

    def __init__(self, outcomes: Sequence[Shard]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.rows = {s.name: Outcome(s.name, s.stack, "pending") for s in outcomes}
        self.console = Console(stderr=True)
        self.live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("stack", "status", "last"):
            table.add_column(column)
        styles = {"succeeded": "green", "failed": "red", "running": "yellow", "skipped": "dim"}
        for row in self.rows.values():
            table.add_row(row.stack, f"[{styles.get(row.status, '')}]{row.status}", row.last[:80])
        return table

    def update(self, outcome: Outcome) -> None:
        self.rows[outcome.shard] = Outcome(outcome.shard, outcome.stack, outcome.status, dict(outcome.changes),
                                           outcome.error, outcome.last)
        self.live.update(self._table())

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)
