"""From a stack's configuration to a validated FleetPlan: the one path both `pulumi up` and the
offline commands take, so they accept and reject exactly the same declarations."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fleet.plan import FleetPlan, expand
from fleet.problems import Problem, excerpt
from fleet.project import display_path, from_command_line, is_inside
from fleet.safeyaml import LoadError, load_yaml
from fleet.settings import NAMESPACE, SECRET_PLACEHOLDER, StackSettings, parse_settings
from fleet.shards import HUB_SHARD, SHARD_KEY, SHARD_OF_KEY, shard_problems, shard_stack
from fleet.spec.load import Declaration, RawDocument, parse_documents, read_files

PROJECT_DIR = Path(__file__).resolve().parent.parent  # where fleet is installed; see fleet.project
__all__ = ["PROJECT_DIR", "SECRET_PLACEHOLDER", "StackConfig", "StackResult", "plan_stack", "read_stack_file"]

# Files named with -f in this process. They may lie outside the project: the user typed them. Kept
# here, not in the config, because the config also reaches the program through the engine (`fleet
# synth`), where a stack file could otherwise claim the same freedom for /etc/passwd.
_COMMAND_LINE_FILES: set[str] = set()


@dataclass(frozen=True)
class StackConfig:
    """A stack's configuration as `pulumi config` would give it: namespaced keys, decoded values."""

    stack: str
    source: str  # the file users edit, for messages
    values: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()
    replaced: tuple[str, ...] = ()  # the stack's own fleet:declarations, replaced by -f
    shard: str | None = None  # this is the environment `stack` as seen from its shard `shard` (fleet.shards)

    @property
    def pulumi_stack(self) -> str:
        """The stack the program runs in: the environment's, or the shard's `<stack>.<shard>`."""
        return shard_stack(self.stack, self.shard) if self.shard else self.stack

    def of_shard(self, shard: str | None) -> StackConfig:
        return StackConfig(self.stack, self.source, self.values, self.secret_keys, self.replaced, shard)

    def with_declaration_files(self, files: Sequence[str]) -> StackConfig:
        """The -f override: declarations come from these files only (relative to where the user
        stands), nothing inline."""
        values = {k: v for k, v in self.values.items() if k != f"{NAMESPACE}:documents"}
        paths = [str(from_command_line(f)) for f in files]
        _COMMAND_LINE_FILES.update(paths)
        values[f"{NAMESPACE}:declarations"] = paths
        own = self.values.get(f"{NAMESPACE}:declarations")
        replaced = tuple(str(p) for p in own) if isinstance(own, list) else ()
        return StackConfig(self.stack, self.source, values, self.secret_keys, replaced=replaced, shard=self.shard)

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
    as_of: date | None = None  # the day the support calendar was judged at (None: never judged)


# The imperative shell's one clock input: the day the Kubernetes support calendar is judged at.
# Pure code (fleet.plan, fleet.spec, fleet.rules) only ever receives it (docs/upgrading.md).
AS_OF_VARIABLE = "FLEET_AS_OF"


def clock_today(environ: Mapping[str, str] | None = None) -> tuple[date, list[Problem]]:
    """FLEET_AS_OF (YYYY-MM-DD) when set, else the system's date; a malformed value is a problem."""
    text = (os.environ if environ is None else environ).get(AS_OF_VARIABLE, "").strip()
    if not text:
        return date.today(), []
    try:
        return date.fromisoformat(text), []
    except ValueError:
        return date.today(), [Problem(AS_OF_VARIABLE, "", "", f"{excerpt(text)} is not a day: expected YYYY-MM-DD, "
                                      "the day the Kubernetes support calendar is judged at (unset: today)")]


def read_stack_file(project_dir: Path, stack: str) -> tuple[StackConfig, list[Problem]]:
    """Pulumi.<stack>.yaml, decoded offline through the loading layer (fleet.safeyaml). `secure:`
    values are not decrypted: they become a placeholder marked secret, which is all the offline
    commands need to know. A shard's stack file (fleet:shardOf) reads as its environment's
    configuration seen from that shard (StackConfig.shard)."""
    own, problems = _read_one_stack_file(project_dir, stack)
    if problems or SHARD_OF_KEY not in own.values:
        return own, problems
    return resolve_shard(own, project_dir)


