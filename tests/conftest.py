"""Shared fixtures: the project, its stacks synthesised once per test session, and the day.

The day: the suite never depends on today's date (issue #14). Whatever plans, validates or
synthesises is judged at the day the support calendar was compiled (fleet.spec.versions.AS_OF):
passed explicitly where a test calls the code, and set for the whole session as the shell's clock
input FLEET_AS_OF, which every command, the Pulumi program and its subprocesses read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.spec.versions import AS_OF
from fleet.stack import AS_OF_VARIABLE, PROJECT_DIR, read_stack_file
from fleet.synth import synthesize

SHARED = PROJECT_DIR.parent / "shared"


_THE_DAY = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    """FLEET_AS_OF = AS_OF from before collection to the end of the session (subprocesses inherit
    it); a test that needs another day sets it, or passes one."""
    _THE_DAY.setenv(AS_OF_VARIABLE, AS_OF.isoformat())


def pytest_unconfigure(config: pytest.Config) -> None:
    _THE_DAY.undo()


def synth_to(out_dir: Path, stack: str, files: list[str] | None = None) -> dict:
    config, problems = read_stack_file(PROJECT_DIR, stack)
    assert not problems
    if files:
        config = config.with_declaration_files(files)
    result = synthesize(PROJECT_DIR, config, out_dir, as_of=AS_OF)
    assert not result.problems, [str(p) for p in result.problems]
    assert result.program_error is None, result.program_error
    return json.loads((out_dir / "resources.json").read_text())


@pytest.fixture(scope="session")
def synth_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """prod and staging synthesised once: {stack: output folder}."""
    folders = {}
    for stack in ("prod", "staging"):
        folder = tmp_path_factory.mktemp(f"synth-{stack}")
        synth_to(folder, stack)
        folders[stack] = folder
    return folders


@pytest.fixture(scope="session")
def prod_synth(synth_dirs: dict[str, Path]) -> dict:
    return json.loads((synth_dirs["prod"] / "resources.json").read_text())


@pytest.fixture(scope="session")
def staging_synth(synth_dirs: dict[str, Path]) -> dict:
    return json.loads((synth_dirs["staging"] / "resources.json").read_text())


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "schemas" / "crds").is_dir():
        pytest.skip(f"../shared is not beside the project ({SHARED}): upstream CRDs unavailable")
    return SHARED
