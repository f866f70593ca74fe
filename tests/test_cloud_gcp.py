"""fleet.clouds.gcp: what a user notices on the recorded engine inputs of GKE clusters.

Each scenario runs the real component under the SDK's mock engine (fakes from
fleet.synth.fakes) and records every RegisterResource request: type, name, parent, protect,
provider, dependencies and the engine-side (camelCase) inputs.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc, settings

import fleet.clouds.gcp as gke
from fleet.clouds import poolnames
from fleet.clouds.base import ServiceAccountRef
from fleet.clouds.sizes import INSTANCE_TYPES, OS_DISK_GB
from fleet.plan import ClusterPlan, FleetPlan, NodePoolPlan, Taint, expand
from fleet.settings import parse_settings
from fleet.spec.load import parse_documents, read_yaml_documents
from fleet.synth.engine import FakeCloud
from fleet.synth.fakes.common import FAKE_CA_DATA, GCP_PROJECT_NUMBER

PROJECT = "acme-fleet"
CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
SECRET_SIG = rpc._special_sig_key if hasattr(rpc, "_special_sig_key") else "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"

# --- building plans ---------------------------------------------------------------------------

TEMPLATE = """
apiVersion: fleet.example.com/v1
kind: ClusterTemplate
metadata: {{name: blueprint}}
spec:
  version: "1.35"
  networking: {{cni: {cni}, apiAccess: {access}, authorizedNetworks: [198.51.100.0/24]}}
  security: {{secretsEncryption: {encryption}}}
  gitops: {{engine: {engine}}}
  nodePools:
    - {{name: general, size: large, min: 3, max: 9}}
    - name: batch
      size: xlarge
      min: 0
      max: 4
      spot: true
      labels: {{workload: batch}}
      taints: [{{key: dedicated, value: batch, effect: NoExecute}}]
