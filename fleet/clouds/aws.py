"""EKS: a ClusterPlan translated into one VPC, one EKS cluster, its node groups and add-ons.

Reads top to bottom like the console: tables and pure functions (every decision that is data),
then the component in creation order (network, encryption, IAM, cluster, access, node add-ons
and the CNI, node groups, what needs nodes, the autoscaler), then the hub helpers. pulumi_aws v7:
every regional resource names its `region`, so one default provider serves every region; IAM is
global.

Pod networking: pods never draw addresses from the node subnets. The plan's pod range becomes a
secondary VPC CIDR split into one pod subnet per zone (routed through the zone's NAT gateway),
so pods are VPC-routable: the EKS control plane reaches admission webhooks and aggregated APIs,
and load balancers target pod IPs. With cni "cloud" the VPC CNI uses them through custom
networking (ENIConfig per zone) with prefix delegation; with cni "cilium" Cilium runs in ENI
IPAM mode (native routing, kube-proxy replacement) with a CNI configuration that selects the same
subnets, and neither the VPC CNI nor kube-proxy is installed.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from fleet.access import (
    AWS_AUDIENCE,
    aws_region_for,
    aws_web_identity_trust,
    subject,
    token_mount,
    token_path,
    token_volume,
)
from fleet.behaviour.aws import (
    AUTOSCALER_CHART,
    EKS_DISCOVERY_TAGS,
    NODE_TEMPLATE_LABEL,
    NODE_TEMPLATE_TAINT,
    STARTUP_TAINT_ARG,
)
from fleet.clouds import kubeconfig, sizes
from fleet.clouds.base import ClusterHandle, HubIdentity, ServiceAccountRef, SpokeAccess
from fleet.plan import DECOMMISSION_TAG, ClusterPlan, NodePoolPlan, Taint
from fleet.spec import versions

# --- tables ----------------------------------------------------------------------------------

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LOG_RETENTION_DAYS = {True: 365, False: 30}  # keyed by plan.is_production
# Keyed by plan.extended_support (fleet:versionPolicy.extendedSupport; by default production): EXTENDED
# is never force-upgraded at the end of standard support (it pays for extended support instead);
# STANDARD follows AWS's automatic upgrade. pulumi_aws eks.ClusterUpgradePolicyArgs.support_type;
# https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
SUPPORT_TYPE = {True: "EXTENDED", False: "STANDARD"}

AMI_TYPE = "AL2023_x86_64_STANDARD"
ROOT_DEVICE = "/dev/xvda"  # AL2023 EKS AMIs
IMDS_HOP_LIMIT = 1  # IMDSv2 only, and pods outside the host network cannot reach it
NODE_MAX_UNAVAILABLE_PERCENT = 33
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                 "NoExecute": "NO_EXECUTE"}
CAPACITY_TYPES = {True: "SPOT", False: "ON_DEMAND"}  # keyed by pool.spot

IAM_NAME_LIMIT = 64
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")
VPC_CNI_NODE_POLICIES = ("AmazonEKS_CNI_Policy",)
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
KMS_CLUSTER_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
# What the Cilium operator calls in ENI IPAM mode (docs.cilium.io, AWS ENI "Required Privileges").
CILIUM_OPERATOR_EC2_ACTIONS = (
    "ec2:AssignPrivateIpAddresses", "ec2:AttachNetworkInterface", "ec2:CreateNetworkInterface",
    "ec2:CreateTags", "ec2:DeleteNetworkInterface", "ec2:DescribeInstanceTypes",
    "ec2:DescribeManagedPrefixLists", "ec2:DescribeNetworkInterfaces", "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeTags", "ec2:DescribeVpcs",
    "ec2:GetManagedPrefixListEntries", "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:UnassignPrivateIpAddresses",
)

# Managed add-ons and when they must exist: "before-nodes" ones are node agents a node needs to
# become Ready (or that cost nothing without nodes); "after-nodes" ones need schedulable, networked
# nodes. Cilium replaces vpc-cni and kube-proxy.
ADDONS = {
    "cloud": (("eks-pod-identity-agent", "before-nodes"), ("vpc-cni", "before-nodes"),
              ("kube-proxy", "before-nodes"), ("coredns", "after-nodes")),
    "cilium": (("eks-pod-identity-agent", "before-nodes"), ("coredns", "after-nodes")),
}
# VPC CNI: custom networking (pods in the per-zone pod subnets, selected by ENIConfig named after
# the node's zone), prefix delegation for density, and its network-policy agent.
VPC_CNI_CONFIGURATION = {
    "env": {
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
        "ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone",
        "ENABLE_PREFIX_DELEGATION": "true",
        "WARM_PREFIX_TARGET": "1",
    },
    "enableNetworkPolicy": "true",
}
ADDON_CONFIGURATION = {"vpc-cni": VPC_CNI_CONFIGURATION}

CILIUM_CHART = "cilium"
CILIUM_REPOSITORY = "https://helm.cilium.io/"
CILIUM_VERSION = versions.CILIUM_VERSION  # the default; a template may choose another (plan.cilium_version)
CILIUM_CNI_CONFIGMAP = "cilium-cni-configuration"
# Nodes join with this taint; the Cilium agent removes it once it manages the node, so no
# workload pod is ever started without Cilium networking.
CILIUM_AGENT_NOT_READY = Taint("node.cilium.io/agent-not-ready", "true", "NoExecute")

# Cluster Autoscaler (chart `cluster-autoscaler` of kubernetes/autoscaler). The autoscaler supports
# the Kubernetes minor it is built for only (cluster-autoscaler/README.md, "Releases"), so the chart
# is pinned and the image follows the cluster: the latest patch of each minor (tags
# cluster-autoscaler-1.N.x, 2026-07-22). Chart 9.59.0 (2026-07-13, appVersion 1.35.0).
AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_CHART_VERSION = "9.59.0"
AUTOSCALER_IMAGE_TAGS = {
    "1.29": "v1.29.5", "1.30": "v1.30.7", "1.31": "v1.31.5", "1.32": "v1.32.7",
    "1.33": "v1.33.6", "1.34": "v1.34.5", "1.35": "v1.35.2", "1.36": "v1.36.1",
}
AUTOSCALER_NAME = "cluster-autoscaler"  # release, service account and object names
AUTOSCALER_NAMESPACE = "kube-system"
# On the Auto Scaling group of every pool with room to grow (value: the cluster): what the
# autoscaler discovers, and what its IAM policy allows it to scale. EKS tags every group's ASG
# for discovery itself, so a pool with min == max is left out by this tag alone.
AUTOSCALED_TAG = "fleet.example.com/autoscaled"
# What the Cluster Autoscaler reads (cloudprovider/aws/README.md, "Full Cluster Autoscaler Features Policy").
AUTOSCALER_READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
)
AUTOSCALER_SCALE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
POOL_LABEL = "fleet.example.com/pool"  # fleet.plan labels every pool's nodes with its name

POD_SUBNET_TAG = "fleet.example.com/pod-subnet"  # value: cluster name; selects the pod subnets
POD_SUBNET_PREFIX_STEP = 2  # pod range split in four: one subnet per zone (up to 3) + spare

EXEC_INSTALL_HINT = ("`aws` (AWS CLI v2) is required to authenticate to EKS: "
                     "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html")

_TAG_INVALID = re.compile(r"[^\w\s.:/=+\-@]")


# --- pure decisions --------------------------------------------------------------------------


def aws_tags(tags: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tags within AWS's rules: letters, digits, spaces and _.:/=+-@; key <= 128, value <= 256;
    the `aws:` prefix is reserved."""
    result: dict[str, str] = {}
    for key, value in {**tags, **(extra or {})}.items():
        clean_key = _TAG_INVALID.sub("-", key)
        if clean_key.lower().startswith("aws:"):
            clean_key = f"fleet-{clean_key}"
        result[clean_key[:128]] = _TAG_INVALID.sub("-", value)[:256]
    return result


