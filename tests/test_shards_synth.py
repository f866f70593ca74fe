"""Shards (issue #13) through the real program under the mock engine: the environment's stack and
its shard stacks, the StackReference between them, a new region leaving every existing stack as it
was, per-shard synth, and the state-move migration from a single stack."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.cli import main
from fleet.shards import migration_moves, placement, simulate_moves
from fleet.stack import PROJECT_DIR, read_stack_file
from fleet.synth import synthesize
from fleet.synth.diff import diff_synth, render_markdown

HUB = {"template": "management-blueprint", "provider": "aws", "location": "us-east"}
US_EAST = {"name": "us-east", "clusters": 2, "template": "production-blueprint", "provider": "aws"}
EU_WEST = {"name": "eu-west", "clusters": 1, "template": "production-blueprint", "provider": "azure",
           "labels": {"compliance": "gdpr"}}
US_WEST = {"name": "us-west", "clusters": 1, "template": "production-blueprint", "provider": "aws"}


def project(folder: Path, regions: list[dict[str, Any]], sharding: str = "region") -> Path:
    """A fleet project: this repository's program and blueprints, a prod stack declaring `regions`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, folder / name)
    shutil.copytree(PROJECT_DIR / "blueprints", folder / "blueprints", dirs_exist_ok=True)
    cluster_set = {"apiVersion": "fleet.example.com/v1", "kind": "ClusterSet", "metadata": {"name": "fleet"},
                   "spec": {"environment": "production", "hub": HUB, "regions": regions}}
    config = {"aws:region": "us-east-1", "gcp:project": "acme-test",
              "fleet:declarations": ["blueprints/production.yaml"],
              "fleet:gcpProject": "acme-test", "fleet:repository": {"url": "https://github.com/acme/fleet.git"},
              "fleet:sharding": sharding, "fleet:documents": [cluster_set],
              "fleet:deployer": {"aws": "arn:aws:iam::123456789012:role/fleet-deployer",
                                 "azure": "faa20390-bbe9-4192-83be-1827caeea269"},
              "fleet:ciRunnerCidrs": ["198.51.100.0/26"]}
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return folder


def synth(folder: Path, out: Path | None = None, shard: str | None = None) -> dict[str, Any]:
    config, problems = read_stack_file(folder, "prod")
    assert not problems, [str(p) for p in problems]
    result = synthesize(folder, config, out, shard=shard)
    assert not result.problems, [str(p) for p in result.problems]
    assert result.program_error is None, result.program_error
    assert not result.guardrails, [str(p) for p in result.guardrails]
    assert result.document is not None
    return result.document


