"""Stack settings: the `fleet:*` keys of Pulumi.<stack>.yaml, as one typed, pure value.

The same function reads them under `pulumi up` (values from pulumi.Config) and offline (values
from the YAML file), so both paths decide the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from fleet.credentials import FIX as CREDENTIAL_FIX
from fleet.problems import Problem, did_you_mean, safe_key
from fleet.spec.load import problem_from_error
from fleet.spec.models import DnsLabel, FleetRepository, RunnerCidr, _Model

NAMESPACE = "fleet"

# Stack names that imply an environment when fleet:environment is not set.
_STACK_ENVIRONMENTS = {"prod": "production", "production": "production", "staging": "staging",
                       "stage": "staging", "dev": "development"}


class FluxSettings(_Model):
    version: str = Field("2.9.x", description="Flux distribution version (FluxInstance spec.distribution.version).")
    operator_chart_version: str = Field("0.58.1", description="flux-operator Helm chart version.")


class ArgoCDSettings(_Model):
    chart_version: str = Field("10.1.1", description="argo-cd Helm chart version.")


class AdminSettings(_Model):
    aws: list[str] = Field(default_factory=list, description="IAM role/user ARNs given cluster-admin (access entries).")
    azure: list[str] = Field(default_factory=list, description="Entra ID group object IDs given cluster-admin.")
    gcp: list[str] = Field(
        default_factory=list,
        description="IAM members (group:..., user:...): container.clusterViewer plus cluster-admin through RBAC.")


_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class DeployerSettings(_Model):
    """The principal that runs `pulumi up`, per cloud: the program gives it cluster-admin on every
    cluster it creates there. Configured, not read from the caller, so that a preview by another
    (read-only) identity computes the same access and shows no change."""

    aws: str | None = Field(
        None, description="IAM role (or user) ARN of the deployer, not its STS session ARN: "
        "arn:aws:iam::<account>:role/<name> (EKS access entry).")
    azure: str | None = Field(
        None, description="Entra ID object id of the deployer (service principal or user): AKS RBAC Cluster Admin.")

    @field_validator("aws")
    @classmethod
    def _iam_principal(cls, value: str | None) -> str | None:
        if value is not None and not _IAM_PRINCIPAL.match(value):
            raise ValueError(f"{value!r} is not an IAM role or user ARN; write arn:aws:iam::<account>:role/<name> "
                             "(the role the deploy job assumes, not an arn:aws:sts::...:assumed-role session)")
        return value

    @field_validator("azure")
    @classmethod
    def _object_id(cls, value: str | None) -> str | None:
        if value is not None and not _OBJECT_ID.match(value):
            raise ValueError(f"{value!r} is not an Entra object id; write the deploy identity's object id "
                             "(a GUID such as 5f3c2a8e-1b4d-4c6e-9a7f-0d2e4b6c8a10), not its client id or name")
        return value


class VersionPolicySettings(_Model):
    """How the Kubernetes support calendar (fleet/spec/versions.py) judges this stack's clusters."""

    extended_support: bool | None = Field(
        None, description="Rely on paid extended support past standard support: EKS upgrade policy EXTENDED, AKS "
        "LTS (supportPlan AKSLongTermSupport, Premium tier). true: every EKS/AKS cluster; false: none (EKS "
        "STANDARD, auto-upgraded at the end of standard support); default: production EKS clusters only.")
    warn_days: int = Field(60, ge=0, le=730, strict=True,
                           description="Warn this many days before a version's end of standard support.")


_ZONE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")


