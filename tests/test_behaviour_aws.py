"""fleet.behaviour.aws: what EKS and the charts on it enforce, judged on recorded stacks.

Each rule is shown twice: the example stacks pass it, and a recording reshaped the way the code
was before (node groups before Cilium, no autoscaler, the decommission tag in launch templates,
...) fails it with a message naming the cluster, the problem and the fix. The `fleet diff` tests
show what the fake launch template versions make visible: a node roll exactly when one happens.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from fleet.behaviour import aws as rules
from fleet.plan import DECOMMISSION_TAG
from fleet.recorded import Stack
from fleet.rules import check_resources
from fleet.spec.versions import AS_OF
from fleet.synth.diff import diff_synth
from tests.test_zero_touch import edited, stack_config, synth

CLUSTER = "production-fleet-us-east-01"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
Document = dict[str, Any]


def violations(document: Document, rule_id: str) -> list[str]:
    rule = next(r for r in rules.RULES if r.id == rule_id)
    return [v.message for v in check_resources(Stack.from_synth(document), [rule])]


def reshaped(document: Document, change: Callable[[Document], None]) -> Document:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


def entry(document: Document, type_: str, name: str) -> dict[str, Any]:
    found = [r for r in document["resources"] if r["type"] == type_ and r["name"] == name]
    assert len(found) == 1, (type_, name)
    return found[0]


def groups_of(document: Document, cluster: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == NODE_GROUP and r["inputs"]["clusterName"] == cluster]


def growable(group: dict[str, Any]) -> bool:
    return group["inputs"]["scalingConfig"]["maxSize"] > group["inputs"]["scalingConfig"]["minSize"]


@pytest.mark.parametrize("rule_id", [r.id for r in rules.RULES])
def test_example_stacks_pass(rule_id: str, prod_synth: Document, staging_synth: Document) -> None:
    assert groups_of(prod_synth, CLUSTER) and groups_of(staging_synth, "staging-fleet-us-east-01")
    assert violations(prod_synth, rule_id) == []
    assert violations(staging_synth, rule_id) == []


def test_every_rule_is_run_by_synth_validate_and_the_policy_pack() -> None:
    from fleet.rules import resource_rules
    assert {r.id for r in rules.RULES} <= {r.id for r in resource_rules(AS_OF)}


# --- eks-cni-before-nodes ----------------------------------------------------------------------


def _cilium(document: Document) -> dict[str, Any]:
    return entry(document, RELEASE, f"{CLUSTER}-cilium")


def _nodes_before_cilium(document: Document) -> None:
    """The shape before the fix: Cilium waited for the node groups."""
    cilium = _cilium(document)
    for group in groups_of(document, CLUSTER):
        group["dependencies"].remove(cilium["urn"])
        cilium["dependencies"].append(group["urn"])
    del cilium["inputs"]["skipAwait"]


def test_node_groups_before_cilium_are_refused(prod_synth: Document) -> None:
    messages = violations(reshaped(prod_synth, _nodes_before_cilium), "eks-cni-before-nodes")
    groups = groups_of(prod_synth, CLUSTER)
    created_before = [m for m in messages if "is created before the cluster's CNI" in m]
    assert len(created_before) == len(groups)
    assert all(m.startswith(f"cluster '{CLUSTER}' ") and "NodeCreationFailure" in m and "depends_on" in m
               for m in created_before)
    assert len([m for m in messages if "deadlock" in m]) == len(groups)


def test_cilium_that_waits_for_ready_pods_is_refused(prod_synth: Document) -> None:
    def waits(document: Document) -> None:
        del _cilium(document)["inputs"]["skipAwait"]

    messages = violations(reshaped(prod_synth, waits), "eks-cni-before-nodes")
    assert messages and all("never finishes; set skip_await=True" in m for m in messages)


def test_no_cni_at_all_is_refused(prod_synth: Document) -> None:
    def without(document: Document) -> None:
        document["resources"].remove(_cilium(document))

    messages = violations(reshaped(prod_synth, without), "eks-cni-before-nodes")
    assert len(messages) == len(groups_of(prod_synth, CLUSTER))
    assert all("has no CNI" in m for m in messages)


def test_node_groups_before_the_vpc_cni_are_refused(staging_synth: Document) -> None:
    cluster = "staging-fleet-us-east-01"

    def before(document: Document) -> None:
        cni = entry(document, "aws:eks/addon:Addon", f"{cluster}-vpc-cni")
        eniconfigs = {r["urn"] for r in document["resources"] if r["name"].startswith(f"{cluster}-eniconfig-")}
        for group in groups_of(document, cluster):
            group["dependencies"] = [d for d in group["dependencies"] if d != cni["urn"] and d not in eniconfigs]

    messages = violations(reshaped(staging_synth, before), "eks-cni-before-nodes")
    assert messages and all(f"cluster '{cluster}'" in m and "'staging-fleet-us-east-01-vpc-cni'" in m
                            for m in messages)


def test_clusters_with_eks_own_addons_are_not_judged(prod_synth: Document) -> None:
    def self_managed(document: Document) -> None:
        entry(document, "aws:eks/cluster:Cluster", f"{CLUSTER}-eks")["inputs"]["bootstrapSelfManagedAddons"] = True
        _nodes_before_cilium(document)

    assert violations(reshaped(prod_synth, self_managed), "eks-cni-before-nodes") == []


# --- eks-autoscaled-pools ----------------------------------------------------------------------


def _autoscaler(document: Document) -> dict[str, Any]:
    return entry(document, RELEASE, f"{CLUSTER}-cluster-autoscaler")


def test_pools_without_an_autoscaler_are_refused(prod_synth: Document) -> None:
    def without(document: Document) -> None:
        document["resources"].remove(_autoscaler(document))

    messages = violations(reshaped(prod_synth, without), "eks-autoscaled-pools")
    expected = sorted(g["name"] for g in groups_of(prod_synth, CLUSTER) if growable(g))
    assert len(expected) == 3 and len(messages) == len(expected)
    assert sorted(m.split("'")[3] for m in messages) == expected
    batch = next(m for m in messages if f"'{CLUSTER}-batch'" in m)
    assert batch == (f"cluster '{CLUSTER}' (aws:eks/nodeGroup:NodeGroup '{CLUSTER}-batch') may grow from 0 to 20 "
                     "nodes but no Cluster Autoscaler runs on the cluster, so it never leaves its minimum; install "
                     "the cluster-autoscaler chart on it")


def test_pools_without_room_to_grow_need_no_autoscaler(prod_synth: Document) -> None:
    def fixed(document: Document) -> None:
        document["resources"].remove(_autoscaler(document))
        for group in groups_of(document, CLUSTER):
            group["inputs"]["scalingConfig"]["maxSize"] = group["inputs"]["scalingConfig"]["minSize"]

    assert violations(reshaped(prod_synth, fixed), "eks-autoscaled-pools") == []


def test_an_undiscovered_pool_is_refused(prod_synth: Document) -> None:
    def untagged(document: Document) -> None:
        document["resources"].remove(entry(document, "aws:autoscaling/tag:Tag",
                                           f"{CLUSTER}-general-asg-fleet.example.com-autoscaled"))

    messages = violations(reshaped(prod_synth, untagged), "eks-autoscaled-pools")
    assert len(messages) == 1 and f"'{CLUSTER}-general'" in messages[0]
    assert f"missing: fleet.example.com/autoscaled={CLUSTER}" in messages[0]


def test_an_autoscaler_that_may_scale_other_clusters_is_refused(prod_synth: Document) -> None:
    def unconditioned(document: Document) -> None:
        policy = entry(document, "aws:iam/rolePolicy:RolePolicy", f"{CLUSTER}-cluster-autoscaler")
        document_ = json.loads(policy["inputs"]["policy"])
        for statement in document_["Statement"]:
            statement.pop("Condition", None)
        policy["inputs"]["policy"] = json.dumps(document_)

    messages = violations(reshaped(prod_synth, unconditioned), "eks-autoscaled-pools")
    assert messages and all("may scale Auto Scaling groups of other clusters" in m and CLUSTER in m
                            for m in messages)


def test_an_autoscaler_without_identity_is_refused(prod_synth: Document) -> None:
    def anonymous(document: Document) -> None:
        document["resources"].remove(entry(document, "aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                           f"{CLUSTER}-cluster-autoscaler"))

    messages = violations(reshaped(prod_synth, anonymous), "eks-autoscaled-pools")
    assert messages and all("no EKS Pod Identity association" in m for m in messages)


# --- eks-scale-from-zero -----------------------------------------------------------------------


def test_a_pool_at_zero_must_describe_its_nodes(prod_synth: Document) -> None:
    def untainted(document: Document) -> None:
        document["resources"].remove(entry(document, "aws:autoscaling/tag:Tag",
                                           f"{CLUSTER}-batch-asg-node-template-taint-workload-class"))

    messages = violations(reshaped(prod_synth, untainted), "eks-scale-from-zero")
    assert messages == [
        f"cluster '{CLUSTER}' (aws:eks/nodeGroup:NodeGroup '{CLUSTER}-batch') starts at 0 nodes but its Auto "
        "Scaling group does not tell the Cluster Autoscaler what its nodes look like (missing ASG tags: "
        "k8s.io/cluster-autoscaler/node-template/taint/workload-class=batch:NoSchedule); add them with "
        "aws.autoscaling.Tag"]


def test_startup_taints_need_no_template(prod_synth: Document) -> None:
    """Cilium's agent-not-ready taint is on the group but not in its tags: the autoscaler ignores it."""
    def forgotten(document: Document) -> None:
        values = _autoscaler(document)["inputs"]["values"]
        del values["extraArgs"]["startup-taint"]

    messages = violations(reshaped(prod_synth, forgotten), "eks-scale-from-zero")
    assert messages and "node-template/taint/node.cilium.io/agent-not-ready=true:NoExecute" in messages[0]


