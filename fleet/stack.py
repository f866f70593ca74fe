"""From a stack's configuration to a validated FleetPlan: the one path both `pulumi up` and the
offline commands take, so they accept and reject exactly the same declarations."""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from fleet.plan import FleetPlan, expand
from fleet.problems import Problem
from fleet.settings import NAMESPACE, StackSettings, parse_settings
from fleet.spec.load import Declaration, RawDocument, parse_documents, read_files

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class StackConfig:
    """A stack's configuration as `pulumi config` would give it: namespaced keys, decoded values."""

    stack: str
    source: str  # the file users edit, for messages
    values: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()

    def with_declaration_files(self, files: Sequence[str]) -> StackConfig:
        """The -f override: declarations come from these files only, nothing inline."""
        values = {k: v for k, v in self.values.items() if k != f"{NAMESPACE}:documents"}
        values[f"{NAMESPACE}:declarations"] = [str(Path(f).resolve()) for f in files]
        return StackConfig(self.stack, self.source, values, self.secret_keys)

    def fleet_values(self) -> dict[str, Any]:
        prefix = f"{NAMESPACE}:"
        values = {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}
        if "gcpProject" not in values and self.values.get("gcp:project"):
            values["gcpProject"] = self.values["gcp:project"]  # the gcp provider's own setting
        return values


@dataclass(frozen=True)
class StackResult:
    plan: FleetPlan
    settings: StackSettings
    problems: list[Problem]


def read_stack_file(project_dir: Path, stack: str) -> tuple[StackConfig, list[Problem]]:
    """Pulumi.<stack>.yaml, decoded offline. `secure:` values are not decrypted: they become a
    placeholder marked secret, which is all the offline commands need to know."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    source = path.name
    if not path.exists():
        return StackConfig(stack, source, {}), []
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        return StackConfig(stack, source, {}), [Problem(source, "", "", f"YAML syntax error{where}")]
    config = body.get("config") or {} if isinstance(body, dict) else {}
    if not isinstance(config, dict):
        return StackConfig(stack, source, {}), [Problem(source, "", "config", "expected a mapping")]
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in config.items():
        full_key = key if ":" in key else f"{NAMESPACE}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = SECRET_PLACEHOLDER
            secrets.add(full_key)
        else:
            values[full_key] = value
    return StackConfig(stack, source, values, frozenset(secrets)), []


def decode_config_value(raw: str | None) -> Any:
    """Pulumi hands structured config to programs as JSON text and plain values as text."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def declaration_files(patterns: Sequence[str], base_dir: Path, source: str) -> tuple[list[str], list[Problem]]:
    files: list[str] = []
    problems: list[Problem] = []
    for position, pattern in enumerate(patterns):
        matches = sorted(glob.glob(str(base_dir / pattern)))
        if not matches:
            problems.append(Problem(source, "", f"config.{NAMESPACE}:declarations[{position}]",
                                    f"'{pattern}' matches no file (relative to {base_dir})"))
        files += [_display_path(Path(m), base_dir) for m in matches]
    return files, problems


def _display_path(path: Path, base_dir: Path) -> str:
    """Paths in messages: relative to where the user stands, else to the project, else absolute."""
    for base in (Path.cwd(), base_dir):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def load_declaration(config: StackConfig, settings: StackSettings,
                     project_dir: Path) -> tuple[Declaration, list[Problem]]:
    """The documents of the files named by fleet:declarations, then those written inline."""
    paths, problems = declaration_files(settings.declarations, project_dir, config.source)
    found, trouble = read_files(project_dir / p for p in paths)
    found = [RawDocument(_display_path(Path(d.source), project_dir), d.body) for d in found]
    trouble = [Problem(_display_path(Path(p.file), project_dir), p.document, p.path, p.message)
               for p in trouble]
    inline = [RawDocument(config.source, body) for body in settings.documents]
    declaration, parse_problems = parse_documents([*found, *inline])
    return declaration, problems + trouble + parse_problems


def plan_stack(config: StackConfig, project_dir: Path = PROJECT_DIR, today: date | None = None) -> StackResult:
    """Settings -> documents -> plan -> guardrails; every problem found on the way, together."""
    from fleet import rules  # guardrails reuse the plan; imported here to keep start-up lean

    settings, problems = parse_settings(config.fleet_values(), config.source)
    declaration, load_problems = load_declaration(config, settings, project_dir)
    problems += load_problems
    if problems:
        return StackResult(FleetPlan(()), settings, problems)
    plan, plan_problems = expand(declaration, settings, config.stack, today)
    if plan_problems:
        return StackResult(plan, settings, plan_problems)
    return StackResult(plan, settings, rules.check_plan(plan, declaration))
