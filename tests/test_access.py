"""Hub -> spoke access (issue #12): reachability per pair and apiAccess, refusals, the Connect
Gateway path for every hub, the rules that keep registrations keyless, and the migration away from
the `fleet-hub` token path. The 18 hub x spoke x engine registrations themselves are checked in
tests/test_gitops_registration.py on one multi-hub synth.
"""

from __future__ import annotations

import copy
import json
from itertools import product
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fleet import access, rules
from fleet.cli import main
from fleet.clouds.gcp import GOOGLE_TRUST_SERVICES_ROOTS
from fleet.gitops import hub
from fleet.recorded import Stack
from fleet.spec.versions import AS_OF
from fleet.synth.diff import diff_synth
from tests.gitops_support import (
    has_crd,
    is_core,
    kubernetes_objects,
    normalise_numbers,
    synth_both_ways,
    validate_custom,
)
from tests.helpers import cluster_set, plan_documents, template
from tests.test_gitops_schemas import KUBERNETES_VERSION, unredacted_shape

CLOUDS = access.CLOUDS
MODES = ("authorized", "private", "dns")
ENGINES = ("argocd", "flux")
TOKEN_PATH = Path(__file__).parent / "data" / "access" / "token-path.json"


# --- the decision, pure --------------------------------------------------------------------------


@pytest.mark.parametrize(("hub_cloud", "spoke_cloud", "mode"), list(product(CLOUDS, CLOUDS, MODES)))
def test_every_pair_and_mode_has_a_path_or_a_reason(hub_cloud: str, spoke_cloud: str, mode: str) -> None:
    found = access.route(hub_cloud, spoke_cloud, mode)
    reachable = mode == "authorized" or spoke_cloud == "gcp"
    assert (found is not None) == reachable
    if found is None:
        return
    assert found.credential == ("native" if hub_cloud == spoke_cloud else "federated")
    assert found.address == ("gateway" if spoke_cloud == "gcp" and mode != "authorized" else "endpoint")
    for engine in ENGINES:
        assert access.describe(hub_cloud, spoke_cloud, mode, engine) != "refused"


def test_refusal_is_one_line_naming_spoke_mode_hub_and_the_fix() -> None:
    message = access.refusal("s-eu-west-01", "azure", "private", "s-hub", "gcp", "flux")
    assert message is not None and "\n" not in message
    for part in ("'s-eu-west-01'", "azure, apiAccess: private", "'s-hub'", "gcp, flux", "use apiAccess: authorized"):
        assert part in message
    assert access.refusal("s-us-central-01", "gcp", "private", "s-hub", "aws", "flux") is None


def test_controller_subjects_are_the_controllers_that_deploy() -> None:
    assert access.controller_subjects("argocd") == ["system:serviceaccount:argocd:argocd-application-controller"]
    assert access.controller_subjects("flux") == ["system:serviceaccount:flux-system:kustomize-controller"]


def test_gcp_credential_configuration_is_an_external_account_without_a_key() -> None:
    text = access.gcp_credential_configuration("42", "pool", "hub-oidc", "sa@p.iam.gserviceaccount.com")
    document = json.loads(text)
    assert document["type"] == "external_account"
    assert document["audience"] == ("//iam.googleapis.com/projects/42/locations/global/"
                                    "workloadIdentityPools/pool/providers/hub-oidc")
    assert document["credential_source"] == {"file": access.token_path("gcp"), "format": {"type": "text"}}
    assert document["service_account_impersonation_url"].endswith("/sa@p.iam.gserviceaccount.com:generateAccessToken")
    assert not {"private_key", "private_key_id", "client_secret"} & set(document)
    assert access.gcp_audience("42", "pool", "hub-oidc") == "https:" + document["audience"]


def test_aws_region_and_azure_location_follow_the_hub_only() -> None:
    assert access.aws_region_for("gcp", "us-central1") == "us-east-2"
    assert access.azure_location_for("gcp", "europe-west4") == access.azure_location_for("gcp", "europe-west4")
    assert access.azure_location_for("aws", "eu-west-1").islower()


# --- fleet validate refuses what no path reaches ---------------------------------------------------


