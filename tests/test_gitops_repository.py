"""The reference fleet repository (gitops/): it builds, validates, and selects the intended clusters.

ApplicationSet cluster-generator selectors are evaluated with Kubernetes label-selector semantics
against the registrations the prod and staging stacks write; the Flux add-on layer, substituted
with each cluster's identity, must switch on exactly the same add-ons.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fleet.gitops.identity import static_identity, sync_components
from fleet.plan import ClusterPlan
from fleet.stack import PROJECT_DIR
from tests.gitops_support import (
    GITOPS,
    INTENDED,
    KUBECTL,
    argocd_registrations,
    example_plans,
    has_crd,
    is_core,
    kustomization_dirs,
    kustomize_build,
    load_kustomization,
    normalise_numbers,
    objects_by,
    selector_matches,
    substitute,
    validate_custom,
)

ENVIRONMENTS = ("production", "staging")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (apt-get install kubectl)"
)
KUBERNETES_VERSION = "1.35.0"

# Which Flux Kustomization (and which resolved folder) is the twin of each ApplicationSet.
FLUX_TWINS = {
    name: (f"addon-{name}", "true")
    for name in (
        "gatekeeper",
        "kyverno",
        "trivy-operator",
        "kube-prometheus-stack",
        "opentelemetry-operator",
        "cilium",
    )
}
FLUX_TWINS |= {
    "workload-baseline": ("purpose", "workload"),
    "compliance-gdpr": ("compliance", "gdpr"),
    "production-guardrails": ("production-guardrails", "production"),
}


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plans() -> dict[str, ClusterPlan]:
    return example_plans()


@pytest.fixture(scope="module")
def registrations(prod_synth: dict, staging_synth: dict) -> dict[str, dict[str, str]]:
    """Every registration the stacks write, by cluster: Argo CD cluster Secrets (an Argo CD hub's
    spokes, every Argo CD cluster's own) and a Flux hub's per-spoke Kustomizations."""
    found: dict[str, dict[str, str]] = {}
    for synth in (prod_synth, staging_synth):
        for name, body in argocd_registrations(synth).items():
            found[name] = body["metadata"]["labels"]
        for _cluster, _record, body in objects_by(synth, "Kustomization"):
            labels = body["metadata"]["labels"]
            found.setdefault(body["spec"]["postBuild"]["substitute"]["CLUSTER_NAME"], labels)
    return found


@pytest.fixture(scope="module")
def appsets() -> dict[str, dict]:
    found = {}
    for environment in ENVIRONMENTS:
        for path in sorted((GITOPS / "addons" / "argocd").glob("*/*.yaml")):
            if path.name == "kustomization.yaml" or path.parent.name not in ("base", environment):
                continue
            for document in yaml.safe_load_all(path.read_text()):
                if document and document["kind"] == "ApplicationSet" and "generators" in document["spec"]:
                    found[document["metadata"]["name"]] = document
    return found


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository whose kustomization.yaml files a test may rewrite."""
    root = tmp_path_factory.mktemp("repo") / "gitops"
    shutil.copytree(GITOPS, root)
    return root


# --- structure -------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", kustomization_dirs(), ids=lambda p: str(p.relative_to(GITOPS)))
def test_every_listed_resource_exists_and_parses(folder: Path) -> None:
    """Holds without kubectl too: every file or folder a kustomization names is there and is YAML."""
    kustomization = load_kustomization(folder)
    assert kustomization["kind"] in ("Kustomization", "Component")
    entries = [
        *(kustomization.get("resources") or []),
        *(kustomization.get("components") or []),
        *[p["path"] for p in kustomization.get("patches") or [] if "path" in p],
    ]
    for entry in entries:
        target = (folder / entry).resolve()
        assert target.exists(), f"{folder}: {entry}"
        assert GITOPS.resolve() in target.parents, f"{entry} leaves the repository"
        files = [target] if target.is_file() else [target / "kustomization.yaml"]
        for file in files:
            assert all(isinstance(d, dict) for d in yaml.safe_load_all(file.read_text()) if d is not None)


@needs_kubectl
@pytest.mark.parametrize(
    "folder",
    [d for d in kustomization_dirs() if load_kustomization(d)["kind"] == "Kustomization"],
    ids=lambda p: str(p.relative_to(GITOPS)),
)
def test_every_kustomization_builds(folder: Path) -> None:
    kustomize_build(folder)


@needs_kubectl
@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(
    "components",
    [
        [],
        ["flux"],
        ["argocd"],
        ["flux", "production-fleet-us-east-01"],
        ["argocd", "a-cluster-without-a-folder"],
    ],
)
def test_environment_path_with_components(scratch: Path, environment: str, components: list[str]) -> None:
    """What a cluster's own sync builds: the environment path plus its optional Components."""
    folder = scratch / "clusters" / environment
    original = (folder / "kustomization.yaml").read_text()
    try:
        objects = kustomize_build(folder, components)
    finally:
        (folder / "kustomization.yaml").write_text(original)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "PriorityClass"} <= kinds
    assert ("ApplicationSet" in kinds) == ("argocd" in components)
    assert ("Kustomization" in kinds) == ("flux" in components)
    expected_quota = environment == "production" and "production-fleet-us-east-01" in components
    assert ("ResourceQuota" in kinds) == expected_quota


