"""Cloud modules, loaded by name so a stack only imports the SDKs of the clouds it uses."""

from __future__ import annotations

import importlib
from types import ModuleType

CLOUD_MODULES = {"aws": "fleet.clouds.aws", "azure": "fleet.clouds.azure", "gcp": "fleet.clouds.gcp"}


def load(provider: str) -> ModuleType:
    """The module for `provider` (imports its cloud SDK on first use, and only then)."""
    return importlib.import_module(CLOUD_MODULES[provider])
