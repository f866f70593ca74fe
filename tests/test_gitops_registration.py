"""Spoke registration, for both hub engines and every hub x spoke cloud pair, on the real program.

One declaration holds six ClusterSets (hub engine argocd|flux x hub cloud aws|azure|gcp), each with
one spoke per cloud (Flux on aws and gcp, Argo CD on azure: both hybrid directions), synthesised
once under the mock engine. Every pair is then checked on what the program would apply.
"""

from __future__ import annotations

import base64
import json
from itertools import product
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fleet import access
from fleet.gitops import argocd, controller_service_accounts, flux, hub
from fleet.gitops.identity import addons_path
from fleet.plan import FleetPlan
from fleet.rules import check_synth
from fleet.spec.versions import AS_OF
from fleet.synth.fakes.kubernetes import RESOURCES
from tests.conftest import synth_to
from tests.gitops_support import (
    argocd_registrations,
    has_crd,
    is_core,
    kubernetes_objects,
    normalise_numbers,
    objects_by,
    synth_both_ways,
    validate_custom,
)
from tests.test_gitops_schemas import KUBERNETES_VERSION, NO_SCHEMA, unredacted_shape

ENGINES = ("argocd", "flux")
CLOUDS = ("aws", "azure", "gcp")
SPOKES = {"aws": ("us-east", "flux"), "azure": ("eu-west", "argocd"), "gcp": ("us-central", "flux")}
SHORT = {"argocd": "ar", "flux": "fx"}


def set_name(engine: str, cloud: str) -> str:
    return f"{SHORT[engine]}-{cloud}"


def spoke_name(engine: str, hub_cloud: str, spoke_cloud: str) -> str:
    return f"{set_name(engine, hub_cloud)}-{SPOKES[spoke_cloud][0]}-01"


def declaration() -> str:
    documents = [
        {
            "apiVersion": "fleet.example.com/v1",
            "kind": "ClusterTemplate",
            "metadata": {"name": name},
            "spec": {
                "version": "1.35",
                "networking": {"cni": "cloud"},
                "security": {"policyEngine": "OPA", "imageScanning": True},
                "observability": {"prometheus": True},
                "gitops": {"engine": engine},
            },
        }
        for name, engine in (
            ("hub-argocd", "argocd"),
            ("hub-flux", "flux"),
            ("spoke-argocd", "argocd"),
            ("spoke-flux", "flux"),
        )
    ]
    for engine, cloud in product(ENGINES, CLOUDS):
        documents.append(
            {
                "apiVersion": "fleet.example.com/v1",
                "kind": "ClusterSet",
                "metadata": {"name": set_name(engine, cloud)},
                "spec": {
                    "environment": "production",
                    "hub": {"template": f"hub-{engine}", "provider": cloud, "location": "us-east"},
                    "regions": [
                        {
                            "name": region,
                            "clusters": 1,
                            "template": f"spoke-{spoke_engine}",
                            "provider": spoke_cloud,
                            **({"labels": {"compliance": "gdpr"}} if spoke_cloud == "azure" else {}),
                        }
                        for spoke_cloud, (region, spoke_engine) in SPOKES.items()
                    ],
                },
            }
        )
    return yaml.safe_dump_all(documents, sort_keys=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, FleetPlan]:
    """One run of the program: the synth document as written (secrets redacted) and revealed."""
    folder = tmp_path_factory.mktemp("gitops-matrix")
    source = folder / "matrix.yaml"
    source.write_text(declaration())
    return synth_both_ways(source)


@pytest.fixture(scope="module")
def matrix(recorded) -> tuple[dict, FleetPlan]:
    return recorded[0], recorded[2]


@pytest.fixture(scope="module")
def revealed(recorded) -> dict[str, dict]:
    """Unredacted inputs by resource name, to look inside Secrets (never written to disk)."""
    return recorded[1]


def plan_of(plan: FleetPlan, name: str):
    return next(c for c in plan.clusters if c.name == name)


def resources_named(synth: dict, name: str) -> list[dict]:
    return [r for r in synth["resources"] if r["name"] == name]


def registration_urn(synth: dict, spoke: str) -> str:
    return next(
        r["urn"]
        for r in synth["resources"]
        if r["type"] == "fleet:gitops:SpokeRegistration" and r["name"] == spoke
    )


