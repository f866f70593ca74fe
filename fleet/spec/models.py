"""The declaration language: ClusterTemplate (a blueprint) and ClusterSet (where and how many).

These pydantic models are the documentation: every field's description feeds `fleet schema`,
editor completion and the README reference. They check shape only; cross-document rules
(templates exist, ranges do not overlap, ...) live in fleet.plan.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fleet.credentials import FIX as CREDENTIAL_FIX
from fleet.credentials import credential_in
from fleet.problems import excerpt

API_VERSIONS = ("fleet.example.com/v1", "gitops.example.com/v1")
ApiVersion = Literal["fleet.example.com/v1", "gitops.example.com/v1"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{excerpt(value)} is not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid Kubernetes label key, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {excerpt(key)} has an invalid prefix (must be a DNS subdomain)"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"invalid label key {excerpt(key)} (name part: at most 63 characters of letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit)"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid Kubernetes label value, or None."""
    if value == "":
        return None
    if len(value) > 63 or not _LABEL_NAME.match(value):
        return (
            f"invalid label value {excerpt(value)} (at most 63 characters of letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit)"
        )
    return None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        problem = label_key_problem(key) or label_value_problem(text)
        if problem:
            raise ValueError(problem)
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        reason = str(error).replace(value, "it") if len(value) <= 64 else "not an address"
        raise ValueError(f"{excerpt(value)} is not a CIDR block such as 10.20.0.0/16 ({reason})") from None
    if network.version != 4:
        raise ValueError(f"{excerpt(value)}: only IPv4 CIDR blocks are supported")
    return value


_PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in
                        ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


def _address_block(value: str) -> str:
    """A cluster's own addresses: a private range (RFC 1918, or RFC 6598 shared space), never the
    default route. https://www.rfc-editor.org/rfc/rfc1918, https://www.rfc-editor.org/rfc/rfc6598"""
    network = ipaddress.ip_network(value)
    if network.prefixlen == 0:
        raise ValueError(f"{value} is the default route (every address), not an address block; use a "
                         "private range such as 10.20.0.0/16")
    if not any(network.subnet_of(private) for private in _PRIVATE_RANGES):  # type: ignore[arg-type]
        raise ValueError(f"{value} is not a private range; use one inside 10.0.0.0/8, 172.16.0.0/12, "
                         "192.168.0.0/16 or 100.64.0.0/10")
    return value


def _not_default_route(value: str) -> str:
    if ipaddress.ip_network(value).prefixlen == 0:
        raise ValueError(f"{value} is the default route: it would open every cluster's API endpoint to the "
                         "whole internet; list the runners' egress ranges")
    return value


def _version_text(value: object) -> object:
    if isinstance(value, str) and len(value) > 32:
        raise ValueError(f"{excerpt(value)} is not a Kubernetes version such as '1.34'")
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(f"the version must be text in quotes, e.g. version: \"1.30\"; a bare {value} is a number "
                         "(in a stack file Pulumi passes 1.30 to the program as 1.3)")
    return value


def _cluster_weights(value: object) -> object:
    """{cluster number: weight}; keys may arrive as text (stack files are JSON to Pulumi)."""
    if not isinstance(value, dict):
        raise ValueError("expected a map of cluster number to weight, e.g. {3: 0} (drains <set>-<region>-03)")
    for key, weight in value.items():
        number = key if isinstance(key, int) and not isinstance(key, bool) else (
            int(key) if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 3 else None)
        if number is None or number < 1:
            raise ValueError(f"{excerpt(key)} is not a cluster number (1 for <set>-<region>-01)")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 255:
            raise ValueError(f"the weight of cluster {number} is {excerpt(weight)}; write a whole number 0..255 "
                             "(0 drains it)")
    return value


