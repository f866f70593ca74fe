"""Safe decommissioning: shrinking a fleet is loud in `fleet diff`, production clusters are
protected, and the dependency graph makes Pulumi delete a spoke's registration on the hub first,
then its GitOps engine, then the cluster."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from fleet.cli import main
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR, StackConfig, plan_stack
from fleet.synth.diff import CLUSTER_TYPES, diff_synth, render_markdown, render_text
from tests.test_zero_touch import BOOTSTRAP_TYPES, CLUSTER_NAME_INPUT, K8S_PROVIDER, edited, stack_config, synth


@pytest.fixture(scope="module")
def shrunk(prod_synth: dict) -> dict[str, dict]:
    """prod without its eu-west entry (2 AKS clusters), and prod with us-east lowered from 3 to 2."""
    def without_eu_west(regions):
        regions[:] = [r for r in regions if r["name"] != "eu-west"]

    def lower_us_east(regions):
        next(r for r in regions if r["name"] == "us-east")["clusters"] -= 1

    config = stack_config("prod")
    return {"remove-region": synth(edited(config, without_eu_west)),
            "lower-count": synth(edited(config, lower_us_east))}


EXPECTED_REMOVED = {
    "remove-region": ["production-fleet-eu-west-01", "production-fleet-eu-west-02"],
    "lower-count": ["production-fleet-us-east-03"],
}


@pytest.mark.parametrize("change", sorted(EXPECTED_REMOVED))
def test_shrinking_the_fleet_is_flagged_destructive(change: str, prod_synth: dict, shrunk: dict) -> None:
    diff = diff_synth(prod_synth, shrunk[change])
    assert diff.clusters_removed == EXPECTED_REMOVED[change]
    assert diff.clusters_added == []
    deleted_clusters = sorted(c.name for c in diff.destructive if c.type in CLUSTER_TYPES)
    assert deleted_clusters == sorted(f"{n}-aks" if change == "remove-region" else f"{n}-eks"
                                      for n in EXPECTED_REMOVED[change])
    assert all(c.action == "delete" for c in diff.destructive)
    # what a reviewer reads: the text report and the pull-request comment
    text = render_text(diff)
    for name in EXPECTED_REMOVED[change]:
        assert f" - cluster  {name}  [DESTRUCTIVE: the cluster and everything on it is deleted]" in text
    assert "[DESTRUCTIVE]" in text
    markdown = render_markdown(diff, "stack `prod`")
    assert "> [!CAUTION]" in markdown
    for name in EXPECTED_REMOVED[change]:
        assert f"> - cluster `{name}` removed" in markdown


def test_fleet_diff_exits_2_on_a_removal(tmp_path, prod_synth: dict, shrunk: dict, capsys) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    for folder, document in ((base, prod_synth), (head, shrunk["lower-count"])):
        folder.mkdir()
        (folder / "resources.json").write_text(json.dumps(document))
    assert main(["diff", str(base), str(head)]) == 2
    assert "destructive: " in capsys.readouterr().out


def test_production_clusters_are_protected(prod_synth: dict, staging_synth: dict) -> None:
    """`protect: true` on every production cluster: Pulumi refuses to delete it until lifted."""
    prod_clusters = [r for r in prod_synth["resources"] if r["type"] in CLUSTER_TYPES]
    assert len(prod_clusters) == len(prod_synth["clusters"]) == 7
    assert [r["name"] for r in prod_clusters if not r["protect"]] == []
    # and what holds their data: the Secrets encryption keys
    keys = ("aws:kms/key:Key", "azure-native:keyvault:Vault", "azure-native:keyvault:Key",
            "gcp:kms/cryptoKey:CryptoKey")
    assert [r["name"] for r in prod_synth["resources"] if r["type"] in keys and not r["protect"]] == []
    # staging clusters can be replaced freely: protection follows the environment
    assert [r["name"] for r in staging_synth["resources"] if r["type"] in CLUSTER_TYPES and r["protect"]] == []


def closure(document: dict, urn: str) -> set[str]:
    """Everything `urn` depends on, transitively (explicit dependencies and its provider)."""
    by_urn = {r["urn"]: r for r in document["resources"]}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        resource = by_urn.get(todo.pop())
        if resource is None:
            continue
        for dependency in [*resource["dependencies"], *([resource["provider"]] if resource["provider"] else [])]:
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


def names(document: dict, urns: Iterable[str]) -> list[str]:
    by_urn = {r["urn"]: r for r in document["resources"]}
    return sorted(by_urn[u]["name"] for u in urns if u in by_urn)


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_deletion_order_registration_then_engine_then_cluster(stack: str, prod_synth: dict,
                                                              staging_synth: dict) -> None:
    document = {"prod": prod_synth, "staging": staging_synth}[stack]
    resources = document["resources"]
    provider_of = {r["inputs"].get("clusterIdentifier"): r["urn"] for r in resources if r["type"] == K8S_PROVIDER}
    spokes = [c for c in document["clusters"] if c["role"] == "spoke"]
    assert spokes
    for spoke in spokes:
        name = spoke["name"]
        cluster = next(r["urn"] for r in resources
                       if r["type"] in CLUSTER_TYPES and r["inputs"].get(CLUSTER_NAME_INPUT[r["type"]]) == name)
        bootstrap = next(r["urn"] for r in resources if r["type"] in BOOTSTRAP_TYPES and r["name"] == name)
        engine = [r["urn"] for r in resources if r["parent"] == bootstrap and r["custom"]]
        registration = [r["urn"] for r in resources
                        if r["provider"] == provider_of[spoke["hub"]] and r["name"].startswith(f"{name}-")]
        assert engine, f"{name}: no GitOps engine resources"
        assert registration, f"{name}: no registration on hub {spoke['hub']}"
        for urn in registration:  # deleted before the engine: it depends on all of it
            missing = set(engine) - closure(document, urn)
            assert not missing, f"{names(document, [urn])} does not depend on {names(document, missing)}"
        for urn in engine:  # the engine is deleted before the cluster it runs on
            assert cluster in closure(document, urn), f"{names(document, [urn])} does not depend on {name}'s cluster"


def test_protection_cannot_be_lifted_for_the_whole_production_fleet() -> None:
    config = stack_config("prod")
    unprotected = StackConfig(config.stack, config.source, {**config.values, "fleet:protect": False},
                              config.secret_keys)
    problems = [str(p) for p in plan_stack(unprotected, PROJECT_DIR).problems]
    assert problems and all("[production-deletion-protection]" in p for p in problems)
    assert "production cluster 'production-fleet-us-east-01' is not protected from deletion; remove " \
           "fleet:protect: false from the production stack" in "\n".join(problems)


def test_decommission_step_one_lifts_protection_without_deleting_anything(prod_synth: dict) -> None:
    """`decommission: [3]` on us-east: cluster 03 loses Pulumi protect and the cloud's deletion
    protection (tagged fleet-decommission), nothing is deleted, the guardrails accept it, and the
    other clusters stay protected."""
    from fleet.rules import check_synth

    def mark_third(regions):
        next(r for r in regions if r["name"] == "us-east")["decommission"] = [3]

    marked = synth(edited(stack_config("prod"), mark_third))
    diff = diff_synth(prod_synth, marked)
    assert diff.count("delete") == 0 and diff.clusters_removed == [] and diff.destructive == []
    clusters = {r["name"]: r for r in marked["resources"] if r["type"] in CLUSTER_TYPES}
    third = clusters["production-fleet-us-east-03-eks"]
    assert third["protect"] is False and third["inputs"]["deletionProtection"] is False
    assert third["inputs"]["tags"]["fleet-decommission"] == "true"
    assert all(r["protect"] for name, r in clusters.items() if name != "production-fleet-us-east-03-eks")
    assert check_synth(marked, AS_OF) == []
