"""Synthesize several declaration folders in ONE process (the SDK imports are paid once).

`python -m benchmarks.synth_many FOLDER...`: each FOLDER holds blueprints.yaml and clusterset.yaml
(benchmarks.declarations.write); the output goes to FOLDER/out/. Used for the critical-path
fleets, whose figures are structural (not timed).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(folders: list[str]) -> int:
    from fleet.cli import main as fleet

    for folder in map(Path, folders):
        argv = ["synth", "--stack", "prod", "-f", str(folder / "blueprints.yaml"),
                "-f", str(folder / "clusterset.yaml"), "--out", str(folder / "out")]
        code = fleet(argv)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
