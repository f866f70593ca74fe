"""What AKS, GKE and Azure RBAC enforce, held offline (issue #10, defects 7 and 8).

Each rule is shown failing on the shape the program recorded before its fix (rebuilt here from
the current recording: pools under their plain names, a CanNotDelete lock on the resource group,
the cluster and its Kubernetes provider depending on bare role assignments), and passing on both
example stacks. The probes of the propagation gate are tested as pure functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from fleet import rules
from fleet.clouds import aks_system_pool, azure_rbac, poolnames
from fleet.recorded import Resource, Stack
from fleet.spec.versions import AS_OF
from fleet.synth.diff import diff_synth

AGENT_POOL = "azure-native:containerservice:AgentPool"
NODE_POOL = "gcp:container/nodePool:NodePool"
RULE_IDS = ("aks-pool-replaced-under-new-name", "gke-pool-replaced-under-new-name", "aks-pools-not-locked",
            "aks-pool-names-unique", "azure-federated-credentials-serialised", "aks-inline-system-pool-guarded",
            "azure-rbac-before-use")


def recorded(document: dict) -> Stack:
    return Stack.from_synth(document)


def messages(rule_id: str, stack: Stack) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == rule_id)
    return [m for resource in stack for m in rule.check(resource, stack)]


def with_inputs(stack: Stack, type_: str, change) -> Stack:
    return Stack([dataclasses.replace(r, inputs=change(dict(r.inputs))) if r.type == type_ else r for r in stack])


@pytest.fixture(scope="module")
def prod(prod_synth: dict) -> Stack:
    return recorded(prod_synth)


@pytest.fixture(scope="module")
def staging(staging_synth: dict) -> Stack:
    return recorded(staging_synth)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_both_stacks_pass(rule_id: str, prod: Stack, staging: Stack) -> None:
    assert messages(rule_id, prod) == [] and messages(rule_id, staging) == []


# --- defect 7: create-only pool changes -------------------------------------------------------------


def test_aks_pool_under_its_plain_name_fails(prod: Stack) -> None:
    old = with_inputs(prod, AGENT_POOL, lambda i: {**i, "agentPoolName": i["agentPoolName"][:-4]})
    found = messages("aks-pool-replaced-under-new-name", old)
    assert len(found) == len([r for r in prod if r.type == AGENT_POOL]) == 4
    assert "cluster 'production-fleet-eu-west-01'" in found[0] and "aks_pool_name" in found[0]


def test_aks_pool_name_changes_with_a_create_only_field_only() -> None:
    args = {"vm_size": "Standard_D8s_v5", "scale_set_priority": "Regular", "availability_zones": ["1", "2", "3"],
            "os_type": "Linux", "os_disk_type": "Managed", "os_disk_size_gb": 128, "min_count": 3}
    name = poolnames.aks_pool_name("general", args)
    assert name.startswith("general") and len(name) == 11
    assert poolnames.aks_pool_name("general", {**args, "min_count": 5, "node_labels": {"a": "b"}}) == name
    assert poolnames.aks_pool_name("general", {**args, "vm_size": "Standard_D16s_v5"}) != name
    assert poolnames.aks_pool_name("general", {**args, "scale_set_priority": "Spot"}) != name
    engine = {"vmSize": "Standard_D8s_v5", "scaleSetPriority": "Regular", "availabilityZones": ["1", "2", "3"],
              "osType": "Linux", "osDiskType": "Managed", "osDiskSizeGB": 128.0}
    assert poolnames.aks_pool_name("general", engine) == name  # what the rule recomputes from the recording
    assert len(poolnames.aks_pool_name("averyverylongname", args)) == 12
    # declared names that meet after AKS's truncation still get different pools
    assert poolnames.aks_pool_name("generalpool1", args) != poolnames.aks_pool_name("generalpool2", args)


def test_two_pools_under_one_name_fail(prod: Stack) -> None:
    pools = [r for r in prod if r.type == AGENT_POOL and "eu-west-01" in r.name]
    same = {pools[1].urn: pools[0].inputs["agentPoolName"]}
    twins = Stack([dataclasses.replace(r, inputs={**r.inputs, "agentPoolName": same[r.urn]}) if r.urn in same else r
                   for r in prod])
    found = messages("aks-pool-names-unique", twins)
    assert len(found) == 1 and "used twice" in found[0]


def test_gke_pool_under_its_plain_name_fails(prod: Stack) -> None:
    old = with_inputs(prod, NODE_POOL, lambda i: {**i, "name": i["name"].rsplit("-", 1)[0]})
    found = messages("gke-pool-replaced-under-new-name", old)
    assert len(found) == 3 and "production-fleet-us-central-01" in found[0]


def test_gke_machine_type_is_not_create_only(prod: Stack) -> None:
    """GKE updates machine type in place: the name must not change, or every resize rolls a new pool."""
    pool = next(r for r in prod if r.type == NODE_POOL)
    resized = {**pool.inputs, "nodeConfig": {**pool.inputs["nodeConfig"], "machineType": "n2-standard-32"}}
    spot = {**pool.inputs, "nodeConfig": {**pool.inputs["nodeConfig"], "spot": not pool.inputs["nodeConfig"]["spot"]}}
    name = pool.inputs["name"].rsplit("-", 1)[0]
    assert poolnames.gke_pool_name(name, resized) == pool.inputs["name"]
    assert poolnames.gke_pool_name(name, spot) != pool.inputs["name"]


def _pool_changed(document: dict, type_: str, change) -> dict:
    resources = []
    for entry in document["resources"]:
        if entry["type"] == type_:
            entry = {**entry, "inputs": change(dict(entry["inputs"]))}
        resources.append(entry)
    return {**document, "resources": resources}


def test_diff_shows_a_spot_or_vm_size_change_as_a_replacement_under_a_new_name(prod_synth: dict) -> None:
    def resize(inputs: dict[str, Any]) -> dict[str, Any]:
        changed = {**inputs, "vmSize": "Standard_D32s_v5"}
        declared = poolnames.declared_pool(inputs["nodeLabels"])
        return {**changed, "agentPoolName": poolnames.aks_pool_name(declared, changed)}

    def unspot(inputs: dict[str, Any]) -> dict[str, Any]:
        changed = {**inputs, "nodeConfig": {**inputs["nodeConfig"], "spot": not inputs["nodeConfig"]["spot"]}}
        return {**changed, "name": poolnames.gke_pool_name(inputs["name"].rsplit("-", 1)[0], changed)}

    head = _pool_changed(_pool_changed(prod_synth, AGENT_POOL, resize), NODE_POOL, unspot)
    changes = [c for c in diff_synth(prod_synth, head).changes if c.type in (AGENT_POOL, NODE_POOL)]
    assert changes and all(c.action == "replace" for c in changes)
    assert all("inputs.agentPoolName" in c.fields or "inputs.name" in c.fields for c in changes)
    assert not messages("aks-pool-replaced-under-new-name", recorded(head))


def test_a_lock_over_the_agent_pools_fails(prod: Stack) -> None:
    group = next(r for r in prod if r.type == AGENT_POOL).inputs["resourceGroupName"]
    lock = Resource("azure-native:authorization:ManagementLockAtResourceGroupLevel", "old-lock", "urn:old-lock",
                    {"lockName": "fleet-protect", "level": "CanNotDelete", "resourceGroupName": group})
    found = messages("aks-pools-not-locked", Stack([*prod, lock]))
    assert len(found) == 1 and "ScopeLocked" in found[0] and "denyAction" in found[0]


# --- defect 8: role assignments used before they work ----------------------------------------------


def _without_gates(stack: Stack) -> Stack:
    """The old shape: no gate, its users depending on the assignments directly."""
    gates = {r.urn: r for r in stack if r.inputs.get("gate") == azure_rbac.GATE_MARKER}
    resources = []
    for resource in stack:
        if resource.urn in gates:
            continue
        dependencies = [d for u in resource.dependencies
                        for d in ([*gates[u].dependencies] if u in gates else [u])]
        resources.append(dataclasses.replace(resource, dependencies=tuple(dict.fromkeys(dependencies))))
    return Stack(resources)


def test_first_use_without_a_gate_fails(prod: Stack) -> None:
    found = messages("azure-rbac-before-use", _without_gates(prod))
    clusters = [m for m in found if m.startswith("cluster ")]
    providers = [m for m in found if m.startswith("the Kubernetes provider")]
    assert len(clusters) == 2 and len(providers) == 2
    assert "identity-kms" in clusters[0] and "deployer-admin" in providers[0] and "10 minutes" in found[0]


def test_every_aks_cluster_has_both_gates(prod: Stack) -> None:
    gates = [r for r in prod if r.inputs.get("gate") == azure_rbac.GATE_MARKER]
    kinds = sorted((r.inputs["cluster"], r.inputs["kind"]) for r in gates)
    assert kinds == sorted((c, k) for c in ("production-fleet-eu-west-01", "production-fleet-eu-west-02")
                           for k in (azure_rbac.KUBERNETES_ACCESS, azure_rbac.ASSIGNMENT_AGE))
    assert all(r.inputs.get("kubeconfig") in (None, "[secret]") for r in gates)


def test_assignment_age_wait_is_bounded() -> None:
    now = dt.datetime(2026, 1, 1, 0, 3, tzinfo=dt.UTC)
    created = ["2026-01-01T00:00:00.0000000Z"[:26] + "Z", "2026-01-01T00:01:00Z"]
    assert azure_rbac.remaining_wait(created, 600, now) == 480  # the newest is 2 minutes old
    assert azure_rbac.remaining_wait(created, 600, now + dt.timedelta(hours=1)) == 0
    assert azure_rbac.remaining_wait(["2030-01-01T00:00:00Z"], 600, now) == 600  # skewed clock: bounded
    assert azure_rbac.remaining_wait([], 600, now) == 600


def test_kubernetes_probe_retries_until_allowed_then_times_out() -> None:
    answers = iter([False, False, True])
    clock = iter(range(0, 1000, 10))
    assert azure_rbac.wait_until(lambda: next(answers), 60, 15, clock=lambda: next(clock), sleep=lambda _: None) == 3
    clock = iter(range(0, 1000, 10))
    with pytest.raises(azure_rbac.GateTimeoutError):
        azure_rbac.wait_until(lambda: False, 60, 15, clock=lambda: next(clock), sleep=lambda _: None)
    assert azure_rbac.access_review_allowed({"status": {"allowed": True}})
    assert not azure_rbac.access_review_allowed({"status": {"allowed": False, "reason": "not yet"}})


def test_exec_token_runs_the_kubeconfig_plugin() -> None:
    seen: dict[str, Any] = {}

    def run(command, **kwargs):
        seen.update(command=command, env=kwargs["env"])
        return type("Done", (), {"stdout": '{"status": {"token": "t0ken"}}'})()

    user = {"exec": {"command": "kubelogin", "args": ["get-token"], "env": [{"name": "AAD_LOGIN_METHOD",
                                                                              "value": "azurecli"}]}}
    assert azure_rbac.exec_token(user, run=run) == "t0ken"
    assert seen["command"] == ["kubelogin", "get-token"] and seen["env"]["AAD_LOGIN_METHOD"] == "azurecli"


def test_concurrent_federated_credentials_fail() -> None:
    def credential(name: str, dependencies: tuple[str, ...] = ()) -> Resource:
        return Resource("azure-native:managedidentity:FederatedIdentityCredential", name, f"urn:{name}",
                        {"resourceGroupName": "rg-hub", "resourceName": "id-hub-gitops"}, dependencies=dependencies)

    parallel = Stack([credential("a"), credential("b"), credential("c")])
    assert len(messages("azure-federated-credentials-serialised", parallel)) == 2
    chained = Stack([credential("a"), credential("b", ("urn:a",)), credential("c", ("urn:b",))])
    assert messages("azure-federated-credentials-serialised", chained) == []


def test_inline_system_pool_without_a_guard_fails(prod: Stack) -> None:
    unguarded = Stack([r for r in prod if r.inputs.get("guard") != aks_system_pool.GUARD_MARKER])
    found = messages("aks-inline-system-pool-guarded", unguarded)
    assert len(found) == 2 and "production-fleet-eu-west-01" in found[0] and "mid-update" in found[0]
    resized = with_inputs(prod, "azure-native:containerservice:ManagedCluster", lambda i: {
        **i, "agentPoolProfiles": [{**i["agentPoolProfiles"][0], "vmSize": "Standard_D8s_v5"}]})
    assert len(messages("aks-inline-system-pool-guarded", resized)) == 2  # the guard holds other fields


def test_the_guard_refuses_a_create_only_change_and_says_what_to_do() -> None:
    old = aks_system_pool.create_only({"vm_size": "Standard_D4s_v5", "scale_set_priority": "Regular",
                                       "os_disk_size_gb": 100, "availability_zones": ["1", "2", "3"]})
    engine = {**old, "osDiskSizeGB": 100.0}  # the engine's numbers are floats
    assert aks_system_pool.refusal("c1", old, engine) is None
    message = aks_system_pool.refusal("c1", old, {**old, "vmSize": "Standard_D8s_v5"})
    assert message and message.startswith("cluster c1:") and "vmSize" in message and "system: true" in message
    provider = aks_system_pool._GuardProvider()
    with pytest.raises(RuntimeError, match="cannot change its vmSize"):
        provider.diff("id", {"cluster": "c1", "fields": old}, {"cluster": "c1", "fields": {**old, "vmSize": "x"}})
    assert provider.diff("id", {"cluster": "c1", "fields": old}, {"cluster": "c1", "fields": engine}).changes is False


def test_kubernetes_probe_asks_the_api_server_as_the_kubeconfig_user() -> None:
    """Against a local API stand-in: 403 while the assignment propagates, then an allowed review."""
    import http.server
    import json
    import sys
    import threading

    import yaml

    answers = [(403, {}), (201, {"status": {"allowed": True}})]
    seen: list[tuple[str, str, dict]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers["Authorization"], body))
            code, answer = answers.pop(0)
            self.send_response(code)
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = 'import json; print(json.dumps({"status": {"token": "t0ken"}}))'
    kubeconfig = yaml.safe_dump({
        "clusters": [{"name": "c1", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "u", "user": {"exec": {"command": sys.executable, "args": ["-c", token]}}}]})
    try:
        probe = azure_rbac.kubernetes_probe(kubeconfig)
        assert probe() is False and probe() is True
    finally:
        server.shutdown()
    path, authorization, review = seen[0]
    assert path == azure_rbac.ACCESS_REVIEW_PATH and authorization == "Bearer t0ken"
    assert review["kind"] == "SelfSubjectAccessReview" and review["spec"]["resourceAttributes"] == azure_rbac.EVERYTHING