def test_sync_components_exist_in_the_repository(plans: dict[str, ClusterPlan]) -> None:
    for cluster in plans.values():
        path = PROJECT_DIR / cluster.gitops.environment_path
        assert (path / "kustomization.yaml").is_file(), cluster.name
        for component in sync_components(cluster)[:-1]:
            assert load_kustomization(path / component)["kind"] == "Component"


def test_production_only_settings_live_in_the_production_overlay() -> None:
    def text(folder: Path) -> str:
        return "".join(p.read_text() for p in sorted(folder.rglob("*.yaml")))

    for engine in ("argocd", "flux"):
        layers = {name: text(GITOPS / "addons" / engine / name) for name in ("base", "staging", "production")}
        for setting in ("replicas: 3", "retention: 30d", "production-guardrails"):
            assert setting in layers["production"], (engine, setting)
            assert setting not in layers["base"] + layers["staging"], (engine, setting)
    assert "restricted" in text(GITOPS / "environments" / "production")
    assert "patches" not in text(GITOPS / "environments" / "staging")


def test_gdpr_settings_only_where_compliance_is_gdpr() -> None:
    """GDPR settings exist only in the folder the compliance=gdpr selectors reach (comments and
    resource lists aside)."""
    mentions = set()
    for path in GITOPS.rglob("*.yaml"):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if path.name == "kustomization.yaml":
            documents = [{k: v for k, v in d.items() if k != "resources"} for d in documents]
        if "gdpr" in yaml.safe_dump_all(documents).lower():
            mentions.add(str(path.relative_to(GITOPS)))
    assert mentions == {
        "addons/argocd/base/compliance-gdpr.yaml",
        "addons/compliance/gdpr/data-classification.yaml",
        "addons/compliance/gdpr/kustomization.yaml",  # its placement label (README, "Placement labels")
    }


def test_chart_versions_agree_between_engines() -> None:
    charts_argo = {}
    for path in (GITOPS / "addons" / "argocd" / "base").glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        source = document.get("spec", {}).get("template", {}).get("spec", {}).get("source", {})
        if "chart" in source:
            charts_argo[source["chart"]] = (source["repoURL"], source["targetRevision"])
    charts_flux = {}
    for path in (GITOPS / "addons" / "flux").glob("*/true/release.yaml"):
        documents = {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}
        chart = documents["HelmRelease"]["spec"]["chart"]["spec"]
        url = documents["HelmRepository"]["spec"]["url"]  # Argo CD names an OCI registry without oci://
        charts_flux[chart["chart"]] = (url.removeprefix("oci://"), chart["version"])
    assert charts_argo == charts_flux
    assert set(charts_argo) == {
        "gatekeeper",
        "kyverno",
        "trivy-operator",
        "kube-prometheus-stack",
        "opentelemetry-operator",
        "gateway-helm",
    }


# --- selection -------------------------------------------------------------------------------


def test_registrations_cover_both_stacks(registrations: dict, plans: dict[str, ClusterPlan]) -> None:
    for name, labels in registrations.items():
        assert {k: labels[k] for k in plans[name].labels} == dict(plans[name].labels), name
    flux_hubs = {n for n, c in plans.items() if c.is_hub and c.gitops.engine == "flux"}
    assert set(registrations) == set(plans) - flux_hubs  # a Flux hub applies its own add-ons


@pytest.mark.parametrize("name", sorted(INTENDED))
def test_applicationset_selects_exactly_the_intended_clusters(
    name: str, appsets: dict, registrations: dict, plans: dict[str, ClusterPlan]
) -> None:
    generators = appsets[name]["spec"]["generators"]
    assert [list(g) for g in generators] == [["clusters"]]
    selector = generators[0]["clusters"].get("selector")
    assert selector, "an empty selector would select every cluster"
    selected = {n for n, labels in registrations.items() if selector_matches(selector, labels)}
    intended = {n for n in registrations if INTENDED[name](plans[n])}
    assert selected == intended
    assert selected, f"{name} selects no cluster of the example stacks"


def test_selection_is_not_trivial(registrations: dict, plans: dict[str, ClusterPlan]) -> None:
    """The example stacks hold clusters on both sides of every distinction the tests rely on."""
    for decide in (
        INTENDED["workload-baseline"],
        INTENDED["production-guardrails"],
        INTENDED["compliance-gdpr"],
    ):
        assert {decide(plans[n]) for n in registrations} == {True, False}


