"""AKS: one resource group per cluster holding its network, identity, key, logs and cluster.

Reads top to bottom like the portal: resource group, control-plane identity, network (VNet,
node subnet, NAT gateway with a static egress IP), Key Vault key for etcd encryption, Log
Analytics for audit logs, the managed cluster with its system pool, user pools, role
assignments, the deletion lock, then the kubeconfig (kubelogin exec plugin) and the k8s provider.

Every decision that is pure data (names, tags, node pool shape, network profile, endpoint
access, Argo CD / Flux access data) is a small function or table at the top, tested without
Pulumi. The Cluster component below only wires them into azure-native resources.

Resources that have no location of their own in ARM (subnet, key, agent pool, role assignment,
federated credential, diagnostic setting, lock) live inside a parent that has one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
import yaml

from fleet.access import (
    AZURE_AUDIENCE,
    AZURE_AUTHORITY,
    azure_location_for,
    subject,
    token_mount,
    token_path,
    token_volume,
)
from fleet.clouds import kubeconfig as kube
from fleet.clouds import poolnames, sizes
from fleet.clouds.aks_system_pool import SystemPoolGuard
from fleet.clouds.azure_rbac import ASSIGNMENT_AGE, KUBERNETES_ACCESS, PropagationGate
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef, SpokeAccess
from fleet.plan import ClusterPlan, NodePoolPlan, Taint

# --- tables ------------------------------------------------------------------------------------

# Built-in Azure role definition GUIDs (the same in every tenant).
ROLES = {
    # Azure Kubernetes Service RBAC Cluster Admin
    "aks_rbac_cluster_admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "key_vault_crypto_user": "12338af0-0e69-4776-bea7-57ae8d297424",  # Key Vault Crypto User
    "network_contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",  # Network Contributor
}

# The Entra application every AKS cluster with managed Entra integration accepts tokens for.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"

# kubelogin with the Azure CLI login. kubelogin applies AAD_LOGIN_METHOD (and AZURE_CLIENT_ID,
# AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) after its flags, so CI overrides the login mode
# with AAD_LOGIN_METHOD=workloadidentity without touching this kubeconfig.
KUBELOGIN = kube.ExecPlugin(
    command="kubelogin",
    args=("get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID),
    install_hint="kubelogin is required: `az aks install-cli` or "
    "https://azure.github.io/kubelogin/install.html; log in with `az login` "
    "(CI: AAD_LOGIN_METHOD=workloadidentity)",
)

# Control-plane log categories sent to Log Analytics: audit (writes only) and Entra/RBAC decisions.
AUDIT_LOG_CATEGORIES = ("kube-audit-admin", "kube-apiserver", "guard")

# Days of audit logs and of Key Vault soft delete, production vs other environments.
LOG_RETENTION_DAYS = {True: 90, False: 30}
SOFT_DELETE_RETENTION_DAYS = {True: 90, False: 7}

SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"

# Characters Azure refuses in tag names.
_TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")


# --- pure helpers ------------------------------------------------------------------------------


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def bounded(name: str, limit: int) -> str:
    """`name` if it fits `limit`, else a stable truncation ending in a short hash of the whole."""
    if len(name) <= limit:
        return name
    suffix = short_hash(name)
    return f"{name[: limit - len(suffix) - 1].rstrip('-_.')}-{suffix}"


def azure_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """plan.tags made acceptable to ARM: no `<>%&\\?/` in names (Kubernetes-style `a.b/c` keys
    become `a.b_c`), names <= 512 and values <= 256 characters, names unique ignoring case."""
    result: dict[str, str] = {}
    seen: set[str] = set()
    for key in sorted(tags):
        name = _TAG_NAME_FORBIDDEN.sub("_", key)[:512]
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        result[name] = str(tags[key])[:256]
    return result


def resource_names(cluster: str) -> dict[str, str]:
    """ARM names of the per-cluster resources (derived from the cluster name only, stable)."""
    return {
        "resource_group": bounded(f"rg-{cluster}", 90),
        "node_resource_group": bounded(f"rg-{cluster}-nodes", 80),
        "vnet": bounded(f"vnet-{cluster}", 64),
        "subnet": "snet-nodes",
        "public_ip": bounded(f"pip-{cluster}-egress", 80),
        "nat_gateway": bounded(f"ng-{cluster}", 80),
        "identity": bounded(f"id-{cluster}-control-plane", 128),
        "key": "etcd-kms",
        "workspace": bounded(f"log-{cluster}", 63),
        "cluster": bounded(cluster, 63),
        "dns_prefix": bounded(cluster, 54),
        "diagnostics": "audit-to-log-analytics",
        "protection": "fleet-protect",  # the deny-delete policy assignment
        "hub_identity": bounded(f"id-{cluster}-gitops", 128),
    }


def key_vault_name(cluster: str, subscription_id: str) -> str:
    """Globally unique vault name (3-24 chars, letters/digits/hyphens, starts with a letter):
    a readable stem of the cluster name plus a hash of subscription and cluster."""
    stem = re.sub(r"[^a-z0-9]", "", cluster.lower())[:11]
    suffix = short_hash(subscription_id, cluster)
    return f"kv-{stem}-{suffix}" if stem else f"kv-{suffix}"


def agent_pool_name(name: str) -> str:
    """AKS Linux pool names: 1-12 lowercase letters and digits, starting with a letter."""
    cleaned = re.sub(r"[^a-z0-9]", "", name.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"p{cleaned}"
    return cleaned[:12]


# Built-in policy "Do not allow deletion of resource types" (effect DenyAction). A denyAction
# assignment blocks DELETE of the listed types and, cascadeBehaviors deny (its default), of their
# resource group, but not of child resources: deleting an agent pool (a child of the cluster) goes
# through. https://learn.microsoft.com/azure/governance/policy/concepts/effect-deny-action
DENY_DELETE_POLICY = "/providers/Microsoft.Authorization/policyDefinitions/78460a36-508a-49a4-b2b2-2f5ec564f4bb"
PROTECTED_TYPES = (
    "Microsoft.ContainerService/managedClusters",
    "Microsoft.KeyVault/vaults",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/natGateways",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.OperationalInsights/workspaces",
)


def deletion_protection_assignment(cluster: str) -> dict[str, Any]:
    """PolicyAssignment arguments that make a production cluster's resource group undeletable."""
    return {
        "policy_assignment_name": resource_names(cluster)["protection"],
        "display_name": f"fleet: production cluster {cluster} cannot be deleted",
        "description": f"fleet: production cluster {cluster}; lift protection with the region entry's "
                       "`decommission` before deleting it",
        "policy_definition_id": DENY_DELETE_POLICY,
        "parameters": {"listOfResourceTypesDisallowedForDeletion": {"value": list(PROTECTED_TYPES)}},
        "enforcement_mode": "Default",
    }