def bounded_name(base: str, suffix: str, limit: int) -> str:
    """`base-suffix`, shortened with a stable hash when longer than `limit` (IAM role names: 64)."""
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


def pod_subnets(pod_cidr: str, zones: Sequence[str]) -> list[str]:
    """One pod subnet per zone, carved from the plan's pod range."""
    network = ipaddress.ip_network(pod_cidr)
    return [str(s) for s in network.subnets(prefixlen_diff=POD_SUBNET_PREFIX_STEP)][: len(zones)]


def nat_gateway_count(plan: ClusterPlan) -> int:
    """One NAT gateway (and egress IP) per zone in production, so losing a zone keeps egress; else one."""
    return len(plan.network.zones) if plan.is_production else 1


def endpoint_access(mode: str, authorized: Sequence[str],
                    hub_egress: Sequence[str]) -> tuple[bool, list[str]]:
    """(public endpoint on?, CIDRs allowed on it). The private endpoint is always on.

    private (and dns, which EKS does not have): no public endpoint. authorized: the declared
    networks and CI runners plus the hub's egress; 0.0.0.0/0 is never written, and with nothing
    left to allow the public endpoint stays off rather than open."""
    if mode != "authorized":
        return False, []
    cidrs = [c for c in dict.fromkeys([*authorized, *sorted(hub_egress)])
             if ipaddress.ip_network(c, strict=False).prefixlen > 0]
    return bool(cidrs), cidrs


def addons_for(cni: str) -> tuple[tuple[str, str], ...]:
    return ADDONS["cilium" if cni == "cilium" else "cloud"]


def node_managed_policies(cni: str) -> tuple[str, ...]:
    """AWS managed policies of the node role; the VPC CNI's only when it runs on the nodes."""
    return NODE_POLICIES + (() if cni == "cilium" else VPC_CNI_NODE_POLICIES)


