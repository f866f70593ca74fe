"""Which stack holds which cluster: the environment's stack and one shard stack per region entry.

Pure decisions (no Pulumi import), from a FleetPlan and the environment's stack name:

- `fleet:sharding: none` (the default): one stack holds the whole environment, as before.
- `fleet:sharding: region`: the environment's stack (`prod`) holds the hubs and what is shared; each
  region entry is a shard with a stack of its own, `prod.<region>`, holding its clusters, their
  GitOps bootstrap and their registrations on the hub. A shard stack file says only whose shard it
  is (`fleet:shardOf`, `fleet:shard`); the declaration, settings and secrets stay on `prod`.

A shard's name is its region entry's name and its stack name derives from that alone, so adding,
removing or reordering region entries never renames a stack nor moves a cluster between stacks.

Moving a single-stack environment into shards is `pulumi state move` (`migration_commands`):
the command keeps every URN's type and name and rewrites only the stack; it moves the children of
each URN it is given and copies (never moves) the providers they use
(pulumi/pulumi pkg/cmd/pulumi/state/state_move.go; https://www.pulumi.com/docs/iac/cli/commands/pulumi_state_move/).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.plan import ClusterPlan, FleetPlan
from fleet.problems import Problem

HUB_SHARD = "hub"  # the environment's own stack: hubs and shared resources
SHARDING_MODES = ("none", "region")
SHARD_OF_KEY = "fleet:shardOf"
SHARD_KEY = "fleet:shard"
# Provider settings a shard stack needs as much as its environment does: a default provider reads
# them from the stack it runs in (aws:region, gcp:project, azure-native:location, ...).
PROVIDER_NAMESPACES = ("aws", "azure-native", "gcp", "kubernetes")


@dataclass(frozen=True)
class Shard:
    name: str  # HUB_SHARD or a region entry's name
    stack: str  # the Pulumi stack holding it
    clusters: tuple[str, ...]  # cluster names, in plan order
    retired: bool = False  # its region entry is gone: its stack only deletes what it holds

    @property
    def is_hub(self) -> bool:
        return self.name == HUB_SHARD

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"shard": self.name, "stack": self.stack, "clusters": list(self.clusters)}
        if self.retired:
            row["retired"] = True
        return row


def shard_stack(environment_stack: str, shard: str) -> str:
    """`prod` + `us-east` -> `prod.us-east`; the hub shard is the environment's own stack."""
    return environment_stack if shard == HUB_SHARD else f"{environment_stack}.{shard}"


def shard_of(cluster: ClusterPlan) -> str:
    """Hubs stay with the environment; every other cluster lives in its region entry's shard."""
    return HUB_SHARD if cluster.is_hub else cluster.region


def plan_shards(plan: FleetPlan, environment_stack: str, existing: Iterable[str] = ()) -> list[Shard]:
    """The hub shard first, then one shard per region entry (by name). `existing`: shard names that
    have a stack file already; one whose region entry is gone is listed as retired (its stack's
    next update deletes what it holds, which protection refuses until the entry was decommissioned)."""
    members: dict[str, list[str]] = {HUB_SHARD: []}
    for cluster in plan.clusters:
        members.setdefault(shard_of(cluster), []).append(cluster.name)
    regions = sorted(name for name in members if name != HUB_SHARD)
    shards = [Shard(HUB_SHARD, environment_stack, tuple(members[HUB_SHARD]))]
    shards += [Shard(name, shard_stack(environment_stack, name), tuple(members[name])) for name in regions]
    shards += [Shard(name, shard_stack(environment_stack, name), (), retired=True)
                for name in sorted(set(existing) - set(members))]
    return shards


def find_shard(shards: Sequence[Shard], name: str) -> Shard | None:
    return next((s for s in shards if s.name == name or s.stack == name), None)


def shard_problems(plan: FleetPlan, source: str) -> list[Problem]:
    """What sharding by region cannot hold: two ClusterSets naming the same region entry would share
    one stack (a later set would then change an existing stack), and a region named like the hub
    shard."""
    owners: dict[str, set[str]] = {}
    for cluster in plan.clusters:
        if not cluster.is_hub:
            owners.setdefault(cluster.region, set()).add(cluster.cluster_set)
    problems = []
    for region, sets in sorted(owners.items()):
        if region == HUB_SHARD:
            problems.append(Problem(source, "", "config.fleet:sharding",
                                    f"region entry '{region}' has the name of the environment's own shard; "
                                    "rename the region entry, or set fleet:sharding: none"))
        if len(sets) > 1:
            problems.append(Problem(source, "", "config.fleet:sharding",
                                    f"region '{region}' is declared by ClusterSets {', '.join(sorted(sets))}; "
                                    "with fleet:sharding: region each region name is one stack: rename one "
                                    "entry, or set fleet:sharding: none"))
    return problems


# --- shard stack files -------------------------------------------------------------------------


