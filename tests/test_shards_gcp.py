"""Shards on GCP (issue #13): a project-level IAMMember is one non-authoritative binding, so the
environment's stack declares every shared grant its shards' GKE clusters need, once, and no shard
declares one; removing or adding a region then never revokes a binding another shard still uses.
Through the real program under the mock engine, as tests/test_shards_synth.py does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.clouds.gcp import project_grants
from fleet.shards import migration_moves, placement, simulate_moves
from fleet.stack import plan_stack, read_stack_file
from fleet.synth.diff import diff_synth
from tests.test_shards_synth import US_EAST, by_stack, project, synth

GRANT = "gcp:projects/iAMMember:IAMMember"
ADMIN = "group:platform-admins@acme.example"
US_CENTRAL = {"name": "us-central", "clusters": 1, "template": "production-blueprint", "provider": "gcp"}
# the hub reaches a private spoke through Connect Gateway: one more project role than an authorized one
EU_WEST = {"name": "eu-west", "clusters": 1, "template": "private-blueprint", "provider": "gcp"}
US_WEST = {"name": "us-west", "clusters": 1, "template": "production-blueprint", "provider": "gcp"}


def gcp_project(folder: Path, regions: list[dict[str, Any]], sharding: str = "region",
                retired: tuple[str, ...] = ()) -> Path:
    """test_shards_synth.project with GCP admins, a private blueprint, and the stack files of
    `retired` shards kept (their region entries gone)."""
    project(folder, regions, sharding)
    stack_file = folder / "Pulumi.prod.yaml"
    body = yaml.safe_load(stack_file.read_text())
    production = next(d for d in yaml.safe_load_all((folder / "blueprints" / "production.yaml").read_text())
                      if d["metadata"]["name"] == "production-blueprint")
    private = {**production, "metadata": {"name": "private-blueprint"},
               "spec": {**production["spec"], "networking": {**production["spec"]["networking"],
                                                              "apiAccess": "private"}}}
    body["config"]["fleet:admins"] = {"gcp": [ADMIN]}
    body["config"]["fleet:documents"].append(private)
    stack_file.write_text(yaml.safe_dump(body, sort_keys=False))
    for shard in retired:
        (folder / f"Pulumi.prod.{shard}.yaml").write_text(f"config:\n  fleet:shardOf: prod\n  fleet:shard: {shard}\n")
    return folder


def shared_grants(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The project-level grants at the stack's root (a cluster's node grants are its children)."""
    return {r["name"]: r for r in resources.values()
            if r["type"] == GRANT and "::pulumi:pulumi:Stack::" in (r["parent"] or "")}


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = gcp_project(tmp_path_factory.mktemp("gcp"), [US_CENTRAL, EU_WEST])
    return folder, synth(folder)


def test_every_shared_project_grant_is_the_environments_once_and_no_shard_declares_one(two_regions):
    folder, document = two_regions
    stacks = by_stack(document)
    assert sorted(stacks) == ["prod", "prod.eu-west", "prod.us-central"]
    config, _ = read_stack_file(folder, "prod")
    wanted = {g.name: g for g in project_grants(plan_stack(config, folder).plan, "acme-test")}
    assert sorted(wanted) == sorted([
        next(n for n in wanted if n.startswith("gcp-admin-container-clusterviewer-")),
        next(n for n in wanted if n.startswith("fleet-hub-gitops-container-clusterviewer-")),
        next(n for n in wanted if n.startswith("fleet-hub-gitops-gkehub-gatewayeditor-"))])
    everywhere = Counter(r["name"] for r in document["resources"] if r["type"] == GRANT and r["name"] in wanted)
    assert everywhere == Counter(set(wanted)), everywhere  # each exactly once in the environment
    assert set(shared_grants(stacks["prod"])) == set(wanted)
    for shard in ("prod.eu-west", "prod.us-central"):
        assert not shared_grants(stacks[shard]), shard
        cluster = f"fleet-{shard.removeprefix('prod.')}-01"
        node_grants = [r for r in stacks[shard].values() if r["type"] == GRANT]
        # what stays in a shard: its own clusters' node service account roles
        assert node_grants and all(r["name"].startswith(f"{cluster}-nodes-") for r in node_grants)
    inputs = {name: stacks["prod"][next(u for u, r in stacks["prod"].items() if r["name"] == name)]["inputs"]
              for name in wanted}
    assert inputs[next(n for n in wanted if n.startswith("gcp-admin-"))]["member"] == ADMIN
    assert all(i["project"] == "acme-test" for i in inputs.values())


