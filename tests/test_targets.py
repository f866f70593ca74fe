"""fleet targets: every add-on of the fleet repository, and exactly the clusters it reaches.

The evaluation (fleet.targets) is checked three ways: against what each add-on is meant for (a
decision on the plan, independent of any selector), against what the program really registers
(the synthesised cluster Secrets), and on small repositories that exercise each generator,
selector and substitution rule of Argo CD and Flux.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fleet import cli
from fleet.gotemplate import NotEvaluatedError, TemplateError, render
from fleet.kustomize import Repository, Unknown, substitute
from fleet.plan import ClusterPlan, FleetPlan
from fleet.stack import PROJECT_DIR, plan_stack, read_stack_file
from fleet.targets import Report, evaluate, registration, selector_matches
from tests.gitops_support import INTENDED, argocd_registrations

# The Flux twin of each: the Kustomization whose folder is non-empty exactly there.
FLUX_TWINS = {name: f"addon-{name}" for name in list(INTENDED)[:6]}
FLUX_TWINS |= {"workload-baseline": "purpose", "compliance-gdpr": "compliance",
               "production-guardrails": "production-guardrails"}


def stack_plan(stack: str, project: Path = PROJECT_DIR) -> FleetPlan:
    config, problems = read_stack_file(project, stack)
    assert not problems
    result = plan_stack(config, project)
    assert not result.problems, result.problems
    return result.plan


@pytest.fixture(scope="module")
def reports() -> dict[str, tuple[FleetPlan, Report]]:
    found = {}
    for stack in ("prod", "staging"):
        plan = stack_plan(stack)
        found[stack] = (plan, evaluate(stack, plan, Repository(PROJECT_DIR)))
    return found


def delivered_by(plan: FleetPlan, cluster: ClusterPlan) -> str:
    """The engine that delivers a cluster's add-ons: its hub's, or its own without a hub."""
    hub = next((c for c in plan.clusters if c.name == cluster.hub), None)
    if hub is not None and hub.gitops.engine == "argocd":
        return "argocd"
    return cluster.gitops.engine


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_addon_reaches_exactly_its_clusters(stack: str, reports: dict) -> None:
    plan, report = reports[stack]
    for addon, meant_for in INTENDED.items():
        by_engine = {"argocd": f"ApplicationSet/argocd/{addon}",
                     "flux": f"Kustomization/flux-system/{FLUX_TWINS[addon]}"}
        for engine, key in by_engine.items():
            expected = {c.name for c in plan.clusters if meant_for(c) and delivered_by(plan, c) == engine}
            target = report.targets.get(key)
            reached = target.clusters if target else set()
            assert reached == expected, (stack, key)
            if expected:
                assert not target.unevaluated, (key, target.unevaluated)


def test_gdpr_only_on_gdpr_clusters_and_guardrails_only_in_production(reports: dict) -> None:
    prod_plan, prod = reports["prod"]
    _, staging = reports["staging"]
    gdpr = {c.name for c in prod_plan.clusters if c.labels.get("compliance") == "gdpr"}
    assert prod.targets["ApplicationSet/argocd/compliance-gdpr"].clusters == gdpr == {
        "production-fleet-eu-west-01", "production-fleet-eu-west-02"}
    assert staging.targets["Kustomization/flux-system/compliance"].clusters == {"staging-fleet-eu-west-01"}
    assert "ApplicationSet/argocd/production-guardrails" not in staging.targets
    assert not staging.targets.get("Kustomization/flux-system/production-guardrails")
    assert prod.targets["ApplicationSet/argocd/production-guardrails"].clusters == {c.name for c in prod_plan.clusters}
    # the repository's own placement labels agree with where it lands: nothing misplaced
    assert not prod.findings and not staging.findings


def test_every_object_of_the_repository_is_a_target(reports: dict) -> None:
    """Every ApplicationSet and Flux Kustomization of gitops/addons shows up in some stack."""
    declared = set()
    for path in (PROJECT_DIR / "gitops" / "addons").rglob("*.yaml"):
        for body in yaml.safe_load_all(path.read_text()):
            if body and body.get("kind") in ("ApplicationSet", "Kustomization") and "spec" in body \
                    and body["apiVersion"].split("/")[0] in ("argoproj.io", "kustomize.toolkit.fluxcd.io") \
                    and (body["kind"] == "Kustomization" or "generators" in body["spec"]):
                declared.add((body["kind"], body["metadata"]["name"]))
    listed = {(t.kind, t.name) for _, report in reports.values() for t in report.targets.values()}
    assert declared <= listed, declared - listed


def test_registrations_are_what_the_program_writes(prod_synth: dict, staging_synth: dict, reports: dict) -> None:
    """fleet.targets' model of each Argo CD cluster Secret equals the recorded Secret: every label,
    and every annotation known before the cluster exists."""
    checked = 0
    for stack, synth in (("prod", prod_synth), ("staging", staging_synth)):
        plan, _ = reports[stack]
        by_name = {c.name: c for c in plan.clusters}
        for name, body in argocd_registrations(synth).items():
            model = registration(by_name[name], "")
            recorded = body["metadata"]
            assert {k: v for k, v in recorded["labels"].items() if k != "fleet.example.com/managed-by"} \
                == dict(model.labels), name
            known = {k: v for k, v in model.annotations.items() if not isinstance(v, Unknown)}
            assert {k: recorded["annotations"].get(k) for k in known} == known, name
            checked += 1
    assert checked >= 8


# --- label selectors ------------------------------------------------------------------------------


def test_selector_semantics() -> None:
    labels = {"env": "production", "compliance": "gdpr"}
    assert selector_matches({}, labels)
    assert selector_matches({"matchLabels": {"env": "production"}}, labels)
    assert not selector_matches({"matchLabels": {"env": "staging"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["x"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "region", "operator": "In", "values": ["x"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "compliance", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "compliance", "operator": "DoesNotExist"}]}, labels)
    both = {"matchLabels": {"env": "production"},
            "matchExpressions": [{"key": "compliance", "operator": "NotIn", "values": ["gdpr"]}]}
    assert not selector_matches(both, labels)  # ANDed
    for bad in ({"key": "a", "operator": "In", "values": []}, {"key": "a", "operator": "Exists", "values": ["x"]},
                {"key": "a", "operator": "Equals", "values": ["x"]}):
        with pytest.raises(TemplateError):
            selector_matches({"matchExpressions": [bad]}, labels)


# --- templates ------------------------------------------------------------------------------------


def test_go_template_semantics() -> None:
    params = {"name": "eu-1", "metadata": {"labels": {"env": "prod"}, "annotations": {}}}
    assert render("{{.name}}-app", params, True) == "eu-1-app"
    assert render('{{index .metadata.labels "env"}}', params, True) == "prod"
    assert render('{{ index .metadata.labels "nope" }}', params, True, missing_error=True) == "<no value>"
    assert render("{{.nope}}", params, True) == "<no value>"
    with pytest.raises(TemplateError):
        render("{{.nope}}", params, True, missing_error=True)
    with pytest.raises(TemplateError):
        render("{{.nope.deeper}}", params, True)
    assert render("{{ .name | upper }}", params, True) == "EU-1"
    assert render("a  {{- .name -}}  b", params, True) == "aeu-1b"
    with pytest.raises(NotEvaluatedError):
        render("{{ if .name }}x{{ end }}", params, True)
    with pytest.raises(NotEvaluatedError):
        render("{{ .name | sha256sum }}", params, True)
    assert isinstance(render("{{.name}}", {"name": Unknown("<later>")}, True), Unknown)
    flat = {"name": "eu-1", "metadata.labels.env": "prod"}
    assert render("{{name}}/{{ metadata.labels.env }}/{{nope}}", flat, False) == "eu-1/prod/{{nope}}"


def test_flux_substitution_semantics() -> None:
    variables = {"SET": "yes", "EMPTY": ""}
    assert substitute("${SET:=no}", variables) == "yes"
    assert substitute("${EMPTY:=fallback}", variables) == "fallback"
    assert substitute("${UNSET:=fallback}", variables) == "fallback"
    assert substitute("${UNSET:-fallback}", variables) == "fallback"
    assert substitute("a/${UNSET}/b", variables) == "a//b"
    assert substitute("$${SET}", variables) == "${SET}"
    assert isinstance(substitute("${LATER}", {"LATER": Unknown("x")}), Unknown)


# --- small repositories ---------------------------------------------------------------------------


def appset(name: str, generators: list, template_name: str = "{{.name}}-%s", go: bool = True,
           path: str | None = None, **spec: object) -> dict:
    source = ({"repoURL": "{{.metadata.annotations.fleet_repo_url}}", "targetRevision": "main", "path": path}
              if path else {"repoURL": "https://charts.example", "chart": name, "targetRevision": "1.0.0"})
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"goTemplate": go, "goTemplateOptions": ["missingkey=error"], "generators": generators, **spec,
                     "template": {"metadata": {"name": template_name.replace("%s", name)},
                                  "spec": {"project": "default", "source": source,
                                           "destination": {"server": "{{.server}}" if go else "{{server}}",
                                                           "namespace": "x"}}}}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's stacks, blueprints and fleet repository, for a test to change."""
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "blueprints", tmp_path / "blueprints")
    shutil.copytree(PROJECT_DIR / "gitops", tmp_path / "gitops")
    return tmp_path


