"""What the GitOps engines' charts and operators enforce, and the deployer's access, held offline.

Each rule is shown failing on the shape the program recorded before its fix (the old values are
rebuilt here from the current recording), and passing on both example stacks.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet import rules
from fleet.behaviour import gitops as behaviour
from fleet.behaviour import kubernetes as k8s_behaviour
from fleet.cli import main
from fleet.gitops import argocd, flux
from fleet.gitops.identity import FLEET_LABELS
from fleet.recorded import Stack
from fleet.settings import parse_settings
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR, read_stack_file
from fleet.synth import fakes, synthesize
from fleet.synth.diff import diff_synth
from fleet.synth.output import synth_document
from tests.helpers import cluster_set, plan_documents, template

OLD_LABELS = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "fleet"}


def recorded(document: dict) -> Stack:
    return Stack.from_synth(document)


def messages(rule_id: str, stack: Stack) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == rule_id)
    return [m for resource in stack for m in rule.check(resource, stack)]


def replaced(stack: Stack, name: str, **inputs: Any) -> Stack:
    """The stack with one resource's inputs changed (the shape an older program recorded)."""
    return Stack([dataclasses.replace(r, inputs={**r.inputs, **inputs}) if r.name == name else r for r in stack])


@pytest.fixture(scope="module")
def prod(prod_synth: dict) -> Stack:
    return recorded(prod_synth)


@pytest.fixture(scope="module")
def staging(staging_synth: dict) -> Stack:
    return recorded(staging_synth)


@pytest.mark.parametrize("rule_id", ["no-foreign-app-labels", "release-fits-start-capacity", "no-delete-unreachable"])
def test_both_stacks_pass(rule_id: str, prod: Stack, staging: Stack) -> None:
    assert messages(rule_id, prod) == [] and messages(rule_id, staging) == []


# --- 4. labels other tools own ----------------------------------------------------------------


def test_fleet_labels_use_fleets_own_domain() -> None:
    assert FLEET_LABELS and all(key.startswith("fleet.example.com/") for key in FLEET_LABELS)


def test_foreign_labels_on_argocd_values_are_refused(prod: Stack) -> None:
    release = next(r for r in prod if r.name == "production-fleet-hub-argocd")
    values = copy.deepcopy(dict(release.inputs["values"]))
    values["global"]["additionalLabels"] = dict(OLD_LABELS)  # what the program set before
    found = messages("no-foreign-app-labels", replaced(prod, release.name, values=values))
    assert len(found) == 1
    assert "cluster 'production-fleet-hub'" in found[0]
    assert "app.kubernetes.io/managed-by, app.kubernetes.io/part-of at values.global.additionalLabels" in found[0]
    assert "fleet.example.com/" in found[0]


def test_foreign_labels_on_flux_operator_and_instance_are_refused(prod: Stack) -> None:
    cluster = "production-fleet-us-east-01"
    release, instance = (next(r for r in prod if r.name == f"{cluster}-{suffix}")
                         for suffix in ("flux-operator", "flux-instance"))
    old = replaced(prod, release.name, values={**release.inputs["values"], "commonLabels": dict(OLD_LABELS)})
    spec = {**instance.inputs["spec"], "commonMetadata": {"labels": dict(OLD_LABELS)}}
    old = replaced(old, instance.name, spec=spec)
    found = messages("no-foreign-app-labels", old)
    assert len(found) == 2
    assert any("at values.commonLabels" in m for m in found)
    assert any("at spec.commonMetadata.labels" in m and "FluxInstance" in m for m in found)


# --- 5. deleteUnreachable ---------------------------------------------------------------------


def test_delete_unreachable_is_refused(prod: Stack) -> None:
    provider = next(r for r in prod if r.type == k8s_behaviour.PROVIDER)
    assert "deleteUnreachable" not in provider.inputs
    found = messages("no-delete-unreachable", replaced(prod, provider.name, deleteUnreachable="true"))
    assert len(found) == 1
    assert f"cluster '{provider.inputs['clusterIdentifier']}'" in found[0]
    assert "PULUMI_K8S_DELETE_UNREACHABLE=true" in found[0]


# --- 3. the engine fits the nodes its cluster starts with ----------------------------------------