def _declaration(spoke_access: str) -> list[dict[str, Any]]:
    hub_template = template(version="1.35", gitops={"engine": "argocd"})
    hub_template["metadata"]["name"] = "hub"
    spoke_template = template(version="1.35", networking={"cni": "cloud", "apiAccess": spoke_access})
    spoke_template["metadata"]["name"] = "spoke"
    regions = [{"name": region, "clusters": 1, "template": "spoke", "provider": cloud}
               for region, cloud in (("us-east", "aws"), ("eu-west", "azure"), ("us-central", "gcp"))]
    return [hub_template, spoke_template,
            cluster_set(regions=regions, hub={"template": "hub", "provider": "gcp", "location": "us-central"})]


def test_validate_refuses_private_eks_and_aks_spokes_and_only_them() -> None:
    _plan, problems = plan_documents(*_declaration("private"))
    lines = sorted(str(p) for p in problems)
    assert len(lines) == 2, lines
    for line, (spoke, cloud) in zip(lines, (("demo-us-east-01", "aws"), ("demo-eu-west-01", "azure")), strict=True):
        assert line.startswith("fleets/test.yaml: ClusterSet/demo: spec.regions[")
        assert f"spoke '{spoke}' ({cloud}, apiAccess: private) cannot be reached by its hub 'demo-hub' " in line
        assert "(gcp, argocd)" in line
        assert "use apiAccess: authorized" in line
    plan, problems = plan_documents(*_declaration("authorized"))
    assert not problems and len(plan.clusters) == 4


def test_the_command_line_says_it_once_per_spoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "fleet.yaml"
    source.write_text(yaml.safe_dump_all(_declaration("private"), sort_keys=False))
    assert main(["validate", "--stack", "staging", "-f", str(source)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    refused = [line for line in err if "cannot be reached by its hub" in line]
    assert len(refused) == 2 and "Traceback" not in "\n".join(err)


def test_fleet_plan_json_says_how_each_spoke_is_reached(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "staging", "--json"]) == 0
    rows = {r["cluster"]: r for r in json.loads(capsys.readouterr().out)}
    hub_row = next(r for r in rows.values() if r["role"] == "hub")
    assert "hubAccess" not in hub_row
    for row in rows.values():
        if row["role"] != "spoke":
            continue
        expected = access.route(hub_row["cloud"], row["cloud"], row["endpoint"])
        assert expected is not None
        assert row["hubAccess"]["address"] == expected.address
        assert row["hubAccess"]["credential"] == ("native" if row["cloud"] == hub_row["cloud"] else "federated")
        assert row["hubAccess"]["trust"] == access.TRUST[(hub_row["cloud"], row["cloud"])]


# --- GKE spokes behind Connect Gateway, from every hub cloud and both engines ------------------------

GATEWAY_HUBS = (("aws", "argocd"), ("azure", "flux"), ("gcp", "argocd"), ("gcp", "flux"), ("aws", "flux"),
                ("azure", "argocd"))


def _gateway_declaration() -> str:
    documents: list[dict[str, Any]] = []
    for engine in ENGINES:
        hub_template = template(version="1.35", gitops={"engine": engine}, networking={"cni": "cloud"})
        hub_template["metadata"]["name"] = f"hub-{engine}"
        documents.append(hub_template)
    for mode in ("private", "dns"):
        spoke = template(version="1.35", networking={"cni": "cloud", "apiAccess": mode})
        spoke["metadata"]["name"] = f"gke-{mode}"
        documents.append(spoke)
    for cloud, engine in GATEWAY_HUBS:
        documents.append(cluster_set(
            regions=[{"name": "us-central", "clusters": 1, "template": "gke-private", "provider": "gcp"},
                     {"name": "us-west", "clusters": 1, "template": "gke-dns", "provider": "gcp"}],
            hub={"template": f"hub-{engine}", "provider": cloud, "location": "us-east"}))
        documents[-1]["metadata"]["name"] = f"gw-{cloud[:2]}-{engine[:2]}"
    return yaml.safe_dump_all(documents, sort_keys=False)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, dict]]:
    source = tmp_path_factory.mktemp("gateway") / "gateway.yaml"
    source.write_text(_gateway_declaration())
    redacted, revealed, _ = synth_both_ways(source)
    return redacted, revealed


