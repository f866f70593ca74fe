"""Shards at scale (issue #13), measured in one run: `python -m benchmarks --only shards` (add
`--full` for the 1,000-cluster full synth, which takes long on a small machine).

  preview   the offline preview of a one-region change (what pr-diff.yml runs: `fleet shards
            changed`, then the changed shard synthesised on the base and on the head, then `fleet
            diff`), in a fleet of 10 clusters (3 regions) and of 1,000 clusters (67 regions),
            interleaved; the ratio of the two. Goal: <= 1.2.
  full      a full synth of a sharded fleet with `--jobs` = every core: CPU time / (wall time x
            cores). Goal: every core busy (>= 0.8 on an idle machine).
  memory    peak RSS of each shard process of full synths of growing fleets (every region of 8-10
            clusters): flat as the fleet grows (the largest fleet's worst shard <= 1.2 x the smallest's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks import declarations
from benchmarks.measure import PROJECT_DIR, median, run
from fleet.spec.regions import locations_of

PER_REGION = 8  # the region entry a change touches, the same in every fleet
SMALL = 10  # the small fleet: that entry plus one cluster on Azure and one on GCP
GOAL_PREVIEW = 1.2
GOAL_FLAT = 1.2


def project(folder: Path, clusters: int, changed: bool = False, per_location: int = 15) -> Path:
    """A sharded fleet project of `clusters` spokes on AWS, Azure and GCP (so the hub has an
    identity on each, in every fleet): one AWS region entry of PER_REGION clusters (the one a change
    touches, the same in every fleet), the rest spread over the three clouds at up to `per_location`
    per location; `changed`: that region entry declares one cluster less (a one-region change)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, folder / name)
    location = locations_of("aws")[-1]  # left free by spread() at 15 per location up to 1,000 clusters
    touched = declarations.Entry(f"aws-{location}", "aws", location, PER_REGION - (1 if changed else 0),
                                 declarations.SPOKE_TEMPLATES[0])
    rest = _rest(clusters - PER_REGION, per_location)
    files = declarations.write(folder / "fleet", [*rest, touched])
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]
    config = {k: v for k, v in stack.items() if k not in ("fleet:documents", "fleet:declarations")}
    config["fleet:declarations"] = [str(f.relative_to(folder)) for f in files]
    config["fleet:sharding"] = "region"
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return folder