def add_to_layer(project: Path, layer: str, file: str, documents: list[dict]) -> None:
    folder = project / "gitops" / layer
    (folder / file).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    kustomization.setdefault("resources", []).append(file)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))


def prod_report(project: Path) -> Report:
    return evaluate("prod", stack_plan("prod", project), Repository(project))


def test_list_matrix_merge_and_post_selector(project: Path) -> None:
    eu = {"matchLabels": {"region": "eu-west"}}
    documents = [
        appset("by-list", [{"list": {"elements": [{"cluster": "production-fleet-hub",
                                                   "url": "https://kubernetes.default.svc"}]}}],
               "{{.cluster}}-by-list"),
        appset("matrix", [{"matrix": {"generators": [{"clusters": {"selector": eu}},
                                                     {"list": {"elements": [{"app": "a"}, {"app": "b"}]}}]}}],
               "{{.name}}-{{.app}}"),
        appset("merged", [{"merge": {"mergeKeys": ["server"], "generators": [
            {"clusters": {"selector": eu, "values": {"tier": "one"}}},
            {"clusters": {"selector": {"matchLabels": {"region": "eu-west"}}, "values": {"tier": "two"}}}]}}],
               "{{.name}}-merged-{{.values.tier}}"),
        appset("post", [{"clusters": {}, "selector": {"matchLabels": {"name": "production-fleet-us-east-02"}}}]),
        appset("nested-dropped", [{"matrix": {"generators": [
            {"matrix": {"generators": [{"clusters": {"selector": eu}, "selector": {"matchLabels": {"name": "x"}}},
                                       {"list": {"elements": [{"k": "v"}]}}]}},
            {"list": {"elements": [{"j": "w"}]}}]}}], "{{.name}}-nested"),
        appset("git", [{"git": {"repoURL": "https://x", "revision": "main", "directories": [{"path": "*"}]}}]),
        appset("flat", [{"clusters": {"flatList": True}}], "flat"),
        appset("fast", [{"clusters": {"selector": {"matchLabels": {"compliance": "gdpr"}}}}],
               "{{name}}-{{metadata.labels.region}}", go=False),
    ]
    documents[0]["spec"]["template"]["spec"]["destination"] = {"server": "{{.url}}", "namespace": "x"}
    add_to_layer(project, "addons/argocd/base", "extra.yaml", documents)
    report = prod_report(project)
    targets = report.targets
    eu_clusters = {"production-fleet-eu-west-01", "production-fleet-eu-west-02"}
    assert targets["ApplicationSet/argocd/by-list"].clusters == {"production-fleet-hub"}
    matrix = targets["ApplicationSet/argocd/matrix"]
    assert matrix.clusters == eu_clusters
    assert sorted(matrix.applications["production-fleet-eu-west-01"]) == [
        "production-fleet-eu-west-01-a", "production-fleet-eu-west-01-b"]
    assert targets["ApplicationSet/argocd/merged"].applications["production-fleet-eu-west-02"] == [
        "production-fleet-eu-west-02-merged-two"]
    assert targets["ApplicationSet/argocd/post"].clusters == {"production-fleet-us-east-02"}
    assert targets["ApplicationSet/argocd/nested-dropped"].clusters == eu_clusters  # nested selector ignored
    assert targets["ApplicationSet/argocd/fast"].applications["production-fleet-eu-west-01"] == [
        "production-fleet-eu-west-01-eu-west"]
    for name in ("git", "flat"):
        target = targets[f"ApplicationSet/argocd/{name}"]
        assert not target.clusters and target.unevaluated, name  # reported, never guessed
    assert "git generator" in targets["ApplicationSet/argocd/git"].unevaluated[0]


