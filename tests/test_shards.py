"""Shards (issue #13), the pure parts: which stack holds which cluster, what a change touches, the
shard stack files, the state-move commands, and the orchestration of preview/up with a fake runner."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from fleet.orchestrate import Outcome, exit_code, run_shards, summary
from fleet.shards import (
    HUB_SHARD,
    Move,
    Shard,
    changed_shards,
    migration_moves,
    placement,
    plan_shards,
    shard_problems,
    shard_stack_config,
    simulate_moves,
)
from fleet.stack import read_stack_file
from tests.helpers import cluster_set, plan_documents, template

REGIONS = [{"name": "us-east", "clusters": 2, "template": "base", "provider": "aws"},
           {"name": "eu-west", "clusters": 1, "template": "base", "provider": "azure"}]


def plan_of(regions, **spec):
    plan, problems = plan_documents(template(), cluster_set(regions, **spec))
    assert not problems, problems
    return plan


def test_the_hub_shard_first_then_one_stack_per_region_entry():
    shards = plan_shards(plan_of(REGIONS), "prod")
    assert [s.as_json() for s in shards] == [
        {"shard": "hub", "stack": "prod", "clusters": ["demo-hub"]},
        {"shard": "eu-west", "stack": "prod.eu-west", "clusters": ["demo-eu-west-01"]},
        {"shard": "us-east", "stack": "prod.us-east", "clusters": ["demo-us-east-01", "demo-us-east-02"]},
    ]


def test_adding_or_reordering_region_entries_changes_no_existing_shard():
    before = plan_shards(plan_of(REGIONS), "prod")
    grown = [REGIONS[1], {"name": "ap-south", "clusters": 1, "template": "base", "provider": "aws"}, REGIONS[0]]
    after = plan_shards(plan_of(grown), "prod")
    assert set(before) < set(after)
    assert [s.name for s in set(after) - set(before)] == ["ap-south"]


def test_a_shard_whose_entry_is_gone_is_retired_and_holds_nothing():
    shards = plan_shards(plan_of(REGIONS[:1]), "prod", existing={"eu-west", "us-east"})
    assert shards[-1] == Shard("eu-west", "prod.eu-west", (), retired=True)
    assert shards[-1].as_json()["retired"] is True


def test_a_region_name_two_cluster_sets_share_is_refused_when_sharded():
    first = cluster_set(REGIONS)
    second = cluster_set([{"name": "us-east", "clusters": 1, "template": "base", "provider": "aws",
                           "network": {"slotOffset": 8}}], hub=None)
    second["metadata"]["name"] = "other"
    plan, problems = plan_documents(template(), first, second)
    if problems:  # the planner may refuse the overlap itself; the shard rule is what we test here
        pytest.skip(f"the planner refuses this pair: {problems[0]}")
    (problem,) = shard_problems(plan, "Pulumi.prod.yaml")
    assert "region 'us-east' is declared by ClusterSets demo, other" in str(problem)
    assert "config.fleet:sharding" in str(problem)


def test_changed_shards_are_decided_from_the_plans_alone():
    base = plan_of(REGIONS)
    grown = plan_of([{**REGIONS[0], "clusters": 3}, REGIONS[1]])
    assert changed_shards(base, grown, "prod") == ["us-east"]
    assert changed_shards(base, base, "prod") == []
    assert changed_shards(base, base, "prod", settings_changed=True) == ["hub", "eu-west", "us-east"]
    added = plan_of([*REGIONS, {"name": "ap-south", "clusters": 1, "template": "base", "provider": "aws"}])
    assert changed_shards(base, added, "prod") == ["ap-south"]
    removed = plan_of(REGIONS[:1])
    assert changed_shards(base, removed, "prod") == ["eu-west"]


def test_a_changed_hub_touches_every_shard_registered_on_it():
    base = plan_of(REGIONS)
    moved_hub, problems = plan_documents(template(), cluster_set(REGIONS, hub={"template": "base", "provider": "aws",
                                                                              "location": "us-east",
                                                                              "labels": {"tier": "gold"}}))
    assert not problems
    assert changed_shards(base, moved_hub, "prod") == ["hub", "eu-west", "us-east"]


def test_a_shard_stack_file_holds_whose_shard_it_is_and_plain_provider_settings_only():
    values = {"fleet:declarations": ["x.yaml"], "aws:region": "us-east-1", "gcp:project": "p",
              "aws:secretKey": {"secure": "AAE="}, "fleet:gitToken": {"secure": "AAE="}}
    assert shard_stack_config("prod", "us-east", values) == {
        "fleet:shardOf": "prod", "fleet:shard": "us-east", "aws:region": "us-east-1", "gcp:project": "p"}


def _project(tmp_path: Path, sharding: str = "region") -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump_all([template(), cluster_set(REGIONS)]))
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": {
        "fleet:declarations": ["fleet.yaml"], "fleet:sharding": sharding, "aws:region": "us-east-1",
        "fleet:gcpProject": "p"}}))
    return tmp_path


def test_a_shard_stack_file_reads_as_its_environment_seen_from_the_shard(tmp_path):
    project = _project(tmp_path)
    (project / "Pulumi.prod.us-east.yaml").write_text(
        "config:\n  fleet:shardOf: prod\n  fleet:shard: us-east\n  aws:region: us-east-1\n")
    config, problems = read_stack_file(project, "prod.us-east")
    assert not problems
    assert (config.stack, config.shard, config.pulumi_stack) == ("prod", "us-east", "prod.us-east")
    assert config.values["fleet:declarations"] == ["fleet.yaml"]


def test_a_shard_stack_file_that_names_the_wrong_shard_or_an_unsharded_environment_is_one_line(tmp_path):
    project = _project(tmp_path)
    (project / "Pulumi.prod.us-east.yaml").write_text("config:\n  fleet:shardOf: prod\n  fleet:shard: eu-west\n")
    _, problems = read_stack_file(project, "prod.us-east")
    assert "'prod.us-east' says it is shard 'eu-west' of 'prod', whose stack is 'prod.eu-west'" in str(problems[0])
    _project(tmp_path, sharding="none")
    (project / "Pulumi.prod.us-east.yaml").write_text("config:\n  fleet:shardOf: prod\n  fleet:shard: us-east\n")
    _, problems = read_stack_file(project, "prod.us-east")
    assert "does not set fleet:sharding: region" in str(problems[0])


# --- state move -----------------------------------------------------------------------------------

STACK = "urn:pulumi:prod::fleet::pulumi:pulumi:Stack::fleet-prod"
FLEET = "urn:pulumi:prod::fleet::pulumi:pulumi:Stack$fleet:index:Fleet::fleet"


def _resource(type_: str, name: str, parent: str | None, provider: str | None = None) -> dict:
    chain = parent.split("::")[2] + "$" if parent else ""
    return {"urn": f"urn:pulumi:prod::fleet::{chain}{type_}::{name}", "type": type_, "name": name,
            "parent": parent, "provider": provider}


def test_state_move_names_top_level_resources_and_takes_children_and_copies_providers():
    fleet = {"urn": FLEET, "type": "fleet:index:Fleet", "name": "fleet", "parent": STACK, "provider": None}
    hub = _resource("fleet:index:FleetMember", "hub", FLEET)
    hub_k8s = _resource("pulumi:providers:kubernetes", "hub-k8s", hub["urn"])
    spoke = _resource("fleet:index:FleetMember", "spoke", FLEET)
    cluster = _resource("aws:eks/cluster:Cluster", "spoke", spoke["urn"])
    registration = _resource("kubernetes:core/v1:Secret", "spoke-hub-registration", spoke["urn"], hub_k8s["urn"])
    grant = _resource("gcp:projects/iAMMember:IAMMember", "grant", STACK)
    single = [fleet, hub, hub_k8s, spoke, cluster, registration, grant]
    places = {("fleet:index:FleetMember", "spoke"): "prod.us-east",
              ("aws:eks/cluster:Cluster", "spoke"): "prod.us-east",
              ("kubernetes:core/v1:Secret", "spoke-hub-registration"): "prod.us-east",
              ("gcp:projects/iAMMember:IAMMember", "grant"): "prod.us-east",
              ("fleet:index:FleetMember", "hub"): "prod"}
    (move,) = migration_moves(single, places, "prod")
    assert move == Move("us-east", "prod", "prod.us-east", tuple(sorted([spoke["urn"], grant["urn"]])))
    assert move.text().startswith("pulumi state move --source prod --dest prod.us-east --yes 'urn:pulumi:prod::")
    landed = simulate_moves(single, [move])
    moved = {(r["type"], r["name"]) for r in landed["prod.us-east"] if not r["copied"]}
    assert moved == {("fleet:index:FleetMember", "spoke"), ("aws:eks/cluster:Cluster", "spoke"),
                     ("kubernetes:core/v1:Secret", "spoke-hub-registration"),
                     ("gcp:projects/iAMMember:IAMMember", "grant")}
    assert [r["name"] for r in landed["prod.us-east"] if r["copied"]] == ["hub-k8s"]  # copied, also stays
    assert {r["name"] for r in landed["prod"]} == {"fleet", "hub", "hub-k8s"}
    assert all(r["urn"].startswith("urn:pulumi:prod.us-east::fleet::") for r in landed["prod.us-east"])


def test_placement_leaves_components_every_stack_declares_where_they_are():
    sharded = [{"type": "fleet:index:Fleet", "name": "fleet", "stack": s} for s in ("prod", "prod.us-east")]
    sharded.append({"type": "aws:eks/cluster:Cluster", "name": "c", "stack": "prod.us-east"})
    assert placement(sharded) == {("aws:eks/cluster:Cluster", "c"): "prod.us-east"}


# --- orchestration, with a fake runner ------------------------------------------------------------

SHARDS = [Shard(HUB_SHARD, "prod", ("hub",)), *[Shard(f"r{i}", f"prod.r{i}", (f"c{i}",)) for i in range(6)]]


class FakeRunner:
    def __init__(self, failing: set[str] = frozenset(), delay: float = 0.02) -> None:
        self.failing, self.delay = failing, delay
        self.order: list[str] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, shard, operation, said):
        with self.lock:
            self.order.append(shard.stack)
            self.running += 1
            self.most = max(self.most, self.running)
        said(f"{operation} {shard.stack}")
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        if shard.stack in self.failing:
            raise RuntimeError(f"error: {shard.stack}: unreachable\n  more detail")
        return {"create": 2, "same": 5}


def test_the_hub_runs_first_then_shards_with_bounded_concurrency():
    runner = FakeRunner()
    seen: list[tuple[str, str]] = []
    outcomes = run_shards(SHARDS, "up", runner, concurrency=3, progress=lambda o: seen.append((o.stack, o.status)))
    assert runner.order[0] == "prod"
    assert runner.most == 3
    assert [o.status for o in outcomes] == ["succeeded"] * 7
    assert ("prod", "running") in seen and ("prod.r5", "succeeded") in seen
    assert exit_code(outcomes) == 0


def test_a_failed_shard_never_stops_the_others_and_the_summary_names_it():
    outcomes = run_shards(SHARDS, "preview", FakeRunner(failing={"prod.r2"}), concurrency=2)
    assert [o.status for o in outcomes].count("succeeded") == 6
    failed = next(o for o in outcomes if o.status == "failed")
    assert (failed.stack, failed.error) == ("prod.r2", "more detail")
    lines = summary(outcomes, "preview")
    assert lines[-1] == "preview: 6 of 7 stacks succeeded; failed: prod.r2"
    assert any(line.startswith("succeeded prod.r0") and "2 create" in line for line in lines)
    assert exit_code(outcomes) == 1


def test_a_failed_environment_stack_skips_the_shards_that_read_it():
    runner = FakeRunner(failing={"prod"})
    outcomes = run_shards(SHARDS, "up", runner)
    assert runner.order == ["prod"]
    assert [o.status for o in outcomes] == ["failed"] + ["skipped"] * 6
    assert summary(outcomes, "up")[-1].startswith("up: 0 of 7 stacks succeeded; failed: prod; skipped: prod.r0")


def test_outcome_is_plain_data():
    assert json.dumps(Outcome("a", "prod.a", "succeeded").__dict__)
