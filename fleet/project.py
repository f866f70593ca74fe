"""Where the project is and how paths are shown: found from where the user stands, like git.

`find_project` walks up from the working directory to the nearest folder holding Pulumi.yaml (git
does the same for .git, https://git-scm.com/docs/git#Documentation/git.txt-GITDIR); paths written
in the project's files resolve against that folder, paths typed on the command line against the
working directory, and every path in a message is shown relative to where the user stands.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_FILE = "Pulumi.yaml"
NOT_FOUND = (f"no {PROJECT_FILE} in this folder or any folder above it; run fleet inside the project "
             "(the folder holding Pulumi.yaml) or one of its subfolders")


def find_project(start: Path | None = None) -> Path | None:
    """The nearest folder from `start` (default: the working directory) upwards holding Pulumi.yaml."""
    here = Path(os.path.abspath(start if start is not None else Path.cwd()))
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def display_path(path: str | Path, cwd: Path | None = None) -> str:
    """`path` as the user standing in `cwd` would type it: relative when it lies under cwd or in
    the same project as cwd (`../blueprints/x.yaml` from docs/), else absolute."""
    here = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
    target = Path(os.path.abspath(here / path))
    if is_inside(target, here):
        return str(target.relative_to(here))
    project = find_project(here)
    if project is not None and is_inside(target, project):
        return os.path.relpath(target, here)
    return str(target)


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` (symlinks resolved) lies in `folder` (symlinks resolved)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def from_command_line(path: str, cwd: Path | None = None) -> Path:
    """A path typed by the user: relative to where they stand, absolute afterwards."""
    return Path(os.path.abspath((cwd if cwd is not None else Path.cwd()) / Path(path).expanduser()))
