"""Guardrails: rules that must never be broken, as plain functions.

Plan rules judge a ClusterPlan (run by `fleet validate`, `fleet synth` and `pulumi up` before any
resource is declared). Resource rules judge one recorded resource (type + engine inputs), so the
same function runs on `fleet synth` output and inside the CrossGuard policy pack (policy/).
Every message names the cluster, the rule and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from fleet.plan import ClusterPlan, FleetPlan
from fleet.problems import Problem
from fleet.spec import versions
from fleet.spec.load import Declaration
from fleet.spec.regions import LOCATIONS

GDPR_JURISDICTIONS = frozenset({"EU"})  # EU/EEA member states (see fleet.spec.regions)


@dataclass(frozen=True)
class PlanRule:
    id: str
    description: str
    check: Callable[[ClusterPlan], str | None]  # a message, or None when the cluster complies


def _gdpr_residency(cluster: ClusterPlan) -> str | None:
    if cluster.labels.get("compliance") != "gdpr":
        return None
    location = LOCATIONS[(cluster.provider, cluster.location)]
    if location.jurisdiction in GDPR_JURISDICTIONS:
        return None
    eu = sorted(name for (cloud, name), loc in LOCATIONS.items()
                if cloud == cluster.provider and loc.jurisdiction in GDPR_JURISDICTIONS)
    return (f"cluster '{cluster.name}' is labelled compliance: gdpr but {cluster.provider} location "
            f"'{cluster.location}' is outside the EU/EEA ({location.jurisdiction}); move the region entry "
            f"to an EU location such as {', '.join(eu[:4])}")


def _production_endpoint(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or "0.0.0.0/0" not in cluster.endpoint.authorized_cidrs:
        return None
    return (f"production cluster '{cluster.name}' would open its API endpoint to the whole internet "
            "(0.0.0.0/0 in its authorized networks or fleet:ciRunnerCidrs); list the networks that need "
            "access, or use apiAccess: private")


def _production_encryption(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or cluster.secrets_encryption:
        return None
    return (f"production cluster '{cluster.name}' has secrets encryption turned off; set "
            f"spec.security.secretsEncryption: true in template '{cluster.template}'")


def _production_protection(cluster: ClusterPlan) -> str | None:
    if not cluster.is_production or cluster.protect:
        return None
    return (f"production cluster '{cluster.name}' is not protected from deletion; remove "
            "fleet:protect: false from the production stack")


def _supported_version(cluster: ClusterPlan) -> str | None:
    message = versions.check_version(cluster.provider, cluster.kubernetes_version, date.today())
    return f"cluster '{cluster.name}': {message}" if message else None


PLAN_RULES: tuple[PlanRule, ...] = (
    PlanRule("gdpr-data-residency", "Clusters labelled compliance: gdpr run only in EU/EEA locations.",
             _gdpr_residency),
    PlanRule("production-private-endpoint", "Production API endpoints are never open to the internet.",
             _production_endpoint),
    PlanRule("production-secrets-encryption", "Production clusters encrypt Secrets with a managed key.",
             _production_encryption),
    PlanRule("production-deletion-protection", "Production clusters are protected from deletion.",
             _production_protection),
    PlanRule("supported-kubernetes-version", "Kubernetes version is inside the cloud's support window.",
             _supported_version),
)


def violations(plan: FleetPlan) -> Iterator[tuple[ClusterPlan, PlanRule, str]]:
    for cluster in plan.clusters:
        for rule in PLAN_RULES:
            message = rule.check(cluster)
            if message:
                yield cluster, rule, message


def check_plan(plan: FleetPlan, declaration: Declaration) -> list[Problem]:
    """Rule violations as located problems (the region entry that declared the cluster)."""
    problems = []
    for cluster, rule, message in violations(plan):
        owner = next(c for c in declaration.cluster_sets if c.model.metadata.name == cluster.cluster_set)
        regions = [r.name for r in owner.model.spec.regions]  # type: ignore[union-attr]
        path = "spec.hub" if cluster.is_hub else f"spec.regions[{regions.index(cluster.region)}]"
        problems.append(Problem(owner.source, owner.ident, path, f"[{rule.id}] {message}"))
    return problems
