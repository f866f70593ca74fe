"""Fake outputs for Kubernetes resources whose outputs the program consumes.

- A service-account-token Secret gets what the token controller writes: data.token (a JWT-shaped
  string), data["ca.crt"] and data.namespace, base64 as the API returns them.
- A Helm Release gets the status Helm reports after an install (deployed, revision 1).
Ids follow the provider's `namespace/name` form.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fleet.synth.fakes.common import FAKE_CA_DATA, digest

SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode().rstrip("=")


def _metadata(inputs: dict[str, Any]) -> tuple[str, str]:
    metadata = inputs.get("metadata") or {}
    return metadata.get("namespace", "default"), metadata.get("name", "")


def fake_token(namespace: str, account: str, secret: str) -> str:
    """A JWT-shaped service account token (unsigned, stable per account)."""
    header = _b64url({"alg": "RS256", "kid": digest("kid", namespace, account, length=16)})
    claims = _b64url(
        {
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret,
            "kubernetes.io/serviceaccount/service-account.name": account,
            "sub": f"system:serviceaccount:{namespace}:{account}",
        }
    )
    return f"{header}.{claims}.{digest('signature', namespace, secret, length=43)}"


def _secret(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    namespace, secret_name = _metadata(inputs)
    secret_name = secret_name or name
    extra: dict[str, Any] = {}
    if inputs.get("type") == SERVICE_ACCOUNT_TOKEN:
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        account = annotations.get("kubernetes.io/service-account.name", "default")
        extra["data"] = {
            **(inputs.get("data") or {}),
            "token": _b64(fake_token(namespace, account, secret_name)),
            "ca.crt": FAKE_CA_DATA,
            "namespace": _b64(namespace),
        }
    return f"{namespace}/{secret_name}", extra


def _release(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    namespace = inputs.get("namespace") or "default"
    release = inputs.get("name") or name
    chart = str(inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1]
    status = {
        "name": release,
        "namespace": namespace,
        "chart": chart,
        "version": inputs.get("version", ""),
        "status": "deployed",
        "revision": 1,
    }
    return f"{namespace}/{release}", {"status": status}


def _namespaced(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    namespace, object_name = _metadata(inputs)
    return f"{namespace}/{object_name or name}", {}


RESOURCES = {
    "kubernetes:core/v1:Secret": _secret,
    "kubernetes:helm.sh/v3:Release": _release,
    "kubernetes:core/v1:ConfigMap": _namespaced,
    "kubernetes:core/v1:ServiceAccount": _namespaced,
}

INVOKES: dict[str, Any] = {}