def bootstrap_urns(synth: dict, cluster: str) -> set[str]:
    """URNs of the custom resources of a cluster's GitOps bootstrap."""
    prefixes = ("fleet:gitops:FluxBootstrap$", "fleet:gitops:ArgoCDBootstrap$")
    return {
        r["urn"]
        for r in synth["resources"]
        if any(p in r["urn"] for p in prefixes) and r["name"].startswith(f"{cluster}-")
    }


PAIRS = list(product(ENGINES, CLOUDS, CLOUDS))

# What each cloud's Argo CD `config` carries (Argo CD declarative setup: awsAuthConfig, or
# execProviderConfig running argocd-k8s-auth azure|gcp), for any hub cloud.
ARGOCD_AUTH = {"aws": "awsAuthConfig", "azure": "execProviderConfig", "gcp": "execProviderConfig"}


@pytest.mark.parametrize(("engine", "hub_cloud", "spoke_cloud"), PAIRS)
def test_registration_objects(matrix, revealed, engine: str, hub_cloud: str, spoke_cloud: str) -> None:
    synth, plan = matrix
    spoke = plan_of(plan, spoke_name(engine, hub_cloud, spoke_cloud))
    hub_name = f"{set_name(engine, hub_cloud)}-hub"
    assert spoke.hub == hub_name and spoke.hub_engine == engine

    if engine == "argocd":
        registrations = argocd_registrations(synth)
        body = registrations[spoke.name]
        (cluster,) = [c for c, _r, b in objects_by(synth, "Secret") if b is body]
        assert cluster == hub_name, "the cluster Secret lives on the hub"
        assert body["metadata"]["name"] == f"cluster-{spoke.name}", "the name the token path used: stable"
        labels = body["metadata"]["labels"]
        assert labels[argocd.SECRET_TYPE] == "cluster"
        assert {k: labels[k] for k in spoke.labels} == dict(spoke.labels)
        assert labels["purpose"] == "workload" and labels["cloud"] == spoke_cloud
        annotations = body["metadata"]["annotations"]
        assert annotations["cloud"] == spoke_cloud and annotations["location"] == spoke.location
        assert annotations["cluster_name"] == spoke.name
        for key in ("account", "resource_id", "oidc_issuer", "fleet_repo_url", "fleet_repo_revision"):
            assert annotations[key], key
        assert body["metadata"]["namespace"] == argocd.NAMESPACE
        assert body["stringData"] == "[secret]", "the config stays a Pulumi secret"
        string_data = revealed[f"{spoke.name}-hub-registration"]["stringData"]
        assert set(string_data) == {"name", "server", "config"}
        config = json.loads(string_data["config"])
        assert string_data["name"] == spoke.name
        assert string_data["server"].startswith("https://")
        assert set(config) - {"tlsClientConfig"} == {ARGOCD_AUTH[spoke_cloud]}, config
        assert not {"bearerToken", "username", "password"} & set(config)
        assert not {"certData", "keyData"} & set(config.get("tlsClientConfig", {}))
        if spoke_cloud == "aws":
            assert config["awsAuthConfig"]["clusterName"] == spoke.name
            assert config["awsAuthConfig"]["roleARN"].startswith("arn:aws:iam::")
        else:
            assert config["execProviderConfig"]["command"] == "argocd-k8s-auth"
            assert config["execProviderConfig"]["args"] == [spoke_cloud]
    else:
        name = hub.registration_name(spoke.name, "spoke")
        kustomizations = {b["metadata"]["name"]: (c, b) for c, _r, b in objects_by(synth, "Kustomization")}
        cluster, body = kustomizations[name]
        assert cluster == hub_name and body["metadata"]["namespace"] == flux.NAMESPACE
        assert name == f"spoke-{spoke.name}", "the name the token path used: stable"
        spec = body["spec"]
        assert spec["path"] == addons_path(spoke)
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": flux.SYNC_NAME}
        substitute = spec["postBuild"]["substitute"]
        assert {k: substitute[k] for k in spoke.identity} == dict(spoke.identity)
        assert substitute["CLUSTER_NAME"] == spoke.name and substitute["OIDC_ISSUER"].startswith("https://")
        assert {k: body["metadata"]["labels"][k] for k in spoke.labels} == dict(spoke.labels)
        assert spec["kubeConfig"] == {"configMapRef": {"name": hub.kubeconfig_name(spoke.name)}}
        config_maps = {(c, b["metadata"]["name"]): b for c, _r, b in objects_by(synth, "ConfigMap")}
        data = config_maps[(hub_name, hub.kubeconfig_name(spoke.name))]["data"]
        # Flux's kubeConfig provider keys (fluxcd/pkg meta KubeConfigKey*): address and ca.crt both
        # set, so no provider describes (or compares) the cluster
        assert set(data) == {"provider", "cluster", "address", "ca.crt"}
        assert data["provider"] == spoke_cloud and data["address"].startswith("https://")
        assert data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
        assert "serviceAccountName" not in data, "controller level: the controller's own identity"

    on_spoke = {r["name"] for _c, r, _b in kubernetes_objects_on(synth, spoke.name)}
    assert not {f"{spoke.name}-hub-{kind}" for kind in ("account", "role", "binding", "token")} & on_spoke


