"""Drop the API-version aliases the azure-native SDK puts on every resource.

azure-native declares, on each resource, one alias per past API version of its type
(`azure-native:containerservice/v20190201:ManagedCluster`, 4 to 113 per resource, about 680 per AKS
cluster), so that a resource created through an explicitly versioned module keeps its state when moved
to the default module. fleet only ever declares the default modules, so no fleet resource has state
under those types and the aliases can never match. They are not free: the Pulumi SDK turns every alias
into a URN Output in `Resource.__init__` (pulumi/pulumi#10010), which cost more than registering the
resources themselves (docs/performance.md), and the engine looks each one up on every `pulumi up`.

A resource transformation is the SDK's hook that runs before aliases are collapsed; the Fleet component
installs it and every resource below inherits it. Any other alias (a rename fleet declares when
something moves, another SDK's type rename) is kept.
"""

from __future__ import annotations

import copy

import pulumi

VERSIONED_PACKAGES = ("azure-native",)


def is_api_version_alias(resource_type: str, alias: object) -> bool:
    """True for an alias that only names the same type under an API-version module:
    `azure-native:containerservice/v20240801:ManagedCluster` for `azure-native:containerservice:ManagedCluster`."""
    if not isinstance(alias, pulumi.Alias) or not isinstance(alias.type_, str):
        return False
    others = (alias.name, alias.parent, alias.stack, alias.project)
    if any(value is not ... for value in others):
        return False
    parts = alias.type_.split(":")
    if len(parts) != 3 or parts[0] not in VERSIONED_PACKAGES:
        return False
    package, module_path, kind = parts
    module, slash, version = module_path.partition("/")
    return bool(slash) and version.startswith("v") and f"{package}:{module}:{kind}" == resource_type


def without_api_version_aliases(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    aliases = args.opts.aliases
    if not aliases or not args.type_.startswith(VERSIONED_PACKAGES):
        return None
    kept = [alias for alias in aliases if not is_api_version_alias(args.type_, alias)]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)
