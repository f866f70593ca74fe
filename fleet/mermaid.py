"""The fleet as a Mermaid flowchart (`fleet plan --format mermaid`): hub -> spokes, grouped by cloud
and region, each cluster labelled with its role, GitOps engine and compliance. Given the base's
plan too, added, changed and removed clusters are marked with classDefs (the pull-request comment
embeds it; GitHub renders Mermaid in Markdown). Pure.

Mermaid syntax relied on (https://mermaid.js.org/syntax/flowchart.html): node ids are plain
identifiers (letters, digits, underscore; fleet adds a hash so two names never share an id), a
label is a quoted string where `"` is written `#quot;` (entity codes), `subgraph id ["label"]`,
`classDef name styles` and `class id1,id2 name`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.plan import ClusterPlan, FleetPlan

CLASSES = {
    "added": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px",
    "changed": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px",
    "removed": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5",
}
_ENTITIES = {"&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;"}


def node_id(prefix: str, name: str) -> str:
    """A Mermaid identifier for any text: its safe characters plus a short hash (unique, stable)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:40]
    return f"{prefix}_{safe}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def label(*lines: str) -> str:
    """A quoted Mermaid label: each line's text escaped as entity codes, lines joined by <br/>."""
    escaped = ("".join(_ENTITIES.get(ch, ch) for ch in line if ch.isprintable()) for line in lines)
    return '"' + "<br/>".join(escaped) + '"'


def cluster_summary(cluster: ClusterPlan) -> dict[str, Any]:
    """What a change to the picture compares: everything `fleet plan` shows about the cluster."""
    return {"role": cluster.role, "hub": cluster.hub, "cloud": cluster.provider, "location": cluster.location,
            "version": cluster.kubernetes_version, "engine": cluster.gitops.engine, "network": cluster.network.block,
            "labels": dict(cluster.labels), "pools": [repr(p) for p in cluster.node_pools], "protect": cluster.protect}


def changes(head: FleetPlan, base: FleetPlan | None) -> dict[str, str]:
    """cluster name -> added | changed | removed (nothing for an unchanged cluster; none without a base)."""
    if base is None:
        return {}
    before = {c.name: cluster_summary(c) for c in base.clusters}
    after = {c.name: cluster_summary(c) for c in head.clusters}
    marks = {name: "added" for name in after if name not in before}
    marks.update({name: "removed" for name in before if name not in after})
    marks.update({name: "changed" for name in after if name in before and after[name] != before[name]})
    return marks


def render(head: FleetPlan, base: FleetPlan | None = None, title: str | None = None) -> str:
    """The Mermaid source (no code fence)."""
    marks = changes(head, base)
    removed = [c for c in (base.clusters if base else ()) if marks.get(c.name) == "removed"]
    clusters: Sequence[ClusterPlan] = [*head.clusters, *removed]
    lines = ["---", f"title: {label(title)}", "---"] if title else []
    lines.append("flowchart LR")
    for cloud, regions in _grouped(clusters).items():
        lines.append(f"  subgraph {node_id('cloud', cloud)} [{label(cloud)}]")
        for region, members in regions.items():
            lines.append(f"    subgraph {node_id('region', cloud + '/' + region)} [{label(region)}]")
            lines += [f"      {node_id('c', c.name)}[{label(*_caption(c, marks.get(c.name)))}]" for c in members]
            lines.append("    end")
        lines.append("  end")
    for cluster in clusters:
        if cluster.hub:
            arrow = "-.->" if marks.get(cluster.name) == "removed" else "-->"
            lines.append(f"  {node_id('c', cluster.hub)} {arrow} {node_id('c', cluster.name)}")
    used = sorted(set(marks.values()))
    for mark in used:
        lines.append(f"  classDef {mark} {CLASSES[mark]}")
        members = sorted(node_id("c", name) for name, m in marks.items() if m == mark)
        lines.append(f"  class {','.join(members)} {mark}")
    return "\n".join(lines) + "\n"


def _grouped(clusters: Sequence[ClusterPlan]) -> Mapping[str, Mapping[str, list[ClusterPlan]]]:
    groups: dict[str, dict[str, list[ClusterPlan]]] = {}
    for cluster in sorted(clusters, key=lambda c: (c.provider, c.region, c.name)):
        groups.setdefault(cluster.provider, {}).setdefault(f"{cluster.region} ({cluster.location})", []).append(cluster)
    return groups


def _caption(cluster: ClusterPlan, mark: str | None) -> tuple[str, ...]:
    parts = [cluster.role, cluster.gitops.engine]
    if "compliance" in cluster.labels:
        parts.append(f"compliance: {cluster.labels['compliance']}")
    return (cluster.name, " · ".join(parts), *([mark] if mark else []))


def markdown(head: FleetPlan, base: FleetPlan | None = None, title: str | None = None) -> str:
    """The picture as a fenced block GitHub renders."""
    return f"```mermaid\n{render(head, base, title)}```\n"
