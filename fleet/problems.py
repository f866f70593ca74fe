"""Problems are values: collected, sorted and reported together, never raised one by one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the declaration, located as precisely as we can."""

    file: str
    document: str  # "Kind/name", or "" when the problem is about a whole file
    path: str  # field path such as "spec.regions[1].template", or "" for the whole document
    message: str
    # "error" stops validate, synth and `pulumi up`; a "warning" is printed (pulumi.log.warn under
    # `pulumi up`) and stops nothing: what only a date makes worse is a warning (fleet.spec.versions).
    severity: str = "error"

    @property
    def is_warning(self) -> bool:
        return self.severity == WARNING

    def __str__(self) -> str:
        parts = [self.file or "<declaration>"]
        if self.document:
            parts.append(self.document)
        if self.path:
            parts.append(self.path)
        text = ": ".join([*parts, f"warning: {self.message}" if self.is_warning else self.message])
        return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


ERROR, WARNING = "error", "warning"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_warning]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_warning]


class DeclarationError(Exception):
    """Raised at the program's edge (never inside the core) when problems were found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(sorted(set(problems), key=_report_order))
        super().__init__("\n".join(str(p) for p in self.problems))


def _report_order(problem: Problem) -> tuple[str, str, str, str]:
    return (problem.file, problem.document, problem.path, problem.message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close choice exists, else ''."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def one_of(choices: Iterable[str]) -> str:
    return ", ".join(f"'{c}'" for c in sorted(set(choices)))


def field_path(location: Sequence[str | int]) -> str:
    """('spec', 'regions', 1, 'template') -> 'spec.regions[1].template'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{safe_key(part)}" if text else safe_key(part)
    return text


def safe_key(key: object) -> str:
    """A mapping key as it may appear in a message: itself when short and printable, else an excerpt."""
    text = str(key)
    return text if text.isprintable() and 0 < len(text) <= 63 else excerpt(text)


EXCERPT_LIMIT = 40


def excerpt(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """A short, safe rendering of a user's value for a message: at most `limit` characters of a
    text or number, a description of anything bigger, nothing of a value that may be a secret."""
    from fleet.credentials import may_be_secret  # imported here: credentials imports nothing of ours

    if isinstance(value, bool) or value is None:
        return repr(value).lower() if value is not None else "null"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= limit else f"a number of {len(text)} digits"
    if isinstance(value, str):
        if may_be_secret(value[:4096]):  # all that could be shown, and a bound on the search
            return "(a value that looks like a credential, not shown)"
        shown = "".join(c if c.isprintable() else "?" for c in value[:limit])
        return repr(shown + "...") if len(value) > limit else repr(shown)
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    return f"a {type(value).__name__}"
