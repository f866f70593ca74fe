"""Documentation generated from the code, so it cannot go stale: the README's Kubernetes version
table (fleet/spec/versions.py) and the stack settings table of docs/reference.md (fleet/settings.py).

Each lives between `<!-- NAME: begin -->` and `<!-- NAME: end -->` markers; `make docs`
(`python -m fleet.docs`) rewrites them and tests/test_cli.py checks they are current.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

VERSIONS = "fleet versions --markdown"
SETTINGS = "stack settings"


def versions_table(as_of: date | None = None) -> str:
    """The support calendar at `as_of` (default: the day it was compiled, so the text never depends
    on today's date)."""
    from fleet.spec.versions import AS_OF, support_table_markdown

    return support_table_markdown(as_of or AS_OF)


def settings_table() -> str:
    """Every `fleet:` setting with its description and default, from the StackSettings model."""
    from fleet.settings import NAMESPACE, StackSettings

    defaults = StackSettings()
    lines = ["| key | meaning | default |", "|---|---|---|"]
    for name, info in StackSettings.model_fields.items():
        value: Any = getattr(defaults, name)
        shown = value.model_dump(by_alias=True) if hasattr(value, "model_dump") else value
        lines.append(f"| `{NAMESPACE}:{info.alias or name}` | {info.description} | `{shown}` |")
    return "\n".join(lines) + "\n"


GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    VERSIONS: ("README.md", versions_table),
    SETTINGS: ("docs/reference.md", settings_table),
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def block(text: str, name: str) -> str | None:
    """The generated block `name` of a document, or None when it has no markers."""
    begin, end = markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return None
    return text[start + len(begin):stop].strip("\n") + "\n"


def replace_block(text: str, name: str, content: str) -> str:
    begin, end = markers(name)
    before, rest = text.split(begin, 1)
    return f"{before}{begin}\n{content}{end}{rest.split(end, 1)[1]}"


def update(path: Path, name: str, content: str) -> bool:
    """Rewrite block `name` of `path`; True when it changed. ValueError without markers."""
    text = path.read_text(encoding="utf-8")
    if block(text, name) is None:
        begin, end = markers(name)
        raise ValueError(f"{path}: no '{begin}' ... '{end}' markers; put them where the table belongs")
    updated = replace_block(text, name, content)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


def main(project_dir: Path) -> int:
    for name, (relative, generate) in GENERATED.items():
        changed = update(project_dir / relative, name, generate())
        print(f"{relative}: {name} {'updated' if changed else 'already current'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
