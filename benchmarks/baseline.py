"""The baseline: the bare Pulumi SDK registering the same resources under the same kind of mock engine.

`shape_of(resources.json)` reduces a synth output to a small "shape" file: for each resource in
registration order, its type token, name, custom/component/provider kind, parent, provider and
dependencies (as indices), and the size of its inputs (number of leaf values, characters per
leaf). `python -m benchmarks.baseline SHAPE [--aliases] [--no-gc]` then registers exactly that many resources with
plain `pulumi.CustomResource` / `ComponentResource` / `ProviderResource`, same parents, same
providers, same dependencies (as depends_on), flat inputs of the same leaf count and total size,
under `pulumi.runtime.set_mocks` with a trivial Mocks and the same `run_pulumi_func` machinery
fleet.synth.engine uses. What it does not do is everything fleet adds: reading and validating the
declaration, planning, building the inputs, cloud SDK imports, realistic fake outputs, recording at
the monitor and writing resources.json and manifests/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PROVIDER_PREFIX = "pulumi:providers:"


def _leaves(value: Any) -> tuple[int, int]:
    """(number of leaf values, total characters of their JSON text) of an inputs tree."""
    if isinstance(value, dict):
        counts = [_leaves(v) for v in value.values()] + [(0, sum(len(k) for k in value))]
    elif isinstance(value, list):
        counts = [_leaves(v) for v in value]
    else:
        return 1, len(json.dumps(value))
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def _ordered(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registration order, moved just enough that parent, provider and dependencies come first (the
    monitor can see a child before its component parent: registrations run concurrently)."""
    by_urn = {r["urn"]: r for r in resources}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    for resource in resources:
        stack = [(resource, False)]
        while stack:
            r, expanded = stack.pop()
            if r["urn"] in done:
                continue
            if expanded:
                done.add(r["urn"])
                ordered.append(r)
                continue
            stack.append((r, True))
            before = [r["parent"], r["provider"], *r["dependencies"]]
            stack.extend((by_urn[u], False) for u in reversed(before) if u in by_urn and u not in done)
    return ordered


def shape_of(document: dict[str, Any]) -> list[list[Any]]:
    """[type, name, kind, parent, provider, deps, leaves, chars per leaf, aliases] per resource, in an
    order where everything a resource refers to comes before it."""
    resources = _ordered(document["resources"])
    index = {r["urn"]: i for i, r in enumerate(resources)}
    shape = []
    for resource in resources:
        kind = "provider" if resource["type"].startswith(PROVIDER_PREFIX) else (
            "custom" if resource["custom"] else "component")
        leaves, chars = _leaves(resource.get("inputs") or {})
        shape.append([
            resource["type"], resource["name"], kind,
            index.get(resource["parent"] or "", -1),
            index.get(resource["provider"] or "", -1),
            sorted(index[d] for d in resource["dependencies"] if d in index),
            leaves, max(1, chars // max(1, leaves)),
            len((resource.get("options") or {}).get("aliases") or []),
        ])
    return shape


def write_shape(resources_json: Path, out: Path) -> int:
    shape = shape_of(json.loads(resources_json.read_text()))
    out.write_text(json.dumps(shape))
    return len(shape)


def _program(shape: list[list[Any]], with_aliases: bool) -> None:
    import pulumi

    made: list[pulumi.Resource] = []
    for type_, name, kind, parent, provider, deps, leaves, width, aliases in shape:
        opts = pulumi.ResourceOptions(
            parent=made[parent] if parent >= 0 else None,
            provider=made[provider] if provider >= 0 else None,  # type: ignore[arg-type]
            depends_on=[made[d] for d in deps] or None,
            aliases=[pulumi.Alias(type_=f"{type_}/v{i}") for i in range(aliases)] if with_aliases else None,
        )
        if kind == "component":
            component = pulumi.ComponentResource(type_, name, None, opts)
            component.register_outputs({})
            made.append(component)
            continue
        props = {f"p{i}": "x" * width for i in range(leaves)}
        if kind == "provider":
            made.append(pulumi.ProviderResource(type_[len(PROVIDER_PREFIX):], name, props, opts))
        else:
            made.append(pulumi.CustomResource(type_, name, props, opts))


def main(shape_path: str, with_aliases: bool = False) -> int:
    """Register the shape's resources; with_aliases adds as many type aliases as the synth recorded
    (azure-native declares one per API version: an SDK cost, not fleet's, measured apart)."""
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class Trivial(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
            return {}, None

    shape = json.loads(Path(shape_path).read_text())
    pulumi.runtime.set_mocks(Trivial(), project="bench", stack="bench", preview=False)
    _sync_await(run_pulumi_func(lambda: _program(shape, with_aliases)))
    print(f"baseline: {len(shape)} resources")
    return 0


if __name__ == "__main__":
    if "--no-gc" in sys.argv[2:]:
        # as `fleet synth` runs (fleet.cli.run): the bare SDK without its cyclic-collection cost
        import gc

        gc.disable()
    sys.exit(main(sys.argv[1], "--aliases" in sys.argv[2:]))