def taint_strings(taints: Iterable[Taint]) -> list[str]:
    return [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in taints]


def role_definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"


def sku_tier(plan: ClusterPlan) -> str:
    """Premium where LTS is relied on (LTS needs it), Standard (uptime SLA) in production, else Free.
    https://learn.microsoft.com/azure/aks/long-term-support"""
    if plan.extended_support:
        return "Premium"
    return "Standard" if plan.is_production else "Free"


def support_plan(plan: ClusterPlan) -> str | None:
    """AKSLongTermSupport when fleet:versionPolicy.extendedSupport is on (the calendar then honours the
    LTS end dates); otherwise unset: AKS's default KubernetesOfficial, and no new input on existing clusters."""
    return "AKSLongTermSupport" if plan.extended_support else None


def node_pool_args(pool: NodePoolPlan, plan: ClusterPlan) -> dict[str, Any]:
    """The fields an AKS agent pool takes (inline system profile and AgentPool alike).

    Spot applies to user pools only (AKS refuses spot system pools); spot pools carry the taint
    AKS adds anyway, so the next update does not try to remove it, and get no surge (unsupported).
    """
    spot = pool.spot and not pool.system
    taints = list(pool.taints) + ([SPOT_TAINT] if spot and SPOT_TAINT not in pool.taints else [])
    args: dict[str, Any] = {
        "mode": "System" if pool.system else "User",
        "vm_size": sizes.instance_type("azure", pool.size),
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "os_disk_type": "Managed",  # Dsv5 sizes have no local disk for an ephemeral OS disk
        "os_disk_size_gb": sizes.OS_DISK_GB[pool.size],
        "type": "VirtualMachineScaleSets",
        "orchestrator_version": plan.kubernetes_version,
        "availability_zones": list(plan.network.zones),
        "enable_auto_scaling": True,
        "min_count": pool.min_nodes,
        "max_count": pool.max_nodes,
        "count": pool.min_nodes,
        "node_labels": dict(pool.labels),
        "node_taints": taint_strings(taints),
        "enable_node_public_ip": False,
        "security_profile": {"ssh_access": "Disabled"},
        "scale_set_priority": "Spot" if spot else "Regular",
        "tags": azure_tags(plan.tags),
    }
    if spot:
        args.update(scale_set_eviction_policy="Delete", spot_max_price=-1)
    else:
        args["upgrade_settings"] = {"max_surge": "33%"}
    return args


