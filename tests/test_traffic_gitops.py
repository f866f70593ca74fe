"""The data plane of loadBalancing in the fleet repository (gitops/addons/traffic): every policy
folder builds, validates against the upstream CRDs (tests/crds, Apache-2.0), holds the load balancer
fleet.traffic decides, and both engines switch it on for exactly the publishing workload clusters."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from fleet.gitops.identity import static_identity
from fleet.plan import ClusterPlan
from fleet.stack import PROJECT_DIR
from fleet.traffic import ENVOY_LOAD_BALANCER, NOT_ZONE_AWARE, load_balancer, policy_name
from tests.gitops_support import (
    GITOPS,
    KUBECTL,
    example_plans,
    kustomize_build,
    normalise_numbers,
    selector_matches,
    substitute,
)

CRDS = Path(__file__).parent / "crds"
TRAFFIC = GITOPS / "addons" / "traffic"
CRD_FILES = {
    ("gateway.networking.k8s.io", "Gateway"): "gateway.networking.k8s.io_gateways.yaml",
    ("gateway.networking.k8s.io", "GatewayClass"): "gateway.networking.k8s.io_gatewayclasses.yaml",
    ("gateway.envoyproxy.io", "BackendTrafficPolicy"): "gateway.envoyproxy.io_backendtrafficpolicies.yaml",
}
POLICIES = sorted(policy_name(a, z) for a in ENVOY_LOAD_BALANCER for z in (False, True)
                  if not (z and a in NOT_ZONE_AWARE))
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (apt-get install kubectl)")


@cache
def schema(group: str, kind: str, version: str) -> dict:
    crd = yaml.safe_load((CRDS / CRD_FILES[(group, kind)]).read_text())
    return next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)


def validate(body: dict) -> None:
    group, _, version = body["apiVersion"].rpartition("/")
    if group == "":
        kubernetes_validate.validate(normalise_numbers(body), "1.35.0", strict=True)
    else:
        jsonschema.validate(normalise_numbers(body), schema(group, body["kind"], version),
                            cls=jsonschema.Draft7Validator)


@pytest.fixture(scope="module")
def plans() -> dict[str, ClusterPlan]:
    return example_plans()


def test_one_folder_per_accepted_policy() -> None:
    assert sorted(p.name for p in TRAFFIC.iterdir()) == sorted([*POLICIES, "gateway", "none"])


@needs_kubectl
@pytest.mark.parametrize("policy", POLICIES)
def test_policy_folder_builds_validates_and_holds_the_decided_load_balancer(policy: str) -> None:
    objects = kustomize_build(TRAFFIC / policy)
    assert sorted(o["kind"] for o in objects) == ["BackendTrafficPolicy", "Gateway", "GatewayClass", "Namespace"]
    for body in objects:
        validate(body)
    algorithm = policy.removesuffix("-zone-aware")
    (btp,) = [o for o in objects if o["kind"] == "BackendTrafficPolicy"]
    assert btp["spec"]["loadBalancer"] == load_balancer(algorithm, policy.endswith("-zone-aware"))
    gateway = next(o for o in objects if o["kind"] == "Gateway")
    assert btp["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                          "name": gateway["metadata"]["name"]}]
    assert btp["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert {listener["port"] for listener in gateway["spec"]["listeners"]} == {80, 443}


def test_the_crd_refuses_what_fleet_validate_refuses() -> None:
    """ring-hash + zoneAware is a CEL rule of the CRD (not checked by jsonschema, checked by the API
    server after the merge): fleet's rule rests on this upstream text."""
    load_balancer_schema = schema("gateway.envoyproxy.io", "BackendTrafficPolicy", "v1alpha1")[
        "properties"]["spec"]["properties"]["loadBalancer"]
    rules = {r["message"]: r["rule"] for r in load_balancer_schema["x-kubernetes-validations"]}
    rule = rules["PreferLocal zone-aware routing is not supported for ConsistentHash load balancers. "
                 "Use weightedZones instead."]
    assert "ConsistentHash" in rule and "preferLocal" in rule
    assert "preferLocal" in load_balancer("round-robin", True)["zoneAware"]
    assert load_balancer("ring-hash", False)["type"] == "ConsistentHash"


def appset(name: str) -> dict:
    return yaml.safe_load((GITOPS / "addons" / "argocd" / "base" / f"{name}.yaml").read_text())


def publishing(cluster: ClusterPlan) -> bool:
    return cluster.role != "hub" and "TRAFFIC_POLICY" in cluster.identity


@pytest.mark.parametrize("name", ["envoy-gateway", "traffic"])
def test_argocd_selects_exactly_the_publishing_workload_clusters(name: str, plans: dict[str, ClusterPlan]) -> None:
    document = appset(name)
    selector = document["spec"]["generators"][0]["clusters"]["selector"]
    selected = {n for n, c in plans.items() if selector_matches(selector, c.labels)}
    assert selected == {n for n, c in plans.items() if publishing(c)}
    assert selected and selected != set(plans)  # prod publishes, its hub and staging do not
    # mode none removes the layer: Applications delete their resources with them
    assert document["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is False
    assert document["spec"]["template"]["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]


def test_argocd_traffic_path_is_the_clusters_policy_folder(plans: dict[str, ClusterPlan]) -> None:
    path = appset("traffic")["spec"]["template"]["spec"]["source"]["path"]
    assert path.endswith('/addons/traffic/{{index .metadata.labels "traffic-policy"}}')
    for cluster in plans.values():
        if publishing(cluster):
            assert (TRAFFIC / cluster.labels["traffic-policy"] / "kustomization.yaml").is_file()


@needs_kubectl
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_flux_switches_the_same_clusters(environment: str, plans: dict[str, ClusterPlan]) -> None:
    text = yaml.safe_dump_all(kustomize_build(GITOPS / "addons" / "flux" / environment))
    for cluster in (c for c in plans.values() if c.environment == environment):
        resolved = {d["metadata"]["name"]: d for d in yaml.safe_load_all(substitute(text, static_identity(cluster)))}
        policy = resolved["traffic"]["spec"]["path"].rsplit("/", 1)[1]
        gateway = resolved["addon-envoy-gateway"]["spec"]["path"].rsplit("/", 1)[1]
        assert (policy != "none") == (gateway == "true") == publishing(cluster), cluster.name
        assert (PROJECT_DIR / resolved["traffic"]["spec"]["path"] / "kustomization.yaml").is_file()
        assert resolved["traffic"]["spec"]["dependsOn"] == [{"name": "addon-envoy-gateway"}]
