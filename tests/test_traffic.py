"""loadBalancing becomes traffic (issue #16): the plan's decisions, what `fleet validate` refuses,
and the identities and policies each cloud's clusters get. The synthesised changes are in
tests/test_traffic_synth.py; the fleet repository's gateway layer in tests/test_traffic_gitops.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.cli import main
from fleet.clouds.dns_route53 import pod_identity_trust, record_policy, role_name, web_identity_trust
from fleet.stack import PROJECT_DIR, plan_stack, read_stack_file
from fleet.traffic import ENVOY_LOAD_BALANCER, load_balancer, policy_name
from tests.helpers import cluster_set, messages, plan_documents, template

TRAFFIC = {"zone": "acme.example", "zoneId": "Z0123456789ABCDEFGHIJ", "hostname": "apps"}
SETTINGS = {"gcpProject": "test-project", "traffic": TRAFFIC}
REGIONS = [
    {"name": "us-east", "clusters": 2, "template": "base", "provider": "aws"},
    {"name": "eu-west", "clusters": 1, "template": "base", "provider": "azure"},
    {"name": "us-central", "clusters": 1, "template": "base", "provider": "gcp"},
]


def published(regions: list[dict[str, Any]] | None = None, settings: dict | None = None, **load_balancing: Any):
    lb = {"mode": "global", "algorithm": "weighted-least-request", **load_balancing}
    return plan_documents(template(), cluster_set(regions or REGIONS, loadBalancing=lb),
                          settings=SETTINGS if settings is None else settings)


def one_problem(problems) -> str:
    lines = messages(problems)
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    return lines[0]


# --- the plan --------------------------------------------------------------------------------


def test_the_prod_stack_publishes_a_global_entry_point_with_the_algorithm_on_every_workload_cluster() -> None:
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    result = plan_stack(config, PROJECT_DIR)
    assert not result.problems
    (entry,) = result.plan.traffic
    assert (entry.mode, entry.algorithm, entry.entry) == ("global", "weighted-least-request", "apps.prod.acme.example")
    assert entry.hostnames() == ["apps.prod.acme.example", "*.apps.prod.acme.example"]
    spokes = [c for c in result.plan.clusters if not c.is_hub]
    assert sorted(c.cluster for c in entry.clusters) == sorted(c.name for c in spokes)
    assert {c.weight for c in entry.clusters} == {100}
    for cluster in spokes:
        assert cluster.labels["enable_envoy_gateway"] == "true"
        assert cluster.labels["traffic-policy"] == cluster.identity["TRAFFIC_POLICY"] == "weighted-least-request"
    hub = result.plan.hubs[0]
    assert "traffic-policy" not in hub.labels and "TRAFFIC_POLICY" not in hub.identity
    # latency is measured to the AWS region of each entry (an Azure/GCP location's AWS twin)
    assert {r.region: r.latency_region for r in entry.regions} == {
        "us-east": "us-east-1", "eu-west": "eu-west-1", "us-central": "us-east-2"}


def test_mode_none_is_the_default_and_publishes_nothing() -> None:
    plan, problems = plan_documents(template(), cluster_set(REGIONS), settings=SETTINGS)
    assert not problems
    assert plan.traffic == ()
    assert all("traffic-policy" not in c.labels and "enable_envoy_gateway" not in c.labels for c in plan.clusters)


def test_regional_mode_names_one_hostname_per_region_entry() -> None:
    plan, problems = published(mode="regional")
    assert not problems
    assert plan.traffic[0].hostnames() == [
        "us-east.apps.acme.example", "*.us-east.apps.acme.example",
        "eu-west.apps.acme.example", "*.eu-west.apps.acme.example",
        "us-central.apps.acme.example", "*.us-central.apps.acme.example"]


def test_weights_per_entry_and_per_cluster_and_zero_drains() -> None:
    regions = [{**REGIONS[0], "weight": 50, "clusterWeights": {2: 0}}, {**REGIONS[1], "weight": 0}, REGIONS[2]]
    plan, problems = published(regions)
    assert not problems
    weights = {c.cluster: c.weight for c in plan.traffic[0].clusters}
    assert weights == {"demo-us-east-01": 50, "demo-us-east-02": 0, "demo-eu-west-01": 0, "demo-us-central-01": 100}
    # an entry whose clusters all weigh 0 leaves the entry point (Route 53 would answer an all-zero group evenly)
    assert [r.region for r in plan.traffic[0].published] == ["us-east", "us-central"]


def test_decommissioning_sets_the_leaving_clusters_weight_to_zero() -> None:
    regions = [{**REGIONS[0], "decommission": [2]}, REGIONS[1], REGIONS[2]]
    plan, problems = published(regions)
    assert not problems
    weights = {c.cluster: c.weight for c in plan.traffic[0].clusters}
    assert weights["demo-us-east-02"] == 0 and weights["demo-us-east-01"] == 100
    leaving = next(c for c in plan.clusters if c.name == "demo-us-east-02")
    assert leaving.decommissioning and not leaving.protect


@pytest.mark.parametrize("algorithm", sorted(ENVOY_LOAD_BALANCER))
@pytest.mark.parametrize("zone_aware", [False, True])
def test_every_accepted_algorithm_has_its_policy_folder(algorithm: str, zone_aware: bool) -> None:
    plan, problems = published(algorithm=algorithm, zoneAware=zone_aware)
    if algorithm == "ring-hash" and zone_aware:
        assert problems
        return
    assert not problems
    name = policy_name(algorithm, zone_aware)
    assert {c.labels.get("traffic-policy") for c in plan.clusters if not c.is_hub} == {name}
    assert (PROJECT_DIR / "gitops" / "addons" / "traffic" / name / "kustomization.yaml").is_file()
    assert load_balancer(algorithm, zone_aware)["type"] == ENVOY_LOAD_BALANCER[algorithm]


# --- refused, one line each ------------------------------------------------------------------


def test_ring_hash_cannot_be_zone_aware() -> None:
    _, problems = published(algorithm="ring-hash", zoneAware=True)
    assert one_problem(problems) == (
        "fleets/test.yaml: ClusterSet/demo: spec.loadBalancing.zoneAware: 'ring-hash' cannot be zone-aware (Envoy "
        "Gateway refuses preferLocal zone-aware routing on ConsistentHash); drop zoneAware or choose round-robin, "
        "least-request, weighted-least-request or random")


def test_publishing_needs_the_zone_setting() -> None:
    _, problems = published(settings={"gcpProject": "test-project"})
    assert "spec.loadBalancing.mode: 'global' publishes the set's services in DNS, but the stack has no " \
           "fleet:traffic" in one_problem(problems)


@pytest.mark.parametrize(("spec", "region", "path"), [
    ({"algorithm": "random"}, {}, "spec.loadBalancing.algorithm"),
    ({"zoneAware": True}, {}, "spec.loadBalancing.zoneAware"),
    ({}, {"weight": 10}, "spec.regions[0].weight"),
    ({}, {"clusterWeights": {1: 0}}, "spec.regions[0].clusterWeights"),
])
def test_traffic_fields_are_refused_when_nothing_is_published(spec: dict, region: dict, path: str) -> None:
    regions = [{**REGIONS[0], **region}, *REGIONS[1:]]
    _, problems = plan_documents(template(), cluster_set(regions, loadBalancing={"mode": "none", **spec}),
                                 settings=SETTINGS)
    assert f"{path}: has no effect with" in one_problem(problems)


def test_weights_of_clusters_that_do_not_exist_are_refused() -> None:
    _, problems = published([{**REGIONS[0], "clusterWeights": {3: 0}}, *REGIONS[1:]])
    assert one_problem(problems).endswith(
        "spec.regions[0].clusterWeights: cluster number(s) [3] do not exist (this entry has clusters 1..2)")


def test_weights_outside_route53_range_are_refused() -> None:
    _, problems = published([{**REGIONS[0], "weight": 256}, *REGIONS[1:]])
    assert "spec.regions[0].weight" in one_problem(problems)


def test_a_global_entry_point_with_every_weight_zero_is_refused() -> None:
    _, problems = published([{**r, "weight": 0} for r in REGIONS])
    assert "every region entry's clusters have weight 0" in one_problem(problems)


def test_one_publishing_set_per_stack() -> None:
    second = cluster_set([{"name": "eu-west", "clusters": 1, "template": "base", "provider": "azure"}],
                         loadBalancing={"mode": "regional"}, hub=None)
    second["metadata"]["name"] = "other"
    _, problems = plan_documents(template(), cluster_set(REGIONS, loadBalancing={"mode": "global"}), second,
                                 settings=SETTINGS)
    assert "already publishes apps.acme.example" in one_problem(problems)


def test_names_too_long_for_the_txt_registry_are_refused() -> None:
    long_set = cluster_set([{"name": "us-east-" + "x" * 30, "clusters": 1, "template": "base", "provider": "aws",
                             "location": "us-east-1"}], loadBalancing={"mode": "global"})
    long_set["metadata"]["name"] = "a-rather-long-cluster-set-name"
    _, problems = plan_documents(template(), long_set, settings=SETTINGS)
    assert "exceeds DNS limits (63 characters a label" in one_problem(problems)


def test_fleet_validate_prints_the_refusal_as_one_line(tmp_path, capsys) -> None:
    declaration = tmp_path / "fleet.yaml"
    declaration.write_text((PROJECT_DIR / "blueprints" / "production.yaml").read_text() + "\n---\n" + json.dumps(
        cluster_set([{"name": "us-east", "clusters": 1, "template": "production-blueprint", "provider": "aws"}],
                    loadBalancing={"mode": "global", "algorithm": "ring-hash", "zoneAware": True},
                    hub={"template": "management-blueprint", "provider": "aws", "location": "us-east"})))
    assert main(["validate", "--stack", "prod", "-f", str(declaration)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{declaration}: ClusterSet/demo: spec.loadBalancing.zoneAware: 'ring-hash' cannot be zone-aware "
                   "(Envoy Gateway refuses preferLocal zone-aware routing on ConsistentHash); drop zoneAware or "
                   "choose round-robin, least-request, weighted-least-request or random", "1 problem(s) found"]


# --- ownership and keyless identity ----------------------------------------------------------


def test_a_cluster_may_change_only_its_own_record_and_ownership_records() -> None:
    plan, _ = published()
    cluster = next(c for c in plan.traffic[0].clusters if c.cluster == "demo-eu-west-01")
    assert cluster.owner_id == "demo-eu-west-01"
    assert cluster.writable_names == ("demo-eu-west-01.apps.acme.example", "a-demo-eu-west-01.apps.acme.example",
                                      "aaaa-demo-eu-west-01.apps.acme.example",
                                      "cname-demo-eu-west-01.apps.acme.example")
    policy = json.loads(record_policy("Z0123456789ABCDEFGHIJ", cluster.writable_names))
    change = next(s for s in policy["Statement"] if s["Action"] == "route53:ChangeResourceRecordSets")
    assert change["Resource"] == "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    names = change["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert sorted(names) == sorted(cluster.writable_names)
    assert not any("*" in n or "demo-us-east" in n for n in names)
    assert all(s["Resource"] != "*" for s in policy["Statement"] if s["Action"] != "route53:ListHostedZones")


def test_web_identity_trusts_exactly_the_external_dns_service_account() -> None:
    issuer = "https://westeurope.oic.prod-aks.azure.com/tenant/cluster-id/"
    trust = json.loads(web_identity_trust("arn:aws:iam::123456789012:oidc-provider/x", issuer))
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        "westeurope.oic.prod-aks.azure.com/tenant/cluster-id/:sub": "system:serviceaccount:external-dns:external-dns",
        "westeurope.oic.prod-aks.azure.com/tenant/cluster-id/:aud": "sts.amazonaws.com"}}


def test_pod_identity_trusts_only_this_cluster_and_service_account() -> None:
    (statement,) = json.loads(pod_identity_trust("demo-us-east-01"))["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "demo-us-east-01",
        "aws:RequestTag/kubernetes-namespace": "external-dns",
        "aws:RequestTag/kubernetes-service-account": "external-dns"}


def test_role_names_fit_iam() -> None:
    assert len(role_name("x" * 100)) == 64 and role_name("x" * 100).endswith("-external-dns")


def test_fleet_plan_shows_each_clusters_entry_point_and_weight(capsys) -> None:
    assert main(["plan", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert "  traffic: global apps.prod.acme.example · weight 100\n" in out
    assert out.count("  traffic: ") == 6  # every workload cluster, not the hub


@pytest.mark.parametrize(("weights", "message"), [
    ({"a": 0}, "clusterWeights: 'a' is not a cluster number (1 for <set>-<region>-01)"),
    ({1: -1}, "clusterWeights: the weight of cluster 1 is -1; write a whole number 0..255 (0 drains it)"),
    ({1: True}, "clusterWeights: the weight of cluster 1 is true; write a whole number 0..255 (0 drains it)"),
    ([0], "clusterWeights: expected a map of cluster number to weight, e.g. {3: 0} (drains <set>-<region>-03)"),
])
def test_malformed_cluster_weights_get_one_line_saying_what_to_write(weights: Any, message: str) -> None:
    _, problems = published([{**REGIONS[0], "clusterWeights": weights}, *REGIONS[1:]])
    assert one_problem(problems).endswith(f"spec.regions[0].{message}")


def test_cluster_numbers_written_as_text_are_accepted() -> None:
    """Pulumi passes a stack file's map keys to the program as text."""
    plan, problems = published([{**REGIONS[0], "clusterWeights": {"2": 0}}, *REGIONS[1:]])
    assert not problems
    assert {c.cluster: c.weight for c in plan.traffic[0].clusters}["demo-us-east-02"] == 0
