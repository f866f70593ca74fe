"""The one loading layer: every YAML or JSON file the program reads goes through here.

Limits hold before any value reaches pydantic or the planner, so hostile or careless input is
refused with one line, quickly and in bounded memory:

- size: at most `max_bytes` are ever read (so `/dev/zero` or a 50 MB value cannot exhaust memory),
  and only regular files are opened (a FIFO would block forever);
- text: UTF-8, with the line and column of the first byte that is not;
- nesting: at most MAX_DEPTH levels (PyYAML's composer and `json` recurse, 20,000 brackets would
  otherwise end in RecursionError);
- aliases: a document whose aliases expand to more than MAX_EXPANDED values is refused ("billion
  laughs": PyYAML shares the aliased objects, but every consumer that walks the value, pydantic
  included, expands them), and so is a recursive alias;
- duplicate keys are refused with both lines (YAML 1.2 requires unique keys, PyYAML keeps the last),
  and keys must be text (`1:` or `on:` as a key is a typo in this program's documents);
- numbers with a dot stay text (`version: 1.30` must not become 1.3).

Every refusal is a LoadError carrying one Problem (file, message); messages never quote values.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.problems import Problem

MAX_BYTES = 1024 * 1024  # declarations and stack files are a few kB; PyYAML parses 1 MB in ~1 s
MAX_JSON_BYTES = 256 * 1024 * 1024  # synth outputs and saved stack outputs (json is C, fast)
MAX_DEPTH = 64
MAX_EXPANDED = 100_000


class LoadError(Exception):
    """A file (or text) that cannot be loaded; `problem` is the one line to show."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


def load_documents(path_or_text: Path | str, source: str, *, max_bytes: int = MAX_BYTES,
                   floats_as_text: bool = True) -> list[Any]:
    """Every non-empty YAML document of a file (a Path) or of text (a str), limits enforced.
    floats_as_text=False reads numbers with a dot as numbers, as Pulumi does with a stack file."""
    text = path_or_text if isinstance(path_or_text, str) else read_text(path_or_text, source, max_bytes)
    if len(text) > max_bytes:
        raise _error(source, f"is larger than {_size(max_bytes)}; declarations are a few kB")
    loader = None
    try:
        loader = (_Loader if floats_as_text else _NumberLoader)(text)  # the reader refuses control characters
        documents = []
        while loader.check_node():
            node = loader.get_node()
            _check_expansion(node, source)
            body = loader.construct_document(node)
            if body is not None:
                documents.append(body)
        return documents
    except yaml.MarkedYAMLError as error:
        raise _error(source, _yaml_message(error)) from None
    except yaml.YAMLError as error:
        raise _error(source, f"YAML syntax error: {_short(str(error), 80)}") from None
    except (ValueError, OverflowError) as error:  # e.g. a date 2024-13-45, an int of 5,000 digits
        raise _error(source, f"a value cannot be read: {_short(str(error), 80)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path_or_text: Path | str, source: str, *, max_bytes: int = MAX_BYTES,
              floats_as_text: bool = True) -> Any:
    """A file or text holding at most one YAML document (None when empty)."""
    documents = load_documents(path_or_text, source, max_bytes=max_bytes, floats_as_text=floats_as_text)
    if len(documents) > 1:
        raise _error(source, f"holds {len(documents)} YAML documents; expected one")
    return documents[0] if documents else None


def load_json(path: Path, source: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file, limits enforced (size, UTF-8, nesting, duplicate keys, no NaN/Infinity)."""
    text = read_text(path, source, max_bytes)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise _error(source, f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise _error(source, "JSON nested too deeply") from None
    except _DuplicateKeyError as duplicate:
        raise _error(source, f"JSON object has the key '{duplicate.key}' twice") from None
    except ValueError as error:  # _no_constant
        raise _error(source, str(error)) from None


def read_text(path: Path, source: str, max_bytes: int = MAX_BYTES) -> str:
    """A regular file's UTF-8 text, reading at most max_bytes + 1 bytes."""
    try:
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise _error(source, "is not a regular file")
            data = handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise _error(source, "is a folder, not a file") from None
    except FileNotFoundError:
        raise _error(source, "no such file") from None
    except OSError as error:
        raise _error(source, f"cannot read file: {error.strerror or type(error).__name__}") from None
    if len(data) > max_bytes:
        raise _error(source, f"is larger than {_size(max_bytes)}")
    return decode_utf8(data, source)


def decode_utf8(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise _error(source, f"not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}, "
                             f"column {column}); save the file as UTF-8") from None
    return text.removeprefix("\ufeff")


def _error(source: str, message: str) -> LoadError:
    return LoadError(Problem(source, "", "", message))


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MB" if count >= 1024 * 1024 else f"{count // 1024} kB"


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = error.problem or error.context or "invalid YAML"
    if isinstance(error, _Refused):
        return f"{where.strip().removeprefix('at ')}: {what}" if where else what
    return f"YAML syntax error{where}: {what}"


# --- YAML ------------------------------------------------------------------------------------


class _Refused(yaml.MarkedYAMLError):
    """A limit or rule of this loader, reported like a syntax error (with its line)."""

    def __init__(self, node_or_mark: Any, problem: str):
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader with a nesting limit, unique text keys and numbers-with-dots kept as text."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self.peek_event(), f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self._check_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _check_keys(self, node: MappingNode) -> None:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                written = _short(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                raise _Refused(key_node, f"the key {written} is read as {_KINDS.get(type(key), 'a value')}, "
                                         f"not text; quote it: \"{written}\"")
            if key in seen:
                raise _Refused(key_node, f"duplicate key '{_short(key)}' (first at line {seen[key]}); "
                                         "a key may appear once per mapping")
            seen[key] = line


_KINDS = {bool: "true/false", int: "a number", type(None): "null", list: "a list", dict: "a mapping"}

_Loader.add_constructor("tag:yaml.org,2002:float", lambda loader, node: loader.construct_scalar(node))


class _NumberLoader(_Loader):
    """The same limits, numbers with a dot read as numbers."""


_NumberLoader.add_constructor("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_float)


def _short(text: str, limit: int = 40) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return printable + ("..." if len(text) > limit else "")


def _check_expansion(root: Node, source: str) -> None:
    """Refuse documents whose aliases expand to more than MAX_EXPANDED values, or recurse."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_EXPANDED:
                raise _Refused(node, _too_many(expanded=sizes[key] > len(sizes)))
            continue
        if key in sizes:
            continue
        if key in active:
            raise _Refused(node, "an alias refers to a value that contains it (recursive alias)")
        active.add(key)
        stack.append((node, True))
        stack += [(child, False) for child in _children(node) if id(child) not in sizes]


def _too_many(expanded: bool) -> str:
    if expanded:
        return (f"aliases expand this value to more than {MAX_EXPANDED} values (a 'billion laughs' "
                "document); write the values out")
    return f"holds more than {MAX_EXPANDED} values"


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    assert isinstance(node, ScalarNode)
    return []


# --- JSON ------------------------------------------------------------------------------------


class _DuplicateKeyError(Exception):
    def __init__(self, key: str):
        self.key = _short(key)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON holds {name}, which is not a number JSON allows")
