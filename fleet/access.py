"""How a hub reaches each of its spokes: the address a registration uses and the credential path.

Pure decisions (no Pulumi): fleet.plan refuses a pair with no working path before any resource is
declared, and the cloud and GitOps modules read the fixed shapes below (token paths, audiences,
what the hub's controllers mount) so every hub x spoke pair is wired the same way.

Every pair is keyless. The hub's GitOps controllers authenticate with their own Kubernetes
service-account tokens, issued by the hub cluster's OIDC issuer:
- same cloud: the cloud's native workload identity (EKS Pod Identity, AKS workload identity, GKE
  workload identity) as before;
- across clouds: the spoke's cloud trusts the hub's issuer (an IAM OIDC provider and role, an
  Entra identity with federated credentials, a workload identity pool and provider) and the hub's
  controllers get a projected token with that cloud's audience plus the environment its SDK reads
  (Flux integrations docs, "At the controller level", for clusters that are not EKS/AKS/GKE:
  https://fluxcd.io/flux/integrations/aws/, /azure/, /gcp/; fluxcd/website
  content/en/flux/integrations/{aws,azure,gcp,cross-cloud}.md).

Reachability (an address the hub can reach and that accepts the hub's credential):

| spoke cloud | apiAccess  | address the hub uses                          | accepts                      |
|-------------|------------|-----------------------------------------------|------------------------------|
| aws         | authorized | public endpoint, the hub's egress admitted     | IAM (access entry)           |
| aws         | private    | none: private endpoint inside the spoke's VPC  | refused                      |
| azure       | authorized | public API server, the hub's egress admitted   | Entra (Azure RBAC)           |
| azure       | private    | none: private API server inside the spoke VNet | refused                      |
| gcp         | authorized | public endpoint, the hub's egress admitted     | Google tokens (IAM + RBAC)   |
| gcp         | private    | Connect Gateway                               | Google tokens only           |
| gcp         | dns        | Connect Gateway                               | Google tokens only           |

fleet connects no networks (no peering, no transit gateway, no private link between clouds), so
an EKS or AKS private endpoint is out of every hub's reach. Connect Gateway accepts Google OAuth
tokens only; every hub presents one for a GKE spoke (native, or exchanged through the spoke
project's workload identity pool), never a Kubernetes token. Flux's `gcp` kubeConfig provider
uses `address` and `ca.crt` as given when both are set (fluxcd/pkg auth/gcp/provider.go
NewRESTConfig: the cluster is described, and its endpoint compared, only when one is missing;
the comparison itself was removed in fluxcd/pkg 1e27082d), so fleet always sets both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.spec.regions import equivalent

CLOUDS = ("aws", "azure", "gcp")

# The hub's controllers that reach spokes, per engine (namespace, service account). Argo CD: the
# application controller only. argocd-server needs a spoke only for the UI's live-object views,
# logs, terminal and resource actions, which are not part of deploying; the ApplicationSet
# controller reads cluster Secrets on the hub and never dials a spoke. Neither gets cloud trust
# (docs/access.md, "Least privilege").
CONTROLLERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "argocd": (("argocd", "argocd-application-controller"),),
    "flux": (("flux-system", "kustomize-controller"),),
}

# Projected service-account tokens the hub's controllers present to another cloud.
TOKEN_ROOT = "/var/run/secrets/fleet.example.com"
TOKEN_FILE = "token"
TOKEN_SECONDS = 3600
AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
AZURE_AUTHORITY = "https://login.microsoftonline.com/"
GCP_CREDENTIALS_DIR = "/etc/fleet.example.com/gcp"
GCP_CREDENTIALS_FILE = "credential-configuration.json"
GCP_CREDENTIALS_CONFIG_MAP = "fleet-gcp-credentials"

ADDRESS = {"endpoint": "the cluster's public endpoint", "gateway": "Connect Gateway"}


@dataclass(frozen=True)
class Route:
    """How one hub reaches one spoke."""

    address: str  # endpoint | gateway
    credential: str  # native | federated


def subject(namespace: str, name: str) -> str:
    """The `sub` claim of a Kubernetes service-account token."""
    return f"system:serviceaccount:{namespace}:{name}"


def controller_subjects(engine: str) -> list[str]:
    return [subject(namespace, name) for namespace, name in CONTROLLERS[engine]]


def route(hub_cloud: str, spoke_cloud: str, api_access: str) -> Route | None:
    """The address and credential path of a pair, or None when no path works."""
    if spoke_cloud in ("aws", "azure") and api_access != "authorized":
        return None
    address = "gateway" if spoke_cloud == "gcp" and api_access in ("private", "dns") else "endpoint"
    return Route(address, "native" if hub_cloud == spoke_cloud else "federated")


def refusal(spoke: str, spoke_cloud: str, api_access: str, hub: str, hub_cloud: str, engine: str) -> str | None:
    """One line saying why `hub` cannot reach `spoke` and what would work, or None when it can."""
    if route(hub_cloud, spoke_cloud, api_access) is not None:
        return None
    service = {"aws": "an EKS", "azure": "an AKS"}[spoke_cloud]
    network = {"aws": "VPC", "azure": "virtual network"}[spoke_cloud]
    return (f"spoke '{spoke}' ({spoke_cloud}, apiAccess: {api_access}) cannot be reached by its hub '{hub}' "
            f"({hub_cloud}, {engine}): {service} {api_access} API endpoint answers only inside the spoke's "
            f"own {network}, which fleet does not connect to the hub's; use apiAccess: authorized (the hub's "
            "egress is admitted, the hub authenticates keylessly)")


def describe(hub_cloud: str, spoke_cloud: str, api_access: str, engine: str) -> str:
    """What the registration uses, in words (README table, `fleet plan`, tests)."""
    found = route(hub_cloud, spoke_cloud, api_access)
    if found is None:
        return "refused"
    return f"{ADDRESS[found.address]}, {TRUST[(hub_cloud, spoke_cloud)]}"


TRUST: Mapping[tuple[str, str], str] = {
    ("aws", "aws"): "EKS Pod Identity role, access entry on the spoke",
    ("azure", "azure"): "AKS workload identity, Azure RBAC role assignment on the spoke",
    ("gcp", "gcp"): "GKE workload identity as a Google service account, IAM + RBAC on the spoke",
    **{(hub, "aws"): f"IAM OIDC provider for the {hub} hub's issuer, role for its controllers, access entry"
       for hub in ("azure", "gcp")},
    **{(hub, "azure"): f"Entra identity federated to the {hub} hub's issuer, Azure RBAC role assignment"
       for hub in ("aws", "gcp")},
    **{(hub, "gcp"): f"workload identity pool trusting the {hub} hub's issuer, impersonating a Google "
       "service account, IAM + RBAC" for hub in ("aws", "azure")},
}


# --- what a hub's controllers mount for a cloud they reach by federation -------------------------


def token_directory(cloud: str) -> str:
    return f"{TOKEN_ROOT}/{cloud}"


def token_path(cloud: str) -> str:
    return f"{token_directory(cloud)}/{TOKEN_FILE}"


def token_volume(cloud: str, audience: str) -> dict[str, object]:
    """A projected service-account token for `audience` (kubelet rotates it before it expires)."""
    return {"name": f"fleet-{cloud}-token", "projected": {"sources": [{"serviceAccountToken": {
        "audience": audience, "expirationSeconds": TOKEN_SECONDS, "path": TOKEN_FILE}}]}}


def token_mount(cloud: str) -> dict[str, object]:
    return {"name": f"fleet-{cloud}-token", "mountPath": token_directory(cloud), "readOnly": True}


def credentials_volume() -> dict[str, object]:
    return {"name": GCP_CREDENTIALS_CONFIG_MAP, "configMap": {"name": GCP_CREDENTIALS_CONFIG_MAP}}


def credentials_mount() -> dict[str, object]:
    return {"name": GCP_CREDENTIALS_CONFIG_MAP, "mountPath": GCP_CREDENTIALS_DIR, "readOnly": True}


def aws_region_for(hub_cloud: str, hub_location: str) -> str:
    """AWS_REGION of a non-AWS hub's controllers (the AWS SDK signs STS calls for a region): the
    AWS region nearest the hub, fixed by the hub's location alone."""
    found = equivalent(hub_location, hub_cloud, "aws")
    return found.name if found else "us-east-1"


