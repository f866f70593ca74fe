"""Behaviour rules for hub -> spoke access: see fleet/behaviour/__init__.py and docs/access.md.

Every registration is keyless (fleet.access). These rules hold the recorded stack to it, and to
what the clouds enforce on the trust that replaces stored credentials:
- `no-long-lived-spoke-credentials`: no service-account token Secret, no static kubeconfig, no
  bearer token or client key in a registration;
- `aws-web-identity-trust-scoped`: a role trusting an OIDC issuer names its subjects and audience;
- `azure-federated-credential-limit`: at most 20 federated credentials per identity;
- `gcp-federation-provider-scoped`: a workload identity provider admits only named subjects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.recorded import SECRET, Resource, ResourceRule, Stack, of_type, text_value

SECRET_TYPE = "kubernetes:core/v1:Secret"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
REMOTE_APPLIERS = (  # Flux objects that may act on another cluster through spec.kubeConfig
    "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
    "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease",
)
ARGOCD_SECRET_TYPE = "argocd.argoproj.io/secret-type"
# Fields of Argo CD's cluster `config` that carry a credential (Argo CD declarative setup,
# "Clusters": bearerToken, username/password; tlsClientConfig certData/keyData).
STATIC_CONFIG_FIELDS = ("bearerToken", "username", "password")
STATIC_TLS_FIELDS = ("certData", "keyData")

IAM_ROLE = "aws:iam/role:Role"
AWS_AUDIENCE = "sts.amazonaws.com"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
FEDERATED_CREDENTIAL_LIMIT = 20
GCP_POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"

FIX = "register the spoke keylessly (fleet.access; docs/access.md)"


def _argocd_static_fields(config: Any) -> list[str]:
    """Credential fields of an Argo CD cluster `config` (JSON text or data)."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return []
    if not isinstance(config, Mapping):
        return []
    tls = config.get("tlsClientConfig") if isinstance(config.get("tlsClientConfig"), Mapping) else {}
    return [f for f in STATIC_CONFIG_FIELDS if config.get(f)] + [f"tlsClientConfig.{f}" for f in STATIC_TLS_FIELDS
                                                                 if tls.get(f)]


