"""Expansion: names, ranges, labels, identity, and every validation category with its message."""

from __future__ import annotations

import ipaddress

from fleet.settings import parse_settings
from tests.helpers import cluster_set, messages, plan_documents, template


def test_expands_hub_and_spokes_with_contract_labels_and_identity():
    plan, problems = plan_documents(
        template(security={"policyEngine": "OPA", "imageScanning": True}, observability={"prometheus": True}),
        cluster_set(regions=[
            {"name": "us-east", "clusters": 2, "template": "base", "provider": "aws"},
            {"name": "eu-west", "clusters": 1, "template": "base", "provider": "azure",
             "labels": {"compliance": "gdpr", "team": "payments"}},
        ]),
    )
    assert problems == []
    assert [c.name for c in plan.clusters] == ["demo-hub", "demo-eu-west-01", "demo-us-east-01", "demo-us-east-02"]
    eu = next(c for c in plan.clusters if c.name == "demo-eu-west-01")
    assert eu.location == "westeurope" and eu.provider == "azure" and eu.hub == "demo-hub"
    assert {k: eu.labels[k] for k in ("purpose", "env", "region", "cloud", "cluster-set", "template")} == {
        "purpose": "workload", "env": "production", "region": "eu-west", "cloud": "azure",
        "cluster-set": "demo", "template": "base"}
    assert eu.labels["compliance"] == "gdpr" and eu.labels["team"] == "payments"
    assert eu.labels["enable_gatekeeper"] == "true" and eu.labels["enable_trivy_operator"] == "true"
    assert "enable_cilium" not in eu.labels  # AKS runs Cilium as its dataplane, not as an add-on
    assert plan.clusters[0].labels["purpose"] == "management"
    assert dict(eu.identity).items() >= {
        "CLUSTER_NAME": "demo-eu-west-01", "REGION": "eu-west", "ENVIRONMENT": "production", "CLOUD": "azure",
        "LOCATION": "westeurope", "CLUSTER_SET": "demo", "COMPLIANCE": "gdpr"}.items()
    us = next(c for c in plan.clusters if c.name == "demo-us-east-01")
    assert "COMPLIANCE" not in us.identity
    assert us.labels["enable_cilium"] == "true"  # on EKS Cilium is an add-on GitOps/fleet installs
    assert us.protect and us.is_production
    assert us.gitops.environment_path == "gitops/clusters/production"
    assert us.gitops.cluster_path == "gitops/clusters/production/demo-us-east-01"


def test_node_pools_get_a_system_pool_and_defaults():
    plan, _ = plan_documents(template(), cluster_set())
    pools = plan.clusters[1].node_pools
    assert [(p.name, p.system) for p in pools] == [("system", True), ("general", False)]
    assert pools[0].taints[-1].key == "CriticalAddonsOnly"


def test_ranges_are_disjoint_and_split_per_cluster():
    plan, _ = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 3, "template": "base"},
        {"name": "eu-west", "clusters": 2, "template": "base", "provider": "gcp"}]))
    blocks = [ipaddress.ip_network(c.network.block) for c in plan.clusters]
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1:])
    net = plan.clusters[1].network
    parts = [ipaddress.ip_network(x) for x in (net.node_cidr, net.service_cidr, net.pod_cidr)]
    assert all(p.subnet_of(ipaddress.ip_network(net.block)) for p in parts)
    assert all(ipaddress.ip_network(s).subnet_of(parts[0]) for s in net.private_subnets + net.public_subnets)
    assert len(net.private_subnets) == len(net.zones) == 3


def test_names_and_ranges_do_not_depend_on_position():
    one, _ = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 2, "template": "base"},
        {"name": "eu-west", "clusters": 1, "template": "base"}]))
    two, _ = plan_documents(template(), cluster_set(regions=[
        {"name": "ap-south", "clusters": 1, "template": "base"},
        {"name": "eu-west", "clusters": 1, "template": "base"},
        {"name": "us-east", "clusters": 2, "template": "base"}]))
    before = {c.name: c.network for c in one.clusters}
    after = {c.name: c.network for c in two.clusters}
    assert all(after[name] == network for name, network in before.items())