def network_profile(plan: ClusterPlan) -> dict[str, Any]:
    """Azure CNI overlay; the Cilium dataplane (and its NetworkPolicy) when the blueprint says cilium."""
    cilium = plan.cni == "cilium"
    profile: dict[str, Any] = {
        "network_plugin": "azure",
        "network_plugin_mode": "overlay",
        "network_dataplane": "cilium" if cilium else "azure",
        "pod_cidr": plan.network.pod_cidr,
        "service_cidr": plan.network.service_cidr,
        "dns_service_ip": plan.network.dns_service_ip,
        "outbound_type": "userAssignedNATGateway",
        "load_balancer_sku": "standard",
    }
    if cilium:
        profile["network_policy"] = "cilium"
    return profile


def authorized_ranges(declared: Sequence[str], own_egress: Sequence[str],
                      hub_egress: Sequence[str] | None) -> list[str]:
    """API server allow-list: the declared networks and CI runners, the cluster's own NAT egress
    (its nodes reach the public API server from there) and, when given, the hub's egress.
    Never empty: an empty list would open the endpoint to everyone."""
    ranges = [*declared, *own_egress, *(hub_egress or [])]
    return list(dict.fromkeys(ranges))


def api_server_access(plan: ClusterPlan, ranges: pulumi.Input[Sequence[str]] | None) -> dict[str, Any]:
    mode = plan.endpoint.mode
    if mode == "private":
        # The public FQDN resolves to the private address, so peered networks (hub, CI runners)
        # resolve the API name without linking the private DNS zone.
        return {"enable_private_cluster": True, "private_dns_zone": "system",
                "enable_private_cluster_public_fqdn": True}
    if mode == "authorized":
        if ranges is None:  # an absent or empty list would leave the endpoint open to everyone
            raise ValueError(f"cluster {plan.name}: authorized apiAccess needs its allow-list")
        return {"authorized_ip_ranges": ranges}
    raise ValueError(f"cluster {plan.name}: apiAccess '{mode}' is not available on azure "
                     "(use private or authorized)")


def ca_from_kubeconfig(encoded: str) -> str:
    """The base64 CA data of the first cluster in a base64-encoded kubeconfig."""
    document = yaml.safe_load(base64.b64decode(encoded))
    return document["clusters"][0]["cluster"]["certificate-authority-data"]


def federated_credential_name(account: ServiceAccountRef) -> str:
    """3-120 characters: letters, digits, '-' and '_', starting with a letter or digit."""
    return bounded(re.sub(r"[^A-Za-z0-9_-]", "-", f"{account.namespace}-{account.name}"), 120)