def node_taints(pool: NodePoolPlan, cni: str) -> list[dict[str, str]]:
    """The pool's taints in the EKS API form, plus Cilium's not-ready taint when Cilium is the CNI."""
    taints = list(pool.taints) + ([CILIUM_AGENT_NOT_READY] if cni == "cilium" else [])
    return [{"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]} for t in taints]


def pool_tags(plan: ClusterPlan, pool: NodePoolPlan) -> dict[str, str]:
    """Tags of a pool's node group and launch template: the plan's, without the decommission tag
    (nothing of a pool is protected, and a diff of lifting protection should not list every pool)."""
    tags = {k: v for k, v in plan.tags.items() if k != DECOMMISSION_TAG}
    return aws_tags(tags, {"Name": f"{plan.name}-{pool.name}", "fleet-node-pool": pool.name})


def node_tags(plan: ClusterPlan, pool: NodePoolPlan) -> dict[str, str]:
    """Tags the launch template puts on instances, volumes and ENIs. Its tagSpecifications are
    version content: any change there is a new template version, and the node group following the
    latest version replaces every node. So only tags that never change (plan.stable_tags)."""
    return aws_tags(plan.stable_tags, {"Name": f"{plan.name}-{pool.name}", "fleet-node-pool": pool.name})


def autoscaled(pool: NodePoolPlan) -> bool:
    """A pool the autoscaler manages: one with room to grow."""
    return pool.max_nodes > pool.min_nodes


def autoscaler_asg_tags(plan: ClusterPlan, pool: NodePoolPlan) -> dict[str, str]:
    """Tags for the pool's Auto Scaling group: discovery (pools with room to grow only) and the
    node template the autoscaler scales from zero with: labels (with EKS's capacity type) and
    taints as `<value>:<Effect>`. Cilium's agent-not-ready taint is a startup taint, not listed."""
    if not autoscaled(pool):
        return {}
    labels = {**pool.labels, "eks.amazonaws.com/capacityType": CAPACITY_TYPES[pool.spot]}
    tags = {AUTOSCALED_TAG: plan.name}
    tags |= {f"{NODE_TEMPLATE_LABEL}{key}": value for key, value in sorted(labels.items())}
    tags |= {f"{NODE_TEMPLATE_TAINT}{t.key}": f"{t.value}:{t.effect}" for t in pool.taints}
    return tags


def asg_tag_slug(key: str) -> str:
    """A readable, stable resource-name part for an ASG tag key."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", key.removeprefix("k8s.io/cluster-autoscaler/")).strip("-")


def autoscaler_image_tag(minor: str) -> str:
    """The autoscaler built for the cluster's minor; a minor newer than the table takes the newest."""
    if minor in AUTOSCALER_IMAGE_TAGS:
        return AUTOSCALER_IMAGE_TAGS[minor]
    known = sorted(AUTOSCALER_IMAGE_TAGS, key=lambda m: tuple(int(p) for p in m.split(".")))
    return AUTOSCALER_IMAGE_TAGS[known[-1]]


def autoscaler_values(plan: ClusterPlan) -> dict[str, Any]:
    """Helm values: AWS auto-discovery of this cluster's growable pools only, the image for the
    cluster's minor, on the system pool (tolerating CriticalAddonsOnly), and Cilium's not-ready
    taint treated as a startup taint (it is on every node until the agent runs)."""
    system = next((p for p in plan.node_pools if p.system), plan.node_pools[0])
    discovery = [t.format(cluster=plan.name) for t in EKS_DISCOVERY_TAGS] + [f"{AUTOSCALED_TAG}={plan.name}"]
    extra_args: dict[str, Any] = {"expander": "least-waste"}
    if plan.cni == "cilium":
        extra_args[STARTUP_TAINT_ARG] = CILIUM_AGENT_NOT_READY.key
    return {
        "cloudProvider": "aws",
        "awsRegion": plan.location,
        "autoDiscovery": {"clusterName": plan.name, "tags": discovery},
        "fullnameOverride": AUTOSCALER_NAME,
        "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_NAME}},
        "image": {"tag": autoscaler_image_tag(plan.kubernetes_version)},
        "extraArgs": extra_args,
        "nodeSelector": {POOL_LABEL: system.name},
        "tolerations": [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
                        for t in system.taints],
        "priorityClassName": "system-cluster-critical",
    }


def autoscaler_policy(partition: str, account: str, region: str, cluster: str) -> str:
    """Read what it needs everywhere; scale only Auto Scaling groups tagged as this cluster's
    growable pools (EKS's own `k8s.io/cluster-autoscaler/<cluster>` tag present, and fleet's
    AUTOSCALED_TAG = the cluster); describe only this cluster's node groups."""
    return policy_document([
        {"Sid": "Discover", "Effect": "Allow", "Action": list(AUTOSCALER_READ_ACTIONS), "Resource": "*"},
        {"Sid": "DescribeOwnNodegroups", "Effect": "Allow", "Action": ["eks:DescribeNodegroup"],
         "Resource": f"arn:{partition}:eks:{region}:{account}:nodegroup/{cluster}/*"},
        {"Sid": "ScaleOwnGroups", "Effect": "Allow", "Action": list(AUTOSCALER_SCALE_ACTIONS), "Resource": "*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{AUTOSCALED_TAG}": cluster},
                       "Null": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "false"}}},
    ])


def scaling(pool: NodePoolPlan) -> dict[str, int]:
    """Bounds for the autoscaler; desired starts at the minimum and is left to the autoscaler."""
    return {"min_size": pool.min_nodes, "max_size": max(pool.max_nodes, 1), "desired_size": pool.min_nodes}


def exec_plugin(plan: ClusterPlan) -> kubeconfig.ExecPlugin:
    return kubeconfig.ExecPlugin(
        command="aws",
        args=("eks", "get-token", "--cluster-name", plan.name, "--region", plan.location, "--output", "json"),
        install_hint=EXEC_INSTALL_HINT,
    )


def cilium_cni_config(cluster_name: str) -> dict[str, Any]:
    """Cilium's CNI configuration: pod IPs only from secondary ENIs in this cluster's pod subnets."""
    return {
        "cniVersion": "0.3.1",
        "name": "cilium",
        "plugins": [{
            "cniVersion": "0.3.1",
            "type": "cilium-cni",
            "eni": {"first-interface-index": 1, "subnet-tags": {POD_SUBNET_TAG: cluster_name}},
        }],
    }


