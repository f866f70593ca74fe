"""`fleet plan --format mermaid`: the shape of the graph, identifiers valid for any cluster name,
and added, changed and removed clusters marked against a base."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet import cli, mermaid
from fleet.plan import FleetPlan
from fleet.stack import PROJECT_DIR, plan_stack, read_stack_file

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NODE = re.compile(r"^      (\S+)\[\"(.*)\"\]$")


def stack_plan(stack: str) -> FleetPlan:
    config, _ = read_stack_file(PROJECT_DIR, stack)
    result = plan_stack(config, PROJECT_DIR)
    assert not result.problems
    return result.plan


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_shape(stack: str) -> None:
    plan = stack_plan(stack)
    lines = mermaid.render(plan).splitlines()
    assert lines[0] == "flowchart LR"
    nodes = {m.group(1): m.group(2) for m in map(NODE.match, lines) if m}
    assert len(nodes) == len(plan.clusters)
    assert all(IDENTIFIER.fullmatch(node) for node in nodes)
    for cluster in plan.clusters:
        caption = nodes[mermaid.node_id("c", cluster.name)]
        assert caption.startswith(cluster.name + "<br/>") and cluster.gitops.engine in caption
        assert ("compliance: gdpr" in caption) == (cluster.labels.get("compliance") == "gdpr")
    clouds = [line for line in lines if line.startswith("  subgraph ")]
    regions = [line for line in lines if line.startswith("    subgraph ")]
    assert len(clouds) == len(plan.providers())
    assert len(regions) == len({(c.provider, c.region, c.location) for c in plan.clusters})
    assert sum(line.strip() == "end" for line in lines) == len(clouds) + len(regions)
    edges = [line for line in lines if " --> " in line]
    assert len(edges) == sum(1 for c in plan.clusters if c.hub)
    assert not any("classDef" in line for line in lines)  # nothing to mark without a base


def test_changes_are_marked() -> None:
    base = stack_plan("prod")
    kept = [c for c in base.clusters if c.name != "production-fleet-us-east-03"]
    relabelled = [dataclasses.replace(c, labels={**c.labels, "tier": "gold"})
                  if c.name == "production-fleet-us-central-01" else c for c in kept]
    extra = dataclasses.replace(base.clusters[-1], name="production-fleet-eu-central-01", region="eu-central")
    head = FleetPlan(tuple([*relabelled, extra]))
    text = mermaid.render(head, base)
    marks = {line.split()[-1]: line.split()[1].split(",") for line in text.splitlines() if line.startswith("  class ")}
    assert marks == {"added": [mermaid.node_id("c", "production-fleet-eu-central-01")],
                     "changed": [mermaid.node_id("c", "production-fleet-us-central-01")],
                     "removed": [mermaid.node_id("c", "production-fleet-us-east-03")]}
    assert {f"  classDef {mark} {style}" for mark, style in mermaid.CLASSES.items()} <= set(text.splitlines())
    removed = mermaid.node_id("c", "production-fleet-us-east-03")
    assert f"{mermaid.node_id('c', 'production-fleet-hub')} -.-> {removed}" in text
    assert f'{removed}["production-fleet-us-east-03<br/>spoke · flux<br/>removed"]' in text


@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=20, unique=True))
def test_ids_are_valid_and_distinct_for_any_name(names: list[str]) -> None:
    ids = [mermaid.node_id("c", name) for name in names]
    assert all(IDENTIFIER.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    for name in names:
        text = mermaid.label(name)
        assert text.startswith('"') and text.endswith('"') and '"' not in text[1:-1]
        assert not any(ch in text[1:-1] for ch in "<>\n\r") or "<br/>" in text


def test_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_DIR)
    assert cli.main(["plan", "--stack", "staging", "--format", "mermaid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n") and "staging-fleet-hub" in out
    assert cli.main(["plan", "--stack", "staging", "--format", "mermaid", "--base", str(PROJECT_DIR)]) == 0
    assert "classDef" not in capsys.readouterr().out
