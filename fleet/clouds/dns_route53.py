"""The Route 53 side of a ClusterSet's entry point: what fleet.traffic decided, declared.

Per workload cluster: a TCP health check on its own record, and the DNS identity its external-dns
runs as: an IAM role allowed to change, in the one hosted zone, only the cluster's record and the
TXT records external-dns keeps its ownership in (Route 53's ChangeResourceRecordSetsNormalizedRecordNames
condition, https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html).
The role is assumed without a stored key:
- EKS: EKS Pod Identity, trusted only for sessions tagged with this cluster, namespace and service
  account (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html);
- AKS, GKE: web identity federation: an IAM OIDC provider for the cluster's service-account issuer
  and a trust for exactly system:serviceaccount:external-dns:external-dns with audience
  sts.amazonaws.com (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html).
Per published region entry: weighted CNAME records (<entry>.<hostname>.<zone> and its wildcard),
one per cluster, each guarded by that cluster's health check; in global mode also the entry's
latency alias records at <hostname>.<zone>, which evaluate their target's health: an entry whose
every cluster is unhealthy drops out and Route 53 answers with the next-nearest one
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-complex-configs.html). No
calculated health check: one would list every cluster's check, so a new cluster would change it
(a new cluster only adds resources: tests/test_zero_touch.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from fleet.clouds.base import ClusterHandle
from fleet.traffic import (
    EXTERNAL_DNS_ACCOUNT,
    EXTERNAL_DNS_NAMESPACE,
    HEALTH_CHECK_FAILURES,
    HEALTH_CHECK_INTERVAL,
    HEALTH_CHECK_PORT,
    RECORD_TTL,
    RECORD_TYPES,
    ClusterTraffic,
    RegionTraffic,
    TrafficPlan,
)

IAM_NAME_LIMIT = 64
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
SERVICE_ACCOUNT_SUBJECT = f"system:serviceaccount:{EXTERNAL_DNS_NAMESPACE}:{EXTERNAL_DNS_ACCOUNT}"


# --- pure documents --------------------------------------------------------------------------


def zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def record_policy(zone_id: str, names: tuple[str, ...]) -> str:
    """What external-dns needs (docs/tutorials/aws.md of external-dns v0.21.0), narrowed to the
    cluster's own record names and types in one zone."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnRecordsOnly", "Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
         "Resource": zone_arn(zone_id),
         "Condition": {"ForAllValues:StringEquals": {
             "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(names),
             "route53:ChangeResourceRecordSetsRecordTypes": list(RECORD_TYPES)}}},
        {"Sid": "ReadZone", "Effect": "Allow",
         "Action": ["route53:ListResourceRecordSets", "route53:ListTagsForResources"], "Resource": zone_arn(zone_id)},
        {"Sid": "FindZone", "Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"},
    ]}, sort_keys=True)


def pod_identity_trust(cluster: str) -> str:
    """EKS Pod Identity, for this cluster's external-dns service account only (session tags)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-name": cluster,
                                       "aws:RequestTag/kubernetes-namespace": EXTERNAL_DNS_NAMESPACE,
                                       "aws:RequestTag/kubernetes-service-account": EXTERNAL_DNS_ACCOUNT}}}]},
        sort_keys=True)


def issuer_key(issuer: str) -> str:
    """The issuer as IAM's condition keys name it: without https://, exactly as the tokens carry it
    (an AKS issuer ends with '/'; STS matches the provider by the token's iss claim)."""
    return issuer.removeprefix("https://")


def web_identity_trust(provider_arn: str, issuer: str) -> str:
    key = issuer_key(issuer)
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{key}:sub": SERVICE_ACCOUNT_SUBJECT,
                                       f"{key}:aud": WEB_IDENTITY_AUDIENCE}}}]}, sort_keys=True)


def cluster_name_of(arn: str) -> str:
    """The EKS cluster's name from its ARN (an Output of the cluster: the association waits for it)."""
    return arn.rsplit("/", 1)[-1]


def role_name(cluster: str) -> str:
    suffix = "-external-dns"
    return cluster[: IAM_NAME_LIMIT - len(suffix)] + suffix


# --- resources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DnsIdentity:
    """The AWS role a cluster's external-dns runs as, and how it reaches it."""

    role_arn: pulumi.Output[str]
    web_identity: bool  # AKS/GKE: projected token + AWS_ROLE_ARN; EKS: Pod Identity (nothing in the pod)
    resources: list[pulumi.Resource] = field(default_factory=list)