def cilium_values(plan: ClusterPlan, endpoint_host: str) -> dict[str, Any]:
    """Helm values: ENI IPAM with prefix delegation, native routing across the cluster's block
    (nodes and pods), no masquerade (pods keep VPC addresses; the NAT gateway translates internet
    egress), and kube-proxy replacement talking to the API server directly."""
    return {
        "ipam": {"mode": "eni"},
        "eni": {"enabled": True, "awsEnablePrefixDelegation": True, "eniTags": aws_tags(plan.tags)},
        "cni": {"customConf": True, "configMap": CILIUM_CNI_CONFIGMAP},
        "routingMode": "native",
        "ipv4NativeRoutingCIDR": plan.network.block,
        "enableIPv4Masquerade": False,
        "kubeProxyReplacement": True,
        "k8sServiceHost": endpoint_host,
        "k8sServicePort": 443,
        "operator": {"replicas": 2},
    }


def partition_of(arn: str) -> str:
    """`aws`, `aws-cn` or `aws-us-gov`, from any ARN."""
    return arn.split(":")[1]


def cluster_admin_policy(partition: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}"


def cluster_name_of(arn: str) -> str:
    """arn:<partition>:eks:<region>:<account>:cluster/<name> -> <name>."""
    return arn.rsplit("/", 1)[-1]


def policy_document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def service_trust_policy(service: str, tag_session: bool = False) -> str:
    actions = ["sts:AssumeRole"] + (["sts:TagSession"] if tag_session else [])
    return policy_document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}])


def hub_trust_policy(partition: str, account: str, role_name: str) -> str:
    """EKS Pod Identity for the hub's controllers, and the role itself (Argo CD's awsAuthConfig
    `roleARN` assumes it from the pod's own session of the same role)."""
    role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
    return policy_document([
        {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
         "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
         "Action": ["sts:AssumeRole", "sts:TagSession"],
         "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}}},
    ])


def hub_role_policy(partition: str, account: str, role_name: str) -> str:
    """Assume itself, and read the EKS clusters of the account (Flux's aws provider, Argo CD)."""
    return policy_document([
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
         "Resource": f"arn:{partition}:iam::{account}:role/{role_name}"},
        {"Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:ListClusters"],
         "Resource": "*"},
    ])


def argocd_config(cluster_name: str, role_arn: str) -> dict[str, Any]:
    """Argo CD cluster `config` fields for an EKS spoke (next to tlsClientConfig.caData)."""
    return {"awsAuthConfig": {"clusterName": cluster_name, "roleARN": role_arn}}


def flux_config(cluster_arn: str, endpoint: str, ca_data: str) -> dict[str, str]:
    """Data of the ConfigMap a hub Kustomization's spec.kubeConfig.configMapRef names (Flux 2.7+)."""
    return {"provider": "aws", "cluster": cluster_arn, "address": endpoint,
            "ca.crt": base64.b64decode(ca_data).decode() if ca_data else ""}