def _fleet(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fleet", *args]


def _rest(clusters: int, per_location: int) -> list[declarations.Entry]:
    if clusters < len(declarations.PROVIDERS):  # the small fleet: one cluster on each other cloud
        first = {p: locations_of(p)[0] for p in ("azure", "gcp")}
        return [declarations.Entry(f"{p}-{first[p]}", p, first[p], 1, declarations.SPOKE_TEMPLATES[0])
                for p in ("azure", "gcp")[:clusters]]
    return declarations.spread(clusters, per_location)


def regions(clusters: int, per_location: int = 15) -> int:
    """Region entries (shards) of project(clusters)."""
    return 1 + len(_rest(clusters - PER_REGION, per_location))


def preview_seconds(base: Path, head: Path, out: Path) -> float:
    """Wall time of the offline preview of one changed region, as the pull-request job runs it."""
    started = time.perf_counter()
    changed = subprocess.run(_fleet(head, "shards", "changed", "--stack", "prod", "--base", str(base), "--json"),
                             cwd=head, check=True, capture_output=True, text=True).stdout
    shards = [row["shard"] for row in json.loads(changed)]
    assert len(shards) == 1, shards
    for side, folder in (("base", base), ("head", head)):
        shutil.rmtree(out / side, ignore_errors=True)
        subprocess.run(_fleet(folder, "synth", "--stack", "prod", "--shard", shards[0], "--out", str(out / side)),
                       cwd=folder, check=True, capture_output=True)
    subprocess.run(_fleet(head, "diff", str(out / "base"), str(out / "head")), cwd=head, capture_output=True)
    return time.perf_counter() - started


def report_preview(root: Path, repeat: int, large: int) -> float:
    small = (project(root / "p10-base", SMALL), project(root / "p10-head", SMALL, changed=True))
    big = (project(root / f"p{large}-base", large), project(root / f"p{large}-head", large, changed=True))
    times: dict[str, list[float]] = {"10": [], str(large): []}
    for _ in range(repeat):  # interleaved: the machine's load falls on both alike
        times["10"].append(preview_seconds(*small, root / "out10"))
        times[str(large)].append(preview_seconds(*big, root / f"out{large}"))
    ratio = median(times[str(large)]) / median(times["10"])
    print(f"  one-region change, offline preview: 10 clusters {median(times['10']):.1f} s, "
          f"{large} clusters ({regions(large)} regions) {median(times[str(large)]):.1f} s; "
          f"ratio {ratio:.2f} (goal <= {GOAL_PREVIEW}) {'PASS' if ratio <= GOAL_PREVIEW else 'FAIL'}")
    return ratio


_DRIVER = """
import json, multiprocessing, sys, time
from multiprocessing import forkserver
from pathlib import Path
from fleet.shards import plan_shards
from fleet.spec.versions import AS_OF
from fleet.stack import read_stack_file, plan_stack
from fleet.synth.engine import run_program
from fleet.synth.shards import PRELOAD, _run_all, reference_name
started = time.perf_counter()
folder, jobs = Path(sys.argv[1]), int(sys.argv[2])
config, _ = read_stack_file(folder, "prod")
plan = plan_stack(config, folder, AS_OF).plan
multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
forkserver.ensure_running()  # the SDKs imported once, before the clock of the parallel phase starts
environment = run_program(folder, config, AS_OF)
stacks = {reference_name(environment.project, config.stack): environment.outputs}
configs = [config.of_shard(s.name) for s in plan_shards(plan, config.stack) if not s.is_hub]
usage = []
parallel = time.perf_counter()
recordings = _run_all(folder, configs, stacks, AS_OF, jobs, usage)
parallel = time.perf_counter() - parallel
print(json.dumps({"resources": len(environment.records) + sum(len(r.records) for r in recordings),
                  "wall_s": time.perf_counter() - started, "parallel_wall_s": parallel,
                  "shard_cpu_s": sum(u["cpu_s"] for u in usage), "peaks_kib": [u["peak_kib"] for u in usage]}))
"""


def full_synth(folder: Path, jobs: int) -> dict:
    """A full synth of the sharded fleet in `folder`, shards in `jobs` processes: resources, wall
    time, wall time of the parallel phase (the shards), CPU time of the shard processes (they report
    their own: they are the forkserver's children, not the driver's) and the peak KiB of each."""
    measured = run(["-c", _DRIVER, str(folder), str(jobs)], cwd=folder)
    return json.loads(measured.stdout.strip().splitlines()[-1])


def report_full(root: Path, clusters: int) -> float:
    cores = os.cpu_count() or 1
    folder = project(root / f"full{clusters}", clusters)
    result = full_synth(folder, cores)
    busy = result["shard_cpu_s"] / (result["parallel_wall_s"] * cores)
    print(f"  full synth, {clusters} clusters in {regions(clusters)} shards, --jobs {cores}: {result['wall_s']:.0f} s "
          f"wall, of which shards {result['parallel_wall_s']:.0f} s using {result['shard_cpu_s']:.0f} s CPU; "
          f"{result['resources']} resources; cores busy while the shards run {busy:.2f} of {cores} (load "
          f"average {os.getloadavg()[0]:.1f})")
    return busy


def report_memory(root: Path, sizes: list[int]) -> float:
    worst = {}
    for clusters in sizes:
        # every shard about the same size (8 to 10 clusters), so only the fleet's size differs
        folder = project(root / f"mem{clusters}", clusters, per_location=10)
        peaks = full_synth(folder, os.cpu_count() or 1)["peaks_kib"]
        worst[clusters] = max(peaks) / 1024
        print(f"  {clusters} clusters: {len(peaks)} shard processes, peak RSS per shard process max "
              f"{worst[clusters]:.0f} MB, min {min(peaks) / 1024:.0f} MB")
    growth = worst[sizes[-1]] / worst[sizes[0]]
    print(f"  worst shard process {sizes[-1]} vs {sizes[0]} clusters: {growth:.2f}x (goal <= {GOAL_FLAT}) "
          f"{'PASS' if growth <= GOAL_FLAT else 'FAIL'}")
    return growth


def report(root: Path, full: bool, repeat: int = 3) -> dict[str, float]:
    large = 1000
    figures = {"preview_ratio": report_preview(root, repeat, large)}
    figures["cores_busy"] = report_full(root, 1000 if full else 60)
    # at most 750 clusters fit in regions of 10 (75 locations over the three clouds)
    figures["memory_growth"] = report_memory(root, [30, 300] if not full else [30, 300, 750])
    return figures
