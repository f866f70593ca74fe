"""Offline engine: run the real program under the SDK mock engine and write what it declares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from fleet.problems import Problem
from fleet.stack import StackConfig, StackResult, plan_stack
from fleet.synth.engine import Recording, run_program
from fleet.synth.output import write_synth


@dataclass(frozen=True)
class SynthResult:
    stack: StackResult
    recording: Recording | None
    program_error: str | None = None

    @property
    def problems(self) -> list[Problem]:
        return self.stack.problems


def synthesize(project_dir: Path, config: StackConfig, out_dir: Path | None = None,
               show_secrets: bool = False) -> SynthResult:
    """Validate first (nothing runs on an invalid declaration), then run `__main__.py` and record."""
    stack = plan_stack(config, project_dir)
    if stack.problems:
        return SynthResult(stack, None)
    try:
        recording = run_program(project_dir, config)
    except pulumi.RunError as error:
        return SynthResult(stack, None, str(error))
    if out_dir is not None:
        write_synth(recording, stack.plan, out_dir, show_secrets)
    return SynthResult(stack, recording)
