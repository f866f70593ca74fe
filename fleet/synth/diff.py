"""Compare two synth outputs: what a change adds, changes, replaces or deletes.

Exit codes follow `terraform plan -detailed-exitcode`: 0 equal, 2 different, 1 error.
A removed cluster, a removed protected resource, or a replaced cluster is DESTRUCTIVE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.safeyaml import LoadError, load_json

# Inputs whose change makes the provider replace the resource (create new, delete old).
# Conservative: a path listed here is reported as a replacement; anything else as an update.
REPLACE_ON: dict[str, tuple[str, ...]] = {
    "aws:eks/cluster:Cluster": ("name", "region", "vpcConfig.subnetIds", "kubernetesNetworkConfig",
                                "encryptionConfig", "accessConfig.bootstrapClusterCreatorAdminPermissions",
                                "bootstrapSelfManagedAddons"),
    "aws:eks/nodeGroup:NodeGroup": ("clusterName", "nodeGroupName", "subnetIds", "amiType", "capacityType",
                                    "instanceTypes", "region"),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "region"),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "vpcId", "region"),
    "azure-native:containerservice:ManagedCluster": ("location", "resourceName", "resourceGroupName",
                                                     "dnsPrefix", "networkProfile.podCidr",
                                                     "networkProfile.serviceCidr", "networkProfile.networkPlugin"),
    "azure-native:network:VirtualNetwork": ("location", "virtualNetworkName", "resourceGroupName"),
    "azure-native:resources:ResourceGroup": ("location", "resourceGroupName"),
    "gcp:container/cluster:Cluster": ("name", "location", "network", "subnetwork", "ipAllocationPolicy",
                                      "privateClusterConfig.enablePrivateNodes", "project"),
    # ForceNew fields of google_container_node_pool (terraform-provider-google node_config.go);
    # machineType and disks are updated in place (nodes re-created with surge), not replaced.
    "gcp:container/nodePool:NodePool": ("cluster", "location", "name", "project", "maxPodsPerNode",
                                        "nodeConfig.spot", "nodeConfig.preemptible", "nodeConfig.serviceAccount",
                                        "nodeConfig.oauthScopes", "nodeConfig.metadata",
                                        "nodeConfig.shieldedInstanceConfig", "nodeConfig.guestAccelerators"),
    # pulumi-azure-native's forceNewMap (provider/pkg/gen/replacement.go) plus the URL parameters.
    "azure-native:containerservice:AgentPool": ("agentPoolName", "resourceName", "resourceGroupName", "vmSize",
                                                "gpuInstanceProfile", "networkProfile.nodePublicIPTags"),
    "gcp:compute/subnetwork:Subnetwork": ("ipCidrRange", "network", "region", "name", "project"),
    "gcp:compute/network:Network": ("name", "project", "autoCreateSubnetworks"),
}
CLUSTER_TYPES = frozenset({"aws:eks/cluster:Cluster", "azure-native:containerservice:ManagedCluster",
                           "gcp:container/cluster:Cluster"})
KUBERNETES_REPLACE_ON = ("metadata.name", "metadata.namespace", "apiVersion", "kind")


@dataclass(frozen=True)
class Change:
    action: str  # add | change | replace | delete
    urn: str
    type: str
    name: str
    fields: tuple[str, ...] = ()
    destructive: bool = False
    stack: str = ""  # a sharded environment's synth: the stack holding the resource


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    clusters_added: list[str] = field(default_factory=list)
    clusters_removed: list[str] = field(default_factory=list)

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def equal(self) -> bool:
        return not self.changes and not self.clusters_added and not self.clusters_removed


class SynthReadError(Exception):
    pass


def load_synth(location: Path, shown: str | None = None) -> dict[str, Any]:
    """A synth output, given its folder or its resources.json; its shape checked so that a
    malformed file is one line (SynthReadError), never a KeyError later. `shown`: the path as the
    user typed it."""
    path = location if location.is_file() else location / "resources.json"
    typed = shown if shown is not None else str(location)
    name = typed if location.is_file() else str(Path(typed) / "resources.json")
    try:
        document = load_json(path, name)
    except LoadError as error:
        message = str(error.problem)
        if error.problem.message == "no such file" or not location.exists():
            message = f"{name}: not found (run `fleet synth --out {path.parent}` first)"
        raise SynthReadError(message) from None
    problem = synth_shape_problem(document)
    if problem:
        raise SynthReadError(f"{name}: {problem}; not a fleet synth output (fleet synth writes resources.json)")
    return document


def synth_shape_problem(document: Any) -> str | None:
    """What makes `document` not a synth output (docs/contracts.md section 4), or None."""
    if not isinstance(document, dict):
        return f"the top level is {_kind(document)}, not an object"
    for key in ("project", "stack"):
        if key in document and not isinstance(document[key], str):
            return f"'{key}' is {_kind(document[key])}, not text"
    resources, clusters = document.get("resources"), document.get("clusters", [])
    if not isinstance(resources, list):
        return "no 'resources' list" if resources is None else f"'resources' is {_kind(resources)}, not a list"
    seen: set[str] = set()
    for index, resource in enumerate(resources):
        problem = _entry_problem(resource, ("urn", "type", "name"))
        if problem:
            return f"resources[{index}]: {problem}"
        if resource["urn"] in seen:
            return f"resources[{index}]: the urn appears twice"
        seen.add(resource["urn"])
    if not isinstance(clusters, list):
        return f"'clusters' is {_kind(clusters)}, not a list"
    for index, cluster in enumerate(clusters):
        problem = _entry_problem(cluster, ("name",))
        if problem:
            return f"clusters[{index}]: {problem}"
    return None


def _entry_problem(entry: Any, text_keys: tuple[str, ...]) -> str | None:
    if not isinstance(entry, dict):
        return f"is {_kind(entry)}, not an object"
    for key in text_keys:
        if not isinstance(entry.get(key), str):
            return f"'{key}' is missing" if key not in entry else f"'{key}' is {_kind(entry[key])}, not text"
    return None


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def stack_mismatch(base: dict[str, Any], head: dict[str, Any]) -> str | None:
    """Why two synths should not be compared: they are of different projects or stacks."""
    for key in ("project", "stack"):
        if key in base and key in head and base[key] != head[key]:
            return (f"the base is {key} '{base[key]}' and the head is {key} '{head[key]}'; compare two synths "
                    f"of the same {key} (or pass --allow-different-stacks)")
    return None


def diff_synth(base: dict[str, Any], head: dict[str, Any]) -> Diff:
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in head["resources"]}
    result = Diff()
    base_clusters = {c["name"] for c in base.get("clusters", [])}
    head_clusters = {c["name"] for c in head.get("clusters", [])}
    result.clusters_added = sorted(head_clusters - base_clusters)
    result.clusters_removed = sorted(base_clusters - head_clusters)
    for urn in sorted(after.keys() - before.keys()):
        result.changes.append(Change("add", urn, after[urn]["type"], after[urn]["name"],
                                     stack=after[urn].get("stack") or ""))
    for urn in sorted(before.keys() - after.keys()):
        old = before[urn]
        destructive = old["type"] in CLUSTER_TYPES or bool(old.get("protect"))
        result.changes.append(Change("delete", urn, old["type"], old["name"], destructive=destructive,
                                     stack=old.get("stack") or ""))
    for urn in sorted(before.keys() & after.keys()):
        change = _compare(before[urn], after[urn])
        if change:
            result.changes.append(change)
    return result


def _compare(old: dict[str, Any], new: dict[str, Any]) -> Change | None:
    paths = sorted(set(changed_paths(old.get("inputs"), new.get("inputs"), "inputs")))
    for key in ("parent", "provider", "protect", "dependencies", "options"):
        if old.get(key) != new.get(key):
            paths.append(key)
    if not paths:
        return None
    triggers = REPLACE_ON.get(new["type"], KUBERNETES_REPLACE_ON if new["type"].startswith("kubernetes:") else ())
    replaced = any(_under(p, f"inputs.{t}") for p in paths for t in triggers) or "provider" in paths
    destructive = replaced and new["type"] in CLUSTER_TYPES
    return Change("replace" if replaced else "change", new["urn"], new["type"], new["name"], tuple(paths),
                  destructive, new.get("stack") or "")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def changed_paths(old: Any, new: Any, path: str) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            yield from changed_paths(old.get(key), new.get(key), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from changed_paths(a, b, f"{path}[{index}]")
    elif old != new:
        yield path


SYMBOLS = {"add": "+", "change": "~", "replace": "+-", "delete": "-"}


def render_text(diff: Diff) -> str:
    lines = []
    for change in diff.changes:
        mark = "  [DESTRUCTIVE]" if change.destructive else ""
        fields = f"  ({', '.join(change.fields)})" if change.fields else ""
        where = f"[{change.stack}] " if change.stack else ""
        lines.append(f"{SYMBOLS[change.action]:>2} {change.action:<8} {where}{change.type}  "
                     f"{change.name}{fields}{mark}")
    for name in diff.clusters_added:
        lines.append(f" + cluster  {name}")
    for name in diff.clusters_removed:
        lines.append(f" - cluster  {name}  [DESTRUCTIVE: the cluster and everything on it is deleted]")
    lines.append(summary(diff))
    return "\n".join(lines)


def summary(diff: Diff) -> str:
    counts = ", ".join(f"{diff.count(a)} to {a}" for a in ("add", "change", "replace", "delete"))
    destructive = len(diff.destructive) + len(diff.clusters_removed)
    clusters = f"clusters: +{len(diff.clusters_added)} -{len(diff.clusters_removed)}"
    return f"Summary: {counts}; {clusters}; destructive: {destructive or 'none'}"


def render_markdown(diff: Diff, title: str = "fleet diff") -> str:
    if diff.equal:
        return f"### {title}\n\nNo changes.\n"
    lines = [f"### {title}", "", summary(diff), ""]
    if diff.destructive or diff.clusters_removed:
        lines += ["> [!CAUTION]", "> This change deletes or replaces clusters:"]
        lines += [f"> - cluster `{n}` removed" for n in diff.clusters_removed]
        lines += [f"> - `{c.type}` `{c.name}` ({c.action})" for c in diff.destructive]
        lines.append("")
    stacks = sorted({c.stack for c in diff.changes})
    for stack in stacks:  # a sharded environment: what changes, per stack
        if stack:
            shown = [c for c in diff.changes if c.stack == stack]
            lines += [f"#### stack `{stack}`: " + ", ".join(
                f"{sum(1 for c in shown if c.action == a)} to {a}" for a in ("add", "change", "replace", "delete")), ""]
        lines += _change_table([c for c in diff.changes if c.stack == stack]) + ([""] if stack else [])
    return "\n".join(lines).rstrip("\n") + "\n"


def _change_table(changes: list[Change]) -> list[str]:
    lines = ["| action | type | name | changed fields |", "|---|---|---|---|"]
    for change in changes:
        fields = ", ".join(f"`{f}`" for f in change.fields[:8]) + (" ..." if len(change.fields) > 8 else "")
        mark = " **destructive**" if change.destructive else ""
        lines.append(f"| {change.action}{mark} | `{change.type}` | `{change.name}` | {fields} |")
    return lines