def by_stack(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    stacks: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in document["resources"]:
        stacks.setdefault(resource["stack"], {})[resource["urn"]] = resource
    return stacks


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth(project(tmp_path_factory.mktemp("sharded"), [US_EAST, EU_WEST]))


def test_the_environment_holds_the_hub_and_each_region_its_own_stack(sharded):
    stacks = by_stack(sharded)
    assert sorted(stacks) == ["prod", "prod.eu-west", "prod.us-east"]
    clusters = {stack: sorted(r["name"] for r in resources.values() if r["type"] == "fleet:index:FleetMember")
                for stack, resources in stacks.items()}
    assert clusters == {"prod": ["fleet-hub"], "prod.eu-west": ["fleet-eu-west-01"],
                        "prod.us-east": ["fleet-us-east-01", "fleet-us-east-02"]}
    # every URN names the stack that holds it
    assert all(urn.startswith(f"urn:pulumi:{stack}::") for stack, rs in stacks.items() for urn in rs)


def test_shards_read_the_hub_through_a_stack_reference_and_its_credentials_stay_secret(sharded):
    stacks = by_stack(sharded)
    for shard in ("prod.eu-west", "prod.us-east"):
        (reference,) = [r for r in stacks[shard].values() if r["type"] == "pulumi:pulumi:StackReference"]
        assert reference["inputs"] == {"name": "organization/fleet/prod"}
        (hub_provider,) = [r for r in stacks[shard].values()
                           if r["type"] == "pulumi:providers:kubernetes" and r["name"] == "fleet-hub-k8s"]
        assert hub_provider["inputs"]["kubeconfig"] == "[secret]"
        assert hub_provider["inputs"]["clusterIdentifier"] == "fleet-hub"
        registrations = [r for r in stacks[shard].values() if r["name"].endswith("-hub-registration")]
        assert registrations and all(r["provider"] == hub_provider["urn"] for r in registrations)
    assert sharded["outputs"]["hubKubeconfigs"] == "[secret]"
    assert set(sharded["outputs"]["hubs"]["fleet-hub"]) >= {"endpoint", "egressCidrs", "identity"}
    assert sorted(sharded["stackOutputs"]) == ["prod.eu-west", "prod.us-east"]
    assert "[secret]" not in json.dumps(sharded["outputs"]["hubs"])  # nothing secret travels in plain


def test_sharding_declares_what_the_single_stack_declared_with_the_same_inputs(sharded, tmp_path):
    single = synth(project(tmp_path / "single", [US_EAST, EU_WEST], sharding="none"))
    key = lambda r: (r["type"], r["name"])  # noqa: E731
    single_inputs = {key(r): r["inputs"] for r in single["resources"]}
    extra = Counter(key(r) for r in sharded["resources"]) - Counter(key(r) for r in single["resources"])
    # per shard: its Fleet component, the hub seen from it (component and Kubernetes provider), the reference
    assert set(extra) == {("fleet:index:Fleet", "fleet"), ("fleet:index:HubRef", "fleet-hub"),
                          ("pulumi:providers:kubernetes", "fleet-hub-k8s"),
                          ("pulumi:pulumi:StackReference", "prod-environment")}
    assert not Counter(key(r) for r in single["resources"]) - Counter(key(r) for r in sharded["resources"])
    changed = [key(r) for r in sharded["resources"] if key(r) in single_inputs and r["inputs"] != single_inputs[key(r)]]
    assert not changed


def test_adding_a_region_changes_no_existing_stack(sharded, tmp_path):
    grown = synth(project(tmp_path, [US_EAST, US_WEST, EU_WEST]))
    before, after = by_stack(sharded), by_stack(grown)
    assert sorted(after) == ["prod", "prod.eu-west", "prod.us-east", "prod.us-west"]
    for stack, resources in before.items():
        assert after[stack] == resources, f"{stack} changed"  # not a resource, input, option or dependency
        outputs = sharded["outputs"] if stack == "prod" else sharded["stackOutputs"][stack]
        grown_outputs = grown["outputs"] if stack == "prod" else grown["stackOutputs"][stack]
        assert outputs == grown_outputs, f"outputs of {stack} changed"
    report = render_markdown(diff_synth(sharded, grown))
    assert "#### stack `prod.us-west`: " in report and "#### stack `prod.us-east`" not in report
    assert {c.stack for c in diff_synth(sharded, grown).changes} == {"prod.us-west"}


def test_one_shard_synthesises_alone_against_the_hubs_outputs(sharded, tmp_path):
    folder = project(tmp_path / "p", [US_EAST, EU_WEST])
    document = synth(folder, tmp_path / "out", shard="eu-west")
    assert document["stack"] == "prod.eu-west"
    assert [c["name"] for c in document["clusters"]] == ["fleet-eu-west-01"]
    assert {r["urn"]: r for r in document["resources"]} == by_stack(sharded)["prod.eu-west"]
    assert sorted(p.name for p in (tmp_path / "out" / "manifests").iterdir()) == ["fleet-eu-west-01", "fleet-hub"]


def test_state_move_puts_every_resource_of_the_single_stack_in_exactly_one_stack(sharded, tmp_path):
    single = synth(project(tmp_path, [US_EAST, EU_WEST], sharding="none"))
    places = placement(sharded["resources"])
    moves = migration_moves(single["resources"], places, "prod")
    assert [m.dest for m in moves] == ["prod.eu-west", "prod.us-east"]
    landed = simulate_moves(single["resources"], moves)
    owners = Counter(r["source_urn"] for rs in landed.values() for r in rs if not r["copied"])
    assert set(owners) == {r["urn"] for r in single["resources"]} and set(owners.values()) == {1}
    declared = {stack: {(r["type"], r["name"]) for r in rs.values()} for stack, rs in by_stack(sharded).items()}
    for stack, resources in landed.items():
        for resource in resources:  # same type and name, in the stack whose program declares it
            assert (resource["type"], resource["name"]) in declared[stack], (stack, resource["urn"])
            assert resource["urn"].split("::")[1:] == resource["source_urn"].split("::")[1:]


def test_fleet_shards_lists_the_stacks_and_writes_their_files(tmp_path, monkeypatch, capsys):
    folder = project(tmp_path, [US_EAST, EU_WEST])
    (folder / "Pulumi.prod.us-east.yaml").write_text("encryptionsalt: v1:abc\nconfig:\n  team:owner: platform\n")
    monkeypatch.chdir(folder)
    assert main(["shards", "--stack", "prod", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["shard"], r["stack"]) for r in rows] == [("hub", "prod"), ("eu-west", "prod.eu-west"),
                                                         ("us-east", "prod.us-east")]
    written = yaml.safe_load((folder / "Pulumi.prod.us-east.yaml").read_text())
    assert written["encryptionsalt"] == "v1:abc"  # what pulumi stack init wrote is kept
    assert written["config"] == {"team:owner": "platform", "fleet:shardOf": "prod", "fleet:shard": "us-east",
                                 "aws:region": "us-east-1", "gcp:project": "acme-test"}
    assert main(["validate", "--stack", "prod.eu-west"]) == 0
    # without the Pulumi CLI, preview is one line
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert main(["preview", "--stack", "prod"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("fleet preview: the Pulumi CLI is not installed")


def test_fleet_shards_migrate_prints_the_state_move_commands(tmp_path, monkeypatch, capsys):
    folder = project(tmp_path / "p", [US_EAST, EU_WEST])
    single = synth(project(tmp_path / "single", [US_EAST, EU_WEST], sharding="none"))
    state = tmp_path / "export.json"
    state.write_text(json.dumps({"version": 3, "deployment": {"resources": [
        {"urn": r["urn"], "type": r["type"], "parent": r["parent"],
         **({"provider": r["provider"] + "::id"} if r["provider"] else {})} for r in single["resources"]]}}))
    monkeypatch.chdir(folder)
    assert main(["shards", "migrate", "--stack", "prod", "--state", str(state)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:8] for line in lines] == [
        ["pulumi", "state", "move", "--source", "prod", "--dest", "prod.eu-west", "--yes"],
        ["pulumi", "state", "move", "--source", "prod", "--dest", "prod.us-east", "--yes"]]
    assert "'urn:pulumi:prod::fleet::fleet:index:Fleet$fleet:index:FleetMember::fleet-eu-west-01'" in lines[0]


def test_fleet_shards_changed_names_only_the_shards_a_change_touches(tmp_path, monkeypatch, capsys):
    base = project(tmp_path / "base", [US_EAST, EU_WEST])
    head = project(tmp_path / "head", [{**US_EAST, "clusters": 3}, US_WEST, EU_WEST])
    monkeypatch.chdir(head)
    assert main(["shards", "changed", "--stack", "prod", "--base", str(base), "--json"]) == 0
    assert [row["stack"] for row in json.loads(capsys.readouterr().out)] == ["prod.us-east", "prod.us-west"]
    assert not list(head.glob("Pulumi.prod.*.yaml"))  # deciding writes nothing
    assert main(["shards", "changed", "--stack", "prod", "--base", str(tmp_path / "nowhere"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4  # no base to compare with: every shard


def test_a_shard_knows_the_identity_details_the_environment_exports(sharded):
    """fleet.hubref.IDENTITY_DETAILS: what a shard rebuilds before the outputs resolve must match
    what the cloud modules export for the hub's identities."""
    from fleet.hubref import IDENTITY_DETAILS

    hub = sharded["outputs"]["hubs"]["fleet-hub"]
    identities = hub.get("identities") or {hub["identity"]["provider"]: hub["identity"]}
    assert identities
    for cloud, identity in identities.items():
        assert set(IDENTITY_DETAILS[cloud]) <= set(identity["details"]), cloud


def test_shards_synthesised_in_separate_processes_give_the_same_document(sharded, tmp_path):
    folder = project(tmp_path, [US_EAST, EU_WEST])
    config, _ = read_stack_file(folder, "prod")
    result = synthesize(folder, config, jobs=2)
    assert result.program_error is None and result.document is not None
    assert result.document["resources"] == sharded["resources"]
    assert result.document["stackOutputs"] == sharded["stackOutputs"]


def test_decommissioning_a_region_changes_only_its_shard_then_its_retired_stack_deletes_what_it_held(
        sharded, tmp_path):
    # step 1: decommission lifts the region's protection, in its own stack only
    leaving = synth(project(tmp_path / "leaving", [US_EAST, {**EU_WEST, "decommission": True}]))
    changed = {c.stack for c in diff_synth(sharded, leaving).changes}
    assert changed == {"prod.eu-west"}
    # step 2: the entry is gone; its stack file stays until the stack is removed: a retired shard
    folder = project(tmp_path / "gone", [US_EAST])
    (folder / "Pulumi.prod.eu-west.yaml").write_text("config:\n  fleet:shardOf: prod\n  fleet:shard: eu-west\n")
    gone = synth(folder)
    retired = by_stack(gone)["prod.eu-west"]
    assert [r["type"] for r in retired.values()] == ["fleet:index:Fleet"]  # its next update deletes the rest
    assert by_stack(gone)["prod.us-east"] == by_stack(sharded)["prod.us-east"]


def test_the_fleet_repository_token_reaches_a_shard_only_as_a_secret(tmp_path):
    folder = project(tmp_path, [US_EAST])
    stack_file = folder / "Pulumi.prod.yaml"
    body = yaml.safe_load(stack_file.read_text())
    body["config"]["fleet:gitToken"] = {"secure": "v1:c2VjcmV0"}  # as `pulumi config set --secret` writes it
    stack_file.write_text(yaml.safe_dump(body, sort_keys=False))
    document = synth(folder)
    assert document["outputs"]["gitToken"] == "[secret]"
    shard = by_stack(document)["prod.us-east"]
    pulls = [r for r in shard.values() if r["name"].endswith("-flux-repository")]
    assert pulls and all(r["inputs"]["stringData"] == "[secret]" for r in pulls)
    assert "v1:c2VjcmV0" not in json.dumps(document)
