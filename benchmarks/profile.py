"""Profile `fleet synth` of a generated fleet with pyinstrument: `python -m benchmarks.profile [SPOKES]`.

The first synth (a three-region fleet) is not profiled: it imports the cloud SDK modules, a fixed
start-up cost measured separately (benchmarks.startup). The second synth, of SPOKES spokes (60
by default), is profiled: the per-resource cost of the program. Writes the text report to stdout
and an HTML report next to the output folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import declarations
from benchmarks.measure import PROJECT_DIR


def synth(files: list[Path], out: Path) -> float:
    from fleet.cli import main

    started = time.perf_counter()
    args = ["synth", "--stack", "prod", *[a for f in files for a in ("-f", str(f))], "--out", str(out)]
    if main(args) != 0:
        raise SystemExit("synth failed")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spokes", nargs="?", type=int, default=60)
    parser.add_argument("--html", help="where to write the HTML report")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory(prefix="fleet-profile-") as tmp:
        root = Path(tmp)
        warm = declarations.write(root / "warm", declarations.regions(3))
        print(f"warm-up synth (imports): {synth(warm, root / 'warm-out'):.2f} s", file=sys.stderr)
        files = declarations.write(root / "fleet", declarations.spread(args.spokes))
        profiler = Profiler(interval=0.001)
        profiler.start()
        seconds = synth(files, root / "out")
        profiler.stop()
        print(f"profiled synth of {args.spokes} spokes: {seconds:.2f} s", file=sys.stderr)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        html = Path(args.html) if args.html else PROJECT_DIR / "out" / f"profile-{args.spokes}.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(profiler.output_html())
        print(f"HTML report: {html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
