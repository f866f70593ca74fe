"""fleet.rules' resource rules as CrossGuard policies.

Each rule of fleet.rules.resource_rules(day) becomes one policy of the same name: a
ResourceValidationPolicy when one resource is enough to judge it, a StackValidationPolicy when a
guarantee lives in a companion resource (the EKS Pod Identity add-on, the AKS deletion lock).
What the policy SDK hands over is first turned into the shape `fleet synth` records
(fleet.rules.Resource: engine property names, secrets as "[secret]", unknowns as "[unknown]"),
so a rule sees the same thing in `pulumi preview` as offline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pulumi_policy.policy as _sdk
from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

from fleet import rules

PACK_NAME = "fleet-guardrails"

# --- secrets stay visible as secrets ---------------------------------------------------------
# The engine sends a policy pack every value with its secret marker, but the Python policy SDK
# strips the marker before a policy sees it, so "this credential is not marked secret" could not
# be told apart from "this credential is a secret". The SDK deserialises through the module-level
# name `deserialize_properties`; wrapping it keeps a secret as the string "[secret]" (what
# `fleet synth` writes). Remediation calls (proxy_secrets=True) are left alone.
# tests/test_policy_pack.py drives the SDK's own analyzer with a real AnalyzeRequest, so an SDK
# release that changes this path fails the test suite instead of silently weakening the rule.
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
_original_deserialize: Callable[..., Any] = _sdk.deserialize_properties


def _mark_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return rules.SECRET
        return {k: _mark_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_secrets(v) for v in value]
    return value


def _deserialize_with_secret_markers(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    if proxy_secrets:
        return _original_deserialize(props, True)
    return _original_deserialize(_mark_secrets(props), False)


def keep_secret_markers() -> None:
    """Make the policy SDK show secret values as "[secret]" (idempotent)."""
    _sdk.deserialize_properties = _deserialize_with_secret_markers


# --- the SDK's view -> fleet.rules.Resource ----------------------------------------------------

UNKNOWN_SENTINELS = frozenset({
    _proxy.UNKNOWN_BOOLEAN_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_STRING_VALUE,
    _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_ASSET_VALUE, _proxy.UNKNOWN_ARCHIVE_VALUE,
    _proxy.UNKNOWN_OBJECT_VALUE,
})


def plain(value: Any) -> Any:
    """Plain dicts and lists from the SDK's unknown-checking proxies; unknowns as "[unknown]"."""
    if isinstance(value, Mapping | _proxy._ListProxy):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            value = value["__target"]  # the proxy's own data: reading it raises nothing on unknowns
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return rules.UNKNOWN
    return value


def _kubernetes_cluster(provider: Any) -> str | None:
    if provider is None or provider.resource_type != "pulumi:providers:kubernetes":
        return None
    identifier = plain(provider.props).get("clusterIdentifier")
    return identifier if isinstance(identifier, str) and identifier != rules.UNKNOWN else None


def resource_from_args(args: ResourceValidationArgs) -> rules.Resource:
    return rules.Resource(args.resource_type, args.name, args.urn, plain(args.props), bool(args.opts.protect),
                          (), _kubernetes_cluster(args.provider))


def resource_from_stack(resource: PolicyResource) -> rules.Resource:
    return rules.Resource(resource.resource_type, resource.name, resource.urn, plain(resource.props),
                          bool(resource.opts.protect), tuple(d.urn for d in resource.dependencies),
                          _kubernetes_cluster(resource.provider),
                          resource.parent.urn if resource.parent is not None else None,
                          resource.provider.urn if resource.provider is not None else None)


# --- policies ----------------------------------------------------------------------------------


def _resource_policy(rule: rules.ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(resource_from_args(args), ()):
            report_violation(f"[{rule.id}] {message}", None)

    return ResourceValidationPolicy(name=rule.id, description=rule.description, validate=validate)


def _stack_policy(rule: rules.ResourceRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = rules.Stack([resource_from_stack(r) for r in args.resources])
        for resource in stack:
            for message in rule.check(resource, stack):
                report_violation(f"[{rule.id}] {message}", resource.urn)

    return StackValidationPolicy(name=rule.id, description=rule.description, validate=validate)


def policies(today: date) -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """One policy per fleet.rules resource rule, the support calendar judged at `today` (and the
    secret markers turned on)."""
    keep_secret_markers()
    return [_stack_policy(rule) if rule.needs_stack else _resource_policy(rule)
            for rule in rules.resource_rules(today)]
