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

from fleet.gitops import argocd, controller_service_accounts, flux, hub
from fleet.gitops.identity import addons_path
from fleet.plan import FleetPlan
from fleet.stack import PROJECT_DIR, read_stack_file
from fleet.synth import synthesize
from fleet.synth.fakes.kubernetes import RESOURCES
from fleet.synth.output import synth_document
from tests.conftest import synth_to
from tests.gitops_support import (
    argocd_registrations,
    has_crd,
    is_core,
    kubernetes_objects,
    normalise_numbers,
    objects_by,
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
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    result = synthesize(PROJECT_DIR, config.with_declaration_files([str(source)]))
    assert not result.problems and result.program_error is None, result.program_error
    redacted = json.loads(json.dumps(synth_document(result.recording, result.stack.plan)))
    revealed = synth_document(result.recording, result.stack.plan, show_secrets=True)
    return redacted, {r["name"]: r["inputs"] for r in revealed["resources"]}, result.stack.plan


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


@pytest.mark.parametrize(("engine", "hub_cloud", "spoke_cloud"), PAIRS)
def test_registration_objects(matrix, revealed, engine: str, hub_cloud: str, spoke_cloud: str) -> None:
    synth, plan = matrix
    spoke = plan_of(plan, spoke_name(engine, hub_cloud, spoke_cloud))
    hub_name = f"{set_name(engine, hub_cloud)}-hub"
    keyless = hub_cloud == spoke_cloud
    assert spoke.hub == hub_name and spoke.hub_engine == engine

    if engine == "argocd":
        registrations = argocd_registrations(synth)
        body = registrations[spoke.name]
        (cluster,) = [c for c, _r, b in objects_by(synth, "Secret") if b is body]
        assert cluster == hub_name, "the cluster Secret lives on the hub"
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
        assert body["stringData"] == "[secret]", "the config holds credentials: never plain"
        string_data = revealed[f"{spoke.name}-hub-registration"]["stringData"]
        assert set(string_data) == {"name", "server", "config"}
        config = json.loads(string_data["config"])
        assert string_data["name"] == spoke.name
        assert string_data["server"].startswith("https://")
        if keyless:
            assert "bearerToken" not in config
            assert {"awsAuthConfig", "execProviderConfig"} & set(config), config
        else:
            assert config["bearerToken"].count(".") == 2, "a service account JWT"
            assert "awsAuthConfig" not in config and "execProviderConfig" not in config
    else:
        name = hub.registration_name(spoke.name, "spoke")
        kustomizations = {b["metadata"]["name"]: (c, b) for c, _r, b in objects_by(synth, "Kustomization")}
        cluster, body = kustomizations[name]
        assert cluster == hub_name and body["metadata"]["namespace"] == flux.NAMESPACE
        spec = body["spec"]
        assert spec["path"] == addons_path(spoke)
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": flux.SYNC_NAME}
        substitute = spec["postBuild"]["substitute"]
        assert {k: substitute[k] for k in spoke.identity} == dict(spoke.identity)
        assert substitute["CLUSTER_NAME"] == spoke.name and substitute["OIDC_ISSUER"].startswith("https://")
        assert {k: body["metadata"]["labels"][k] for k in spoke.labels} == dict(spoke.labels)
        kube_config = spec["kubeConfig"]
        if keyless:
            assert set(kube_config) == {"configMapRef"}
            config_maps = {b["metadata"]["name"]: b for _c, _r, b in objects_by(synth, "ConfigMap")}
            data = config_maps[kube_config["configMapRef"]["name"]]["data"]
            assert data["provider"] == spoke_cloud and data["cluster"]
        else:
            assert kube_config["secretRef"]["key"] == "value"
            secret = next(
                b
                for _c, _r, b in objects_by(synth, "Secret")
                if b["metadata"]["name"] == kube_config["secretRef"]["name"]
            )
            assert secret["stringData"] == "[secret]"
            kubeconfig = yaml.safe_load(revealed[f"{spoke.name}-hub-kubeconfig"]["stringData"]["value"])
            user = kubeconfig["users"][0]["user"]
            assert set(user) == {"token"}, "self-contained: no exec plugin, no files"
            assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")

    token_objects = resources_named(synth, f"{spoke.name}-hub-token")
    if keyless:
        assert not token_objects, "same cloud: no stored credential"
    else:
        (token,) = token_objects
        assert token["inputs"]["type"] == "kubernetes.io/service-account-token"
        assert token["inputs"]["metadata"]["annotations"] == {
            "kubernetes.io/service-account.name": hub.SPOKE_ACCOUNT
        }
        clusters = {
            r["urn"]: r["inputs"].get("clusterIdentifier")
            for r in synth["resources"]
            if r["type"] == "pulumi:providers:kubernetes"
        }
        assert clusters[token["provider"]] == spoke.name, "the token Secret lives on the spoke"
        (role,) = resources_named(synth, f"{spoke.name}-hub-role")
        assert role["inputs"]["rules"][0] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
        (binding,) = resources_named(synth, f"{spoke.name}-hub-binding")
        assert binding["inputs"]["subjects"] == [
            {"kind": "ServiceAccount", "name": hub.SPOKE_ACCOUNT, "namespace": hub.SPOKE_NAMESPACE}
        ]


@pytest.mark.parametrize(("engine", "hub_cloud", "spoke_cloud"), PAIRS)
def test_registration_waits_for_the_spoke_bootstrap(matrix, engine, hub_cloud, spoke_cloud) -> None:
    """Delete order on decommission: the registration, then the spoke's GitOps engine, then the
    cluster. Every Kubernetes object of the registration depends on the spoke's bootstrap; the
    hub-side objects also on the access they use (cloud grants are revoked after them)."""
    synth, _ = matrix
    spoke = spoke_name(engine, hub_cloud, spoke_cloud)
    bootstrap = bootstrap_urns(synth, spoke)
    registration = registration_urn(synth, spoke)
    children = [r for r in synth["resources"] if r["parent"] == registration and r["custom"]]
    # fleet.gitops' own objects (the cloud's grant_hub_access adds its own, e.g. an access entry)
    objects = [
        r for r in children if r["type"].startswith("kubernetes:") and r["name"].startswith(f"{spoke}-hub-")
    ]
    access = {r["urn"] for r in children if r not in objects}
    access |= {
        r["urn"] for r in objects if r["name"].rsplit("-", 1)[-1] in ("account", "role", "binding", "token")
    }
    assert bootstrap and objects
    for child in objects:
        assert bootstrap & set(child["dependencies"]), child["name"]
    for child in resources_named(synth, f"{spoke}-hub-registration"):
        assert access <= set(child["dependencies"]), child["name"]
    assert (hub_cloud == spoke_cloud) == (not any(r["name"].endswith("-hub-token") for r in objects))


@pytest.mark.parametrize(("engine", "hub_cloud"), list(product(ENGINES, CLOUDS)))
def test_hub_controllers_run_as_the_hub_identity(matrix, engine: str, hub_cloud: str) -> None:
    synth, _ = matrix
    hub_name = f"{set_name(engine, hub_cloud)}-hub"
    accounts = controller_service_accounts(engine)
    if engine == "argocd":
        (release,) = resources_named(synth, f"{hub_name}-argocd")
        values = release["inputs"]["values"]
        for key, ref in argocd.CONTROLLERS.items():
            assert values[key]["serviceAccount"]["name"] == ref.name
            if hub_cloud != "aws":  # EKS Pod Identity needs no annotation
                assert values[key]["serviceAccount"]["annotations"], (key, hub_cloud)
        assert [a.name for a in accounts] == [r.name for r in argocd.CONTROLLERS.values()]
    else:
        (instance,) = resources_named(synth, f"{hub_name}-flux-instance")
        patches = instance["inputs"]["spec"]["kustomize"]["patches"]
        targets = {(p["target"]["kind"], p["target"].get("name")) for p in patches}
        if hub_cloud != "aws":
            assert ("ServiceAccount", "kustomize-controller") in targets
        if hub_cloud == "azure":
            assert ("Deployment", "kustomize-controller") in targets
        assert [a.name for a in accounts] == ["kustomize-controller"]


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