def test_every_engine_pod_tolerates_the_system_taint() -> None:
    plan, _ = plan_documents(template(gitops={"engine": "argocd"}), cluster_set())
    values = argocd.chart_values(plan.hubs[0])
    for path in ("global.tolerations", "redis-ha.tolerations", "redis-ha.haproxy.tolerations"):
        head, *rest = path.split(".")
        found = values[head]
        for key in rest:
            found = found[key]
        assert {t["key"] for t in found} == behaviour.TOLERATED_TAINTS, path
    assert {t["key"] for t in flux.operator_values()["tolerations"]} == behaviour.TOLERATED_TAINTS
    patch = yaml.safe_load(flux.toleration_patch()["patch"])
    assert flux.toleration_patch()["target"] == {"kind": "Deployment"}
    assert {t["key"] for t in patch["spec"]["template"]["spec"]["tolerations"]} == behaviour.TOLERATED_TAINTS


def test_the_hub_release_without_tolerations_does_not_fit(prod: Stack) -> None:
    """The program before the fix: argo-cd HA without tolerations, on a hub whose only untainted pool
    starts with 2 nodes."""
    release = next(r for r in prod if r.name == "production-fleet-hub-argocd")
    values = copy.deepcopy(dict(release.inputs["values"]))
    del values["global"]["tolerations"], values["redis-ha"]["tolerations"], values["redis-ha"]["haproxy"]
    found = messages("release-fits-start-capacity", replaced(prod, release.name, values=values))
    assert len(found) == 1
    assert "cluster 'production-fleet-hub'" in found[0]
    assert "needs 3 distinct nodes" in found[0] and "start with 2" in found[0]
    assert "tolerate the system pools' taint" in found[0]


def test_soft_anti_affinity_fits(prod: Stack) -> None:
    release = next(r for r in prod if r.name == "production-fleet-hub-argocd")
    values = copy.deepcopy(dict(release.inputs["values"]))
    values["redis-ha"] = {"enabled": True, "hardAntiAffinity": False, "haproxy": {"hardAntiAffinity": False}}
    del values["global"]["tolerations"]
    assert messages("release-fits-start-capacity", replaced(prod, release.name, values=values)) == []


EVERY_CLOUD = """
apiVersion: fleet.example.com/v1
kind: ClusterTemplate
metadata: {name: argo-prod}
spec:
  version: "1.35"
  networking: {cni: cilium, serviceType: internal, apiAccess: authorized}
  security: {secretsEncryption: true}
  nodePools: [{name: system, size: medium, min: 3, max: 5, system: true}]
  gitops: {engine: argocd}
---
apiVersion: fleet.example.com/v1
kind: ClusterTemplate
metadata: {name: flux-prod}
spec:
  version: "1.35"
  networking: {cni: cilium, serviceType: internal, apiAccess: authorized}
  security: {secretsEncryption: true}
  nodePools: [{name: system, size: small, min: 1, max: 3, system: true}]
  gitops: {engine: flux}
---
apiVersion: fleet.example.com/v1
kind: ClusterSet
metadata: {name: every}
spec:
  environment: production
  hub: {template: argo-prod, provider: gcp, location: us-central}
  regions:
    - {name: us-east, clusters: 1, template: argo-prod, provider: aws}
    - {name: eu-west, clusters: 1, template: argo-prod, provider: azure}
    - {name: us-central, clusters: 1, template: flux-prod, provider: gcp}
    - {name: eu-north, clusters: 1, template: flux-prod, provider: azure, location: northeurope}
    - {name: us-west, clusters: 1, template: flux-prod, provider: aws, location: us-west-2}
"""


def test_only_system_pools_on_every_cloud_and_engine(tmp_path: Path) -> None:
    """Clusters whose only pool is the tainted system pool, Argo CD HA and Flux, on EKS, AKS (the
    inline system pool) and GKE: the synth passes every rule; without the tolerations the argo-cd
    Releases do not fit."""
    source = tmp_path / "every.yaml"
    source.write_text(EVERY_CLOUD)
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    result = synthesize(PROJECT_DIR, config.with_declaration_files([str(source)]))
    assert not result.problems and result.program_error is None, result.program_error
    assert result.guardrails == []
    stack = recorded(json.loads(json.dumps(synth_document(result.recording, result.stack.plan))))
    old = stack
    for release in [r for r in stack if r.inputs.get("chart") == "argo-cd"]:
        values = copy.deepcopy(dict(release.inputs["values"]))
        del values["global"]["tolerations"], values["redis-ha"]["tolerations"], values["redis-ha"]["haproxy"]
        old = replaced(old, release.name, values=values)
    found = messages("release-fits-start-capacity", old)
    assert sorted(m.split("'")[1] for m in found) == ["every-eu-west-01", "every-hub", "every-us-east-01"]


def _engine_problem(cluster) -> str | None:
    return behaviour.engine_capacity(cluster)