def azure_location_for(hub_cloud: str, hub_location: str) -> str:
    """Where a non-Azure hub's Entra identity lives: the Azure region nearest the hub."""
    found = equivalent(hub_location, hub_cloud, "azure")
    return found.name if found else "eastus"


def gcp_audience(project_number: str, pool: str, provider: str) -> str:
    """The audience of the hub's projected token for a GCP workload identity provider (the
    provider's default allowed audience; Google Cloud, "Configure Workload Identity Federation
    with Kubernetes")."""
    return f"https://iam.googleapis.com/{gcp_provider_name(project_number, pool, provider)}"


def gcp_provider_name(project_number: str, pool: str, provider: str) -> str:
    return f"projects/{project_number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}"


def gcp_principal(project_number: str, pool: str, sub: str) -> str:
    return f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/{pool}/subject/{sub}"


def gcp_credential_configuration(project_number: str, pool: str, provider: str, service_account: str) -> str:
    """The external-account credential configuration the hub's controllers read through
    GOOGLE_APPLICATION_CREDENTIALS: the projected token, exchanged at Google STS, impersonating
    the spoke project's service account (Flux gcp integration docs; google.FindDefaultCredentials
    in argocd-k8s-auth gcp). No key: nothing in it is a credential."""
    document = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{gcp_provider_name(project_number, pool, provider)}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": (
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
            f"{service_account}:generateAccessToken"),
        "credential_source": {"file": token_path("gcp"), "format": {"type": "text"}},
    }
    return json.dumps(document, indent=2, sort_keys=True)


def gcp_attribute_condition(subjects: Sequence[str]) -> str:
    """CEL: only the hub controllers' tokens are exchanged at all."""
    return "assertion.sub in [" + ", ".join(f"'{s}'" for s in subjects) + "]"


def issuer_host_path(issuer: str) -> str:
    """IAM condition-key prefix of an OIDC provider: its URL without the scheme."""
    return issuer.removeprefix("https://").rstrip("/")


def aws_web_identity_trust(provider_arn: str, issuer: str, subjects: Sequence[str], role_arn: str) -> str:
    """Trust of a hub's role in a spoke's AWS account: exactly the hub controllers' subjects with
    the sts.amazonaws.com audience (AWS IAM, "Create a role for OpenID Connect federation"), and
    the role itself (Argo CD's awsAuthConfig roleARN assumes it from its own session, Argo CD
    declarative-setup "Argo CD Management Role")."""
    key = issuer_host_path(issuer)
    statements = [
        {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {f"{key}:sub": sorted(subjects), f"{key}:aud": AWS_AUDIENCE}}},
        {"Effect": "Allow", "Principal": {"AWS": role_arn.rsplit(":role/", 1)[0] + ":root"},
         "Action": "sts:AssumeRole", "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}}},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