def test_widened_gdpr_selector_is_misplaced(project: Path) -> None:
    """The war story: the GDPR ApplicationSet's selector loses its compliance requirement."""
    path = project / "gitops/addons/argocd/base/compliance-gdpr.yaml"
    body = yaml.safe_load(path.read_text())
    body["spec"]["generators"][0]["clusters"]["selector"] = {"matchLabels": {"purpose": "workload"}}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    report = prod_report(project)
    misplaced = {f.cluster for f in report.findings if f.rule == "misplaced"}
    assert misplaced == {"production-fleet-us-east-01", "production-fleet-us-east-02", "production-fleet-us-east-03",
                         "production-fleet-us-central-01"}
    assert all("placement.fleet.example.com/compliance=gdpr" in f.message for f in report.findings)


def test_duplicate_application_names_are_found(project: Path) -> None:
    twin = appset("gatekeeper-copy", [{"clusters": {"selector": {"matchLabels": {"enable_gatekeeper": "true"}}}}],
                  "{{.name}}-gatekeeper")
    add_to_layer(project, "addons/argocd/base", "copy.yaml", [twin])
    report = prod_report(project)
    duplicates = [f for f in report.findings if f.rule == "duplicate-application"]
    assert duplicates and {f.cluster for f in duplicates} == {"production-fleet-hub"}
    assert "production-fleet-us-east-01-gatekeeper" in " ".join(f.message for f in duplicates)


