"""The CrossGuard pack in policy/, run through the policy SDK's own analyzer service with the
requests the Pulumi engine sends (secrets marked, unknowns as sentinels), so what is tested here
is what `pulumi preview --policy-pack policy` does, minus the CLI."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from fleet import rules
from fleet.spec.versions import AS_OF
from fleet.stack import AS_OF_VARIABLE, PROJECT_DIR

POLICY_DIR = PROJECT_DIR / "policy"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

pulumi_policy = pytest.importorskip("pulumi_policy")


def load_guardrails():
    spec = importlib.util.spec_from_file_location("fleet_policy_guardrails", POLICY_DIR / "guardrails.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guardrails = load_guardrails()


@pytest.fixture(scope="module")
def analyzer():
    """The SDK's analyzer service holding the pack's policies (what `PolicyPack(...)` serves)."""
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    return _PolicyAnalyzerServicer(guardrails.PACK_NAME, "0.1.0", guardrails.policies(AS_OF),
                                   pulumi_policy.EnforcementLevel.MANDATORY)


# --- requests as the engine sends them --------------------------------------------------------------


def wire(value: Any) -> Any:
    """Synth values -> the engine's wire format: "[secret]" as a marked secret, "[unknown]" unknown."""
    if value == rules.SECRET:
        return {SIG_KEY: SECRET_SIG, "value": "s3cr3t-value"}
    if value == rules.UNKNOWN:
        return UNKNOWN_STRING
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(wire(value))
    return message


def provider_message(entry: dict | None) -> proto.AnalyzerProviderResource | None:
    if entry is None:
        return None
    return proto.AnalyzerProviderResource(type=entry["type"], urn=entry["urn"], name=entry["name"],
                                          properties=struct(entry["inputs"]))


def analyze(analyzer, entry: dict, provider: dict | None = None) -> list[proto.AnalyzeDiagnostic]:
    request = proto.AnalyzeRequest(type=entry["type"], urn=entry["urn"], name=entry["name"],
                                   properties=struct(entry["inputs"]),
                                   options=proto.AnalyzerResourceOptions(protect=entry.get("protect", False)))
    if provider is not None:
        request.provider.CopyFrom(provider_message(provider))
    return list(analyzer.Analyze(request, None).diagnostics)


def analyze_stack(analyzer, document: dict) -> list[proto.AnalyzeDiagnostic]:
    by_urn = {e["urn"]: e for e in document["resources"]}
    resources = []
    for entry in document["resources"]:
        resource = proto.AnalyzerResource(
            type=entry["type"], urn=entry["urn"], name=entry["name"], properties=struct(entry["inputs"]),
            options=proto.AnalyzerResourceOptions(protect=entry["protect"]), parent=entry["parent"] or "",
            dependencies=entry["dependencies"])
        if entry["provider"] in by_urn:
            resource.provider.CopyFrom(provider_message(by_urn[entry["provider"]]))
        resources.append(resource)
    return list(analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None).diagnostics)


def messages(diagnostics) -> list[str]:
    return [d.message for d in diagnostics]


def entry(document: dict, type_: str, spoke: bool = True) -> dict:
    return copy.deepcopy(next(e for e in document["resources"] if e["type"] == type_
                              and ("hub" not in e["name"]) == spoke))


# --- the pack --------------------------------------------------------------------------------------


def test_the_pack_enforces_every_rule_of_fleet_rules() -> None:
    policies = {p.name: p for p in guardrails.policies(AS_OF)}
    assert sorted(policies) == sorted(r.id for r in rules.resource_rules(AS_OF))
    for rule in rules.resource_rules(AS_OF):
        kind = pulumi_policy.StackValidationPolicy if rule.needs_stack else pulumi_policy.ResourceValidationPolicy
        assert isinstance(policies[rule.id], kind), rule.id


def test_the_shipped_prod_stack_passes_every_policy(analyzer, prod_synth: dict) -> None:
    providers = {e["urn"]: e for e in prod_synth["resources"]}
    found = []
    for item in prod_synth["resources"]:
        found += messages(analyze(analyzer, item, providers.get(item["provider"])))
    found += messages(analyze_stack(analyzer, prod_synth))
    assert found == []


def test_a_gdpr_cluster_in_the_us_is_refused(analyzer, prod_synth: dict) -> None:
    cluster = entry(prod_synth, "azure-native:containerservice:ManagedCluster")
    assert cluster["inputs"]["tags"]["compliance"] == "gdpr"
    assert analyze(analyzer, cluster) == []
    cluster["inputs"]["location"] = "eastus"
    [diagnostic] = analyze(analyzer, cluster)
    assert diagnostic.policyName == "gdpr-data-residency"
    assert diagnostic.policyPackName == "fleet-guardrails"
    assert diagnostic.enforcementLevel == proto.MANDATORY
    assert (f"[gdpr-data-residency] cluster '{cluster['inputs']['tags']['fleet-cluster']}' "
            "(azure-native:containerservice:ManagedCluster") in diagnostic.message
    assert "'eastus' is outside the EU/EEA (US); move its region entry to an EU location" in diagnostic.message


