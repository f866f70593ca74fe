"""Run the real `__main__.py` in-process under the Pulumi SDK's mock engine and record everything.

The recorder sits at the engine boundary (the monitor's RegisterResource), so it sees exactly what
`pulumi up` would send: type, name, parent, provider, dependencies, options and the inputs under
their engine (camelCase) names, with secrets still marked. It knows no resource type: whatever
later code declares appears here without touching it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from fleet.shards import shard_stack_config
from fleet.stack import AS_OF_VARIABLE, StackConfig
from fleet.synth.fakes import fake_invoke, fake_resource

# Markers of the Pulumi property wire format (sdk/proto: rpc.py).
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
REDACTED = "[secret]"


@dataclass
class Record:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    dependencies: list[str]
    protect: bool
    custom: bool
    inputs: Any  # wire-format value, secrets still marked
    options: dict[str, Any] = field(default_factory=dict)
    stack: str | None = None  # set when one synth holds several stacks (shards)


@dataclass
class Recording:
    project: str
    stack: str
    records: list[Record]
    outputs: Any
    stack_outputs: dict[str, Any] = field(default_factory=dict)  # a sharded synth: each shard stack's outputs


STACK_REFERENCE = "pulumi:pulumi:StackReference"
ORGANIZATION = "organization"  # what self-managed backends call every stack's organization


class FakeCloud(pulumi.runtime.Mocks):
    """Answers for the mock engine: realistic outputs per type (fleet.synth.fakes), and the outputs
    of other stacks synthesised earlier for a StackReference (`stacks`: qualified name -> outputs)."""

    def __init__(self, stacks: dict[str, Any] | None = None) -> None:
        self.stacks = stacks or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == STACK_REFERENCE:
            return stack_reference(self.stacks, args.inputs.get("name") or args.name)
        return fake_resource(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return fake_invoke(args.token, dict(args.args))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[Record] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(_record(request, response.urn))
        return response

    def ReadResource(self, request):  # noqa: N802 (gRPC method name)
        """A read (a StackReference): recorded with the id it reads, so a synth shows what it reads."""
        response = super().ReadResource(request)
        self.records.append(Record(
            urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
            provider=None, dependencies=sorted(set(request.dependencies)), protect=False, custom=True,
            inputs={"name": request.id}, options={"read": request.id}))
        return response


class UnknownStackError(Exception):
    """A StackReference to a stack that was not synthesised (the engine: the stack does not exist)."""


def stack_reference(stacks: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """What the engine answers for `pulumi.StackReference(name)`: the stack's outputs, a secret output
    still secret, and the names of the outputs holding secrets (pulumi/pulumi
    pkg/resource/deploy/providers/reference.go: outputs + secretOutputNames)."""
    if name not in stacks:
        raise UnknownStackError(f"unknown stack {name!r} (synthesised: {', '.join(sorted(stacks)) or 'none'})")
    outputs = stacks[name] or {}
    return name, {"name": name, "outputs": {k: _revived(v) for k, v in outputs.items()},
                  "secretOutputNames": sorted(k for k, v in outputs.items() if holds_secret(v))}


def _revived(value: Any) -> Any:
    """Wire format (a recording's outputs) -> values, a secret as a secret Output."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return pulumi.Output.secret(_revived(value.get("value")))
        return {k: _revived(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revived(v) for v in value]
    return value


def _record(request, urn: str) -> Record:
    options = {
        "deleteBeforeReplace": request.deleteBeforeReplace or None,
        "retainOnDelete": request.retainOnDelete or None,
        "ignoreChanges": list(request.ignoreChanges) or None,
        "replaceOnChanges": list(request.replaceOnChanges) or None,
        "additionalSecretOutputs": list(request.additionalSecretOutputs) or None,
        "deletedWith": request.deletedWith or None,
        "aliases": [json_format.MessageToDict(a) for a in request.aliases] or None,
    }
    return Record(
        urn=urn,
        type=request.type,
        name=request.name,
        parent=request.parent or None,
        provider=request.provider.rsplit("::", 1)[0] if request.provider else None,  # "<urn>::<id>"
        dependencies=sorted(set(request.dependencies)),
        protect=bool(request.protect),
        custom=bool(request.custom),
        inputs=json_format.MessageToDict(request.object),
        options={k: v for k, v in options.items() if v is not None},
    )


def config_strings(config: StackConfig) -> dict[str, str]:
    """Config as the engine hands it to a program: structured values as JSON text."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.values.items()}


def run_program(project_dir: Path, config: StackConfig, as_of: date, project: str = "fleet",
                stacks: dict[str, Any] | None = None) -> Recording:
    """Run `project_dir/__main__.py` for `config.pulumi_stack` under the mock engine, judging the
    support calendar at `as_of`. A shard runs with its own stack file's settings
    (fleet.shards.shard_stack_config), as under `pulumi up`; `stacks`: outputs of stacks
    synthesised before, for its StackReference.

    Raises whatever the program raises (pulumi.RunError for an invalid declaration)."""
    with judged_at(as_of):
        return _run_program(project_dir, config, project, stacks)


@contextlib.contextmanager
def judged_at(day: date) -> Iterator[None]:
    """The program reads the day from FLEET_AS_OF, as a user sets it under `pulumi up`."""
    before = os.environ.get(AS_OF_VARIABLE)
    os.environ[AS_OF_VARIABLE] = day.isoformat()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(AS_OF_VARIABLE, None)
        else:
            os.environ[AS_OF_VARIABLE] = before


def _run_program(project_dir: Path, config: StackConfig, project: str,
                 stacks: dict[str, Any] | None) -> Recording:
    pulumi_settings.ROOT.set(None)
    values, secret_keys = _stack_values(config)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()},
                                  secret_keys)
    cloud = FakeCloud(stacks)
    monitor = RecordingMonitor(cloud)
    stack = config.pulumi_stack
    pulumi.runtime.set_mocks(cloud, project=project, stack=stack, preview=False, monitor=monitor,
                             organization=ORGANIZATION)
    program = str(project_dir / "__main__.py")
    _sync_await(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
    return Recording(project, stack, monitor.records, _stack_outputs())


def _stack_values(config: StackConfig) -> tuple[dict[str, Any], list[str]]:
    if config.shard is None:
        return dict(config.values), sorted(config.secret_keys)
    return shard_stack_config(config.stack, config.shard, config.values), []


def _stack_outputs() -> Any:
    """The program's `pulumi.export`s in wire format (secrets still marked).

    Under the mock engine the root stack registers its outputs before the program runs, so they
    never reach the monitor: serialise them from the root resource instead."""
    root = pulumi_settings.get_root_resource()
    outputs = getattr(root, "outputs", None) or {}
    return json_format.MessageToDict(_sync_await(rpc.serialize_properties(outputs, {})))


def clean(value: Any, show_secrets: bool = False) -> Any:
    """Wire format -> plain JSON: secrets redacted (or revealed), references as URNs."""
    if isinstance(value, dict):
        signature = value.get(SIG_KEY)
        if signature == SECRET_SIG:
            return clean(value.get("value"), show_secrets) if show_secrets else REDACTED
        if signature == RESOURCE_SIG:
            return value.get("urn")
        return {k: clean(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, show_secrets) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


def holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(SIG_KEY) == SECRET_SIG or any(holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_secret(v) for v in value)
    return False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a synth runs: the SDK's heap only grows during a synth and
    rescanning it took about half the CPU (docs/performance.md). Collection resumes afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