# --- eks-stable-launch-template ----------------------------------------------------------------


@pytest.mark.parametrize(("key", "why"), [(DECOMMISSION_TAG, "(lifting protection)"),
                                          ("compliance", "values that change under a running cluster")])
def test_launch_templates_carrying_changing_tags_are_refused(key: str, why: str, prod_synth: Document) -> None:
    def tagged(document: Document) -> None:
        template = entry(document, "aws:ec2/launchTemplate:LaunchTemplate", f"{CLUSTER}-general")
        for specification in template["inputs"]["tagSpecifications"]:
            specification["tags"][key] = "true"

    messages = violations(reshaped(prod_synth, tagged), "eks-stable-launch-template")
    assert len(messages) == 1
    assert messages[0].startswith(f"cluster '{CLUSTER}' (aws:ec2/launchTemplate:LaunchTemplate '{CLUSTER}-general')")
    assert f"carry {key}: " in messages[0] and why in messages[0] and "replace every node" in messages[0]


# --- eks-one-access-entry-per-principal --------------------------------------------------------


def test_a_second_access_entry_for_a_principal_is_refused(prod_synth: Document) -> None:
    def duplicated(document: Document) -> None:
        first = next(r for r in document["resources"] if r["type"] == "aws:eks/accessEntry:AccessEntry"
                     and r["inputs"]["clusterName"] == CLUSTER)
        second = copy.deepcopy(first)
        second["urn"], second["name"] = first["urn"] + "-again", first["name"] + "-again"
        document["resources"].append(second)

    messages = violations(reshaped(prod_synth, duplicated), "eks-one-access-entry-per-principal")
    assert len(messages) == 1 and "ResourceInUseException" in messages[0] and CLUSTER in messages[0]