def kubernetes_objects_on(synth: dict, cluster: str) -> list[tuple[str, dict, dict]]:
    clusters = {r["urn"]: r["inputs"].get("clusterIdentifier") for r in synth["resources"]
                if r["type"] == "pulumi:providers:kubernetes"}
    return [(clusters.get(r["provider"]), r, b) for r, b in kubernetes_objects(synth)
            if clusters.get(r["provider"]) == cluster]


# The trust objects of each spoke cloud: the hub-side anchor (made with the hub, one per hub and
# spoke cloud) and the per-spoke grant (made with the spoke's registration).
ANCHORS = {
    "aws": {"aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy"},
    "azure": {"azure-native:resources:ResourceGroup", "azure-native:managedidentity:UserAssignedIdentity",
              "azure-native:managedidentity:FederatedIdentityCredential"},
    "gcp": {"gcp:iam/workloadIdentityPool:WorkloadIdentityPool",
            "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
            "gcp:serviceaccount/account:Account", "gcp:serviceaccount/iAMMember:IAMMember"},
}
GRANTS = {
    "aws": {"aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"},
    "azure": {"azure-native:authorization:RoleAssignment"},
    "gcp": {"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"},
}


@pytest.mark.parametrize(("engine", "hub_cloud", "spoke_cloud"), PAIRS)
def test_trust_on_both_sides(matrix, revealed, engine: str, hub_cloud: str, spoke_cloud: str) -> None:
    synth, plan = matrix
    spoke = plan_of(plan, spoke_name(engine, hub_cloud, spoke_cloud))
    hub_name = f"{set_name(engine, hub_cloud)}-hub"
    hub_plan = plan_of(plan, hub_name)
    by_urn = {r["urn"]: r for r in synth["resources"]}
    registration = registration_urn(synth, spoke.name)
    grants = {r["type"] for r in synth["resources"] if r["parent"] == registration and r["custom"]
              and not r["name"].endswith(("-hub-registration", "-hub-kubeconfig"))}
    assert GRANTS[spoke_cloud] <= grants, grants
    member = next(r["urn"] for r in synth["resources"]
                  if r["type"] == "fleet:index:FleetMember" and r["name"] == hub_name)
    anchors = [r for r in synth["resources"] if r["parent"] == member and (
        "-federat" in r["name"] or "-gitops" in r["name"] or "-pod-identity-" in r["name"])]
    subjects = [access.subject(ns, sa) for ns, sa in access.CONTROLLERS[engine]]
    federated = [r for r in anchors if f"-{spoke_cloud}-federat" in r["name"]]
    if hub_cloud == spoke_cloud:
        assert not federated, "same cloud: the native workload identity, no federation"
        return
    assert {r["type"] for r in federated} == ANCHORS[spoke_cloud]
    issuer = revealed[f"{hub_name}-cluster-identity"]["data"]["OIDC_ISSUER"]
    if spoke_cloud == "aws":
        (provider,) = [r for r in federated if r["type"].endswith("OpenIdConnectProvider")]
        assert provider["inputs"]["url"] == issuer and provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
        (role,) = [r for r in federated if r["type"] == "aws:iam/role:Role"]
        trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
        key = issuer.removeprefix("https://").rstrip("/")  # IAM condition keys: the URL without scheme
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Condition"]["StringEquals"] == {f"{key}:sub": subjects, f"{key}:aud": "sts.amazonaws.com"}
        (entry,) = [r for r in synth["resources"] if r["parent"] == registration
                    and r["type"] == "aws:eks/accessEntry:AccessEntry"]
        assert entry["inputs"]["principalArn"].endswith(f":role/{role['inputs']['name']}")
    elif spoke_cloud == "azure":
        credentials = [r for r in federated if r["type"].endswith("FederatedIdentityCredential")]
        assert sorted(c["inputs"]["subject"] for c in credentials) == sorted(subjects)
        for credential in credentials:
            assert credential["inputs"]["issuer"] == issuer
            assert credential["inputs"]["audiences"] == ["api://AzureADTokenExchange"]
        (identity,) = [r for r in federated if r["type"].endswith("UserAssignedIdentity")]
        (assignment,) = [r for r in synth["resources"] if r["parent"] == registration
                         and r["type"] == "azure-native:authorization:RoleAssignment"]
        assert assignment["inputs"]["scope"].endswith(f"/managedClusters/{spoke.name}")
        assert identity["urn"] in by_urn
    else:
        (provider,) = [r for r in federated if r["type"].endswith("WorkloadIdentityPoolProvider")]
        assert provider["inputs"]["oidc"]["issuerUri"] == issuer
        assert provider["inputs"]["attributeCondition"] == access.gcp_attribute_condition(subjects)
        (account,) = [r for r in federated if r["type"] == "gcp:serviceaccount/account:Account"]
        members = [r["inputs"]["member"] for r in federated if r["type"] == "gcp:serviceaccount/iAMMember:IAMMember"]
        assert [m.rsplit("/subject/", 1)[1] for m in members] == subjects
        assert all(m.startswith("principal://iam.googleapis.com/projects/") for m in members)
        (binding,) = [r for r in synth["resources"] if r["parent"] == registration
                      and r["type"].endswith("ClusterRoleBinding")]
        assert binding["inputs"]["subjects"][0]["name"].startswith(account["inputs"]["accountId"])
    assert hub_plan.provider == hub_cloud


