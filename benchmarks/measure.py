"""Whole-process measurements of one child process: wall time, CPU time and peak RSS.

They come from os.wait4 on that very process (its own rusage; ru_maxrss in KiB on Linux), so one
measurement never sees another's peak (RUSAGE_CHILDREN keeps the maximum over all children).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    cpu_seconds: float  # user + system CPU time of the child
    peak_rss_mb: float
    stdout: str


class ChildFailedError(RuntimeError):
    pass


# Peak RSS cannot come from the benchmark's own children: Linux keeps a forked child's high-water
# mark from before its exec (the benchmark's own RSS, hundreds of MB once it has read a large
# resources.json). A small launcher process forks the measured command instead and reports what
# os.wait4 says about it.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def run(args: Sequence[str], cwd: Path = PROJECT_DIR, env: dict[str, str] | None = None) -> Run:
    """Run `python args...` to completion: wall time from fork to reaping, CPU time and peak RSS of
    that process alone."""
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    out_path = folder / f"fleet-bench-{os.getpid()}.out"
    result_path = folder / f"fleet-bench-{os.getpid()}.json"
    with open(out_path, "w+") as out:
        subprocess.run([sys.executable, "-c", _LAUNCHER, str(result_path), sys.executable, *args], cwd=cwd,
                       stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, check=False)
        out.seek(0)
        text = out.read()
    out_path.unlink(missing_ok=True)
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        raise ChildFailedError(f"`python {' '.join(args)}` could not be measured:\n{text[-3000:]}") from None
    result_path.unlink(missing_ok=True)
    if result["code"] != 0:
        raise ChildFailedError(f"`python {' '.join(args)}` exited {result['code']}:\n{text[-3000:]}")
    return Run(result["seconds"], result["cpu"], result["rss_kb"] / 1024, text)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min-max of repeated measurements, for the reader to judge the noise."""
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"
