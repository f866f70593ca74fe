"""`fleet synth` end to end: the real __main__.py under the mock engine, the contract of CONTRACTS §4."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
import yaml

from fleet.cli import main
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR, read_stack_file
from fleet.synth import engine
from fleet.synth.engine import run_program

CLUSTER_TYPES = {"aws": "aws:eks/cluster:Cluster", "azure": "azure-native:containerservice:ManagedCluster",
                 "gcp": "gcp:container/cluster:Cluster"}
CLUSTER_KEYS = {"name", "provider", "location", "region", "role", "engine", "kubernetesVersion", "labels"}
RESOURCE_KEYS = {"urn", "type", "name", "parent", "provider", "dependencies", "protect", "custom", "inputs"}


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_synth_writes_the_contract_for_every_cloud_and_a_hub(stack, synth_dirs):
    document = json.loads((synth_dirs[stack] / "resources.json").read_text())
    assert document["project"] == "fleet" and document["stack"] == stack
    clusters = document["clusters"]
    assert all(set(c) >= CLUSTER_KEYS for c in clusters)
    assert {c["provider"] for c in clusters} == {"aws", "azure", "gcp"}
    assert [c["role"] for c in clusters].count("hub") == 1
    urns = {r["urn"] for r in document["resources"]}
    for resource in document["resources"]:
        assert set(resource) >= RESOURCE_KEYS
        assert resource["parent"] is None or resource["parent"] in urns or resource["parent"].endswith(
            f"pulumi:pulumi:Stack::fleet-{stack}")
        assert resource["provider"] is None or resource["provider"] in urns
        assert set(resource["dependencies"]) <= urns
    # every cluster of the plan is a real cloud cluster resource of its provider
    declared = {r["type"] for r in document["resources"]}
    assert {CLUSTER_TYPES[c["provider"]] for c in clusters} <= declared
    per_type = sum(1 for r in document["resources"] if r["type"] in CLUSTER_TYPES.values())
    assert per_type == len(clusters)
    # engine-side (camelCase) input names
    eks = next(r for r in document["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    assert "accessConfig" in eks["inputs"] and "access_config" not in eks["inputs"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_manifests_per_cluster_one_object_per_document(stack, synth_dirs):
    document = json.loads((synth_dirs[stack] / "resources.json").read_text())
    manifests = synth_dirs[stack] / "manifests"
    assert sorted(p.name for p in manifests.iterdir()) == sorted(c["name"] for c in document["clusters"])
    for path in manifests.rglob("*.yaml"):
        (body,) = list(yaml.safe_load_all(path.read_text()))
        assert {"apiVersion", "kind", "metadata"} <= set(body)
    for cluster in document["clusters"]:
        identity = yaml.safe_load((manifests / cluster["name"] / "configmap-kube-system-cluster-identity.yaml")
                                  .read_text())
        assert identity["data"]["CLUSTER_NAME"] == cluster["name"]


def test_secrets_are_redacted_everywhere_unless_asked(synth_dirs, tmp_path, capsys):
    folder = synth_dirs["prod"]
    text = (folder / "resources.json").read_text()
    document = json.loads(text)
    assert document["outputs"]["kubeconfigs"] == "[secret]"
    providers = [r for r in document["resources"] if r["type"] == "pulumi:providers:kubernetes"]
    assert providers and all(p["inputs"]["kubeconfig"] == "[secret]" for p in providers)
    for exec_plugin in ("get-token", "kubelogin", "gke-gcloud-auth-plugin"):  # only inside kubeconfigs
        assert exec_plugin not in text
    filled = 0
    for path in (folder / "manifests").rglob("secret-*.yaml"):
        body = yaml.safe_load(path.read_text())
        values = {**(body.get("data") or {}), **(body.get("stringData") or {})}
        assert set(values.values()) <= {"[secret]"}, path  # a token Secret is filled in by the cluster
        filled += bool(values)
    assert filled >= 7  # the Argo CD hub's cluster Secrets: the hub's own and one per spoke
    out = tmp_path / "revealed"
    assert main(["synth", "--stack", "staging", "--out", str(out), "--show-secrets"]) == 0
    revealed = json.loads((out / "resources.json").read_text())
    assert "apiVersion" in revealed["outputs"]["kubeconfigs"]["staging-fleet-hub"]


def test_an_invalid_declaration_declares_nothing(tmp_path, monkeypatch):
    """`pulumi up` stops with the validation messages before the first resource (RunError, no traceback)."""
    monitors = []
    real = engine.RecordingMonitor

    def recording(mocks):
        monitors.append(real(mocks))
        return monitors[-1]

    monkeypatch.setattr(engine, "RecordingMonitor", recording)
    bad = tmp_path / "bad.yaml"
    bad.write_text((PROJECT_DIR / "examples" / "canonical.yaml").read_text().replace(
        "template: production-blueprint\n    - name: eu-west", "template: prod-bluprint\n    - name: eu-west"))
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    with pytest.raises(pulumi.RunError) as raised:
        run_program(PROJECT_DIR, config.with_declaration_files([str(bad)]), AS_OF)
    message = str(raised.value)
    assert message.startswith("2 problem(s) in the fleet declaration:")
    assert "spec.regions[0].template: unknown template 'prod-bluprint' (did you mean 'production-blueprint'?)" \
        in message
    assert monitors[-1].records == []


def test_synth_is_deterministic(synth_dirs, tmp_path):
    assert main(["synth", "--stack", "prod", "--out", str(tmp_path / "again")]) == 0
    first = (synth_dirs["prod"] / "resources.json").read_text()
    assert (tmp_path / "again" / "resources.json").read_text() == first
    assert main(["diff", str(synth_dirs["prod"]), str(tmp_path / "again")]) == 0


def test_cloud_sdks_are_imported_only_when_used(tmp_path):
    """A one-cloud stack never loads the other clouds' SDKs (checked in a fresh process)."""
    import subprocess
    import sys

    declaration = tmp_path / "aws-only.yaml"
    declaration.write_text(Path(PROJECT_DIR / "blueprints" / "production.yaml").read_text() + """
---
apiVersion: fleet.example.com/v1
kind: ClusterSet
metadata: {name: solo}
spec:
  regions: [{name: us-east, clusters: 1, template: production-blueprint, provider: aws}]
""")
    script = (
        "import sys\nfrom fleet.cli import main\n"
        f"code = main(['synth', '--stack', 'prod', '-f', {str(declaration)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        "print(code, sorted(m for m in ('pulumi_aws', 'pulumi_azure_native', 'pulumi_gcp') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "0 ['pulumi_aws']"