@pytest.mark.parametrize(("engine", "hub_cloud", "spoke_cloud"), PAIRS)
def test_registration_waits_for_the_spoke_bootstrap(matrix, engine, hub_cloud, spoke_cloud) -> None:
    """Delete order on decommission: the registration, then the spoke's GitOps engine, then the
    cluster. Every Kubernetes object of the registration depends on the spoke's bootstrap; the
    hub-side objects also on the grants they use (cloud grants are revoked after them)."""
    synth, _ = matrix
    spoke = spoke_name(engine, hub_cloud, spoke_cloud)
    bootstrap = bootstrap_urns(synth, spoke)
    registration = registration_urn(synth, spoke)
    children = [r for r in synth["resources"] if r["parent"] == registration and r["custom"]]
    objects = [r for r in children if r["name"] in (f"{spoke}-hub-registration", f"{spoke}-hub-kubeconfig")]
    grants = {r["urn"] for r in children if r not in objects}
    assert bootstrap and objects and grants
    for child in objects:
        assert bootstrap & set(child["dependencies"]), child["name"]
    for child in resources_named(synth, f"{spoke}-hub-registration"):
        assert grants <= set(child["dependencies"]), child["name"]


@pytest.mark.parametrize(("engine", "hub_cloud"), list(product(ENGINES, CLOUDS)))
def test_hub_controllers_run_as_the_hub_identity(matrix, engine: str, hub_cloud: str) -> None:
    """Only the controller that deploys to spokes gets cloud trust (Argo CD: the application
    controller, not argocd-server nor the ApplicationSet controller); across clouds it gets each
    other cloud's projected token and SDK environment."""
    synth, _ = matrix
    hub_name = f"{set_name(engine, hub_cloud)}-hub"
    accounts = controller_service_accounts(engine)
    others = sorted(set(CLOUDS) - {hub_cloud})
    expected_env = {name for cloud in others for name in FEDERATED_ENV[cloud]}
    if engine == "argocd":
        (release,) = resources_named(synth, f"{hub_name}-argocd")
        values = release["inputs"]["values"]
        assert [a.name for a in accounts] == ["argocd-application-controller"]
        controller = values["controller"]
        assert controller["serviceAccount"]["name"] == "argocd-application-controller"
        if hub_cloud != "aws":  # EKS Pod Identity needs no annotation
            assert controller["serviceAccount"]["annotations"], hub_cloud
        for key in ("server", "applicationSet"):
            assert "annotations" not in values[key]["serviceAccount"], key
            assert not {"env", "volumes", "podLabels"} & set(values[key]), key
        assert {e["name"] for e in controller["env"]} == expected_env
        volumes = {v["name"]: v for v in controller["volumes"]}
        mounts = {m["name"] for m in controller["volumeMounts"]}
        assert set(volumes) == mounts
        if "gcp" in others:
            (config_map,) = values["extraObjects"]
            assert config_map["metadata"]["name"] == access.GCP_CREDENTIALS_CONFIG_MAP
            assert json.loads(config_map["data"][access.GCP_CREDENTIALS_FILE])["type"] == "external_account"
        else:
            assert "extraObjects" not in values
    else:
        (instance,) = resources_named(synth, f"{hub_name}-flux-instance")
        patches = instance["inputs"]["spec"]["kustomize"]["patches"]
        targets = {(p["target"]["kind"], p["target"].get("name")) for p in patches}
        if hub_cloud != "aws":
            assert ("ServiceAccount", "kustomize-controller") in targets
        assert ("Deployment", "kustomize-controller") in targets
        assert [a.name for a in accounts] == ["kustomize-controller"]
        operations = [op for p in patches if p["target"] == {"kind": "Deployment", "name": "kustomize-controller"}
                      for op in (yaml.safe_load(p["patch"]) if p["patch"].startswith("- ") else [])]
        env = {op["value"]["name"] for op in operations if op["path"].endswith("/env/-")}
        assert env == expected_env
        credentials = resources_named(synth, f"{hub_name}-flux-gcp-credentials")
        assert bool(credentials) == ("gcp" in others)
    volumes = [v for v in (controller["volumes"] if engine == "argocd" else [
        op["value"] for op in operations if op["path"].endswith("/volumes/-")])]
    audiences = {v["projected"]["sources"][0]["serviceAccountToken"]["audience"] for v in volumes if "projected" in v}
    expected = {"aws": {"sts.amazonaws.com"}, "azure": {"api://AzureADTokenExchange"}}
    for cloud in others:
        if cloud == "gcp":
            assert any(a.startswith("https://iam.googleapis.com/projects/") for a in audiences)
        else:
            assert expected[cloud] <= audiences