def test_the_environment_declares_them_as_the_single_stack_did_so_migration_moves_none(two_regions, tmp_path):
    _, sharded = two_regions
    single = synth(gcp_project(tmp_path, [US_CENTRAL, EU_WEST], sharding="none"))
    before = shared_grants({r["urn"]: r for r in single["resources"]})
    after = shared_grants(by_stack(sharded)["prod"])
    assert sorted(before) == sorted(after)
    assert all(after[n]["inputs"] == before[n]["inputs"] and after[n]["urn"] == before[n]["urn"] for n in before)
    # fleet shards migrate: every resource of the single stack lands in exactly one stack, with the
    # same type and name, in the stack whose program declares it; the shared grants stay in prod
    moves = migration_moves(single["resources"], placement(sharded["resources"]), "prod")
    landed = simulate_moves(single["resources"], moves)
    owners = Counter(r["source_urn"] for rs in landed.values() for r in rs if not r["copied"])
    assert set(owners) == {r["urn"] for r in single["resources"]} and set(owners.values()) == {1}
    declared = {stack: {(r["type"], r["name"]) for r in rs.values()} for stack, rs in by_stack(sharded).items()}
    for stack, resources in landed.items():
        for resource in resources:
            assert (resource["type"], resource["name"]) in declared[stack], (stack, resource["urn"])
    assert {r["name"] for r in landed["prod"] if r["type"] == GRANT} >= set(before)
    assert not {urn for move in moves for urn in move.urns} & {grant["urn"] for grant in before.values()}


def test_removing_a_gcp_region_changes_no_other_shard_and_keeps_the_grants_the_others_need(two_regions, tmp_path):
    _, before = two_regions
    # us-central leaves (decommissioned, then its entry removed; its stack file kept): eu-west, in
    # the same project, still needs every shared grant (clusterViewer too)
    after = synth(gcp_project(tmp_path, [EU_WEST], retired=("us-central",)))
    old, new = by_stack(before), by_stack(after)
    assert new["prod.eu-west"] == old["prod.eu-west"]
    assert shared_grants(new["prod"]) == shared_grants(old["prod"])
    assert [r["type"] for r in new["prod.us-central"].values()] == ["fleet:index:Fleet"]
    deleted = [c for c in diff_synth(before, after).changes if c.type == GRANT]
    assert deleted and all(c.stack == "prod.us-central" and c.name.startswith("fleet-us-central-01-nodes-")
                           for c in deleted)


def test_adding_a_gcp_region_in_the_same_project_changes_no_existing_stack(two_regions, tmp_path):
    _, before = two_regions
    grown = synth(gcp_project(tmp_path, [US_CENTRAL, EU_WEST, US_WEST]))
    old, new = by_stack(before), by_stack(grown)
    for stack, resources in old.items():
        assert new[stack] == resources, f"{stack} changed"
        outputs = (before["outputs"], grown["outputs"]) if stack == "prod" else (
            before["stackOutputs"][stack], grown["stackOutputs"][stack])
        assert outputs[0] == outputs[1], f"outputs of {stack} changed"
    assert {c.stack for c in diff_synth(before, grown).changes} == {"prod.us-west"}
    assert not shared_grants(new["prod.us-west"])  # the grants it needs are the environment's already


def test_a_region_needing_a_grant_no_shard_needed_before_only_adds_it_to_the_environment(two_regions, tmp_path):
    # the first private region of the project: the hub now reaches it through Connect Gateway
    _, grown = two_regions
    before = synth(gcp_project(tmp_path, [US_CENTRAL]))
    changes = diff_synth(before, grown).changes
    assert by_stack(grown)["prod.us-central"] == by_stack(before)["prod.us-central"]
    environment = [(c.action, c.type, c.name) for c in changes if c.stack == "prod"]
    assert len(environment) == 1 and environment[0][:2] == ("add", GRANT)
    assert environment[0][2].startswith("fleet-hub-gitops-gkehub-gatewayeditor-")
    assert {c.stack for c in changes} == {"prod", "prod.eu-west"}


def test_the_first_gcp_region_of_a_project_adds_its_grants_to_the_environment(tmp_path):
    before = synth(gcp_project(tmp_path / "before", [US_EAST]))
    after = synth(gcp_project(tmp_path / "after", [US_EAST, US_CENTRAL]))
    assert by_stack(after)["prod.us-east"] == by_stack(before)["prod.us-east"]
    changes = diff_synth(before, after).changes
    environment = [c for c in changes if c.stack == "prod"]
    added = {c.name for c in environment if c.type == GRANT and c.action == "add"}
    assert any(n.startswith("gcp-admin-") for n in added) and any(n.startswith("fleet-hub-gitops-") for n in added)
    assert {c.action for c in environment if c.type == GRANT} == {"add"}
    # beyond additions only the documented exception of a cloud new to the hub: its controllers
    # get their identity on that cloud (docs/shards.md)
    assert [(c.action, c.name) for c in environment if c.action != "add"] == [("change", "fleet-hub-argocd")]
    assert {c.stack for c in changes} == {"prod", "prod.us-central"}