def test_flux_path_problems_are_found(project: Path) -> None:
    """A switch whose folder is missing, and a variable nothing substitutes, are findings."""
    layers = project / "gitops/addons/flux/base/layers.yaml"
    documents = list(yaml.safe_load_all(layers.read_text()))
    documents[0]["spec"]["path"] = "${FLEET_REPO_PATH:=.}/addons/purpose/${PURPOSE}-renamed"
    layers.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    plan = stack_plan("staging", project)
    report = evaluate("staging", plan, Repository(project))
    missing = {f.cluster for f in report.findings if f.rule == "path-missing" and f.target.endswith("/purpose")}
    assert missing == {"staging-fleet-hub", "staging-fleet-eu-west-01", "staging-fleet-us-central-01"}


# --- command line ---------------------------------------------------------------------------------


def test_cli_json_shape(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_DIR)
    assert cli.main(["targets", "--stack", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["targets"]
    for target in document["targets"]:
        assert {"name", "kind", "engine", "clusters"} <= set(target)
        assert target["engine"] in ("argocd", "flux")
    kinds = {t["kind"] for t in document["targets"]}
    assert {"ApplicationSet", "Application", "Kustomization", "Component"} <= kinds


def test_cli_wrong_repository_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.chdir(PROJECT_DIR)
    assert cli.main(["targets", "--stack", "prod", "--repo", str(tmp_path)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "pass --repo" in error and "'gitops'" in error


def test_malformed_repository_content_is_reported_not_a_crash(project: Path) -> None:
    bad = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "bad"},
            "spec": [1, 2]},
           {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "bad2"},
            "spec": {"generators": [{"clusters": {"selector": {"matchLabels": [1]}}}], "template": {}}}]
    add_to_layer(project, "addons/argocd/base", "bad.yaml", bad)
    (project / "gitops/addons/compliance/gdpr/data-classification.yaml").write_text("{{{ not yaml")
    report = prod_report(project)
    assert {(f.rule, f.target) for f in report.findings} >= {("malformed", "ApplicationSet/bad"),
                                                              ("malformed", "ApplicationSet/bad2")}
    gdpr = report.targets["ApplicationSet/argocd/compliance-gdpr"]
    assert any("cannot be read as YAML" in reason for reason in gdpr.unevaluated)


def test_the_same_flux_object_from_two_places_is_found(project: Path) -> None:
    """A Kustomization `purpose` added to the staging environment path: a Flux hub's own sync now
    builds it twice (kustomize refuses), and each Flux spoke gets it from its own sync and from the
    hub's registration (two owners of one object)."""
    twin = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "purpose", "namespace": "flux-system"},
            "spec": {"interval": "1h", "prune": True, "path": "./gitops/addons/purpose/workload",
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    add_to_layer(project, "environments/staging", "twin.yaml", [twin])
    report = evaluate("staging", stack_plan("staging", project), Repository(project))
    builds = {f.cluster for f in report.findings if f.rule == "build-fails"}
    owners = {f.cluster for f in report.findings if f.rule == "duplicate-object"}
    assert builds == {"staging-fleet-hub"}
    assert owners == {"staging-fleet-eu-west-01", "staging-fleet-us-central-01"}
    assert all("Kustomization 'purpose' twice" in f.message for f in report.findings if f.rule == "build-fails")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (apt-get install kubectl)")
def test_the_offline_build_is_kustomize_s() -> None:
    """fleet.kustomize builds every kustomization of gitops/ to exactly what `kubectl kustomize` does."""
    import subprocess

    repository = Repository(PROJECT_DIR)
    folders = [p.parent for p in (PROJECT_DIR / "gitops").rglob("kustomization.yaml")
               if yaml.safe_load(p.read_text()).get("kind") == "Kustomization"]
    assert len(folders) > 20

    def ident(body: dict) -> tuple[str, str, str]:
        return body["kind"], body["metadata"].get("namespace", ""), body["metadata"]["name"]

    for folder in folders:
        text = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True).stdout
        expected = sorted((d for d in yaml.safe_load_all(text) if d), key=ident)
        build = repository.build(str(folder.relative_to(PROJECT_DIR)))
        assert not build.unevaluated and not build.errors, folder
        assert sorted(build.objects, key=ident) == expected, folder