def resolve_shard(own: StackConfig, project_dir: Path) -> tuple[StackConfig, list[Problem]]:
    """A shard stack's own config (fleet:shardOf, fleet:shard) -> its environment's config, seen from
    the shard: the declaration, settings and secrets are the environment's (set once, there)."""
    environment, shard = own.values.get(SHARD_OF_KEY), own.values.get(SHARD_KEY)
    where = f"config.{SHARD_OF_KEY}"
    if not isinstance(environment, str) or not isinstance(shard, str) or not shard or shard == HUB_SHARD:
        return own, [Problem(own.source, "", where, f"a shard stack names its environment ({SHARD_OF_KEY}) and "
                             f"its region entry ({SHARD_KEY}) as text; rewrite it with `fleet shards`")]
    if shard_stack(environment, shard) != own.stack:
        return own, [Problem(own.source, "", where, f"stack {excerpt(own.stack)} says it is shard "
                             f"{excerpt(shard)} of {excerpt(environment)}, whose stack is "
                             f"'{shard_stack(environment, shard)}'; rewrite it with `fleet shards`")]
    config, problems = _read_one_stack_file(project_dir, environment)
    if problems:
        return own, problems
    if config.values.get(f"{NAMESPACE}:sharding") != "region":
        return own, [Problem(own.source, "", where, f"its environment {config.source} does not set "
                             f"{NAMESPACE}:sharding: region; set it there, or remove this shard stack")]
    return config.of_shard(shard), []


def _read_one_stack_file(project_dir: Path, stack: str) -> tuple[StackConfig, list[Problem]]:
    path = project_dir / f"Pulumi.{stack}.yaml"
    source = display_path(path)
    empty = StackConfig(stack, source, {})
    if not path.exists():
        known = ", ".join(stack_names(project_dir)) or "none"
        return empty, [Problem(source, "", "", f"no such stack file (stacks in {display_path(project_dir)}: "
                               f"{known}); check --stack, or create it with `pulumi stack init {stack}`")]
    try:
        # Numbers as Pulumi reads them: under `pulumi up` a bare 1.30 reaches the program as 1.3
        # (pulumi/pulumi sdk/go/common/resource/config/object.go, unmarshalObject), so offline too.
        body = load_yaml(path, source, floats_as_text=False)
    except LoadError as error:
        return empty, [error.problem]
    if body is None:
        return empty, [Problem(source, "", "", "the stack file is empty; it needs a `config:` mapping with "
                                               f"{NAMESPACE}:declarations (or {NAMESPACE}:documents)")]
    if not isinstance(body, dict):
        return empty, [Problem(source, "", "", f"expected a mapping with a `config:` key, got {excerpt(body)}")]
    config = body.get("config") or {}
    if not isinstance(config, dict):
        return empty, [Problem(source, "", "config", f"expected a mapping of settings, got {excerpt(config)}")]
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


def shard_stack_files(project_dir: Path, environment: str) -> set[str]:
    """Shards of `environment` that have a stack file (fleet:shardOf names it), whether or not the
    declaration still has their region entry."""
    found = set()
    for path in project_dir.glob(f"Pulumi.{environment}.*.yaml"):
        try:
            body = load_yaml(path, path.name)
        except LoadError:
            continue
        config = body.get("config") if isinstance(body, dict) else None
        ours = isinstance(config, dict) and config.get(SHARD_OF_KEY) == environment
        if ours and isinstance(config.get(SHARD_KEY), str):
            found.add(config[SHARD_KEY])
    return found


