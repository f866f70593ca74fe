"""The Pulumi program: read the stack's config, validate everything, then declare the fleet.

`__main__.py` calls main(); `fleet synth` runs that same `__main__.py` under the mock engine.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pulumi

from fleet.fleet import Fleet
from fleet.settings import NAMESPACE, SECRET_KEYS, SETTING_KEYS
from fleet.stack import StackConfig, StackResult, decode_config_value, plan_stack


def config_from_pulumi() -> StackConfig:
    """The fleet:* settings as the engine hands them to the program (secrets only as markers)."""
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
    return StackConfig(stack, f"Pulumi.{stack}.yaml", values)


def main(project_dir: Path) -> StackResult:
    # The SDKs allocate thousands of objects per resource; with the default thresholds the cyclic
    # collector rescans the growing heap again and again (half the CPU). Collect less, as mypy does.
    gc.set_threshold(200_000, 30, 30)
    result = plan_stack(config_from_pulumi(), project_dir)
    if result.problems:
        # RunError stops the update with these lines and no traceback; nothing was declared yet.
        raise pulumi.RunError(
            f"{len(result.problems)} problem(s) in the fleet declaration:\n"
            + "\n".join(str(p) for p in result.problems)
        )
    git_token = pulumi.Config(NAMESPACE).get_secret("gitToken")
    fleet = Fleet(pulumi.get_project(), result.plan, git_token=git_token)
    export_outputs(fleet)
    return result


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
