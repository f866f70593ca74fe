"""Start-up: import time per cloud, and which cloud SDKs a one-cloud fleet loads.

Two kinds of figures, each in fresh processes (median of a few):
- `import fleet.clouds.<cloud>`: what the program imports before it declares anything. The cloud
  SDKs load their service submodules (pulumi_aws.ec2, pulumi_gcp.compute, ...) lazily, on first
  use, so this is only the entry cost.
- the SDK submodules a real synth of a one-cloud fleet executed (lazy placeholders excluded),
  imported on their own: what a one-cloud fleet pays for its SDK, against the same for a
  three-cloud fleet.
The isolation check runs `fleet synth` on one-cloud fleets (hub and spokes on one cloud) and lists
the pulumi_* packages present in sys.modules afterwards: the other clouds' must be absent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import declarations
from benchmarks.measure import median, run

CLOUD_SDKS = {"aws": "pulumi_aws", "azure": "pulumi_azure_native", "gcp": "pulumi_gcp"}

_IMPORT = """
import json, sys, time
started = time.perf_counter()
{imports}
seconds = time.perf_counter() - started  # hasattr() on a lazy module executes it
print(json.dumps({{"seconds": seconds,
                  "packages": sorted({{m.split(".")[0] for m in sys.modules if m.startswith("pulumi")}})}}))
"""

_SYNTH = """
import json, sys, time
from fleet.cli import main
started = time.perf_counter()
code = main({argv!r})
seconds = time.perf_counter() - started
modules = sorted(m for m, module in list(sys.modules.items()) if m.startswith("pulumi_") and m.count(".") == 1
                 and not m.split(".")[1].startswith("_") and type(module).__name__ != "_LazyModule"
                 and hasattr(module, "__path__"))
print(json.dumps({{"code": code, "seconds": seconds, "modules": modules,
                  "packages": sorted({{m.split(".")[0] for m in sys.modules if m.startswith("pulumi")}})}}))
"""


@dataclass(frozen=True)
class ImportFigure:
    label: str
    seconds: float  # the import statement(s) alone, median
    process_seconds: float  # the whole `python -c` process, median
    packages: tuple[str, ...]
    peak_rss_mb: float = 0.0  # of that process, median


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def time_imports(label: str, modules: Sequence[str], repeat: int) -> ImportFigure:
    lines = [f"import {m}; hasattr({m}, '_fleet_bench_load')" for m in modules]
    code = _IMPORT.format(imports="\n".join(lines) or "pass")
    inner, outer, rss, packages = [], [], [], ()
    for _ in range(repeat):
        result = run(["-c", code])
        data = _last_json(result.stdout)
        inner.append(data["seconds"])
        outer.append(result.seconds)
        rss.append(result.peak_rss_mb)
        packages = tuple(data["packages"])
    return ImportFigure(label, median(inner), median(outer), packages, median(rss))


@dataclass(frozen=True)
class Isolation:
    cloud: str
    clusters: int
    sdk_packages: tuple[str, ...]  # cloud SDK packages loaded (pulumi_aws, ...)
    sdk_modules: tuple[str, ...]  # service subpackages actually executed (pulumi_aws.ec2, ...), not lazy ones
    seconds: float

    @property
    def ok(self) -> bool:
        others = {sdk for cloud, sdk in CLOUD_SDKS.items() if cloud != self.cloud}
        return CLOUD_SDKS[self.cloud] in self.sdk_packages and not others & set(self.sdk_packages)


def one_cloud_synth(cloud: str, folder: Path) -> Isolation:
    hub, entries = declarations.single_cloud(cloud)
    files = declarations.write(folder / cloud, entries, hub)
    argv = ["synth", "--stack", "prod", *[a for f in files for a in ("-f", str(f))], "--out", str(folder / "out")]
    data = _last_json(run(["-c", _SYNTH.format(argv=argv)]).stdout)
    if data["code"] != 0:
        raise RuntimeError(f"synth of a {cloud}-only fleet failed")
    sdks = tuple(p for p in data["packages"] if p in CLOUD_SDKS.values())
    return Isolation(cloud, 1 + sum(e.clusters for e in entries), sdks, tuple(data["modules"]), data["seconds"])


def validate_packages(folder: Path) -> tuple[str, ...]:
    """Cloud SDK packages `fleet validate` loads on a three-cloud fleet (expected: none)."""
    files = declarations.write(folder / "validate", declarations.regions(3))
    argv = ["validate", "--stack", "prod", *[a for f in files for a in ("-f", str(f))]]
    code = _SYNTH.format(argv=argv)
    data = _last_json(run(["-c", code]).stdout)
    return tuple(p for p in data["packages"] if p in CLOUD_SDKS.values())
