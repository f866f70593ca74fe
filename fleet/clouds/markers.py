"""The inputs that mark fleet's own dynamic resources (the AKS propagation gates and system-pool
guards), in a module without Pulumi, so the rules that look for them (fleet.behaviour) do not load
the SDK into `fleet validate`."""

GATE_MARKER = "azure-rbac-propagation"  # the `gate` input every propagation gate carries
GUARD_MARKER = "aks-inline-system-pool"  # the `guard` input every inline system-pool guard carries