@pytest.mark.parametrize(("cloud", "engine", "region"),
                         [(*hub_, region) for hub_ in GATEWAY_HUBS for region in ("us-central", "us-west")])
def test_gke_private_and_dns_spokes_are_registered_through_connect_gateway(gateway, cloud, engine, region) -> None:
    synth, revealed = gateway
    spoke = f"gw-{cloud[:2]}-{engine[:2]}-{region}-01"
    if engine == "argocd":
        string_data = revealed[f"{spoke}-hub-registration"]["stringData"]
        server = string_data["server"]
        config = json.loads(string_data["config"])
        assert config["execProviderConfig"]["args"] == ["gcp"]
        assert "caData" not in config.get("tlsClientConfig", {}), "Connect Gateway has a public certificate"
    else:
        data = revealed[f"{spoke}-hub-kubeconfig"]["data"]
        server = data["address"]
        assert data["provider"] == "gcp" and data["ca.crt"] == GOOGLE_TRUST_SERVICES_ROOTS
        assert data["cluster"].startswith("projects/") and f"/clusters/{spoke}" in data["cluster"]
    assert server.startswith("https://") and "connectgateway.googleapis.com/v1/projects/" in server
    assert server.endswith(f"/gkeMemberships/{spoke}")
    roles = {r["inputs"]["role"] for r in synth["resources"] if r["type"] == "gcp:projects/iAMMember:IAMMember"
             and r["name"].startswith(f"gw-{cloud[:2]}-{engine[:2]}-hub-gitops-")}
    assert "roles/gkehub.gatewayEditor" in roles, "the hub's Google identity may use Connect Gateway"


def test_the_gateway_registrations_validate(gateway, shared_dir: Path) -> None:
    """The hub-side objects of Connect Gateway registrations against their upstream schemas."""
    synth, _revealed = gateway
    checked = 0
    for record, body in kubernetes_objects(synth):
        if not record["name"].endswith(("-hub-registration", "-hub-kubeconfig", "-gcp-credentials")):
            continue
        body = unredacted_shape(normalise_numbers(body))
        if is_core(body):
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        else:
            assert has_crd(body), record["name"]
            validate_custom(body)
        checked += 1
    assert checked >= 2 * len(GATEWAY_HUBS) + len([h for h in GATEWAY_HUBS if h[1] == "flux"]) * 2


def test_the_gateway_fleet_holds_no_long_lived_credential(gateway) -> None:
    synth, revealed = gateway
    assert not [v for v in rules.check_synth(synth, AS_OF)
                if v.rule.id.startswith(("no-long-lived", "aws-web", "gcp-fed", "azure-federated-credential-limit"))]
    assert "bearerToken" not in json.dumps(revealed)


# --- the rules -------------------------------------------------------------------------------------


def messages(rule_id: str, document: dict) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == rule_id)
    stack = Stack.from_synth(document)
    return [m for resource in stack for m in rule.check(resource, stack)]


def edited(document: dict, name: str, type_: str, change) -> dict:
    copied = copy.deepcopy(document)
    (record,) = [r for r in copied["resources"] if r["name"] == name and r["type"] == type_]
    change(record["inputs"])
    return copied


RULE_IDS = ("no-long-lived-spoke-credentials", "aws-web-identity-trust-scoped", "azure-federated-credential-limit",
            "gcp-federation-provider-scoped")


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_the_example_stacks_pass(rule_id: str, prod_synth: dict, staging_synth: dict) -> None:
    assert messages(rule_id, prod_synth) == [] and messages(rule_id, staging_synth) == []


def test_a_token_secret_fails(prod_synth: dict) -> None:
    document = copy.deepcopy(prod_synth)
    document["resources"].append(json.loads(TOKEN_PATH.read_text())["prod"]["tokenPath"][1])
    found = messages("no-long-lived-spoke-credentials", document)
    assert len(found) == 1 and "long-lived service-account token" in found[0]


