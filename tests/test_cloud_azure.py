"""AKS module: pure decisions, then the recorded engine inputs of whole clusters under the mock engine."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from fleet.clouds import azure, poolnames
from fleet.clouds.base import ServiceAccountRef
from fleet.plan import ClusterPlan, expand
from fleet.settings import parse_settings
from fleet.spec.load import parse_documents, read_yaml_documents
from fleet.synth.engine import FakeCloud, Record, RecordingMonitor
from fleet.synth.fakes import fake_invoke
from fleet.synth.fakes.common import AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID, FAKE_CA_DATA, FAKE_CA_PEM

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
ADMIN_GROUP = "5f3c2a8e-1b4d-4c6e-9a7f-0d2e4b6c8a10"
CI_RUNNERS = "198.51.100.0/26"
HUB_EGRESS = ["192.0.2.7/32"]

# azure-native types that carry tags / a location in ARM (everything else lives inside one of these).
TAGGABLE = {
    "azure-native:resources:ResourceGroup", "azure-native:network:VirtualNetwork",
    "azure-native:network:PublicIPAddress", "azure-native:network:NatGateway",
    "azure-native:managedidentity:UserAssignedIdentity", "azure-native:keyvault:Vault",
    "azure-native:keyvault:Key", "azure-native:operationalinsights:Workspace",
    "azure-native:containerservice:ManagedCluster", "azure-native:containerservice:AgentPool",
}
LOCATED = TAGGABLE - {"azure-native:keyvault:Key", "azure-native:containerservice:AgentPool"}


def declaration(api_access: str = "authorized", cni: str = "cilium", encryption: bool = True) -> str:
    return f"""
apiVersion: fleet.example.com/v1
kind: ClusterTemplate
metadata: {{name: blueprint}}
spec:
  version: "1.34"
  networking: {{cni: {cni}, apiAccess: {api_access}, authorizedNetworks: [203.0.113.0/28]}}
  security: {{secretsEncryption: {str(encryption).lower()}}}
  nodePools:
    - {{name: system, size: medium, min: 3, max: 6, system: true}}
    - {{name: general, size: large, min: 2, max: 30}}
    - name: batch-spot
      size: xlarge
      min: 0
      max: 20
      spot: true
      labels: {{workload-class: batch}}
      taints: [{{key: workload-class, value: batch, effect: NoSchedule}}]
---
apiVersion: fleet.example.com/v1
kind: ClusterSet
metadata: {{name: prod}}
spec:
  repository: {{url: "https://github.com/acme/fleet.git"}}
  hub: {{template: blueprint, provider: azure, location: westeurope}}
  regions:
    - {{name: eu-west, clusters: 1, template: blueprint, provider: azure,
        labels: {{compliance: gdpr, "acme.example/team": platform}}}}
