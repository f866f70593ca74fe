"""Realistic fake outputs per resource type and invoke, for the SDK's mock engine.

Each cloud has a module (aws.py, azure.py, gcp.py, kubernetes.py) exposing two tables:
    RESOURCES: dict[type token, (name, inputs) -> (id, extra outputs)]
    INVOKES:   dict[invoke token, (args) -> result]
A type missing from the tables still works: its outputs are its inputs and its id is derived
from its name, so new resources appear in synth without touching this package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fleet.synth.fakes.common import digest

ResourceFake = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]
InvokeFake = Callable[[dict[str, Any]], dict[str, Any]]

_MODULES = ("aws", "azure", "gcp", "kubernetes")


def _tables() -> tuple[dict[str, ResourceFake], dict[str, InvokeFake]]:
    resources: dict[str, ResourceFake] = {}
    invokes: dict[str, InvokeFake] = {}
    for name in _MODULES:
        try:
            module = importlib.import_module(f"fleet.synth.fakes.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"fleet.synth.fakes.{name}":
                raise
            continue
        resources.update(getattr(module, "RESOURCES", {}))
        invokes.update(getattr(module, "INVOKES", {}))
    return resources, invokes


RESOURCES, INVOKES = _tables()


def fake_resource(type_: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fake = RESOURCES.get(type_)
    if fake is None:
        return f"{name}-{digest(type_, name, length=8)}", dict(inputs)
    resource_id, extra = fake(name, inputs)
    return resource_id, {**inputs, **extra}


def fake_invoke(token: str, args: dict[str, Any]) -> dict[str, Any]:
    fake = INVOKES.get(token)
    return fake(args) if fake else {}
