"""Offline engine: run the real program under the SDK mock engine and write what it declares.

Importing the package costs nothing: `fleet diff` (fleet.synth.diff) answers in a fraction of a
second. What a synth needs (the Pulumi SDK, the planner, the guardrails: most of a second, several
on a busy machine) loads on first use, as module attributes that tests may replace (PEP 562).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.problems import Problem

if TYPE_CHECKING:  # at run time: __getattr__ below, loaded by synthesize()
    import pulumi

    from fleet.rules import synth_problems
    from fleet.stack import StackConfig, StackResult, plan_stack, plans_reused
    from fleet.synth.engine import Recording, UnknownStackError, collector_paused, run_program
    from fleet.synth.output import OutDirError, check_out_dir, synth_document, write_synth
    from fleet.synth.shards import ShardError, run_sharded

_LAZY = {
    "pulumi": ("pulumi", ""),
    "synth_problems": ("fleet.rules", "synth_problems"),
    "plan_stack": ("fleet.stack", "plan_stack"),
    "plans_reused": ("fleet.stack", "plans_reused"),
    "collector_paused": ("fleet.synth.engine", "collector_paused"),
    "run_program": ("fleet.synth.engine", "run_program"),
    "UnknownStackError": ("fleet.synth.engine", "UnknownStackError"),
    "run_sharded": ("fleet.synth.shards", "run_sharded"),
    "ShardError": ("fleet.synth.shards", "ShardError"),
    "OutDirError": ("fleet.synth.output", "OutDirError"),
    "check_out_dir": ("fleet.synth.output", "check_out_dir"),
    "synth_document": ("fleet.synth.output", "synth_document"),
    "write_synth": ("fleet.synth.output", "write_synth"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return globals().setdefault(name, getattr(module, attribute) if attribute else module)


def _load() -> None:
    """Bind every lazy name as a module global (a value a test has set already stays)."""
    for name in _LAZY:
        __getattr__(name)


@dataclass(frozen=True)
class SynthResult:
    stack: StackResult
    recording: Recording | None
    program_error: str | None = None
    document: dict[str, Any] | None = None  # resources.json, secrets redacted
    guardrails: list[Problem] = field(default_factory=list)  # resource rules broken by what was declared

    @property
    def problems(self) -> list[Problem]:
        return self.stack.problems


def synthesize(project_dir: Path, config: StackConfig, out_dir: Path | None = None,
               show_secrets: bool = False, shard: str | None = None, jobs: int = 1,
               as_of: date | None = None) -> SynthResult:
    """Validate first (nothing runs on an invalid declaration), then run `__main__.py`, record, and
    judge what it declared with the resource guardrails (the functions the policy pack runs).

    `as_of`: the day the support calendar is judged at, by the validation, the program (every
    shard's too) and the guardrails alike; None: the shell's clock (fleet.stack.clock_today).

    A sharded environment (fleet:sharding: region) runs its own stack, then each shard's against the
    environment's synthesised outputs, all into one document (each resource naming its stack), or
    only `shard` (`jobs`: shards synthesised at once, in separate processes)."""
    _load()
    with plans_reused():
        return _synthesize(project_dir, config, out_dir, show_secrets, shard, jobs, as_of)


def _synthesize(project_dir: Path, config: StackConfig, out_dir: Path | None, show_secrets: bool,
                shard: str | None, jobs: int, as_of: date | None) -> SynthResult:
    stack = plan_stack(config, project_dir, as_of)
    if stack.problems or stack.as_of is None:
        return SynthResult(stack, None)
    as_of = stack.as_of  # one day for the whole synth, however long it runs
    shard = shard or config.shard
    sharded = stack.settings.sharding == "region"
    if shard is not None and not sharded:
        return SynthResult(stack, None, f"--shard {shard}: stack {config.stack} is not sharded (set "
                                        f"fleet:sharding: region in {config.source}; `fleet shards` lists shards)")
    if out_dir is not None:
        try:  # refused before the program runs: a user's files are never overwritten or deleted
            check_out_dir(out_dir)
        except OutDirError as error:
            return SynthResult(stack, None, str(error))
    with collector_paused():
        plan = stack.plan
        try:
            if sharded:
                recording, plan = run_sharded(project_dir, config.of_shard(None), plan, as_of, shard, jobs)
            else:
                recording = run_program(project_dir, config, as_of)
        except (pulumi.RunError, UnknownStackError, ShardError) as error:
            return SynthResult(stack, None, str(error))
        document = synth_document(recording, plan)
        source = str(out_dir / "resources.json") if out_dir else f"synth of stack {config.stack}"
        guardrails = synth_problems(document, source, as_of)
        if out_dir is not None:
            revealed = synth_document(recording, plan, show_secrets=True) if show_secrets else document
            try:
                write_synth(recording, revealed, out_dir, show_secrets)
            except OutDirError as error:  # the folder changed while the program ran
                return SynthResult(stack, recording, str(error), document, guardrails)
            except OSError as error:
                return SynthResult(stack, recording, f"--out {out_dir}: cannot write: "
                                   f"{error.strerror or error}", document, guardrails)
        return SynthResult(stack, recording, None, document, guardrails)
