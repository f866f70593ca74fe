"""`python -m benchmarks` (`make bench`): fleet's cost next to the bare Pulumi SDK, in one run.

Sections (all by default; `--only` picks some):
  overhead   whole-process wall time, CPU time and peak RSS of `python -m fleet synth` for generated
             fleets of about 12, 60 and 300 clusters on AWS, Azure and GCP, interleaved with a baseline
             process registering the same resources with the bare SDK under the same mock engine
             (benchmarks.baseline); ratio per size, marginal cost per resource, per-cluster cost
  startup    import time of one cloud against three; a one-cloud fleet must load no other cloud's SDK
  critical   the chain of resources a new region waits on, in modelled minutes, for 1 to 30 regions
  shards     a sharded fleet (issue #13, benchmarks/shards.py): a one-region change's offline preview at
             1,000 clusters against 10, cores busy in a full synth, peak memory per shard process
             (the 1,000-cluster full synth only with --full)
Ends with the goals of issue #6 and PASS/FAIL for each.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import baseline, critical_path, declarations, startup
from benchmarks import shards as sharded
from benchmarks.measure import Run, median, run, spread

GOAL_RATIO = 1.25
GOAL_FLAT = 1.20
SECTIONS = ("overhead", "startup", "critical", "shards")


# --- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=True).stdout.splitlines()[1]
        memory = " ".join(memory.split()[:2]).replace("Mem: ", "") + " total"
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("pulumi", "pulumi-aws", "pulumi-azure-native", "pulumi-gcp", "pulumi-kubernetes"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} -")
    return {
        "cpu": cpu, "nproc": str(os.cpu_count()), "memory": memory,
        "python": platform.python_version(), "platform": platform.platform(),
        "sdks": ", ".join(versions), "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- 1 + 2: overhead and scaling ----------------------------------------------------------------


@dataclass
class Size:
    spokes: int
    clusters: int = 0
    resources: int = 0
    fleet: list[Run] = field(default_factory=list)
    base: list[Run] = field(default_factory=list)
    base_no_gc: list[Run] = field(default_factory=list)  # the bare SDK without cyclic GC, as fleet runs

    def wall(self, side: str) -> float:
        return median([r.seconds for r in getattr(self, side)])

    def cpu(self, side: str) -> float:
        return median([r.cpu_seconds for r in getattr(self, side)])

    def rss(self, side: str) -> float:
        return median([r.peak_rss_mb for r in getattr(self, side)])


def _synth_args(files: list[Path], out: Path) -> list[str]:
    return ["-m", "fleet", "synth", "--stack", "prod", *[a for f in files for a in ("-f", str(f))],
            "--out", str(out)]


def overhead(sizes: list[int], repeat: int, repeat_large: int, large: int, root: Path) -> list[Size]:
    results = [Size(n) for n in sizes]
    files = {n: declarations.write(root / f"fleet-{n}", declarations.spread(n)) for n in sizes}
    shapes = {n: root / f"shape-{n}.json" for n in sizes}
    print(f"  warming up (synth of {sizes[0]} spokes, bare SDK of the same shape; not counted)", flush=True)
    run(_synth_args(files[sizes[0]], root / "warm"))
    baseline.write_shape(root / "warm" / "resources.json", root / "warm-shape.json")
    run(["-m", "benchmarks.baseline", str(root / "warm-shape.json")])
    shutil.rmtree(root / "warm")
    rounds = max(repeat, repeat_large)
    for round_ in range(rounds):
        for size in results:
            if round_ >= (repeat_large if size.spokes >= large else repeat):
                continue
            out = root / f"out-{size.spokes}"
            started = time.perf_counter()
            # fleet first when the baseline still needs its shape, then alternate the order
            fleet_first = not shapes[size.spokes].exists() or round_ % 2 == 0
            for side in ("fleet", "base", "base_no_gc") if fleet_first else ("base_no_gc", "base", "fleet"):
                _measure_side(size, side, files, shapes, out)
            print(f"  round {round_ + 1}/{rounds}: {size.spokes:>3} spokes ({size.clusters} clusters, "
                  f"{size.resources} resources): fleet {size.fleet[-1].seconds:6.1f} s, "
                  f"bare SDK {size.base[-1].seconds:6.1f} s, bare SDK without GC {size.base_no_gc[-1].seconds:6.1f} s"
                  f"  [{time.perf_counter() - started:.0f} s]", flush=True)
    return results


def _measure_side(size: Size, side: str, files: dict, shapes: dict, out: Path) -> None:
    if side == "fleet":
        result = run(_synth_args(files[size.spokes], out))
        document = json.loads((out / "resources.json").read_text())
        count = len(document["resources"])
        if not shapes[size.spokes].exists():
            baseline.write_shape(out / "resources.json", shapes[size.spokes])
            size.clusters, size.resources = len(document["clusters"]), count
        elif count != size.resources:
            raise RuntimeError(f"synth of {size.spokes} spokes gave {count} resources, earlier {size.resources}")
        shutil.rmtree(out)
        size.fleet.append(result)
    else:
        no_gc = ["--no-gc"] if side == "base_no_gc" else []
        getattr(size, side).append(run(["-m", "benchmarks.baseline", str(shapes[size.spokes]), *no_gc]))


def report_overhead(results: list[Size]) -> dict[str, float]:
    print()
    print("  spokes clusters resources |   fleet synth: wall    cpu   peak RSS |  bare SDK: wall    cpu  peak RSS |"
          " ratio: wall   cpu   RSS")
    for s in results:
        print(f"  {s.spokes:>6} {s.clusters:>8} {s.resources:>9} | {s.wall('fleet'):16.1f} s {s.cpu('fleet'):5.1f} s"
              f" {s.rss('fleet'):7.0f} MB | {s.wall('base'):12.1f} s {s.cpu('base'):5.1f} s {s.rss('base'):6.0f} MB |"
              f" {s.wall('fleet') / s.wall('base'):11.2f} {s.cpu('fleet') / s.cpu('base'):5.2f}"
              f" {s.rss('fleet') / s.rss('base'):5.2f}")
    print("  (medians of " + ", ".join(f"{len(s.fleet)}" for s in results) + " runs; wall spread fleet "
          + ", ".join(spread([r.seconds for r in s.fleet]) for s in results) + " s; bare SDK "
          + ", ".join(spread([r.seconds for r in s.base]) for s in results) + " s)")
    print()
    print("  the same against the bare SDK with its cyclic GC off, as `fleet synth` runs (fleet.cli.run):")
    print("  spokes | bare SDK without GC: wall  peak RSS | ratio: wall   RSS | marginal per resource: fleet"
          "  bare without GC  ratio")
    for previous, s in zip([None, *results[:-1]], results, strict=True):
        marginal = ""
        if previous is not None:
            n = s.resources - previous.resources
            fw = (s.wall("fleet") - previous.wall("fleet")) / n
            qw = (s.wall("base_no_gc") - previous.wall("base_no_gc")) / n
            marginal = f" {fw * 1000:27.1f} ms {qw * 1000:13.1f} ms {fw / qw:6.2f}"
        quiet_wall, quiet_rss = s.wall("base_no_gc"), s.rss("base_no_gc")
        print(f"  {s.spokes:>6} | {quiet_wall:25.1f} s {quiet_rss:7.0f} MB |"
              f" {s.wall('fleet') / quiet_wall:11.2f} {s.rss('fleet') / quiet_rss:5.2f} |{marginal}")
    print()
    print("  marginal cost per resource (slope between sizes)   fleet wall   bare wall  ratio |"
          " fleet cpu  bare cpu  ratio | fleet RSS  bare RSS")
    figures: dict[str, float] = {}
    segments = list(itertools.pairwise(results))
    if len(results) > 2:
        segments.append((results[0], results[-1]))
    for a, b in segments:
        n = b.resources - a.resources
        fw, bw = (b.wall("fleet") - a.wall("fleet")) / n, (b.wall("base") - a.wall("base")) / n
        fc, bc = (b.cpu("fleet") - a.cpu("fleet")) / n, (b.cpu("base") - a.cpu("base")) / n
        fr, br = (b.rss("fleet") - a.rss("fleet")) / n, (b.rss("base") - a.rss("base")) / n
        label = f"{a.spokes}->{b.spokes} spokes ({n} resources)"
        print(f"  {label:<50} {fw * 1000:8.1f} ms {bw * 1000:8.1f} ms {fw / bw:6.2f} | {fc * 1000:6.1f} ms"
              f" {bc * 1000:6.1f} ms {fc / bc:6.2f} | {fr * 1024:6.0f} KB {br * 1024:6.0f} KB")
        figures[f"marginal_{a.spokes}_{b.spokes}"] = fw / bw
    print()
    print("  per-cluster cost     resources/cluster  fleet wall/cluster  marginal fleet wall/cluster"
          "  marginal bare wall/cluster")
    previous = None
    marginals = []
    for s in results:
        per_cluster = s.wall("fleet") / s.clusters
        line = f"  {s.spokes:>3} spokes          {s.resources / s.clusters:10.1f} {per_cluster:16.2f} s"
        if previous is not None:
            m = (s.wall("fleet") - previous.wall("fleet")) / (s.clusters - previous.clusters)
            mb = (s.wall("base") - previous.wall("base")) / (s.clusters - previous.clusters)
            marginals.append(m)
            line += f" {m:24.2f} s ({previous.spokes}->{s.spokes}) {mb:14.2f} s"
        print(line)
        previous = s
    by_size = {s.spokes: s for s in results}
    middle = by_size.get(60) or results[len(results) // 2]
    figures["ratio_60"] = middle.wall("fleet") / middle.wall("base")
    figures["ratio_60_cpu"] = middle.cpu("fleet") / middle.cpu("base")
    figures["marginal_ratio"] = figures[f"marginal_{results[0].spokes}_{results[-1].spokes}"]
    figures["flat"] = max(marginals) / min(marginals) if len(marginals) > 1 else 1.0
    figures["growth"] = marginals[-1] / marginals[0] if len(marginals) > 1 else 1.0
    figures["middle_spokes"] = middle.spokes
    figures["ratio_60_no_gc"] = middle.wall("fleet") / middle.wall("base_no_gc")
    first, last = results[0], results[-1]
    figures["marginal_ratio_no_gc"] = ((last.wall("fleet") - first.wall("fleet"))
                                       / (last.wall("base_no_gc") - first.wall("base_no_gc")))
    return figures


# --- 3: start-up -----------------------------------------------------------------------------


def report_startup(repeat: int, root: Path) -> bool:
    figures = [
        startup.time_imports("import pulumi (bare SDK)", ["pulumi"], repeat),
        startup.time_imports("import fleet.clouds.aws", ["fleet.clouds.aws"], repeat),
        startup.time_imports("import fleet.clouds.azure", ["fleet.clouds.azure"], repeat),
        startup.time_imports("import fleet.clouds.gcp", ["fleet.clouds.gcp"], repeat),
        startup.time_imports("import all three cloud modules",
                             ["fleet.clouds.aws", "fleet.clouds.azure", "fleet.clouds.gcp"], repeat),
    ]
    isolation = [startup.one_cloud_synth(cloud, root / "one-cloud") for cloud in startup.CLOUD_SDKS]
    used = {i.cloud: [m for m in i.sdk_modules if m.split(".")[0] == startup.CLOUD_SDKS[i.cloud]]
            for i in isolation}
    kubernetes = sorted({m for i in isolation for m in i.sdk_modules if m.startswith("pulumi_kubernetes")})
    for cloud in startup.CLOUD_SDKS:
        figures.append(startup.time_imports(f"SDK modules the {cloud}-only fleet uses ({len(used[cloud])})",
                                            used[cloud] + kubernetes, repeat))
    union = sorted({m for ms in used.values() for m in ms}) + kubernetes
    figures.append(startup.time_imports(f"SDK modules a three-cloud fleet uses ({len(union)})", union, repeat))
    print(f"  {'what':<52} {'import':>8} {'process':>8} {'peak RSS':>9}  pulumi packages loaded")
    for f in figures:
        print(f"  {f.label:<52} {f.seconds:7.2f}s {f.process_seconds:7.2f}s {f.peak_rss_mb:6.0f} MB"
              f"  {', '.join(f.packages)}")
    print("  (pulumi_kubernetes modules are counted with every cloud; service submodules such as pulumi_aws.ec2"
          " load on first use)")
    print()
    ok = True
    for i in isolation:
        verdict = "PASS" if i.ok else "FAIL"
        ok = ok and i.ok
        print(f"  {verdict} {i.cloud}-only fleet ({i.clusters} clusters, synth {i.seconds:.1f} s in-process): "
              f"cloud SDKs loaded: {', '.join(i.sdk_packages)}; modules: "
              f"{', '.join(m for m in i.sdk_modules if not m.startswith('pulumi_kubernetes'))}")
    packages = startup.validate_packages(root / "one-cloud")
    print(f"  {'PASS' if not packages else 'FAIL'} `fleet validate` of a three-cloud fleet loads no cloud SDK"
          f"{': ' + ', '.join(packages) if packages else ''}")
    return ok and not packages


# --- 4: new-region critical path ---------------------------------------------------------------


def report_critical(region_counts: list[int], root: Path) -> bool:
    folders = []
    for count in region_counts:
        folder = root / f"regions-{count:02d}"
        declarations.write(folder, declarations.regions(count))
        folders.append(folder)
    started = time.perf_counter()
    run(["-m", "benchmarks.synth_many", *map(str, folders)])
    print(f"  synthesized fleets of {', '.join(map(str, region_counts))} one-cluster regions "
          f"(+ hub) in one process: {time.perf_counter() - started:.0f} s")
    reference: dict[tuple[str, str], tuple] = {}
    all_ok = True
    checked = 0
    used_types: set[str] = set()
    unknown: set[str] = set()
    print()
    print("  regions clusters resources  new region (cloud, engine)        new-region path  own chain"
          "  + registration  equal  hub waits  from scratch")
    paths = []
    for count, folder in zip(region_counts, folders, strict=True):
        document = json.loads((folder / "out" / "resources.json").read_text())
        graph = critical_path.build(document)
        spokes = [c for c in document["clusters"] if c["role"] != "hub"]
        new = declarations.regions(count)[-1]
        chains = [critical_path.region_chain(graph, e.name) for e in declarations.regions(count)]
        chain = chains[-1]
        unknown |= graph.unknown_types
        used_types |= {s.type for c in chains for s in c.path}
        # every region, not only the new one, must keep the chain it had when it was new
        consistent = True
        for c in chains:
            checked += 1
            key = (c.provider, c.engine)
            reference.setdefault(key, c.signature())
            consistent = consistent and reference[key] == c.signature() and c.equals_own_plus_registration
        ok = chain.equals_own_plus_registration and consistent
        all_ok = all_ok and ok
        hub_waits = len(chain.outside.get("hub", []))
        print(f"  {count:>7} {len(document['clusters']):>8} {len(document['resources']):>9}  "
              f"{new.name + ' (' + chain.provider + ', ' + chain.engine + ')':<33} {chain.minutes:9.1f} min"
              f" {chain.own_minutes:7.1f} min {chain.minutes - chain.own_minutes:9.1f} min  "
              f"{'yes' if ok else 'NO':>5} {hub_waits:>10} {critical_path.from_scratch(graph):9.1f} min")
        paths.append((count, chain))
        if not ok:
            for c in chains:
                if c.violations or c.waited_on_by_others or not c.equals_own_plus_registration:
                    print(f"      {c.region}: other spokes waited on {c.violations}; waited on by "
                          f"{c.waited_on_by_others[:5]}; own+registration {c.equals_own_plus_registration}")
        assert len(spokes) == count
    print()
    print("  critical path of the new region at each fleet size (type@minute finished, * = registration on the hub):")
    for count, chain in paths:
        print(f"  {count:>3} regions, {chain.region}: {critical_path.render_path(chain)}")
    last = paths[-1][1]
    print()
    print(f"  {checked} region chains checked: every region of every fleet waits only for itself and the hub, nothing"
          f" else waits for it, and its path (minutes and resource types) is the one its cloud and engine had when"
          f" first added: {'yes' if all_ok else 'NO'}")
    per_kind = sorted(reference.items())
    print("  new-region path per cloud/engine: " + "; ".join(f"{p}/{e} {sig[0]:.1f} min" for (p, e), sig in per_kind))
    print(f"  the new region waits outside itself only for the hub's: {', '.join(last.outside.get('hub', []))}"
          f"{'; shared: ' + ', '.join(last.outside['shared']) if 'shared' in last.outside else ''}")
    print(f"  other spokes it waits for (directly or not): {last.violations or 'none'}; "
          f"existing resources waiting for it: {last.waited_on_by_others or 'none'}")
    print()
    print("  creation minutes used on these paths (full table with sources: docs/performance.md):")
    table = {t: (m, s) for t, m, s in critical_path.duration_table()}
    for type_ in sorted(used_types):
        minutes, source = table.get(type_, (None, ""))
        if minutes is None:
            continue
        key = next((k for k, v in critical_path.SOURCES.items() if v == source), source)
        print(f"    {type_:<58} {minutes:5.2f} min  [{key}]")
    print("    kubernetes:helm.sh/v3:Release by name: " + ", ".join(
        f"{k} {v:.1f} min" for k, v in critical_path.RELEASE_MINUTES.items()) + " [estimate]")
    if unknown:
        print(f"  types missing from the table (counted {critical_path.UNKNOWN_MINUTES} min): {sorted(unknown)}")
    return all_ok


# --- goals -----------------------------------------------------------------------------------


def goals(figures: dict[str, float] | None, startup_ok: bool | None, critical_ok: bool | None) -> None:
    rows = []
    if figures:
        n = int(figures["middle_spokes"])
        rows.append((f"fleet synth at {n} spokes <= {GOAL_RATIO} x bare-SDK baseline (wall)",
                     f"{figures['ratio_60']:.2f} x (CPU {figures['ratio_60_cpu']:.2f} x)",
                     figures["ratio_60"] <= GOAL_RATIO))
        rows.append((f"marginal cost per resource <= {GOAL_RATIO} x baseline's (wall slope, smallest->largest)",
                     f"{figures['marginal_ratio']:.2f} x", figures["marginal_ratio"] <= GOAL_RATIO))
        rows.append((f"per-cluster cost flat from smallest to largest (within {GOAL_FLAT - 1:.0%})",
                     f"marginal per cluster varies {figures['flat']:.2f} x (last/first {figures['growth']:.2f})",
                     figures["flat"] <= GOAL_FLAT))
    info = []
    if figures:
        info.append(f"against the bare SDK with its cyclic GC off as well: {figures['ratio_60_no_gc']:.2f} x at "
                    f"{int(figures['middle_spokes'])} spokes, {figures['marginal_ratio_no_gc']:.2f} x per resource")
    if startup_ok is not None:
        rows.append(("a one-cloud fleet never imports the other clouds' SDKs", "see start-up", startup_ok))
    if critical_ok is not None:
        rows.append(("new-region critical path = own chain + registration, whatever the fleet size",
                     "see critical path", critical_ok))
    print()
    print("== Goals (issue #6) ==")
    for goal, value, ok in rows:
        print(f"  {'PASS' if ok else 'FAIL'}  {goal:<86} {value}")
    for line in info:
        print(f"  info  {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="12,60,300", help="spokes per generated fleet (default 12,60,300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size, median taken (default 3)")
    parser.add_argument("--repeat-large", type=int, default=3,
                        help="runs for sizes >= --large (default 3: one 300-spoke run varies by 20 %%)")
    parser.add_argument("--large", type=int, default=200, help="size from which --repeat-large applies")
    parser.add_argument("--regions", default="1,2,3,10,20,30", help="region counts for the critical path")
    parser.add_argument("--startup-repeat", type=int, default=3)
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--full", action="store_true", help="shards: full synth of 1,000 clusters (long)")
    parser.add_argument("--shards-repeat", type=int, default=3, help="shards: preview runs per size")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    region_counts = sorted(int(s) for s in args.regions.split(","))

    info = machine()
    print("== fleet benchmarks ==")
    print(f"  machine: {info['cpu']}, {info['nproc']} CPUs, {info['memory']}; Python {info['python']};"
          f" {info['platform']}")
    print(f"  SDKs: {info['sdks']}")
    print(f"  {info['date']}; load average at start {info['load']}")
    root = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    started = time.perf_counter()
    figures = startup_ok = critical_ok = None
    try:
        if "overhead" in sections:
            print()
            print(f"== 1-2. Overhead and scaling: fleet synth vs bare Pulumi SDK ({', '.join(map(str, sizes))} spokes"
                  " + hub, all three clouds) ==")
            for n in sizes:
                print(f"  {n} spokes: {declarations.describe(declarations.spread(n))}")
            figures = report_overhead(overhead(sizes, args.repeat, args.repeat_large, args.large, root))
        if "startup" in sections:
            print()
            print("== 3. Start-up: one cloud vs three ==")
            startup_ok = report_startup(args.startup_repeat, root)
        if "critical" in sections:
            print()
            print("== 4. New-region critical path (modelled creation minutes, unbounded --parallel) ==")
            critical_ok = report_critical(region_counts, root)
        if "shards" in sections:
            print()
            print("== 5. Shards: a one-region change, every core, memory per shard process ==")
            shard_figures = sharded.report(root / "shards", args.full, args.shards_repeat)
            (Path("out")).mkdir(exist_ok=True)
            Path("out/bench-shards.json").write_text(json.dumps({"machine": info, "figures": shard_figures}, indent=2))
        goals(figures, startup_ok, critical_ok)
    finally:
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"  total {time.perf_counter() - started:.0f} s; load average at end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if figures is not None:
        (Path("out")).mkdir(exist_ok=True)
        Path("out/bench.json").write_text(json.dumps({"machine": info, "figures": figures}, indent=2))
    _ = asdict  # dataclasses stay importable for callers that want raw runs
    return 0


if __name__ == "__main__":
    sys.exit(main())
