"""Node size classes -> instance types, one table for every cloud (documented in the README).

Each class is the same shape everywhere: general-purpose, current generation, x86_64.
small = 2 vCPU / 8 GiB, medium = 4 / 16, large = 8 / 32, xlarge = 16 / 64.
"""

from __future__ import annotations

INSTANCE_TYPES: dict[str, dict[str, str]] = {
    "aws": {"small": "m7i.large", "medium": "m7i.xlarge", "large": "m7i.2xlarge", "xlarge": "m7i.4xlarge"},
    "azure": {"small": "Standard_D2s_v5", "medium": "Standard_D4s_v5", "large": "Standard_D8s_v5",
              "xlarge": "Standard_D16s_v5"},
    "gcp": {"small": "n2-standard-2", "medium": "n2-standard-4", "large": "n2-standard-8",
            "xlarge": "n2-standard-16"},
}

OS_DISK_GB: dict[str, int] = {"small": 64, "medium": 100, "large": 128, "xlarge": 256}


def instance_type(provider: str, size: str) -> str:
    return INSTANCE_TYPES[provider][size]