---
apiVersion: fleet.example.com/v1
kind: ClusterSet
metadata: {{name: acme}}
spec:
  environment: {environment}
  hub: {{template: blueprint, provider: gcp, location: us-central1}}
  repository: {{url: https://github.com/acme/fleet}}
  regions:
    - name: us-east
      clusters: 1
      template: blueprint
      provider: gcp
      labels: {{compliance: PCI.DSS, Team: Payments}}
"""

ADMINS = ["group:platform@acme.example", "user:alice@acme.example", "domain:acme.example"]
CI_RUNNERS = ["192.0.2.0/28"]


def make_fleet(access: str = "authorized", environment: str = "production", cni: str = "cilium",
               encryption: bool = True, engine: str = "argocd") -> FleetPlan:
    text = TEMPLATE.format(access=access, environment=environment, cni=cni,
                           encryption=str(encryption).lower(), engine=engine)
    documents, problems = read_yaml_documents(text, "fleet.yaml")
    declaration, more = parse_documents(documents)
    stack, even_more = parse_settings(
        {"gcpProject": PROJECT, "ciRunnerCidrs": CI_RUNNERS, "admins": {"gcp": ADMINS}}, "Pulumi.test.yaml")
    fleet, errors = expand(declaration, stack, "test", today=date(2026, 11, 22))
    assert not (problems or more or even_more or errors), (problems, more, even_more, errors)
    return fleet


# --- running the component under mocks --------------------------------------------------------


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    protect: bool
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    raw: Any


@dataclass
class Synth:
    fleet: FleetPlan
    resources: list[Registered] = field(default_factory=list)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, token: str) -> list[Registered]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str) -> Registered:
        found = [r for r in self.resources if r.type == token and r.name == name]
        assert len(found) == 1, (token, name, [r.name for r in self.of_type(token)])
        return found[0]

    def children_of(self, cluster: str) -> list[Registered]:
        component = self.one("fleet:clouds:GkeCluster", cluster)
        return [r for r in self.resources if r.parent == component.urn]

    @property
    def hub(self) -> ClusterPlan:
        return self.fleet.hubs[0]

    @property
    def spoke(self) -> ClusterPlan:
        return self.fleet.spokes_of(self.hub)[0]


def run(fleet: FleetPlan) -> Synth:
    result = Synth(fleet)
    settings.ROOT.set(None)  # a fresh stack per program, as `pulumi up` has
    pulumi.runtime.set_mocks(FakeCloud(), project="fleet", stack="test", preview=False)
    monitor = settings.get_monitor()
    register = monitor.RegisterResource

    def recording(request):
        response = register(request)
        result.resources.append(Registered(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent,
            protect=bool(request.protect), provider=request.provider, dependencies=list(request.dependencies),
            inputs=rpc.deserialize_properties(request.object), raw=request.object))
        return response

    monitor.RegisterResource = recording

    @pulumi.runtime.test
    def program():
        root = pulumi.ComponentResource("fleet:test:Fleet", "fleet")
        hub = gke.Cluster(fleet.hubs[0], None, opts=pulumi.ResourceOptions(parent=root))
        handles = {hub.handle.name: hub.handle}
        refs = [ServiceAccountRef("argocd", "argocd-application-controller"),
                ServiceAccountRef("argocd", "argocd-server")]
        identity = gke.hub_identity(fleet.hubs[0], hub.handle, refs, parent=root)
        accesses = {}
        for spoke in fleet.spokes_of(fleet.hubs[0]):
            cluster = gke.Cluster(spoke, hub.handle.egress_cidrs, opts=pulumi.ResourceOptions(parent=root))
            handles[spoke.name] = cluster.handle
            accesses[spoke.name] = gke.grant_hub_access(spoke, cluster.handle, identity, parent=root)

        def collect(name: str, handle) -> pulumi.Output:
            access = accesses.get(name)
            parts = {
                "endpoint": handle.endpoint, "hub_server": handle.hub_server, "ca_data": handle.ca_data,
                "oidc_issuer": handle.oidc_issuer, "resource_id": handle.resource_id,
                "account": handle.account, "egress": handle.egress_cidrs,
                "kubeconfig": handle.kubeconfig,
                "annotations": pulumi.Output.all(**dict(handle.annotations)),
                "principal": identity.principal,
                "identity_details": pulumi.Output.all(**dict(identity.details)),
                "identity_annotations": pulumi.Output.all(**dict(identity.service_account_annotations)),
            }
            if access:
                parts["argocd"] = access.argocd_config
                parts["flux"] = access.flux_config
            return pulumi.Output.all(
                pulumi.Output.all(**parts),
                handle.kubeconfig.is_secret(),  # type: ignore[arg-type]
            ).apply(lambda v: result.values.__setitem__(name, {**v[0], "kubeconfig_secret": v[1]}))

        return pulumi.Output.all(*[collect(n, h) for n, h in handles.items()])

    program()
    return result


@pytest.fixture(scope="module")
def production() -> Synth:
    return run(make_fleet("authorized", "production", "cilium"))


@pytest.fixture(scope="module")
def staging_private() -> Synth:
    return run(make_fleet("private", "staging", "cloud", encryption=False, engine="flux"))


@pytest.fixture(scope="module")
def dns() -> Synth:
    return run(make_fleet("dns", "staging", "cilium", engine="flux"))


def cluster_inputs(synth: Synth, name: str) -> dict[str, Any]:
    return synth.one("gcp:container/cluster:Cluster", name).inputs


# --- resources per cluster --------------------------------------------------------------------

PER_CLUSTER = {
    "gcp:compute/network:Network": 1,
    "gcp:compute/subnetwork:Subnetwork": 1,
    "gcp:compute/router:Router": 1,
    "gcp:compute/routerNat:RouterNat": 1,
    "gcp:kms/keyRing:KeyRing": 1,
    "gcp:kms/cryptoKey:CryptoKey": 1,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": 1,
    "gcp:serviceaccount/account:Account": 1,
    "gcp:projects/iAMMember:IAMMember": len(gke.NODE_SA_ROLES),
    "gcp:container/cluster:Cluster": 1,
    "gcp:container/nodePool:NodePool": 3,  # system + general + batch
    "pulumi:providers:kubernetes": 1,
    CRB: 1,  # fleet-admins
}


def test_resource_types_created_per_cluster(production):
    for plan in (production.hub, production.spoke):
        counts: dict[str, int] = {}
        for resource in production.children_of(plan.name):
            counts[resource.type] = counts.get(resource.type, 0) + 1
        expected = {**PER_CLUSTER, "gcp:compute/address:Address": gke.nat_address_count(plan.node_pools)}
        assert counts == expected, plan.name


def test_every_child_is_parented_to_its_component(production):
    components = {r.urn for r in production.of_type("fleet:clouds:GkeCluster")}
    for resource in production.resources:
        shared = "gitops" in resource.name or resource.name.startswith("gcp-admin-")
        if resource.type.startswith("gcp:") and not shared:
            assert resource.parent in components, resource.name


def test_without_secrets_encryption_no_kms(staging_private):
    types = {r.type for r in staging_private.resources}
    assert not {t for t in types if t.startswith("gcp:kms/")}
    assert "databaseEncryption" not in cluster_inputs(staging_private, staging_private.spoke.name)


# --- network ---------------------------------------------------------------------------------


def test_network_is_custom_mode_with_pod_and_service_ranges_and_flow_logs(production):
    plan = production.spoke
    network = production.one("gcp:compute/network:Network", f"{plan.name}-vpc").inputs
    assert network["autoCreateSubnetworks"] is False and network["routingMode"] == "REGIONAL"
    subnet = production.one("gcp:compute/subnetwork:Subnetwork", f"{plan.name}-nodes").inputs
    assert subnet["ipCidrRange"] == plan.network.node_cidr
    assert subnet["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": plan.network.pod_cidr},
        {"rangeName": "services", "ipCidrRange": plan.network.service_cidr},
    ]
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["logConfig"]["aggregationInterval"] == "INTERVAL_5_SEC"
    policy = cluster_inputs(production, plan.name)["ipAllocationPolicy"]
    assert policy == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}


def test_nat_egress_uses_static_addresses_exported_as_32s(production):
    plan = production.spoke
    nat = production.one("gcp:compute/routerNat:RouterNat", f"{plan.name}-nat").inputs
    count = gke.nat_address_count(plan.node_pools)
    assert count == 2  # 17 nodes at up to 4096 ports each
    assert nat["natIpAllocateOption"] == "MANUAL_ONLY"
    assert nat["natIps"] == [f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/"
                             f"{plan.location}/addresses/{plan.name}-nat-{i}" for i in range(count)]
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    for i in range(count):
        address = production.one("gcp:compute/address:Address", f"{plan.name}-nat-{i}")
        assert address.inputs["addressType"] == "EXTERNAL"
    egress = production.values[plan.name]["egress"]
    assert len(egress) == count and all(re.fullmatch(r"203\.0\.113\.\d+/32", e) for e in egress)


# --- control plane access, one test per apiAccess mode ---------------------------------------


def test_authorized_endpoint_lists_declared_ci_runner_and_hub_egress_cidrs(production):
    spoke = cluster_inputs(production, production.spoke.name)
    hub_egress = production.values[production.hub.name]["egress"]
    blocks = [b["cidrBlock"] for b in spoke["masterAuthorizedNetworksConfig"]["cidrBlocks"]]
    assert blocks == ["198.51.100.0/24", *CI_RUNNERS, *hub_egress]
    assert "0.0.0.0/0" not in blocks
    assert spoke["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert spoke["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    assert spoke["controlPlaneEndpointsConfig"]["ipEndpointsConfig"] == {"enabled": True}
    assert spoke["controlPlaneEndpointsConfig"]["dnsEndpointConfig"] == {"allowExternalTraffic": False}
    # the hub itself has no hub egress to add
    hub = cluster_inputs(production, production.hub.name)
    assert [b["cidrBlock"] for b in hub["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [
        "198.51.100.0/24", *CI_RUNNERS]
    values = production.values[production.spoke.name]
    assert values["endpoint"].startswith("https://203.0.113.")
    assert values["hub_server"] == values["endpoint"] and values["ca_data"] == FAKE_CA_DATA


def test_private_endpoint_only_reached_through_connect_gateway(staging_private):
    plan = staging_private.spoke
    inputs = cluster_inputs(staging_private, plan.name)
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    assert "masterAuthorizedNetworksConfig" not in inputs
    assert inputs["fleet"] == {"project": PROJECT}
    gateway = (f"https://{plan.location}-connectgateway.googleapis.com/v1/projects/{GCP_PROJECT_NUMBER}"
               f"/locations/{plan.location}/gkeMemberships/{plan.name}")
    values = staging_private.values[plan.name]
    assert values["endpoint"] == gateway and values["hub_server"] == gateway
    assert values["ca_data"] == ""


def test_dns_endpoint_allows_iam_traffic_and_disables_ip_access(dns):
    plan = dns.spoke
    inputs = cluster_inputs(dns, plan.name)
    assert inputs["controlPlaneEndpointsConfig"] == {
        "dnsEndpointConfig": {"allowExternalTraffic": True}, "ipEndpointsConfig": {"enabled": False}}
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True}
    assert "masterAuthorizedNetworksConfig" not in inputs
    values = dns.values[plan.name]
    assert re.fullmatch(rf"https://gke-[0-9a-f]{{32}}-{GCP_PROJECT_NUMBER}\.{plan.location}\.gke\.goog",
                        values["endpoint"])
    assert values["hub_server"].startswith(f"https://{plan.location}-connectgateway.googleapis.com/")
    assert values["ca_data"] == ""


# --- identity, encryption, dataplane, protection ------------------------------------------------


def test_workload_identity_and_metadata_server_on_every_pool(production):
    inputs = cluster_inputs(production, production.spoke.name)
    assert inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    for pool in production.of_type("gcp:container/nodePool:NodePool"):
        assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_secrets_are_encrypted_with_a_rotated_key_the_gke_agent_may_use(production):
    plan = production.spoke
    key = production.one("gcp:kms/cryptoKey:CryptoKey", f"{plan.name}-secrets")
    ring = production.one("gcp:kms/keyRing:KeyRing", f"{plan.name}-keyring").inputs
    assert ring["location"] == plan.location
    assert key.inputs["rotationPeriod"] == "7776000s"
    grant = production.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", f"{plan.name}-secrets-gke-agent")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == (
        f"serviceAccount:service-{GCP_PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com")
    cluster = production.one("gcp:container/cluster:Cluster", plan.name)
    ring_id = f"projects/{PROJECT}/locations/{plan.location}/keyRings/{plan.name}-gke"
    key_id = f"{ring_id}/cryptoKeys/kubernetes-secrets"
    assert cluster.inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key_id}
    assert grant.urn in cluster.dependencies  # the agent may use the key before the cluster exists


def test_cilium_is_dataplane_v2_and_cloud_is_the_legacy_dataplane(production, staging_private):
    assert cluster_inputs(production, production.spoke.name)["datapathProvider"] == "ADVANCED_DATAPATH"
    cloud = cluster_inputs(staging_private, staging_private.spoke.name)
    assert cloud["datapathProvider"] == "LEGACY_DATAPATH"


def test_production_is_protected_twice_and_on_the_stable_channel(production):
    cluster = production.one("gcp:container/cluster:Cluster", production.spoke.name)
    assert cluster.protect and cluster.inputs["deletionProtection"] is True
    assert production.one("gcp:kms/cryptoKey:CryptoKey", f"{production.spoke.name}-secrets").protect
    assert cluster.inputs["releaseChannel"] == {"channel": "STABLE"}


def test_staging_is_unprotected_and_on_the_regular_channel(staging_private):
    cluster = staging_private.one("gcp:container/cluster:Cluster", staging_private.spoke.name)
    assert not cluster.protect and cluster.inputs["deletionProtection"] is False
    assert cluster.inputs["releaseChannel"] == {"channel": "REGULAR"}


def test_cluster_hardening(production):
    plan = production.spoke
    inputs = cluster_inputs(production, plan.name)
    assert inputs["location"] == plan.location and inputs["nodeLocations"] == list(plan.network.zones)
    assert inputs["removeDefaultNodePool"] is True and inputs["initialNodeCount"] == 1
    assert inputs["minMasterVersion"] == plan.kubernetes_version
    assert inputs["enableShieldedNodes"] is True
    logged = set(inputs["loggingConfig"]["enableComponents"])
    assert {"APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"} <= logged
    assert inputs["securityPostureConfig"] == {"mode": "BASIC"}
    assert inputs["defaultMaxPodsPerNode"] == gke.MAX_PODS_PER_NODE == 32
    assert inputs["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    # the short-lived default pool does not run as the Compute Engine default service account
    assert inputs["nodeConfig"]["serviceAccount"].startswith(gke.account_id(plan.name, "nodes"))


# --- node pools -------------------------------------------------------------------------------


def test_node_pools_follow_the_plan(production):
    plan = production.spoke
    for pool in plan.node_pools:
        inputs = production.one("gcp:container/nodePool:NodePool", f"{plan.name}-{pool.name}").inputs
        config = inputs["nodeConfig"]
        assert inputs["location"] == plan.location and inputs["name"] == poolnames.gke_pool_name(pool.name, inputs)
        assert inputs["name"].startswith(f"{pool.name}-")
        assert config["machineType"] == INSTANCE_TYPES["gcp"][pool.size]
        assert config["diskSizeGb"] == OS_DISK_GB[pool.size]
        assert inputs["autoscaling"]["totalMinNodeCount"] == pool.min_nodes
        assert inputs["autoscaling"]["totalMaxNodeCount"] == pool.max_nodes
        assert "minNodeCount" not in inputs["autoscaling"]
        assert inputs["initialNodeCount"] == -(-pool.min_nodes // len(plan.network.zones))
        assert config["spot"] is pool.spot
        assert config["labels"] == dict(pool.labels)
        assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
        assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True,
                                                    "enableIntegrityMonitoring": True}
        nodes = gke.account_id(plan.name, "nodes")
        assert config["serviceAccount"] == f"{nodes}@{PROJECT}.iam.gserviceaccount.com"
        assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert inputs["maxPodsPerNode"] == gke.MAX_PODS_PER_NODE


def test_system_pool_taint_and_user_taints(production):
    plan = production.spoke
    system = production.one("gcp:container/nodePool:NodePool", f"{plan.name}-system").inputs["nodeConfig"]
    assert system["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    batch = production.one("gcp:container/nodePool:NodePool", f"{plan.name}-batch").inputs
    assert batch["nodeConfig"]["taints"] == [{"key": "dedicated", "value": "batch", "effect": "NO_EXECUTE"}]
    assert batch["nodeConfig"]["spot"] is True and batch["autoscaling"]["locationPolicy"] == "ANY"
    assert batch["nodeConfig"]["machineType"] == "n2-standard-16"
    general = production.one("gcp:container/nodePool:NodePool", f"{plan.name}-general").inputs["nodeConfig"]
    assert general["taints"] == []


def test_node_service_account_is_least_privilege(production):
    plan = production.spoke
    account = production.one("gcp:serviceaccount/account:Account", f"{plan.name}-nodes").inputs
    assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account["accountId"])
    email = f"serviceAccount:{account['accountId']}@{PROJECT}.iam.gserviceaccount.com"
    roles = {r.inputs["role"] for r in production.children_of(plan.name)
             if r.type == "gcp:projects/iAMMember:IAMMember" and r.inputs["member"] == email}
    assert roles == set(gke.NODE_SA_ROLES)
    assert not any("admin" in role or role in ("roles/editor", "roles/owner") for role in roles)


# --- tags, regions, projects -------------------------------------------------------------------

LABELS_AT = {
    "gcp:compute/address:Address": ("labels",),
    "gcp:kms/cryptoKey:CryptoKey": ("labels",),
    "gcp:container/cluster:Cluster": ("resourceLabels",),
    "gcp:container/nodePool:NodePool": ("nodeConfig", "resourceLabels"),
}
REGION_AT = {
    "gcp:compute/subnetwork:Subnetwork": "region",
    "gcp:compute/router:Router": "region",
    "gcp:compute/routerNat:RouterNat": "region",
    "gcp:compute/address:Address": "region",
    "gcp:kms/keyRing:KeyRing": "location",
    "gcp:container/cluster:Cluster": "location",
    "gcp:container/nodePool:NodePool": "location",
}
GLOBAL = {  # no region in the API: VPCs, IAM, service accounts; keys live in their (regional) key ring
    "gcp:compute/network:Network", "gcp:serviceaccount/account:Account", "gcp:projects/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMMember:IAMMember", "gcp:kms/cryptoKey:CryptoKey",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
}


# scoped by their parent's full id (key ring, key, service account) instead of a project argument
NO_PROJECT_ARGUMENT = {"gcp:kms/cryptoKey:CryptoKey", "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
                       "gcp:serviceaccount/iAMMember:IAMMember"}


def _get(inputs: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        inputs = inputs[key]
    return inputs


def test_tags_are_sanitised_labels_on_every_labelled_resource(production):
    for plan in (production.hub, production.spoke):
        expected = gke.gcp_labels(plan.tags)
        assert expected["fleet-cluster"] == plan.name and expected["cloud"] == "gcp"
        if plan.role == "spoke":  # region entry labels, sanitised: compliance=PCI.DSS, Team=Payments
            assert expected["compliance"] == "pci_dss" and expected["team"] == "payments"
        for resource in production.children_of(plan.name):
            if resource.type in LABELS_AT:
                labels = _get(resource.inputs, LABELS_AT[resource.type])
                assert expected.items() <= labels.items(), resource.name
                for key, value in labels.items():
                    assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key)
                    assert re.fullmatch(r"[a-z0-9_-]{0,63}", value)


def test_every_resource_has_an_explicit_region_and_project(production):
    for plan in (production.hub, production.spoke):
        for resource in production.children_of(plan.name):
            if not resource.type.startswith("gcp:"):
                continue
            assert resource.type in REGION_AT or resource.type in GLOBAL, resource.type
            if resource.type in REGION_AT:
                assert resource.inputs[REGION_AT[resource.type]] == plan.location, resource.name
            if resource.type not in NO_PROJECT_ARGUMENT:
                assert resource.inputs["project"] == PROJECT, resource.name


# --- kubeconfig, handle ----------------------------------------------------------------------


def test_kubeconfig_is_a_secret_exec_plugin_config(production):
    values = production.values[production.spoke.name]
    assert values["kubeconfig_secret"] is True
    assert "command: gke-gcloud-auth-plugin" in values["kubeconfig"]
    assert "provideClusterInfo: true" in values["kubeconfig"]
    provider = production.one("pulumi:providers:kubernetes", f"{production.spoke.name}-k8s")
    assert provider.raw.fields["kubeconfig"].struct_value.fields[SECRET_SIG].string_value == SECRET_VALUE
    assert provider.inputs["clusterIdentifier"] == production.spoke.name


def test_handle_identity_fields(production):
    plan = production.spoke
    values = production.values[plan.name]
    resource_id = f"projects/{PROJECT}/locations/{plan.location}/clusters/{plan.name}"
    assert values["resource_id"] == resource_id
    assert values["oidc_issuer"] == f"https://container.googleapis.com/v1/{resource_id}"
    assert values["account"] == PROJECT
    assert values["annotations"] == {
        "gcp_project_id": PROJECT, "gcp_project_number": GCP_PROJECT_NUMBER, "gcp_region": plan.location,
        "gcp_cluster_id": plan.name, "gcp_workload_identity_pool": f"{PROJECT}.svc.id.goog",
        "gcp_membership": f"//gkehub.googleapis.com/projects/{PROJECT}/locations/{plan.location}"
                          f"/memberships/{plan.name}",
    }


def test_kubernetes_objects_go_through_the_clusters_provider(production):
    plan = production.spoke
    provider = production.one("pulumi:providers:kubernetes", f"{plan.name}-k8s")
    binding = production.one(CRB, f"{plan.name}-fleet-admins")
    assert binding.provider.startswith(provider.urn)


# --- admins ------------------------------------------------------------------------------------


def test_admins_get_cluster_viewer_in_the_project_and_cluster_admin_in_rbac(production):
    grants = [r for r in production.of_type("gcp:projects/iAMMember:IAMMember")
              if r.name.startswith("gcp-admin-")]
    # one grant per (project, role, member) for the whole fleet, never roles/container.admin
    assert sorted((g.inputs["role"], g.inputs["member"]) for g in grants) == sorted(
        ("roles/container.clusterViewer", m) for m in ADMINS)
    binding = production.one(CRB,
                             f"{production.spoke.name}-fleet-admins").inputs
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "cluster-admin"}
    assert binding["subjects"] == [
        {"kind": "Group", "name": "platform@acme.example", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "User", "name": "alice@acme.example", "apiGroup": "rbac.authorization.k8s.io"},
    ]
    # Google Groups for RBAC, so the group subject means something
    assert cluster_inputs(production, production.spoke.name)["authenticatorGroupsConfig"] == {
        "securityGroup": "gke-security-groups@acme.example"}


# --- hub identity and spoke access -------------------------------------------------------------


def test_hub_identity_is_a_service_account_bound_through_workload_identity(production):
    hub = production.hub
    account = production.one("gcp:serviceaccount/account:Account", f"{hub.name}-gitops")
    bindings = production.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert sorted(b.inputs["member"] for b in bindings) == [
        f"serviceAccount:{PROJECT}.svc.id.goog[argocd/argocd-application-controller]",
        f"serviceAccount:{PROJECT}.svc.id.goog[argocd/argocd-server]",
    ]
    email = f"{account.inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"
    for binding in bindings:
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert binding.inputs["serviceAccountId"] == f"projects/{PROJECT}/serviceAccounts/{email}"
    assert production.values[hub.name]["principal"] == email
    assert production.values[hub.name]["identity_annotations"] == {"iam.gke.io/gcp-service-account": email}


def _hub_access(synth: Synth) -> tuple[set[str], dict]:
    email = synth.values[synth.hub.name]["principal"]
    roles = {r.inputs["role"] for r in synth.of_type("gcp:projects/iAMMember:IAMMember")
             if r.inputs["member"] == f"serviceAccount:{email}"}
    binding = synth.one(CRB,
                        f"{synth.spoke.name}-fleet-hub").inputs
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"kind": "User", "name": email, "apiGroup": "rbac.authorization.k8s.io"}]
    return roles, synth.values[synth.spoke.name]


def test_hub_reaches_an_authorized_spoke_on_its_ip_with_the_cluster_ca(production):
    roles, values = _hub_access(production)
    assert roles == {"roles/container.clusterViewer"}
    assert values["argocd"] == {"execProviderConfig": {
        "command": "argocd-k8s-auth", "args": ["gcp"], "apiVersion": "client.authentication.k8s.io/v1beta1"}}
    cluster_ca = base64.b64decode(FAKE_CA_DATA).decode()
    assert values["flux"] == {"provider": "gcp", "cluster": values["resource_id"],
                              "address": values["endpoint"], "ca.crt": cluster_ca}


@pytest.mark.parametrize("scenario", ["staging_private", "dns"])
def test_hub_reaches_private_and_dns_spokes_through_connect_gateway(scenario, request):
    synth = request.getfixturevalue(scenario)
    roles, values = _hub_access(synth)
    assert roles == {"roles/container.clusterViewer", "roles/gkehub.gatewayEditor"}
    assert values["flux"]["address"] == values["hub_server"]
    assert "connectgateway.googleapis.com" in values["hub_server"]
    assert values["flux"]["ca.crt"] == gke.GOOGLE_TRUST_SERVICES_ROOTS
    assert values["flux"]["ca.crt"].count("BEGIN CERTIFICATE") == 4


@pytest.mark.parametrize("scenario", ["production", "staging_private"])
def test_project_grants_are_the_shared_grants_one_stack_declares(scenario, request):
    """What a sharded environment's stack declares for its shards (gke.project_grants, from the plan
    alone) is what the clusters declare in one stack: same names, roles, projects and members."""
    synth = request.getfixturevalue(scenario)
    shared = {r.name: r.inputs for r in synth.of_type("gcp:projects/iAMMember:IAMMember")
              if "fleet:clouds:GkeCluster::" not in r.parent}  # not a cluster's own node grants
    grants = gke.project_grants(synth.fleet, None)
    assert sorted(g.name for g in grants) == sorted(shared)
    hub_member = f"serviceAccount:{synth.values[synth.hub.name]['principal']}"
    assert {g.name: {"project": g.project, "role": g.role, "member": g.member or hub_member} for g in grants} == {
        name: {k: inputs[k] for k in ("project", "role", "member")} for name, inputs in shared.items()}
    assert {g.hub for g in grants} == {None, synth.hub.name} and len(grants) == len(ADMINS) + (
        1 if scenario == "production" else 2)  # Connect Gateway for a private spoke


# --- pure decisions ----------------------------------------------------------------------------


def test_gcp_labels_rules():
    labels = gke.gcp_labels({"Team": "Payments", "fleet.example.com/pool": "A.B", "1st": "x" * 80})
    assert labels == {"team": "payments", "fleet_example_com_pool": "a_b", "x-1st": "x" * 63}


@pytest.mark.parametrize("cluster", ["a", "prod-fleet-us-east-01", "9lives", "x" * 40, "acme-hub"])
def test_account_ids_are_valid_stable_and_distinct(cluster):
    nodes, gitops = gke.account_id(cluster, "nodes"), gke.account_id(cluster, "gitops")
    for value in (nodes, gitops):
        assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", value), value
    assert nodes != gitops and nodes == gke.account_id(cluster, "nodes")


def test_connect_gateway_hosts():
    assert gke.connect_gateway_url("42", "global", "c") == (
        "https://connectgateway.googleapis.com/v1/projects/42/locations/global/gkeMemberships/c")
    assert gke.connect_gateway_url("42", "europe-west1", "c") == (
        "https://europe-west1-connectgateway.googleapis.com/v1/projects/42/locations/europe-west1/gkeMemberships/c")


def test_authorized_blocks_never_open_the_internet():
    blocks = gke.authorized_blocks(["10.0.0.0/8", "0.0.0.0/0", "10.0.0.0/8"], ["203.0.113.7/32"])
    assert [b["cidr_block"] for b in blocks] == ["10.0.0.0/8", "203.0.113.7/32"]


def test_capacity_nat_and_initial_counts():
    assert gke.pod_range_node_capacity("10.0.16.0/20") == 64  # 32 pods per node
    assert gke.pod_range_node_capacity("10.0.16.0/20", 64) == 32
    assert gke.pod_range_node_capacity("10.0.16.0/20", 110) == 16
    pool = NodePoolPlan("p", "small", 5, 40, False, False, {}, (Taint("k", "v", "PreferNoSchedule"),))
    assert gke.initial_nodes_per_zone(pool, 3) == 2
    assert gke.nat_address_count([pool]) == 3  # 40 nodes x 4096 ports
    assert gke.node_taints(pool) == [{"key": "k", "value": "v", "effect": "PREFER_NO_SCHEDULE"}]


def test_rbac_subjects_and_groups_security_group():
    assert gke.rbac_subject("serviceAccount:ci@p.iam.gserviceaccount.com")["kind"] == "User"
    assert gke.rbac_subject("domain:acme.example") is None
    assert gke.groups_security_group(["user:a@x.io", "group:ops@x.io"]) == "gke-security-groups@x.io"
    assert gke.groups_security_group(["user:a@x.io"]) is None


def test_project_resolution():
    assert gke.resolve_project("a", "b") == "a"
    assert gke.resolve_project(None, "b") == "b"
    with pytest.raises(ValueError, match="gcpProject"):
        gke.resolve_project(None, None)


def test_importing_gcp_does_not_import_other_clouds():
    code = ("import sys, fleet.clouds.gcp, fleet.synth.fakes.gcp; "
            "assert 'pulumi_aws' not in sys.modules and 'pulumi_azure_native' not in sys.modules, "
            "[m for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_azure'))]")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys, fleet.synth.fakes.gcp; assert 'pulumi_gcp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- node versions pinned by the template (issue #14) ---------------------------------------------

NODE_POOL = "gcp:container/nodePool:NodePool"
PINNED = "1.35.1-gke.1396002"
HELD = [{"exclusionUntilEndOfSupports": [{"enabled": True}]}]


@pytest.fixture(scope="module")
def pinned() -> Synth:
    import dataclasses

    fleet = make_fleet("authorized", "production", "cilium")
    return run(FleetPlan(tuple(dataclasses.replace(c, node_version=PINNED) for c in fleet.clusters)))


def test_a_pinned_node_version_reaches_every_pool_held_by_its_maintenance_exclusion(pinned, production):
    pools = pinned.of_type(NODE_POOL)
    assert pools and all(p.inputs["version"] == PINNED and p.inputs["maintenancePolicies"] == HELD for p in pools)
    assert all(p.inputs["management"] == {"autoRepair": True, "autoUpgrade": True} for p in pools)  # channel rules
    assert {p.name for p in pools} == {p.name for p in production.of_type(NODE_POOL)}  # same pools, not replaced
    unpinned = production.of_type(NODE_POOL)  # unset: as before, the release channel upgrades the nodes
    assert all("version" not in p.inputs and "maintenancePolicies" not in p.inputs for p in unpinned)
    clusters = pinned.of_type("gcp:container/cluster:Cluster")
    assert {c.inputs["minMasterVersion"] for c in clusters} == {"1.35"}  # the control plane is untouched


def _recorded(synth: Synth) -> list:
    from fleet.recorded import Resource

    return [Resource(r.type, r.name, r.urn, r.inputs) for r in synth.resources]


def _violations(stack: list) -> list[str]:
    from fleet.behaviour.gcp import gke_pinned_node_version_held

    return [m for r in stack for m in gke_pinned_node_version_held(r, stack)]


def test_a_pinned_pool_without_its_exclusion_or_newer_than_its_control_plane_is_refused(pinned, production):
    import dataclasses

    assert _violations(_recorded(pinned)) == [] and _violations(_recorded(production)) == []
    unheld = [dataclasses.replace(r, inputs={k: v for k, v in r.inputs.items() if k != "maintenancePolicies"})
              if r.type == NODE_POOL else r for r in _recorded(pinned)]
    found = _violations(unheld)
    assert len(found) == len(pinned.of_type(NODE_POOL))
    assert "no maintenance exclusion until end of support" in found[0] and PINNED in found[0]
    ahead = [dataclasses.replace(r, inputs={**r.inputs, "version": "1.36.0-gke.100"})
             if r.type == NODE_POOL else r for r in _recorded(pinned)]
    found = _violations(ahead)
    assert len(found) == len(pinned.of_type(NODE_POOL))
    assert "is not within two minors below its control plane's 1.35 (minMasterVersion)" in found[0]
    behind = [dataclasses.replace(r, inputs={**r.inputs, "version": "1.33.5-gke.1"})
              if r.type == NODE_POOL else r for r in _recorded(pinned)]
    assert _violations(behind) == []  # two minors older: GKE's skew allows it