def argocd_exec_config(client_id: str, tenant_id: str) -> dict[str, Any]:
    """Argo CD cluster `config` (declarative setup, AKS with workload identity): argocd-k8s-auth
    exchanges the controller's federated service account token for an Entra token."""
    return {
        "execProviderConfig": {
            "command": "argocd-k8s-auth",
            "args": ["azure"],
            "env": {
                "AAD_ENVIRONMENT_NAME": "AzurePublicCloud",
                "AAD_LOGIN_METHOD": "workloadidentity",
                "AZURE_CLIENT_ID": client_id,
                "AZURE_TENANT_ID": tenant_id,
            },
            "apiVersion": kube.EXEC_API_VERSION,
        }
    }


def flux_kubeconfig_data(cluster_id: str, address: str, ca_data: str) -> dict[str, str]:
    """Data of the ConfigMap a hub Kustomization's spec.kubeConfig.configMapRef names. With both
    address and ca.crt set, kustomize-controller needs no ARM read access to the spoke."""
    return {
        "provider": "azure",
        "cluster": cluster_id,
        "address": address,
        "ca.crt": base64.b64decode(ca_data).decode() if ca_data else "",
    }


def endpoint_url(fqdn: str | None, private_fqdn: str | None) -> str:
    """The API server URL as `az aks get-credentials` writes it."""
    return f"https://{fqdn or private_fqdn}:443"


# --- the component -----------------------------------------------------------------------------


def deployer_principal(plan: ClusterPlan, client: Any, parent: pulumi.Resource) -> pulumi.Input[str]:
    """The deploying principal's object id (fleet:deployer.azure). Without it, whoever runs the
    program: a preview by another identity then shows the deployer's role assignment replaced."""
    if plan.deployer:
        return plan.deployer
    pulumi.log.warn(f"{plan.name}: fleet:deployer.azure is not set; the deployer's cluster-admin assignment "
                    "follows the identity running this program (set it to the deploying principal's object id)",
                    parent)
    return client.object_id