def test_application_names_are_unique_per_cluster(appsets: dict, registrations: dict) -> None:
    names = []
    for appset in appsets.values():
        template = appset["spec"]["template"]["metadata"]["name"]
        assert template.startswith("{{.name}}-"), template
        selector = appset["spec"]["generators"][0]["clusters"]["selector"]
        names += [
            template.replace("{{.name}}", n)
            for n, labels in registrations.items()
            if selector_matches(selector, labels)
        ]
    assert len(names) == len(set(names))


def test_selector_semantics() -> None:
    labels = {"env": "production", "purpose": "workload"}
    assert selector_matches({"matchLabels": {"env": "production"}}, labels)
    assert not selector_matches({"matchLabels": {"env": "staging"}}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["production"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "compliance", "operator": "In", "values": ["gdpr"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "compliance", "operator": "NotIn", "values": ["gdpr"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "purpose", "operator": "Exists"}]}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "purpose", "operator": "DoesNotExist"}]}, labels
    )
    assert selector_matches({}, labels)


@needs_kubectl
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_flux_layer_switches_on_the_same_add_ons(
    environment: str, appsets: dict, registrations: dict, plans: dict[str, ClusterPlan]
) -> None:
    """The Flux twin of every ApplicationSet, substituted with a cluster's identity, resolves to the
    enabled folder exactly for the clusters the ApplicationSet selects (and the folder exists)."""
    layer = kustomize_build(GITOPS / "addons" / "flux" / environment)
    text = yaml.safe_dump_all(layer)
    for name, cluster in plans.items():
        if cluster.environment != environment:
            continue
        resolved = {
            d["metadata"]["name"]: d for d in yaml.safe_load_all(substitute(text, static_identity(cluster)))
        }
        for appset, (kustomization, enabled) in FLUX_TWINS.items():
            selected = name in registrations and selector_matches(
                appsets[appset]["spec"]["generators"][0]["clusters"]["selector"], registrations[name]
            )
            intended = INTENDED[appset](cluster)
            if name in registrations:
                assert selected == intended
            if kustomization not in resolved:
                assert not intended, (name, appset)
                continue
            path = resolved[kustomization]["spec"]["path"]
            assert (PROJECT_DIR / path / "kustomization.yaml").is_file(), (name, path)
            assert path.endswith(f"/{enabled}") == intended, (name, appset, path)


# --- schemas ---------------------------------------------------------------------------------


def repository_objects(environment: str) -> list[dict]:
    """Every object the repository can apply in `environment`: the environment path, both add-on
    layers and every folder they switch to (Flux variables substituted with a sample identity)."""
    sample = {
        "CLUSTER_NAME": "sample-01",
        "REGION": "us-east",
        "ENVIRONMENT": environment,
        "CLOUD": "aws",
        "PURPOSE": "workload",
        "FLEET_REPO_PATH": "gitops",
        "FLEET_SOURCE_KIND": "GitRepository",
    }
    folders = [
        GITOPS / "clusters" / environment,
        GITOPS / "addons" / "argocd" / environment,
        GITOPS / "addons" / "flux" / environment,
    ]
    folders += [
        d for d in kustomization_dirs() if GITOPS / "addons" / "flux" in d.parents and d.name == "true"
    ]
    folders += [d for d in kustomization_dirs() if d.parent.name in ("purpose", "compliance")]
    folders += [GITOPS / "addons" / "production", GITOPS / "addons" / "cilium"]
    objects = []
    for folder in folders:
        objects += yaml.safe_load_all(substitute(yaml.safe_dump_all(kustomize_build(folder)), sample))
    return [o for o in objects if o]


@needs_kubectl
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_repository_objects_validate(environment: str, shared_dir: Path) -> None:
    checked = {"core": 0, "crd": 0}
    unchecked = set()
    for body in repository_objects(environment):
        if is_core(body):
            kubernetes_validate.validate(normalise_numbers(body), KUBERNETES_VERSION, strict=True)
            checked["core"] += 1
        elif has_crd(body):
            validate_custom(body)
            checked["crd"] += 1
        else:
            unchecked.add(f"{body['apiVersion']}/{body['kind']}")
            assert body["metadata"]["name"]
    assert checked["core"] and checked["crd"]
    # No upstream schema in ../shared for these (Flux helm/source APIs, Cilium): shape-checked only.
    assert unchecked <= {
        "helm.toolkit.fluxcd.io/v2/HelmRelease",
        "source.toolkit.fluxcd.io/v1/HelmRepository",
        "cilium.io/v2/CiliumClusterwideNetworkPolicy",
    }, unchecked
