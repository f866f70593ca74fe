"""The pull-request preview of targeting: a base checkout and a head checkout, as the offline job
has them (`fleet targets --base DIR --format markdown`), with the warnings that must stand out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fleet import cli
from fleet.stack import PROJECT_DIR


def checkout(root: Path) -> Path:
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"):
        shutil.copy(PROJECT_DIR / name, root / name)
    shutil.copytree(PROJECT_DIR / "blueprints", root / "blueprints")
    shutil.copytree(PROJECT_DIR / "gitops", root / "gitops")
    return root


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return checkout(tmp_path / "base"), checkout(tmp_path / "head")


def preview(head: Path, base: Path, stack: str, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.chdir(head)
    code = cli.main(["targets", "--stack", stack, "--base", str(base), "--format", "markdown"])
    return code, capsys.readouterr().out


def edit_yaml(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    documents = list(yaml.safe_load_all(path.read_text()))
    change(documents)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def test_no_change_no_warning(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    base, head = pair
    code, out = preview(head, base, "prod", monkeypatch, capsys)
    assert code == 0
    assert "No targeting change" in out and "CAUTION" not in out
    assert "```mermaid" in out and "classDef" not in out


def test_widened_gdpr_selector_warns(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The war story as a pull request: the GDPR ApplicationSet now selects every workload cluster."""
    base, head = pair

    def widen(documents: list) -> None:
        documents[0]["spec"]["generators"][0]["clusters"]["selector"] = {"matchLabels": {"purpose": "workload"}}

    edit_yaml(head / "gitops/addons/argocd/base/compliance-gdpr.yaml", widen)
    code, out = preview(head, base, "prod", monkeypatch, capsys)
    assert code == 2
    caution = out.split("> [!CAUTION]")[1].split("\n\n")[0]
    for cluster in ("production-fleet-us-east-01", "production-fleet-us-east-02", "production-fleet-us-east-03",
                    "production-fleet-us-central-01"):
        assert f"**compliance-scope**: `ApplicationSet/argocd/compliance-gdpr` on `{cluster}`" in caution
    assert "production-fleet-eu-west-01`:" not in caution  # the GDPR clusters are where it belongs
    assert "+`production-fleet-us-east-01`" in out