def stack_names(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def decode_config_value(raw: str | None) -> Any:
    """Pulumi hands structured config to programs as JSON text and plain values as text."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason: the settings check refuses it
        return raw


def declaration_files(patterns: Sequence[str], base_dir: Path, source: str) -> tuple[list[Path], list[Problem]]:
    """The files the patterns name, relative to the project folder. A file outside the project is
    refused without being opened (a stack file must not make CI read /etc/passwd), unless the user
    named it with -f."""
    files: list[Path] = []
    problems: list[Problem] = []
    for position, pattern in enumerate(patterns):
        where = f"config.{NAMESPACE}:declarations[{position}]"
        matches = sorted(glob.glob(os.path.join(base_dir, pattern)))
        if not matches:
            problems.append(Problem(source, "", where, f"{excerpt(pattern)} matches no file (relative to "
                                                       f"{display_path(base_dir) or '.'})"))
        for match in matches:
            path = Path(os.path.abspath(match))
            if str(path) not in _COMMAND_LINE_FILES and not is_inside(path, base_dir):
                problems.append(Problem(source, "", where, f"{excerpt(pattern)} resolves outside the project "
                                        "folder; declarations must live inside it (or be named with -f)"))
                continue
            files.append(path)
    return files, problems


def load_declaration(config: StackConfig, settings: StackSettings,
                     project_dir: Path) -> tuple[Declaration, list[Problem]]:
    """The documents of the files named by fleet:declarations, then those written inline."""
    paths, problems = declaration_files(settings.declarations, project_dir, config.source)
    found, trouble = read_files(paths)
    found = [RawDocument(display_path(d.source), d.body) for d in found]
    trouble = [Problem(display_path(p.file), p.document, p.path, p.message) for p in trouble]
    inline = [RawDocument(config.source, body) for body in settings.documents]
    declaration, parse_problems = parse_documents([*found, *inline])
    read = [display_path(str(path)) for path in paths]
    read += [f"{config.source} ({NAMESPACE}:documents)"] if inline else []
    if read and not declaration.cluster_sets and not (problems or trouble or parse_problems):
        parse_problems.append(Problem(read[0], "", "", f"no ClusterSet document in {', '.join(read)}; add one "
                                      "(apiVersion: fleet.example.com/v1, kind: ClusterSet) naming the regions, "
                                      "templates and clouds of the fleet"))
    return declaration, problems + trouble + parse_problems


# Within one offline synth (plans_reused), one configuration over the same declaration files plans
# once: a sharded synth would otherwise plan the whole declaration for its validation, for the
# environment's program and again for each shard's program. Never active under `pulumi up`.
_PLANS: dict[tuple[Any, ...], StackResult] | None = None


@contextlib.contextmanager
def plans_reused() -> Iterator[None]:
    global _PLANS
    outer = _PLANS
    _PLANS = {} if outer is None else outer
    try:
        yield
    finally:
        _PLANS = outer


def _plan_key(config: StackConfig, project_dir: Path, today: date,
              running: Mapping[str, str] | None) -> tuple[Any, ...] | None:
    """What a plan depends on: the settings, the declaration files' bytes, the day, what runs."""
    settings, problems = parse_settings(config.fleet_values(), config.source)
    paths, trouble = declaration_files(settings.declarations, project_dir, config.source)
    if problems or trouble:
        return None
    try:
        files = tuple((str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths)
    except OSError:
        return None
    values = json.dumps(dict(config.values), sort_keys=True, default=str)
    return (config.stack, config.source, values, tuple(sorted(config.secret_keys)), config.replaced,
            str(project_dir), files, today, tuple(sorted((running or {}).items())) if running is not None else None)


def plan_stack(config: StackConfig, project_dir: Path = PROJECT_DIR, today: date | None = None,
               running: Mapping[str, str] | None = None) -> StackResult:
    """Settings -> documents -> plan -> guardrails; every problem found on the way, together
    (planned once per configuration inside plans_reused). `today`: the day the support calendar
    is judged at; None: the shell's clock (clock_today)."""
    if today is None:
        today, trouble = clock_today()
        if trouble:
            return StackResult(FleetPlan(()), parse_settings(config.fleet_values(), config.source)[0], trouble)
    if _PLANS is None:
        return _plan_stack(config, project_dir, today, running)
    key = _plan_key(config, project_dir, today, running)
    if key is None:
        return _plan_stack(config, project_dir, today, running)
    if key not in _PLANS:
        _PLANS[key] = _plan_stack(config, project_dir, today, running)
    return _PLANS[key]


def _plan_stack(config: StackConfig, project_dir: Path, today: date,
                running: Mapping[str, str] | None = None) -> StackResult:
    """Settings -> documents -> plan -> guardrails; every problem found on the way, together.
    `running`: cluster -> Kubernetes minor it runs (fleet.plan.expand); warnings ride on the plan."""
    from fleet import rules  # guardrails reuse the plan; imported here to keep start-up lean

    settings, problems = parse_settings(config.fleet_values(), config.source)
    if not problems and not settings.declarations and not settings.documents:
        problems.append(Problem(config.source, "", "config", f"declares no {NAMESPACE}:declarations (files of "
                                f"ClusterTemplate and ClusterSet documents) nor {NAMESPACE}:documents"))
    declaration, load_problems = load_declaration(config, settings, project_dir)
    problems += load_problems
    if problems:
        return StackResult(FleetPlan(()), settings, problems)
    plan, plan_problems = expand(declaration, settings, config.stack, today, running)
    if plan_problems:
        replaced = _replaced_templates(config, project_dir)
        return StackResult(plan, settings, [_explain_override(p, replaced) for p in plan_problems], today)
    sharding = shard_problems(plan, config.source) if settings.sharding == "region" else []
    return StackResult(plan, settings, sharding + rules.check_plan(plan, declaration, today), today)


def _replaced_templates(config: StackConfig, project_dir: Path) -> dict[str, str]:
    """Template name -> file, of the stack's own declarations that -f replaced."""
    paths, _ = declaration_files(config.replaced, project_dir, config.source)
    documents, _ = read_files(paths)
    return {d.body["metadata"]["name"]: display_path(d.source) for d in documents
            if isinstance(d.body, dict) and d.body.get("kind") == "ClusterTemplate"
            and isinstance(d.body.get("metadata"), dict) and isinstance(d.body["metadata"].get("name"), str)}


def _explain_override(problem: Problem, replaced: Mapping[str, str]) -> Problem:
    """-f replaces the stack's declarations: say so where that is why a template is unknown."""
    name = next((n for n in replaced if f"unknown template '{n}'" in problem.message), None)
    if name is None:
        return problem
    return Problem(problem.file, problem.document, problem.path,
                   f"{problem.message}; it is defined in {replaced[name]}, which -f replaced (the stack's "
                   f"{NAMESPACE}:declarations): name that file with -f too")