def _key(text: str) -> str:
    """A short stable key for resource names derived from free text (ARNs)."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# --- the component ---------------------------------------------------------------------------


class EksCluster(pulumi.ComponentResource):
    """One EKS cluster of the fleet, everything it needs, and its ClusterHandle."""

    def __init__(self, plan: ClusterPlan, hub_egress: pulumi.Output[list[str]] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:clouds:EksCluster", plan.name, None, opts)
        self.plan = plan
        name, region = plan.name, plan.location
        child = pulumi.ResourceOptions(parent=self)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = caller.arn.apply(partition_of)

        def tags(extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return aws_tags(plan.tags, extra)

        def managed_policy(policy: str) -> pulumi.Output[str]:
            return partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{policy}")

        # Network ------------------------------------------------------------------------------
        network = plan.network
        cluster_tag = {f"kubernetes.io/cluster/{name}": "owned"}
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=network.node_cidr, enable_dns_support=True, enable_dns_hostnames=True,
            region=region, tags=tags({"Name": name}), opts=child)
        aws.ec2.DefaultSecurityGroup(  # no rules: nothing may use the default group
            f"{name}-default-sg", vpc_id=self.vpc.id, region=region, tags=tags({"Name": f"{name}-default"}),
            opts=child)
        pod_range = aws.ec2.VpcIpv4CidrBlockAssociation(
            f"{name}-pod-range", vpc_id=self.vpc.id, cidr_block=network.pod_cidr, region=region, opts=child)
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, region=region, tags=tags({"Name": name}), opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=self.vpc.id, region=region,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags({"Name": f"{name}-public"}), opts=child)
        public, private, pods = [], [], []
        for zone, cidr in zip(network.zones, network.public_subnets, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=zone,
                map_public_ip_on_launch=False, region=region,
                tags=tags({"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag}),
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id,
                                          route_table_id=public_rt.id, region=region, opts=child)
            public.append(subnet)

        self.egress_ips = []
        nats = []
        for index in range(nat_gateway_count(plan)):
            zone = network.zones[index]
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", region=region,
                              tags=tags({"Name": f"{name}-nat-{zone}"}), opts=child)
            nats.append(aws.ec2.NatGateway(
                f"{name}-nat-{zone}", allocation_id=eip.allocation_id, subnet_id=public[index].id,
                connectivity_type="public", region=region, tags=tags({"Name": f"{name}-{zone}"}),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            self.egress_ips.append(eip)

        private_rts = []
        pod_cidrs = pod_subnets(network.pod_cidr, network.zones)
        private_layout = zip(network.zones, network.private_subnets, pod_cidrs, strict=True)
        for index, (zone, cidr, pod_cidr) in enumerate(private_layout):
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=self.vpc.id, region=region,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                    nat_gateway_id=nats[min(index, len(nats) - 1)].id)],
                tags=tags({"Name": f"{name}-private-{zone}"}), opts=child)
            private_rts.append(route_table)
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=zone,
                region=region,
                tags=tags({"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1",
                           **cluster_tag}),
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id,
                                          route_table_id=route_table.id, region=region, opts=child)
            private.append(subnet)
            pod_subnet = aws.ec2.Subnet(
                f"{name}-pods-{zone}", vpc_id=pod_range.vpc_id, cidr_block=pod_cidr, availability_zone=zone,
                region=region, tags=tags({"Name": f"{name}-pods-{zone}", POD_SUBNET_TAG: name}),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[pod_range]))
            aws.ec2.RouteTableAssociation(f"{name}-pods-{zone}", subnet_id=pod_subnet.id,
                                          route_table_id=route_table.id, region=region, opts=child)
            pods.append(pod_subnet)
        aws.ec2.VpcEndpoint(  # S3 (and so ECR image layers) without NAT charges
            f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts], region=region,
            tags=tags({"Name": f"{name}-s3"}), opts=child)

        # Encryption and logs ------------------------------------------------------------------
        key = None
        if plan.secrets_encryption:
            key = aws.kms.Key(
                f"{name}-secrets", description=f"EKS secrets envelope encryption for {name}",
                enable_key_rotation=True, deletion_window_in_days=30, region=region, tags=tags(),
                opts=pulumi.ResourceOptions(parent=self, protect=plan.protect))
            aws.kms.Alias(f"{name}-secrets", name=f"alias/fleet/{name}-eks-secrets", target_key_id=key.key_id,
                          region=region, opts=child)
        log_group = aws.cloudwatch.LogGroup(  # the group EKS writes to, created first to bound retention
            f"{name}-control-plane", name=f"/aws/eks/{name}/cluster",
            retention_in_days=LOG_RETENTION_DAYS[plan.is_production], region=region, tags=tags(), opts=child)

        # IAM ------------------------------------------------------------------------------------
        cluster_role = aws.iam.Role(
            f"{name}-cluster-role", name=bounded_name(name, "eks-cluster", IAM_NAME_LIMIT),
            description=f"EKS control plane of {name}",
            assume_role_policy=service_trust_policy("eks.amazonaws.com", tag_session=True), tags=tags(),
            opts=child)
        cluster_role_grants: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{name}-cluster-{policy}", role=cluster_role.name,
                                         policy_arn=managed_policy(policy), opts=child)
            for policy in CLUSTER_POLICIES
        ]
        if key is not None:
            cluster_role_grants.append(aws.iam.RolePolicy(
                f"{name}-cluster-kms", role=cluster_role.id, name="secrets-encryption",
                policy=key.arn.apply(lambda arn: policy_document(
                    [{"Effect": "Allow", "Action": list(KMS_CLUSTER_ACTIONS), "Resource": arn}])),
                opts=child))
        node_role = aws.iam.Role(
            f"{name}-node-role", name=bounded_name(name, "eks-node", IAM_NAME_LIMIT),
            description=f"EKS nodes of {name}", assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=tags(), opts=child)
        node_role_grants: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                         policy_arn=managed_policy(policy), opts=child)
            for policy in node_managed_policies(plan.cni)
        ]
        if plan.cni == "cilium":  # the Cilium operator runs on the host network with the node's role
            node_role_grants.append(aws.iam.RolePolicy(
                f"{name}-node-cilium-eni", role=node_role.id, name="cilium-eni-ipam",
                policy=policy_document([{"Effect": "Allow", "Action": list(CILIUM_OPERATOR_EC2_ACTIONS),
                                         "Resource": "*"}]),
                opts=child))

        # Cluster ---------------------------------------------------------------------------------
        endpoint = plan.endpoint
        egress = pulumi.Output.from_input(hub_egress if hub_egress is not None and endpoint.allow_hub_egress
                                          else [])
        access = egress.apply(
            lambda extra: endpoint_access(endpoint.mode, endpoint.authorized_cidrs, extra or []))
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=name,
            region=region,
            version=plan.kubernetes_version,
            role_arn=cluster_role.arn,
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False),
            bootstrap_self_managed_addons=False,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn), resources=["secrets"],
            ) if key is not None else None,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in private],
                endpoint_private_access=True,
                endpoint_public_access=access.apply(lambda a: a[0]),
                public_access_cidrs=access.apply(lambda a: a[1] or None),
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=network.service_cidr),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=SUPPORT_TYPE[plan.extended_support]),
            zonal_shift_config=aws.eks.ClusterZonalShiftConfigArgs(enabled=plan.is_production),
            deletion_protection=plan.protect,
            tags=tags(),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.protect,
                                        depends_on=[log_group, *cluster_role_grants]),
        )
        cluster = self.cluster
        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        ca_data = cluster.certificate_authority.apply(lambda ca: ca.data)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(  # IRSA, for add-ons without Pod Identity support
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], tags=tags(), opts=child)

        # Access: the identity running `pulumi up`, then the declared admins ----------------------
        admin_policy = partition.apply(cluster_admin_policy)
        self.deployer_access = self._admin(f"{name}-deployer", self._deployer(plan, caller), admin_policy)
        for arn in plan.admins:
            self._admin(f"{name}-admin-{_key(arn)}", arn, admin_policy)

        self.kubeconfig = kubeconfig.exec_kubeconfig(name, cluster.endpoint, ca_data, exec_plugin(plan))
        self.k8s_provider = kubeconfig.cluster_provider(name, self.kubeconfig, parent=self,
                                                        depends_on=[self.deployer_access])

        # Node agents and the CNI, then the nodes, then what needs Ready nodes ---------------------
        # (terraform-aws-eks#3446: a node group created before its CNI never gets Ready nodes.)
        addons = addons_for(plan.cni)
        early = {a: self._addon(a, depends_on=[]) for a, when in addons if when == "before-nodes"}
        self.cilium = None
        if plan.cni == "cilium":
            self.cilium = self._cilium()
            cni: list[pulumi.Resource] = [self.cilium]
        else:
            cni = [early["vpc-cni"], *self._eni_configs(pods, early["vpc-cni"])]
        node_prerequisites: list[pulumi.Resource] = [*node_role_grants, *early.values(), *cni]
        self.asg_tags: list[aws.autoscaling.Tag] = []
        self.node_groups = [self._node_group(pool, node_role, private, node_prerequisites)
                            for pool in plan.node_pools]
        networked: list[pulumi.Resource] = [*cni, *self.node_groups]
        late = [self._addon(a, depends_on=networked) for a, when in addons if when == "after-nodes"]
        self.autoscaler = self._cluster_autoscaler(partition, caller.account_id, [*networked, *late])
        ready_parts = [*networked, *late, *([self.autoscaler] if self.autoscaler else [])]

        # Handle ----------------------------------------------------------------------------------
        egress_cidrs = pulumi.Output.all(*[e.public_ip for e in self.egress_ips]).apply(
            lambda ips: sorted(f"{ip}/32" for ip in ips))
        self.handle = ClusterHandle(
            name=name,
            provider="aws",
            location=region,
            endpoint=cluster.endpoint,
            hub_server=cluster.endpoint,
            ca_data=ca_data,
            kubeconfig=self.kubeconfig,
            oidc_issuer=issuer,
            resource_id=cluster.arn,
            account=caller.account_id,
            egress_cidrs=egress_cidrs,
            k8s_provider=self.k8s_provider,
            ready=[self.deployer_access, *ready_parts],
            annotations={
                "aws_account_id": caller.account_id,
                "aws_region": region,
                "aws_cluster_name": name,
                "aws_cluster_arn": cluster.arn,
                "aws_vpc_id": self.vpc.id,
                "aws_oidc_issuer": issuer,
                "aws_oidc_provider_arn": self.oidc_provider.arn,
            },
        )
        self.register_outputs({
            "name": name, "arn": cluster.arn, "endpoint": cluster.endpoint, "oidcIssuer": issuer,
            "vpcId": self.vpc.id, "egressCidrs": egress_cidrs,
        })

    def _deployer(self, plan: ClusterPlan, caller: Any) -> pulumi.Input[str]:
        """The deploying principal (fleet:deployer.aws). Without it, the role of whoever runs the
        program: a preview by another identity then shows this access entry replaced."""
        if plan.deployer:
            return plan.deployer
        pulumi.log.warn(f"{plan.name}: fleet:deployer.aws is not set; the deployer's access entry follows the "
                        "identity running this program (set it to the deploying role's ARN)", self)
        session = aws.iam.get_session_context_output(arn=caller.arn, opts=pulumi.InvokeOptions(parent=self))
        return session.issuer_arn

    def _admin(self, resource_name: str, principal: pulumi.Input[str],
               policy_arn: pulumi.Input[str]) -> aws.eks.AccessPolicyAssociation:
        """An access entry with cluster-wide AmazonEKSClusterAdminPolicy."""
        entry = aws.eks.AccessEntry(
            resource_name, cluster_name=self.cluster.name, principal_arn=principal, type="STANDARD",
            region=self.plan.location, tags=aws_tags(self.plan.tags),
            opts=pulumi.ResourceOptions(parent=self))
        return aws.eks.AccessPolicyAssociation(
            resource_name, cluster_name=entry.cluster_name, principal_arn=entry.principal_arn,
            policy_arn=policy_arn, region=self.plan.location,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=self))

    def _cilium(self) -> k8s.helm.v3.Release:
        """Cilium, installed before any node exists (Cilium's EKS guide: cluster, then Cilium, then
        tainted node groups). Its pods cannot be Ready without nodes, so the release does not wait
        for them (skip_await; no `atomic`, which would turn the wait back on)."""
        plan = self.plan
        in_cluster = pulumi.ResourceOptions(parent=self, provider=self.k8s_provider)
        cni_config = k8s.core.v1.ConfigMap(
            f"{plan.name}-cilium-cni-config",
            metadata={"name": CILIUM_CNI_CONFIGMAP, "namespace": "kube-system",
                      "labels": {"app.kubernetes.io/managed-by": "fleet"}},
            data={"cni-config": json.dumps(cilium_cni_config(plan.name), indent=2)},
            opts=in_cluster)
        return k8s.helm.v3.Release(
            f"{plan.name}-cilium",
            name="cilium",
            chart=CILIUM_CHART,
            version=plan.cilium_version or CILIUM_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CILIUM_REPOSITORY),
            namespace="kube-system",
            values=self.cluster.endpoint.apply(lambda e: cilium_values(plan, e.removeprefix("https://"))),
            max_history=5,
            skip_await=True,
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[cni_config])))

    def _eni_configs(self, pods: Sequence[aws.ec2.Subnet], vpc_cni: aws.eks.Addon) -> list[pulumi.Resource]:
        """The VPC CNI's custom networking: one ENIConfig per zone, naming the zone's pod subnet."""
        plan = self.plan
        cluster_security_group = self.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)
        return [
            k8s.apiextensions.CustomResource(
                f"{plan.name}-eniconfig-{zone}", api_version="crd.k8s.amazonaws.com/v1alpha1", kind="ENIConfig",
                metadata={"name": zone, "labels": {"app.kubernetes.io/managed-by": "fleet"}},
                spec={"subnet": subnet.id, "securityGroups": [cluster_security_group]},
                opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider, depends_on=[vpc_cni]))
            for zone, subnet in zip(plan.network.zones, pods, strict=True)
        ]

    def _cluster_autoscaler(self, partition: pulumi.Output[str], account: pulumi.Output[str],
                            after: Sequence[pulumi.Resource]) -> k8s.helm.v3.Release | None:
        """The Cluster Autoscaler with an EKS Pod Identity role that may scale only this cluster's
        growable pools; after the nodes and DNS, since its pods must run (and resolve AWS APIs)."""
        plan = self.plan
        if not any(autoscaled(p) for p in plan.node_pools):
            return None
        name, child = plan.name, pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-cluster-autoscaler", name=bounded_name(name, "cluster-autoscaler", IAM_NAME_LIMIT),
            description=f"Cluster Autoscaler of {name}",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", tag_session=True),
            tags=aws_tags(plan.tags), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-cluster-autoscaler", role=role.id, name="cluster-autoscaler",
            policy=pulumi.Output.all(partition, account).apply(
                lambda v: autoscaler_policy(v[0], v[1], plan.location, name)),
            opts=child)
        association = aws.eks.PodIdentityAssociation(
            f"{name}-cluster-autoscaler", cluster_name=self.cluster.name, namespace=AUTOSCALER_NAMESPACE,
            service_account=AUTOSCALER_NAME, role_arn=role.arn, region=plan.location, tags=aws_tags(plan.tags),
            opts=child)
        return k8s.helm.v3.Release(
            f"{name}-cluster-autoscaler",
            name=AUTOSCALER_NAME,
            chart=AUTOSCALER_CHART,
            version=AUTOSCALER_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_REPOSITORY),
            namespace=AUTOSCALER_NAMESPACE,
            values=autoscaler_values(plan),
            max_history=5,
            opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider,
                                        depends_on=[*after, *self.asg_tags, policy, association]))

    def _addon(self, addon: str, depends_on: Sequence[pulumi.Resource]) -> aws.eks.Addon:
        plan = self.plan
        version = aws.eks.get_addon_version_output(  # the default build for this Kubernetes version
            addon_name=addon, kubernetes_version=plan.kubernetes_version, region=plan.location,
            opts=pulumi.InvokeOptions(parent=self))
        configuration = ADDON_CONFIGURATION.get(addon)
        return aws.eks.Addon(
            f"{plan.name}-{addon}", cluster_name=self.cluster.name, addon_name=addon,
            addon_version=version.version,
            configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            region=plan.location, tags=aws_tags(plan.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)))

    def _node_group(self, pool: NodePoolPlan, role: aws.iam.Role, subnets: Sequence[aws.ec2.Subnet],
                    prerequisites: Sequence[pulumi.Resource]) -> aws.eks.NodeGroup:
        plan = self.plan
        name, region = plan.name, plan.location
        tags = pool_tags(plan, pool)
        template = aws.ec2.LaunchTemplate(
            f"{name}-{pool.name}", description=f"EKS node pool {pool.name} of {name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=IMDS_HOP_LIMIT),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=sizes.OS_DISK_GB[pool.size], volume_type="gp3", encrypted="true",
                    delete_on_termination="true"),
            )],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind,
                                                                           tags=node_tags(plan, pool))
                                for kind in ("instance", "volume", "network-interface")],
            region=region, tags=tags, opts=pulumi.ResourceOptions(parent=self))
        bounds = scaling(pool)
        group = aws.eks.NodeGroup(
            f"{name}-{pool.name}",
            cluster_name=self.cluster.name,
            node_group_name_prefix=f"{pool.name}-",
            node_role_arn=role.arn,
            subnet_ids=[s.id for s in subnets],
            ami_type=AMI_TYPE,
            version=self.cluster.version,
            release_version=plan.node_release_version,  # None: EKS's latest for the version, at creation
            instance_types=[sizes.instance_type("aws", pool.size)],
            capacity_type=CAPACITY_TYPES[pool.spot],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(**bounds),
            labels=dict(pool.labels),
            taints=[aws.eks.NodeGroupTaintArgs(**t) for t in node_taints(pool, plan.cni)],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=NODE_MAX_UNAVAILABLE_PERCENT),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            region=region,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(prerequisites),
                                        ignore_changes=["scalingConfig.desiredSize"]),
        )
        asg = group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)
        self.asg_tags += [
            aws.autoscaling.Tag(
                f"{name}-{pool.name}-asg-{asg_tag_slug(key)}", autoscaling_group_name=asg, region=region,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[group]))
            for key, value in autoscaler_asg_tags(plan, pool).items()
        ]
        return group


Cluster = EksCluster


# --- hub and spokes --------------------------------------------------------------------------


def hub_identity(plan: ClusterPlan, handle: ClusterHandle, service_accounts: Sequence[ServiceAccountRef],
                 parent: pulumi.Resource) -> HubIdentity:
    """An IAM role for the hub's GitOps controllers, bound to their service accounts by EKS Pod Identity."""
    role_name = bounded_name(plan.name, "gitops-hub", IAM_NAME_LIMIT)
    partition = handle.resource_id.apply(partition_of)
    account = pulumi.Output.all(partition, handle.account)
    role = aws.iam.Role(
        f"{plan.name}-gitops-hub", name=role_name, description=f"GitOps controllers of hub {plan.name}",
        assume_role_policy=account.apply(lambda v: hub_trust_policy(v[0], v[1], role_name)),
        tags=aws_tags(plan.tags), opts=pulumi.ResourceOptions(parent=parent))
    policy = aws.iam.RolePolicy(
        f"{plan.name}-gitops-hub", role=role.id, name="gitops-hub",
        policy=account.apply(lambda v: hub_role_policy(v[0], v[1], role_name)),
        opts=pulumi.ResourceOptions(parent=parent))
    cluster_name = handle.resource_id.apply(cluster_name_of)
    associations = [
        aws.eks.PodIdentityAssociation(
            f"{plan.name}-pod-identity-{sa.namespace}-{sa.name}", cluster_name=cluster_name,
            namespace=sa.namespace, service_account=sa.name, role_arn=role.arn, region=plan.location,
            tags=aws_tags(plan.tags), opts=pulumi.ResourceOptions(parent=parent))
        for sa in service_accounts
    ]
    return HubIdentity(provider="aws", principal=role.arn, details={"role_name": role.name},
                       resources=[role, policy, *associations])