def _repository_url(value: str) -> str:
    found = credential_in(value)
    if found:
        raise ValueError(f"the URL holds {found}, which would be written to the state and to every "
                         f"cluster; remove it and {CREDENTIAL_FIX}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Cidr = Annotated[str, AfterValidator(_cidr)]
AddressBlock = Annotated[str, AfterValidator(_cidr), AfterValidator(_address_block)]
RunnerCidr = Annotated[str, AfterValidator(_cidr), AfterValidator(_not_default_route)]
Version = Annotated[str, BeforeValidator(_version_text)]
RepositoryUrl = Annotated[str, AfterValidator(_repository_url)]
ClusterWeights = Annotated[dict[int, Annotated[int, Field(ge=0, le=255)]], BeforeValidator(_cluster_weights)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Metadata(_Model):
    name: DnsLabel = Field(description="Name of the document, a DNS-1123 label.")
    labels: Labels = Field(default_factory=dict, description="Free-form labels of the document.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Free-form annotations.")


# --- ClusterTemplate -----------------------------------------------------------------------


class Networking(_Model):
    cni: Literal["cilium", "cloud"] = Field(
        "cloud",
        description="Pod networking: 'cilium' (GKE Dataplane V2, AKS Azure CNI powered by Cilium, "
        "Cilium on EKS) or 'cloud' (each cloud's default CNI).",
    )
    service_type: Literal["internal", "external"] = Field(
        "internal",
        description="How workloads are exposed by default: 'internal' load balancers only, or "
        "'external'. Carried to the cluster identity so the GitOps layer enforces it.",
    )
    api_access: Literal["private", "authorized", "dns"] = Field(
        "authorized",
        description="Kubernetes API endpoint: 'private' (private endpoint only; reached from "
        "inside the network or, on GKE, through Connect Gateway), 'authorized' (public endpoint "
        "open only to authorizedNetworks, the stack's CI runner ranges and the hub's egress), or "
        "'dns' (GKE DNS-based endpoint authorised by IAM; gcp only).",
    )
    cilium_version: str | None = Field(
        None,
        description="Cilium release fleet installs where it runs Cilium itself (EKS; AKS and GKE run the cloud's "
        "managed Cilium), e.g. '1.19.3'; default the pinned one. Must be e2e-tested on the template's Kubernetes "
        "version (Cilium's compatibility table).",
        max_length=32,
    )
    authorized_networks: list[Cidr] = Field(
        default_factory=list,
        description="Extra CIDR blocks allowed to reach the API endpoint when apiAccess is "
        "'authorized'. Never 0.0.0.0/0 in production.",
    )


class Security(_Model):
    policy_engine: Literal["OPA", "Kyverno", "none"] = Field(
        "none", description="Admission policy engine installed by GitOps: OPA (Gatekeeper) or Kyverno."
    )
    image_scanning: bool = Field(False, description="Install an in-cluster image scanner (Trivy Operator).")
    secrets_encryption: bool = Field(
        True, description="Encrypt Kubernetes Secrets at rest with a customer-managed key."
    )


class Observability(_Model):
    prometheus: bool = Field(False, description="Install the Prometheus stack through GitOps.")
    opentelemetry: bool = Field(False, description="Install the OpenTelemetry operator through GitOps.")


class Taint(_Model):
    key: str = Field(description="Taint key.")
    value: str = Field("", description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="Taint effect.")


class NodePool(_Model):
    name: DnsLabel = Field(description="Pool name, unique within the template (at most 12 characters).")
    size: Literal["small", "medium", "large", "xlarge"] = Field(
        "medium", description="Size class, mapped to an instance type per cloud (see README)."
    )
    min: int = Field(1, ge=0, le=1000, strict=True, description="Minimum number of nodes (per pool, across zones).")
    max: int = Field(3, ge=1, le=1000, strict=True, description="Maximum number of nodes the autoscaler may reach.")
    spot: bool = Field(False, description="Use spot/preemptible capacity.")
    system: bool = Field(False, description="Runs cluster-critical add-ons (tainted CriticalAddonsOnly).")
    labels: Labels = Field(default_factory=dict, description="Kubernetes labels on the nodes.")
    taints: list[Taint] = Field(default_factory=list, description="Kubernetes taints on the nodes.")


_EKS_RELEASE = re.compile(r"^\d+\.\d+\.\d+-\d{8}$")


def _eks_release(value: str | None) -> str | None:
    if value is not None and not _EKS_RELEASE.match(value):
        raise ValueError(f"{excerpt(value)} is not an EKS AMI release version such as 1.35.2-20261120 "
                         "(<kubernetes version>-<build date>)")
    return value


# A GKE version: <kubernetes version>-gke.<build>, e.g. 1.35.1-gke.1396002
# (https://cloud.google.com/kubernetes-engine/versioning).
_GKE_VERSION = re.compile(r"^\d+\.\d+\.\d+-gke\.\d+$")


def _gke_version(value: str | None) -> str | None:
    if value is not None and not _GKE_VERSION.match(value):
        raise ValueError(f"{excerpt(value)} is not a GKE version such as 1.35.1-gke.1396002 "
                         "(<kubernetes version>-gke.<build>, as `gcloud container get-server-config` lists them)")
    return value


class NodeImages(_Model):
    """Which node images the clusters run: pinned where the cloud lets a template choose, so a new
    image rolls through the waves of a rollout like any other template change."""

    eks_release_version: Annotated[str | None, AfterValidator(_eks_release)] = Field(
        None, description="EKS optimized AMI release of the managed node groups, e.g. '1.35.2-20261120' (a release "
        "of the template's Kubernetes minor); unset: the latest release at creation, never advanced by fleet.")
    aks_node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged", "None"] = Field(
        "NodeImage", description="AKS node OS upgrade channel (autoUpgradeProfile.nodeOSUpgradeChannel): NodeImage "
        "(weekly patched node images, rolled by AKS in maintenance windows), SecurityPatch, Unmanaged or None.")
    gke_node_version: Annotated[str | None, AfterValidator(_gke_version)] = Field(
        None, max_length=40, description="GKE version of every node pool, e.g. '1.35.1-gke.1396002' (a version of the "
        "template's Kubernetes minor), held by a node pool maintenance exclusion until its end of support; unset: "
        "the release channel upgrades the nodes itself.")


class GitOps(_Model):
    engine: Literal["flux", "argocd"] = Field("flux", description="GitOps engine that runs on the cluster.")
    flux_version: str | None = Field(
        None, max_length=32, description="Flux distribution version for these clusters (default: the stack's "
        "fleet:flux.version); set in a new template revision to roll a Flux upgrade wave by wave.")
    flux_operator_chart_version: str | None = Field(
        None, max_length=32, description="flux-operator chart version (default: fleet:flux.operatorChartVersion).")
    argocd_chart_version: str | None = Field(
        None, max_length=32, description="argo-cd chart version (default: fleet:argocd.chartVersion).")


class TemplateSpec(_Model):
    version: Version = Field(description="Kubernetes version, MAJOR.MINOR or MAJOR.MINOR.PATCH (e.g. '1.34').")
    networking: Networking = Field(default_factory=Networking, description="Network settings.")
    security: Security = Field(default_factory=Security, description="Security settings.")
    observability: Observability = Field(default_factory=Observability, description="Observability add-ons.")
    node_pools: list[NodePool] = Field(
        default_factory=list,
        description="Node pools. A system pool is added when none is marked system; a 'general' "
        "user pool is added when the list is empty.",
    )
    gitops: GitOps = Field(default_factory=GitOps, description="GitOps engine.")
    node_images: NodeImages = Field(default_factory=NodeImages, description="Node images (EKS AMI release, AKS "
                                    "node OS upgrade channel, GKE node version).")


class ClusterTemplate(_Model):
    """A blueprint: what every cluster made from it looks like."""

    api_version: ApiVersion = Field(description="fleet.example.com/v1 (gitops.example.com/v1 is accepted).")
    kind: Literal["ClusterTemplate"] = Field(description="ClusterTemplate.")
    metadata: Metadata
    spec: TemplateSpec


# --- ClusterSet ----------------------------------------------------------------------------


class RegionNetwork(_Model):
    slot_offset: int = Field(
        0,
        ge=0,
        le=14,
        strict=True,
        description="Shift this entry's address slots within its location, for a second region "
        "entry in the same cloud location (slots 0..14; 15 is the hub's).",
    )
    cidr: AddressBlock | None = Field(
        None,
        description="Explicit address block for this entry: one /19 per cluster, taken in order "
        "(prefix at most /19, large enough for every cluster).",
    )


class RegionEntry(_Model):
    name: DnsLabel = Field(description="Region entry name, part of every cluster name (e.g. us-east).")
    clusters: int = Field(1, strict=True, description="How many clusters in this region (1..15).")
    template: str = Field(description="metadata.name of the ClusterTemplate to use.")
    provider: Literal["aws", "azure", "gcp"] | None = Field(
        None, description="Cloud: aws, azure or gcp (default: the stack's fleet:defaultProvider, else aws)."
    )
    location: str | None = Field(
        None, description="The cloud's region name; by default the alias table maps the entry name."
    )
    labels: Labels = Field(default_factory=dict, description="Labels merged into every cluster of the entry.")
    network: RegionNetwork = Field(default_factory=RegionNetwork, description="Address overrides.")
    decommission: bool | list[int] = Field(
        False,
        description="Step 1 of removing clusters: true (every cluster of the entry) or the cluster numbers "
        "(1 for <set>-<region>-01) whose deletion protection is lifted and whose traffic weight becomes 0. "
        "Merge, apply, then remove the entry or lower `clusters` in a second change.",
    )
    weight: int = Field(
        100, ge=0, le=255, strict=True,
        description="Traffic weight of each cluster of the entry in its region's weighted DNS records "
        "(Route 53, 0..255; loadBalancing mode global or regional): a cluster's share is its weight over "
        "the sum of the entry's weights. 0 drains the entry: it publishes no record, and in global mode "
        "its region leaves the entry point.",
    )
    cluster_weights: ClusterWeights = Field(
        default_factory=dict,
        description="Per-cluster traffic weights by cluster number (1 for <set>-<region>-01), overriding "
        "`weight`; 0 drains that cluster (Route 53 answers with it only when every weighted cluster of "
        "the entry is unhealthy).",
    )


class Hub(_Model):
    name: DnsLabel | None = Field(None, description="Hub cluster name (default '<cluster-set>-hub').")
    template: str = Field(description="metadata.name of the hub's ClusterTemplate.")
    provider: Literal["aws", "azure", "gcp"] = Field(description="Cloud of the hub.")
    location: str = Field(description="Cloud region (or alias) of the hub.")
    labels: Labels = Field(default_factory=dict, description="Extra labels of the hub.")


class LoadBalancing(_Model):
    mode: Literal["global", "regional", "none"] = Field(
        "none",
        description="The entry point of the set's services, in the stack's DNS zone (fleet:traffic): "
        "'global' one hostname for the whole set (<hostname>.<zone> and *.<hostname>.<zone>), answered by "
        "the healthy region nearest the user (Route 53 latency records) and, inside it, by weight; "
        "'regional' one hostname per region entry (<entry>.<hostname>.<zone>), failing over within it; "
        "'none' nothing is published and no gateway is installed.",
    )
    algorithm: Literal["round-robin", "least-request", "weighted-least-request", "random", "ring-hash"] = Field(
        "round-robin",
        description="Load-balancing algorithm of every workload cluster's entry gateway (Envoy Gateway "
        "BackendTrafficPolicy, from the cluster's traffic-policy label / TRAFFIC_POLICY identity key): "
        "round-robin, least-request, random, ring-hash (consistent hash of the client address); "
        "weighted-least-request is least-request honouring endpoint weights, which Envoy's least-request "
        "always does, so both install the same policy.",
    )
    zone_aware: bool = Field(
        False,
        description="Prefer endpoints in the client's own zone (Envoy zone-aware routing, preferLocal); "
        "not with ring-hash, which Envoy Gateway cannot route zone-aware.",
    )


class FleetRepository(_Model):
    url: RepositoryUrl = Field(
        description="Git (https:// or ssh://) or OCI (oci://) URL of the fleet repository, without credentials "
        "(a private repository's token goes in the secret fleet:gitToken).")
    revision: str = Field("main", description="Branch, tag or OCI tag to sync.")


_DURATION = re.compile(r"^(0|[1-9]\d{0,4})(m|h|d)$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{excerpt(value)} is not a duration; write minutes, hours or days such as 30m, 24h, 2d")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


class Wave(_Model):
    """One step of a rollout: the clusters it selects (any of the ways below; a cluster belongs to
    the first wave that selects it)."""

    name: DnsLabel = Field(description="Wave name (e.g. canary), shown in plans and pull requests.")
    clusters: list[str] = Field(default_factory=list, description="Cluster names, e.g. production-fleet-us-east-01.")
    first_of_each_entry: bool = Field(
        False, description="The first cluster (-01) of every region entry: a canary in each region and cloud.")
    regions: list[str] = Field(default_factory=list, description="Region entry names: all their clusters.")
    selector: Labels = Field(
        default_factory=dict,
        description="Labels every selected cluster has (the entry's labels, plus region and cloud).")


class Gates(_Model):
    health: bool = Field(True, description="Before a wave: the previous wave's Argo CD Applications are Synced "
                         "and Healthy, its Flux Kustomizations and HelmReleases Ready (read from the hub).")
    versions: bool = Field(True, description="Before a wave: the previous wave's clusters report the Kubernetes "
                           "minor of the new revision.")


class Rollout(_Model):
    """A fleet-wide change, wave by wave: clusters of template `from` move to template `to` one wave
    per step (`fleet rollout advance`); clusters no wave selects form a last wave."""

    from_: str = Field(alias="from", description="metadata.name of the ClusterTemplate clusters run now.")
    to: str = Field(description="metadata.name of the new revision, declared next to the old one.")
    waves: list[Wave] = Field(min_length=1, description="Ordered waves; unselected clusters form a last wave.")
    reached: int = Field(0, ge=0, strict=True,
                         description="How many waves run the new revision (0: none yet). Written by "
                         "`fleet rollout advance`; never edit it backwards except to roll back.")
    soak: Duration = Field("24h", description="Least time between a wave's apply and the next step (30m, 24h, 2d).")
    gates: Gates = Field(default_factory=Gates, description="What must hold before the next wave.")


class ClusterSetSpec(_Model):
    environment: DnsLabel | None = Field(
        None, description="Environment (e.g. production); default from the stack's fleet:environment."
    )
    hub: Hub | None = Field(None, description="The management cluster this stack creates.")
    regions: list[RegionEntry] = Field(min_length=1, description="Region entries: where clusters run.")
    load_balancing: LoadBalancing = Field(default_factory=LoadBalancing, description="Global traffic.")
    repository: FleetRepository | None = Field(
        None, description="Fleet repository the clusters sync from (default from stack config)."
    )
    rollout: Rollout | None = Field(
        None, description="An ordered rollout of a new template revision, wave by wave (README: Upgrading the fleet).")


class ClusterSet(_Model):
    """A fleet: regions x clusters x template, an environment and a hub."""

    api_version: ApiVersion = Field(description="fleet.example.com/v1 (gitops.example.com/v1 is accepted).")
    kind: Literal["ClusterSet"] = Field(description="ClusterSet.")
    metadata: Metadata
    spec: ClusterSetSpec


DOCUMENT_KINDS: dict[str, type[_Model]] = {"ClusterTemplate": ClusterTemplate, "ClusterSet": ClusterSet}