def no_long_lived_credentials(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """No long-lived Kubernetes credential for a spoke, in any hub x spoke pair.

    A `kubernetes.io/service-account-token` Secret holds a token that never expires and is never
    rotated ("Legacy ServiceAccount token Secrets": Kubernetes recommends the TokenRequest API or
    projected tokens instead, https://kubernetes.io/docs/concepts/configuration/secret/#serviceaccount-token-secrets);
    a Flux `spec.kubeConfig.secretRef` points at a static kubeconfig, which Flux's cross-cloud
    documentation says to avoid (https://fluxcd.io/flux/integrations/cross-cloud/); an Argo CD
    cluster `config` with bearerToken, username/password or a client key is the same thing
    (judged where the config is visible; fleet keeps it a Pulumi secret, and the registration
    tests read it unredacted).
    """
    inputs = resource.inputs
    if resource.type == SECRET_TYPE and inputs.get("type") == TOKEN_SECRET_TYPE:
        name = (inputs.get("metadata") or {}).get("name") or resource.name
        return [f"Secret '{name}' ({resource.name}) is a long-lived service-account token "
                f"({TOKEN_SECRET_TYPE}): never rotated, valid until deleted; {FIX}"]
    if resource.type in REMOTE_APPLIERS:
        kube_config = ((inputs.get("spec") or {}) if isinstance(inputs.get("spec"), Mapping) else {}).get("kubeConfig")
        if isinstance(kube_config, Mapping) and "secretRef" in kube_config:
            return [f"{resource.type.rsplit(':', 1)[-1]} '{resource.name}' reaches its cluster with a static "
                    f"kubeconfig (spec.kubeConfig.secretRef); use spec.kubeConfig.configMapRef with a cloud "
                    f"provider (Flux 2.7+); {FIX}"]
    if resource.type == SECRET_TYPE:
        labels = (inputs.get("metadata") or {}).get("labels") or {}
        string_data = inputs.get("stringData")
        if labels.get(ARGOCD_SECRET_TYPE) == "cluster" and isinstance(string_data, Mapping):
            fields = _argocd_static_fields(string_data.get("config"))
            if fields:
                return [f"Argo CD cluster Secret '{resource.name}' authenticates with {', '.join(fields)}: a "
                        f"stored credential; use awsAuthConfig or execProviderConfig (argocd-k8s-auth); {FIX}"]
    return []


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    if not isinstance(policy, str) or policy == SECRET:
        return []
    try:
        document = json.loads(policy)
    except ValueError:
        return []
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    return [s for s in statements or [] if isinstance(s, Mapping)]


def web_identity_trust_scoped(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A role trusting an OIDC provider admits exactly the named subjects and the STS audience.

    Without `<issuer>:sub`, every service account of the trusted cluster (any pod of the hub) can
    assume the role; without `<issuer>:aud` = sts.amazonaws.com, a token minted for another
    audience is accepted. AWS IAM, "Create a role for OpenID Connect federation" and "Available
    keys for AWS OIDC federation" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif);
    Argo CD's management role example conditions on both.
    """
    if resource.type != IAM_ROLE:
        return []
    problems = []
    for statement in _statements(resource.inputs.get("assumeRolePolicy")):
        principal = statement.get("Principal")
        if not (isinstance(principal, Mapping) and "Federated" in principal):
            continue
        if "sts:AssumeRoleWithWebIdentity" not in json.dumps(statement.get("Action")):
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subjects = [k for k in equals if k.endswith(":sub")]
        audiences = [v for k, v in equals.items() if k.endswith(":aud")]
        wildcard = any("*" in json.dumps(equals[k]) for k in subjects)
        if not subjects or wildcard or audiences != [AWS_AUDIENCE]:
            problems.append(f"role '{resource.name}' trusts {principal['Federated']} without StringEquals on "
                            f"both '<issuer>:sub' (the hub controllers' subjects, no wildcard) and '<issuer>:aud' = "
                            f"{AWS_AUDIENCE}: any pod of that cluster could assume it; name the subjects and the "
                            "audience (fleet.access.aws_web_identity_trust)")
    return problems


def federated_credential_limit(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """At most 20 federated identity credentials per user-assigned identity.

    "A maximum of 20 federated identity credentials can be added to an application or
    user-assigned managed identity" (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations,
    "General federated identity credential considerations"). fleet writes one per hub controller
    (Argo CD: 1, Flux: 1) on each hub's own identity, far below it; the rule catches growth.
    """
    if resource.type != FEDERATED_CREDENTIAL or not isinstance(stack, Stack):
        return []
    identity = (resource.inputs.get("resourceGroupName"), resource.inputs.get("resourceName"))
    siblings = sorted(other.urn for other in of_type(stack, FEDERATED_CREDENTIAL)
                      if (other.inputs.get("resourceGroupName"), other.inputs.get("resourceName")) == identity)
    if len(siblings) <= FEDERATED_CREDENTIAL_LIMIT or siblings[FEDERATED_CREDENTIAL_LIMIT] != resource.urn:
        return []  # report once, on the 21st
    return [f"identity '{text_value(identity[1]) or identity[1]}' ({identity[0]}) gets {len(siblings)} federated "
            f"credentials; Entra ID allows {FEDERATED_CREDENTIAL_LIMIT} per identity: give the extra subjects "
            "an identity of their own"]


def federation_provider_scoped(resource: Resource, stack: Sequence[Resource]) -> list[str]:
    """A workload identity pool provider for a Kubernetes issuer admits only named subjects.

    Without an attribute condition every token of the issuer (any service account of the hub
    cluster) can be exchanged; Google recommends conditions for every provider whose issuer is
    shared ("Best practices for using Workload Identity Federation", "Use attribute conditions",
    https://cloud.google.com/iam/docs/best-practices-for-using-workload-identity-federation).
    """
    if resource.type != GCP_POOL_PROVIDER or not isinstance(resource.inputs.get("oidc"), Mapping):
        return []
    condition = resource.inputs.get("attributeCondition")
    if isinstance(condition, str) and "assertion.sub" in condition:
        return []
    return [f"workload identity provider '{resource.name}' accepts every token of "
            f"{resource.inputs['oidc'].get('issuerUri')}; set attributeCondition to the hub controllers' subjects "
            "(fleet.access.gcp_attribute_condition)"]


RULES: tuple[ResourceRule, ...] = (
    ResourceRule("no-long-lived-spoke-credentials",
                 "No service-account token Secret, static kubeconfig or stored credential reaches a spoke.",
                 no_long_lived_credentials),
    ResourceRule("aws-web-identity-trust-scoped",
                 "A role trusting an OIDC issuer names its subjects and the sts.amazonaws.com audience.",
                 web_identity_trust_scoped),
    ResourceRule("azure-federated-credential-limit",
                 "At most 20 federated credentials per Entra identity.",
                 federated_credential_limit, needs_stack=True),
    ResourceRule("gcp-federation-provider-scoped",
                 "A workload identity provider for a Kubernetes issuer admits only named subjects.",
                 federation_provider_scoped),
)
