"""Shared fixtures: the project, its stacks synthesised once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.stack import PROJECT_DIR, read_stack_file
from fleet.synth import synthesize

SHARED = PROJECT_DIR.parent / "shared"


def synth_to(out_dir: Path, stack: str, files: list[str] | None = None) -> dict:
    config, problems = read_stack_file(PROJECT_DIR, stack)
    assert not problems
    if files:
        config = config.with_declaration_files(files)
    result = synthesize(PROJECT_DIR, config, out_dir)
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
