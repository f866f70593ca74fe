"""Fake azure-native outputs: ARM ids, AKS FQDNs, OIDC issuer, identity ids, egress IPs, kubeconfig.

Inputs arrive under their engine (camelCase) names. Everything is derived from names with
common.digest / fake_uuid, so the same program gives the same ids on every run.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import yaml

from fleet.synth.fakes.common import (
    AZURE_SUBSCRIPTION_ID,
    AZURE_TENANT_ID,
    FAKE_CA_DATA,
    digest,
    fake_ip,
    fake_uuid,
)

Inputs = dict[str, Any]

_SUBSCRIPTION = f"/subscriptions/{AZURE_SUBSCRIPTION_ID}"
FAKE_CREATED_ON = "2026-01-01T00:00:00.0000000Z"
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"

# FQDNs of the fake managed clusters by (resource group, cluster name), so the credentials
# invoke returns a kubeconfig pointing at the same address the cluster reported.
_CLUSTER_FQDNS: dict[tuple[str, str], str] = {}


def _group_id(inputs: Inputs) -> str:
    return f"{_SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName', 'rg-unknown')}"


def _arm_id(inputs: Inputs, provider_type: str, name: str) -> str:
    return f"{_group_id(inputs)}/providers/{provider_type}/{name}"


def _named(field: str, provider_type: str, extra: Callable[[str, Inputs, str], dict[str, Any]] | None = None):
    """A fake for a resource named by `field` (falling back to the logical name), with an ARM id."""

    def fake(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
        arm_name = inputs.get(field) or name
        resource_id = _arm_id(inputs, provider_type, arm_name)
        outputs: dict[str, Any] = {"name": arm_name, "provisioningState": "Succeeded"}
        if extra:
            outputs.update(extra(arm_name, inputs, resource_id))
        return resource_id, outputs

    return fake


def _resource_group(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    group = inputs.get("resourceGroupName") or name
    return f"{_SUBSCRIPTION}/resourceGroups/{group}", {
        "name": group, "type": "Microsoft.Resources/resourceGroups",
        "properties": {"provisioningState": "Succeeded"},
    }


def _public_ip(arm_name: str, inputs: Inputs, resource_id: str) -> dict[str, Any]:
    return {"ipAddress": fake_ip("azure", resource_id), "resourceGuid": fake_uuid("pip", resource_id)}


def _identity(arm_name: str, inputs: Inputs, resource_id: str) -> dict[str, Any]:
    return {
        "clientId": fake_uuid("client", resource_id),
        "principalId": fake_uuid("principal", resource_id),
        "tenantId": AZURE_TENANT_ID,
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
    }


def _subnet(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    subnet = inputs.get("subnetName") or name
    vnet = inputs.get("virtualNetworkName", "vnet-unknown")
    return _arm_id(inputs, "Microsoft.Network/virtualNetworks", f"{vnet}/subnets/{subnet}"), {
        "name": subnet, "provisioningState": "Succeeded",
    }


def _vault(arm_name: str, inputs: Inputs, resource_id: str) -> dict[str, Any]:
    properties = dict(inputs.get("properties") or {})
    properties["vaultUri"] = f"https://{arm_name}.vault.azure.net/"
    return {"properties": properties}


def _key(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    key = inputs.get("keyName") or name
    vault = inputs.get("vaultName", "kv-unknown")
    uri = f"https://{vault}.vault.azure.net/keys/{key}"
    return _arm_id(inputs, "Microsoft.KeyVault/vaults", f"{vault}/keys/{key}"), {
        "name": key, "keyUri": uri, "keyUriWithVersion": f"{uri}/{digest('key', vault, key, length=32)}",
    }


def _role_assignment(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    scope = inputs.get("scope", _SUBSCRIPTION)
    assignment = inputs.get("roleAssignmentName") or fake_uuid("role-assignment", name)
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{assignment}", {
        "name": assignment, "type": "Microsoft.Authorization/roleAssignments",
        "createdOn": FAKE_CREATED_ON,  # fixed: nothing in a synth depends on today's date
    }


def _policy_assignment(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    assignment = inputs.get("policyAssignmentName") or name
    scope = inputs.get("scope", _SUBSCRIPTION)
    return f"{scope}/providers/Microsoft.Authorization/policyAssignments/{assignment}", {
        "name": assignment, "type": "Microsoft.Authorization/policyAssignments",
    }


def _lock(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    lock = inputs.get("lockName") or name
    return f"{_group_id(inputs)}/providers/Microsoft.Authorization/locks/{lock}", {"name": lock}


def _diagnostic_setting(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    setting = inputs.get("name") or name
    target = inputs.get("resourceUri", _SUBSCRIPTION)
    return f"{target}/providers/microsoft.insights/diagnosticSettings/{setting}", {"name": setting}


def _federated_credential(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    credential = inputs.get("federatedIdentityCredentialResourceName") or name
    identity = inputs.get("resourceName", "id-unknown")
    return _arm_id(inputs, "Microsoft.ManagedIdentity/userAssignedIdentities",
                   f"{identity}/federatedIdentityCredentials/{credential}"), {"name": credential}


def _workspace(arm_name: str, inputs: Inputs, resource_id: str) -> dict[str, Any]:
    return {"customerId": fake_uuid("workspace", resource_id)}


def _managed_cluster(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    cluster = inputs.get("resourceName") or name
    group = inputs.get("resourceGroupName", "rg-unknown")
    location = inputs.get("location", "eastus")
    resource_id = _arm_id(inputs, "Microsoft.ContainerService/managedClusters", cluster)
    prefix = inputs.get("dnsPrefix") or cluster
    fqdn = f"{prefix}-{digest('fqdn', resource_id, length=8)}.hcp.{location}.azmk8s.io"
    access = inputs.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    private_fqdn = (f"{prefix}-{digest('private', resource_id, length=8)}."
                    f"{fake_uuid('zone', resource_id)}.privatelink.{location}.azmk8s.io")
    _CLUSTER_FQDNS[(group, cluster)] = private_fqdn if private else fqdn
    node_group = inputs.get("nodeResourceGroup") or f"MC_{group}_{cluster}_{location}"
    kubelet = (f"{_SUBSCRIPTION}/resourceGroups/{node_group}/providers/"
               f"Microsoft.ManagedIdentity/userAssignedIdentities/{cluster}-agentpool")
    outputs: dict[str, Any] = {
        "name": cluster,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "fqdn": fqdn,
        "azurePortalFQDN": f"{prefix}-{digest('portal', resource_id, length=8)}"
                           f".portal.hcp.{location}.azmk8s.io",
        "currentKubernetesVersion": f"{inputs.get('kubernetesVersion', '1.33')}.3",
        "nodeResourceGroup": node_group,
        "maxAgentPools": 100,
        "oidcIssuerProfile": {
            "enabled": True,
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{AZURE_TENANT_ID}/"
                         f"{fake_uuid('oidc', resource_id)}/",
        },
        "identityProfile": {"kubeletidentity": {
            "resourceId": kubelet,
            "clientId": fake_uuid("kubelet-client", resource_id),
            "objectId": fake_uuid("kubelet-object", resource_id),
        }},
    }
    identity = dict(inputs.get("identity") or {})
    if isinstance(identity.get("userAssignedIdentities"), list):  # ARM answers with a map by id
        identity["userAssignedIdentities"] = {
            uid: {"clientId": fake_uuid("client", uid), "principalId": fake_uuid("principal", uid)}
            for uid in identity["userAssignedIdentities"]
        }
        outputs["identity"] = identity
    if private:
        outputs["privateFQDN"] = private_fqdn
    return resource_id, outputs


def _agent_pool(name: str, inputs: Inputs) -> tuple[str, dict[str, Any]]:
    pool = inputs.get("agentPoolName") or name
    cluster = inputs.get("resourceName", "aks-unknown")
    return _arm_id(inputs, "Microsoft.ContainerService/managedClusters", f"{cluster}/agentPools/{pool}"), {
        "name": pool, "provisioningState": "Succeeded",
        "currentOrchestratorVersion": inputs.get("orchestratorVersion"),
    }


RESOURCES: dict[str, Callable[[str, Inputs], tuple[str, dict[str, Any]]]] = {
    "azure-native:resources:ResourceGroup": _resource_group,
    "azure-native:network:VirtualNetwork": _named("virtualNetworkName", "Microsoft.Network/virtualNetworks",
                                                  lambda n, i, r: {"resourceGuid": fake_uuid("vnet", r)}),
    "azure-native:network:Subnet": _subnet,
    "azure-native:network:PublicIPAddress": _named(
        "publicIpAddressName", "Microsoft.Network/publicIPAddresses", _public_ip),
    "azure-native:network:NatGateway": _named("natGatewayName", "Microsoft.Network/natGateways",
                                              lambda n, i, r: {"resourceGuid": fake_uuid("nat", r)}),
    "azure-native:managedidentity:UserAssignedIdentity": _named(
        "resourceName", "Microsoft.ManagedIdentity/userAssignedIdentities", _identity),
    "azure-native:managedidentity:FederatedIdentityCredential": _federated_credential,
    "azure-native:keyvault:Vault": _named("vaultName", "Microsoft.KeyVault/vaults", _vault),
    "azure-native:keyvault:Key": _key,
    "azure-native:authorization:RoleAssignment": _role_assignment,
    "azure-native:authorization:ManagementLockAtResourceGroupLevel": _lock,
    "azure-native:authorization:PolicyAssignment": _policy_assignment,
    "azure-native:operationalinsights:Workspace": _named(
        "workspaceName", "Microsoft.OperationalInsights/workspaces", _workspace),
    "azure-native:monitor:DiagnosticSetting": _diagnostic_setting,
    "azure-native:containerservice:ManagedCluster": _managed_cluster,
    "azure-native:containerservice:AgentPool": _agent_pool,
}


def _client_config(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "clientId": fake_uuid("deployer-client"),
        "objectId": fake_uuid("deployer-object"),
        "subscriptionId": AZURE_SUBSCRIPTION_ID,
        "tenantId": AZURE_TENANT_ID,
    }


def _user_credentials(args: dict[str, Any]) -> dict[str, Any]:
    group, cluster = args.get("resourceGroupName", "rg-unknown"), args.get("resourceName", "aks-unknown")
    server = args.get("serverFqdn") or _CLUSTER_FQDNS.get((group, cluster)) or f"{cluster}.hcp.azmk8s.io"
    user = f"clusterUser_{group}_{cluster}"
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": cluster, "preferences": {},
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{server}:443",
                                                   "certificate-authority-data": FAKE_CA_DATA}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
            "args": ["get-token", "--login", "devicecode", "--server-id", AKS_SERVER_APP_ID,
                     "--tenant-id", AZURE_TENANT_ID, "--environment", "AzurePublicCloud"],
        }}}],
    }
    value = base64.b64encode(yaml.safe_dump(document, sort_keys=False).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:authorization:getClientConfig": _client_config,
    "azure-native:containerservice:listManagedClusterUserCredentials": _user_credentials,
}