class AksCluster(pulumi.ComponentResource):
    """One AKS cluster and the Azure resources it needs, from its ClusterPlan."""

    handle: ClusterHandle

    def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:clouds:AksCluster", plan.name, None, opts)
        names = resource_names(plan.name)
        tags = azure_tags(plan.tags)
        location = plan.location
        child = pulumi.ResourceOptions(parent=self)
        client = azure_native.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self))

        def role(name: str) -> pulumi.Output[str]:
            return client.subscription_id.apply(lambda subscription: role_definition_id(subscription, name))

        group = azure_native.resources.ResourceGroup(
            f"{plan.name}-rg", resource_group_name=names["resource_group"], location=location, tags=tags,
            opts=child,
        )
        rg = group.name

        identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{plan.name}-identity", resource_name_=names["identity"], resource_group_name=rg,
            location=location, tags=tags, opts=child,
        )

        # Network: VNet, node subnet without default outbound access, NAT gateway whose static
        # IP is the cluster's only egress (and what other clusters allow-list).
        egress_ip = azure_native.network.PublicIPAddress(
            f"{plan.name}-egress-ip", public_ip_address_name=names["public_ip"], resource_group_name=rg,
            location=location, sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static", public_ip_address_version="IPv4",
            zones=list(plan.network.zones), tags=tags, opts=child,
        )
        nat = azure_native.network.NatGateway(
            f"{plan.name}-nat", nat_gateway_name=names["nat_gateway"], resource_group_name=rg,
            location=location, sku={"name": "Standard"}, idle_timeout_in_minutes=4,
            public_ip_addresses=[{"id": egress_ip.id}], tags=tags, opts=child,
        )
        vnet = azure_native.network.VirtualNetwork(
            f"{plan.name}-vnet", virtual_network_name=names["vnet"], resource_group_name=rg,
            location=location, address_space={"address_prefixes": [plan.network.node_cidr]}, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        subnet = azure_native.network.Subnet(
            f"{plan.name}-nodes", subnet_name=names["subnet"], virtual_network_name=vnet.name,
            resource_group_name=rg, address_prefix=plan.network.private_subnets[0],
            nat_gateway={"id": nat.id}, default_outbound_access=False, opts=child,
        )
        network_access = azure_native.authorization.RoleAssignment(
            f"{plan.name}-identity-network", scope=vnet.id, principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role("network_contributor"),
            description=f"AKS {plan.name}: control plane manages load balancers and routes in its VNet",
            opts=child,
        )
        egress_cidrs = egress_ip.ip_address.apply(lambda ip: [f"{ip}/32"] if ip else [])

        # Audit logs.
        workspace = azure_native.operationalinsights.Workspace(
            f"{plan.name}-logs", workspace_name=names["workspace"], resource_group_name=rg, location=location,
            sku={"name": "PerGB2018"}, retention_in_days=LOG_RETENTION_DAYS[plan.is_production], tags=tags,
            opts=child,
        )

        # Secrets encryption: a key in an RBAC-only vault the control-plane identity may use.
        security_profile: dict[str, Any] = {
            "workload_identity": {"enabled": True},
            "image_cleaner": {"enabled": True, "interval_hours": 168},
        }
        identity_roles: list[azure_native.authorization.RoleAssignment] = [network_access]
        if plan.secrets_encryption:
            protected = pulumi.ResourceOptions(parent=self, protect=plan.protect)
            vault = azure_native.keyvault.Vault(
                f"{plan.name}-kv",
                vault_name=client.subscription_id.apply(lambda sub: key_vault_name(plan.name, sub)),
                resource_group_name=rg, location=location, tags=tags,
                properties={
                    "tenant_id": client.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enable_rbac_authorization": True,
                    "enable_soft_delete": True,
                    "soft_delete_retention_in_days": SOFT_DELETE_RETENTION_DAYS[plan.is_production],
                    "enable_purge_protection": True,
                    # The AKS KMS plugin reaches a "Public" vault over its public endpoint and a
                    # vault firewall is not supported for it; access is Entra RBAC only.
                    "public_network_access": "Enabled",
                    "network_acls": {"default_action": "Allow", "bypass": "AzureServices"},
                    "enabled_for_deployment": False,
                    "enabled_for_disk_encryption": False,
                    "enabled_for_template_deployment": False,
                },
                opts=protected,
            )
            key = azure_native.keyvault.Key(
                f"{plan.name}-kms-key", key_name=names["key"], vault_name=vault.name, resource_group_name=rg,
                properties={"kty": "RSA", "key_size": 2048,
                            "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                            "attributes": {"enabled": True}},
                tags=tags, opts=protected,
            )
            key_access = azure_native.authorization.RoleAssignment(
                f"{plan.name}-identity-kms", scope=vault.id, principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role("key_vault_crypto_user"),
                description=f"AKS {plan.name}: KMS plugin encrypts etcd secrets with this vault's key",
                opts=child,
            )
            identity_roles.append(key_access)
            security_profile["azure_key_vault_kms"] = {
                "enabled": True, "key_id": key.key_uri_with_version, "key_vault_network_access": "Public",
            }

        # Endpoint access: the allow-list is the declared networks, the cluster's own egress and
        # (for a spoke) the hub's egress; private clusters have no public endpoint at all.
        if plan.endpoint.mode == "authorized":
            hub = hub_egress if (hub_egress is not None and plan.endpoint.allow_hub_egress) else None
            ranges: Any = pulumi.Output.all(egress_cidrs, hub if hub is not None else []).apply(
                lambda values: authorized_ranges(plan.endpoint.authorized_cidrs, values[0], values[1])
            )
        else:
            ranges = None
        access = api_server_access(plan, ranges)

        # The control plane uses its network and Key Vault roles while AKS creates the cluster;
        # only the identity itself can exercise them, so the gate waits out their propagation.
        identity_gate = PropagationGate(
            f"{plan.name}-identity-roles", cluster=plan.name, kind=ASSIGNMENT_AGE, assignments=identity_roles,
            assignment_ids=[a.id for a in identity_roles], created_on=[a.created_on for a in identity_roles],
            parent=self)
        before_cluster: list[pulumi.Resource] = [subnet, *identity_roles, identity_gate]

        pools = list(plan.node_pools)
        system = next(p for p in pools if p.system)
        system_profile = {**node_pool_args(system, plan), "name": agent_pool_name(system.name),
                          "vnet_subnet_id": subnet.id}
        # The inline pool cannot be replaced under a new name: a create-only change is refused at preview.
        before_cluster.append(SystemPoolGuard(f"{plan.name}-system-pool", cluster=plan.name, profile=system_profile,
                                              parent=self))

        cluster = azure_native.containerservice.ManagedCluster(
            f"{plan.name}-aks", resource_name_=names["cluster"], resource_group_name=rg, location=location,
            dns_prefix=names["dns_prefix"], kubernetes_version=plan.kubernetes_version,
            node_resource_group=names["node_resource_group"],
            node_resource_group_profile={"restriction_level": "ReadOnly"},
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            sku={"name": "Base", "tier": sku_tier(plan)},
            support_plan=support_plan(plan),
            agent_pool_profiles=[system_profile],
            network_profile=network_profile(plan),
            api_server_access_profile=access,
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": client.tenant_id},
            enable_rbac=True,
            disable_local_accounts=True,
            oidc_issuer_profile={"enabled": True},
            security_profile=security_profile,
            auto_upgrade_profile={"upgrade_channel": "patch", "node_os_upgrade_channel": plan.node_os_upgrade_channel},
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=plan.protect, depends_on=before_cluster,
                ignore_changes=["agentPoolProfiles[0].count"],  # the autoscaler owns the node count
            ),
        )

        azure_native.monitor.DiagnosticSetting(
            f"{plan.name}-audit", name=names["diagnostics"], resource_uri=cluster.id,
            workspace_id=workspace.id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category": category, "enabled": True} for category in AUDIT_LOG_CATEGORIES],
            opts=child,
        )

        agent_pools = [
            azure_native.containerservice.AgentPool(
                f"{plan.name}-pool-{pool.name}", agent_pool_name=poolnames.aks_pool_name(pool.name, args),
                resource_name_=cluster.name, resource_group_name=rg, vnet_subnet_id=subnet.id, **args,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
            )
            for pool in pools if pool is not system
            for args in [node_pool_args(pool, plan)]
        ]

        # Azure RBAC decides who may use the Kubernetes API (local accounts are disabled): the
        # deploying principal (fleet:deployer.azure; it installs GitOps) and the declared admin groups.
        cluster_admin = role("aks_rbac_cluster_admin")
        deployer = azure_native.authorization.RoleAssignment(
            f"{plan.name}-deployer-admin", scope=cluster.id, principal_id=deployer_principal(plan, client, self),
            role_definition_id=cluster_admin,
            description=f"fleet: the identity running `pulumi up` configures {plan.name}", opts=child,
        )
        for object_id in plan.admins:
            azure_native.authorization.RoleAssignment(
                f"{plan.name}-admin-{object_id}", scope=cluster.id, principal_id=object_id,
                principal_type="Group", role_definition_id=cluster_admin,
                description=f"fleet: cluster administrators of {plan.name}", opts=child,
            )

        if plan.protect:
            # AKS has no deletion-protection flag. A CanNotDelete lock would also lock the agent
            # pools (locks are inherited by child resources), so no pool could ever be replaced:
            # Azure Policy's denyAction protects the cluster and what it cannot live without, and
            # their resource group, while pools stay replaceable (see deletion_protection_assignment).
            azure_native.authorization.PolicyAssignment(
                f"{plan.name}-protect", scope=group.id, **deletion_protection_assignment(plan.name),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
            )

        endpoint = pulumi.Output.all(cluster.fqdn, cluster.private_fqdn).apply(
            lambda values: endpoint_url(values[0], values[1])
        )
        credentials = azure_native.containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg, resource_name=cluster.name, format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        # The CA is public information: keep it out of secret propagation.
        ca_data = pulumi.Output.unsecret(
            credentials.apply(lambda result: ca_from_kubeconfig(result.kubeconfigs[0].value)))
        config = kube.exec_kubeconfig(plan.name, endpoint, ca_data, KUBELOGIN)
        # The first Kubernetes call waits until the deployer's cluster-admin role is effective.
        access_gate = PropagationGate(
            f"{plan.name}-deployer-access", cluster=plan.name, kind=KUBERNETES_ACCESS, assignments=[deployer],
            assignment_ids=[deployer.id], kubeconfig=config, parent=self)
        ready: list[pulumi.Resource] = [cluster, *agent_pools, deployer, access_gate]
        provider = kube.cluster_provider(plan.name, config, parent=self, depends_on=ready)
        oidc_issuer = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")

        self.handle = ClusterHandle(
            name=plan.name,
            provider="azure",
            location=location,
            endpoint=endpoint,
            hub_server=endpoint,
            ca_data=ca_data,
            kubeconfig=config,
            oidc_issuer=oidc_issuer,
            resource_id=cluster.id,
            account=client.subscription_id,
            egress_cidrs=egress_cidrs,
            k8s_provider=provider,
            ready=ready,
            annotations={
                "azure_subscription_id": client.subscription_id,
                "azure_tenant_id": client.tenant_id,
                "azure_resource_group": rg,
                "azure_cluster_id": cluster.id,
                "azure_oidc_issuer": oidc_issuer,
            },
        )
        self.register_outputs({
            "name": plan.name,
            "endpoint": endpoint,
            "resourceId": cluster.id,
            "oidcIssuer": oidc_issuer,
            "egressCidrs": egress_cidrs,
        })


Cluster = AksCluster


def hub_identity(plan: ClusterPlan, handle: ClusterHandle, service_accounts: Sequence[ServiceAccountRef],
                 parent: pulumi.Resource) -> HubIdentity:
    """A user-assigned identity in the hub's resource group, federated to the hub's GitOps
    controller service accounts (Entra workload identity)."""
    names = resource_names(plan.name)
    rg = handle.annotations["azure_resource_group"]
    identity = azure_native.managedidentity.UserAssignedIdentity(
        f"{plan.name}-gitops-identity", resource_name_=names["hub_identity"], resource_group_name=rg,
        location=plan.location, tags=azure_tags(plan.tags), opts=pulumi.ResourceOptions(parent=parent),
    )
    credentials: list[pulumi.Resource] = []
    for account in service_accounts:
        # Azure rejects concurrent federated credential writes on one identity: chain them.
        credentials.append(azure_native.managedidentity.FederatedIdentityCredential(
            f"{plan.name}-gitops-{account.namespace}-{account.name}",
            federated_identity_credential_resource_name=federated_credential_name(account),
            resource_name_=identity.name, resource_group_name=rg,
            issuer=handle.oidc_issuer, subject=f"system:serviceaccount:{account.namespace}:{account.name}",
            audiences=[WORKLOAD_IDENTITY_AUDIENCE],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=credentials[-1:]),
        ))
    return HubIdentity(
        provider="azure",
        principal=identity.client_id,
        details={"client_id": identity.client_id, "tenant_id": identity.tenant_id,
                 "principal_id": identity.principal_id, "resource_id": identity.id},
        resources=[identity, *credentials],
        service_account_annotations={"azure.workload.identity/client-id": identity.client_id,
                                     "azure.workload.identity/tenant-id": identity.tenant_id},
        pod_labels={"azure.workload.identity/use": "true"},
    )


