"""The Pulumi program: read the stack's config, validate everything, then declare the fleet.

`__main__.py` calls main(); `fleet synth` runs that same `__main__.py` under the mock engine.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pulumi

from fleet.fleet import Fleet, HubSide
from fleet.hubref import (
    GIT_TOKEN_OUTPUT,
    HUB_KUBECONFIGS_OUTPUT,
    HUBS_OUTPUT,
    RemoteHub,
    hub_outputs,
    stack_reference_name,
)
from fleet.plan import ClusterPlan
from fleet.problems import Problem
from fleet.settings import NAMESPACE, SECRET_KEYS, SETTING_KEYS
from fleet.shards import HUB_SHARD, find_shard, plan_shards
from fleet.stack import StackConfig, StackResult, clock_today, decode_config_value, plan_stack, resolve_shard


def config_from_pulumi(project_dir: Path) -> tuple[StackConfig, list[Problem]]:
    """The fleet:* settings as the engine hands them to the program (secrets only as markers).
    In a shard's stack: its environment's settings, read from the environment's stack file (the
    shard's own holds only whose shard it is); the secrets arrive through the stack reference."""
    config = pulumi.Config(NAMESPACE)
    values = {}
    for key in SETTING_KEYS:
        if key in SECRET_KEYS:  # only whether it is set; the value stays a secret Output
            if config.get_secret(key) is not None:
                values[f"{NAMESPACE}:{key}"] = True
            continue
        raw = config.get(key)
        if raw is not None:
            values[f"{NAMESPACE}:{key}"] = decode_config_value(raw)
    gcp_project = pulumi.Config("gcp").get("project")
    if gcp_project:
        values["gcp:project"] = gcp_project
    stack = pulumi.get_stack()
    own = StackConfig(stack, f"Pulumi.{stack}.yaml", values)
    return resolve_shard(own, project_dir) if f"{NAMESPACE}:shardOf" in values else (own, [])


def main(project_dir: Path) -> StackResult:
    # The SDKs allocate thousands of objects per resource; with the default thresholds the cyclic
    # collector rescans the growing heap again and again (half the CPU). Collect less, as mypy does.
    gc.set_threshold(200_000, 30, 30)
    config, problems = config_from_pulumi(project_dir)
    today, trouble = clock_today()  # FLEET_AS_OF (`fleet synth` sets it), else today: docs/upgrading.md
    problems = problems + trouble
    result = plan_stack(config, project_dir, today) if not problems else None
    problems = problems or (result.problems if result else [])
    if problems or result is None:
        # RunError stops the update with these lines and no traceback; nothing was declared yet.
        raise pulumi.RunError(
            f"{len(problems)} problem(s) in the fleet declaration:\n" + "\n".join(str(p) for p in problems)
        )
    for warning in result.plan.warnings:  # the calendar's warnings: shown by preview and up, never fatal
        pulumi.log.warn(str(warning))
    if config.shard is not None:
        fleet = _shard_fleet(config, result)
    else:
        sharded = result.settings.sharding == "region"
        hub_shard = find_shard(plan_shards(result.plan, config.stack), HUB_SHARD)
        held = hub_shard.clusters if sharded and hub_shard else None
        git_token = pulumi.Config(NAMESPACE).get_secret("gitToken")
        fleet = Fleet(pulumi.get_project(), result.plan, git_token=git_token, clusters=held,
                      shared_grants="all" if sharded else "own")
        if sharded:
            export_hub_outputs(fleet, git_token)
    export_outputs(fleet)
    return result


def _shard_fleet(config: StackConfig, result: StackResult) -> Fleet:
    """A shard stack: its region's clusters, registered on hubs the environment's stack holds."""
    assert config.shard is not None
    shard = find_shard(plan_shards(result.plan, config.stack, {config.shard}), config.shard)
    assert shard is not None
    references: list[pulumi.StackReference] = []

    def reference() -> pulumi.StackReference:
        if not references:  # one reference, made only when needed (a retired shard reads nothing)
            references.append(pulumi.StackReference(f"{config.stack}-environment",
                                                    stack_name=stack_reference_name(config.stack)))
        return references[0]

    def remote_hub(hub: ClusterPlan, spoke_clouds: tuple[str, ...]) -> HubSide:
        remote = RemoteHub(hub, reference(), spoke_clouds)
        return HubSide(remote.handle, remote, remote.identities, remote)

    git_token = None
    if result.settings.git_token is not None and shard.clusters:
        git_token = pulumi.Output.secret(reference().require_output(GIT_TOKEN_OUTPUT))
    return Fleet(pulumi.get_project(), result.plan, git_token=git_token, clusters=shard.clusters,
                 remote_hub=remote_hub, shared_grants="none")


def export_hub_outputs(fleet: Fleet, git_token: pulumi.Output[str] | None) -> None:
    """What the shard stacks read through their stack reference (fleet.hubref): secrets as secrets."""
    hubs = sorted(fleet.hubs.items())
    pulumi.export(HUBS_OUTPUT, {name: hub_outputs(side.handle, side.identities) for name, side in hubs})
    pulumi.export(HUB_KUBECONFIGS_OUTPUT, pulumi.Output.secret({name: side.handle.kubeconfig for name, side in hubs}))
    if git_token is not None:
        pulumi.export(GIT_TOKEN_OUTPUT, pulumi.Output.secret(git_token))


def export_outputs(fleet: Fleet) -> None:
    clusters = {}
    kubeconfigs = {}
    for name, member in sorted(fleet.members.items()):
        handle = member.handle
        clusters[name] = {"provider": handle.provider, "location": handle.location,
                          "endpoint": handle.endpoint, "oidcIssuer": handle.oidc_issuer}
        kubeconfigs[name] = pulumi.Output.secret(handle.kubeconfig)
    pulumi.export("clusters", clusters)
    pulumi.export("kubeconfigs", pulumi.Output.secret(kubeconfigs))
