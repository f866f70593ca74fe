"""Changing loadBalancing changes exactly what it should, on the real program under the mock engine:
a reduced prod stack (one cluster per cloud, two on AWS) synthesised once as the base and once per
change, compared with `fleet diff`'s own diff_synth. Also: what the synth holds per cloud (records'
owners, health checks, keyless identities) validates against the SDK and the chart's schema."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from fleet import rules
from fleet.recorded import Stack
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR, StackConfig
from fleet.synth.diff import Change, diff_synth, render_text
from tests.gitops_support import normalise_numbers
from tests.test_zero_touch import stack_config, synth

Spec = dict[str, Any]
CRDS = Path(__file__).parent / "crds"
DNS_TYPES = ("aws:route53/", "aws:iam/", "aws:eks/podIdentityAssociation", "fleet:traffic:")
RELEASE = "kubernetes:helm.sh/v3:Release"
SPOKES = ("production-fleet-us-east-01", "production-fleet-us-east-02", "production-fleet-eu-west-01",
          "production-fleet-us-central-01")


def reduced(edit: Callable[[Spec], None] | None = None) -> StackConfig:
    """The prod stack with fewer clusters (us-east 2, eu-west 1, us-central 1), then `edit` on its ClusterSet spec."""
    config = stack_config("prod")
    values = copy.deepcopy(dict(config.values))
    spec = next(d for d in values["fleet:documents"] if d.get("kind") == "ClusterSet")["spec"]
    for entry, count in zip(spec["regions"], (2, 1, 1), strict=True):
        entry["clusters"] = count
    if edit:
        edit(spec)
    return StackConfig(config.stack, config.source, values, config.secret_keys)


def lb(**fields: Any) -> Callable[[Spec], None]:
    return lambda spec: spec["loadBalancing"].update(fields)


def weight_of_us_east_02(spec: Spec) -> None:
    spec["regions"][0]["clusterWeights"] = {2: 0}


CHANGES: dict[str, Callable[[Spec], None]] = {
    "algorithm": lb(algorithm="least-request"),
    "weight": weight_of_us_east_02,
    "regional": lb(mode="regional"),
    "none": lambda spec: spec.update(loadBalancing={"mode": "none"}),
    "decommission-one": lambda spec: spec["regions"][0].update(decommission=[2]),
    "decommission-entry": lambda spec: spec["regions"][1].update(decommission=True),
}


@pytest.fixture(scope="module")
def base() -> dict:
    return synth(reduced())


@pytest.fixture(scope="module")
def heads() -> dict[str, dict]:
    return {name: synth(reduced(edit)) for name, edit in CHANGES.items()}


def is_dns(change: Change) -> bool:
    return change.type.startswith(DNS_TYPES) or (change.type == RELEASE and "-external-dns" in change.name)


def by_type(document: dict, prefix: str) -> list[dict]:
    return [r for r in document["resources"] if r["type"].startswith(prefix)]


# --- what the canonical global entry point is made of ----------------------------------------


def test_every_workload_cluster_has_a_record_owner_a_health_check_and_weighted_records(base: dict) -> None:
    checks = {r["name"]: r["inputs"] for r in by_type(base, "aws:route53/healthCheck")}
    records = [r["inputs"] for r in by_type(base, "aws:route53/record")]
    for spoke in SPOKES:
        record = f"{spoke}.apps.prod.acme.example"
        check = checks[f"{spoke}-entry"]
        assert (check["type"], check["fqdn"], check["port"]) == ("TCP", record, 443)
        weighted = [r for r in records if r.get("setIdentifier") == spoke]
        assert sorted(r["name"] for r in weighted) == sorted(
            [f"{spoke.split('-fleet-')[1][:-3]}.apps.prod.acme.example",
             f"*.{spoke.split('-fleet-')[1][:-3]}.apps.prod.acme.example"])
        assert all(r["records"] == [record] and r["weightedRoutingPolicies"] == [{"weight": 100}] for r in weighted)
        assert all(r["healthCheckId"].startswith(f"{spoke}-entry") for r in weighted)
        values = next(r["inputs"]["values"] for r in by_type(base, RELEASE) if r["name"] == f"{spoke}-external-dns")
        assert values["txtOwnerId"] == spoke and values["domainFilters"] == [record]
        assert values["extraArgs"]["fqdn-template"] == record
    latency = [r for r in records if "latencyRoutingPolicies" in r]
    assert sorted((r["name"], r["setIdentifier"], r["latencyRoutingPolicies"][0]["region"]) for r in latency) == sorted(
        (name, region, aws) for name in ("apps.prod.acme.example", "*.apps.prod.acme.example")
        for region, aws in (("us-east", "us-east-1"), ("eu-west", "eu-west-1"), ("us-central", "us-east-2")))
    # each entry's latency record inherits the health of its weighted records (an alias evaluating target health)
    for record in latency:
        (alias,) = record["aliases"]
        assert alias == {"name": f"{record['setIdentifier']}.apps.prod.acme.example", "zoneId": "Z0123456789ABCDEFGHIJ",
                         "evaluateTargetHealth": True}
    assert {c["type"] for c in checks.values()} == {"TCP"}


def test_keyless_identity_per_cloud(base: dict) -> None:
    """EKS: Pod Identity; AKS and GKE: an IAM OIDC provider for the cluster's own issuer and a role
    trusting its external-dns service account. No access key anywhere."""
    associations = {r["inputs"]["serviceAccount"]: r for r in by_type(base, "aws:eks/podIdentityAssociation")
                    if r["name"].endswith("-external-dns")}
    assert len([r for r in by_type(base, "aws:eks/podIdentityAssociation") if r["name"].endswith("-external-dns")]) == 2
    assert set(associations) == {"external-dns"}
    providers = {r["name"]: r["inputs"] for r in by_type(base, "aws:iam/openIdConnectProvider")
                 if r["name"].endswith("-external-dns")}
    assert set(providers) == {"production-fleet-eu-west-01-external-dns", "production-fleet-us-central-01-external-dns"}
    assert providers["production-fleet-us-central-01-external-dns"]["url"].startswith(
        "https://container.googleapis.com/v1/projects/acme-fleet-prod/")
    assert all(p["clientIdLists"] == ["sts.amazonaws.com"] for p in providers.values())
    releases = {r["name"]: r["inputs"]["values"] for r in by_type(base, RELEASE) if r["name"].endswith("-external-dns")}
    for name, values in releases.items():
        env = {e["name"]: e["value"] for e in values["env"]}
        web_identity = "us-east" not in name
        assert ("AWS_ROLE_ARN" in env) == web_identity, name
        assert not any("SECRET" in k or "ACCESS_KEY" in k for k in env)
        if web_identity:
            (volume,) = values["extraVolumes"]
            assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "sts.amazonaws.com"


def test_external_dns_values_validate_against_the_chart_schema(base: dict) -> None:
    schema = json.loads((CRDS / "external-dns-1.21.1.values.schema.json").read_text())
    releases = [r for r in by_type(base, RELEASE) if r["name"].endswith("-external-dns")]
    assert len(releases) == len(SPOKES)
    for release in releases:
        values = json.loads(json.dumps(release["inputs"]["values"]).replace(".0,", ",").replace(".0}", "}"))
        jsonschema.validate(values, schema, cls=jsonschema.Draft7Validator)
        assert set(values) <= set(schema["properties"]), set(values) - set(schema["properties"])


def test_each_cluster_deletes_its_own_records_before_its_external_dns_goes(base: dict) -> None:
    """The cleanup release's pre-delete hook runs external-dns once with no source, as the same
    identity and owner; it depends on external-dns, so Pulumi uninstalls it (running the hook) first."""
    releases = {r["name"]: r for r in by_type(base, RELEASE)}
    for spoke in SPOKES:
        cleanup, external_dns = releases[f"{spoke}-external-dns-cleanup"], releases[f"{spoke}-external-dns"]
        assert external_dns["urn"] in cleanup["dependencies"]
        assert (PROJECT_DIR / cleanup["inputs"]["chart"] / "Chart.yaml").is_file()
        job = cleanup["inputs"]["values"]["job"]
        kubernetes_validate.validate(normalise_numbers(job), "1.35.0", strict=True)
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
        (container,) = job["spec"]["template"]["spec"]["containers"]
        record = f"{spoke}.apps.prod.acme.example"
        assert {"--once", "--source=empty", "--policy=sync", f"--txt-owner-id={spoke}",
                f"--domain-filter={record}", "--zone-id-filter=Z0123456789ABCDEFGHIJ"} <= set(container["args"])
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "external-dns"
        assert container["env"] == external_dns["inputs"]["values"]["env"]
    template = (PROJECT_DIR / "fleet/gitops/charts/external-dns-cleanup/templates/cleanup-job.yaml").read_text()
    assert "{{ toYaml .Values.job }}" in template


# --- each change changes exactly what it should ----------------------------------------------


def test_changing_a_weight_changes_only_that_clusters_weighted_records(base: dict, heads: dict) -> None:
    diff = diff_synth(base, heads["weight"])
    assert sorted((c.action, c.name, c.fields) for c in diff.changes) == [
        ("change", "production-fleet-us-east-02-weighted", ("inputs.weightedRoutingPolicies[0].weight",)),
        ("change", "production-fleet-us-east-02-weighted-wildcard", ("inputs.weightedRoutingPolicies[0].weight",)),
    ], render_text(diff)


def test_changing_the_algorithm_changes_only_the_clusters_policy_label_and_identity(base: dict, heads: dict) -> None:
    """Per spoke: its identity ConfigMap and Flux's copy of it (TRAFFIC_POLICY) and its registration
    on the (Argo CD) hub (the traffic-policy label); no DNS resource."""
    diff = diff_synth(base, heads["algorithm"])
    expected = sorted(
        [("kubernetes:core/v1:ConfigMap", f"{s}-cluster-identity", ("inputs.data.TRAFFIC_POLICY",)) for s in SPOKES]
        + [("kubernetes:core/v1:ConfigMap", f"{s}-flux-cluster-identity", ("inputs.data.TRAFFIC_POLICY",))
           for s in SPOKES]  # every spoke runs Flux (production-blueprint)
        + [("kubernetes:core/v1:Secret", f"{s}-hub-registration", ("inputs.metadata.labels.traffic-policy",))
           for s in SPOKES])
    assert {c.action for c in diff.changes} == {"change"}, render_text(diff)
    assert sorted((c.type, c.name, c.fields) for c in diff.changes) == expected, render_text(diff)


def test_regional_mode_removes_only_the_latency_layer(base: dict, heads: dict) -> None:
    diff = diff_synth(base, heads["regional"])
    assert {c.action for c in diff.changes} == {"delete"}, render_text(diff)
    deleted = Counter(c.type for c in diff.changes)
    assert deleted == {"aws:route53/record:Record": 6}
    assert all(c.name.endswith(("-latency", "-latency-wildcard")) for c in diff.changes)


def test_mode_none_removes_everything_traffic_created_and_nothing_else(base: dict, heads: dict) -> None:
    diff = diff_synth(base, heads["none"])
    deleted = [c for c in diff.changes if c.action == "delete"]
    assert {c.type for c in deleted if not is_dns(c)} == set(), render_text(diff)
    created_by_traffic = [r for r in base["resources"] if is_dns(Change("x", r["urn"], r["type"], r["name"]))
                          and (r["type"].startswith(("aws:route53/", "fleet:traffic:")) or "external-dns" in r["name"])]
    assert sorted(c.urn for c in deleted) == sorted(r["urn"] for r in created_by_traffic)
    assert not [c for c in diff.changes if c.action in ("add", "replace")]
    changed = [c for c in diff.changes if c.action == "change"]  # labels and identity lose the traffic policy
    assert changed and not [c for c in changed if is_dns(c)]
    assert not by_type(heads["none"], "aws:route53/")


def test_decommission_step_drains_the_leaving_cluster_in_the_same_change(base: dict, heads: dict) -> None:
    """README "Decommission a cluster", step 2: weight 0 next to the lifted protection; nothing deleted."""
    diff = diff_synth(base, heads["decommission-one"])
    assert not [c for c in diff.changes if c.action != "change"], render_text(diff)
    dns = sorted((c.name, c.fields) for c in diff.changes if c.type.startswith("aws:route53/"))
    assert dns == [("production-fleet-us-east-02-weighted", ("inputs.weightedRoutingPolicies[0].weight",)),
                   ("production-fleet-us-east-02-weighted-wildcard", ("inputs.weightedRoutingPolicies[0].weight",))]
    weights = {r["name"]: r["inputs"]["weightedRoutingPolicies"][0]["weight"]
               for r in by_type(heads["decommission-one"], "aws:route53/record")
               if "weightedRoutingPolicies" in r["inputs"]}
    assert weights["production-fleet-us-east-02-weighted"] == 0
    assert weights["production-fleet-us-east-01-weighted"] == 100
    assert all(c.name.startswith("production-fleet-us-east-02") for c in diff.changes), render_text(diff)


def test_decommissioning_a_whole_entry_removes_only_its_dns_records(base: dict, heads: dict) -> None:
    """Every cluster of eu-west leaving: its records leave the entry point (an all-zero weighted group
    would still be answered); no cluster resource is deleted."""
    diff = diff_synth(base, heads["decommission-entry"])
    deleted = sorted(c.name for c in diff.changes if c.action == "delete" and c.type.startswith("aws:route53/"))
    # besides the AKS protection assignment that step 2 always lifts (README: "the AKS lock removed")
    assert [c.name for c in diff.changes if c.action == "delete" and not c.type.startswith("aws:route53/")] == [
        "production-fleet-eu-west-01-protect"]
    assert deleted == ["production-fleet-eu-west-01-weighted", "production-fleet-eu-west-01-weighted-wildcard",
                       "production-fleet-eu-west-latency", "production-fleet-eu-west-latency-wildcard"]
    assert not [c for c in diff.changes if c.action in ("add", "replace")]


# --- what Route 53 and external-dns enforce, held offline (fleet/behaviour/traffic.py) --------

RULE_IDS = ("route53-routing-follows-health", "route53-record-groups-consistent", "external-dns-own-records-only",
            "external-dns-records-cleaned-up")


def broken(document: dict, name: str, change: Callable[[dict], None], type_: str = "") -> Stack:
    document = copy.deepcopy(document)
    change(next(r for r in document["resources"] if r["name"] == name and r["type"].startswith(type_))["inputs"])
    return Stack.from_synth(document)


def rule_messages(rule_id: str, stack: Stack) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == rule_id)
    return [m for resource in stack for m in rule.check(resource, stack)]


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_the_traffic_rules_hold_on_the_synth(rule_id: str, base: dict) -> None:
    assert rule_messages(rule_id, Stack.from_synth(base)) == []


def test_a_weighted_record_without_its_health_check_fails(base: dict) -> None:
    stack = broken(base, "production-fleet-us-east-01-weighted", lambda inputs: inputs.pop("healthCheckId"))
    assert rule_messages("route53-routing-follows-health", stack) == [
        "record us-east.apps.prod.acme.example (production-fleet-us-east-01-weighted): weighted routing without a "
        "health check (or an alias evaluating its target's health): Route 53 answers with it while its target is "
        "down; attach the cluster's health check"]
    stack = broken(base, "production-fleet-us-east-latency",
                   lambda inputs: inputs["aliases"][0].update(evaluateTargetHealth=False))
    assert len(rule_messages("route53-routing-follows-health", stack)) == 1


def test_mixed_policies_and_doubled_set_identifiers_fail(base: dict) -> None:
    def latency(inputs: dict) -> None:
        inputs.pop("weightedRoutingPolicies")
        inputs["latencyRoutingPolicies"] = [{"region": "us-east-1"}]
    messages = rule_messages("route53-record-groups-consistent",
                             broken(base, "production-fleet-us-east-01-weighted", latency))
    assert messages and all("routing policies latency, weighted on one name and type" in m for m in messages)
    doubled = broken(base, "production-fleet-us-east-02-weighted",
                     lambda inputs: inputs.update(setIdentifier="production-fleet-us-east-01"))
    assert any("set identifier 'production-fleet-us-east-01' is used twice" in m
               for m in rule_messages("route53-record-groups-consistent", doubled))


def test_external_dns_reaching_beyond_its_record_fails(base: dict) -> None:
    wide = broken(base, "production-fleet-eu-west-01-external-dns",
                  lambda inputs: inputs["values"].update(domainFilters=["apps.prod.acme.example"]), RELEASE)
    assert any("domain filter exactly its own record" in m
               for m in rule_messages("external-dns-own-records-only", wide))

    def whole_zone(inputs: dict) -> None:
        policy = json.loads(inputs["policy"])
        policy["Statement"][0].pop("Condition")
        inputs["policy"] = json.dumps(policy)
    zone = broken(base, "production-fleet-eu-west-01-external-dns", whole_zone, "aws:iam/rolePolicy")
    assert any("may change the whole zone" in m for m in rule_messages("external-dns-own-records-only", zone))


def test_external_dns_without_its_cleanup_fails(base: dict) -> None:
    document = copy.deepcopy(base)
    cleanup = "production-fleet-us-east-01-external-dns-cleanup"
    document["resources"] = [r for r in document["resources"] if r["name"] != cleanup]
    assert rule_messages("external-dns-records-cleaned-up", Stack.from_synth(document)) == [
        "external-dns production-fleet-us-east-01-external-dns: no cleanup release depending on it with a pre-delete "
        "hook; its records would outlive it (fleet.gitops.traffic.cleanup_job)"]