# --- what fleet diff shows: node rolls exactly when they happen --------------------------------


def _node_changes(base: Document, head: Document) -> dict[str, tuple[str, ...]]:
    pool_types = (NODE_GROUP, "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/tag:Tag")
    return {c.name: c.fields for c in diff_synth(base, head).changes if c.type in pool_types}


def test_decommission_step_one_rolls_no_node(prod_synth: Document) -> None:
    def mark_third(regions):
        next(r for r in regions if r["name"] == "us-east")["decommission"] = [3]

    assert _node_changes(prod_synth, synth(edited(stack_config("prod"), mark_third))) == {}


def test_region_labels_roll_no_node(prod_synth: Document) -> None:
    def label(regions):
        next(r for r in regions if r["name"] == "us-east").setdefault("labels", {})["team"] = "payments"

    changes = _node_changes(prod_synth, synth(edited(stack_config("prod"), label)))
    assert changes  # the node groups' own tags follow the labels...
    assert all(set(f) == {"inputs.tags.team"} for f in changes.values()), changes  # ...no version moves


def test_a_launch_template_change_shows_every_node_group_rolling(prod_synth: Document,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.clouds import aws as eks

    monkeypatch.setattr(eks, "IMDS_HOP_LIMIT", 2)
    head = synth(stack_config("prod"))
    changes = _node_changes(prod_synth, head)
    groups = [r["name"] for r in prod_synth["resources"] if r["type"] == NODE_GROUP]
    assert groups and all("inputs.launchTemplate.version" in changes[g] for g in groups)


def test_pod_identity_without_its_agent_is_refused(prod_synth: Document) -> None:
    def agentless(document: Document) -> None:
        document["resources"].remove(entry(document, "aws:eks/addon:Addon", f"{CLUSTER}-eks-pod-identity-agent"))

    messages = violations(reshaped(prod_synth, agentless), "eks-autoscaled-pools")
    assert messages and all("without the eks-pod-identity-agent add-on" in m for m in messages)


# --- iam-role-name-limits ----------------------------------------------------------------------


def test_role_names_iam_refuses_are_refused(prod_synth: Document) -> None:
    def long_name(document: Document) -> None:
        entry(document, "aws:iam/role:Role", f"{CLUSTER}-cluster-autoscaler")["inputs"]["name"] = "r" * 65

    messages = violations(reshaped(prod_synth, long_name), "iam-role-name-limits")
    assert messages == [f"cluster '{CLUSTER}' (aws:iam/role:Role '{CLUSTER}-cluster-autoscaler'): IAM role name "
                        f"'{'r' * 65}' (65 characters) is refused by IAM (at most 64 of letters, digits and "
                        "_+=,.@-); derive it with fleet.clouds.aws.bounded_name"]
