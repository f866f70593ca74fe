"""The template languages of Argo CD ApplicationSets, as far as fleet evaluates them offline.

goTemplate: true renders with Go's text/template (https://pkg.go.dev/text/template) plus Sprig;
this evaluates the part cluster targeting uses: field chains (`{{.name}}`,
`{{.metadata.labels.env}}`), `index` (`{{index .metadata.labels "region"}}`), pipelines into
`lower`, `upper`, `trim`, `trimPrefix`, `trimSuffix`, `replace`, `trunc`, `default`, `quote`,
string literals, comments and the `{{-`/`-}}` trim markers. Go semantics kept: a missing map key
reached with a field (`.x`) is an error only with `missingkey=error` (else "<no value>"), a field
of a missing value is always an error, `index` of a missing key is "<no value>" whatever the
option. Control structures (if, range, with, define, variables) raise NotEvaluatedError: reported, never
guessed.

goTemplate: false is valyala/fasttemplate as Argo CD uses it: `{{key}}` (spaces trimmed) is the
flat parameter `key` (`metadata.labels.env`), and a tag without a parameter is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleet.kustomize import Unknown

NO_VALUE = "<no value>"
_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|[^\s()]+')
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


class TemplateError(Exception):
    """Argo CD itself fails to render (the ApplicationSet reports an error and generates nothing)."""


class NotEvaluatedError(Exception):
    """fleet cannot evaluate this offline (the reason is the message)."""


class _Missing:
    """A map key that is not there (Go's zero value: prints as <no value>)."""


MISSING = _Missing()


def render(text: str, params: Mapping[str, Any], go_template: bool, missing_error: bool = False) -> str:
    """`text` rendered with `params`; Unknown when it needs a value only known at deploy time."""
    if go_template:
        return _render_go(text, params, missing_error)
    return _render_fast(text, params)


def render_tree(value: Any, params: Mapping[str, Any], go_template: bool, missing_error: bool = False) -> Any:
    """Every string of a YAML tree rendered (how Argo CD interpolates a matrix's second generator)."""
    if isinstance(value, dict):
        return {k: render_tree(v, params, go_template, missing_error) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, params, go_template, missing_error) for v in value]
    if isinstance(value, str):
        return render(value, params, go_template, missing_error)
    return value


# --- fasttemplate -------------------------------------------------------------------------------


def _render_fast(text: str, params: Mapping[str, Any]) -> str:
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        key = (match.group(1) + match.group(2) + match.group(3)).strip()
        if key not in params:
            return match.group(0)
        value = params[key]
        unknown = unknown or isinstance(value, Unknown)
        return str(value)

    rendered = _ACTION.sub(replace, text)
    return Unknown(rendered) if unknown else rendered


# --- text/template subset ------------------------------------------------------------------------


def _render_go(text: str, params: Mapping[str, Any], missing_error: bool) -> str:
    pieces: list[str] = []
    unknown = False
    position = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        literal = text[position:match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        pieces.append(literal)
        value = _action(match.group(2).strip(), params, missing_error)
        unknown = unknown or isinstance(value, Unknown)
        pieces.append(_text(value))
        trim_next = bool(match.group(3))
        position = match.end()
    tail = text[position:]
    pieces.append(tail.lstrip() if trim_next else tail)
    if "{{" in tail:
        raise TemplateError(f"unclosed action in {text!r}")
    rendered = "".join(pieces)
    return Unknown(rendered) if unknown else rendered


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise NotEvaluatedError("a template prints a map or list (Go's formatting is not reproduced)")
    return str(value)


def _action(action: str, params: Mapping[str, Any], missing_error: bool) -> Any:
    if action.startswith("/*"):
        return ""
    tokens = _TOKEN.findall(action)
    if not tokens:
        raise TemplateError("empty action {{}}")
    if tokens[0] in _KEYWORDS or any(t.startswith("$") for t in tokens) or ":=" in tokens or "(" in tokens:
        raise NotEvaluatedError(f"template action {{{{{action[:60]}}}}} (control structures, variables and "
                          "parenthesised calls are not evaluated offline)")
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            commands.append([])
        else:
            commands[-1].append(token)
    value: Any = None
    for index, command in enumerate(commands):
        if not command:
            raise TemplateError(f"empty command in {{{{{action}}}}}")
        piped = [value] if index else []
        value = _command(command, piped, params, missing_error)
    return value


def _command(command: list[str], piped: list[Any], params: Mapping[str, Any], missing_error: bool) -> Any:
    head = command[0]
    if head.startswith(".") or head.startswith('"') or head.startswith("`") or _is_number(head):
        if len(command) > 1 or piped:
            raise TemplateError(f"can't give arguments to non-function {head}")
        return _argument(head, params, missing_error)
    arguments = [_argument(t, params, missing_error) for t in command[1:]] + piped
    if any(isinstance(a, Unknown) for a in arguments):
        return Unknown(f"{head}(...)")
    return _call(head, arguments)


def _is_number(token: str) -> bool:
    return bool(re.fullmatch(r"-?\d+", token))


def _argument(token: str, params: Mapping[str, Any], missing_error: bool) -> Any:
    if token.startswith('"'):
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if token.startswith("`"):
        return token[1:-1]
    if _is_number(token):
        return int(token)
    if token == ".":
        return dict(params)
    if token.startswith("."):
        return _field(token, params, missing_error)
    raise NotEvaluatedError(f"template function {token!r} as an argument")


def _field(chain: str, params: Mapping[str, Any], missing_error: bool) -> Any:
    value: Any = params
    names = chain.split(".")[1:]
    for position, name in enumerate(names):
        if isinstance(value, Unknown):
            return value
        if value is MISSING or value is None:
            raise TemplateError(f"nil pointer evaluating {chain} (no {'.'.join(names[:position])})")
        if not isinstance(value, Mapping):
            raise TemplateError(f"can't evaluate field {name} in {chain}")
        if name not in value:
            if missing_error:
                raise TemplateError(f'map has no entry for key "{name}" ({chain})')
            value = MISSING
            continue
        value = value[name]
    return value


def _call(name: str, arguments: list[Any]) -> Any:
    def text(value: Any) -> str:
        return _text(value)

    functions = {
        "lower": (1, lambda s: text(s).lower()),
        "upper": (1, lambda s: text(s).upper()),
        "trim": (1, lambda s: text(s).strip()),
        "trimPrefix": (2, lambda p, s: text(s).removeprefix(text(p))),
        "trimSuffix": (2, lambda p, s: text(s).removesuffix(text(p))),
        "replace": (3, lambda old, new, s: text(s).replace(text(old), text(new))),
        "trunc": (2, lambda n, s: text(s)[:n] if n >= 0 else text(s)[n:]),
        "default": (2, lambda d, v: d if v in (None, "", MISSING) else v),
        "quote": (1, lambda s: '"' + text(s) + '"'),
    }
    if name == "index":
        return _index(arguments)
    if name not in functions:
        raise NotEvaluatedError(f"template function {name!r} is not evaluated offline")
    count, function = functions[name]
    if len(arguments) != count:
        raise TemplateError(f"wrong number of args for {name}: want {count} got {len(arguments)}")
    return function(*arguments)


def _index(arguments: list[Any]) -> Any:
    if not arguments:
        raise TemplateError("index of nothing")
    value = arguments[0]
    for key in arguments[1:]:
        if value is MISSING or value is None:
            raise TemplateError("index of untyped nil")
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        elif isinstance(value, list) and isinstance(key, int):
            if not 0 <= key < len(value):
                raise TemplateError(f"index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value
