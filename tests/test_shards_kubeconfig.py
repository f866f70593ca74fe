"""`fleet kubeconfig --stack prod` of a sharded environment: the environment's stack exports only the
hubs, so the shard stacks (listed from the declaration, as `fleet shards` lists them) are read too
and merged; one not deployed yet is skipped with a note. `pulumi` is faked."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from fleet.cli import main
from fleet.clouds.kubeconfig import ExecPlugin, kubeconfig_document
from tests.test_shards_synth import EU_WEST, US_EAST, US_WEST, project


def kubeconfigs(*names: str) -> dict[str, str]:
    """`pulumi stack output kubeconfigs --show-secrets --json` of a stack holding `names`."""
    return {n: yaml.safe_dump(kubeconfig_document(n, f"https://{n}.example", "Q0E=", ExecPlugin("aws"))) for n in names}


class FakePulumi:
    """subprocess.run for `pulumi stack output`: each stack's outputs, or Pulumi's error for a stack
    that does not exist."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs, self.asked = outputs, []

    def __call__(self, command: list[str], **_: Any) -> subprocess.CompletedProcess:
        assert command[:3] == ["pulumi", "stack", "output"] and "--show-secrets" in command
        stack = command[command.index("--stack") + 1]
        self.asked.append(stack)
        if stack not in self.outputs:
            raise subprocess.CalledProcessError(255, command, "", f"error: no stack named '{stack}' found\n")
        return subprocess.CompletedProcess(command, 0, json.dumps(self.outputs[stack]), "")


def contexts(text: str) -> list[str]:
    return sorted(c["name"] for c in yaml.safe_load(text)["contexts"])


@pytest.fixture
def pulumi(monkeypatch: pytest.MonkeyPatch):
    def install(outputs: dict[str, Any]) -> FakePulumi:
        fake = FakePulumi(outputs)
        monkeypatch.setattr("fleet.cli.subprocess.run", fake)
        return fake
    return install


def test_a_sharded_environment_merges_its_shard_stacks_and_skips_one_not_deployed(tmp_path, monkeypatch,
                                                                                  capsys, pulumi):
    monkeypatch.chdir(project(tmp_path, [US_EAST, US_WEST, EU_WEST]))
    fake = pulumi({"prod": kubeconfigs("fleet-hub"),
                   "prod.us-east": kubeconfigs("fleet-us-east-01", "fleet-us-east-02"),
                   "prod.eu-west": kubeconfigs("fleet-eu-west-01")})  # prod.us-west: not deployed yet
    target = tmp_path / "config"
    assert main(["kubeconfig", "--stack", "prod", "-o", str(target)]) == 0
    assert fake.asked == ["prod", "prod.eu-west", "prod.us-east", "prod.us-west"]
    assert contexts(target.read_text()) == ["fleet-eu-west-01", "fleet-hub", "fleet-us-east-01", "fleet-us-east-02"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fleet kubeconfig: skipped stack prod.us-west: not deployed yet "
                   "(error: no stack named 'prod.us-west' found)", "wrote 4 contexts to " + str(target)]
    # --cluster picks from every stack
    assert main(["kubeconfig", "--stack", "prod", "--cluster", "fleet-eu-west-01"]) == 0
    assert contexts(capsys.readouterr().out) == ["fleet-eu-west-01"]


def test_a_single_stack_environment_and_a_shards_own_stack_read_one_stack(tmp_path, monkeypatch, capsys, pulumi):
    monkeypatch.chdir(project(tmp_path / "single", [US_EAST], sharding="none"))
    fake = pulumi({"prod": kubeconfigs("fleet-hub", "fleet-us-east-01")})
    assert main(["kubeconfig", "--stack", "prod"]) == 0
    assert fake.asked == ["prod"] and contexts(capsys.readouterr().out) == ["fleet-hub", "fleet-us-east-01"]
    folder = project(tmp_path / "sharded", [US_EAST])
    (folder / "Pulumi.prod.us-east.yaml").write_text("config:\n  fleet:shardOf: prod\n  fleet:shard: us-east\n")
    monkeypatch.chdir(folder)
    fake = pulumi({"prod.us-east": kubeconfigs("fleet-us-east-01")})
    assert main(["kubeconfig", "--stack", "prod.us-east"]) == 0
    assert fake.asked == ["prod.us-east"] and contexts(capsys.readouterr().out) == ["fleet-us-east-01"]


def test_an_environment_with_no_cluster_deployed_anywhere_is_one_line(tmp_path, monkeypatch, capsys, pulumi):
    monkeypatch.chdir(project(tmp_path, [US_EAST]))
    pulumi({"prod": {}})
    assert main(["kubeconfig", "--stack", "prod"]) == 1
    out, err = capsys.readouterr()
    assert not out and err.strip().splitlines()[-1] == (
        "`pulumi stack output kubeconfigs` of stack prod and its shard stacks hold no cluster; has the "
        "environment been deployed (`fleet up --stack prod`)?")


def test_a_sharded_declaration_with_problems_is_one_line_before_pulumi_runs(tmp_path, monkeypatch, capsys, pulumi):
    folder = project(tmp_path, [US_EAST])
    stack_file = folder / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("production-blueprint", "production-bluprint"))
    monkeypatch.chdir(folder)
    fake = pulumi({"prod": kubeconfigs("fleet-hub")})
    assert main(["kubeconfig", "--stack", "prod"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("fleet kubeconfig: prod is sharded, but its shard stacks cannot be listed: 1 problem(s), "
                           "the first: ") and "unknown template 'production-bluprint'" in line
    assert fake.asked == []


def test_the_shard_stacks_are_those_fleet_shards_lists(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(project(tmp_path, [US_EAST, EU_WEST]))
    assert main(["shards", "--stack", "prod", "--json", "--no-write"]) == 0
    listed = [row["stack"] for row in json.loads(capsys.readouterr().out) if row["shard"] != "hub"]
    from fleet.cli import _shard_stacks

    assert _shard_stacks("prod") == listed == ["prod.eu-west", "prod.us-east"]
    assert _shard_stacks("staging") == [] and _shard_stacks("../prod") == []