def test_explicit_network_override_and_slot_offset():
    plan, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 2, "template": "base"},
        {"name": "us-east-pci", "location": "us-east-1", "clusters": 1, "template": "base",
         "network": {"slotOffset": 2}},
        {"name": "custom", "location": "eu-west-1", "clusters": 2, "template": "base",
         "network": {"cidr": "10.250.0.0/18"}}]))
    assert problems == []
    by_name = {c.name: c.network.block for c in plan.clusters}
    assert by_name["demo-custom-01"] == "10.250.0.0/19" and by_name["demo-custom-02"] == "10.250.32.0/19"
    assert by_name["demo-us-east-pci-01"] == "10.0.64.0/19"


# --- every validation category, with its message -------------------------------------------


def test_unknown_template_for_region_and_hub():
    _, problems = plan_documents(template(), cluster_set(
        regions=[{"name": "us-east", "template": "bse"}],
        hub={"template": "hubby", "provider": "aws", "location": "us-east"}))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.hub.template: unknown template 'hubby'; known templates: base",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].template: unknown template 'bse' "
        "(did you mean 'base'?)",
    ]


def test_unknown_provider_is_named():
    _, problems = plan_documents(template(), cluster_set(regions=[{"name": "x", "template": "base"}]),
                                 settings={"defaultProvider": "awz"})
    assert messages(problems)[-1] == (
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].provider: unknown provider 'awz' "
        "(did you mean 'aws'?); expected 'aws', 'azure' or 'gcp'")


def test_location_not_a_region_of_that_provider():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "template": "base", "provider": "gcp", "location": "us-east-1"}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].location: 'us-east-1' is an aws location "
        "(N. Virginia), not a gcp one; gcp's equivalent is us-east4 (N. Virginia): set location to it, or set "
        "provider: aws"]


def test_region_names_of_another_cloud_get_that_clouds_counterpart():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "de", "template": "base", "provider": "gcp", "location": "germanywestcentral"},
        {"name": "fr", "template": "base", "provider": "aws", "location": "europe-west9"},
        {"name": "pl", "template": "base", "provider": "aws", "location": "polandcentral"}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].location: 'germanywestcentral' is an azure location "
        "(Frankfurt), not a gcp one; gcp's equivalent is europe-west3 (Frankfurt): set location to it, or set "
        "provider: azure",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[1].location: 'europe-west9' is a gcp location (Paris), "
        "not an aws one; aws's equivalent is eu-west-3 (Paris): set location to it, or set provider: gcp",
        # no AWS region in Warsaw: the first in the same jurisdiction (EU)
        "fleets/test.yaml: ClusterSet/demo: spec.regions[2].location: 'polandcentral' is an azure location "
        "(Warsaw), not an aws one; aws's equivalent is eu-west-1 (Dublin): set location to it, or set "
        "provider: azure",
    ]


def test_a_name_of_no_cloud_still_gets_the_closest_of_its_own():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "x", "template": "base", "provider": "gcp", "location": "europe-wset3"}]))
    (line,) = messages(problems)
    assert "'europe-wset3' is not a gcp region (did you mean 'europe-west3'?)" in line


def test_cluster_count_bounds():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 0, "template": "base"},
        {"name": "eu-west", "clusters": 40, "template": "base"}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].clusters: must be at least 1, got 0",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[1].clusters: 40 clusters from slot 0 exceed the 15 "
        "address slots of one location; split the entry into two region entries (the second with "
        "network.slotOffset) or set network.cidr",
    ]


def test_duplicate_region_names():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "template": "base"}, {"name": "us-east", "template": "base"}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[1].name: duplicate region name 'us-east' "
        "(also spec.regions[0])"]


def test_duplicate_cluster_names_across_documents():
    first = cluster_set(hub=None, regions=[{"name": "b-c", "template": "base", "location": "us-east-1"}])
    first["metadata"]["name"] = "a"
    second = cluster_set(hub=None, regions=[{"name": "c", "template": "base", "location": "us-east-1",
                                             "network": {"slotOffset": 1}}])
    second["metadata"]["name"] = "a-b"
    _, problems = plan_documents(template(), first, second)
    assert "cluster name 'a-b-c-01' is produced twice (ClusterSet/a and ClusterSet/a-b)" in \
        "\n".join(messages(problems))


def test_cluster_set_names_are_unique_even_without_a_hub():
    _, problems = plan_documents(template(), cluster_set(hub=None), cluster_set(hub=None))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: metadata.name: duplicate ClusterSet 'demo' (also ClusterSet/demo in "
        "fleets/test.yaml); ClusterSet names must be unique, rename one"]