def role_arn_of(provider_arn: str, role_name: str) -> str:
    """arn:<partition>:iam::<account>:oidc-provider/... -> that account's role `role_name`."""
    return f"{provider_arn.split(':oidc-provider/', 1)[0]}:role/{role_name}"


def federated_hub_identity(hub: ClusterPlan, hub_handle: ClusterHandle,
                           service_accounts: Sequence[ServiceAccountRef], spokes: Sequence[ClusterPlan],
                           parent: pulumi.Resource) -> HubIdentity:
    """A hub on another cloud reaching EKS spokes (AWS IAM, "Create a role for OpenID Connect
    federation"; Flux aws integration, controller level on a cluster that is not EKS): an IAM OIDC
    provider for the hub's issuer (one per hub in this account, audience sts.amazonaws.com) and a
    role trusting exactly the hub controllers' subjects. Its controllers get a projected token
    for sts.amazonaws.com and the web-identity environment of the AWS SDK (AWS_ROLE_ARN,
    AWS_WEB_IDENTITY_TOKEN_FILE, AWS_REGION)."""
    opts = pulumi.ResourceOptions(parent=parent)
    role_name = bounded_name(hub.name, "gitops-federated", IAM_NAME_LIMIT)
    provider = aws.iam.OpenIdConnectProvider(
        f"{hub.name}-aws-federation", url=hub_handle.oidc_issuer, client_id_lists=[AWS_AUDIENCE],
        tags=aws_tags(hub.tags), opts=opts)
    subjects = [subject(sa.namespace, sa.name) for sa in service_accounts]
    role = aws.iam.Role(
        f"{hub.name}-aws-federated", name=role_name,
        description=f"GitOps controllers of hub {hub.name} ({hub.provider}), by OIDC federation",
        assume_role_policy=pulumi.Output.all(provider.arn, hub_handle.oidc_issuer).apply(
            lambda v: aws_web_identity_trust(v[0], v[1], subjects, role_arn_of(v[0], role_name))),
        tags=aws_tags(hub.tags), opts=opts)
    policy = aws.iam.RolePolicy(
        f"{hub.name}-aws-federated", role=role.id, name="assume-itself",
        policy=role.arn.apply(lambda arn: policy_document([
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": arn}])),
        opts=opts)
    return HubIdentity(
        provider="aws", principal=role.arn, details={"role_name": role.name, "oidc_provider": provider.arn},
        resources=[provider, role, policy],
        pod_env={"AWS_ROLE_ARN": role.arn, "AWS_WEB_IDENTITY_TOKEN_FILE": token_path("aws"),
                 "AWS_REGION": aws_region_for(hub.provider, hub.location)},
        volumes=(token_volume("aws", AWS_AUDIENCE),), volume_mounts=(token_mount("aws"),),
    )


def grant_hub_access(plan: ClusterPlan, handle: ClusterHandle, identity: HubIdentity,
                     parent: pulumi.Resource) -> SpokeAccess:
    """An access entry on the spoke for the hub's role, with cluster-admin, and how the engines use it."""
    partition = handle.resource_id.apply(partition_of)
    entry = aws.eks.AccessEntry(
        f"{plan.name}-hub-access", cluster_name=handle.resource_id.apply(cluster_name_of),
        principal_arn=identity.principal, type="STANDARD", region=plan.location, tags=aws_tags(plan.tags),
        opts=pulumi.ResourceOptions(parent=parent))
    association = aws.eks.AccessPolicyAssociation(
        f"{plan.name}-hub-access", cluster_name=entry.cluster_name, principal_arn=entry.principal_arn,
        policy_arn=partition.apply(cluster_admin_policy),
        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), region=plan.location,
        opts=pulumi.ResourceOptions(parent=parent))
    # Both configs resolve only once the access exists, so whatever uses them waits for it.
    argocd = pulumi.Output.all(identity.principal, association.id).apply(
        lambda v: argocd_config(plan.name, v[0]))
    flux = pulumi.Output.all(handle.resource_id, handle.endpoint, handle.ca_data, association.id).apply(
        lambda v: flux_config(v[0], v[1], v[2]))
    return SpokeAccess(argocd_config=argocd, flux_config=flux, resources=[entry, association])