def test_production_layer_reaching_staging_warns(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Staging's Flux add-on layer starts including the production guardrails."""
    base, head = pair

    def include(documents: list) -> None:
        documents[0]["resources"].append("../production/production-guardrails.yaml")

    edit_yaml(head / "gitops/addons/flux/staging/kustomization.yaml", include)
    code, out = preview(head, base, "staging", monkeypatch, capsys)
    assert code == 2
    assert "**misplaced**: `Kustomization/flux-system/production-guardrails` on `staging-fleet-eu-west-01`" in out
    assert "placement.fleet.example.com/environment=production but the cluster's ENVIRONMENT is 'staging'" in out


def test_addon_losing_every_target_warns(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    base, head = pair

    def typo(documents: list) -> None:
        documents[0]["spec"]["generators"][0]["clusters"]["selector"] = {"matchLabels": {"enable_gatekeper": "true"}}

    edit_yaml(head / "gitops/addons/argocd/base/gatekeeper.yaml", typo)
    code, out = preview(head, base, "prod", monkeypatch, capsys)
    assert code == 2
    assert "**lost-every-target**: `ApplicationSet/argocd/gatekeeper`" in out
    assert "reaches no cluster any more: it reached 7 cluster(s) on the base" in out


def test_new_region_moves_targets_and_marks_the_picture(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A declaration change: a new GDPR region reaches the GDPR layer, no warning; the picture marks it."""
    base, head = pair
    stack_file = head / "Pulumi.prod.yaml"
    config = yaml.safe_load(stack_file.read_text())
    regions = config["config"]["fleet:documents"][0]["spec"]["regions"]
    regions.append({"name": "eu-central", "clusters": 1, "template": "production-blueprint", "provider": "gcp",
                    "labels": {"compliance": "gdpr"}})
    stack_file.write_text(yaml.safe_dump(config, sort_keys=False))
    code, out = preview(head, base, "prod", monkeypatch, capsys)
    assert code == 2
    assert "CAUTION" not in out
    row = next(line for line in out.splitlines() if "compliance-gdpr" in line)
    assert "+`production-fleet-eu-central-01`" in row
    assert "classDef added" in out and "class c_production_fleet_eu_central_01_" in out


def test_base_without_the_stack_counts_everything_as_new(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base, head = pair
    (base / "Pulumi.staging.yaml").unlink()
    code, out = preview(head, base, "staging", monkeypatch, capsys)
    assert code == 2
    assert "| `ApplicationSet/argocd/kyverno` | argocd | 1 | new, +`staging-fleet-us-east-01` |" in out


def test_the_workflow_step_appends_the_preview(tmp_path: Path) -> None:
    """The pull-request job's step, run as the runner would: a merge commit whose first parent is the
    base, no base worktree made by an earlier step (the step makes its own), the report appended."""
    import os
    import subprocess
    import sys

    workflow = yaml.safe_load((PROJECT_DIR / ".github/workflows/pr-diff.yml").read_text())
    steps = workflow["jobs"]["diff"]["steps"]
    step = next(s for s in steps if "fleet targets" in s.get("run", ""))
    assert steps.index(step) < next(i for i, s in enumerate(steps) if s.get("name", "").startswith("Write the report"))
    head = checkout(tmp_path / "repo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=head, check=True)
    subprocess.run([*git, "add", "-A"], cwd=head, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=head, check=True)

    def widen(documents: list) -> None:
        documents[0]["spec"]["generators"][0]["clusters"]["selector"] = {}

    edit_yaml(head / "gitops/addons/argocd/base/compliance-gdpr.yaml", widen)
    subprocess.run([*git, "commit", "-qam", "head"], cwd=head, check=True)
    runner = tmp_path / "runner"
    runner.mkdir()
    environment = {**os.environ, "RUNNER_TEMP": str(runner),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=head, env=environment, check=True, timeout=300)
    report = (runner / "diff.md").read_text()
    assert report.count("### Targeting: stack `") == 2
    assert "**compliance-scope**: `ApplicationSet/argocd/compliance-gdpr` on `production-fleet-hub`" in report
    assert "```mermaid" in report


def test_changed_labels_in_the_declaration_move_targets(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The region entry eu-west loses its compliance label: the GDPR layer loses every target, and
    the picture marks both clusters changed."""
    base, head = pair
    stack_file = head / "Pulumi.prod.yaml"
    config = yaml.safe_load(stack_file.read_text())
    for region in config["config"]["fleet:documents"][0]["spec"]["regions"]:
        region.pop("labels", None)
    stack_file.write_text(yaml.safe_dump(config, sort_keys=False))
    code, out = preview(head, base, "prod", monkeypatch, capsys)
    assert code == 2
    assert "**lost-every-target**: `ApplicationSet/argocd/compliance-gdpr`" in out
    assert "-`production-fleet-eu-west-01`" in out
    changed = next(line for line in out.splitlines() if line.startswith("  class ") and line.endswith(" changed"))
    assert "c_production_fleet_eu_west_01_" in changed and "c_production_fleet_eu_west_02_" in changed


def test_a_picture_too_large_for_the_comment_is_left_out() -> None:
    from fleet.targets_preview import MAX_PICTURE, Preview, render_markdown

    small = render_markdown(Preview("prod"), "stack `prod`", "```mermaid\nflowchart LR\n```\n")
    assert "```mermaid" in small
    large = render_markdown(Preview("prod"), "stack `prod`", "x" * (MAX_PICTURE + 1))
    assert "```mermaid" not in large and "too large for the comment" in large
