"""Synthesise a sharded environment offline: the environment's stack first, then each shard's
program against the environment's synthesised outputs, as a StackReference returns them under
`pulumi up` (fleet.synth.engine.stack_reference). Shards run in separate processes when asked
(`jobs`): each is a program run of its own, so a big fleet uses every core and each process holds
one shard's heap only."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from fleet.plan import FleetPlan
from fleet.shards import HUB_SHARD, Shard, find_shard, plan_shards
from fleet.stack import StackConfig, shard_stack_files
from fleet.synth.engine import ORGANIZATION, Recording, run_program

PRELOAD = ["fleet.synth.engine", "fleet.program", "fleet.clouds.aws", "fleet.clouds.azure", "fleet.clouds.gcp"]


class ShardError(Exception):
    """A shard that cannot be synthesised as asked (an unknown name); one line."""


def reference_name(project: str, environment_stack: str) -> str:
    return f"{ORGANIZATION}/{project}/{environment_stack}"


def _tagged(recording: Recording) -> list[Any]:
    return [replace(r, stack=recording.stack) for r in recording.records]


def _run_shard(project_dir: Path, config: StackConfig, stacks: dict[str, Any], as_of: date) -> Recording:
    return run_program(project_dir, config, as_of, stacks=stacks)


def _run_shard_measured(project_dir: Path, config: StackConfig, stacks: dict[str, Any],
                        as_of: date) -> tuple[Recording, dict[str, float]]:
    """In a worker process: the recording, and the process's peak memory (KiB, ru_maxrss) and CPU time."""
    import resource

    recording = _run_shard(project_dir, config, stacks, as_of)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return recording, {"peak_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}


def run_sharded(project_dir: Path, config: StackConfig, plan: FleetPlan, as_of: date, only: str | None = None,
                jobs: int = 1, usage: list[dict[str, float]] | None = None) -> tuple[Recording, FleetPlan]:
    """The environment's recording, then its shards'; one shard (`only`) or all, merged. The plan
    returned holds the clusters the recording holds; every program judges the support calendar at
    `as_of` (a worker process is handed the day, it reads no clock). `usage`: filled with each
    shard process's peak memory and CPU time when jobs > 1."""
    shards = plan_shards(plan, config.stack, shard_stack_files(project_dir, config.stack))
    wanted = _wanted(shards, only)
    environment = run_program(project_dir, config, as_of)
    if wanted is not None and wanted.is_hub:
        return _with_stack(environment), _part(plan, wanted.clusters)
    stacks = {reference_name(environment.project, config.stack): environment.outputs}
    regions = [s for s in shards if not s.is_hub and (wanted is None or s.name == wanted.name)]
    recordings = _run_all(project_dir, [config.of_shard(s.name) for s in regions], stacks, as_of, jobs, usage)
    if wanted is not None:
        return _with_stack(recordings[0]), _part(plan, wanted.clusters)
    records = _tagged(environment) + [r for recording in recordings for r in _tagged(recording)]
    outputs = {r.stack: r.outputs for r in recordings}
    return Recording(environment.project, environment.stack, records, environment.outputs, outputs), plan


def _wanted(shards: list[Shard], only: str | None) -> Shard | None:
    if only is None:
        return None
    found = find_shard(shards, only)
    if found is None:
        names = ", ".join(s.name for s in shards)
        raise ShardError(f"--shard {only}: no such shard (shards: {names}; `{HUB_SHARD}` is the environment's "
                         "own stack)")
    return found


def _with_stack(recording: Recording) -> Recording:
    return Recording(recording.project, recording.stack, _tagged(recording), recording.outputs)


def _part(plan: FleetPlan, clusters: tuple[str, ...]) -> FleetPlan:
    return FleetPlan(tuple(c for c in plan.clusters if c.name in clusters))


def _run_all(project_dir: Path, configs: list[StackConfig], stacks: dict[str, Any], as_of: date, jobs: int,
             usage: list[dict[str, float]] | None) -> list[Recording]:
    if jobs <= 1 or len(configs) <= 1:
        return [_run_shard(project_dir, c, stacks, as_of) for c in configs]
    # forkserver: each worker forks from a server that has imported the SDKs and fleet and nothing
    # else, so it starts small and the same whatever the fleet's size; one task per worker keeps a
    # process to one shard's heap (its peak is that shard's alone)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with ProcessPoolExecutor(max_workers=min(jobs, os.cpu_count() or 1, len(configs)), mp_context=context,
                             max_tasks_per_child=1) as pool:
        futures = [pool.submit(_run_shard_measured, project_dir, c, stacks, as_of) for c in configs]
        results = [f.result() for f in futures]
    if usage is not None:
        usage += [measured for _, measured in results]
    return [recording for recording, _ in results]