def federated_hub_identity(hub: ClusterPlan, hub_handle: ClusterHandle,
                           service_accounts: Sequence[ServiceAccountRef], spokes: Sequence[ClusterPlan],
                           parent: pulumi.Resource) -> HubIdentity:
    """A hub on another cloud reaching AKS spokes (Microsoft Entra workload identity federation,
    "Configure a user-assigned managed identity to trust an external identity provider"; Flux azure
    integration, controller level on a cluster that is not AKS): a user-assigned identity in its
    own resource group near the hub, one federated credential per controller for the hub's issuer
    (audience api://AzureADTokenExchange; at most 20 per identity, rule
    azure-federated-credential-limit), written one after the other. Its controllers get a
    projected token for that audience and AZURE_CLIENT_ID / TENANT_ID / FEDERATED_TOKEN_FILE /
    AUTHORITY_HOST, which kubelogin (argocd-k8s-auth azure) and azidentity (Flux) read."""
    opts = pulumi.ResourceOptions(parent=parent)
    tags = azure_tags(hub.tags)
    group = azure_native.resources.ResourceGroup(
        f"{hub.name}-azure-federation", resource_group_name=bounded(f"rg-{hub.name}-federation", 90),
        location=azure_location_for(hub.provider, hub.location), tags=tags, opts=opts)
    identity = azure_native.managedidentity.UserAssignedIdentity(
        f"{hub.name}-azure-federated", resource_name_=bounded(f"id-{hub.name}-gitops-federated", 128),
        resource_group_name=group.name, location=group.location, tags=tags, opts=opts)
    credentials: list[pulumi.Resource] = []
    for account in service_accounts:
        credentials.append(azure_native.managedidentity.FederatedIdentityCredential(
            f"{hub.name}-azure-federated-{account.namespace}-{account.name}",
            federated_identity_credential_resource_name=federated_credential_name(account),
            resource_name_=identity.name, resource_group_name=group.name, issuer=hub_handle.oidc_issuer,
            subject=subject(account.namespace, account.name), audiences=[AZURE_AUDIENCE],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=credentials[-1:])))
    return HubIdentity(
        provider="azure", principal=identity.client_id,
        details={"client_id": identity.client_id, "tenant_id": identity.tenant_id,
                 "principal_id": identity.principal_id, "resource_id": identity.id},
        resources=[group, identity, *credentials],
        pod_env={"AZURE_CLIENT_ID": identity.client_id, "AZURE_TENANT_ID": identity.tenant_id,
                 "AZURE_FEDERATED_TOKEN_FILE": token_path("azure"), "AZURE_AUTHORITY_HOST": AZURE_AUTHORITY},
        volumes=(token_volume("azure", AZURE_AUDIENCE),), volume_mounts=(token_mount("azure"),),
    )


