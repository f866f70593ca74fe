"""The version policy (issue #14): a date alone never refuses what runs; introducing an unsupported
version, a version past the end of all support and unknown versions are refused. Every test names
its date: none depends on today's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from fleet.cli import main
from fleet.plan import expand
from fleet.settings import parse_settings
from fleet.spec import versions
from fleet.spec.load import RawDocument, parse_documents
from fleet.spec.versions import ERROR, WARNING, VersionPolicy, judge
from tests.helpers import cluster_set, template

# The morning of the bug: EKS 1.34 left standard support yesterday, AKS 1.34 on 2026-11-30.
MORNING = date(2026, 12, 3)
EXTENDED = VersionPolicy(extended_support=True)
STANDARD = VersionPolicy(extended_support=False)


@pytest.mark.parametrize(("provider", "policy"), [("aws", EXTENDED), ("aws", STANDARD),
                                                  ("azure", EXTENDED), ("azure", STANDARD)])
def test_a_running_version_past_standard_support_is_a_warning(provider, policy):
    verdict = judge(provider, "1.34", MORNING, policy, running="1.34")
    assert verdict is not None and verdict.severity == WARNING
    service = {"aws": "EKS", "azure": "AKS"}[provider]
    assert f"Kubernetes 1.34 left standard support on {service}" in verdict.message
    assert "upgrade to 1.35" in verdict.message  # the remedy
    if policy.extended_support:
        assert "until 2027-11-30" in verdict.message or "until 2027-12-02" in verdict.message
    else:
        assert "extendedSupport is off" in verdict.message


def test_introducing_a_version_past_standard_support_is_refused_unless_extended_support_is_allowed():
    new_cluster = judge("azure", "1.34", MORNING, STANDARD, running=None)
    assert new_cluster is not None and new_cluster.severity == ERROR
    assert "may not introduce it" in new_cluster.message
    assert "fleet:versionPolicy.extendedSupport: true" in new_cluster.message
    downgrade = judge("aws", "1.34", MORNING, STANDARD, running="1.35")
    assert downgrade is not None and downgrade.severity == ERROR
    allowed = judge("aws", "1.34", MORNING, EXTENDED, running=None)
    assert allowed is not None and allowed.severity == WARNING and "introduced under" in allowed.message


def test_past_the_end_of_all_support_and_unknown_versions_are_refused_even_when_running():
    ended = judge("aws", "1.31", MORNING, EXTENDED, running="1.31")  # extended support ended 2026-11-26
    assert ended is not None and ended.severity == ERROR and "extended support ended 2026-11-26" in ended.message
    gke = judge("gcp", "1.34", MORNING, EXTENDED, running="1.34")  # GKE: no extended dates tracked
    assert gke is not None and gke.severity == ERROR
    for version in ("1.99", "one.two"):
        verdict = judge("aws", version, MORNING, EXTENDED, running=version)
        assert verdict is not None and verdict.severity == ERROR


@pytest.mark.parametrize(("day", "warn_days", "expected"), [
    (date(2027, 1, 25), 60, None),  # 61 days before EKS 1.35's standard end (2027-03-27)
    (date(2027, 1, 26), 60, WARNING),  # 60 days before
    (date(2027, 3, 1), 30, WARNING),
    (date(2027, 2, 1), 30, None),
    (date(2027, 3, 27), 60, WARNING),  # the day it ends, running on extended support
    (date(2028, 3, 27), 60, ERROR),  # the end of extended support
])
def test_policy_at_several_dates(day, warn_days, expected):
    verdict = judge("aws", "1.35", day, VersionPolicy(True, warn_days), running="1.35")
    assert (verdict.severity if verdict else None) == expected
    if expected == WARNING and day < date(2027, 3, 27):
        assert f"leaves standard support on EKS on 2027-03-27 (in {(date(2027, 3, 27) - day).days} days)" \
            in verdict.message


def test_hard_problem_is_what_the_guardrails_refuse():
    assert versions.hard_problem("aws", "1.34", MORNING) is None  # extended support: not a guardrail's error
    assert "past end of support" in versions.hard_problem("aws", "1.31", MORNING)


# --- through the planner --------------------------------------------------------------------


def _expand(version: str, day: date, running: dict[str, str] | None, policy: dict | None = None,
            clusters: int = 2, provider: str = "azure"):
    settings, problems = parse_settings({"gcpProject": "p", **({"versionPolicy": policy} if policy else {})}, "s")
    assert not problems
    documents = [template(version=version),
                 cluster_set(hub=None, regions=[{"name": "eu-west", "clusters": clusters, "template": "base",
                                                 "provider": provider}])]
    declaration, problems = parse_documents([RawDocument("fleet.yaml", d) for d in documents])
    assert not problems
    return expand(declaration, settings, "prod", day, running)


def test_expansion_warns_for_running_clusters_and_refuses_only_the_new_one():
    running = {"demo-eu-west-01": "1.34", "demo-eu-west-02": "1.34"}
    plan, problems = _expand("1.34", MORNING, running)
    assert problems == [] and len(plan.clusters) == 2
    assert [w.severity for w in _version_warnings(plan)] == [WARNING]
    assert "warning: Kubernetes 1.34 left standard support on AKS on 2026-11-30" in str(_version_warnings(plan)[0])
    _, problems = _expand("1.34", MORNING, running, clusters=3)  # a third cluster is new
    assert len(problems) == 1 and problems[0].severity == ERROR
    assert "(new demo-eu-west-03)" in str(problems[0]) and "may not introduce it" in str(problems[0])
    plan, problems = _expand("1.34", MORNING, running, policy={"extendedSupport": True}, clusters=3)
    assert problems == [] and all(c.extended_support for c in plan.clusters)


def test_without_a_record_of_what_runs_the_declaration_is_what_runs():
    """`pulumi up` deploys what a reviewed pull request merged: a date never stops it."""
    plan, problems = _expand("1.34", MORNING, None)
    assert problems == [] and plan.warnings


def _version_warnings(plan) -> list:
    return [w for w in plan.warnings if w.path == "spec.version"]


def test_warn_days_is_a_stack_setting():
    _, problems = _expand("1.35", date(2027, 2, 1), None, provider="aws")
    plan, _ = _expand("1.35", date(2027, 2, 1), None, policy={"warnDays": 30}, provider="aws")
    assert problems == [] and _version_warnings(plan) == []
    plan, _ = _expand("1.35", date(2027, 2, 1), None, policy={"warnDays": 90}, provider="aws")
    assert len(_version_warnings(plan)) == 1


# --- the command line: --as-of and --base (the pull-request check) ------------------------------


def _project(folder: Path, clusters: int, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    stack = {"config": {"fleet:declarations": ["fleet.yaml"], "fleet:gcpProject": "p",
                        "fleet:deployer": {"azure": "faa20390-bbe9-4192-83be-1827caeea269"}}}
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump(stack))
    documents = [template(version=version),
                 cluster_set(hub=None, regions=[{"name": "eu-west", "clusters": clusters, "template": "base",
                                                 "provider": "azure"}])]
    (folder / "fleet.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return folder


def test_validate_as_of_warns_and_the_pr_check_fails_only_on_an_introduction(tmp_path, monkeypatch, capsys):
    base = _project(tmp_path / "base", 2, "1.34")
    head = _project(tmp_path / "head", 2, "1.34")
    monkeypatch.chdir(head)
    assert main(["validate", "--as-of", "2026-12-03"]) == 0
    captured = capsys.readouterr()
    assert "valid: prod: 2 clusters" in captured.out
    assert "warning: Kubernetes 1.34 left standard support on AKS on 2026-11-30" in captured.err
    assert main(["validate", "--as-of", "2026-12-03", "--base", str(base)]) == 0
    capsys.readouterr()
    _project(head, 3, "1.34")  # the head adds a cluster on 1.34
    assert main(["validate", "--as-of", "2026-12-03", "--base", str(base)]) == 1
    err = capsys.readouterr().err
    assert "(new demo-eu-west-03)" in err and err.splitlines()[-1] == "1 problem(s) found"
    assert main(["validate", "--as-of", "2026-11-01", "--base", str(base)]) == 0  # a month earlier: fine
    assert main(["validate", "--as-of", "2027-12-01"]) == 1  # past the end of AKS 1.34 LTS too: refused
    assert main(["validate", "--as-of", "tomorrow"]) == 1
    assert "fleet validate: --as-of 'tomorrow': expected a day as YYYY-MM-DD" in capsys.readouterr().err


def test_plan_as_of_prints_warnings_and_keeps_its_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(_project(tmp_path / "p", 1, "1.34"))
    assert main(["plan", "--json", "--as-of", "2026-12-03"]) == 0
    captured = capsys.readouterr()
    assert '"version": "1.34"' in captured.out and "warning:" in captured.err
    assert '"wave"' not in captured.out  # no rollout declared: the row is as before


# --- Cilium's compatibility table ----------------------------------------------------------------


@pytest.mark.parametrize(("cilium", "kubernetes", "introducing", "expected"), [
    ("1.18.14", "1.33", True, None),
    ("1.18.14", "1.35", False, WARNING),  # runs already: the table never stops a deploy of it
    ("1.18.14", "1.35", True, ERROR),
    ("1.19.3", "1.35", True, None),
    ("1.19.3", "1.31", True, ERROR),
    ("1.17.9", "1.31", False, ERROR),  # not in fleet's copy of the table
    ("1.19", "1.33", False, ERROR),  # not a release
])
def test_cilium_compatibility(cilium, kubernetes, introducing, expected):
    verdict = versions.cilium_verdict(cilium, kubernetes, introducing)
    assert (verdict.severity if verdict else None) == expected
    if expected and "1.18.14" in cilium:
        assert "e2e-tested on Kubernetes 1.30, 1.31, 1.32, 1.33, not 1.35" in verdict.message
        assert "use Cilium 1.19.x" in verdict.message


def _cilium_plan(version: str, cilium: str | None, provider: str = "aws"):
    networking = {"cni": "cilium", **({"ciliumVersion": cilium} if cilium else {})}
    settings, _ = parse_settings({"gcpProject": "p"}, "s")
    documents = [template(version=version, networking=networking),
                 cluster_set(hub=None, environment="staging",
                             regions=[{"name": "us-east", "clusters": 1, "template": "base", "provider": provider}])]
    declaration, problems = parse_documents([RawDocument("fleet.yaml", d) for d in documents])
    assert not problems
    return expand(declaration, settings, "staging", MORNING, None)


def test_a_cilium_version_the_template_chooses_must_be_tested_on_its_kubernetes_minor():
    _, problems = _cilium_plan("1.35", "1.18.14")
    assert [p.path for p in problems] == ["spec.networking.ciliumVersion"]
    plan, problems = _cilium_plan("1.35", "1.19.3")
    assert problems == [] and plan.clusters[0].cilium_version == "1.19.3"
    plan, _ = _cilium_plan("1.35", "1.19.3", provider="azure")  # AKS: the cloud's managed Cilium
    assert plan.clusters[0].cilium_version is None


@pytest.mark.parametrize(("kubernetes", "cilium"), [
    ("1.30", "1.18.14"), ("1.31", "1.18.14"),  # only Cilium 1.18 is tested on them
    ("1.32", "1.19.3"), ("1.33", "1.19.3"),  # both are: the newest
    ("1.34", "1.19.3"), ("1.35", "1.19.3"),
])
def test_the_default_cilium_is_the_newest_release_tested_on_the_kubernetes_minor(kubernetes, cilium):
    assert versions.default_cilium(kubernetes) == cilium


def test_a_template_without_a_cilium_version_gets_the_one_tested_on_its_minor_and_no_warning():
    plan, problems = _cilium_plan("1.35", None)  # the example stacks' case: Cilium 1.18.14 was warned about
    assert problems == [] and plan.warnings == () and plan.clusters[0].cilium_version == "1.19.3"


def test_without_a_tested_cilium_the_default_is_the_newest_known_and_is_reported():
    assert versions.default_cilium("1.36") == versions.CILIUM_VERSION == "1.19.3"
    plan, problems = _cilium_plan("1.36", None)  # the declaration is what runs: a warning, never a refusal
    assert problems == [] and plan.clusters[0].cilium_version == "1.19.3"
    assert [w.path for w in plan.warnings] == ["spec.networking.cni"]
    assert "not 1.36" in plan.warnings[0].message and "choose another Kubernetes minor" in plan.warnings[0].message


def test_the_chosen_cilium_version_is_the_chart_fleet_installs():
    from tests.test_cloud_aws import PRODUCTION_SPEC, SETTINGS, _plans, _synthesize

    spec = {**PRODUCTION_SPEC, "networking": {**PRODUCTION_SPEC["networking"], "ciliumVersion": "1.19.3"}}
    synth = _synthesize(_plans(spec, "production", SETTINGS))
    releases = [synth.inputs(r) for r in synth.records if r.type == "kubernetes:helm.sh/v3:Release"
                and synth.inputs(r).get("chart") == "cilium"]
    assert releases and {r["version"] for r in releases} == {"1.19.3"}


# --- node images ---------------------------------------------------------------------------------


def _images_plan(version: str, images: dict, provider: str = "aws"):
    settings, _ = parse_settings({"gcpProject": "p"}, "s")
    documents = [template(version=version, nodeImages=images),
                 cluster_set(hub=None, environment="staging",
                             regions=[{"name": "eu-west", "clusters": 1, "template": "base", "provider": provider}])]
    declaration, problems = parse_documents([RawDocument("fleet.yaml", d) for d in documents])
    if problems:
        return None, problems
    return expand(declaration, settings, "staging", MORNING, None)


def test_node_images_are_pinned_by_the_template_and_checked():
    plan, problems = _images_plan("1.35", {"eksReleaseVersion": "1.35.2-20261120"})
    assert problems == [] and plan.clusters[0].node_release_version == "1.35.2-20261120"
    _, problems = _images_plan("1.36", {"eksReleaseVersion": "1.35.2-20261120"})
    assert [p.path for p in problems] == ["spec.nodeImages.eksReleaseVersion"]
    assert "is not a release of Kubernetes 1.36" in problems[0].message
    _, problems = _images_plan("1.35", {"eksReleaseVersion": "latest"})
    assert "is not an EKS AMI release version" in str(problems[0])
    plan, problems = _images_plan("1.35", {"aksNodeOsUpgradeChannel": "SecurityPatch"}, provider="azure")
    assert problems == [] and plan.clusters[0].node_os_upgrade_channel == "SecurityPatch"
    assert plan.clusters[0].node_release_version is None


def test_a_gke_node_version_is_pinned_by_the_template_and_checked():
    plan, problems = _images_plan("1.35", {"gkeNodeVersion": "1.35.1-gke.1396002"}, provider="gcp")
    assert problems == [] and plan.clusters[0].node_version == "1.35.1-gke.1396002"
    plan, problems = _images_plan("1.35", {"gkeNodeVersion": "1.35.1-gke.1396002"}, provider="aws")
    assert problems == [] and plan.clusters[0].node_version is None  # a GKE version says nothing to EKS
    _, problems = _images_plan("1.36", {"gkeNodeVersion": "1.35.1-gke.1396002"}, provider="gcp")
    assert [(p.path, p.message.split(" (used by")[0]) for p in problems] == [(
        "spec.nodeImages.gkeNodeVersion",
        "GKE version 1.35.1-gke.1396002 is not a version of Kubernetes 1.36 (spec.version), the minor the control "
        "plane runs; use a 1.36.x-gke.N version (`gcloud container get-server-config` lists them)")]
    for wrong in ("1.35", "1.35.1", "latest", "1.35.1-gke"):
        _, problems = _images_plan("1.35", {"gkeNodeVersion": wrong}, provider="gcp")
        assert len(problems) == 1 and problems[0].path == "spec.nodeImages.gkeNodeVersion"
        assert "is not a GKE version such as 1.35.1-gke.1396002" in problems[0].message
    plan, _ = _images_plan("1.35", {}, provider="gcp")
    assert plan.clusters[0].node_version is None  # unset: the release channel upgrades the nodes


def test_the_pinned_ami_release_reaches_the_node_groups():
    from tests.test_cloud_aws import PRODUCTION_SPEC, SETTINGS, _plans, _synthesize

    synth = _synthesize(_plans({**PRODUCTION_SPEC, "nodeImages": {"eksReleaseVersion": "1.35.2-20261120"}},
                               "production", SETTINGS))
    groups = [synth.inputs(r) for r in synth.records if r.type == "aws:eks/nodeGroup:NodeGroup"]
    assert groups and {g.get("releaseVersion") for g in groups} == {"1.35.2-20261120"}


def test_aks_lts_and_the_node_os_channel_reach_the_managed_cluster():
    import dataclasses

    from tests.test_cloud_azure import HUB_EGRESS, plans, synth_cluster

    spoke = plans()["spoke"]
    default = synth_cluster(spoke, HUB_EGRESS).one("containerservice:ManagedCluster").inputs
    assert "supportPlan" not in default and default["sku"]["tier"] == "Standard"  # no new input by default
    lts = dataclasses.replace(spoke, extended_support=True, node_os_upgrade_channel="SecurityPatch")
    cluster = synth_cluster(lts, HUB_EGRESS).one("containerservice:ManagedCluster").inputs
    assert cluster["supportPlan"] == "AKSLongTermSupport" and cluster["sku"] == {"name": "Base", "tier": "Premium"}
    assert cluster["autoUpgradeProfile"]["nodeOSUpgradeChannel"] == "SecurityPatch"


def test_lts_without_the_premium_tier_is_refused_by_a_behaviour_rule():
    import dataclasses

    from fleet.recorded import Resource
    from fleet.rules import check_resources, resource_rules
    from tests.test_cloud_azure import HUB_EGRESS, plans, synth_cluster

    lts = dataclasses.replace(plans()["spoke"], extended_support=True)
    record = synth_cluster(lts, HUB_EGRESS).one("containerservice:ManagedCluster")
    good = Resource(record.type, record.name, record.name, dict(record.inputs))
    judged = resource_rules(versions.AS_OF)
    assert [v for v in check_resources([good], judged) if v.rule.id == "aks-lts-on-premium"] == []
    standard = {"name": "Base", "tier": "Standard"}
    bad = Resource(record.type, record.name, record.name, {**record.inputs, "sku": standard})
    found = [str(v) for v in check_resources([bad], judged) if v.rule.id == "aks-lts-on-premium"]
    assert len(found) == 1 and "LTS needs sku.tier Premium" in found[0]
