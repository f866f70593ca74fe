"""Generated fleets: blueprints plus one ClusterSet, written as temporary declaration files.

Clusters are spread round-robin over AWS, Azure and GCP, and within a cloud over as many
locations as needed (at most `per_location` spokes per location, below the 15 address slots of
fleet.plan). Region entries alternate between a Flux and an Argo CD blueprint, so both bootstraps
and both registration paths are exercised. The hub runs Argo CD on AWS, as in Pulumi.prod.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from fleet.plan import MAX_CLUSTERS_PER_ENTRY, NAME_LIMITS
from fleet.spec.regions import PROVIDERS, locations_of

SET_NAME = "bench"
HUB = {"template": "bench-hub", "provider": "aws", "location": "us-east-1"}
SPOKE_TEMPLATES = ("bench-flux", "bench-argocd")
KUBERNETES_VERSION = "1.35"


def _template(name: str, engine: str, pools: list[dict]) -> dict:
    return {
        "apiVersion": "fleet.example.com/v1",
        "kind": "ClusterTemplate",
        "metadata": {"name": name},
        "spec": {
            "version": KUBERNETES_VERSION,
            "networking": {"cni": "cilium", "serviceType": "internal", "apiAccess": "authorized"},
            "security": {"policyEngine": "OPA", "imageScanning": True, "secretsEncryption": True},
            "observability": {"prometheus": True, "opentelemetry": True},
            "nodePools": pools,
            "gitops": {"engine": engine},
        },
    }


# The shapes of blueprints/production.yaml: a system pool, a general pool and a spot batch pool.
_SPOKE_POOLS = [
    {"name": "system", "size": "medium", "min": 3, "max": 6, "system": True},
    {"name": "general", "size": "large", "min": 3, "max": 30},
    {"name": "batch", "size": "xlarge", "min": 0, "max": 20, "spot": True,
     "labels": {"workload-class": "batch"},
     "taints": [{"key": "workload-class", "value": "batch", "effect": "NoSchedule"}]},
]
_HUB_POOLS = [
    {"name": "system", "size": "medium", "min": 3, "max": 5, "system": True},
    {"name": "platform", "size": "large", "min": 2, "max": 6},
]

BLUEPRINTS = [
    _template("bench-hub", "argocd", _HUB_POOLS),
    _template("bench-flux", "flux", _SPOKE_POOLS),
    _template("bench-argocd", "argocd", _SPOKE_POOLS),
]


@dataclass(frozen=True)
class Entry:
    """One region entry of the generated ClusterSet."""

    name: str
    provider: str
    location: str
    clusters: int
    template: str

    def as_document(self) -> dict:
        return {"name": self.name, "provider": self.provider, "location": self.location,
                "clusters": self.clusters, "template": self.template, "labels": {"tier": "bench"}}

    def cluster_names(self) -> list[str]:
        return [f"{SET_NAME}-{self.name}-{i + 1:02d}" for i in range(self.clusters)]


def _entry_name(provider: str, location: str) -> str:
    return f"{provider}-{location}"


def spread(spokes: int, per_location: int = 10) -> list[Entry]:
    """`spokes` clusters over the three clouds (round-robin), each cloud over enough locations."""
    assert 1 <= per_location <= MAX_CLUSTERS_PER_ENTRY
    per_cloud = {p: spokes // len(PROVIDERS) + (1 if i < spokes % len(PROVIDERS) else 0)
                 for i, p in enumerate(PROVIDERS)}
    entries: list[Entry] = []
    for provider in PROVIDERS:
        left = per_cloud[provider]
        locations = locations_of(provider)
        needed = -(-left // per_location)
        if needed > len(locations):
            raise ValueError(f"{spokes} spokes need {needed} {provider} locations at {per_location} per "
                             f"location; {provider} has {len(locations)}")
        for location in locations[:needed]:
            count = min(per_location, left)
            left -= count
            entries.append(Entry(_entry_name(provider, location), provider, location, count, ""))
    # alternate engines over entries, in a stable order
    return [Entry(e.name, e.provider, e.location, e.clusters, SPOKE_TEMPLATES[i % 2])
            for i, e in enumerate(entries)]


def regions(count: int) -> list[Entry]:
    """`count` one-cluster regions, region i on cloud i % 3 and engine (i // 3) % 2: the fleet of
    `count` regions is the fleet of `count - 1` regions plus one new region entry at the end."""
    entries = []
    for i in range(count):
        provider = PROVIDERS[i % len(PROVIDERS)]
        locations = locations_of(provider)
        location = locations[i // len(PROVIDERS)]
        entries.append(Entry(_entry_name(provider, location), provider, location, 1,
                             SPOKE_TEMPLATES[(i // len(PROVIDERS)) % 2]))
    return entries


def single_cloud(provider: str, spokes: int = 2) -> tuple[dict, list[Entry]]:
    """A one-cloud fleet: hub and spokes on `provider` only."""
    location = locations_of(provider)[0]
    hub = {"template": "bench-hub", "provider": provider, "location": location}
    return hub, [Entry(_entry_name(provider, location), provider, location, spokes, SPOKE_TEMPLATES[0])]


def cluster_set(entries: list[Entry], hub: dict | None = None) -> dict:
    for entry in entries:
        for name in entry.cluster_names():
            limit = NAME_LIMITS[entry.provider]
            assert len(name) <= limit, f"{name} is longer than {limit} characters ({entry.provider})"
    return {
        "apiVersion": "fleet.example.com/v1",
        "kind": "ClusterSet",
        "metadata": {"name": SET_NAME},
        "spec": {
            "environment": "production",
            "hub": hub or HUB,
            "regions": [e.as_document() for e in entries],
            "loadBalancing": {"mode": "global", "algorithm": "weighted-least-request"},
        },
    }


def write(folder: Path, entries: list[Entry], hub: dict | None = None) -> list[Path]:
    """Write the blueprints and the ClusterSet into `folder`; the files to pass with `-f`."""
    folder.mkdir(parents=True, exist_ok=True)
    blueprints = folder / "blueprints.yaml"
    blueprints.write_text(yaml.safe_dump_all(BLUEPRINTS, sort_keys=False))
    fleet = folder / "clusterset.yaml"
    fleet.write_text(yaml.safe_dump(cluster_set(entries, hub), sort_keys=False))
    return [blueprints, fleet]


def describe(entries: list[Entry]) -> str:
    per_cloud = {p: sum(e.clusters for e in entries if e.provider == p) for p in PROVIDERS}
    locations = {p: sum(1 for e in entries if e.provider == p) for p in PROVIDERS}
    return ", ".join(f"{p} {per_cloud[p]} in {locations[p]} loc" for p in PROVIDERS)