def test_values_not_known_during_preview_are_not_judged(analyzer, prod_synth: dict) -> None:
    cluster = entry(prod_synth, "aws:eks/cluster:Cluster")
    cluster["inputs"]["tags"]["compliance"] = "gdpr"
    cluster["inputs"]["region"] = rules.UNKNOWN
    cluster["inputs"]["vpcConfig"]["publicAccessCidrs"] = rules.UNKNOWN
    assert messages(analyze(analyzer, cluster)) == []


def test_a_credential_passes_only_when_the_engine_marks_it_secret(analyzer) -> None:
    """The SDK strips secret markers; the pack keeps them (guardrails.keep_secret_markers)."""
    secret = {"type": "kubernetes:core/v1:Secret", "name": "spoke", "urn": "urn:pulumi:prod::fleet::x::spoke",
              "inputs": {"kind": "Secret", "metadata": {"name": "spoke"}, "stringData": {"token": rules.SECRET}}}
    assert analyze(analyzer, secret) == []
    secret["inputs"]["stringData"]["token"] = "eyJhbGciOi.abc.def"
    [diagnostic] = analyze(analyzer, secret)
    assert diagnostic.policyName == "no-plaintext-credentials"
    assert "holds a credential in plain text at stringData.token; pass it as a Pulumi secret" in diagnostic.message


def test_the_stack_policies_see_companion_resources(analyzer, prod_synth: dict) -> None:
    """EKS workload identity lives in an add-on: dropping it fails the stack policy, naming the cluster."""
    cluster = entry(prod_synth, "aws:eks/cluster:Cluster")
    document = dict(prod_synth, resources=[
        e for e in prod_synth["resources"]
        if not (e["type"] == "aws:eks/addon:Addon" and e["inputs"].get("addonName") == "eks-pod-identity-agent"
                and e["inputs"].get("clusterName") == cluster["inputs"]["name"])])
    diagnostics = analyze_stack(analyzer, document)
    identity = [d for d in diagnostics if d.policyName == "production-workload-identity"]
    assert [d.urn for d in identity] == [cluster["urn"]]
    # the cluster's Cluster Autoscaler loses its Pod Identity too (one per node group with room to grow)
    assert {d.policyName for d in diagnostics} == {"production-workload-identity", "eks-autoscaled-pools"}
    assert all("eks-pod-identity-agent" in d.message for d in diagnostics)
    assert f"cluster '{cluster['inputs']['tags']['fleet-cluster']}'" in identity[0].message
    assert "the eks-pod-identity-agent add-on (aws.eks.Addon) on this cluster is missing" in identity[0].message


@contextlib.contextmanager
def served_pack(as_of: str) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policy/__main__.py as the Pulumi CLI starts it (FLEET_AS_OF from the CLI's environment): it
    prints its port and answers the engine."""
    script = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")} | {AS_OF_VARIABLE: as_of}
    process = subprocess.Popen([sys.executable, "-c", script, str(POLICY_DIR)], cwd=POLICY_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "the policy pack printed no port"
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait()


def analyze_served(stub: analyzer_pb2_grpc.AnalyzerStub, entry: dict) -> list[proto.AnalyzeDiagnostic]:
    request = proto.AnalyzeRequest(type=entry["type"], urn=entry["urn"], name=entry["name"],
                                   properties=struct(entry["inputs"]))
    return list(stub.Analyze(request).diagnostics)


def test_the_pack_starts_and_serves_its_policies(prod_synth: dict) -> None:
    with served_pack(AS_OF.isoformat()) as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        assert info.name == "fleet-guardrails"
        assert sorted(p.name for p in info.policies) == sorted(r.id for r in rules.resource_rules(AS_OF))
        assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}
        assert analyze_served(stub, entry(prod_synth, "gcp:container/cluster:Cluster")) == []


def test_the_pack_judges_the_calendar_at_fleet_as_of(prod_synth: dict) -> None:
    """The day comes from the shell's input, as the program's does: 2031 is past 1.35's support."""
    cluster = entry(prod_synth, "gcp:container/cluster:Cluster")
    with served_pack("2031-06-01") as stub:
        [diagnostic] = analyze_served(stub, cluster)
    assert diagnostic.policyName == "supported-kubernetes-version"
    assert "Kubernetes 1.35 is past end of support on gcp (standard support ended 2027-04-11)" in diagnostic.message


def test_the_pack_refuses_a_malformed_fleet_as_of_in_one_line() -> None:
    script = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
    run = subprocess.run([sys.executable, "-c", script, str(POLICY_DIR)], cwd=POLICY_DIR, capture_output=True,
                         text=True, env={**os.environ, AS_OF_VARIABLE: "next week"}, timeout=120)
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.splitlines() == ["FLEET_AS_OF: 'next week' is not a day: expected YYYY-MM-DD, the day the "
                                       "Kubernetes support calendar is judged at (unset: today)"]