FEDERATED_ENV = {
    "aws": ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION"),
    "azure": ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"),
    "gcp": ("GOOGLE_APPLICATION_CREDENTIALS",),
}


def test_no_long_lived_credential_anywhere(matrix, revealed) -> None:
    """No service-account token Secret, no bearer token, no static kubeconfig in any of the 18
    pairs: what the objects declare (even unredacted) names identities, never a credential."""
    synth, _plan = matrix
    for record, body in kubernetes_objects(synth):
        assert body.get("type") != "kubernetes.io/service-account-token", record["name"]
        if body["kind"] == "Kustomization":
            assert "secretRef" not in (body.get("spec", {}).get("kubeConfig") or {}), record["name"]
    for name, inputs in revealed.items():
        text = json.dumps(inputs)
        assert "bearerToken" not in text, name
        assert "service-account-token" not in text, name
    rules = {v.rule.id for v in check_synth(synth, AS_OF)}
    assert "no-long-lived-spoke-credentials" not in rules


def test_the_argocd_hub_registers_itself_as_management(matrix, revealed) -> None:
    synth, _plan = matrix
    registrations = argocd_registrations(synth)
    for cloud in CLOUDS:
        hub_name = f"{set_name('argocd', cloud)}-hub"
        body = registrations[hub_name]
        assert body["metadata"]["labels"]["purpose"] == "management"
        string_data = revealed[f"{hub_name}-argocd-in-cluster"]["stringData"]
        assert string_data["server"] == argocd.IN_CLUSTER and string_data["name"] == hub_name