def test_production_argocd_needs_three_nodes_it_can_run_on() -> None:
    only_system = template(gitops={"engine": "argocd"},
                           nodePools=[{"name": "system", "size": "medium", "min": 2, "max": 4, "system": True}])
    plan, problems = plan_documents(only_system, cluster_set())
    assert not problems
    message = _engine_problem(plan.hubs[0])
    assert message is not None
    assert "cluster 'demo-hub' (template 'base') cannot start its GitOps engine" in message
    assert "3 redis-ha redis and 3 redis-ha haproxy pods on distinct nodes" in message
    assert "start with 2 node(s) (system: 2)" in message and "add a pool with min: 1" in message
    enough = template(gitops={"engine": "argocd"},
                      nodePools=[{"name": "system", "size": "medium", "min": 3, "max": 4, "system": True}])
    plan, _ = plan_documents(enough, cluster_set())
    assert _engine_problem(plan.hubs[0]) is None


def test_spot_and_foreign_tainted_pools_do_not_count() -> None:
    pools = [{"name": "system", "size": "medium", "min": 1, "max": 4, "system": True},
             {"name": "batch", "size": "large", "min": 3, "max": 4, "spot": True},
             {"name": "gpu", "size": "large", "min": 3, "max": 4,
              "taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}]
    plan, problems = plan_documents(template(gitops={"engine": "argocd"}, nodePools=pools), cluster_set())
    assert not problems
    assert "start with 1 node(s) (system: 1)" in (_engine_problem(plan.hubs[0]) or "")


def test_flux_and_non_production_argocd_need_one_node() -> None:
    only_system = [{"name": "system", "size": "small", "min": 1, "max": 2, "system": True}]
    for engine, environment in (("flux", "production"), ("argocd", "staging")):
        plan, problems = plan_documents(template(gitops={"engine": engine}, nodePools=only_system),
                                        cluster_set(environment=environment))
        assert not problems
        assert all(_engine_problem(c) is None for c in plan.clusters), engine


def test_requests_must_fit_the_start_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    only_system = [{"name": "system", "size": "small", "min": 1, "max": 2, "system": True}]
    plan, _ = plan_documents(template(nodePools=only_system), cluster_set())
    assert _engine_problem(plan.hubs[0]) is None
    monkeypatch.setitem(behaviour.SIZE_ROOM, "small", (400, 6144))  # less than Flux's 450m
    message = _engine_problem(plan.hubs[0]) or ""
    assert "flux requests 450m CPU and 320Mi memory but its pools start with 400m" in message


def test_engine_data_follows_the_chart_values() -> None:
    """The HA workloads the rule counts are the ones chart_values asks for."""
    assert argocd.HA_VALUES["redis-ha"]["enabled"] is True
    by_name = {w.name: w for w in behaviour.ARGOCD_HA}
    assert by_name["argocd-server"].pods == argocd.HA_VALUES["server"]["autoscaling"]["minReplicas"]
    assert by_name["argocd-repo-server"].pods == argocd.HA_VALUES["repoServer"]["autoscaling"]["minReplicas"]
    assert by_name["argocd-applicationset-controller"].pods == argocd.HA_VALUES["applicationSet"]["replicas"]
    assert behaviour.nodes_needed(behaviour.ARGOCD_HA) == 3
    assert behaviour.nodes_needed(behaviour.FLUX) == 1


def test_fleet_validate_refuses_a_hub_that_cannot_run_its_engine(tmp_path: Path, capsys) -> None:
    hub = template(gitops={"engine": "argocd"},
                   nodePools=[{"name": "system", "size": "medium", "min": 2, "max": 4, "system": True}])
    hub["metadata"]["name"] = "thin-hub"
    spokes = template()
    fleet_set = cluster_set(hub={"template": "thin-hub", "provider": "aws", "location": "us-east"})
    source = tmp_path / "fleet.yaml"
    source.write_text(yaml.safe_dump_all([hub, spokes, fleet_set], sort_keys=False))
    assert main(["validate", "--stack", "prod", "-f", str(source)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "engine-fits-start-capacity" in line]
    assert len(err) == 1
    assert err[0].startswith(f"{source}: ClusterSet/demo: spec.hub: [engine-fits-start-capacity] cluster 'demo-hub' "
                             "(template 'thin-hub') cannot start its GitOps engine")


# --- 9. the deployer's access is configuration, not the caller -------------------------------------


def test_production_requires_the_deployer() -> None:
    plan, _ = plan_documents(template(), cluster_set())
    rule = next(r for r in rules.plan_rules(AS_OF) if r.id == "deployer-from-config")
    message = rule.check(plan.hubs[0])
    assert message is not None and "cluster 'demo-hub' on aws has no fleet:deployer.aws" in message
    assert "arn:aws:iam::<account>:role/<name>" in message
    configured, _ = plan_documents(template(), cluster_set(), settings={
        "gcpProject": "p", "deployer": {"aws": "arn:aws:iam::123456789012:role/deployer"}})
    assert configured.hubs[0].deployer == "arn:aws:iam::123456789012:role/deployer"
    assert rule.check(configured.hubs[0]) is None


def test_the_deployer_is_not_also_an_admin() -> None:
    role = "arn:aws:iam::123456789012:role/deployer"
    plan, _ = plan_documents(template(), cluster_set(environment="staging"), settings={
        "gcpProject": "p", "deployer": {"aws": role}, "admins": {"aws": [role]}})
    rule = next(r for r in rules.plan_rules(AS_OF) if r.id == "deployer-from-config")
    message = rule.check(plan.hubs[0]) or ""
    assert f"{role} is both fleet:deployer.aws and in fleet:admins.aws" in message


@pytest.mark.parametrize(("cloud", "value", "fix"), [
    ("aws", "arn:aws:sts::123456789012:assumed-role/deployer/pulumi", "write arn:aws:iam::<account>:role/<name>"),
    ("azure", "fleet-deployer", "write the deploy identity's object id"),
])
def test_a_malformed_deployer_is_one_line(cloud: str, value: str, fix: str) -> None:
    _, problems = parse_settings({"deployer": {cloud: value}}, "Pulumi.prod.yaml")
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"Pulumi.prod.yaml: config.fleet:deployer.{cloud}: '{value}' is not")
    assert fix in problems[0].message


def _as_caller(monkeypatch: pytest.MonkeyPatch, role: str, object_id: str) -> None:
    """The fakes' idea of who runs the program: an AWS role session and an Entra object id."""
    account = "123456789012"
    monkeypatch.setitem(fakes.INVOKES, "aws:index/getCallerIdentity:getCallerIdentity", lambda args: {
        "accountId": account, "arn": f"arn:aws:sts::{account}:assumed-role/{role}/pulumi",
        "userId": f"AROAEXAMPLE:{role}", "id": account})
    monkeypatch.setitem(fakes.INVOKES, "aws:iam/getSessionContext:getSessionContext", lambda args: {
        "arn": args.get("arn"), "issuerArn": f"arn:aws:iam::{account}:role/{role}", "issuerName": role,
        "issuerId": "AROAEXAMPLE", "sessionName": "pulumi", "id": args.get("arn")})
    original = fakes.INVOKES["azure-native:authorization:getClientConfig"]
    monkeypatch.setitem(fakes.INVOKES, "azure-native:authorization:getClientConfig",
                        lambda args: {**original(args), "objectId": object_id})


def _synth_as(monkeypatch: pytest.MonkeyPatch, role: str, object_id: str, without_deployer: bool) -> dict:
    with monkeypatch.context() as patch:
        _as_caller(patch, role, object_id)
        config, problems = read_stack_file(PROJECT_DIR, "staging")
        assert not problems
        if without_deployer:
            config = dataclasses.replace(config, values={k: v for k, v in config.values.items()
                                                         if k != "fleet:deployer"})
        result = synthesize(PROJECT_DIR, config)
        assert not result.problems and result.program_error is None, result.program_error
        return json.loads(json.dumps(synth_document(result.recording, result.stack.plan)))


@pytest.mark.parametrize("without_deployer", [False, True])
def test_a_preview_by_another_identity_changes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                       without_deployer: bool) -> None:
    """The deployer runs `up`, the read-only identity runs the preview: with fleet:deployer the two
    synths are equal (`fleet diff`: no changes); keyed on the caller (the program before the fix,
    and still the fallback outside production) the deployer's access is replaced."""
    deployer = _synth_as(monkeypatch, "fleet-deployer", "11111111-1111-4111-8111-111111111111", without_deployer)
    preview = _synth_as(monkeypatch, "fleet-preview", "22222222-2222-4222-8222-222222222222", without_deployer)
    changes = diff_synth(deployer, preview).changes
    if not without_deployer:
        assert changes == []
        return
    changed = {c.name for c in changes}
    assert "staging-fleet-us-east-01-deployer" in changed  # the EKS access entry's principalArn
    assert "staging-fleet-eu-west-01-deployer-admin" in changed  # the AKS role assignment's principalId