def test_unsupported_and_malformed_versions():
    old = template(version="1.28.0")
    old["metadata"]["name"] = "old"
    bad = template(version="one.two")
    bad["metadata"]["name"] = "bad"
    _, problems = plan_documents(old, bad, cluster_set(hub=None, regions=[
        {"name": "us-east", "template": "old"}, {"name": "eu-west", "template": "bad"}]))
    lines = messages(problems)
    assert lines[0].startswith("fleets/test.yaml: ClusterTemplate/bad: spec.version: 'one.two' is not a "
                               "Kubernetes version")
    assert lines[1].startswith("fleets/test.yaml: ClusterTemplate/old: spec.version: Kubernetes 1.28 is past end "
                               "of support on aws")
    assert "supported: 1.34, 1.35" in lines[1] and "used by ClusterSet/demo spec.regions[0]" in lines[1]


def test_overlapping_ranges_are_errors_naming_the_fix():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 2, "template": "base"},
        {"name": "us-east-b", "location": "us-east-1", "template": "base"},
        {"name": "manual", "location": "eu-west-1", "template": "base", "network": {"cidr": "10.0.32.0/19"}}]))
    lines = messages(problems)
    assert len(lines) == 2
    assert all("overlaps" in line and "network.slotOffset" in line for line in lines)


def test_names_too_long_for_gke():
    long_set = cluster_set(hub=None, regions=[{"name": "europe-west-primary", "template": "base",
                                               "provider": "gcp", "location": "europe-west1"}])
    long_set["metadata"]["name"] = "a-rather-long-fleet-name"
    _, problems = plan_documents(template(), long_set)
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/a-rather-long-fleet-name: spec.regions[0].name: cluster name "
        "'a-rather-long-fleet-name-europe-west-primary-01' is 47 characters; gcp allows at most 40: shorten the "
        "ClusterSet or region entry name"]


def test_dns_endpoint_only_on_gcp_and_no_open_endpoint_in_production():
    _, problems = plan_documents(
        template(networking={"apiAccess": "dns", "authorizedNetworks": ["0.0.0.0/0"]}), cluster_set(hub=None))
    lines = messages(problems)
    assert any("spec.networking.apiAccess: 'dns' (IAM-authorised DNS endpoint) exists only on gcp" in x
               for x in lines)
    assert any("0.0.0.0/0 opens the API endpoint to the whole internet" in x for x in lines)


def test_missing_cluster_set_and_repository():
    _, problems = plan_documents(template())
    assert messages(problems) == ["<declaration>: no ClusterSet document found in the declaration"]
    no_repo = cluster_set()
    del no_repo["spec"]["repository"]
    _, problems = plan_documents(template(), no_repo)
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.repository: no fleet repository: set spec.repository.url here "
        "or fleet:repository in the stack"]


def test_gcp_needs_a_project_a_letter_first_and_nodes_its_pod_range_serves():
    big = template(nodePools=[{"name": "general", "size": "large", "min": 1, "max": 80}])
    numeric = cluster_set(hub=None, regions=[{"name": "us-east", "template": "base", "provider": "gcp"}])
    numeric["metadata"]["name"] = "1st"
    _, problems = plan_documents(big, numeric, settings={})
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/1st: spec.regions[0].name: GKE cluster names start with a letter; "
        "'1st-us-east-01' does not (rename the ClusterSet)",
        "fleets/test.yaml: ClusterSet/1st: spec.regions[0].provider: gcp clusters need a project: set "
        "fleet:gcpProject (or gcp:project) in the stack",
        "fleets/test.yaml: ClusterTemplate/base: spec.nodePools: node pools may grow to 84 nodes, but a gcp "
        "cluster's pod range serves at most 64; lower the pools' max (used by ClusterSet/1st spec.regions[0])",
    ]


def test_system_pools_are_regular_capacity():
    _, problems = plan_documents(template(nodePools=[{"name": "system", "system": True, "spot": True}]),
                                 cluster_set(hub=None))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterTemplate/base: spec.nodePools[0]: system pool 'system' must run on regular "
        "capacity with min >= 1 (cluster add-ons live there); drop spot or raise min "
        "(used by ClusterSet/demo spec.regions[0])"]


