"""Where clusters can run: every supported location per cloud, as data.

Each location carries a *network block number*. Block numbers are append-only: a location
keeps its number for ever, new locations get new numbers at the end of their cloud's range.
Cluster address ranges are derived from the block number (see fleet.plan), so this table is
what keeps ranges independent of the order of region entries.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDERS = ("aws", "azure", "gcp")


@dataclass(frozen=True)
class Location:
    provider: str
    name: str  # the cloud's own region name
    block: int  # stable network block number, 0..127, unique across clouds
    zones: tuple[str, ...]  # zone names as the cloud's API expects them
    jurisdiction: str  # "EU" for EU/EEA member states, else a country/area code


def _aws(name: str, block: int, zones: str, jurisdiction: str) -> Location:
    return Location("aws", name, block, tuple(f"{name}{z}" for z in zones), jurisdiction)


def _azure(name: str, block: int, jurisdiction: str, zones: str = "123") -> Location:
    return Location("azure", name, block, tuple(zones), jurisdiction)


def _gcp(name: str, block: int, zones: str, jurisdiction: str) -> Location:
    return Location("gcp", name, block, tuple(f"{name}-{z}" for z in zones), jurisdiction)


# Blocks 0-39 AWS, 40-84 Azure, 85-127 GCP. Append only; never renumber.
_LOCATIONS: tuple[Location, ...] = (
    _aws("us-east-1", 0, "abc", "US"),
    _aws("us-east-2", 1, "abc", "US"),
    _aws("us-west-1", 2, "bc", "US"),
    _aws("us-west-2", 3, "abc", "US"),
    _aws("ca-central-1", 4, "abd", "CA"),
    _aws("sa-east-1", 5, "abc", "BR"),
    _aws("eu-west-1", 6, "abc", "EU"),
    _aws("eu-west-2", 7, "abc", "UK"),
    _aws("eu-west-3", 8, "abc", "EU"),
    _aws("eu-central-1", 9, "abc", "EU"),
    _aws("eu-central-2", 10, "abc", "CH"),
    _aws("eu-north-1", 11, "abc", "EU"),
    _aws("eu-south-1", 12, "abc", "EU"),
    _aws("eu-south-2", 13, "abc", "EU"),
    _aws("ap-northeast-1", 14, "acd", "JP"),
    _aws("ap-northeast-2", 15, "abc", "KR"),
    _aws("ap-northeast-3", 16, "abc", "JP"),
    _aws("ap-southeast-1", 17, "abc", "SG"),
    _aws("ap-southeast-2", 18, "abc", "AU"),
    _aws("ap-south-1", 19, "abc", "IN"),
    _aws("ap-east-1", 20, "abc", "HK"),
    _aws("me-central-1", 21, "abc", "AE"),
    _aws("af-south-1", 22, "abc", "ZA"),
    _aws("il-central-1", 23, "abc", "IL"),
    _azure("eastus", 40, "US"),
    _azure("eastus2", 41, "US"),
    _azure("centralus", 42, "US"),
    _azure("southcentralus", 43, "US"),
    _azure("westus2", 44, "US"),
    _azure("westus3", 45, "US"),
    _azure("canadacentral", 46, "CA"),
    _azure("brazilsouth", 47, "BR"),
    _azure("westeurope", 48, "EU"),
    _azure("northeurope", 49, "EU"),
    _azure("germanywestcentral", 50, "EU"),
    _azure("francecentral", 51, "EU"),
    _azure("swedencentral", 52, "EU"),
    _azure("italynorth", 53, "EU"),
    _azure("polandcentral", 54, "EU"),
    _azure("spaincentral", 55, "EU"),
    _azure("norwayeast", 56, "EU"),
    _azure("uksouth", 57, "UK"),
    _azure("switzerlandnorth", 58, "CH"),
    _azure("japaneast", 59, "JP"),
    _azure("koreacentral", 60, "KR"),
    _azure("southeastasia", 61, "SG"),
    _azure("eastasia", 62, "HK"),
    _azure("australiaeast", 63, "AU"),
    _azure("centralindia", 64, "IN"),
    _azure("uaenorth", 65, "AE"),
    _azure("southafricanorth", 66, "ZA"),
    _gcp("us-east1", 85, "bcd", "US"),
    _gcp("us-east4", 86, "abc", "US"),
    _gcp("us-central1", 87, "abc", "US"),
    _gcp("us-west1", 88, "abc", "US"),
    _gcp("us-west2", 89, "abc", "US"),
    _gcp("northamerica-northeast1", 90, "abc", "CA"),
    _gcp("southamerica-east1", 91, "abc", "BR"),
    _gcp("europe-west1", 92, "bcd", "EU"),
    _gcp("europe-west2", 93, "abc", "UK"),
    _gcp("europe-west3", 94, "abc", "EU"),
    _gcp("europe-west4", 95, "abc", "EU"),
    _gcp("europe-west6", 96, "abc", "CH"),
    _gcp("europe-west8", 97, "abc", "EU"),
    _gcp("europe-west9", 98, "abc", "EU"),
    _gcp("europe-north1", 99, "abc", "EU"),
    _gcp("europe-central2", 100, "abc", "EU"),
    _gcp("europe-southwest1", 101, "abc", "EU"),
    _gcp("asia-northeast1", 102, "abc", "JP"),
    _gcp("asia-northeast3", 103, "abc", "KR"),
    _gcp("asia-southeast1", 104, "abc", "SG"),
    _gcp("asia-east1", 105, "abc", "TW"),
    _gcp("asia-south1", 106, "abc", "IN"),
    _gcp("australia-southeast1", 107, "abc", "AU"),
    _gcp("me-central1", 108, "abc", "QA"),
)

LOCATIONS: dict[tuple[str, str], Location] = {(loc.provider, loc.name): loc for loc in _LOCATIONS}

# Friendly, cloud-neutral region names -> each cloud's region.
ALIASES: dict[str, dict[str, str]] = {
    "us-east": {"aws": "us-east-1", "azure": "eastus", "gcp": "us-east1"},
    "us-central": {"aws": "us-east-2", "azure": "centralus", "gcp": "us-central1"},
    "us-west": {"aws": "us-west-2", "azure": "westus2", "gcp": "us-west1"},
    "ca-central": {"aws": "ca-central-1", "azure": "canadacentral", "gcp": "northamerica-northeast1"},
    "sa-east": {"aws": "sa-east-1", "azure": "brazilsouth", "gcp": "southamerica-east1"},
    "eu-west": {"aws": "eu-west-1", "azure": "westeurope", "gcp": "europe-west1"},
    "eu-central": {"aws": "eu-central-1", "azure": "germanywestcentral", "gcp": "europe-west3"},
    "eu-north": {"aws": "eu-north-1", "azure": "swedencentral", "gcp": "europe-north1"},
    "eu-south": {"aws": "eu-south-1", "azure": "italynorth", "gcp": "europe-west8"},
    "eu-france": {"aws": "eu-west-3", "azure": "francecentral", "gcp": "europe-west9"},
    "uk-south": {"aws": "eu-west-2", "azure": "uksouth", "gcp": "europe-west2"},
    "ap-northeast": {"aws": "ap-northeast-1", "azure": "japaneast", "gcp": "asia-northeast1"},
    "ap-southeast": {"aws": "ap-southeast-1", "azure": "southeastasia", "gcp": "asia-southeast1"},
    "ap-south": {"aws": "ap-south-1", "azure": "centralindia", "gcp": "asia-south1"},
    "au-east": {"aws": "ap-southeast-2", "azure": "australiaeast", "gcp": "australia-southeast1"},
}


# Where each location is, as the clouds name it (AWS:
# https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html, Azure:
# https://learn.microsoft.com/azure/reliability/regions-list, Google Cloud:
# https://cloud.google.com/compute/docs/regions-zones). Used to suggest one cloud's equivalent of
# another cloud's region name.
CITIES: dict[str, str] = {
    "us-east-1": "N. Virginia", "us-east-2": "Ohio", "us-west-1": "N. California", "us-west-2": "Oregon",
    "ca-central-1": "Montreal", "sa-east-1": "Sao Paulo", "eu-west-1": "Dublin", "eu-west-2": "London",
    "eu-west-3": "Paris", "eu-central-1": "Frankfurt", "eu-central-2": "Zurich", "eu-north-1": "Stockholm",
    "eu-south-1": "Milan", "eu-south-2": "Aragon", "ap-northeast-1": "Tokyo", "ap-northeast-2": "Seoul",
    "ap-northeast-3": "Osaka", "ap-southeast-1": "Singapore", "ap-southeast-2": "Sydney",
    "ap-south-1": "Mumbai", "ap-east-1": "Hong Kong", "me-central-1": "UAE", "af-south-1": "Cape Town",
    "il-central-1": "Tel Aviv",
    "eastus": "Virginia", "eastus2": "Virginia", "centralus": "Iowa", "southcentralus": "Texas",
    "westus2": "Washington", "westus3": "Arizona", "canadacentral": "Toronto", "brazilsouth": "Sao Paulo",
    "westeurope": "Netherlands", "northeurope": "Dublin", "germanywestcentral": "Frankfurt",
    "francecentral": "Paris", "swedencentral": "Gavle", "italynorth": "Milan", "polandcentral": "Warsaw",
    "spaincentral": "Madrid", "norwayeast": "Oslo", "uksouth": "London", "switzerlandnorth": "Zurich",
    "japaneast": "Tokyo", "koreacentral": "Seoul", "southeastasia": "Singapore", "eastasia": "Hong Kong",
    "australiaeast": "Sydney", "centralindia": "Pune", "uaenorth": "Dubai", "southafricanorth": "Johannesburg",
    "us-east1": "South Carolina", "us-east4": "N. Virginia", "us-central1": "Iowa", "us-west1": "Oregon",
    "us-west2": "Los Angeles", "northamerica-northeast1": "Montreal", "southamerica-east1": "Sao Paulo",
    "europe-west1": "Belgium", "europe-west2": "London", "europe-west3": "Frankfurt",
    "europe-west4": "Netherlands", "europe-west6": "Zurich", "europe-west8": "Milan", "europe-west9": "Paris",
    "europe-north1": "Finland", "europe-central2": "Warsaw", "europe-southwest1": "Madrid",
    "asia-northeast1": "Tokyo", "asia-northeast3": "Seoul", "asia-southeast1": "Singapore",
    "asia-east1": "Taiwan", "asia-south1": "Mumbai", "australia-southeast1": "Sydney", "me-central1": "Doha",
}


def clouds_of(name: str) -> list[str]:
    """The clouds (other than none) that have a location called `name`."""
    return [provider for provider in PROVIDERS if (provider, name) in LOCATIONS]


def equivalent(name: str, source: str, target: str) -> Location | None:
    """`target` cloud's counterpart of `source` cloud's location `name`: the same city, else the
    same alias, else the first location in the same jurisdiction."""
    origin = LOCATIONS.get((source, name))
    if origin is None:
        return None
    candidates = [loc for loc in _LOCATIONS if loc.provider == target]
    same_city = [loc for loc in candidates if CITIES[loc.name] == CITIES[name]]
    same_alias = [LOCATIONS[(target, per_cloud[target])] for per_cloud in ALIASES.values()
                  if per_cloud.get(source) == name and target in per_cloud]
    same_area = [loc for loc in candidates if loc.jurisdiction == origin.jurisdiction]
    return (same_city or same_alias or same_area or [None])[0]


def resolve_location(provider: str, region_name: str, location: str | None) -> Location | None:
    """The cloud location a region entry means: explicit `location`, else alias, else the name."""
    wanted = location or ALIASES.get(region_name, {}).get(provider) or region_name
    return LOCATIONS.get((provider, wanted))


def locations_of(provider: str) -> list[str]:
    return [name for (cloud, name) in LOCATIONS if cloud == provider]


def _check_table() -> None:
    blocks = [loc.block for loc in _LOCATIONS]
    assert len(blocks) == len(set(blocks)), "network block numbers must be unique"
    assert all(0 <= b < 128 for b in blocks), "network block numbers are 0..127"
    for alias, per_cloud in ALIASES.items():
        for provider, name in per_cloud.items():
            assert (provider, name) in LOCATIONS, f"alias {alias} -> unknown {provider}/{name}"
    assert set(CITIES) == {loc.name for loc in _LOCATIONS}, "every location has a city"


_check_table()
