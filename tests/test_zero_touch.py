"""Zero-touch regions, proven on the real program: for each stack and each cloud, adding a region
entry (and, separately, raising `clusters` of an entry) only ADDS resources (the new cluster, its
GitOps bootstrap, its registration on the hub) and changes no input of anything that exists;
reordering region entries changes nothing at all.

Each case edits the stack's inline ClusterSet (fleet:documents) in a copy of its config, runs the
program under the mock engine in-process and compares with `fleet diff`'s own diff_synth.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from fleet.stack import PROJECT_DIR, StackConfig, plan_stack, read_stack_file
from fleet.synth import synthesize
from fleet.synth.diff import CLUSTER_TYPES, Change, diff_synth, render_text
from fleet.synth.output import synth_document

STACKS = ("prod", "staging")
CLOUDS = ("aws", "azure", "gcp")
NEW_REGION = "eu-central"  # an alias every cloud maps (eu-central-1, germanywestcentral, europe-west3)
BOOTSTRAP_TYPES = ("fleet:gitops:FluxBootstrap", "fleet:gitops:ArgoCDBootstrap")
K8S_PROVIDER = "pulumi:providers:kubernetes"

Regions = list[dict[str, Any]]


# --- building modified declarations --------------------------------------------------------------


def stack_config(stack: str) -> StackConfig:
    config, problems = read_stack_file(PROJECT_DIR, stack)
    assert not problems, problems
    return config


def edited(config: StackConfig, edit: Callable[[Regions], None]) -> StackConfig:
    """A copy of the stack config whose inline ClusterSet's spec.regions went through `edit`."""
    values = copy.deepcopy(dict(config.values))
    cluster_sets = [d for d in values["fleet:documents"] if d.get("kind") == "ClusterSet"]
    assert len(cluster_sets) == 1, "the stack declares its ClusterSet inline (fleet:documents)"
    edit(cluster_sets[0]["spec"]["regions"])
    return StackConfig(config.stack, config.source, values, config.secret_keys)


def entry_of(regions: Regions, cloud: str) -> dict[str, Any]:
    return next(r for r in regions if r.get("provider") == cloud)


def add_region(cloud: str) -> Callable[[Regions], None]:
    def edit(regions: Regions) -> None:
        regions.append({"name": NEW_REGION, "clusters": 1, "template": entry_of(regions, cloud)["template"],
                        "provider": cloud})
    return edit


def raise_count(cloud: str) -> Callable[[Regions], None]:
    def edit(regions: Regions) -> None:
        entry_of(regions, cloud)["clusters"] += 1
    return edit


CHANGES = {"add-region": add_region, "raise-count": raise_count}


def synth(config: StackConfig) -> dict[str, Any]:
    """The resources.json document of `config`, in memory (as `fleet synth` would write it)."""
    result = synthesize(PROJECT_DIR, config)
    assert not result.problems, [str(p) for p in result.problems]
    assert result.program_error is None, result.program_error
    assert result.recording is not None
    return json.loads(json.dumps(synth_document(result.recording, result.stack.plan)))


@functools.cache
def grown(stack: str, cloud: str, change: str) -> tuple[dict[str, Any], str]:
    """(synth document, name of the one new cluster) after `change` on `cloud` in `stack`."""
    base_config = stack_config(stack)
    config = edited(base_config, CHANGES[change](cloud))
    before = {c.name for c in plan_stack(base_config, PROJECT_DIR).plan.clusters}
    after = {c.name: c for c in plan_stack(config, PROJECT_DIR).plan.clusters}
    new = sorted(after.keys() - before)
    assert len(new) == 1 and after[new[0]].provider == cloud, new
    return synth(config), new[0]


@pytest.fixture(scope="module")
def base_docs(prod_synth: dict, staging_synth: dict) -> dict[str, dict]:
    return {"prod": prod_synth, "staging": staging_synth}


# --- reading a synth document ----------------------------------------------------------------------


def duplicate_urns(document: dict) -> list[str]:
    counts = Counter(r["urn"] for r in document["resources"])
    return sorted(urn for urn, n in counts.items() if n > 1)


def kubernetes_provider(document: dict, cluster: str) -> str:
    return next(r["urn"] for r in document["resources"]
                if r["type"] == K8S_PROVIDER and r["inputs"].get("clusterIdentifier") == cluster)


def hub_of(document: dict, cluster: str) -> str:
    return next(c["hub"] for c in document["clusters"] if c["name"] == cluster)


def explain(changes: list[Change]) -> str:
    return "existing resources changed:\n" + "\n".join(
        f"  {c.action} {c.type} {c.name}: {', '.join(c.fields)}" for c in changes)


# --- the tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_base_synth_declares_every_resource_once(stack: str, base_docs: dict) -> None:
    """Two resources with one URN make `pulumi up` fail (and hide one of them from `fleet diff`)."""
    assert duplicate_urns(base_docs[stack]) == []


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("stack", STACKS)
def test_growing_the_fleet_only_adds(stack: str, cloud: str, change: str, base_docs: dict) -> None:
    head, new = grown(stack, cloud, change)
    doubled = sorted(set(duplicate_urns(head)) - set(duplicate_urns(base_docs[stack])))
    assert doubled == [], f"URNs declared twice once {new} exists: {doubled}"
    diff = diff_synth(base_docs[stack], head)

    not_added = [c for c in diff.changes if c.action != "add"]
    assert not_added == [], explain(not_added)
    assert diff.clusters_added == [new]
    assert diff.clusters_removed == [] and diff.destructive == []

    added = {c.urn: c for c in diff.changes}
    resources = {r["urn"]: r for r in head["resources"]}
    new_provider = kubernetes_provider(head, new)
    hub_provider = kubernetes_provider(head, hub_of(head, new))
    # the new cluster itself, on its cloud
    assert [c.name for c in added.values() if c.type in CLUSTER_TYPES and
            resources[c.urn]["inputs"].get(CLUSTER_NAME_INPUT[c.type]) == new], "no new cloud cluster"
    # its GitOps bootstrap: the engine's component and what it installs on the new cluster
    bootstraps = [c for c in added.values() if c.type in BOOTSTRAP_TYPES and c.name == new]
    assert len(bootstraps) == 1, "no GitOps bootstrap for the new cluster"
    installed = [u for u in added if resources[u]["parent"] == bootstraps[0].urn
                 and resources[u]["provider"] == new_provider]
    assert installed, "the bootstrap installs nothing on the new cluster"
    # its registration on the hub: objects the hub's Kubernetes provider manages for the new cluster
    registration = [c for c in added.values() if resources[c.urn]["provider"] == hub_provider]
    assert registration and all(c.name.startswith(new) for c in registration), registration
    # and nothing else: every addition belongs to the new cluster, or (a new region entry of a set
    # publishing a global entry point, fleet.traffic) is that entry's latency records
    entry_point = f"{new.rsplit('-', 1)[0]}-latency" if change == "add-region" else new
    assert [c.name for c in added.values() if not c.name.startswith((new, entry_point))] == []


@pytest.mark.parametrize("stack", STACKS)
def test_reordering_region_entries_changes_nothing(stack: str, base_docs: dict) -> None:
    config = edited(stack_config(stack), lambda regions: regions.reverse())
    diff = diff_synth(base_docs[stack], synth(config))
    assert diff.equal, render_text(diff)


CLUSTER_NAME_INPUT = {
    "aws:eks/cluster:Cluster": "name",
    "azure-native:containerservice:ManagedCluster": "resourceName",
    "gcp:container/cluster:Cluster": "name",
}