class EntryPoint(pulumi.ComponentResource):
    """The ClusterSet's records, health checks and DNS identities in Route 53 and IAM."""

    def __init__(self, plan: TrafficPlan, handles: Mapping[str, ClusterHandle],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:traffic:EntryPoint", plan.cluster_set, None, opts)
        self.plan = plan
        self.identities: dict[str, DnsIdentity] = {}
        checks: dict[str, aws.route53.HealthCheck] = {}
        for cluster in plan.clusters:
            if cluster.cluster not in handles:  # held by another stack (fleet.shards)
                continue
            checks[cluster.cluster] = self._health_check(cluster)
            self.identities[cluster.cluster] = self._identity(cluster, handles[cluster.cluster])
        for region in plan.published:
            if all(c.cluster in checks for c in region.clusters):
                self._region(region, checks)
        self.register_outputs({"hostnames": plan.hostnames()})

    def _child(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    def _health_check(self, cluster: ClusterTraffic) -> aws.route53.HealthCheck:
        """A TCP check of the cluster's entry gateway from Route 53's checkers (HTTPS listener)."""
        return aws.route53.HealthCheck(
            f"{cluster.cluster}-entry", type="TCP", fqdn=cluster.record, port=HEALTH_CHECK_PORT,
            request_interval=HEALTH_CHECK_INTERVAL, failure_threshold=HEALTH_CHECK_FAILURES,
            tags={"Name": cluster.record, "fleet-cluster": cluster.cluster, "managed-by": "fleet"},
            opts=self._child())

    def _region(self, region: RegionTraffic, checks: Mapping[str, aws.route53.HealthCheck]) -> None:
        plan = self.plan
        for cluster in region.clusters:
            for name, suffix in ((region.name, ""), (f"*.{region.name}", "-wildcard")):
                aws.route53.Record(
                    f"{cluster.cluster}-weighted{suffix}", zone_id=plan.zone_id, name=name, type="CNAME",
                    ttl=RECORD_TTL, records=[cluster.record], set_identifier=cluster.cluster,
                    weighted_routing_policies=[aws.route53.RecordWeightedRoutingPolicyArgs(weight=cluster.weight)],
                    health_check_id=checks[cluster.cluster].id, opts=self._child())
        if plan.mode != "global":
            return
        for name, suffix in ((plan.entry, ""), (f"*.{plan.entry}", "-wildcard")):
            # an alias evaluating its target's health: healthy while one weighted record of the entry is
            aws.route53.Record(
                f"{plan.cluster_set}-{region.region}-latency{suffix}", zone_id=plan.zone_id, name=name,
                type="CNAME", set_identifier=region.region,
                aliases=[aws.route53.RecordAliasArgs(name=region.name, zone_id=plan.zone_id,
                                                     evaluate_target_health=True)],
                latency_routing_policies=[aws.route53.RecordLatencyRoutingPolicyArgs(region=region.latency_region)],
                opts=self._child())

    def _identity(self, cluster: ClusterTraffic, handle: ClusterHandle) -> DnsIdentity:
        name = role_name(cluster.cluster)
        tags = {"fleet-cluster": cluster.cluster, "managed-by": "fleet"}
        if cluster.provider == "aws":
            role = aws.iam.Role(f"{cluster.cluster}-external-dns", name=name,
                                description=f"external-dns of {cluster.cluster}: its own records in {self.plan.zone}",
                                assume_role_policy=pod_identity_trust(cluster.cluster), tags=tags, opts=self._child())
            association = aws.eks.PodIdentityAssociation(
                f"{cluster.cluster}-external-dns", cluster_name=handle.resource_id.apply(cluster_name_of),
                namespace=EXTERNAL_DNS_NAMESPACE,
                service_account=EXTERNAL_DNS_ACCOUNT, role_arn=role.arn, region=handle.location, tags=tags,
                opts=self._child())
            extra: list[pulumi.Resource] = [association]
        else:
            provider = aws.iam.OpenIdConnectProvider(
                f"{cluster.cluster}-external-dns", url=handle.oidc_issuer, client_id_lists=[WEB_IDENTITY_AUDIENCE],
                tags=tags, opts=self._child())
            role = aws.iam.Role(
                f"{cluster.cluster}-external-dns", name=name,
                description=f"external-dns of {cluster.cluster}: its own records in {self.plan.zone}",
                assume_role_policy=pulumi.Output.all(provider.arn, handle.oidc_issuer).apply(
                    lambda v: web_identity_trust(v[0], v[1])),
                tags=tags, opts=self._child())
            extra = [provider]
        policy = aws.iam.RolePolicy(f"{cluster.cluster}-external-dns", role=role.id, name="own-records",
                                    policy=record_policy(self.plan.zone_id, cluster.writable_names), opts=self._child())
        return DnsIdentity(role.arn, cluster.provider != "aws", [role, policy, *extra])
