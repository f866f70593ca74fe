"""Identity and engine bootstrap on every cluster: what the prod and staging stacks declare, and a
private Git / OCI fleet repository."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from fleet.gitops import argocd, flux
from fleet.gitops.identity import (
    IDENTITY_NAME,
    IDENTITY_NAMESPACE,
    addon_variables,
    addons_path,
    cluster_component,
    identity_data,
    repository_root,
    static_identity,
    sync_components,
)
from fleet.settings import ArgoCDSettings, FluxSettings
from fleet.stack import PROJECT_DIR, SECRET_PLACEHOLDER, read_stack_file
from fleet.synth import synthesize
from fleet.synth.output import synth_document
from tests.gitops_support import objects_by
from tests.helpers import cluster_set, plan_documents, template


def by_name(synth: dict) -> dict[str, dict]:
    return {r["name"]: r for r in synth["resources"]}


def clusters(synth: dict) -> dict[str, dict]:
    return {c["name"]: c for c in synth["clusters"]}


# --- pure decisions --------------------------------------------------------------------------


def test_identity_holds_the_contract_keys_and_the_switches() -> None:
    plan, problems = plan_documents(
        template(security={"policyEngine": "Kyverno", "imageScanning": True}),
        cluster_set(
            [
                {
                    "name": "eu-west",
                    "clusters": 1,
                    "template": "base",
                    "provider": "azure",
                    "labels": {"compliance": "gdpr"},
                }
            ]
        ),
    )
    assert not problems
    spoke = next(c for c in plan.clusters if not c.is_hub)
    data = static_identity(spoke)
    for key in ("CLUSTER_NAME", "REGION", "ENVIRONMENT", "CLOUD", "LOCATION", "CLUSTER_SET", "COMPLIANCE"):
        assert data[key] == spoke.identity[key]
    assert data["COMPLIANCE"] == "gdpr" and data["PURPOSE"] == "workload"
    assert data["ENABLE_KYVERNO"] == "true" and data["ENABLE_TRIVY_OPERATOR"] == "true"
    assert "ENABLE_GATEKEEPER" not in data and "ENABLE_CILIUM" not in data  # cilium is AKS's dataplane
    assert data["FLEET_REPO_PATH"] == "gitops" and data["FLEET_SOURCE_KIND"] == "GitRepository"
    assert all(key.isupper() and key.replace("_", "").isalnum() for key in data), "valid Flux variable names"
    assert addon_variables({"enable_gatekeeper": "true", "env": "x"}) == {"ENABLE_GATEKEEPER": "true"}


def test_zero_touch_paths() -> None:
    plan, problems = plan_documents(template(), cluster_set())
    assert not problems
    hub = plan.hubs[0]
    spoke = plan.spokes_of(hub)[0]
    assert spoke.gitops.environment_path == "gitops/clusters/production"
    assert cluster_component(spoke) == spoke.name
    assert repository_root(spoke) == "gitops"
    assert sync_components(hub) == ["flux", hub.name]
    assert sync_components(spoke) == [spoke.name], "a spoke's add-ons come from its hub"
    assert addons_path(spoke) == "gitops/addons/flux/production"
    assert addons_path(spoke, "argocd") == "gitops/addons/argocd/production"
    for cluster in (hub, spoke):
        for component in sync_components(cluster):
            assert (
                PROJECT_DIR / cluster.gitops.environment_path / component
            ).is_dir() or component == cluster.name


def test_repository_at_the_root() -> None:
    plan, _ = plan_documents(template(), cluster_set(), settings={"repositoryPath": ""})
    spoke = plan.spokes_of(plan.hubs[0])[0]
    assert repository_root(spoke) == ""
    assert static_identity(spoke)["FLEET_REPO_PATH"] == "."
    assert addons_path(spoke) == "addons/flux/production"


def test_flux_source_and_ref() -> None:
    assert flux.source_kind("oci://ghcr.io/acme/fleet") == "OCIRepository"
    assert flux.source_kind("https://github.com/acme/fleet.git") == "GitRepository"
    assert flux.source_kind("ssh://git@github.com/acme/fleet.git") == "GitRepository"
    assert flux.source_ref("GitRepository", "main") == "refs/heads/main"
    assert flux.source_ref("GitRepository", "refs/tags/v1.2.0") == "refs/tags/v1.2.0"
    assert flux.source_ref("OCIRepository", "latest") == "latest"


def test_default_versions_are_the_checked_ones() -> None:
    """Checked upstream (see README.md, GitOps section): argo-helm argo-cd 10.1.1 = Argo CD v3.4.4; flux-operator
    v0.58.1 (chart version = operator version) ships Flux up to v2.9.x."""
    assert ArgoCDSettings().chart_version.startswith("10.")
    assert FluxSettings().version == "2.9.x"
    assert FluxSettings().operator_chart_version == "0.58.1"


def test_argocd_values_are_ha_only_in_production() -> None:
    plan, _ = plan_documents(template(gitops={"engine": "argocd"}), cluster_set())
    hub = plan.hubs[0]
    values = argocd.chart_values(hub)
    assert values["redis-ha"]["enabled"] is True
    assert values["server"]["autoscaling"] == {"enabled": True, "minReplicas": 2}
    assert values["repoServer"]["autoscaling"] == {"enabled": True, "minReplicas": 2}
    assert values["applicationSet"]["replicas"] == 2
    assert values["controller"]["replicas"] == argocd.HUB_CONTROLLER_REPLICAS
    staging = dataclasses.replace(hub, environment="staging")
    values = argocd.chart_values(staging)
    assert "redis-ha" not in values and "autoscaling" not in values["server"]
    values = argocd.chart_values(hub, {"iam.gke.io/gcp-service-account": "x@p.iam"}, {"a": "b"})
    for key in argocd.CONTROLLERS:  # cloud trust for the application controller only (fleet.access)
        trusted = key in argocd.SPOKE_CONTROLLERS
        assert values[key]["serviceAccount"].get("annotations") == (
            {"iam.gke.io/gcp-service-account": "x@p.iam"} if trusted else None)
        assert values[key].get("podLabels") == ({"a": "b"} if trusted else None)


# --- the prod and staging stacks ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_cluster_has_its_identity(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    synth = {"prod": prod_synth, "staging": staging_synth}[stack]
    resources = by_name(synth)
    config_maps = {
        (c, b["metadata"]["namespace"]): b
        for c, _r, b in objects_by(synth, "ConfigMap")
        if b["metadata"]["name"] == IDENTITY_NAME
    }
    for name, cluster in clusters(synth).items():
        data = config_maps[(name, IDENTITY_NAMESPACE)]["data"]
        assert data["CLUSTER_NAME"] == name and data["CLOUD"] == cluster["provider"]
        assert data["LOCATION"] == cluster["location"] and data["REGION"] == cluster["region"]
        assert data["OIDC_ISSUER"].startswith("https://") and data["CLOUD_ACCOUNT"]
        identity = resources[f"{name}-cluster-identity"]
        cloud_cluster = next(
            r
            for r in synth["resources"]
            if r["custom"]
            and r["name"].startswith(name)
            and r["type"].split(":")[0] in ("aws", "azure-native", "gcp")
            and r["type"].endswith(("Cluster", "ManagedCluster"))
        )
        assert cloud_cluster["urn"] in identity["dependencies"], "written once the cluster is ready"
        if cluster["engine"] == "flux":
            assert config_maps[(name, flux.NAMESPACE)]["data"] == data, "the copy Flux substitutes from"


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_flux_bootstrap(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    synth = {"prod": prod_synth, "staging": staging_synth}[stack]
    resources = by_name(synth)
    flux_clusters = [c for c in synth["clusters"] if c["engine"] == "flux"]
    assert flux_clusters
    for cluster in flux_clusters:
        name = cluster["name"]
        release = resources[f"{name}-flux-operator"]
        assert release["inputs"]["chart"] == flux.OPERATOR_CHART
        assert release["inputs"]["version"] == FluxSettings().operator_chart_version
        assert release["inputs"]["namespace"] == "flux-system"
        instance = resources[f"{name}-flux-instance"]
        assert release["urn"] in instance["dependencies"], "the FluxInstance CRD comes with the chart"
        body = instance["inputs"]
        assert body["apiVersion"] == "fluxcd.controlplane.io/v1" and body["kind"] == "FluxInstance"
        assert body["metadata"]["name"] == "flux" and body["metadata"]["namespace"] == "flux-system"
        waits = body["metadata"]["annotations"].get("pulumi.com/waitFor")
        assert waits == ("condition=Ready" if cluster["role"] == "hub" else None), (
            "registrations need Flux's CRDs"
        )
        spec = body["spec"]
        assert spec["distribution"] == {"version": FluxSettings().version, "registry": "ghcr.io/fluxcd"}
        assert set(spec["components"]) >= {"source-controller", "kustomize-controller", "helm-controller"}
        assert spec["cluster"]["type"] == cluster["provider"] and spec["cluster"]["networkPolicy"] is True
        assert spec["sync"] == {
            "kind": "GitRepository",
            "url": "https://github.com/acme-platform/fleet.git",
            "ref": "refs/heads/main",
            "path": f"gitops/clusters/{synth_environment(synth)}",
            "interval": "5m",
        }
        patch = spec["kustomize"]["patches"][0]
        assert patch["target"] == {
            "group": "kustomize.toolkit.fluxcd.io",
            "kind": "Kustomization",
            "name": "flux-system",
        }
        operations = {op["path"]: op["value"] for op in yaml.safe_load(patch["patch"])}
        assert operations["/spec/postBuild"] == {
            "substituteFrom": [{"kind": "ConfigMap", "name": IDENTITY_NAME}]
        }
        assert operations["/spec/ignoreMissingComponents"] is True
        assert name in operations["/spec/components"]


def synth_environment(synth: dict) -> str:
    return synth["clusters"][0]["labels"]["env"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_argocd_bootstrap(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    synth = {"prod": prod_synth, "staging": staging_synth}[stack]
    resources = by_name(synth)
    argo_clusters = [c for c in synth["clusters"] if c["engine"] == "argocd"]
    assert argo_clusters
    for cluster in argo_clusters:
        name = cluster["name"]
        release = resources[f"{name}-argocd"]["inputs"]
        assert release["chart"] == "argo-cd" and release["repositoryOpts"] == {
            "repo": argocd.CHART_REPOSITORY
        }
        assert release["version"] == ArgoCDSettings().chart_version and release["namespace"] == "argocd"
        assert ("redis-ha" in release["values"]) == (stack == "prod")
        root = resources[f"{name}-argocd-root"]
        assert resources[f"{name}-argocd"]["urn"] in root["dependencies"], "created after the CRDs"
        assert root["inputs"]["kind"] == "Application"
        source = root["inputs"]["spec"]["source"]
        assert source["path"] == f"gitops/clusters/{synth_environment(synth)}"
        assert source["kustomize"]["ignoreMissingComponents"] is True
        assert source["kustomize"]["components"][-1] == name
        own = resources[f"{name}-argocd-in-cluster"]["inputs"]
        labels = own["metadata"]["labels"]
        assert labels[argocd.SECRET_TYPE] == "cluster"
        assert {k: labels[k] for k in cluster["labels"]} == cluster["labels"]
        assert labels["purpose"] == ("management" if cluster["role"] == "hub" else "workload")


def test_no_secret_is_plain(prod_synth: dict, staging_synth: dict) -> None:
    for synth in (prod_synth, staging_synth):
        for _cluster, record, body in objects_by(synth, "Secret"):
            for key in ("data", "stringData"):
                if key in body:
                    assert body[key] == "[secret]", record["name"]
            assert {"data", "stringData"} <= set(record["options"]["additionalSecretOutputs"]), record["name"]


# --- a private fleet repository: Git with a token, and OCI -------------------------------------


def private_declaration() -> str:
    def set_(name: str, hub_engine: str, spoke_engine: str, repository: dict) -> list[dict]:
        return [
            {
                "apiVersion": "fleet.example.com/v1",
                "kind": "ClusterTemplate",
                "metadata": {"name": f"{name}-hub"},
                "spec": {"version": "1.35", "gitops": {"engine": hub_engine}},
            },
            {
                "apiVersion": "fleet.example.com/v1",
                "kind": "ClusterTemplate",
                "metadata": {"name": f"{name}-spoke"},
                "spec": {"version": "1.35", "gitops": {"engine": spoke_engine}},
            },
            {
                "apiVersion": "fleet.example.com/v1",
                "kind": "ClusterSet",
                "metadata": {"name": name},
                "spec": {
                    "environment": "staging",
                    "repository": repository,
                    "hub": {"template": f"{name}-hub", "provider": "gcp", "location": "us-east"},
                    "regions": [
                        {"name": "us-central", "clusters": 1, "template": f"{name}-spoke", "provider": "gcp"}
                    ],
                },
            },
        ]

    return yaml.safe_dump_all(
        set_(
            "git",
            "argocd",
            "flux",
            {"url": "https://gitlab.example.com/acme/fleet.git", "revision": "release"},
        )
        + set_("oci", "flux", "argocd", {"url": "oci://ghcr.io/acme/fleet-manifests", "revision": "v1"})
    )


# A `secure:` gitToken as `fleet synth` reads it offline (a plain-text one is refused): the
# program still declares the pull Secrets from it, as Pulumi secrets.
TOKEN = SECRET_PLACEHOLDER


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("gitops-private")
    source = folder / "private.yaml"
    source.write_text(private_declaration())
    config, _ = read_stack_file(PROJECT_DIR, "staging")
    config = dataclasses.replace(
        config.with_declaration_files([str(source)]),
        values={**config.with_declaration_files([str(source)]).values, "fleet:gitToken": TOKEN},
        secret_keys=config.secret_keys | {"fleet:gitToken"},
    )
    result = synthesize(PROJECT_DIR, config)
    assert not result.problems and result.program_error is None, result.program_error
    redacted = json.loads(json.dumps(synth_document(result.recording, result.stack.plan)))
    revealed = synth_document(result.recording, result.stack.plan, show_secrets=True)
    return {"redacted": by_name(redacted), "revealed": by_name(revealed)}


def test_private_git_repository(private: dict[str, dict]) -> None:
    redacted, revealed = private["redacted"], private["revealed"]
    # Flux spoke: a basic-auth Secret referenced by spec.sync.pullSecret
    instance = revealed["git-us-central-01-flux-instance"]["inputs"]["spec"]
    assert instance["sync"]["pullSecret"] == flux.PULL_SECRET
    assert instance["sync"]["ref"] == "refs/heads/release"
    secret = revealed["git-us-central-01-flux-repository"]["inputs"]
    assert secret["type"] == "Opaque" and secret["metadata"]["namespace"] == "flux-system"
    assert secret["stringData"] == {"username": "git", "password": TOKEN}
    assert redacted["git-us-central-01-flux-repository"]["inputs"]["stringData"] == "[secret]"
    dependencies = revealed["git-us-central-01-flux-instance"]["dependencies"]
    assert revealed["git-us-central-01-flux-repository"]["urn"] in dependencies
    # Argo CD hub: a repository Secret
    repository = revealed["git-hub-argocd-repository"]["inputs"]
    assert repository["metadata"]["labels"][argocd.SECRET_TYPE] == "repository"
    assert repository["stringData"] == {
        "type": "git",
        "url": "https://gitlab.example.com/acme/fleet.git",
        "username": "git",
        "password": TOKEN,
    }
    assert redacted["git-hub-argocd-repository"]["inputs"]["stringData"] == "[secret]"


def test_private_oci_repository(private: dict[str, dict]) -> None:
    revealed = private["revealed"]
    sync = revealed["oci-hub-flux-instance"]["inputs"]["spec"]["sync"]
    assert sync["kind"] == "OCIRepository" and sync["ref"] == "v1" and sync["pullSecret"] == flux.PULL_SECRET
    secret = revealed["oci-hub-flux-repository"]["inputs"]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(secret["stringData"][".dockerconfigjson"])["auths"]
    assert base64.b64decode(auths["ghcr.io"]["auth"]).decode() == f"flux:{TOKEN}"
    assert revealed["oci-hub-cluster-identity"]["inputs"]["data"]["FLEET_SOURCE_KIND"] == "OCIRepository"
    repository = revealed["oci-us-central-01-argocd-repository"]["inputs"]["stringData"]
    assert repository["type"] == "oci" and repository["url"] == "oci://ghcr.io/acme/fleet-manifests"


def test_without_a_token_nothing_is_stored(prod_synth: dict) -> None:
    names = by_name(prod_synth)
    assert not [n for n in names if n.endswith(("-flux-repository", "-argocd-repository"))]
    for name, resource in names.items():
        if name.endswith("-flux-instance"):
            assert "pullSecret" not in resource["inputs"]["spec"]["sync"]


def test_identity_data_uses_runtime_values() -> None:
    class Handle:
        oidc_issuer = "https://issuer"
        account = "123"
        resource_id = "arn:x"

    plan, _ = plan_documents(template(), cluster_set())
    data = identity_data(plan.clusters[0], Handle())  # type: ignore[arg-type]
    assert data["OIDC_ISSUER"] == "https://issuer" and data["CLOUD_ACCOUNT"] == "123"
    assert data["CLUSTER_RESOURCE_ID"] == "arn:x"


def test_docs_section_exists() -> None:
    text = (PROJECT_DIR / "README.md").read_text()
    for phrase in ("zero touch", "cluster-identity", "ApplicationSet", "clusters/<environment>"):
        assert phrase.lower() in text.lower(), phrase
    assert Path(PROJECT_DIR / "gitops" / "README.md").is_file()


def test_a_flux_hub_runs_kustomize_controller_as_its_cloud_identity():
    # Azure workload identity: the service account names the client id, the pods carry the label
    patches = flux.hub_identity_patches({"azure.workload.identity/client-id": "0000-client"},
                                        {"azure.workload.identity/use": "true"})
    assert [(p["target"]["kind"], p["target"]["name"]) for p in patches] == [
        ("ServiceAccount", "kustomize-controller"), ("Deployment", "kustomize-controller")]
    account, deployment = (yaml.safe_load(p["patch"]) for p in patches)
    assert account["metadata"]["annotations"] == {"azure.workload.identity/client-id": "0000-client"}
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"azure.workload.identity/use": "true"}
    # GKE and EKS Pod Identity need no pod label: no Deployment patch
    assert [p["target"]["kind"] for p in flux.hub_identity_patches({"iam.gke.io/gcp-service-account": "x"}, {})] == [
        "ServiceAccount"]
