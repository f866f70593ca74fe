"""Behaviour rules for Azure (AKS): see fleet/behaviour/__init__.py."""

from __future__ import annotations

from collections.abc import Sequence

from fleet.clouds import poolnames
from fleet.clouds.markers import GATE_MARKER, GUARD_MARKER
from fleet.recorded import Resource, ResourceRule, Stack, of_type, text_value

AGENT_POOL = "azure-native:containerservice:AgentPool"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
DYNAMIC = "pulumi-python:dynamic:Resource"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
LOCK_TYPES = ("azure-native:authorization:ManagementLockAtResourceGroupLevel",
              "azure-native:authorization:ManagementLockAtResourceLevel",
              "azure-native:authorization:ManagementLockByScope")


def _cluster_of(resource: Resource) -> str:
    return text_value(resource.inputs.get("resourceName")) or resource.name


def aks_pool_named_by_create_only_fields(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """An AKS agent pool's name encodes its create-only fields (fleet.clouds.poolnames).

    pulumi-azure-native replaces an AgentPool when vmSize or gpuInstanceProfile changes
    (provider/pkg/gen/replacement.go, #3655), create-before-delete; AKS refuses an in-place change
    of spot priority, OS disk or zones. Under a fixed `agentPoolName` the new pool collides with
    the old one (the same ARM id), so the change fails; a name that changes with those fields is a
    new pool, created before the old one is deleted, with no capacity gap.
    """
    if resource.type != AGENT_POOL:
        return []
    name = text_value(resource.inputs.get("agentPoolName"))
    declared = poolnames.declared_pool(resource.inputs.get("nodeLabels"))
    digest = poolnames.aks_digest(declared, resource.inputs) if declared else None
    if name is None or digest is None or name.endswith(digest):
        return []
    return [f"cluster '{_cluster_of(resource)}': agent pool '{name}' ({resource.name}) is not named after its "
            f"create-only fields ({', '.join(poolnames.AKS_CREATE_ONLY)}): a change of VM size or spot replaces it "
            "under the same name and collides with itself; name it with fleet.clouds.poolnames.aks_pool_name "
            f"(expected a name ending in '{digest}')"]


def aks_pool_names_unique(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """No two agent pools of one AKS cluster share a name (the inline system profile included).

    An agent pool is the ARM resource `managedClusters/<cluster>/agentPools/<name>`: a second pool
    under the same name is the same resource, so one declaration silently overwrites the other (or
    the create fails with "already exists"). AKS names are only 12 characters, so distinct declared
    names can meet after truncation; fleet.clouds.poolnames hashes the declared name in.
    """
    if resource.type != AGENT_POOL:
        return []
    name = text_value(resource.inputs.get("agentPoolName"))
    cluster = (resource.inputs.get("resourceGroupName"), resource.inputs.get("resourceName"))
    if name is None:
        return []
    twins = [p for p in of_type(stack, AGENT_POOL) if p.urn < resource.urn and p.inputs.get("agentPoolName") == name
             and (p.inputs.get("resourceGroupName"), p.inputs.get("resourceName")) == cluster]
    inline = [c for c in of_type(stack, MANAGED_CLUSTER)
              if (c.inputs.get("resourceGroupName"), c.inputs.get("resourceName")) == cluster
              and any(isinstance(p, dict) and p.get("name") == name for p in c.inputs.get("agentPoolProfiles") or [])]
    if not twins and not inline:
        return []
    return [f"cluster '{_cluster_of(resource)}': agent pool name '{name}' ({resource.name}) is used twice; give the "
            "pools names that differ in their first 8 letters and digits"]


def no_lock_over_agent_pools(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """No CanNotDelete/ReadOnly lock covers an AKS cluster that has agent pools.

    "When you apply a lock at a parent scope, all child resources inherit the same lock"
    (https://learn.microsoft.com/rest/api/resources/management-locks/create-or-update-at-resource-level;
    the same for a lock on a resource and its children: Azure/azure-cli#28242). A lock on the
    cluster's resource group, or on the cluster, makes every DELETE of an agent pool fail with
    ScopeLocked, so a pool can never be replaced. Azure Policy's denyAction protects the parent
    and lets child resources go ("Child resource being deleted, policy on parent: parent
    protected, child deleted", https://learn.microsoft.com/azure/governance/policy/concepts/effect-deny-action).
    """
    if resource.type not in LOCK_TYPES:
        return []
    group = text_value(resource.inputs.get("resourceGroupName"))
    scope = text_value(resource.inputs.get("scope")) or ""
    covered = [p for p in of_type(stack, AGENT_POOL)
               if (group and p.inputs.get("resourceGroupName") == group)
               or (scope and f"/resourcegroups/{p.inputs.get('resourceGroupName')}".lower() in scope.lower())]
    if not covered:
        return []
    return [f"cluster '{_cluster_of(covered[0])}': the lock '{resource.name}' also locks its agent pools (locks are "
            "inherited by child resources), so replacing a pool fails with ScopeLocked; protect the cluster with "
            "a denyAction policy assignment instead (fleet.clouds.azure.deletion_protection_assignment)"]


def federated_credentials_serialised(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """Federated identity credentials of one user-assigned identity are written one at a time.

    "Creating multiple federated identity credentials under the same user-assigned managed
    identity concurrently triggers concurrency detection logic, which causes requests to fail with
    409-conflict HTTP status code" (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations,
    "Concurrent updates aren't supported"). Pulumi creates independent resources in parallel, so
    each credential must wait for the previous one of its identity.
    """
    if resource.type != FEDERATED_CREDENTIAL or not isinstance(stack, Stack):
        return []
    identity = (resource.inputs.get("resourceGroupName"), resource.inputs.get("resourceName"))
    unordered = [other.name for other in of_type(stack, FEDERATED_CREDENTIAL)
                 if other.urn < resource.urn
                 and (other.inputs.get("resourceGroupName"), other.inputs.get("resourceName")) == identity
                 and not stack.waits_for(resource, other.urn) and not stack.waits_for(other, resource.urn)]
    if not unordered:
        return []
    return [f"identity '{identity[1]}' ({identity[0]}): the federated credentials {resource.name} and "
            f"{', '.join(unordered)} may be written at the same time, which Entra ID refuses (409); make each "
            "depend on the previous one"]


def inline_system_pool_guarded(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """An AKS cluster waits for a guard holding its inline system pool's create-only fields.

    The inline `agentPoolProfiles[0]` cannot change VM size, spot priority, OS disk or zones in
    place (https://learn.microsoft.com/azure/aks/manage-node-pools#limitations) and, being part of
    the cluster, cannot be replaced under a new name; pulumi-azure-native sends the change as a
    cluster update (#2774) and AKS fails it mid-update. The guard (fleet.clouds.aks_system_pool)
    refuses such a change at preview, with what to do instead.
    """
    if resource.type != MANAGED_CLUSTER or not isinstance(stack, Stack):
        return []
    profiles = resource.inputs.get("agentPoolProfiles")
    if not isinstance(profiles, list) or not profiles or not isinstance(profiles[0], dict):
        return []
    wanted = poolnames.canonical(poolnames.inline_create_only(profiles[0]))
    guards = [g for g in (stack.by_urn(u) for u in stack.prerequisites(resource.urn))
              if g is not None and g.type == DYNAMIC and g.inputs.get("guard") == GUARD_MARKER]
    if any(poolnames.canonical(g.inputs.get("fields")) == wanted for g in guards):
        return []
    cluster = text_value(resource.inputs.get("resourceName")) or resource.name
    return [f"cluster '{cluster}': its inline system pool has no guard holding its create-only fields, so a change "
            "of its VM size or spot setting reaches AKS and fails mid-update; make the cluster depend on a "
            "fleet.clouds.aks_system_pool.SystemPoolGuard built from agentPoolProfiles[0]"]


def _gates(stack: Stack, urn: str) -> list[Resource]:
    found = (stack.by_urn(u) for u in stack.prerequisites(urn))
    return [g for g in found if g is not None and g.type == DYNAMIC and g.inputs.get("gate") == GATE_MARKER]


def rbac_before_use(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """What uses a role assignment's permission waits for a propagation gate that waits for it.

    "When you assign roles or remove role assignments, it can take up to 10 minutes for changes to
    take effect" (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting).
    The first users in fleet: the AKS cluster (its control-plane identity's network and Key Vault
    roles) and the cluster's Kubernetes provider (the deployer's AKS RBAC Cluster Admin). Waiting
    only for the assignment's creation leaves the first call denied (403, or a KMS error at
    cluster creation) and the update failed; a gate (fleet.clouds.azure_rbac) waits until the
    permission is effective.
    """
    if resource.type not in (MANAGED_CLUSTER, KUBERNETES_PROVIDER) or not isinstance(stack, Stack):
        return []
    prerequisites = stack.prerequisites(resource.urn)
    assignments = [a for a in (stack.by_urn(u) for u in prerequisites) if a is not None and a.type == ROLE_ASSIGNMENT]
    if not assignments:
        return []
    gated = {urn for gate in _gates(stack, resource.urn) for urn in stack.prerequisites(gate.urn)}
    bare = sorted(a.name for a in assignments if a.urn not in gated)
    if not bare:
        return []
    if resource.type == MANAGED_CLUSTER:
        who = f"cluster '{text_value(resource.inputs.get('resourceName')) or resource.name}'"
    else:
        cluster = text_value(resource.inputs.get("clusterIdentifier")) or resource.name
        who = f"the Kubernetes provider of cluster '{cluster}'"
    return [f"{who} uses the role assignments {', '.join(bare)} as soon as they exist, but Azure RBAC takes up to "
            "10 minutes to propagate: make it depend on a fleet.clouds.azure_rbac.PropagationGate that waits for them"]


def aks_lts_on_premium(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """AKS long-term support is a feature of the Premium tier: "LTS is only available on the Premium
    tier" (https://learn.microsoft.com/azure/aks/long-term-support); ARM refuses supportPlan
    AKSLongTermSupport on a Free or Standard cluster. fleet.clouds.azure.sku_tier pairs them."""
    if resource.type != MANAGED_CLUSTER or text_value(resource.inputs.get("supportPlan")) != "AKSLongTermSupport":
        return []
    sku = resource.inputs.get("sku") if isinstance(resource.inputs.get("sku"), dict) else {}
    if text_value(sku.get("tier")) == "Premium":
        return []
    return [f"cluster '{_cluster_of(resource)}' asks for AKS long-term support on the {sku.get('tier') or 'Free'} "
            "tier; LTS needs sku.tier Premium (fleet.clouds.azure.sku_tier)"]


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("aks-pool-replaced-under-new-name",
                 "An AKS agent pool's name encodes its create-only fields, so a change replaces it under a new name.",
                 aks_pool_named_by_create_only_fields),
    ResourceRule("aks-pool-names-unique", "No two agent pools of an AKS cluster share a name.",
                 aks_pool_names_unique, needs_stack=True),
    ResourceRule("aks-pools-not-locked", "No management lock covers an AKS cluster's agent pools.",
                 no_lock_over_agent_pools, needs_stack=True),
    ResourceRule("azure-federated-credentials-serialised",
                 "Federated credentials of one identity are created one after another.",
                 federated_credentials_serialised, needs_stack=True),
    ResourceRule("aks-inline-system-pool-guarded",
                 "A create-only change of an AKS cluster's inline system pool is refused at preview.",
                 inline_system_pool_guarded, needs_stack=True),
    ResourceRule("aks-lts-on-premium", "An AKS cluster on long-term support runs on the Premium tier.",
                 aks_lts_on_premium),
    ResourceRule("azure-rbac-before-use",
                 "Nothing uses an Azure role assignment before a propagation gate says it works.",
                 rbac_before_use, needs_stack=True),
)