"""


def plans(environment: str = "production", **kwargs: Any) -> dict[str, ClusterPlan]:
    documents, problems = read_yaml_documents(declaration(**kwargs), "test.yaml")
    parsed, more = parse_documents(documents)
    values = {"environment": environment, "ciRunnerCidrs": [CI_RUNNERS], "admins": {"azure": [ADMIN_GROUP]}}
    settings, even_more = parse_settings(values, "test")
    fleet, errors = expand(parsed, settings, "prod", today=date(2026, 1, 15))
    assert not (problems or more or even_more or errors), problems + more + even_more + errors
    return {"hub" if c.is_hub else "spoke": c for c in fleet.clusters}


# --- the mock engine ---------------------------------------------------------------------------


@dataclass
class Synth:
    records: list[Record]
    values: dict[str, Any] = field(default_factory=dict)

    def of(self, type_suffix: str) -> list[Record]:
        return [r for r in self.records if r.type.endswith(type_suffix)]

    def one(self, type_suffix: str) -> Record:
        found = self.of(type_suffix)
        assert len(found) == 1, [r.name for r in found]
        return found[0]

    def named(self, name: str) -> Record:
        return next(r for r in self.records if r.name == name)


def run(program) -> Synth:
    monitor = RecordingMonitor(FakeCloud())
    pulumi.runtime.set_mocks(FakeCloud(), project="fleet", stack="prod", preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}
    _sync_await(run_pulumi_func(lambda: program(outputs)))
    values = {key: _sync_await(value.future(with_unknowns=True)) if isinstance(value, pulumi.Output)
              else value for key, value in outputs.items()}
    secrets = {key: _sync_await(value.is_secret()) for key, value in outputs.items()
               if isinstance(value, pulumi.Output)}
    return Synth(monitor.records, {**values, "_secret": secrets})


def synth_cluster(plan: ClusterPlan, hub_egress: list[str] | None = None) -> Synth:
    def program(out: dict[str, Any]) -> None:
        egress = pulumi.Output.from_input(hub_egress) if hub_egress is not None else None
        cluster = azure.Cluster(plan, egress)
        handle = cluster.handle
        out.update(endpoint=handle.endpoint, ca=handle.ca_data, kubeconfig=handle.kubeconfig,
                   issuer=handle.oidc_issuer, egress=handle.egress_cidrs, account=handle.account,
                   resource_id=handle.resource_id, component=cluster.urn,
                   annotations=pulumi.Output.all(**dict(handle.annotations)))
    return run(program)


def secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


# --- pure decisions ----------------------------------------------------------------------------


def test_tags_are_sanitised_for_arm():
    tags = azure.azure_tags({"acme.example/team": "platform", "env": "production", "Env": "x",
                             "a?b": "v" * 300})
    assert tags["acme.example_team"] == "platform"
    assert len([k for k in tags if k.lower() == "env"]) == 1  # ARM tag names ignore case
    assert tags["a_b"] == "v" * 256


def test_names_fit_azure_limits():
    long = "a" * 63
    names = azure.resource_names(long)
    assert len(names["vnet"]) <= 64 and len(names["workspace"]) <= 63 and len(names["dns_prefix"]) <= 54
    assert azure.resource_names(long) == names  # stable
    vault = azure.key_vault_name("prod-eu-west-01", AZURE_SUBSCRIPTION_ID)
    assert 3 <= len(vault) <= 24 and vault[0].isalpha() and "--" not in vault
    assert vault != azure.key_vault_name("prod-eu-west-01", "another-subscription")  # global names differ
    assert azure.agent_pool_name("batch-spot") == "batchspot"
    assert azure.agent_pool_name("1gpu") == "p1gpu"
    assert len(azure.agent_pool_name("abcdefghijklm")) == 12


def test_api_access_modes():
    spoke = plans()["spoke"]
    ranges = azure.authorized_ranges(spoke.endpoint.authorized_cidrs, ["203.0.113.9/32"], HUB_EGRESS)
    assert ranges == ["203.0.113.0/28", CI_RUNNERS, "203.0.113.9/32", *HUB_EGRESS]
    assert azure.authorized_ranges([], ["203.0.113.9/32"], None) == ["203.0.113.9/32"]  # never empty
    assert azure.api_server_access(spoke, ranges) == {"authorized_ip_ranges": ranges}
    with pytest.raises(ValueError):
        azure.api_server_access(spoke, None)
    private = replace(spoke, endpoint=replace(spoke.endpoint, mode="private"))
    assert azure.api_server_access(private, None)["enable_private_cluster"] is True
    with pytest.raises(ValueError, match="not available on azure"):
        azure.api_server_access(replace(spoke, endpoint=replace(spoke.endpoint, mode="dns")), None)


def test_network_profile_follows_cni():
    cilium = azure.network_profile(plans(cni="cilium")["spoke"])
    assert cilium["network_dataplane"] == "cilium" and cilium["network_policy"] == "cilium"
    cloud = azure.network_profile(plans(cni="cloud")["spoke"])
    assert cloud["network_dataplane"] == "azure" and "network_policy" not in cloud
    for profile in (cilium, cloud):
        assert profile["network_plugin"] == "azure" and profile["network_plugin_mode"] == "overlay"
        assert profile["outbound_type"] == "userAssignedNATGateway"


def test_access_data_for_argocd_and_flux():
    config = azure.argocd_exec_config("client", "tenant")["execProviderConfig"]
    assert config["command"] == "argocd-k8s-auth" and config["args"] == ["azure"]
    assert config["env"]["AAD_LOGIN_METHOD"] == "workloadidentity"
    assert config["env"]["AZURE_CLIENT_ID"] == "client" and config["env"]["AZURE_TENANT_ID"] == "tenant"
    data = azure.flux_kubeconfig_data("/subscriptions/s/x", "https://a:443", FAKE_CA_DATA)
    assert data == {"provider": "azure", "cluster": "/subscriptions/s/x", "address": "https://a:443",
                    "ca.crt": FAKE_CA_PEM}


# --- whole clusters ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production() -> tuple[ClusterPlan, Synth]:
    spoke = plans()["spoke"]
    return spoke, synth_cluster(spoke, HUB_EGRESS)


def test_resources_per_cluster(production):
    _, result = production
    kinds = sorted({r.type for r in result.records})
    assert kinds == sorted({
        "fleet:clouds:AksCluster", "pulumi:providers:kubernetes",
        "azure-native:resources:ResourceGroup", "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:network:PublicIPAddress", "azure-native:network:NatGateway",
        "azure-native:network:VirtualNetwork", "azure-native:network:Subnet",
        "azure-native:authorization:RoleAssignment", "azure-native:operationalinsights:Workspace",
        "azure-native:keyvault:Vault", "azure-native:keyvault:Key",
        "azure-native:containerservice:ManagedCluster", "azure-native:monitor:DiagnosticSetting",
        "azure-native:containerservice:AgentPool",
        "azure-native:authorization:PolicyAssignment", "pulumi-python:dynamic:Resource",
    })
    component = result.values["component"]
    assert all(r.parent == component for r in result.records if r.type != "fleet:clouds:AksCluster")


def test_tags_and_location_on_every_resource(production):
    plan, result = production
    expected = azure.azure_tags(plan.tags)
    assert expected["acme.example_team"] == "platform" and expected["fleet-cluster"] == plan.name
    for record in result.records:
        if record.type in TAGGABLE:
            assert record.inputs["tags"] == expected, record.name
        if record.type in LOCATED:
            assert record.inputs["location"] == "westeurope", record.name
    system = result.one("ManagedCluster").inputs["agentPoolProfiles"][0]
    assert system["tags"] == expected


def test_entra_rbac_workload_identity_and_no_local_accounts(production):
    _, result = production
    cluster = result.one("ManagedCluster").inputs
    assert cluster["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "tenantID": AZURE_TENANT_ID}
    assert cluster["disableLocalAccounts"] is True and cluster["enableRBAC"] is True
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    identity = result.named(f"{production[0].name}-identity")
    assert cluster["identity"]["type"] == "UserAssigned"
    assert cluster["identity"]["userAssignedIdentities"] == [
        f"/subscriptions/{AZURE_SUBSCRIPTION_ID}/resourceGroups/rg-{production[0].name}/providers/"
        f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity.inputs['resourceName']}"]
    assert cluster["kubernetesVersion"] == "1.34"
    assert cluster["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}


def test_role_assignments(production):
    plan, result = production
    assignments = {r.name: r.inputs for r in result.of("RoleAssignment")}
    cluster_id = result.values["resource_id"]
    admin = assignments[f"{plan.name}-admin-{ADMIN_GROUP}"]
    assert admin["principalId"] == ADMIN_GROUP and admin["principalType"] == "Group"
    assert admin["scope"] == cluster_id
    assert admin["roleDefinitionId"].endswith("/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    assert admin["roleDefinitionId"].startswith(f"/subscriptions/{AZURE_SUBSCRIPTION_ID}/")
    deployer = assignments[f"{plan.name}-deployer-admin"]
    assert deployer["scope"] == cluster_id and deployer["roleDefinitionId"] == admin["roleDefinitionId"]
    network = assignments[f"{plan.name}-identity-network"]
    assert network["scope"].endswith(f"/virtualNetworks/vnet-{plan.name}")
    assert network["roleDefinitionId"].endswith("4d97b98b-1d4f-4787-a291-c67834d212e7")


def test_secrets_encryption_key_wiring(production):
    plan, result = production
    vault, key = result.one("keyvault:Vault"), result.one("keyvault:Key")
    properties = vault.inputs["properties"]
    assert properties["enableRbacAuthorization"] is True and properties["enablePurgeProtection"] is True
    assert properties["enableSoftDelete"] is True and properties["softDeleteRetentionInDays"] == 90
    assert properties["tenantId"] == AZURE_TENANT_ID and properties["publicNetworkAccess"] == "Enabled"
    assert key.inputs["vaultName"] == vault.inputs["vaultName"] and key.inputs["properties"]["kty"] == "RSA"
    kms = result.one("ManagedCluster").inputs["securityProfile"]["azureKeyVaultKms"]
    assert kms["enabled"] is True and kms["keyVaultNetworkAccess"] == "Public"
    assert kms["keyId"].startswith(f"https://{vault.inputs['vaultName']}.vault.azure.net/keys/etcd-kms/")
    crypto = result.named(f"{plan.name}-identity-kms").inputs
    assert crypto["roleDefinitionId"].endswith("12338af0-0e69-4776-bea7-57ae8d297424")
    assert crypto["scope"].endswith(f"/vaults/{vault.inputs['vaultName']}")
    assert crypto["principalType"] == "ServicePrincipal"
    assert result.named(f"{plan.name}-identity-kms").urn in result.one("ManagedCluster").dependencies
    assert vault.protect and key.protect


def test_no_key_vault_without_secrets_encryption():
    result = synth_cluster(plans(encryption=False)["spoke"], None)
    assert not result.of("keyvault:Vault") and not result.of("keyvault:Key")
    assert "azureKeyVaultKms" not in result.one("ManagedCluster").inputs["securityProfile"]


def test_authorized_endpoint_includes_ci_runners_own_and_hub_egress(production):
    _, result = production
    access = result.one("ManagedCluster").inputs["apiServerAccessProfile"]
    own = result.values["egress"]
    assert own and all(cidr.endswith("/32") for cidr in own)
    assert access == {"authorizedIPRanges": ["203.0.113.0/28", CI_RUNNERS, *own, *HUB_EGRESS]}
    assert "0.0.0.0/0" not in access["authorizedIPRanges"]
    endpoint = result.values["endpoint"]
    assert endpoint.startswith("https://") and endpoint.endswith(".azmk8s.io:443")


def test_private_endpoint():
    spoke = plans()["spoke"]  # fleet.access refuses a private spoke under a hub: the module gets the mode directly
    result = synth_cluster(replace(spoke, endpoint=replace(spoke.endpoint, mode="private")), HUB_EGRESS)
    access = result.one("ManagedCluster").inputs["apiServerAccessProfile"]
    assert access == {"enablePrivateCluster": True, "privateDNSZone": "system",
                      "enablePrivateClusterPublicFQDN": True}
    assert result.values["endpoint"].endswith(".azmk8s.io:443")


def test_dns_mode_is_refused_on_azure():
    spoke = plans()["spoke"]
    dns = replace(spoke, endpoint=replace(spoke.endpoint, mode="dns"))
    with pytest.raises(Exception, match="not available on azure"):
        synth_cluster(dns)


def test_network_and_egress(production):
    plan, result = production
    vnet, subnet = result.one("VirtualNetwork").inputs, result.one("network:Subnet").inputs
    assert vnet["addressSpace"] == {"addressPrefixes": [plan.network.node_cidr]}
    assert subnet["addressPrefix"] == plan.network.private_subnets[0]
    assert subnet["defaultOutboundAccess"] is False
    assert subnet["natGateway"]["id"].endswith(f"/natGateways/ng-{plan.name}")
    ip = result.one("PublicIPAddress").inputs
    assert ip["sku"] == {"name": "Standard", "tier": "Regional"}
    assert ip["publicIPAllocationMethod"] == "Static"
    nat_ips = result.one("NatGateway").inputs["publicIpAddresses"]
    assert nat_ips[0]["id"].endswith(f"/publicIPAddresses/pip-{plan.name}-egress")
    profile = result.one("ManagedCluster").inputs["networkProfile"]
    assert profile["podCidr"] == plan.network.pod_cidr and profile["serviceCidr"] == plan.network.service_cidr
    assert profile["dnsServiceIP"] == plan.network.dns_service_ip
    assert profile["networkDataplane"] == "cilium" and profile["networkPolicy"] == "cilium"


def test_node_pools(production):
    plan, result = production
    cluster = result.one("ManagedCluster")
    system = cluster.inputs["agentPoolProfiles"]
    assert len(system) == 1 and system[0]["name"] == "system" and system[0]["mode"] == "System"
    assert system[0]["vmSize"] == "Standard_D4s_v5"
    assert (system[0]["minCount"], system[0]["maxCount"]) == (3, 6)
    assert system[0]["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert system[0]["availabilityZones"] == ["1", "2", "3"] and system[0]["enableAutoScaling"] is True
    assert system[0]["vnetSubnetID"].endswith("/subnets/snet-nodes")
    assert "agentPoolProfiles[0].count" in cluster.options["ignoreChanges"]
    pools = {r.inputs["agentPoolName"][:-4]: r for r in result.of("AgentPool")}
    assert set(pools) == {"general", "batchspo"}
    general, spot = pools["general"].inputs, pools["batchspo"].inputs
    assert general["agentPoolName"] == poolnames.aks_pool_name("general", general)
    assert general["mode"] == "User" and general["vmSize"] == "Standard_D8s_v5"
    assert (general["minCount"], general["maxCount"]) == (2, 30) and general["scaleSetPriority"] == "Regular"
    assert general["upgradeSettings"] == {"maxSurge": "33%"}
    assert general["nodeLabels"] == {"fleet.example.com/pool": "general"}
    assert spot["vmSize"] == "Standard_D16s_v5" and (spot["minCount"], spot["maxCount"]) == (0, 20)
    assert spot["scaleSetPriority"] == "Spot" and spot["scaleSetEvictionPolicy"] == "Delete"
    assert spot["spotMaxPrice"] == -1 and "upgradeSettings" not in spot
    assert spot["nodeLabels"] == {"fleet.example.com/pool": "batch-spot", "workload-class": "batch"}
    assert spot["nodeTaints"] == ["workload-class=batch:NoSchedule",
                                  "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
    for pool in (general, spot):
        assert pool["resourceName"] == plan.name and pool["availabilityZones"] == ["1", "2", "3"]
        assert pool["securityProfile"] == {"sshAccess": "Disabled"} and pool["osSKU"] == "AzureLinux"
    assert all(p.options.get("ignoreChanges") == ["count"] for p in pools.values())


def test_audit_logs(production):
    _, result = production
    setting = result.one("DiagnosticSetting").inputs
    assert setting["resourceUri"] == result.values["resource_id"]
    assert setting["workspaceId"].endswith("/workspaces/log-" + production[0].name)
    assert [log["category"] for log in setting["logs"]] == ["kube-audit-admin", "kube-apiserver", "guard"]
    assert result.one("Workspace").inputs["retentionInDays"] == 90


def test_production_protection(production):
    plan, result = production
    cluster = result.one("ManagedCluster")
    assert plan.protect and cluster.protect
    assert cluster.inputs["sku"] == {"name": "Base", "tier": "Standard"}
    assert not result.of("ManagementLock")  # a lock would also lock the agent pools
    protection = result.one("PolicyAssignment").inputs
    assert protection["scope"].endswith(f"/resourceGroups/rg-{plan.name}")
    assert protection["policyDefinitionId"] == azure.DENY_DELETE_POLICY
    protected = protection["parameters"]["listOfResourceTypesDisallowedForDeletion"]["value"]
    assert "Microsoft.ContainerService/managedClusters" in protected
    assert not any("agentPools" in t for t in protected)


def test_staging_is_not_locked():
    plan = plans(environment="staging")["spoke"]
    result = synth_cluster(plan, HUB_EGRESS)
    assert not plan.protect and not result.one("ManagedCluster").protect
    assert not result.of("ManagementLockAtResourceGroupLevel") and not result.of("PolicyAssignment")
    assert result.one("ManagedCluster").inputs["sku"]["tier"] == "Free"
    assert result.one("ManagedCluster").inputs["disableLocalAccounts"] is True
    assert result.one("keyvault:Vault").inputs["properties"]["softDeleteRetentionInDays"] == 7


def test_kubeconfig_is_a_secret_exec_plugin(production):
    plan, result = production
    assert result.values["_secret"]["kubeconfig"] and not result.values["_secret"]["ca"]
    document = yaml.safe_load(result.values["kubeconfig"])
    user = document["users"][0]["user"]["exec"]
    assert user["command"] == "kubelogin"
    assert user["args"] == ["get-token", "--login", "azurecli", "--server-id", azure.AKS_SERVER_APP_ID]
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == result.values["endpoint"]
    assert cluster["certificate-authority-data"] == FAKE_CA_DATA
    provider = result.one("pulumi:providers:kubernetes")
    assert secret(provider.inputs["kubeconfig"]) and provider.inputs["clusterIdentifier"] == plan.name
    assert result.one("ManagedCluster").urn in provider.dependencies
    assert result.named(f"{plan.name}-deployer-admin").urn in provider.dependencies
    assert result.named(f"{plan.name}-deployer-access").urn in provider.dependencies


def test_handle_metadata(production):
    plan, result = production
    values = result.values
    assert values["account"] == AZURE_SUBSCRIPTION_ID
    assert values["resource_id"] == (f"/subscriptions/{AZURE_SUBSCRIPTION_ID}/resourceGroups/rg-{plan.name}"
                                     f"/providers/Microsoft.ContainerService/managedClusters/{plan.name}")
    assert values["issuer"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    assert values["annotations"] == {
        "azure_subscription_id": AZURE_SUBSCRIPTION_ID, "azure_tenant_id": AZURE_TENANT_ID,
        "azure_resource_group": f"rg-{plan.name}", "azure_cluster_id": values["resource_id"],
        "azure_oidc_issuer": values["issuer"],
    }


def test_hub_identity_and_spoke_access():
    both = plans()
    accounts = [ServiceAccountRef("argocd", "argocd-application-controller"),
                ServiceAccountRef("argocd", "argocd-server")]

    def program(out: dict[str, Any]) -> None:
        hub = azure.Cluster(both["hub"], None)
        spoke = azure.Cluster(both["spoke"], hub.handle.egress_cidrs)
        identity = azure.hub_identity(both["hub"], hub.handle, accounts, parent=hub)
        access = azure.grant_hub_access(both["spoke"], spoke.handle, identity, parent=spoke)
        out.update(argocd=access.argocd_config, flux=access.flux_config, client=identity.principal,
                   object_id=identity.details["principal_id"], issuer=hub.handle.oidc_issuer,
                   spoke_id=spoke.handle.resource_id, spoke_endpoint=spoke.handle.endpoint,
                   annotations=pulumi.Output.all(**dict(identity.service_account_annotations)),
                   hub_egress=hub.handle.egress_cidrs)

    result = run(program)
    values = result.values
    hub_name, spoke_name = both["hub"].name, both["spoke"].name
    gitops = result.named(f"{hub_name}-gitops-identity").inputs
    assert gitops["location"] == "westeurope" and gitops["resourceGroupName"] == f"rg-{hub_name}"
    credentials = result.of("FederatedIdentityCredential")
    assert [c.inputs["subject"] for c in credentials] == [
        "system:serviceaccount:argocd:argocd-application-controller",
        "system:serviceaccount:argocd:argocd-server",
    ]
    assert all(c.inputs["issuer"] == values["issuer"] for c in credentials)
    assert all(c.inputs["audiences"] == ["api://AzureADTokenExchange"] for c in credentials)
    assert credentials[0].urn in credentials[1].dependencies  # no concurrent writes on one identity
    grant = result.named(f"{spoke_name}-hub-admin").inputs
    assert grant["scope"] == values["spoke_id"] and grant["principalId"] == values["object_id"]
    assert grant["principalType"] == "ServicePrincipal"
    assert grant["roleDefinitionId"].endswith("b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    assert values["argocd"] == azure.argocd_exec_config(values["client"], AZURE_TENANT_ID)
    assert values["flux"] == {"provider": "azure", "cluster": values["spoke_id"],
                              "address": values["spoke_endpoint"], "ca.crt": FAKE_CA_PEM}
    assert values["annotations"] == {"azure.workload.identity/client-id": values["client"],
                                     "azure.workload.identity/tenant-id": AZURE_TENANT_ID}
    spoke_cluster = next(r for r in result.of("ManagedCluster") if r.inputs["resourceName"] == spoke_name)
    allowed = spoke_cluster.inputs["apiServerAccessProfile"]["authorizedIPRanges"]
    assert set(values["hub_egress"]) <= set(allowed)
    hub_cluster = next(r for r in result.of("ManagedCluster") if r.inputs["resourceName"] == hub_name)
    hub_allowed = hub_cluster.inputs["apiServerAccessProfile"]["authorizedIPRanges"]
    assert hub_allowed == ["203.0.113.0/28", CI_RUNNERS, *values["hub_egress"]]  # its own egress only


def test_fake_kubeconfig_decodes():
    credentials = fake_invoke("azure-native:containerservice:listManagedClusterUserCredentials",
                              {"resourceGroupName": "rg-x", "resourceName": "x"})
    assert azure.ca_from_kubeconfig(credentials["kubeconfigs"][0]["value"]) == FAKE_CA_DATA
    assert base64.b64decode(FAKE_CA_DATA).decode() == FAKE_CA_PEM


def test_import_loads_no_other_cloud():
    code = ("import sys, fleet.clouds.azure; "
            "bad = [m for m in ('pulumi_aws', 'pulumi_gcp') if m in sys.modules]; "
            "print(json.dumps(bad))")
    output = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                            check=True).stdout
    assert json.loads(output) == []
