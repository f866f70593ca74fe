"""Rollouts (issue #14): waves, every transition of a rollout, what each step changes, the soak gate,
and the commands that write each step into the declaration. Dates and times are inputs."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from fleet import rollout as rollouts
from fleet.cli import main
from fleet.plan import FleetPlan
from fleet.rollout_command import edit_set, finish_rollout, set_reached
from fleet.spec.models import Rollout
from fleet.stack import PROJECT_DIR, plan_stack, read_stack_file

DATA = Path(__file__).parent / "data"
DEMO = DATA / "rollout"
HUB = DATA / "hub"
DAY = "2026-12-01"
WAVES = {"canary": ["demo-us-east-01"], "firsts": ["demo-eu-west-01", "demo-us-central-01"],
         "eu": ["demo-eu-west-02"], "rest": ["demo-us-east-02"]}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder)
    monkeypatch.chdir(folder)
    return folder


def _plan(folder: Path) -> FleetPlan:
    config, problems = read_stack_file(folder, "prod")
    assert not problems
    result = plan_stack(config, folder, date(2026, 12, 1))
    assert not result.problems, [str(p) for p in result.problems]
    return result.plan


def _set_reached(folder: Path, value: int) -> None:
    path = folder / "fleet.yaml"
    path.write_text(edit_set(path.read_text(), "demo", set_reached(value)))


# --- waves -------------------------------------------------------------------------------------


def _candidates() -> list[rollouts.Candidate]:
    entries = [("us-east", 2, "aws", {}), ("eu-west", 2, "azure", {"compliance": "gdpr"}), ("us-central", 1, "gcp", {})]
    found = [rollouts.Candidate("demo-hub", "us-east", 0, "hub", "aws", {}, "hub")]
    for region, count, provider, labels in entries:
        found += [rollouts.Candidate(f"demo-{region}-{i + 1:02d}", region, i, "spoke", provider, labels, "base")
                  for i in range(count)]
    return found


def _rollout(waves: list[dict], reached: int = 0) -> Rollout:
    return Rollout.model_validate({"from": "base", "to": "base-v2", "waves": waves, "reached": reached})


def test_waves_select_by_name_first_of_each_entry_region_and_labels_and_the_rest_come_last():
    plans, problems = rollouts.waves(_rollout([
        {"name": "canary", "clusters": ["demo-us-east-01"]},
        {"name": "firsts", "firstOfEachEntry": True},
        {"name": "eu", "selector": {"compliance": "gdpr"}},
    ]), _candidates())
    assert problems == []
    assert {w.name: list(w.clusters) for w in plans} == WAVES
    assert plans[-1].implicit and "demo-hub" not in {c for w in plans for c in w.clusters}  # another template
    plans, _ = rollouts.waves(_rollout([{"name": "us", "regions": ["us-east", "us-central"]}]), _candidates())
    assert [list(w.clusters) for w in plans] == [["demo-us-east-01", "demo-us-east-02", "demo-us-central-01"],
                                                 ["demo-eu-west-01", "demo-eu-west-02"]]


def test_wave_mistakes_are_named_with_their_path():
    _, problems = rollouts.waves(_rollout([
        {"name": "canary", "clusters": ["demo-us-east-09", "demo-hub"]},
        {"name": "again", "clusters": ["demo-us-east-01"]},
        {"name": "again", "regions": ["us-west"]},
        {"name": "rest", "selector": {"cloud": "aws"}},
    ], reached=7), _candidates())
    text = {p.path: p.message for p in problems}
    assert text["spec.rollout.waves[0].clusters[0]"].startswith("no cluster 'demo-us-east-09' in this ClusterSet")
    assert "runs template 'hub', not 'base'" in text["spec.rollout.waves[0].clusters[1]"]
    assert text["spec.rollout.waves[2].name"] == "duplicate wave name 'again'"
    assert text["spec.rollout.waves[2].regions[0]"].startswith("no region entry 'us-west'")
    assert "names the implicit last wave" in text["spec.rollout.waves[3].name"]
    assert "at most" in text["spec.rollout.reached"]


def test_a_rollout_with_unknown_templates_is_refused_by_validate(project, capsys):
    path = project / "fleet.yaml"
    path.write_text(path.read_text().replace("to: base-v2", "to: base-v3"))
    assert main(["validate", "--as-of", DAY]) == 1
    assert "spec.rollout.to: unknown template 'base-v3' (did you mean 'base-v2'?)" in capsys.readouterr().err


def test_the_new_revision_is_checked_on_every_cluster_it_will_reach_before_any_wave_moves(project, capsys):
    """reached: 0 moves nothing, yet a revision the GKE cluster cannot run is refused in the pull
    request that declares the rollout, not on the step that reaches its wave."""
    path = project / "fleet.yaml"
    revision = '  version: "1.36"\n  networking:'
    pinned = '  version: "1.36"\n  nodeImages:\n    gkeNodeVersion: 1.35.1-gke.1396002\n  networking:'
    path.write_text(path.read_text().replace(revision, pinned, 1))
    assert main(["validate", "--as-of", DAY]) == 1
    err = capsys.readouterr().err
    assert ("ClusterTemplate/base-v2: spec.nodeImages.gkeNodeVersion: GKE version 1.35.1-gke.1396002 is not a "
            "version of Kubernetes 1.36") in err
    assert "spec.regions[2]" in err, err


# --- every transition: what each step changes ------------------------------------------------


def _changed(before: FleetPlan, after: FleetPlan) -> set[str]:
    old = {c.name: c for c in before.clusters}
    return {c.name for c in after.clusters if old[c.name] != c}


def test_each_step_changes_only_its_wave_and_git_says_what_each_cluster_runs(project):
    plans = [_plan(project)]
    for reached in range(1, 5):
        _set_reached(project, reached)
        plans.append(_plan(project))
    order = list(WAVES)
    for step in range(4):
        assert _changed(plans[step], plans[step + 1]) == set(WAVES[order[step]]), order[step]
    for step, plan in enumerate(plans):
        new = {name for wave in order[:step] for name in WAVES[wave]}
        for cluster in plan.clusters:
            expected = ("1.36", "base-v2") if cluster.name in new else ("1.35", cluster.template)
            assert (cluster.kubernetes_version, cluster.template) == expected or cluster.is_hub
            assert cluster.wave == next((w for w in order if cluster.name in WAVES[w]), None)


def test_plan_json_gives_each_cluster_its_wave_and_effective_version(project, capsys):
    _set_reached(project, 1)
    assert main(["plan", "--json", "--as-of", DAY]) == 0
    rows = {r["cluster"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["demo-us-east-01"]["wave"] == "canary" and rows["demo-us-east-01"]["version"] == "1.36"
    assert rows["demo-us-east-02"]["wave"] == "rest" and rows["demo-us-east-02"]["version"] == "1.35"
    assert "wave" not in rows["demo-hub"]


def test_plan_text_shows_each_clusters_wave_and_the_revision_it_runs(project, capsys):
    _set_reached(project, 1)
    assert main(["plan", "--as-of", DAY]) == 0
    blocks = {b.splitlines()[0].split()[0]: b for b in capsys.readouterr().out.split("\n\n")[1:]}
    assert "  rollout: wave canary · template base-v2" in blocks["demo-us-east-01"].splitlines()
    assert "  rollout: wave firsts · template base" in blocks["demo-us-central-01"].splitlines()
    assert "  rollout: wave rest · template base" in blocks["demo-us-east-02"].splitlines()
    assert "rollout:" not in blocks["demo-hub"]  # not on the rollout's template


def test_status_markdown_shows_which_clusters_change_in_this_step_and_which_wait(project, tmp_path, capsys):
    base = tmp_path / "base"
    shutil.copytree(project, base)
    _set_reached(project, 2)
    assert main(["rollout", "status", "--format", "markdown", "--base", str(base), "--as-of", DAY]) == 0
    out = capsys.readouterr().out
    assert "| canary | demo-us-east-01 | **changes in this step** |" in out
    assert "| firsts | demo-eu-west-01, demo-us-central-01 | **changes in this step** |" in out
    assert "| eu | demo-eu-west-02 | next step |" in out and "| rest | demo-us-east-02 | waits |" in out
    assert main(["rollout", "status", "--format", "json", "--as-of", DAY]) == 0
    status = json.loads(capsys.readouterr().out)[0]
    assert status["next"] == "advance" and status["nextWave"] == "eu" and status["gatedClusters"] == WAVES["firsts"]


# --- the soak gate: time is an input ----------------------------------------------------------


def test_soak_counts_from_the_apply_time_of_the_previous_wave():
    rollout = _rollout([{"name": "canary", "clusters": ["demo-us-east-01"]}], reached=1)
    plans, _ = rollouts.waves(rollout, _candidates())
    applied = datetime(2026, 12, 1, 11, tzinfo=UTC)
    step = rollouts.next_step(rollout, plans)
    assert step.kind == "advance" and step.previous.name == "canary"
    waiting = rollouts.soak_problem(rollout, step.previous, applied, applied + timedelta(hours=23, minutes=30))
    assert waiting is not None and "ends in 30m" in waiting and "demo-us-east-01" in waiting
    assert rollouts.soak_problem(rollout, step.previous, applied, applied + timedelta(hours=24)) is None
    assert "no apply time" in rollouts.soak_problem(rollout, step.previous, None, applied)
    assert rollouts.soak_problem(rollout, None, None, applied) is None  # the canary waits for nothing


# --- the commands, end to end ------------------------------------------------------------------


def _advance(*extra: str) -> int:
    return main(["rollout", "advance", "--as-of", DAY, *extra])


def test_advance_writes_the_next_step_only_after_the_gates(project, capsys):
    path = project / "fleet.yaml"
    original = path.read_text()
    assert _advance("--now", "2026-12-01T10:00:00Z") == 0  # the canary: no gate before it
    assert path.read_text() == original.replace("reached: 0", "reached: 1")  # one line, comments kept
    capsys.readouterr()
    gate = ["--applied-at", "2026-12-01T11:00:00Z"]
    assert _advance("--now", "2026-12-01T12:00:00Z", *gate, "--hub-state", str(HUB / "argocd")) == 2
    assert "the soak of 24h ends in 23h00m" in capsys.readouterr().err
    assert _advance("--now", "2026-12-02T12:00:00Z", *gate, "--hub-state", str(HUB / "argocd-degraded")) == 2
    err = capsys.readouterr().err
    assert ("gate: demo-us-east-01: Application argocd/podinfo-demo-us-east-01: sync OutOfSync, health Degraded"
            in err)
    assert _advance("--now", "2026-12-02T12:00:00Z", *gate) == 2
    assert "the hub's state was not read" in capsys.readouterr().err
    assert "reached: 1" in path.read_text()  # nothing written while a gate fails
    assert _advance("--now", "2026-12-02T12:00:00Z", *gate, "--hub-state", str(HUB / "argocd")) == 0
    assert "reached wave 2 of 4 'firsts': demo-eu-west-01, demo-us-central-01" in capsys.readouterr().out
    assert "reached: 2" in path.read_text()


def test_finish_names_the_new_revision_and_removes_the_rollout_keeping_comments(project, capsys):
    path = project / "fleet.yaml"
    _set_reached(project, 3)
    assert main(["rollout", "finish", "--as-of", DAY]) == 1  # the rest wave is not reached yet
    assert "advance it first" in capsys.readouterr().err
    _set_reached(project, 4)
    last_step = _plan(project)
    text = path.read_text()
    finished = edit_set(text, "demo", finish_rollout)
    assert "rollout:" not in finished and finished.count("template: base-v2") == 3
    assert "- name: us-east  # two EKS clusters" in finished and "# Next revision: Kubernetes 1.36." in finished
    assert "template: hub" in finished  # the hub runs another template
    path.write_text(finished)
    after = _plan(project)  # the same clusters as the last step: finishing changes no cluster
    assert [(c.name, c.kubernetes_version, c.template) for c in after.clusters] == \
        [(c.name, c.kubernetes_version, c.template) for c in last_step.clusters]
    assert all(c.wave is None for c in after.clusters)


def test_finish_through_the_command_checks_the_last_wave(project, capsys):
    _set_reached(project, 4)
    assert main(["rollout", "finish", "--as-of", DAY, "--now", "2026-12-09T00:00:00Z",
                 "--applied-at", "2026-12-08T00:00:00Z", "--hub-state", str(HUB / "argocd")]) == 2
    err = capsys.readouterr().err
    assert "gate: demo-us-east-02: Application argocd/addons-demo-us-east-02: sync OutOfSync, health Degraded " \
        "(Deployment flux-system/source-controller has 0/1 ready replicas)" in err
    assert "gate: demo-us-east-02: version: reported no version (not reachable?)" in err
    assert "rollout:" in (project / "fleet.yaml").read_text()


def test_the_scheduled_job_opens_each_step_and_the_pull_request_shows_the_wave_plan():
    import yaml

    workflows = Path(__file__).parent.parent / ".github" / "workflows"
    job = yaml.safe_load((workflows / "rollout.yml").read_text())["jobs"]["step"]
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'fleet rollout "$action"' in scripts and "--kubeconfig" in scripts and "gh pr create" in scripts
    assert job["permissions"] == {"contents": "read", "id-token": "write"}  # the push uses its own token
    diff = yaml.safe_load((workflows / "pr-diff.yml").read_text())["jobs"]["diff"]["steps"]
    runs = {step["name"]: step.get("run", "") for step in diff}
    assert "fleet validate --base" in runs["Validate every stack"]  # refuses only what the head introduces
    assert "fleet rollout status" in runs["Wave plan of the declared rollouts"] and "--format markdown" in \
        runs["Wave plan of the declared rollouts"]


def test_an_engine_upgrade_and_node_images_roll_with_the_revision(project):
    path = project / "fleet.yaml"
    path.write_text(path.read_text().replace(
        '''  version: "1.36"
  networking:
    cni: cilium''', '''  version: "1.35"
  networking:
    cni: cilium
  gitops:
    fluxVersion: "2.10.x"
  nodeImages:
    eksReleaseVersion: 1.35.4-20261125'''))
    _set_reached(project, 1)
    plan = {c.name: c for c in _plan(project).clusters}
    canary, waiting = plan["demo-us-east-01"], plan["demo-us-east-02"]
    assert (canary.gitops.flux_version, canary.node_release_version) == ("2.10.x", "1.35.4-20261125")
    assert (waiting.gitops.flux_version, waiting.node_release_version) == ("2.9.x", None)


def _step_synths(tmp_path: Path, declaration_text: str, steps: tuple[int, ...]) -> list[dict]:
    """The staging stack synthesised with the demo declaration at each `reached` of `steps`, through
    the real program under the mock engine."""
    from fleet.synth import synthesize

    synths = []
    for reached in steps:
        declaration = tmp_path / f"fleet-{reached}.yaml"
        declaration.write_text(edit_set(declaration_text, "demo", set_reached(reached)))
        config, problems = read_stack_file(PROJECT_DIR, "staging")
        assert not problems
        out = tmp_path / f"synth-{reached}"
        result = synthesize(PROJECT_DIR, config.with_declaration_files([str(declaration)]), out)
        assert not result.problems and result.program_error is None, result.problems or result.program_error
        synths.append(json.loads((out / "resources.json").read_text()))
    return synths


def test_the_previewed_diff_of_a_step_touches_only_its_wave(tmp_path):
    """What a reviewer sees: the synth diff of the canary step changes resources of the canary only
    (nothing added, replaced or deleted), through the real program under the mock engine."""
    from fleet.synth.diff import diff_synth

    diff = diff_synth(*_step_synths(tmp_path, (DEMO / "fleet.yaml").read_text(), (0, 1)))
    assert diff.changes and {c.action for c in diff.changes} == {"change"}
    assert [c.name for c in diff.changes if not c.name.startswith("demo-us-east-01-")] == []
    assert any(c.name == "demo-us-east-01-eks" and "inputs.version" in c.fields for c in diff.changes)


def test_the_apply_time_is_the_commit_that_last_changed_reached(tmp_path):
    """Merging is applying (deploy.yml): the soak counts from the commit that set `reached:`."""
    import os
    import subprocess

    from fleet.rollout_command import applied_at_from_git

    path = tmp_path / "fleet.yaml"
    assert applied_at_from_git(path) is None  # not a repository: the user gives --applied-at
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}

    def commit(text: str, when: str) -> None:
        path.write_text(text)
        subprocess.run(["git", "add", "fleet.yaml"], cwd=tmp_path, check=True, env=env)
        subprocess.run(["git", "commit", "-q", "-m", when], cwd=tmp_path, check=True,
                       env={**env, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    commit("rollout:\n  reached: 0\n", "2026-12-01T09:00:00+00:00")
    commit("rollout:\n  reached: 1\n", "2026-12-02T10:30:00+00:00")
    commit("rollout:\n  reached: 1\n# a comment\n", "2026-12-02T18:00:00+00:00")  # not a step
    assert applied_at_from_git(path) == datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def test_a_gke_node_version_rolls_with_its_wave_only(tmp_path):
    """A revision that differs only in nodeImages.gkeNodeVersion: the step reaching the wave of the GKE
    cluster (firsts) pins that cluster's node pools, held by their maintenance exclusion; the wave's
    other resources only follow the template name; nothing is added, replaced or deleted."""
    from fleet.synth.diff import diff_synth

    text = (DEMO / "fleet.yaml").read_text().replace('''  version: "1.36"
  networking:
    cni: cilium''', '''  version: "1.35"
  networking:
    cni: cilium
  nodeImages:
    gkeNodeVersion: 1.35.1-gke.1396002''')
    synths = _step_synths(tmp_path, text, (1, 2))  # canary reached; then firsts
    diff = diff_synth(*synths)
    assert diff.changes and {c.action for c in diff.changes} == {"change"}
    wave = WAVES["firsts"]  # demo-eu-west-01 (AKS), demo-us-central-01 (GKE)
    assert all(any(c.name == w or c.name.startswith(f"{w}-") for w in wave) for c in diff.changes)
    beyond_the_name = {(c.type, c.name): {f for f in c.fields if not f.lower().endswith(".template")}
                       for c in diff.changes}
    assert {k: v for k, v in beyond_the_name.items() if v} == {
        ("gcp:container/nodePool:NodePool", f"demo-us-central-01-{pool}"): {"inputs.version",
                                                                             "inputs.maintenancePolicies"}
        for pool in ("system", "general")}
    pools = [r for r in synths[1]["resources"] if r["type"] == "gcp:container/nodePool:NodePool"]
    assert pools and {r["inputs"]["version"] for r in pools} == {"1.35.1-gke.1396002"}


# --- the README's worked example --------------------------------------------------------------


def _readme_example() -> tuple[dict, str]:
    """The revision's nodeImages and the rollout block, as the README's "Upgrading the fleet" gives them."""
    section = (PROJECT_DIR / "README.md").read_text().split("### Upgrading the fleet", 1)[1]
    node_images = yaml.safe_load(re.search(r"`nodeImages: (\{[^`]+\})`", section).group(1))
    block = re.search(r"```yaml\n(.*?)\n *```", section, re.S).group(1)
    return node_images, textwrap.dedent(block)


def _example_project(folder: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(PROJECT_DIR / name, folder / name)
    shutil.copytree(PROJECT_DIR / "blueprints", folder / "blueprints")
    node_images, rollout = _readme_example()
    blueprints = folder / "blueprints" / "production.yaml"
    first = blueprints.read_text().split("\n---\n", 1)[0]
    revision = first.replace("name: production-blueprint\n", "name: production-blueprint-v2\n", 1).replace(
        "spec:\n", "spec:\n  nodeImages: " + json.dumps(node_images) + "\n", 1)
    blueprints.write_text(blueprints.read_text() + "\n---\n" + revision.split("\n", 1)[1] + "\n")
    stack = folder / "Pulumi.prod.yaml"
    block = "".join(" " * 8 + line + "\n" for line in rollout.splitlines())
    stack.write_text(stack.read_text().replace("        loadBalancing:\n", block + "        loadBalancing:\n", 1))


def test_the_readme_worked_example_passes_the_pull_request_check_and_moves_only_the_canary(
        tmp_path, monkeypatch, capsys):
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    _example_project(base)
    shutil.copytree(base, head)
    monkeypatch.chdir(head)
    assert main(["rollout", "advance", "--stack", "prod", "--as-of", DAY]) == 0
    assert "reached wave 1 of 4 'canary': production-fleet-us-east-01" in capsys.readouterr().out
    assert main(["validate", "--stack", "prod", "--as-of", DAY, "--base", str(base)]) == 0, capsys.readouterr()
    before, after = _plan(base), _plan(head)
    assert _changed(before, after) == {"production-fleet-us-east-01"}
    canary = next(c for c in after.clusters if c.name == "production-fleet-us-east-01")
    assert (canary.template, canary.wave, canary.node_release_version) == (
        "production-blueprint-v2", "canary", _readme_example()[0]["eksReleaseVersion"])
