"""Guardrails on what the program declares (fleet.rules resource rules): each rule with a passing
and a failing input, built from the resources the real program records for the prod stack, and
the messages a user reads (cluster, rule, fix). The same functions run in the policy pack
(tests/test_policy_pack.py) and in `fleet synth`.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from fleet import rules
from fleet.cli import main
from fleet.spec import versions
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR
from tests.helpers import cluster_set, dump, template

CLUSTER_TYPES = tuple(rules.CLUSTER_SHAPES)


@pytest.fixture(autouse=True)
def _in_project(monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)


@pytest.fixture(scope="module")
def prod_stack(prod_synth: dict) -> list[rules.Resource]:
    providers = {e["urn"]: e["inputs"] for e in prod_synth["resources"] if e["type"].startswith("pulumi:providers:")}
    return [rules.Resource.from_synth(e, providers) for e in prod_synth["resources"]]


def first(stack: list[rules.Resource], type_: str, spoke: bool = True) -> rules.Resource:
    """A recorded cluster resource of that type (a spoke unless asked otherwise)."""
    return next(r for r in stack if r.type == type_ and ("hub" not in r.name) == spoke)


def changed(resource: rules.Resource, protect: bool | None = None, **paths: Any) -> rules.Resource:
    """A copy with inputs set at dotted paths (`a__b` for 'a.b'); None deletes the key."""
    inputs = copy.deepcopy(dict(resource.inputs))
    for dotted, value in paths.items():
        *parents, last = dotted.split("__")
        node = inputs
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return rules.Resource(resource.type, resource.name, resource.urn, inputs,
                          resource.protect if protect is None else protect, resource.dependencies,
                          resource.kubernetes_cluster)


def violations(rule_id: str, resource: rules.Resource, stack: list[rules.Resource] | None = None) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == rule_id)
    return [f"[{rule.id}] {m}" for m in rule.check(resource, stack if stack is not None else [resource])]


def assert_names_cluster_rule_and_fix(messages: list[str], resource: rules.Resource, rule_id: str,
                                      fix: str) -> None:
    assert len(messages) == 1, messages
    message = messages[0]
    assert message.startswith(f"[{rule_id}] ")
    assert f"cluster '{rules.cluster_name(resource)}'" in message
    assert fix in message, message


# --- the shipped stacks comply -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_shipped_stacks_break_no_resource_rule(stack: str, prod_synth: dict, staging_synth: dict) -> None:
    document = {"prod": prod_synth, "staging": staging_synth}[stack]
    assert [str(v) for v in rules.check_synth(document, AS_OF)] == []


def test_rules_read_secrets_and_unknowns_as_synth_writes_them() -> None:
    from fleet.synth import engine

    assert (engine.REDACTED, engine.clean(engine.UNKNOWN)) == (rules.SECRET, rules.UNKNOWN)


def test_every_cluster_type_of_the_program_has_a_shape(prod_synth: dict) -> None:
    recorded = {r["type"] for r in prod_synth["resources"]}
    assert set(CLUSTER_TYPES) <= recorded  # the table names the types the clouds really declare


# --- data residency ----------------------------------------------------------------------------------

EU_AND_US = {
    "aws:eks/cluster:Cluster": ("region", "eu-central-1", "us-east-1"),
    "azure-native:containerservice:ManagedCluster": ("location", "westeurope", "eastus"),
    "gcp:container/cluster:Cluster": ("location", "europe-west3", "us-central1"),
}


@pytest.mark.parametrize("type_", CLUSTER_TYPES)
def test_gdpr_cluster_in_the_eu_passes_and_in_the_us_fails(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    path, eu, us = EU_AND_US[type_]
    labels = rules.CLUSTER_SHAPES[type_].labels
    gdpr = dict(rules.lookup(cluster.inputs, labels), compliance="gdpr")
    assert violations("gdpr-data-residency", changed(cluster, **{labels: gdpr, path: eu})) == []
    failing = changed(cluster, **{labels: gdpr, path: us})
    messages = violations("gdpr-data-residency", failing)
    assert_names_cluster_rule_and_fix(messages, failing, "gdpr-data-residency", "move its region entry to an EU")
    assert f"'{us}' is outside the EU/EEA (US)" in messages[0]


def test_residency_ignores_clusters_without_the_gdpr_label(prod_stack) -> None:
    cluster = first(prod_stack, "aws:eks/cluster:Cluster")
    assert rules.lookup(cluster.inputs, "tags").get("compliance") is None
    assert violations("gdpr-data-residency", cluster) == []


# --- production: endpoint, encryption, deletion protection, workload identity ------------------------

OPEN_ENDPOINTS = {
    "aws:eks/cluster:Cluster": {"vpcConfig__publicAccessCidrs": ["0.0.0.0/0"]},
    "azure-native:containerservice:ManagedCluster": {"apiServerAccessProfile__authorizedIPRanges": None},
    "gcp:container/cluster:Cluster": {"masterAuthorizedNetworksConfig": None},
}
PRIVATE_ENDPOINTS = {
    "aws:eks/cluster:Cluster": {"vpcConfig__endpointPublicAccess": False,
                                "vpcConfig__publicAccessCidrs": ["0.0.0.0/0"]},
    "azure-native:containerservice:ManagedCluster": {"apiServerAccessProfile__enablePrivateCluster": True,
                                                     "apiServerAccessProfile__authorizedIPRanges": None},
    "gcp:container/cluster:Cluster": {"controlPlaneEndpointsConfig__ipEndpointsConfig__enabled": False,
                                      "masterAuthorizedNetworksConfig": None},
}


@pytest.mark.parametrize("type_", CLUSTER_TYPES)
def test_production_endpoint_open_to_the_internet_fails(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    assert violations("production-private-endpoint", cluster) == []  # authorized networks only
    assert violations("production-private-endpoint", changed(cluster, **PRIVATE_ENDPOINTS[type_])) == []
    failing = changed(cluster, **OPEN_ENDPOINTS[type_])
    assert_names_cluster_rule_and_fix(violations("production-private-endpoint", failing), failing,
                                      "production-private-endpoint", "use apiAccess: private")


def test_gke_authorized_networks(prod_stack) -> None:
    cluster = first(prod_stack, "gcp:container/cluster:Cluster")
    nobody = changed(cluster, masterAuthorizedNetworksConfig={"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False})
    assert violations("production-private-endpoint", nobody) == []  # an allow-list admitting nobody is closed
    widened = changed(cluster, masterAuthorizedNetworksConfig__gcpPublicCidrsAccessEnabled=True)
    [message] = violations("production-private-endpoint", widened)
    assert "gcpPublicCidrsAccessEnabled also admits the cloud provider's public addresses" in message


def test_an_open_endpoint_outside_production_is_not_this_rules_business(prod_stack) -> None:
    cluster = first(prod_stack, "aws:eks/cluster:Cluster")
    staging = changed(cluster, tags=dict(cluster.inputs["tags"], env="staging"),
                      **OPEN_ENDPOINTS["aws:eks/cluster:Cluster"])
    assert violations("production-private-endpoint", staging) == []


def test_an_allow_list_not_known_during_preview_is_not_judged(prod_stack) -> None:
    cluster = first(prod_stack, "aws:eks/cluster:Cluster")
    assert violations("production-private-endpoint", changed(cluster, vpcConfig__publicAccessCidrs=rules.UNKNOWN)) == []


UNENCRYPTED = {
    "aws:eks/cluster:Cluster": {"encryptionConfig": None},
    "azure-native:containerservice:ManagedCluster": {"securityProfile__azureKeyVaultKms__enabled": False},
    "gcp:container/cluster:Cluster": {"databaseEncryption__state": "DECRYPTED"},
}


@pytest.mark.parametrize("type_", CLUSTER_TYPES)
def test_production_secrets_encryption(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    assert violations("production-secrets-encryption", cluster) == []
    failing = changed(cluster, **UNENCRYPTED[type_])
    assert_names_cluster_rule_and_fix(violations("production-secrets-encryption", failing), failing,
                                      "production-secrets-encryption", "secretsEncryption: true")


@pytest.mark.parametrize("type_", CLUSTER_TYPES)
def test_production_cluster_without_pulumi_protect_fails(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    assert cluster.protect
    assert violations("production-deletion-protection", cluster, prod_stack) == []
    failing = changed(cluster, protect=False)
    messages = violations("production-deletion-protection", failing, prod_stack)
    assert_names_cluster_rule_and_fix(messages, failing, "production-deletion-protection", "fleet:protect: false")
    assert "Pulumi `protect` is off" in messages[0]


@pytest.mark.parametrize("type_", ["aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster"])
def test_production_cluster_without_the_clouds_deletion_protection_fails(type_: str, prod_stack) -> None:
    failing = changed(first(prod_stack, type_), deletionProtection=False)
    messages = violations("production-deletion-protection", failing, prod_stack)
    assert_names_cluster_rule_and_fix(messages, failing, "production-deletion-protection", "deletionProtection")


def test_aks_production_cluster_needs_its_deny_delete_assignment(prod_stack) -> None:
    cluster = first(prod_stack, "azure-native:containerservice:ManagedCluster")
    group = f"/resourceGroups/{cluster.inputs['resourceGroupName']}"
    assignment = "azure-native:authorization:PolicyAssignment"
    unprotected = [r for r in prod_stack
                   if not (r.type == assignment and str(r.inputs.get("scope")).endswith(group))]
    messages = violations("production-deletion-protection", cluster, unprotected)
    assert_names_cluster_rule_and_fix(messages, cluster, "production-deletion-protection", "denyAction")


WITHOUT_WORKLOAD_IDENTITY = {
    "azure-native:containerservice:ManagedCluster": {"securityProfile__workloadIdentity__enabled": False},
    "gcp:container/cluster:Cluster": {"workloadIdentityConfig": None},
}


@pytest.mark.parametrize("type_", sorted(WITHOUT_WORKLOAD_IDENTITY))
def test_production_workload_identity_settings(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    assert violations("production-workload-identity", cluster, prod_stack) == []
    failing = changed(cluster, **WITHOUT_WORKLOAD_IDENTITY[type_])
    assert_names_cluster_rule_and_fix(violations("production-workload-identity", failing, prod_stack), failing,
                                      "production-workload-identity", "restore the identity settings")


def test_eks_production_workload_identity_is_the_pod_identity_addon(prod_stack) -> None:
    cluster = first(prod_stack, "aws:eks/cluster:Cluster")
    assert violations("production-workload-identity", cluster, prod_stack) == []
    without_agent = [r for r in prod_stack if not (r.type == "aws:eks/addon:Addon"
                                                   and r.inputs.get("clusterName") == cluster.inputs["name"]
                                                   and r.inputs.get("addonName") == "eks-pod-identity-agent")]
    messages = violations("production-workload-identity", cluster, without_agent)
    assert_names_cluster_rule_and_fix(messages, cluster, "production-workload-identity", "eks-pod-identity-agent")


# --- Kubernetes support window -----------------------------------------------------------------------


@pytest.mark.parametrize("type_", CLUSTER_TYPES)
def test_kubernetes_version_inside_the_support_window(type_: str, prod_stack) -> None:
    cluster = first(prod_stack, type_)
    shape = rules.CLUSTER_SHAPES[type_]
    current = versions.supported_minors(shape.cloud, AS_OF)[-1]
    assert violations("supported-kubernetes-version", changed(cluster, **{shape.version: current})) == []
    failing = changed(cluster, **{shape.version: "1.28"})
    messages = violations("supported-kubernetes-version", failing)
    assert_names_cluster_rule_and_fix(messages, failing, "supported-kubernetes-version",
                                      "set spec.version of its template to a supported version")
    assert "Kubernetes 1.28 is past end of support" in messages[0]


# --- credentials -------------------------------------------------------------------------------------

SECRET_META = {"namespace": "argocd", "name": "cluster-spoke"}
KUBECONFIG_WITH_TOKEN = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: spoke\n  cluster: {server: 'https://spoke'}\n"
    "users:\n- name: hub\n  user: {token: eyJhbGciOiJSUzI1NiJ9.abc.def}\n"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"


def k8s_secret(cluster: str = "production-fleet-hub", **body: Any) -> rules.Resource:
    inputs = {"apiVersion": "v1", "kind": "Secret", "metadata": SECRET_META, **body}
    return rules.Resource("kubernetes:core/v1:Secret", "spoke-registration",
                          "urn:pulumi:prod::fleet::kubernetes:core/v1:Secret::spoke-registration", inputs,
                          kubernetes_cluster=cluster)


PLAINTEXT = {
    "argocd-bearer-token": {"stringData": {"name": "spoke", "server": "https://spoke",
                                           "config": json.dumps({"bearerToken": "eyJhbGciOi.abc.def",
                                                                 "tlsClientConfig": {"caData": "LS0t"}})}},
    "flux-kubeconfig-with-token": {"stringData": {"value": KUBECONFIG_WITH_TOKEN}},
    "password": {"stringData": {"username": "git", "password": "hunter2"}},
    "private-key-in-data": {"data": {"identity": base64.b64encode(PEM.encode()).decode()}},
}
REDACTED = {
    "argocd-bearer-token": {"stringData": rules.SECRET},
    "flux-kubeconfig-with-token": {"stringData": {"value": rules.SECRET}},
    "password": {"stringData": {"username": "git", "password": rules.SECRET}},
    "private-key-in-data": {"data": {"identity": rules.SECRET}},
}


@pytest.mark.parametrize("case", sorted(PLAINTEXT))
def test_credentials_only_as_secrets(case: str) -> None:
    assert violations("no-plaintext-credentials", k8s_secret(**REDACTED[case])) == []
    failing = k8s_secret(**PLAINTEXT[case])
    assert_names_cluster_rule_and_fix(violations("no-plaintext-credentials", failing), failing,
                                      "no-plaintext-credentials", "pass it as a Pulumi secret")


def test_keyless_registration_passes_in_plain_text() -> None:
    """Argo CD's awsAuthConfig / execProviderConfig hold no credential: plain text is fine."""
    config = {"awsAuthConfig": {"clusterName": "spoke", "roleARN": "arn:aws:iam::1:role/hub"},
              "tlsClientConfig": {"caData": "LS0t"}}
    assert violations("no-plaintext-credentials",
                      k8s_secret(stringData={"name": "spoke", "config": json.dumps(config)})) == []


