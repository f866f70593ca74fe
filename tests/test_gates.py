"""Rollout gates on recorded API objects of both engines (tests/data/hub): Argo CD Applications,
Flux Kustomizations and HelmReleases, and the versions clusters report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet import gates
from fleet.rollout_command import RolloutError, argocd_servers, snapshot_from_folder, snapshot_live
from tests.gitops_support import has_crd, validate_custom

HUB = Path(__file__).parent / "data" / "hub"
CANARY = {"demo-us-east-01": "1.36"}


def _recorded_objects() -> list[dict]:
    return [o for path in sorted(HUB.rglob("*.json")) if "versions" not in path.parts
            for o in gates.items(json.loads(path.read_text()))]


def test_recorded_objects_match_the_upstream_crds(shared_dir):
    """The fixtures are shaped exactly as the CRDs' status fields (Application, Kustomization)."""
    checked = 0
    for obj in _recorded_objects():
        if has_crd(obj):
            validate_custom(obj)
            checked += 1
    assert checked >= 5


def test_argocd_hub_synced_and_healthy_passes_and_later_waves_are_ignored():
    snapshot = snapshot_from_folder(HUB / "argocd")
    assert snapshot.argocd_servers == {"https://4F1C8E2A9B7D6C5E.gr7.us-east-1.eks.amazonaws.com": "demo-us-east-01"}
    assert gates.evaluate(CANARY, snapshot) == []  # addons-demo-us-east-02 is Degraded, but not in this wave
    assert [str(f) for f in gates.evaluate({"demo-us-east-02": "1.36"}, snapshot, versions=False)] == [
        "demo-us-east-02: Application argocd/addons-demo-us-east-02: sync OutOfSync, health Degraded "
        "(Deployment flux-system/source-controller has 0/1 ready replicas)"]


def test_an_application_targeted_by_server_is_judged_for_its_cluster():
    findings = gates.evaluate(CANARY, snapshot_from_folder(HUB / "argocd-degraded"))
    assert [(f.cluster, f.object) for f in findings] == [
        ("demo-us-east-01", "Application argocd/podinfo-demo-us-east-01")]
    assert findings[0].reason \
        == "sync OutOfSync, health Degraded (Deployment podinfo/podinfo exceeded its progress deadline)"


def test_flux_ready_conditions_for_the_current_generation_and_reported_versions():
    findings = [str(f) for f in gates.evaluate(CANARY, snapshot_from_folder(HUB / "flux"))]
    assert findings == [
        "demo-us-east-01: HelmRelease kube-system/cilium: Ready is for generation 3, the object is at 4 "
        "(not reconciled yet)",
        "demo-us-east-01: HelmRelease kyverno/kyverno: Ready False: UpgradeFailed Helm upgrade failed for release "
        "kyverno/kyverno with chart kyverno@3.5.2: context deadline exceeded",
        "demo-us-east-01: version: reports Kubernetes 1.35, the rollout declares 1.36",
    ]
    eu = [str(f) for f in gates.evaluate({"demo-eu-west-01": "1.36"}, snapshot_from_folder(HUB / "flux"),
                                         versions=False)]
    assert eu == ["demo-eu-west-01: Kustomization flux-system/spoke-demo-eu-west-01: Ready False: HealthCheckFailed "
                  "health check failed after 5m0s: timeout waiting for: "
                  "[Deployment/kyverno/kyverno-admission-controller status: 'InProgress']"]


def test_a_cluster_nothing_targets_fails_the_health_gate():
    findings = gates.health_findings(["demo-us-central-01"], snapshot_from_folder(HUB / "argocd"))
    assert [str(f) for f in findings] == [
        "demo-us-central-01: GitOps: no Application, Kustomization or HelmRelease targets it"]


@pytest.mark.parametrize(("info", "minor"), [
    ({"major": "1", "minor": "36+", "gitVersion": "v1.36.1-eks-3025e55"}, "1.36"),
    ({"major": "1", "minor": "35", "gitVersion": "v1.35.3"}, "1.35"),
    ({"major": "", "minor": "", "gitVersion": "v1.34.7-gke.1093000"}, "1.34"),
    ({}, None),
])
def test_reported_minor(info, minor):
    assert gates.reported_minor(info) == minor


def test_argocd_servers_never_decode_the_config():
    secrets = gates.items(json.loads((HUB / "argocd" / "hub" / "argocd-clusters.json").read_text()))
    broken = [{"data": {"name": "!!", "server": "??", "config": "x"}}]
    assert argocd_servers(secrets + broken) == {
        "https://4F1C8E2A9B7D6C5E.gr7.us-east-1.eks.amazonaws.com": "demo-us-east-01"}


class _FakeClient:
    """What the kubernetes client answers: list_cluster_custom_object (a List) and get_code (version.Info)."""

    def __init__(self, folder: str, version: dict | None = None, missing: tuple[str, ...] = ()):
        self.objects = [o for p in sorted((HUB / folder / "hub").glob("*.json"))
                        for o in gates.items(json.loads(p.read_text())) if o.get("kind") != "Secret"]
        self.version, self.missing = version, missing

    def list_cluster_custom_object(self, group: str, version: str, plural: str) -> dict:
        if plural in self.missing:
            error = Exception("Not Found")
            error.status = 404  # type: ignore[attr-defined]
            raise error
        kind = {"applications": "Application", "kustomizations": "Kustomization", "helmreleases": "HelmRelease"}
        return {"kind": "List", "items": [o for o in self.objects if o["kind"] == kind[plural]]}

    def get_code(self) -> dict:
        return self.version or {}


def test_live_reading_goes_through_an_injected_client():
    clients = {"demo-hub": _FakeClient("flux", missing=("applications",)),
               "demo-us-east-01": _FakeClient("flux", {"major": "1", "minor": "36+"})}
    kubeconfigs = {name: {"current-context": name} for name in clients}
    snapshot = snapshot_live(kubeconfigs, "demo-hub", ["demo-us-east-01"],
                             new_client=lambda kubeconfig: clients[kubeconfig["current-context"]])
    assert gates.evaluate(CANARY, snapshot) == []  # the hub's Kustomization is Ready, the canary reports 1.36
    with pytest.raises(RolloutError, match="no kubeconfig for the hub"):
        snapshot_live({}, "demo-hub", [])
