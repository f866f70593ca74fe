"""external-dns on each workload cluster of a publishing ClusterSet: it writes the cluster's own
record (<cluster>.<hostname>.<zone>) pointing at the load balancer Envoy Gateway creates for the
entry Gateway (gitops/addons/traffic), and nothing else.

How only its own record is written (docs/traffic.md, "Ownership"):
- the sources it reads: Services of type LoadBalancer labelled as the entry Gateway's
  (--label-filter, --service-type-filter), named by --fqdn-template (the cluster's record);
- --domain-filter is that record and --zone-id-filter the one zone (--aws-zone-match-parent lets
  the filter find the zone that holds the record);
- the TXT registry with --txt-owner-id=<cluster>: it never updates or deletes a record another
  owner wrote (external-dns docs/registry/txt.md);
- enforced outside the pod: its IAM role may change only that record's names (fleet.clouds.dns_route53).
Chart values checked against the chart's values.schema.json (tests/test_traffic.py).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet.clouds.base import ClusterHandle
from fleet.clouds.dns_route53 import WEB_IDENTITY_AUDIENCE, DnsIdentity, EntryPoint
from fleet.traffic import (
    EXTERNAL_DNS_ACCOUNT,
    EXTERNAL_DNS_NAMESPACE,
    GATEWAY_SERVICE_SELECTOR,
    ClusterTraffic,
    TrafficPlan,
)

CHART = "external-dns"
CHART_VERSION = "1.21.1"  # external-dns v0.21.0
REPOSITORY = "https://kubernetes-sigs.github.io/external-dns/"
TOKEN_DIRECTORY = "/var/run/secrets/sts.amazonaws.com/serviceaccount"
TOKEN_SECONDS = 3600
CLEANUP_IMAGE = "registry.k8s.io/external-dns/external-dns:v0.21.0"  # the chart's appVersion
CLEANUP_CHART = "fleet/gitops/charts/external-dns-cleanup"  # relative to the project, where Pulumi runs the program


def external_dns_values(plan: TrafficPlan, cluster: ClusterTraffic, role_arn: str | None) -> dict[str, Any]:
    """Helm values; role_arn only for web identity (AKS, GKE): EKS Pod Identity injects credentials."""
    values: dict[str, Any] = {
        "provider": {"name": "aws"},
        "sources": ["service"],
        "policy": "sync",  # deletes the record when the gateway goes (upsert-only would leave it behind)
        "registry": "txt",
        "txtOwnerId": cluster.owner_id,
        "domainFilters": [cluster.record],
        "labelFilter": GATEWAY_SERVICE_SELECTOR,
        "extraArgs": {
            "fqdn-template": cluster.record,
            "zone-id-filter": plan.zone_id,
            "aws-zone-type": "public",
            "aws-zone-match-parent": True,
            "service-type-filter": "LoadBalancer",
        },
        "serviceAccount": {"create": True, "name": EXTERNAL_DNS_ACCOUNT},
        "env": [{"name": "AWS_REGION", "value": "us-east-1"}],  # Route 53 is global; its API answers there
    }
    if role_arn is not None:
        values["env"] += [{"name": "AWS_ROLE_ARN", "value": role_arn},
                          {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{TOKEN_DIRECTORY}/token"}]
        values["extraVolumes"] = [{"name": "aws-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": WEB_IDENTITY_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": "token"}}]}}]
        values["extraVolumeMounts"] = [{"name": "aws-token", "mountPath": TOKEN_DIRECTORY, "readOnly": True}]
    return values


def cleanup_job(plan: TrafficPlan, cluster: ClusterTraffic, role_arn: str | None) -> dict[str, Any]:
    """A Helm pre-delete hook: external-dns once, with no source, as the same identity and owner:
    with --policy=sync it deletes every record it owns under its domain filter (the cluster's record
    and TXT ownership records) before the release that runs it, and its identity, are removed."""
    values = external_dns_values(plan, cluster, role_arn)
    args = ["--once", "--source=empty", "--provider=aws", "--policy=sync", "--registry=txt",
            f"--txt-owner-id={cluster.owner_id}", f"--domain-filter={cluster.record}",
            *(f"--{key}={value}" if value is not True else f"--{key}" for key, value in values["extraArgs"].items()
              if key not in ("fqdn-template", "service-type-filter"))]
    container: dict[str, Any] = {
        "name": "cleanup", "image": CLEANUP_IMAGE, "args": args, "env": values["env"],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }
    pod: dict[str, Any] = {"serviceAccountName": EXTERNAL_DNS_ACCOUNT, "restartPolicy": "Never",
                           "containers": [container]}
    if role_arn is not None:
        container["volumeMounts"] = values["extraVolumeMounts"]
        pod["volumes"] = values["extraVolumes"]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "external-dns-cleanup", "namespace": EXTERNAL_DNS_NAMESPACE,
                     "annotations": {"helm.sh/hook": "pre-delete",
                                     "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}},
        "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 300, "template": {"spec": pod}},
    }


def external_dns(plan: TrafficPlan, cluster: ClusterTraffic, handle: ClusterHandle, identity: DnsIdentity,
                 parent: pulumi.Resource) -> k8s.helm.v3.Release:
    role: pulumi.Input[str] | None = identity.role_arn if identity.web_identity else None
    values = (pulumi.Output.from_input(role).apply(lambda arn: external_dns_values(plan, cluster, arn))
              if role is not None else external_dns_values(plan, cluster, None))
    release = k8s.helm.v3.Release(
        f"{cluster.cluster}-external-dns",
        name=CHART,
        chart=CHART,
        version=CHART_VERSION,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
        namespace=EXTERNAL_DNS_NAMESPACE,
        create_namespace=True,
        values=values,
        max_history=5,
        opts=pulumi.ResourceOptions(parent=parent, provider=handle.k8s_provider,
                                    depends_on=[*handle.ready, *identity.resources]))
    job = (pulumi.Output.from_input(role).apply(lambda arn: cleanup_job(plan, cluster, arn))
           if role is not None else cleanup_job(plan, cluster, None))
    # depends on external-dns: Pulumi deletes it first, and `helm uninstall` runs its hook while the
    # service account and the IAM identity still exist (mode none, or the cluster's removal)
    k8s.helm.v3.Release(
        f"{cluster.cluster}-external-dns-cleanup",
        name="external-dns-cleanup",
        chart=CLEANUP_CHART,
        namespace=EXTERNAL_DNS_NAMESPACE,
        values={"job": job},
        max_history=5,
        opts=pulumi.ResourceOptions(parent=parent, provider=handle.k8s_provider, depends_on=[release]))
    return release


def publish(plan: TrafficPlan, handles: dict[str, ClusterHandle], owners: dict[str, pulumi.Resource],
            parent: pulumi.Resource) -> EntryPoint | None:
    """The entry point in Route 53 and external-dns on each of its clusters this stack holds
    (external-dns under the cluster's own component, so `pulumi preview` reads per cluster); None
    in a stack that holds none of them (a sharded environment's own stack, fleet.shards)."""
    if not any(c.cluster in handles for c in plan.clusters):
        return None
    entry = EntryPoint(plan, handles, opts=pulumi.ResourceOptions(parent=parent))
    for cluster in plan.clusters:
        if cluster.cluster in entry.identities:
            external_dns(plan, cluster, handles[cluster.cluster], entry.identities[cluster.cluster],
                         parent=owners[cluster.cluster])
    return entry
