"""Compare two synth outputs: what a change adds, changes, replaces or deletes.

Exit codes follow `terraform plan -detailed-exitcode`: 0 equal, 2 different, 1 error.
A removed cluster, a removed protected resource, or a replaced cluster is DESTRUCTIVE.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    "gcp:container/nodePool:NodePool": ("cluster", "location", "name", "nodeConfig.machineType",
                                        "nodeConfig.spot", "project"),
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


def load_synth(location: Path) -> dict[str, Any]:
    """A synth output, given its folder or its resources.json."""
    path = location if location.is_file() else location / "resources.json"
    directory = path.parent
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise SynthReadError(f"{path}: not found (run `fleet synth --out {directory}` first)") from None
    except OSError as error:
        raise SynthReadError(f"{path}: cannot be read ({error.strerror})") from None
    except ValueError as error:
        raise SynthReadError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise SynthReadError(f"{path}: not a fleet synth output (no 'resources' list)")
    return document


def diff_synth(base: dict[str, Any], head: dict[str, Any]) -> Diff:
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in head["resources"]}
    result = Diff()
    base_clusters = {c["name"] for c in base.get("clusters", [])}
    head_clusters = {c["name"] for c in head.get("clusters", [])}
    result.clusters_added = sorted(head_clusters - base_clusters)
    result.clusters_removed = sorted(base_clusters - head_clusters)
    for urn in sorted(after.keys() - before.keys()):
        result.changes.append(Change("add", urn, after[urn]["type"], after[urn]["name"]))
    for urn in sorted(before.keys() - after.keys()):
        old = before[urn]
        destructive = old["type"] in CLUSTER_TYPES or bool(old.get("protect"))
        result.changes.append(Change("delete", urn, old["type"], old["name"], destructive=destructive))
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
                  destructive)


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
        lines.append(f"{SYMBOLS[change.action]:>2} {change.action:<8} {change.type}  {change.name}{fields}{mark}")
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
    lines += ["| action | type | name | changed fields |", "|---|---|---|---|"]
    for change in diff.changes:
        fields = ", ".join(f"`{f}`" for f in change.fields[:8]) + (" ..." if len(change.fields) > 8 else "")
        mark = " **destructive**" if change.destructive else ""
        lines.append(f"| {change.action}{mark} | `{change.type}` | `{change.name}` | {fields} |")
    return "\n".join(lines) + "\n"