def grant_hub_access(plan: ClusterPlan, handle: ClusterHandle, identity: HubIdentity,
                     parent: pulumi.Resource) -> SpokeAccess:
    """Let the hub's identity administer this spoke through Azure RBAC, and say how Argo CD
    (argocd-k8s-auth azure) and Flux (configMapRef, provider azure) use it."""
    assignment = azure_native.authorization.RoleAssignment(
        f"{plan.name}-hub-admin", scope=handle.resource_id, principal_id=identity.details["principal_id"],
        principal_type="ServicePrincipal",
        role_definition_id=handle.account.apply(lambda s: role_definition_id(s, "aks_rbac_cluster_admin")),
        description=f"fleet: the hub's GitOps controllers manage {plan.name}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # Both depend on the assignment's id so registrations appear only once access exists.
    details = identity.details
    argocd = pulumi.Output.all(details["client_id"], details["tenant_id"], assignment.id).apply(
        lambda values: argocd_exec_config(values[0], values[1])
    )
    flux = pulumi.Output.all(handle.resource_id, handle.hub_server, handle.ca_data, assignment.id).apply(
        lambda values: flux_kubeconfig_data(values[0], values[1], values[2])
    )
    return SpokeAccess(argocd_config=argocd, flux_config=flux, resources=[assignment])