def test_a_plain_kubeconfig_in_provider_inputs_fails(prod_stack) -> None:
    provider = next(r for r in prod_stack if r.type == "pulumi:providers:kubernetes")
    assert violations("no-plaintext-credentials", provider) == []  # recorded as [secret]
    failing = changed(provider, kubeconfig=KUBECONFIG_WITH_TOKEN)
    messages = violations("no-plaintext-credentials", failing)
    assert_names_cluster_rule_and_fix(messages, failing, "no-plaintext-credentials", "pass it as a Pulumi secret")
    assert "at kubeconfig" in messages[0]


def test_plain_credentials_in_stack_outputs_fail(prod_synth: dict) -> None:
    assert rules.check_synth(prod_synth, AS_OF) == []
    leaked = dict(prod_synth, outputs=dict(prod_synth["outputs"], kubeconfigs={"hub": KUBECONFIG_WITH_TOKEN}))
    messages = [str(v) for v in rules.check_synth(leaked, AS_OF)]
    assert messages == ["[no-plaintext-credentials] stack output kubeconfigs.hub holds a credential in plain text; "
                        "export it with pulumi.Output.secret"]


# --- from the command line ---------------------------------------------------------------------------


def test_fleet_validate_rejects_a_gdpr_cluster_in_a_us_location(tmp_path, capsys) -> None:
    """The residency rule's message, end to end: a GDPR cluster on AWS us-east fails `fleet validate`."""
    fleet = cluster_set([
        {"name": "eu-west", "clusters": 1, "template": "base", "provider": "aws", "labels": {"compliance": "gdpr"}},
        {"name": "us-east", "clusters": 1, "template": "base", "provider": "aws", "labels": {"compliance": "gdpr"}},
    ])
    declaration = tmp_path / "fleet.yaml"
    current = versions.supported_minors("aws", AS_OF)[-1]
    declaration.write_text(dump(template(version=current), fleet))
    assert main(["validate", "-f", str(declaration)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{declaration}: ClusterSet/demo: spec.regions[1]: [gdpr-data-residency] cluster 'demo-us-east-01' is "
        "labelled compliance: gdpr but aws location 'us-east-1' is outside the EU/EEA (US); move the region entry "
        "to an EU location such as eu-central-1, eu-north-1, eu-south-1, eu-south-2",
        "1 problem(s) found",
    ]


def test_fleet_synth_reports_a_resource_rule_violation(tmp_path, capsys, monkeypatch) -> None:
    """`fleet synth` judges what the program declared with the same rules as the policy pack."""
    import fleet.synth as synth

    real = synth.synth_document

    def leaking(recording, plan, show_secrets=False):
        document = real(recording, plan, show_secrets)
        provider = next(r for r in document["resources"] if r["type"] == "pulumi:providers:kubernetes")
        provider["inputs"]["kubeconfig"] = KUBECONFIG_WITH_TOKEN
        return document

    monkeypatch.setattr(synth, "synth_document", leaking)
    assert main(["synth", "--stack", "staging", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "[no-plaintext-credentials] cluster 'staging-fleet-" in err
    assert "holds a credential in plain text at kubeconfig; pass it as a Pulumi secret" in err