def test_a_static_kubeconfig_fails(staging_synth: dict) -> None:
    def to_secret(inputs: dict) -> None:
        inputs["spec"]["kubeConfig"] = {"secretRef": {"name": "spoke-kubeconfig", "key": "value"}}

    document = edited(staging_synth, "staging-fleet-us-east-01-hub-registration",
                      "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization", to_secret)
    (found,) = messages("no-long-lived-spoke-credentials", document)
    assert "spec.kubeConfig.secretRef" in found and "configMapRef" in found


def test_an_argocd_bearer_token_fails(prod_synth: dict) -> None:
    def with_token(inputs: dict) -> None:
        inputs["stringData"] = {"name": "x", "server": "https://x", "config": json.dumps({"bearerToken": "[secret]"})}

    document = edited(prod_synth, "production-fleet-eu-west-01-hub-registration", "kubernetes:core/v1:Secret",
                      with_token)
    (found,) = messages("no-long-lived-spoke-credentials", document)
    assert "bearerToken" in found


def test_a_federated_role_without_subjects_fails(staging_synth: dict) -> None:
    def unscoped(inputs: dict) -> None:
        policy = json.loads(inputs["assumeRolePolicy"])
        policy["Statement"][0]["Condition"] = {"StringEquals": {k: v for k, v in
                                                                policy["Statement"][0]["Condition"]["StringEquals"].items()
                                                                if k.endswith(":aud")}}
        inputs["assumeRolePolicy"] = json.dumps(policy)

    document = edited(staging_synth, "staging-fleet-hub-aws-federated", "aws:iam/role:Role", unscoped)
    (found,) = messages("aws-web-identity-trust-scoped", document)
    assert "any pod of that cluster could assume it" in found


def test_more_than_twenty_federated_credentials_fail(staging_synth: dict) -> None:
    document = copy.deepcopy(staging_synth)
    (credential,) = [r for r in document["resources"] if r["type"].endswith("FederatedIdentityCredential")
                     and r["name"].startswith("staging-fleet-hub-azure-federated-")]
    for index in range(20):
        extra = copy.deepcopy(credential)
        extra["urn"] += f"-{index:02d}"
        extra["name"] += f"-{index:02d}"
        document["resources"].append(extra)
    (found,) = messages("azure-federated-credential-limit", document)
    assert "gets 21 federated credentials" in found


def test_an_unconditioned_pool_provider_fails(prod_synth: dict) -> None:
    document = edited(prod_synth, "production-fleet-hub-gcp-federation",
                      "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
                      lambda inputs: inputs.pop("attributeCondition"))
    (found,) = messages("gcp-federation-provider-scoped", document)
    assert "accepts every token" in found


# --- migration from the token path -----------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_leaving_the_token_path_deletes_only_its_objects(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    """The token path's objects (recorded by `fleet synth` before this change) go; registrations keep
    their URNs and object names, so Argo CD keeps what it deployed and Flux keeps its inventory."""
    head = {"prod": prod_synth, "staging": staging_synth}[stack]
    before = json.loads(TOKEN_PATH.read_text())[stack]
    registrations = sorted(r["urn"] for r in head["resources"] if r["name"].endswith("-hub-registration"))
    assert registrations == before["registrations"]
    base = copy.deepcopy(head)
    kept = {r["urn"] for r in base["resources"]}
    base["resources"] += [r for r in before["tokenPath"] if r["urn"] not in kept]
    static = {r["name"] for r in before["tokenPath"] if r["name"].endswith("-hub-kubeconfig")}
    base["resources"] = [r for r in base["resources"]  # a static kubeconfig Secret became a ConfigMap
                         if not (r["name"] in static and r["type"] == "kubernetes:core/v1:ConfigMap")]
    diff = diff_synth(base, head)
    deleted = {c.urn for c in diff.changes if c.action == "delete"}
    assert deleted == {r["urn"] for r in before["tokenPath"]}
    assert not [c for c in diff.changes if c.action == "replace"]
    added = {c.name for c in diff.changes if c.action == "add"}
    assert added == static, "a static kubeconfig Secret becomes a ConfigMap of the same name; nothing else is new"
    names = {r["inputs"]["metadata"]["name"] for r in before["tokenPath"]}
    assert names <= {"fleet-hub", "fleet-hub-token"} | {hub.kubeconfig_name(n.rsplit("-hub-", 1)[0])
                                                       for n in (r["name"] for r in before["tokenPath"])}
