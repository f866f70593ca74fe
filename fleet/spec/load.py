"""YAML documents (files or stack config) -> typed models, with every problem located."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fleet.credentials import may_be_secret
from fleet.problems import Problem, did_you_mean, excerpt, field_path, one_of
from fleet.safeyaml import LoadError, load_documents
from fleet.spec.models import DOCUMENT_KINDS, ClusterSet, ClusterTemplate


@dataclass(frozen=True)
class RawDocument:
    source: str  # file path as the user wrote it, or "Pulumi.<stack>.yaml"
    body: Any

    @property
    def ident(self) -> str:
        if not isinstance(self.body, dict):
            return ""
        metadata = self.body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        return f"{_ident_part(self.body.get('kind'))}/{_ident_part(name)}"


_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _ident_part(value: Any) -> str:
    """A kind or name as it may appear in every message about its document: short and plain, else '?'."""
    return value if isinstance(value, str) and _IDENT.fullmatch(value) and not may_be_secret(value) else "?"


@dataclass(frozen=True)
class Located:
    """A parsed document and where it came from, for messages."""

    source: str
    model: ClusterTemplate | ClusterSet

    @property
    def ident(self) -> str:
        return f"{self.model.kind}/{self.model.metadata.name}"


@dataclass
class Declaration:
    templates: dict[str, Located] = field(default_factory=dict)
    cluster_sets: list[Located] = field(default_factory=list)


def read_yaml_documents(text: str, source: str) -> tuple[list[RawDocument], list[Problem]]:
    """The documents of YAML text, through the loading layer's limits (fleet.safeyaml)."""
    try:
        bodies = load_documents(text, source)
    except LoadError as error:
        return [], [error.problem]
    return [RawDocument(source, body) for body in bodies], []


def read_files(paths: Iterable[str | Path]) -> tuple[list[RawDocument], list[Problem]]:
    documents: list[RawDocument] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            bodies = load_documents(Path(path), str(path))
        except LoadError as error:
            problems.append(error.problem)
            continue
        documents += [RawDocument(str(path), body) for body in bodies]
    return documents, problems


def parse_documents(documents: Sequence[RawDocument]) -> tuple[Declaration, list[Problem]]:
    declaration = Declaration()
    problems: list[Problem] = []
    for document in documents:
        parsed, trouble = _parse_one(document)
        problems += trouble
        if parsed is None:
            continue
        if isinstance(parsed.model, ClusterTemplate):
            name = parsed.model.metadata.name
            if name in declaration.templates:
                first = declaration.templates[name]
                problems.append(
                    Problem(parsed.source, parsed.ident, "metadata.name",
                            f"duplicate ClusterTemplate '{name}' (also defined in {first.source})")
                )
                continue
            declaration.templates[name] = parsed
        else:
            declaration.cluster_sets.append(parsed)
    return declaration, problems


def _parse_one(document: RawDocument) -> tuple[Located | None, list[Problem]]:
    body, source, ident = document.body, document.source, document.ident
    if not isinstance(body, dict):
        return None, [Problem(source, "", "", f"expected a mapping with apiVersion and kind, got {_kind_of(body)}")]
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in DOCUMENT_KINDS:
        hint = did_you_mean(str(kind), DOCUMENT_KINDS) if kind else ""
        what = f"unknown kind {excerpt(kind)}{hint}" if kind else "missing field 'kind'"
        return None, [Problem(source, ident, "kind", f"{what}; expected one of {one_of(DOCUMENT_KINDS)}")]
    model_class = DOCUMENT_KINDS[kind]
    try:
        model = model_class.model_validate(body)
    except ValidationError as error:
        return None, [problem_from_error(source, ident, model_class, e) for e in error.errors()]
    return Located(source, model), []  # type: ignore[arg-type]


def _kind_of(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number"}.get(type(value), type(value).__name__)


def problem_from_error(source: str, ident: str, model_class: type[BaseModel], error: Any) -> Problem:
    location = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, name = location[:-1], str(location[-1])
        allowed = _allowed_fields(model_class, parent)
        hint = did_you_mean(name, allowed)
        expected = f"; expected one of {one_of(allowed)}" if allowed and not hint else ""
        return Problem(source, ident, field_path(location), f"unknown field {excerpt(name)}{hint}{expected}")
    if kind == "missing":
        return Problem(source, ident, field_path(location), "required field is missing")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        got = error.get("input")
        hint = did_you_mean(str(got), _literal_choices(expected)) if isinstance(got, str) else ""
        return Problem(source, ident, field_path(location), f"{excerpt(got)} is not allowed{hint}; expected {expected}")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("int_parsing", "int_type", "bool_parsing", "bool_type", "dict_type", "list_type",
                "string_type", "model_type", "int_from_float", "float_parsing", "float_type"):
        message = f"{message}, got {excerpt(error.get('input'))}"
    return Problem(source, ident, field_path(location), message[:MESSAGE_LIMIT])


MESSAGE_LIMIT = 400  # a message quoting a user's value never grows with the value


def _literal_choices(expected: str) -> list[str]:
    return [part.strip().strip("'") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def _allowed_fields(model_class: type[BaseModel], location: Sequence[str | int]) -> list[str]:
    """Field names (as users write them) of the model found at `location` inside model_class."""
    current: Any = model_class
    for part in location:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return _unwrap(info.annotation)
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so we reach the model class underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation
