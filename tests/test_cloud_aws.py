"""fleet.clouds.aws under the mock engine: what an operator would notice on the recorded inputs."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import inspect
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from fleet.clouds import aws as eks
from fleet.clouds import sizes
from fleet.clouds.base import ServiceAccountRef
from fleet.plan import DECOMMISSION_TAG, ClusterPlan
from fleet.synth.engine import FakeCloud, RecordingMonitor, _stack_outputs, clean, holds_secret
from fleet.synth.fakes import fake_resource
from fleet.synth.fakes.common import FAKE_CA_PEM
from tests.helpers import cluster_set, plan_documents, template

ADMIN = "arn:aws:iam::123456789012:role/platform-admins"
CI_RUNNERS = "198.51.100.0/26"
OFFICE = "192.0.2.0/24"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
SERVICE_ACCOUNTS = [ServiceAccountRef("flux-system", "kustomize-controller"),
                    ServiceAccountRef("flux-system", "helm-controller")]


class _Monitor(RecordingMonitor):
    """Also keeps what components register as their outputs (urn -> wire-format outputs)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.component_outputs: dict[str, Any] = {}

    def RegisterResourceOutputs(self, request):  # noqa: N802 (gRPC method name)
        self.component_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class Synth:
    records: list[Any]
    outputs: dict[str, Any]  # wire format (secrets marked)
    plans: dict[str, ClusterPlan]
    component_outputs: dict[str, Any]

    def of(self, type_: str, cluster: str | None = None) -> list[Any]:
        return [r for r in self.records
                if r.type == type_ and (cluster is None or r.name.startswith(cluster))]

    def one(self, type_: str, name: str) -> Any:
        found = [r for r in self.records if r.type == type_ and r.name == name]
        assert len(found) == 1, (type_, name, [r.name for r in self.records if r.type == type_])
        return found[0]

    def inputs(self, record: Any) -> dict[str, Any]:
        return clean(record.inputs, show_secrets=True)

    def names(self, urns: list[str]) -> set[str]:
        by_urn = {r.urn: r.name for r in self.records}
        return {by_urn.get(u, u) for u in urns}

    def output(self, key: str) -> Any:
        return clean(self.outputs.get(key), show_secrets=True)


def _plans(spec: dict[str, Any], environment: str, settings: dict[str, Any]) -> dict[str, ClusterPlan]:
    plan, problems = plan_documents(
        template(**spec),
        cluster_set(environment=environment,
                    regions=[{"name": "us-east", "clusters": 1, "template": "base", "provider": "aws"}]),
        settings=settings,
    )
    assert not problems, [str(p) for p in problems]
    return {c.role: c for c in plan.clusters}


def _synthesize(plans: dict[str, ClusterPlan]) -> Synth:
    """The hub and its spoke as fleet.fleet wires them: spoke authorised for the hub's egress."""
    hub, spoke = plans["hub"], plans["spoke"]
    monitor = _Monitor(FakeCloud())
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(FakeCloud(), project="fleet", stack="test", preview=False, monitor=monitor)

    def program() -> None:
        hub_cluster = eks.Cluster(hub, None)
        identity = eks.hub_identity(hub, hub_cluster.handle, SERVICE_ACCOUNTS, parent=hub_cluster)
        spoke_cluster = eks.Cluster(spoke, hub_cluster.handle.egress_cidrs)
        access = eks.grant_hub_access(spoke, spoke_cluster.handle, identity, parent=spoke_cluster)
        for role, cluster in (("hub", hub_cluster), ("spoke", spoke_cluster)):
            handle = cluster.handle
            pulumi.export(f"{role}.kubeconfig", handle.kubeconfig)
            pulumi.export(f"{role}.endpoint", handle.endpoint)
            pulumi.export(f"{role}.ca", handle.ca_data)
            pulumi.export(f"{role}.issuer", handle.oidc_issuer)
            pulumi.export(f"{role}.arn", handle.resource_id)
            pulumi.export(f"{role}.account", handle.account)
            pulumi.export(f"{role}.egress", handle.egress_cidrs)
            pulumi.export(f"{role}.annotations", dict(handle.annotations))
            pulumi.export(f"{role}.ready", len(handle.ready))
        pulumi.export("hub.principal", identity.principal)
        pulumi.export("spoke.argocd", access.argocd_config)
        pulumi.export("spoke.flux", access.flux_config)

    _sync_await(run_pulumi_func(program))
    outputs = _stack_outputs()
    return Synth(monitor.records, outputs, plans, monitor.component_outputs)


PRODUCTION_SPEC = {
    "version": "1.35",
    "networking": {"cni": "cilium", "apiAccess": "authorized", "authorizedNetworks": [OFFICE]},
    "nodePools": [
        {"name": "system", "size": "medium", "min": 2, "max": 4, "system": True},
        {"name": "batch", "size": "xlarge", "min": 0, "max": 20, "spot": True,
         "labels": {"workload": "batch"},
         "taints": [{"key": "batch", "value": "true", "effect": "NoSchedule"}]},
        {"name": "fixed", "size": "medium", "min": 2, "max": 2},
    ],
}
STAGING_SPEC = {
    "version": "1.34",
    "networking": {"cni": "cloud", "apiAccess": "private"},
    "security": {"secretsEncryption": False},
}
SETTINGS = {"admins": {"aws": [ADMIN]}, "ciRunnerCidrs": [CI_RUNNERS]}


@pytest.fixture(scope="module")
def prod() -> Synth:
    return _synthesize(_plans(PRODUCTION_SPEC, "production", SETTINGS))


@pytest.fixture(scope="module")
def staging() -> Synth:
    # Private EKS clusters. fleet.access refuses a private spoke under a hub (its endpoint answers
    # only inside its own VPC), so the plan is made authorized and the module gets the mode directly.
    reachable = {**STAGING_SPEC, "networking": {**STAGING_SPEC["networking"], "apiAccess": "authorized"}}
    plans = _plans(reachable, "staging", SETTINGS)
    return _synthesize({role: dataclasses.replace(plan, endpoint=dataclasses.replace(plan.endpoint, mode="private"))
                        for role, plan in plans.items()})


def _names(synth: Synth, type_: str, cluster: str) -> list[str]:
    return sorted(r.name for r in synth.of(type_, cluster))


def _policy(text: str) -> dict[str, Any]:
    return json.loads(text)


@cache
def _sdk_parameters(type_: str) -> frozenset[str]:
    """Constructor parameters of the pulumi_aws class behind a type token (aws:ec2/vpc:Vpc)."""
    match = re.fullmatch(r"aws:(\w+)/\w+:(\w+)", type_)
    assert match, type_
    module = importlib.import_module(f"pulumi_aws.{match.group(1)}")
    return frozenset(inspect.signature(getattr(module, match.group(2))._internal_init).parameters)


# --- what each cluster is made of ------------------------------------------------------------


def test_resource_types_per_cluster_with_cilium(prod: Synth) -> None:
    spoke = prod.plans["spoke"].name
    types = {r.type for r in prod.records if r.name.startswith(spoke)}
    assert {
        "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable",
        "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation", "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:kms/key:Key", "aws:iam/role:Role", "aws:eks/cluster:Cluster",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:eks/addon:Addon",
        "aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "kubernetes:helm.sh/v3:Release",
        "pulumi:providers:kubernetes",
    } <= types
    assert len(prod.of("fleet:clouds:EksCluster")) == 2


def test_network_three_zones_subnets_tagged_for_load_balancers(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    subnets = {prod.inputs(r)["cidrBlock"]: prod.inputs(r)
               for r in prod.of("aws:ec2/subnet:Subnet", plan.name)}
    vpc = prod.inputs(prod.one("aws:ec2/vpc:Vpc", f"{plan.name}-vpc"))
    assert vpc["cidrBlock"] == plan.network.node_cidr
    assert vpc["enableDnsSupport"] and vpc["enableDnsHostnames"]
    for zone, cidr in zip(plan.network.zones, plan.network.private_subnets, strict=True):
        assert subnets[cidr]["availabilityZone"] == zone
        assert subnets[cidr]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    for zone, cidr in zip(plan.network.zones, plan.network.public_subnets, strict=True):
        assert subnets[cidr]["availabilityZone"] == zone
        assert subnets[cidr]["tags"]["kubernetes.io/role/elb"] == "1"
    pod_range = prod.inputs(prod.one("aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation",
                                     f"{plan.name}-pod-range"))
    assert pod_range["cidrBlock"] == plan.network.pod_cidr
    pods = [s for s in subnets.values() if s["tags"].get(eks.POD_SUBNET_TAG) == plan.name]
    assert len(pods) == len(plan.network.zones)


def test_egress_is_one_nat_per_zone_in_production_and_one_otherwise(prod: Synth, staging: Synth) -> None:
    for synth, expected in ((prod, 3), (staging, 1)):
        plan = synth.plans["spoke"]
        eips = synth.of("aws:ec2/eip:Eip", plan.name)
        assert len(eips) == len(synth.of("aws:ec2/natGateway:NatGateway", plan.name)) == expected
        fake_ips = sorted(f"{fake_resource(r.type, r.name, {})[1]['publicIp']}/32" for r in eips)
        assert synth.output("spoke.egress") == fake_ips
        tables = synth.of("aws:ec2/routeTable:RouteTable", plan.name)
        private_routes = [synth.inputs(r)["routes"] for r in tables if "private" in r.name]
        assert len(private_routes) == 3 and all(routes[0]["natGatewayId"].startswith("nat-")
                                                for routes in private_routes)


# --- identity and access ---------------------------------------------------------------------


def test_api_authentication_with_access_entries_for_admins_and_deployer(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    cluster = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{plan.name}-eks"))
    assert cluster["accessConfig"] == {"authenticationMode": "API",
                                       "bootstrapClusterCreatorAdminPermissions": False}
    entries = {prod.inputs(r)["principalArn"] for r in prod.of("aws:eks/accessEntry:AccessEntry", plan.name)}
    assert ADMIN in entries
    assert "arn:aws:iam::123456789012:role/fleet-deployer" in entries  # the session's role, not the STS ARN
    associations = [prod.inputs(r) for r in prod.of("aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
                                                     plan.name)]
    assert {a["principalArn"] for a in associations} == entries
    assert all(a["policyArn"] == CLUSTER_ADMIN and a["accessScope"] == {"type": "cluster"}
               for a in associations)
    provider = prod.one("pulumi:providers:kubernetes", f"{plan.name}-k8s")
    assert f"{plan.name}-deployer" in prod.names(provider.dependencies)


def test_secrets_envelope_encryption_with_a_rotating_key(prod: Synth, staging: Synth) -> None:
    plan = prod.plans["spoke"]
    key = prod.one("aws:kms/key:Key", f"{plan.name}-secrets")
    assert prod.inputs(key)["enableKeyRotation"] is True
    key_arn = fake_resource(key.type, key.name, prod.inputs(key))[1]["arn"]
    cluster = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{plan.name}-eks"))
    assert cluster["encryptionConfig"] == {"provider": {"keyArn": key_arn}, "resources": ["secrets"]}
    grant = _policy(prod.inputs(prod.one("aws:iam/rolePolicy:RolePolicy",
                                         f"{plan.name}-cluster-kms"))["policy"])
    assert grant["Statement"][0]["Resource"] == key_arn
    assert "kms:Decrypt" in grant["Statement"][0]["Action"]
    bare = staging.plans["spoke"].name
    assert not staging.of("aws:kms/key:Key", bare)
    assert "encryptionConfig" not in staging.inputs(staging.one("aws:eks/cluster:Cluster", f"{bare}-eks"))


def test_iam_roles_and_managed_policies(prod: Synth, staging: Synth) -> None:
    def attached(synth: Synth, prefix: str) -> set[str]:
        return {synth.inputs(r)["policyArn"].rsplit("/", 1)[-1]
                for r in synth.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment", prefix)}

    cilium, cloud = prod.plans["spoke"].name, staging.plans["spoke"].name
    assert attached(prod, f"{cilium}-cluster-") == {"AmazonEKSClusterPolicy"}
    node = {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"}
    assert attached(prod, f"{cilium}-node-") == node
    assert attached(staging, f"{cloud}-node-") == node | {"AmazonEKS_CNI_Policy"}
    eni_grant = prod.one("aws:iam/rolePolicy:RolePolicy", f"{cilium}-node-cilium-eni")
    eni = _policy(prod.inputs(eni_grant)["policy"])
    assert "ec2:CreateNetworkInterface" in eni["Statement"][0]["Action"]
    trust = _policy(prod.inputs(prod.one("aws:iam/role:Role", f"{cilium}-cluster-role"))["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}


# --- endpoint --------------------------------------------------------------------------------


def test_authorized_endpoint_allows_declared_networks_ci_runners_and_hub_egress(prod: Synth) -> None:
    spoke, hub = prod.plans["spoke"].name, prod.plans["hub"].name
    vpc = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{spoke}-eks"))["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == [OFFICE, CI_RUNNERS, *prod.output("hub.egress")]
    assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]
    hub_vpc = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{hub}-eks"))["vpcConfig"]
    assert hub_vpc["publicAccessCidrs"] == [OFFICE, CI_RUNNERS]  # the hub has no hub
    assert len(vpc["subnetIds"]) == len(prod.plans["spoke"].network.private_subnets) == 3


def test_private_endpoint_has_no_public_access(staging: Synth) -> None:
    cluster = staging.one("aws:eks/cluster:Cluster", f"{staging.plans['spoke'].name}-eks")
    vpc = staging.inputs(cluster)["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert not vpc.get("publicAccessCidrs")  # null: nothing is allowed on a public endpoint


@pytest.mark.parametrize(("mode", "authorized", "hub", "expected"), [
    ("private", [CI_RUNNERS], ["203.0.113.1/32"], (False, [])),
    ("dns", [CI_RUNNERS], [], (False, [])),  # not an EKS mode (the plan rejects it): never public
    ("authorized", [CI_RUNNERS, OFFICE], ["203.0.113.9/32", "203.0.113.1/32"],
     (True, [CI_RUNNERS, OFFICE, "203.0.113.1/32", "203.0.113.9/32"])),
    ("authorized", ["0.0.0.0/0"], [], (False, [])),  # never open to the internet
    ("authorized", [], [], (False, [])),  # nothing to allow: stay private rather than open
    ("authorized", [CI_RUNNERS], [CI_RUNNERS], (True, [CI_RUNNERS])),
])
def test_endpoint_access_rules(mode: str, authorized: list[str], hub: list[str],
                               expected: tuple[bool, list[str]]) -> None:
    assert eks.endpoint_access(mode, authorized, hub) == expected


# --- cluster settings ------------------------------------------------------------------------


def test_control_plane_settings(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    cluster = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{plan.name}-eks"))
    assert cluster["name"] == plan.name and cluster["version"] == plan.kubernetes_version
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager",
                                                 "scheduler"]
    assert cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == plan.network.service_cidr
    log_group = prod.inputs(prod.one("aws:cloudwatch/logGroup:LogGroup", f"{plan.name}-control-plane"))
    assert log_group["name"] == f"/aws/eks/{plan.name}/cluster" and log_group["retentionInDays"] == 365


def test_deletion_protection_and_protect_in_production_only(prod: Synth, staging: Synth) -> None:
    for synth, protected in ((prod, True), (staging, False)):
        plan = synth.plans["spoke"]
        assert plan.protect is protected
        record = synth.one("aws:eks/cluster:Cluster", f"{plan.name}-eks")
        assert record.protect is protected
        assert synth.inputs(record)["deletionProtection"] is protected
        support = synth.inputs(record)["upgradePolicy"]["supportType"]
        assert support == ("EXTENDED" if protected else "STANDARD")


def test_every_regional_resource_names_its_region(prod: Synth, staging: Synth) -> None:
    for synth in (prod, staging):
        for plan in synth.plans.values():
            for record in synth.records:
                if not record.type.startswith("aws:") or not record.name.startswith(plan.name):
                    continue
                if "region" in _sdk_parameters(record.type):
                    assert synth.inputs(record).get("region") == plan.location, (record.type, record.name)


def test_every_taggable_resource_carries_the_plan_tags(prod: Synth, staging: Synth) -> None:
    checked = set()
    for synth in (prod, staging):
        for plan in synth.plans.values():
            expected = eks.aws_tags(plan.tags)
            for record in synth.records:
                if not record.type.startswith("aws:") or not record.name.startswith(plan.name):
                    continue
                if "tags" in _sdk_parameters(record.type):
                    tags = synth.inputs(record).get("tags") or {}
                    assert expected.items() <= tags.items(), (record.type, record.name, tags)
                    checked.add(record.type)
    assert {"aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet", "aws:iam/role:Role"} <= checked


# --- node pools ------------------------------------------------------------------------------


def test_node_groups_follow_the_plan(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    for pool in plan.node_pools:
        group = prod.inputs(prod.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-{pool.name}"))
        assert group["instanceTypes"] == [sizes.INSTANCE_TYPES["aws"][pool.size]]
        assert group["amiType"] == "AL2023_x86_64_STANDARD"
        assert group["scalingConfig"] == {"minSize": pool.min_nodes, "maxSize": pool.max_nodes,
                                          "desiredSize": pool.min_nodes}
        assert group["capacityType"] == ("SPOT" if pool.spot else "ON_DEMAND")
        assert group["labels"] == dict(pool.labels)
        assert len(group["subnetIds"]) == 3
        template = prod.inputs(prod.one("aws:ec2/launchTemplate:LaunchTemplate", f"{plan.name}-{pool.name}"))
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
        disk = template["blockDeviceMappings"][0]["ebs"]
        assert disk["volumeSize"] == sizes.OS_DISK_GB[pool.size] and disk["encrypted"] == "true"
        record = prod.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-{pool.name}")
        assert record.options["ignoreChanges"] == ["scalingConfig.desiredSize"]  # the autoscaler owns it
    taints = {p.name: prod.inputs(prod.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-{p.name}"))["taints"]
              for p in plan.node_pools}
    not_ready = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NO_EXECUTE"}
    assert {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"} in taints["system"]
    assert {"key": "batch", "value": "true", "effect": "NO_SCHEDULE"} in taints["batch"]
    assert all(not_ready in t for t in taints.values())


def test_default_pools_without_cilium_taint(staging: Synth) -> None:
    plan = staging.plans["spoke"]
    assert [p.name for p in plan.node_pools] == ["system", "general"]
    for pool in plan.node_pools:
        group = staging.inputs(staging.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-{pool.name}"))
        assert all(t["key"] != "node.cilium.io/agent-not-ready" for t in group.get("taints", []))
        assert group["version"] == plan.kubernetes_version


# --- CNI and add-ons -------------------------------------------------------------------------


def test_cilium_replaces_vpc_cni_and_kube_proxy(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    cluster = prod.inputs(prod.one("aws:eks/cluster:Cluster", f"{plan.name}-eks"))
    assert cluster["bootstrapSelfManagedAddons"] is False
    addons = {prod.inputs(r)["addonName"] for r in prod.of("aws:eks/addon:Addon", plan.name)}
    assert addons == {"eks-pod-identity-agent", "coredns"}
    release_record = prod.one("kubernetes:helm.sh/v3:Release", f"{plan.name}-cilium")
    release = prod.inputs(release_record)
    # the release tested on the cluster's minor (fleet.spec.versions.default_cilium: 1.35 -> 1.19.3)
    assert release["chart"] == "cilium" and release["version"] == "1.19.3"
    assert release["repositoryOpts"]["repo"] == "https://helm.cilium.io/"
    values = release["values"]
    endpoint = prod.output("spoke.endpoint")
    assert values["kubeProxyReplacement"] is True
    assert values["k8sServiceHost"] == endpoint.removeprefix("https://")
    assert values["ipam"]["mode"] == "eni" and values["routingMode"] == "native"
    assert values["ipv4NativeRoutingCIDR"] == plan.network.block
    assert values["cni"]["configMap"] == eks.CILIUM_CNI_CONFIGMAP
    assert release_record.provider and release_record.provider.endswith(f"::{plan.name}-k8s")
    # Cilium before any node (its pods cannot be Ready yet, so the release does not wait), the
    # node groups after it, coredns after both
    groups = {f"{plan.name}-{p.name}" for p in plan.node_pools}
    assert f"{plan.name}-cilium-cni-config" in prod.names(release_record.dependencies)
    assert not groups & prod.names(release_record.dependencies)
    assert release["skipAwait"] is True and "atomic" not in release
    for group in groups:
        assert f"{plan.name}-cilium" in prod.names(prod.one("aws:eks/nodeGroup:NodeGroup", group).dependencies)
    coredns = prod.one("aws:eks/addon:Addon", f"{plan.name}-coredns")
    assert {f"{plan.name}-cilium"} | groups <= prod.names(coredns.dependencies)
    config = prod.inputs(prod.one("kubernetes:core/v1:ConfigMap", f"{plan.name}-cilium-cni-config"))
    eni = json.loads(config["data"]["cni-config"])["plugins"][0]["eni"]
    assert eni == {"first-interface-index": 1, "subnet-tags": {eks.POD_SUBNET_TAG: plan.name}}


def test_cloud_cni_uses_managed_vpc_cni_with_pod_subnets(staging: Synth) -> None:
    plan = staging.plans["spoke"]
    addons = {staging.inputs(r)["addonName"]: r for r in staging.of("aws:eks/addon:Addon", plan.name)}
    assert set(addons) == {"eks-pod-identity-agent", "vpc-cni", "kube-proxy", "coredns"}
    settings = json.loads(staging.inputs(addons["vpc-cni"])["configurationValues"])
    assert settings["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert settings["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    assert all(staging.inputs(a)["addonVersion"].startswith("v") for a in addons.values())
    releases = {staging.inputs(r)["chart"] for r in staging.of("kubernetes:helm.sh/v3:Release", plan.name)}
    assert releases == {"cluster-autoscaler"}  # no Cilium
    eniconfigs = [staging.inputs(r) for r in staging.of("kubernetes:crd.k8s.amazonaws.com/v1alpha1:ENIConfig",
                                                          plan.name)]
    assert sorted(e["metadata"]["name"] for e in eniconfigs) == sorted(plan.network.zones)
    assert all(e["spec"]["subnet"].startswith("subnet-") and e["spec"]["securityGroups"][0].startswith("sg-")
               for e in eniconfigs)
    group = staging.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-general")
    first_zone = plan.network.zones[0]
    before = {f"{plan.name}-vpc-cni", f"{plan.name}-kube-proxy", f"{plan.name}-eniconfig-{first_zone}"}
    assert before <= staging.names(group.dependencies)
    assert {f"{plan.name}-system", f"{plan.name}-general"} <= staging.names(addons["coredns"].dependencies)


# --- workload identity, hub and spokes -------------------------------------------------------


def test_workload_identity_pod_identity_and_oidc(prod: Synth) -> None:
    hub = prod.plans["hub"]
    issuer = prod.output("hub.issuer")
    assert issuer.startswith(f"https://oidc.eks.{hub.location}.amazonaws.com/id/")
    oidc = prod.inputs(prod.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", f"{hub.name}-oidc"))
    assert oidc["url"] == issuer and oidc["clientIdLists"] == ["sts.amazonaws.com"]
    role = prod.inputs(prod.one("aws:iam/role:Role", f"{hub.name}-gitops-hub"))
    trust = _policy(role["assumeRolePolicy"])["Statement"]
    assert trust[0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust[0]["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assert prod.output("hub.principal") == f"arn:aws:iam::123456789012:role/{role['name']}"
    associations = [prod.inputs(r) for r in prod.of("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                    if not r.name.endswith("-cluster-autoscaler")]
    assert {(a["namespace"], a["serviceAccount"]) for a in associations} == {
        (sa.namespace, sa.name) for sa in SERVICE_ACCOUNTS}
    assert all(a["clusterName"] == hub.name and a["roleArn"] == prod.output("hub.principal")
               for a in associations)


def test_spoke_grants_the_hub_role_and_tells_engines_how(prod: Synth) -> None:
    spoke = prod.plans["spoke"]
    entry = prod.inputs(prod.one("aws:eks/accessEntry:AccessEntry", f"{spoke.name}-hub-access"))
    assert entry["principalArn"] == prod.output("hub.principal") and entry["clusterName"] == spoke.name
    association = prod.inputs(prod.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
                                       f"{spoke.name}-hub-access"))
    assert association["policyArn"] == CLUSTER_ADMIN
    assert prod.output("spoke.argocd") == {"awsAuthConfig": {"clusterName": spoke.name,
                                                             "roleARN": prod.output("hub.principal")}}
    assert prod.output("spoke.flux") == {"provider": "aws", "cluster": prod.output("spoke.arn"),
                                         "address": prod.output("spoke.endpoint"), "ca.crt": FAKE_CA_PEM}


def test_handle_and_annotations(prod: Synth) -> None:
    spoke = prod.plans["spoke"]
    assert prod.output("spoke.arn") == f"arn:aws:eks:{spoke.location}:123456789012:cluster/{spoke.name}"
    assert prod.output("spoke.account") == "123456789012"
    assert base64.b64decode(prod.output("spoke.ca")).decode() == FAKE_CA_PEM
    annotations = prod.output("spoke.annotations")
    assert annotations["aws_region"] == spoke.location and annotations["aws_account_id"] == "123456789012"
    assert annotations["aws_cluster_arn"] == prod.output("spoke.arn")
    assert annotations["aws_vpc_id"].startswith("vpc-") and annotations["aws_oidc_issuer"].startswith("https://")
    assert prod.output("spoke.ready") >= 3


def test_kubeconfig_is_a_secret_exec_plugin(prod: Synth) -> None:
    spoke = prod.plans["spoke"]
    assert holds_secret(prod.outputs["spoke.kubeconfig"])
    document = yaml.safe_load(prod.output("spoke.kubeconfig"))
    user = document["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:6] == ["eks", "get-token", "--cluster-name", spoke.name, "--region", spoke.location]
    assert document["clusters"][0]["cluster"]["server"] == prod.output("spoke.endpoint")
    provider = prod.one("pulumi:providers:kubernetes", f"{spoke.name}-k8s")
    assert holds_secret(provider.inputs["kubeconfig"])
    component = prod.one("fleet:clouds:EksCluster", spoke.name)
    registered = prod.component_outputs[component.urn]
    assert registered["name"] == spoke.name and "endpoint" in registered
    assert not holds_secret(registered) and "kubeconfig" not in json.dumps(registered)


# --- pure helpers and isolation --------------------------------------------------------------


def test_tags_are_sanitised_for_aws() -> None:
    tags = eks.aws_tags({"aws:owner": "x", "team#1": "a|b", "ok.key/path": "v=1 +@:"})
    assert tags == {"fleet-aws:owner": "x", "team-1": "a-b", "ok.key/path": "v=1 +@:"}
    assert len(next(iter(eks.aws_tags({"k" * 300: "v"})))) == 128


def test_bounded_names_fit_iam() -> None:
    short = eks.bounded_name("demo-hub", "eks-node", 64)
    assert short == "demo-hub-eks-node"
    long = eks.bounded_name("a" * 100, "gitops-hub", 64)
    assert len(long) <= 64 and long.endswith("-gitops-hub")
    assert long == eks.bounded_name("a" * 100, "gitops-hub", 64)


def test_pod_subnets_one_per_zone() -> None:
    expected = ["10.0.16.0/22", "10.0.20.0/22", "10.0.24.0/22"]
    assert eks.pod_subnets("10.0.16.0/20", ("a", "b", "c")) == expected


def test_importing_aws_module_imports_no_other_cloud() -> None:
    code = ("import sys, fleet.clouds.aws; "
            "assert not {'pulumi_gcp', 'pulumi_azure_native'} & set(sys.modules), 'other cloud SDK imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# --- autoscaling -----------------------------------------------------------------------------


def _asg_tags(synth: Synth, cluster: str, pool: str) -> dict[str, str]:
    tags = [synth.inputs(r)["tag"] for r in synth.of("aws:autoscaling/tag:Tag", f"{cluster}-{pool}-asg-")]
    assert all(t["propagateAtLaunch"] is False for t in tags)
    return {t["key"]: t["value"] for t in tags}


def test_pools_with_room_to_grow_are_discovered_by_the_autoscaler(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    assert _asg_tags(prod, plan.name, "fixed") == {}  # min == max: nothing to scale
    batch = _asg_tags(prod, plan.name, "batch")
    assert batch[eks.AUTOSCALED_TAG] == plan.name
    template = "k8s.io/cluster-autoscaler/node-template/"
    assert batch[f"{template}label/workload"] == "batch"
    assert batch[f"{template}label/fleet.example.com/pool"] == "batch"
    assert batch[f"{template}label/eks.amazonaws.com/capacityType"] == "SPOT"
    assert batch[f"{template}taint/batch"] == "true:NoSchedule"
    assert f"{template}taint/node.cilium.io/agent-not-ready" not in batch  # a startup taint
    system = _asg_tags(prod, plan.name, "system")
    assert system[f"{template}taint/CriticalAddonsOnly"] == "true:NoSchedule"
    tag = prod.one("aws:autoscaling/tag:Tag", f"{plan.name}-batch-asg-fleet.example.com-autoscaled")
    group = prod.one("aws:eks/nodeGroup:NodeGroup", f"{plan.name}-batch")
    assert group.urn in tag.dependencies
    assert prod.inputs(tag)["autoscalingGroupName"].startswith("eks-batch-")


def test_cluster_autoscaler_release_matches_the_cluster(prod: Synth, staging: Synth) -> None:
    for synth in (prod, staging):
        plan = synth.plans["spoke"]
        record = synth.one("kubernetes:helm.sh/v3:Release", f"{plan.name}-cluster-autoscaler")
        release = synth.inputs(record)
        assert (release["chart"], release["version"]) == ("cluster-autoscaler", eks.AUTOSCALER_CHART_VERSION)
        assert release["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
        assert release["namespace"] == "kube-system" and "skipAwait" not in release
        values = release["values"]
        assert values["image"]["tag"] == eks.AUTOSCALER_IMAGE_TAGS[plan.kubernetes_version]
        assert values["image"]["tag"].startswith(f"v{plan.kubernetes_version}.")
        assert values["autoDiscovery"] == {"clusterName": plan.name, "tags": [
            "k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{plan.name}",
            f"{eks.AUTOSCALED_TAG}={plan.name}"]}
        assert values["awsRegion"] == plan.location and values["cloudProvider"] == "aws"
        # on the system pool, which is tainted CriticalAddonsOnly
        assert values["nodeSelector"] == {"fleet.example.com/pool": "system"}
        assert {"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true",
                "effect": "NoSchedule"} in values["tolerations"]
        startup = values["extraArgs"].get("startup-taint")
        assert startup == ("node.cilium.io/agent-not-ready" if plan.cni == "cilium" else None)
        # after the nodes, DNS and its identity: its pods run at once and call AWS
        before = synth.names(record.dependencies)
        assert {f"{plan.name}-{p.name}" for p in plan.node_pools} | {f"{plan.name}-coredns"} <= before
        association = synth.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                f"{plan.name}-cluster-autoscaler")
        assert association.urn in record.dependencies


def test_autoscaler_identity_may_scale_only_its_cluster(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    association = prod.inputs(prod.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                       f"{plan.name}-cluster-autoscaler"))
    assert (association["namespace"], association["serviceAccount"]) == ("kube-system", "cluster-autoscaler")
    assert association["clusterName"] == plan.name
    role = prod.inputs(prod.one("aws:iam/role:Role", f"{plan.name}-cluster-autoscaler"))
    assert association["roleArn"].endswith(f":role/{role['name']}")
    trust = _policy(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    statements = {s["Sid"]: s for s in _policy(prod.inputs(
        prod.one("aws:iam/rolePolicy:RolePolicy", f"{plan.name}-cluster-autoscaler"))["policy"])["Statement"]}
    scale = statements["ScaleOwnGroups"]
    assert set(scale["Action"]) == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert scale["Condition"]["StringEquals"] == {f"aws:ResourceTag/{eks.AUTOSCALED_TAG}": plan.name}
    assert scale["Condition"]["Null"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{plan.name}": "false"}
    assert all(a.split(":")[1].startswith(("Describe", "GetInstanceTypes")) for a in statements["Discover"]["Action"])
    assert statements["DescribeOwnNodegroups"]["Resource"].endswith(f":nodegroup/{plan.name}/*")


def test_autoscaler_image_follows_the_kubernetes_minor() -> None:
    assert eks.autoscaler_image_tag("1.34") == "v1.34.5"
    assert eks.autoscaler_image_tag("1.36") == "v1.36.1"
    assert eks.autoscaler_image_tag("1.37") == "v1.36.1"  # newer than the table: the newest known


# --- what rolls nodes ------------------------------------------------------------------------


def test_launch_templates_carry_only_tags_that_never_change(prod: Synth) -> None:
    plan = prod.plans["spoke"]
    for pool in plan.node_pools:
        template = prod.inputs(prod.one("aws:ec2/launchTemplate:LaunchTemplate", f"{plan.name}-{pool.name}"))
        for specification in template["tagSpecifications"]:
            assert set(specification["tags"]) == {*plan.stable_tags, "Name", "fleet-node-pool"}
            assert "template" not in specification["tags"]  # in plan.tags, but may change


def test_decommission_tag_stays_off_pools() -> None:
    plans = _plans(PRODUCTION_SPEC, "production", SETTINGS)
    spoke = plans["spoke"]
    marked = dataclasses.replace(spoke, tags={**spoke.tags, DECOMMISSION_TAG: "true"})
    pool = spoke.node_pools[0]
    assert eks.pool_tags(marked, pool) == eks.pool_tags(spoke, pool)
    assert eks.node_tags(marked, pool) == eks.node_tags(spoke, pool)
    region_label = dataclasses.replace(spoke, tags={**spoke.tags, "team": "payments"})
    assert eks.node_tags(region_label, pool) == eks.node_tags(spoke, pool)


def test_fake_launch_template_versions_change_exactly_with_version_content() -> None:
    base = {"description": "pool", "metadataOptions": {"httpTokens": "required"},
            "tagSpecifications": [{"resourceType": "instance", "tags": {"a": "1"}}],
            "tags": {"a": "1"}, "updateDefaultVersion": True, "region": "us-east-1"}

    def version(**changes: Any) -> int:
        return fake_resource("aws:ec2/launchTemplate:LaunchTemplate", "lt", {**base, **changes})[1]["latestVersion"]

    assert version() == version()  # stable across runs
    assert version(tags={"a": "2"}) == version()  # the template's own tags are no version content
    assert version(tagSpecifications=[{"resourceType": "instance", "tags": {"a": "2"}}]) != version()
    assert version(metadataOptions={"httpTokens": "optional"}) != version()
    assert version(description="other") != version()