def test_registration_names_depend_only_on_the_spoke(tmp_path: Path) -> None:
    """Adding a region entry before an existing one renames nothing of the existing spoke."""

    def documents(regions: list[dict]) -> str:
        return yaml.safe_dump_all(
            [
                {
                    "apiVersion": "fleet.example.com/v1",
                    "kind": "ClusterTemplate",
                    "metadata": {"name": "t"},
                    "spec": {"version": "1.35", "gitops": {"engine": "flux"}},
                },
                {
                    "apiVersion": "fleet.example.com/v1",
                    "kind": "ClusterTemplate",
                    "metadata": {"name": "h"},
                    "spec": {"version": "1.35", "gitops": {"engine": "argocd"}},
                },
                {
                    "apiVersion": "fleet.example.com/v1",
                    "kind": "ClusterSet",
                    "metadata": {"name": "st"},
                    "spec": {
                        "environment": "production",
                        "hub": {"template": "h", "provider": "gcp", "location": "us-east"},
                        "regions": regions,
                    },
                },
            ]
        )

    gke = {"name": "us-central", "clusters": 1, "template": "t", "provider": "gcp"}
    aks = {"name": "eu-west", "clusters": 1, "template": "t", "provider": "azure"}
    registrations = []
    for index, regions in enumerate(([gke], [aks, gke])):
        source = tmp_path / f"{index}.yaml"
        source.write_text(documents(regions))
        synth = synth_to(tmp_path / f"out{index}", "prod", [str(source)])
        registrations.append(
            {
                r["urn"]: r["inputs"]
                for r in synth["resources"]
                if "st-us-central-01" in r["urn"] and "SpokeRegistration" in r["urn"]
            }
        )
    before, after = registrations
    assert before and before.keys() <= after.keys()
    for urn, inputs in before.items():
        assert after[urn] == inputs, urn


def test_hub_format_follows_the_hub_and_bootstrap_follows_the_spoke(matrix) -> None:
    synth, _plan = matrix
    for engine, hub_cloud in product(ENGINES, CLOUDS):
        azure_spoke = spoke_name(engine, hub_cloud, "azure")  # an Argo CD spoke
        assert resources_named(synth, f"{azure_spoke}-argocd-root")
        assert not resources_named(synth, f"{azure_spoke}-flux-instance")
        kind = "Secret" if engine == "argocd" else "Kustomization"
        (registration,) = resources_named(synth, f"{azure_spoke}-hub-registration")
        assert registration["inputs"]["kind"] == kind


def test_spokes_leave_add_ons_to_the_hub(matrix) -> None:
    """A spoke's own sync adds only its cluster folder; the hub and lone clusters add the engine layer."""
    synth, plan = matrix
    for cluster in plan.clusters:
        if cluster.gitops.engine == "flux":
            (instance,) = resources_named(synth, f"{cluster.name}-flux-instance")
            patch = yaml.safe_load(instance["inputs"]["spec"]["kustomize"]["patches"][0]["patch"])
            components = next(op["value"] for op in patch if op["path"] == "/spec/components")
        else:
            (root,) = resources_named(synth, f"{cluster.name}-argocd-root")
            components = root["inputs"]["spec"]["source"]["kustomize"]["components"]
        expected = [cluster.gitops.engine, cluster.name] if cluster.is_hub else [cluster.name]
        assert components == expected, cluster.name


def test_fake_service_account_token_is_realistic() -> None:
    _, outputs = RESOURCES["kubernetes:core/v1:Secret"](
        "t",
        {
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "fleet-hub-token",
                "namespace": "kube-system",
                "annotations": {"kubernetes.io/service-account.name": "fleet-hub"},
            },
        },
    )
    token = base64.b64decode(outputs["data"]["token"]).decode()
    _header, claims, _ = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert decoded["sub"] == "system:serviceaccount:kube-system:fleet-hub"
    assert base64.b64decode(outputs["data"]["ca.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_every_pair_validates(matrix, shared_dir: Path) -> None:
    """The objects of every hub x spoke pair validate against their upstream schemas."""

    synth, _ = matrix
    for record, body in kubernetes_objects(synth):
        body = unredacted_shape(normalise_numbers(body))
        if is_core(body):
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        elif has_crd(body):
            validate_custom(body)
        else:
            assert f"{body['apiVersion']}/{body['kind']}" in NO_SCHEMA, record["name"]
