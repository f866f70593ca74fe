"""The recorded stack: what the engine (and so a policy pack) sees of each declared resource.

Resource rules (fleet.rules' guardrails, fleet.behaviour's cloud/chart/operator rules) judge these
values: engine (camelCase) property names, a secret as "[secret]", a value not known yet (preview)
as "[unknown]", exactly as `fleet synth` writes resources.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SECRET = "[secret]"
UNKNOWN = "[unknown]"
OPEN_TO_ALL = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class Resource:
    """One declared resource, as the engine (and so a policy pack) sees it."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    kubernetes_cluster: str | None = None  # clusterIdentifier of its Kubernetes provider, if any
    parent: str | None = None  # URN of the parent resource
    provider: str | None = None  # URN of the (explicit) provider resource

    @staticmethod
    def from_synth(entry: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]) -> Resource:
        provider_urn = entry.get("provider") or None
        provider = providers.get(provider_urn or "", {})
        return Resource(entry["type"], entry["name"], entry["urn"], entry.get("inputs") or {},
                        bool(entry.get("protect")), tuple(entry.get("dependencies") or ()),
                        text_value(provider.get("clusterIdentifier")), entry.get("parent") or None, provider_urn)


def lookup(value: Any, path: str) -> Any:
    """The value at a dotted path ('vpcConfig.publicAccessCidrs'); '[*]' maps over a list."""
    head, _, rest = path.partition(".")
    key = head.removesuffix("[*]")
    value = value.get(key) if isinstance(value, Mapping) else None
    if head.endswith("[*]"):
        if not isinstance(value, list):
            return value  # None, or "[unknown]" while previewing
        return [lookup(item, rest) for item in value] if rest else value
    return lookup(value, rest) if rest and value is not None else value


def text_value(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in (UNKNOWN, SECRET) else None


@dataclass(frozen=True)
class Expect:
    """One property requirement on a resource's inputs, with the words to fix it."""

    path: str
    equals: Any = None
    contains: Any = None

    def holds(self, inputs: Mapping[str, Any]) -> bool | None:
        """True / False, or None when the value is not known yet (preview)."""
        value = lookup(inputs, self.path)
        if value == UNKNOWN:
            return None
        if self.contains is not None:
            return isinstance(value, list) and self.contains in value
        if self.equals is not None:
            return value == self.equals
        return value not in (None, "", [], {})

    def fix(self) -> str:
        if self.contains is not None:
            return f"{self.path} must include {self.contains!r}"
        if self.equals is not None:
            return f"{self.path} must be {json.dumps(self.equals)}"
        return f"{self.path} must be set"


class Stack(Sequence["Resource"]):
    """The resources of a stack, indexed by type once: rules look for a cluster's companions per
    cluster, and scanning the whole stack each time grows with clusters x resources."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self._resources = list(resources)
        self._by_urn: dict[str, Resource] | None = None
        self._children: dict[str, list[Resource]] | None = None
        self._prerequisites: dict[str, frozenset[str]] | None = None
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self._resources:
            self._by_type.setdefault(resource.type, []).append(resource)

    @staticmethod
    def from_synth(document: Mapping[str, Any]) -> Stack:
        """The stack a `fleet synth` document (resources.json) recorded."""
        entries = document.get("resources") or []
        providers = {e["urn"]: e.get("inputs") or {} for e in entries
                     if e["type"].startswith("pulumi:providers:")}
        return Stack([Resource.from_synth(e, providers) for e in entries])

    def __getitem__(self, index):  # type: ignore[override]
        return self._resources[index]

    def __len__(self) -> int:
        return len(self._resources)

    def of_type(self, type_: str) -> list[Resource]:
        return self._by_type.get(type_, [])

    def by_urn(self, urn: str) -> Resource | None:
        if self._by_urn is None:
            self._by_urn = {r.urn: r for r in self._resources}
        return self._by_urn.get(urn)

    def children(self, urn: str) -> list[Resource]:
        """Direct children (by parent) of a resource."""
        if self._children is None:
            self._children = {}
            for resource in self._resources:
                if resource.parent:
                    self._children.setdefault(resource.parent, []).append(resource)
        return self._children.get(urn, [])

    def waits_for(self, resource: Resource, other_urn: str) -> bool:
        """Whether the engine creates `other_urn` before `resource`: it is reachable through
        dependencies (the SDK has already expanded a component in depends_on into its children)
        or through the explicit provider a resource is created with (a Kubernetes provider waits
        for the kubeconfig's inputs)."""
        return other_urn in self.prerequisites(resource.urn)

    def prerequisites(self, urn: str) -> frozenset[str]:
        """Every URN the engine must have created before `urn` (transitively)."""
        if self._prerequisites is None:
            self._prerequisites = {}
        cached = self._prerequisites.get(urn)
        if cached is not None:
            return cached
        seen: set[str] = set()
        pending = [urn]
        while pending:
            current = self.by_urn(pending.pop())
            if current is None:
                continue
            direct = [*current.dependencies, *([current.provider] if current.provider else [])]
            for dependency in direct:
                if dependency not in seen:
                    seen.add(dependency)
                    known = self._prerequisites.get(dependency)
                    if known is not None:
                        seen.update(known)
                    else:
                        pending.append(dependency)
        result = frozenset(seen)
        self._prerequisites[urn] = result
        return result


def of_type(stack: Sequence[Resource], type_: str) -> Sequence[Resource]:
    return stack.of_type(type_) if isinstance(stack, Stack) else [r for r in stack if r.type == type_]




@dataclass(frozen=True)
class ResourceRule:
    id: str
    description: str
    check: Callable[[Resource, Sequence[Resource]], list[str]]  # messages; the stack may be ()
    needs_stack: bool = False  # True: judged with the whole stack (a StackValidationPolicy)
