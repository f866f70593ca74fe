"""Kubeconfigs as data (never YAML f-strings), always secret, and the per-cluster k8s Provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class ExecPlugin:
    """A client-go credential plugin (aws eks get-token, kubelogin, gke-gcloud-auth-plugin)."""

    command: str
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    install_hint: str = ""
    provide_cluster_info: bool = False


def kubeconfig_document(name: str, server: str, ca_data: str, plugin: ExecPlugin) -> dict:
    user: dict = {
        "exec": {
            "apiVersion": EXEC_API_VERSION,
            "command": plugin.command,
            "args": list(plugin.args),
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": plugin.provide_cluster_info,
        }
    }
    if plugin.env:
        user["exec"]["env"] = [{"name": k, "value": v} for k, v in sorted(plugin.env.items())]
    if plugin.install_hint:
        user["exec"]["installHint"] = plugin.install_hint
    cluster: dict = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def exec_kubeconfig(name: str, server: pulumi.Input[str], ca_data: pulumi.Input[str],
                    plugin: ExecPlugin) -> pulumi.Output[str]:
    """The kubeconfig of one cluster, as a Pulumi secret."""
    text = pulumi.Output.all(server, ca_data).apply(
        lambda values: yaml.safe_dump(kubeconfig_document(name, values[0], values[1], plugin), sort_keys=False)
    )
    return pulumi.Output.secret(text)


def merge_kubeconfigs(documents: Sequence[dict]) -> dict:
    """One kubeconfig holding every cluster, context per cluster (for `fleet kubeconfig`)."""
    merged: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
                    "preferences": {}}
    for document in documents:
        for key in ("clusters", "users", "contexts"):
            merged[key] += document.get(key, [])
    if documents:
        merged["current-context"] = documents[0].get("current-context", "")
    return merged


def cluster_provider(name: str, kubeconfig: pulumi.Output[str], parent: pulumi.Resource,
                     depends_on: Sequence[pulumi.Resource] = ()) -> k8s.Provider:
    """The Kubernetes provider of one cluster.

    cluster_identifier keeps a kubeconfig change (token, endpoint format) from replacing every
    object on the cluster; the recorder also uses it to file objects under manifests/<name>/.
    No delete_unreachable: pulumi-kubernetes made it opt-in so that a cluster that is only
    unreachable for a moment (a network blip, an expired CI credential, a runner outside the
    allow-list) does not silently drop its objects from the state
    (https://github.com/pulumi/pulumi-kubernetes/pull/2489). A decommission whose cluster is
    already gone sets PULUMI_K8S_DELETE_UNREACHABLE=true for that one run (README, Decommission).
    """
    return k8s.Provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig,
        cluster_identifier=name,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
