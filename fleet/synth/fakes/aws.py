"""Fake AWS: realistic, stable outputs for every resource type and invoke fleet.clouds.aws uses.

Ids, ARNs, endpoints and issuers follow AWS's real formats and derive from the resource name
(common.digest), so two synth runs of the same program produce the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fleet.synth.fakes.common import AWS_ACCOUNT_ID, FAKE_CA_DATA, digest, fake_ip, fake_uuid

ACCOUNT = AWS_ACCOUNT_ID
DEFAULT_REGION = "us-east-1"
DEPLOYER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/fleet-deployer"
DEPLOYER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/fleet-deployer/pulumi"
ADDON_VERSIONS = {
    "vpc-cni": "v1.20.4-eksbuild.1",
    "kube-proxy": "v1.34.1-eksbuild.2",
    "coredns": "v1.12.4-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.9-eksbuild.3",
}

Inputs = dict[str, Any]


def _region(inputs: Inputs) -> str:
    return inputs.get("region") or DEFAULT_REGION


def _hex(*parts: str, length: int = 17) -> str:
    return digest(*parts, length=length)


def _ec2(prefix: str, arn_kind: str | None = None) -> Callable[[str, Inputs], tuple[str, Inputs]]:
    def fake(name: str, inputs: Inputs) -> tuple[str, Inputs]:
        resource_id = f"{prefix}-{_hex(prefix, name)}"
        extra: Inputs = {"ownerId": ACCOUNT, "tagsAll": inputs.get("tags", {})}
        if arn_kind:
            extra["arn"] = f"arn:aws:ec2:{_region(inputs)}:{ACCOUNT}:{arn_kind}/{resource_id}"
        return resource_id, extra
    return fake


def _vpc(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    vpc_id, extra = _ec2("vpc", "vpc")(name, inputs)
    return vpc_id, {**extra, "defaultSecurityGroupId": f"sg-{_hex('default', name)}",
                    "mainRouteTableId": f"rtb-{_hex('main', name)}",
                    "defaultNetworkAclId": f"acl-{_hex(name)}"}


def _eip(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    allocation = f"eipalloc-{_hex('eip', name)}"
    ip = fake_ip("eip", name)
    return allocation, {"allocationId": allocation, "publicIp": ip, "domain": "vpc",
                        "publicDns": f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com",
                        "arn": f"arn:aws:ec2:{_region(inputs)}:{ACCOUNT}:elastic-ip/{allocation}"}


def _nat(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    nat_id = f"nat-{_hex('nat', name)}"
    return nat_id, {"networkInterfaceId": f"eni-{_hex('nat-eni', name)}", "privateIp": "10.255.0.10",
                    "tagsAll": inputs.get("tags", {})}


# Inputs of a launch template that are not version content: changing any other input makes EC2
# create a new version (hashicorp/terraform-provider-aws internal/service/ec2/ec2_launch_template.go,
# resourceLaunchTemplateUpdate: every key of its updateKeys, tag_specifications and description
# included, calls CreateLaunchTemplateVersion; tags, name and the default-version switches do not).
LAUNCH_TEMPLATE_UNVERSIONED = frozenset({
    "name", "namePrefix", "tags", "tagsAll", "defaultVersion", "updateDefaultVersion", "region",
})
LAUNCH_TEMPLATE_VERSIONS = 1_000_000


def launch_template_version(inputs: Inputs) -> int:
    """EC2 numbers versions 1, 2, 3, ...; a stateless fake cannot count, so the number is derived
    from the version content: it changes exactly when EC2 would make a new version, which is what
    a node group following `latest_version` (and so `fleet diff`) must show."""
    content = {k: v for k, v in inputs.items() if k not in LAUNCH_TEMPLATE_UNVERSIONED}
    text = json.dumps(content, sort_keys=True, default=str)
    return 1 + int(_hex("lt-version", text, length=12), 16) % LAUNCH_TEMPLATE_VERSIONS


def _launch_template(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    template_id = f"lt-{_hex('lt', name)}"
    version = launch_template_version(inputs)
    return template_id, {"name": inputs.get("name") or f"{name}-{_hex('ltname', name, length=7)}",
                         "latestVersion": version,
                         "defaultVersion": version if inputs.get("updateDefaultVersion") else 1,
                         "arn": f"arn:aws:ec2:{_region(inputs)}:{ACCOUNT}:launch-template/{template_id}"}


def _kms_key(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    key_id = fake_uuid("kms", name)
    return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{_region(inputs)}:{ACCOUNT}:key/{key_id}",
                    "keyUsage": "ENCRYPT_DECRYPT", "customerMasterKeySpec": "SYMMETRIC_DEFAULT"}


def _kms_alias(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    alias, region = inputs.get("name") or f"alias/{name}", _region(inputs)
    return alias, {"arn": f"arn:aws:kms:{region}:{ACCOUNT}:{alias}",
                   "targetKeyArn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{inputs.get('targetKeyId', '')}"}


def _log_group(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    group = inputs.get("name") or name
    return group, {"arn": f"arn:aws:logs:{_region(inputs)}:{ACCOUNT}:log-group:{group}"}


def _iam_role(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    role = inputs.get("name") or f"{name}-{_hex('role', name, length=7)}"
    return role, {"name": role, "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                  "uniqueId": f"AROA{_hex('uid', name, length=17).upper()}",
                  "createDate": "2026-11-22T00:00:00Z"}


def _role_policy(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    return f"{inputs.get('role', name)}:{inputs.get('name') or name}", {}


def _role_attachment(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    return f"{inputs.get('role', name)}-{_hex('attach', name, length=20)}", {}


def _oidc_provider(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    default = f"https://oidc.eks.{DEFAULT_REGION}.amazonaws.com/id/{_hex(name, length=32)}"
    url = str(inputs.get("url") or default)
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url.removeprefix('https://')}"
    return arn, {"arn": arn, "thumbprintLists": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]}


def _eks_cluster(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster = inputs.get("name") or name
    region = _region(inputs)
    token = _hex("eks", cluster, length=32).upper()
    vpc_config = {**(inputs.get("vpcConfig") or {}),
                  "clusterSecurityGroupId": f"sg-{_hex('eks-cluster-sg', cluster)}",
                  # the Vpc fake's id: fleet names the VPC <cluster>-vpc
                  "vpcId": f"vpc-{_hex('vpc', f'{cluster}-vpc')}"}
    return cluster, {
        "name": cluster,
        "arn": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{cluster}",
        "endpoint": f"https://{token}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": FAKE_CA_DATA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{token}"}]}],
        "vpcConfig": vpc_config,
        "clusterId": fake_uuid("eks", cluster),
        "platformVersion": "eks.10",
        "status": "ACTIVE",
        "createdAt": "2026-11-22T00:00:00Z",
    }


def _node_group(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster = inputs.get("clusterName") or "cluster"
    prefix = inputs.get("nodeGroupNamePrefix", name)
    group = inputs.get("nodeGroupName") or f"{prefix}{_hex('ng', name, length=26)}"
    region = _region(inputs)
    return f"{cluster}:{group}", {
        "nodeGroupName": group,
        "arn": f"arn:aws:eks:{region}:{ACCOUNT}:nodegroup/{cluster}/{group}/{fake_uuid('ng', name)}",
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{fake_uuid('asg', name)}"}],
                       "remoteAccessSecurityGroupId": ""}],
        "releaseVersion": "1.34.1-20261115",
    }


def _addon(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster, addon = inputs.get("clusterName") or "cluster", inputs.get("addonName") or name
    return f"{cluster}:{addon}", {
        "arn": f"arn:aws:eks:{_region(inputs)}:{ACCOUNT}:addon/{cluster}/{addon}/{fake_uuid('addon', name)}",
        "addonVersion": inputs.get("addonVersion") or ADDON_VERSIONS.get(addon, "v1.0.0-eksbuild.1"),
    }


def _access_entry(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster, principal = inputs.get("clusterName") or "cluster", inputs.get("principalArn") or name
    role = str(principal).rsplit("/", 1)[-1]
    return f"{cluster}:{principal}", {
        "accessEntryArn": f"arn:aws:eks:{_region(inputs)}:{ACCOUNT}:access-entry/{cluster}/role/{ACCOUNT}/"
                          f"{role}/{fake_uuid('entry', name)}",
        "userName": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{{{{SessionName}}}}",
        "kubernetesGroups": inputs.get("kubernetesGroups") or [],
    }


def _access_policy(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster = inputs.get("clusterName") or "cluster"
    return f"{cluster}#{inputs.get('principalArn', name)}#{inputs.get('policyArn', '')}", {
        "associatedAt": "2026-11-22T00:00:00Z"}


def _asg_tag(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    tag = inputs.get("tag") or {}
    return f"{inputs.get('autoscalingGroupName', name)},{tag.get('key', name)}", {}


def _pod_identity(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    cluster = inputs.get("clusterName") or "cluster"
    association = f"a-{_hex('pia', name)}"
    return f"{cluster},{association}", {
        "associationId": association,
        "associationArn":
            f"arn:aws:eks:{_region(inputs)}:{ACCOUNT}:podidentityassociation/{cluster}/{association}",
    }


RESOURCES: dict[str, Callable[[str, Inputs], tuple[str, Inputs]]] = {
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _ec2("sg", "security-group"),
    "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation": _ec2("vpc-cidr-assoc"),
    "aws:ec2/subnet:Subnet": _ec2("subnet", "subnet"),
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw", "internet-gateway"),
    "aws:ec2/routeTable:RouteTable": _ec2("rtb", "route-table"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _ec2("rtbassoc"),
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _ec2("vpce", "vpc-endpoint"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _role_attachment,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:eks/addon:Addon": _addon,
    "aws:eks/accessEntry:AccessEntry": _access_entry,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _access_policy,
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _pod_identity,
    "aws:autoscaling/tag:Tag": _asg_tag,
}


def _caller_identity(args: Inputs) -> Inputs:
    return {"accountId": ACCOUNT, "arn": DEPLOYER_SESSION, "userId": "AROAFLEETDEPLOYER:pulumi",
            "id": ACCOUNT}


def _session_context(args: Inputs) -> Inputs:
    arn = str(args.get("arn") or DEPLOYER_SESSION)
    if ":assumed-role/" not in arn:  # an IAM user or role ARN is its own issuer
        return {"arn": arn, "issuerArn": arn, "issuerId": "", "issuerName": arn.rsplit("/", 1)[-1],
                "sessionName": "", "id": arn}
    partition, account = arn.split(":")[1], arn.split(":")[4]
    role, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
    return {"arn": arn, "issuerArn": f"arn:{partition}:iam::{account}:role/{role}",
            "issuerId": "AROAFLEETDEPLOYER", "issuerName": role, "sessionName": session, "id": arn}


def _addon_version(args: Inputs) -> Inputs:
    addon = str(args.get("addonName", ""))
    return {"addonName": addon, "kubernetesVersion": args.get("kubernetesVersion", ""),
            "version": ADDON_VERSIONS.get(addon, "v1.0.0-eksbuild.1"),
            "mostRecent": bool(args.get("mostRecent")),
            "region": args.get("region") or DEFAULT_REGION, "id": addon}


def _partition(args: Inputs) -> Inputs:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
            "id": "aws"}


INVOKES: dict[str, Callable[[Inputs], Inputs]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:iam/getSessionContext:getSessionContext": _session_context,
    "aws:eks/getAddonVersion:getAddonVersion": _addon_version,
    "aws:index/getPartition:getPartition": _partition,
}