def shard_stack_config(environment_stack: str, shard: str, environment_values: Mapping[str, Any]) -> dict[str, Any]:
    """The `config:` of a shard's stack file: whose shard it is, plus the environment's plain
    provider settings (default providers read them from the stack they run in). Encrypted values
    are never copied: a shard reads secrets from the environment's stack outputs."""
    config: dict[str, Any] = {SHARD_OF_KEY: environment_stack, SHARD_KEY: shard}
    for key, value in sorted(environment_values.items()):
        if key.split(":", 1)[0] in PROVIDER_NAMESPACES and not (isinstance(value, dict) and "secure" in value):
            config[key] = value
    return config


# --- what a change touches ------------------------------------------------------------------------


def changed_shards(base: FleetPlan, head: FleetPlan, environment_stack: str,
                   settings_changed: bool = False) -> list[str]:
    """Shards whose clusters' plans differ between two declarations, hub first; decided from the
    plans alone, before anything is synthesised. A changed hub touches every shard registered on it
    (their registrations follow the hub's plan); changed stack settings touch every shard."""
    before = {c.name: c for c in base.clusters}
    after = {c.name: c for c in head.clusters}
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    shards = {s.name: s for s in plan_shards(head, environment_stack, {shard_of(c) for c in base.clusters})}
    touched = set(shards) if settings_changed else set()
    for name in changed:
        cluster = after.get(name) or before[name]
        touched.add(shard_of(cluster))
        if cluster.is_hub:
            touched |= {shard_of(c) for c in (*base.clusters, *head.clusters) if c.hub == name}
    return [s.name for s in shards.values() if s.name in touched]


# --- moving a single stack into shards -------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    shard: str
    source: str
    dest: str
    urns: tuple[str, ...]  # top-level URNs; state move takes their children along

    def command(self) -> list[str]:
        return ["pulumi", "state", "move", "--source", self.source, "--dest", self.dest, "--yes", *self.urns]

    def text(self) -> str:
        return shlex.join(self.command())


def placement(sharded: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(type, name) -> the stack that declares it, from a sharded environment's synth (each resource
    names its stack). Components every stack declares (the Fleet) stay where they are."""
    seen: dict[tuple[str, str], set[str]] = {}
    for r in sharded:
        seen.setdefault((r["type"], r["name"]), set()).add(r.get("stack") or "")
    return {key: next(iter(stacks)) for key, stacks in seen.items() if len(stacks) == 1}


def migration_moves(resources: Sequence[Mapping[str, Any]], places: Mapping[tuple[str, str], str],
                    environment: str) -> list[Move]:
    """One `pulumi state move` per shard stack, naming the top-level resources that go there: each
    resource of the single stack goes where the sharded layout declares its (type, name); a named
    URN takes its children along, so a resource whose parent goes to the same stack is not named.
    Providers are never named (state move refuses them): it copies those the moved resources use."""
    dest = {r["urn"]: places.get((r["type"], r["name"]), environment) for r in resources
            if not r["type"].startswith("pulumi:providers:")}
    named: dict[str, list[str]] = {}
    for r in resources:
        target = dest.get(r["urn"], environment)
        if r["urn"] in dest and target != environment and dest.get(r.get("parent") or "") != target:
            named.setdefault(target, []).append(r["urn"])
    return [Move(stack.removeprefix(f"{environment}."), environment, stack, tuple(sorted(urns)))
            for stack, urns in sorted(named.items())]


def _descendants(resources: Sequence[Mapping[str, Any]], roots: Iterable[str]) -> set[str]:
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])
    found: set[str] = set()
    pending = list(roots)
    while pending:
        urn = pending.pop()
        if urn not in found:
            found.add(urn)
            pending += children.get(urn, [])
    return found


def simulate_moves(resources: Sequence[Mapping[str, Any]], moves: Sequence[Move]) -> dict[str, list[dict[str, Any]]]:
    """Where each resource of a single-stack state lands after `moves`, as state move does it:
    a named URN and all its descendants move, a provider one of them uses is copied, the URN keeps
    its type and name and changes only its stack. Stack name -> resources."""
    environment = moves[0].source if moves else ""
    by_urn = {r["urn"]: r for r in resources}
    placed: dict[str, str] = {}
    stacks: dict[str, list[dict[str, Any]]] = {environment: []} if environment else {}
    copies: dict[str, list[dict[str, Any]]] = {}
    for move in moves:
        moved = _descendants(resources, move.urns)
        for urn in moved:
            if urn in placed:
                raise ValueError(f"{urn} is moved to both {placed[urn]} and {move.dest}")
            placed[urn] = move.dest
        providers = {by_urn[u].get("provider") for u in moved} - {None} - moved
        copies[move.dest] = [by_urn[p] for p in sorted(providers) if p in by_urn]
    for resource in resources:
        stack = placed.get(resource["urn"], environment)
        stacks.setdefault(stack, []).append(_renamed(resource, stack))
    for stack, providers in copies.items():
        stacks[stack] += [_renamed(p, stack, copied=True) for p in providers]
    return stacks


def _renamed(resource: Mapping[str, Any], stack: str, copied: bool = False) -> dict[str, Any]:
    prefix, _, rest = resource["urn"].partition("::")  # urn:pulumi:<stack> :: project::type::name
    return {**resource, "urn": f"urn:pulumi:{stack}::{rest}", "copied": copied,
            "source_urn": resource["urn"], "prefix": prefix}
