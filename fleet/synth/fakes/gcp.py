"""Fake outputs of the GCP resources and invokes fleet.clouds.gcp uses (engine-side camelCase)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleet.synth.fakes.common import FAKE_CA_DATA, GCP_PROJECT, GCP_PROJECT_NUMBER, digest, fake_ip

Inputs = dict[str, Any]


def _project(inputs: Inputs) -> str:
    return inputs.get("project") or GCP_PROJECT


def _name(name: str, inputs: Inputs) -> str:
    return inputs.get("name") or name


def _compute_link(path: str) -> str:
    return f"https://www.googleapis.com/compute/v1/{path}"


def _network(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    path = f"projects/{_project(inputs)}/global/networks/{_name(name, inputs)}"
    return path, {"selfLink": _compute_link(path), "numericId": str(int(digest(path, length=12), 16)),
                  "gatewayIpv4": ""}


def _subnetwork(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    path = f"projects/{_project(inputs)}/regions/{inputs.get('region')}/subnetworks/{_name(name, inputs)}"
    cidr = inputs.get("ipCidrRange", "10.0.0.0/24")
    gateway = cidr.split("/")[0].rsplit(".", 1)[0] + ".1"
    return path, {"selfLink": _compute_link(path), "gatewayAddress": gateway,
                  "subnetworkId": int(digest(path, length=12), 16)}


def _router(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    path = f"projects/{_project(inputs)}/regions/{inputs.get('region')}/routers/{_name(name, inputs)}"
    return path, {"selfLink": _compute_link(path)}


def _router_nat(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    return f"{_project(inputs)}/{inputs.get('region')}/{inputs.get('router')}/{_name(name, inputs)}", {}


def _address(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    path = f"projects/{_project(inputs)}/regions/{inputs.get('region')}/addresses/{_name(name, inputs)}"
    return path, {"selfLink": _compute_link(path), "address": fake_ip("gcp", path), "users": []}


def _key_ring(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    location = inputs.get("location")
    return f"projects/{_project(inputs)}/locations/{location}/keyRings/{_name(name, inputs)}", {}


def _crypto_key(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    key_id = f"{inputs.get('keyRing')}/cryptoKeys/{_name(name, inputs)}"
    return key_id, {"primaries": [{"name": f"{key_id}/cryptoKeyVersions/1", "state": "ENABLED"}]}


def _iam_member(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    scope = inputs.get("project") or inputs.get("cryptoKeyId") or inputs.get("serviceAccountId") or ""
    return f"{scope}/{inputs.get('role')}/{inputs.get('member')}", {"etag": f"BwY{digest(name, scope)}="}


def _service_account(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    project = _project(inputs)
    email = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
    resource = f"projects/{project}/serviceAccounts/{email}"
    return resource, {"email": email, "name": resource, "member": f"serviceAccount:{email}",
                      "uniqueId": str(int(digest(email, length=15), 16))}


def _cluster(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    project, location, cluster = _project(inputs), inputs.get("location"), _name(name, inputs)
    path = f"projects/{project}/locations/{location}/clusters/{cluster}"
    endpoints = dict(inputs.get("controlPlaneEndpointsConfig") or {})
    dns = dict(endpoints.get("dnsEndpointConfig") or {})
    dns["endpoint"] = f"gke-{digest(path, length=32)}-{GCP_PROJECT_NUMBER}.{location}.gke.goog"
    endpoints["dnsEndpointConfig"] = dns
    private = dict(inputs.get("privateClusterConfig") or {})
    private.update({"privateEndpoint": f"10.255.{int(digest(path, length=2), 16)}.2",
                    "publicEndpoint": "" if private.get("enablePrivateEndpoint") else fake_ip("gke", path)})
    fleet = dict(inputs.get("fleet") or {})
    if fleet.get("project"):
        fleet.update({
            "membership": f"//gkehub.googleapis.com/projects/{fleet['project']}/locations/{location}"
                          f"/memberships/{cluster}",
            "membershipId": cluster,
            "membershipLocation": location,
            "preRegistered": False,
        })
    return path, {
        "endpoint": private["publicEndpoint"] or private["privateEndpoint"],
        "masterAuth": {"clusterCaCertificate": FAKE_CA_DATA, "clientCertificate": "", "clientKey": "",
                       "clientCertificateConfig": {"issueClientCertificate": False}},
        "controlPlaneEndpointsConfig": endpoints,
        "privateClusterConfig": private,
        "fleet": fleet,
        "selfLink": f"https://container.googleapis.com/v1/{path}",
        "labelFingerprint": digest(path, length=8),
        "masterVersion": f"{inputs.get('minMasterVersion', '1.33')}.5-gke.1000",
        "operation": "",
    }


def _node_pool(name: str, inputs: Inputs) -> tuple[str, Inputs]:
    pool_id = f"{_project(inputs)}/{inputs.get('location')}/{inputs.get('cluster')}/{_name(name, inputs)}"
    return pool_id, {"instanceGroupUrls": [], "managedInstanceGroupUrls": [],
                     "version": "1.33.5-gke.1000", "operation": ""}


RESOURCES: dict[str, Callable[[str, Inputs], tuple[str, Inputs]]] = {
    "gcp:compute/network:Network": _network,
    "gcp:compute/subnetwork:Subnetwork": _subnetwork,
    "gcp:compute/router:Router": _router,
    "gcp:compute/routerNat:RouterNat": _router_nat,
    "gcp:compute/address:Address": _address,
    "gcp:kms/keyRing:KeyRing": _key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _crypto_key,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _iam_member,
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:serviceaccount/iAMMember:IAMMember": _iam_member,
    "gcp:projects/iAMMember:IAMMember": _iam_member,
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:container/nodePool:NodePool": _node_pool,
}


def _get_project(args: Inputs) -> Inputs:
    project = args.get("projectId") or GCP_PROJECT
    return {"id": f"projects/{project}", "projectId": project, "name": project,
            "number": GCP_PROJECT_NUMBER, "labels": {}, "effectiveLabels": {}}


INVOKES: dict[str, Callable[[Inputs], Inputs]] = {
    "gcp:organizations/getProject:getProject": _get_project,
}