class TrafficSettings(_Model):
    """Where ClusterSets with loadBalancing mode global or regional are published (docs/traffic.md)."""

    zone: str = Field(description="Public Route 53 hosted zone of the entry points (e.g. acme.example), "
                      "delegated from its parent domain; fleet writes records in it, never creates or deletes it.")
    zone_id: str = Field(description="The hosted zone's id (Z..., from the Route 53 console): every cluster's "
                         "DNS identity is scoped to this zone.")
    hostname: DnsLabel = Field(description="The entry point's name in the zone: global mode answers "
                               "<hostname>.<zone> and *.<hostname>.<zone>, regional mode <entry>.<hostname>.<zone>.")

    @field_validator("zone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        if len(value) > 200 or not _ZONE_NAME.match(value):
            raise ValueError(f"{value[:60]!r} is not a DNS zone name such as acme.example (lowercase, no "
                             "trailing dot)")
        return value

    @field_validator("zone_id")
    @classmethod
    def _zone_id(cls, value: str) -> str:
        if not _ZONE_ID.match(value):
            raise ValueError(f"{value[:40]!r} is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ "
                             "(without /hostedzone/)")
        return value


class StackSettings(_Model):
    declarations: list[str] = Field(
        default_factory=list,
        description="Declaration files (paths or globs relative to the project) holding ClusterTemplate "
        "and ClusterSet documents.",
    )
    documents: list[dict[str, Any]] = Field(
        default_factory=list, description="Declaration documents written inline in the stack config."
    )
    environment: DnsLabel | None = Field(None, description="Default environment of ClusterSets without one.")
    default_provider: str = Field("aws", description="Cloud of region entries that name none.")
    repository: FleetRepository | None = Field(None, description="Default fleet repository.")
    repository_path: str = Field("gitops", description="Folder of the fleet repository holding clusters/.")
    git_token: Any = Field(None, description="Secret token for a private fleet repository (set with --secret).")
    ci_runner_cidrs: list[RunnerCidr] = Field(
        default_factory=list,
        description="Egress ranges of the machines that run `pulumi up`; added to every cluster's "
        "authorized networks so the program can configure clusters.",
    )
    admins: AdminSettings = Field(default_factory=AdminSettings, description="Human administrators per cloud.")
    deployer: DeployerSettings = Field(
        default_factory=DeployerSettings,
        description="The identity that runs `pulumi up`, per cloud (gets cluster-admin on the clusters it creates).")
    flux: FluxSettings = Field(default_factory=FluxSettings, description="Flux versions.")
    argocd: ArgoCDSettings = Field(default_factory=ArgoCDSettings, description="Argo CD versions.")
    gcp_project: str | None = Field(None, description="GCP project for GKE clusters (else gcp:project).")
    sharding: Literal["none", "region"] = Field(
        "none", description="none: one stack holds the environment. region: this stack holds the hubs and what "
        "is shared, each region entry gets a stack `<stack>.<region>` (`fleet shards`, docs/shards.md).")
    shard_of: str | None = Field(
        None, description="Only in a shard's stack file (written by `fleet shards`): the environment's stack, "
        "whose declaration, settings and outputs the shard reads.")
    shard: str | None = Field(None, description="Only in a shard's stack file: the region entry this stack holds.")
    protect: bool | None = Field(
        None, description="Force Pulumi protect on/off; by default production clusters are protected."
    )
    traffic: TrafficSettings | None = Field(
        None, description="DNS zone and hostname of the ClusterSet's entry point (loadBalancing mode global or "
        "regional): {zone, zoneId, hostname}.")
    version_policy: VersionPolicySettings = Field(
        default_factory=VersionPolicySettings,
        description="Kubernetes version policy: extended support / LTS, and warning lead time.")


SETTING_KEYS: tuple[str, ...] = tuple(
    info.alias or name for name, info in StackSettings.model_fields.items()
)
SECRET_KEYS = frozenset({"gitToken"})
# What an offline reader puts in place of a `secure:` value it cannot (and need not) decrypt.
SECRET_PLACEHOLDER = "[secret]"


def environment_for_stack(stack: str) -> str:
    return _STACK_ENVIRONMENTS.get(stack, stack)


def parse_settings(values: Mapping[str, Any], source: str) -> tuple[StackSettings, list[Problem]]:
    """`values` maps un-namespaced keys (e.g. 'declarations') to decoded config values."""
    unknown = [k for k in values if k not in SETTING_KEYS]
    problems = [
        Problem(source, "", f"config.{NAMESPACE}:{safe_key(key)}", f"unknown setting{did_you_mean(key, SETTING_KEYS)}; "
                f"expected one of "
                f"{', '.join(SETTING_KEYS)}")
        for key in unknown
    ]
    known = {k: v for k, v in values.items() if k in SETTING_KEYS}
    problems += _plain_secrets(known, source)
    try:
        return StackSettings.model_validate(known), problems
    except ValidationError as error:
        problems += [
            _settings_problem(source, problem_from_error(source, "", StackSettings, e))
            for e in error.errors()
        ]
        return StackSettings(), problems


def _plain_secrets(values: Mapping[str, Any], source: str) -> list[Problem]:
    """A secret setting written in plain text is in git and in every copy of the stack file.
    Offline, an encrypted (`secure:`) value arrives as SECRET_PLACEHOLDER; under `pulumi up` only
    whether it is set (True)."""
    return [Problem(source, "", f"config.{NAMESPACE}:{key}",
                    f"stored in plain text; remove it from {source} and {CREDENTIAL_FIX.replace('gitToken', key)}")
            for key in sorted(SECRET_KEYS)
            if key in values and values[key] not in (SECRET_PLACEHOLDER, True, None)]


def _settings_problem(source: str, problem: Problem) -> Problem:
    return Problem(source, "", f"config.{NAMESPACE}:{problem.path}", problem.message)
