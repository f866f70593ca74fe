"""Behaviour rules for the entry point (Route 53, external-dns): see fleet/behaviour/__init__.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fleet.recorded import Resource, ResourceRule, lookup, text_value

RECORD = "aws:route53/record:Record"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
TXT_TYPES = ("a", "aaaa", "cname")


def _policy(record: Resource) -> str | None:
    for key in ("weightedRoutingPolicies", "latencyRoutingPolicies", "geolocationRoutingPolicies",
                "failoverRoutingPolicies"):
        if record.inputs.get(key):
            return key.removesuffix("RoutingPolicies")
    return None


def routing_records_follow_health(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A routed record without health does not fail over.

    Route 53 treats a record with no health check as always healthy ("If you don't associate a
    health check with a record, Route 53 treats it as healthy": dns-failover-complex-configs.html),
    so an unhealthy cluster would keep its share; an alias follows its target's health only with
    EvaluateTargetHealth (Route 53 API reference, AliasTarget)."""
    if resource.type != RECORD or _policy(resource) is None:
        return []
    name = text_value(resource.inputs.get("name")) or resource.name
    aliases = resource.inputs.get("aliases") or []
    if aliases and all(isinstance(a, dict) and a.get("evaluateTargetHealth") is True for a in aliases):
        return []
    if not aliases and resource.inputs.get("healthCheckId"):
        return []
    return [f"record {name} ({resource.name}): {_policy(resource)} routing without a health check "
            "(or an alias evaluating its target's health): Route 53 answers with it while its target is down; "
            "attach the cluster's health check"]


def record_groups_are_consistent(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """One (zone, name, type) is one routing group: its records share a routing policy and each has
    its own set identifier, and weights are 0..255.

    The ChangeResourceRecordSets API refuses a latency, failover or geolocation record with the
    name and type of weighted records, a second record with the same set identifier, and weights
    above 255 (Route 53 API reference, ResourceRecordSet: Weight, SetIdentifier)."""
    if resource.type != RECORD or _policy(resource) is None:
        return []
    key = (resource.inputs.get("zoneId"), resource.inputs.get("name"), resource.inputs.get("type"))
    group = [r for r in stack if r.type == RECORD
             and (r.inputs.get("zoneId"), r.inputs.get("name"), r.inputs.get("type")) == key]
    found = []
    policies = sorted({str(_policy(r)) for r in group})
    if len(policies) > 1:
        found.append(f"record {key[1]} ({resource.name}): routing policies {', '.join(policies)} on one name and type; "
                     "Route 53 refuses to mix them: give each policy its own name")
    identifier = resource.inputs.get("setIdentifier")
    if sum(1 for r in group if r.inputs.get("setIdentifier") == identifier) > 1:
        found.append(f"record {key[1]} ({resource.name}): set identifier {identifier!r} is used twice in its group")
    for policy in resource.inputs.get("weightedRoutingPolicies") or []:
        weight = policy.get("weight") if isinstance(policy, dict) else None
        if isinstance(weight, int | float) and not 0 <= weight <= 255:
            found.append(f"record {key[1]} ({resource.name}): weight {weight} outside Route 53's 0..255")
    return found


def _record_names(policy: Any) -> set[str] | None:
    try:
        document = json.loads(policy) if isinstance(policy, str) else None
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    names: set[str] = set()
    for statement in document.get("Statement", []):
        if "route53:ChangeResourceRecordSets" in str(statement.get("Action")):
            condition = (statement.get("Condition") or {}).get("ForAllValues:StringEquals") or {}
            if NAMES_KEY not in condition:
                return None  # the whole zone
            names |= set(condition[NAMES_KEY])
    return names


def external_dns_writes_only_its_own_record(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """Each cluster's external-dns owns exactly its cluster's record, and its cloud identity can
    change nothing else in the zone.

    external-dns updates and deletes only records whose TXT registry entry carries its
    --txt-owner-id (docs/registry/txt.md) and only under --domain-filter; both are flags of one
    pod. IAM is what holds when a pod is misconfigured: Route 53 checks
    ChangeResourceRecordSetsNormalizedRecordNames on every change (specifying-rrset-conditions.html)."""
    if resource.type != RELEASE or lookup(resource.inputs, "chart") != "external-dns":
        return []
    values = resource.inputs.get("values") or {}
    record = lookup(values, "extraArgs.fqdn-template")
    owner = values.get("txtOwnerId")
    problems = []
    if not owner or not record or values.get("domainFilters") != [record] or not record.startswith(f"{owner}."):
        problems.append(f"external-dns {resource.name}: owner {owner!r} must be the cluster and its domain filter "
                        f"exactly its own record ({record!r}); another cluster's records would be in reach")
    policy = next((r for r in stack if r.type == ROLE_POLICY and r.name == resource.name), None)
    allowed = _record_names(policy.inputs.get("policy")) if policy else None
    if record and policy is not None:
        first, _, rest = str(record).partition(".")
        own = {record, *(f"{t}-{first}.{rest}" for t in TXT_TYPES)}
        if allowed is None or not allowed <= own:
            problems.append(f"external-dns {resource.name}: its IAM policy may change "
                            f"{'the whole zone' if allowed is None else sorted(allowed - own)} beyond its own record; "
                            "scope ChangeResourceRecordSets to the record's names")
    return problems


def external_dns_cleans_up_after_itself(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """external-dns leaves its records behind when it is uninstalled: its sync loop deletes a record
    only while it runs and sees the source gone (docs/registry/txt.md; no uninstall hook in the chart).
    A record left pointing at a released load balancer address can be taken over by whoever gets the
    address next. So each external-dns release has a cleanup release (fleet.gitops.traffic) that
    depends on it, whose pre-delete hook deletes the cluster's records first."""
    if resource.type != RELEASE or lookup(resource.inputs, "chart") != "external-dns":
        return []
    cleanup = next((r for r in stack if r.type == RELEASE and r.name == f"{resource.name}-cleanup"), None)
    hook = lookup(cleanup.inputs, "values.job.metadata.annotations") if cleanup else None
    if cleanup is None or resource.urn not in cleanup.dependencies or not isinstance(hook, dict) \
            or hook.get("helm.sh/hook") != "pre-delete":
        return [f"external-dns {resource.name}: no cleanup release depending on it with a pre-delete hook; its "
                "records would outlive it (fleet.gitops.traffic.cleanup_job)"]
    return []


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("route53-routing-follows-health",
                 "Every weighted or latency record fails over: a health check, or an alias evaluating its target.",
                 routing_records_follow_health),
    ResourceRule("route53-record-groups-consistent",
                 "Records of one name and type share one routing policy, unique set identifiers, weights 0..255.",
                 record_groups_are_consistent, needs_stack=True),
    ResourceRule("external-dns-own-records-only",
                 "Each cluster's external-dns owns and may change only its own record (owner id, filters, IAM).",
                 external_dns_writes_only_its_own_record, needs_stack=True),
    ResourceRule("external-dns-records-cleaned-up",
                 "Each external-dns release is preceded at removal by a hook deleting the records it owns.",
                 external_dns_cleans_up_after_itself, needs_stack=True),
)