def test_decommission_lifts_protection_of_the_named_clusters_only():
    plan, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 3, "template": "base", "decommission": [3]}]))
    assert problems == []
    protect = {c.name: (c.protect, c.decommissioning, c.tags.get("fleet-decommission")) for c in plan.clusters}
    assert protect["demo-us-east-03"] == (False, True, "true")
    assert protect["demo-us-east-01"] == (True, False, None)
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "clusters": 2, "template": "base", "decommission": [4]}]))
    assert messages(problems) == ["fleets/test.yaml: ClusterSet/demo: spec.regions[0].decommission: cluster "
                                  "number(s) [4] do not exist (this entry has clusters 1..2)"]


def test_region_and_hub_labels_cannot_redefine_contract_labels():
    _, problems = plan_documents(template(), cluster_set(
        hub={"template": "base", "provider": "aws", "location": "us-east", "labels": {"purpose": "x"}},
        regions=[{"name": "us-east", "template": "base", "labels": {"env": "dev", "team": "a", "cloud": "gcp"}}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.hub.labels.purpose: 'purpose' is a label fleet sets on every "
        "cluster (CONTRACTS section 2) and cannot be redefined here; use another key",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].labels.cloud: 'cloud' is a label fleet sets on every "
        "cluster (CONTRACTS section 2) and cannot be redefined here; use another key (the cloud comes from the "
        "entry's provider)",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].labels.env: 'env' is a label fleet sets on every "
        "cluster (CONTRACTS section 2) and cannot be redefined here; use another key (the environment comes from "
        "spec.environment or fleet:environment)",
    ]


def test_cluster_networks_may_not_overlap_the_ci_runner_ranges():
    settings = {"gcpProject": "p", "ciRunnerCidrs": ["10.0.0.0/16", "203.0.113.0/24"]}
    _, problems = plan_documents(template(), cluster_set(hub=None, regions=[
        {"name": "us-east", "clusters": 2, "template": "base"},
        {"name": "eu-west", "template": "base", "network": {"cidr": "10.0.64.0/19"}}]), settings=settings)
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].network: address block 10.0.0.0/19 of cluster "
        "'demo-us-east-01' overlaps the CI runner range 10.0.0.0/16 (fleet:ciRunnerCidrs); give the entry a "
        "network.cidr (or network.slotOffset) outside the runners' range",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[1].network: address block 10.0.64.0/19 of cluster "
        "'demo-eu-west-01' overlaps the CI runner range 10.0.0.0/16 (fleet:ciRunnerCidrs); give the entry a "
        "network.cidr (or network.slotOffset) outside the runners' range",
    ]
    plan, problems = plan_documents(template(), cluster_set(hub=None), settings={**settings, "ciRunnerCidrs":
                                                                                 ["203.0.113.0/24"]})
    assert problems == [] and len(plan.clusters) == 2


def test_addresses_that_make_no_sense_are_refused():
    _, problems = plan_documents(template(), cluster_set(regions=[
        {"name": "us-east", "template": "base", "network": {"cidr": "0.0.0.0/0"}},
        {"name": "eu-west", "template": "base", "network": {"cidr": "8.8.0.0/16"}}]))
    assert messages(problems) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].network.cidr: 0.0.0.0/0 is the default route (every "
        "address), not an address block; use a private range such as 10.20.0.0/16",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[1].network.cidr: 8.8.0.0/16 is not a private range; use "
        "one inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10",
    ]
    _, problems = parse_settings({"ciRunnerCidrs": ["0.0.0.0/0"]}, "Pulumi.test.yaml")
    assert messages(problems) == [
        "Pulumi.test.yaml: config.fleet:ciRunnerCidrs[0]: 0.0.0.0/0 is the default route: it would open every "
        "cluster's API endpoint to the whole internet; list the runners' egress ranges"]


def test_counts_are_numbers_not_booleans_or_text():
    _, problems = plan_documents(template(nodePools=[{"name": "a", "min": True, "max": "3"}]), cluster_set(
        regions=[{"name": "us-east", "template": "base", "clusters": True, "network": {"slotOffset": 1.0}}]))
    assert sorted(messages(problems)) == [
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].clusters: Input should be a valid integer, got true",
        "fleets/test.yaml: ClusterSet/demo: spec.regions[0].network.slotOffset: Input should be a valid integer, "
        "got 1.0",
        "fleets/test.yaml: ClusterTemplate/base: spec.nodePools[0].max: Input should be a valid integer, got '3'",
        "fleets/test.yaml: ClusterTemplate/base: spec.nodePools[0].min: Input should be a valid integer, got true",
    ]
