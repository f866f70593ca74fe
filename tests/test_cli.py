"""The command line as a user meets it: exit codes, one line per problem, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fleet.cli import main
from fleet.stack import PROJECT_DIR

CANONICAL = PROJECT_DIR / "examples" / "canonical.yaml"


@pytest.fixture(autouse=True)
def _in_project(monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)


def test_validate_every_stack(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "valid: prod: 7 clusters (1 hub) on aws, azure, gcp" in out
    assert "valid: staging: 4 clusters (1 hub) on aws, azure, gcp" in out


def test_validate_reports_every_problem_once_per_line(tmp_path, capsys):
    bad = tmp_path / "prod.yaml"
    bad.write_text(CANONICAL.read_text().replace("template: production-blueprint\n    - name: eu-west",
                                                 "template: prod-bluprint\n    - name: eu-west"))
    assert main(["validate", "--stack", "prod", "-f", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{bad}: ClusterSet/production-fleet: spec.regions[0].template: unknown template 'prod-bluprint' " \
           "(did you mean 'production-blueprint'?)" in err
    assert any("spec.version: Kubernetes 1.28 is past end of support" in line for line in err)
    assert err[-1] == "2 problem(s) found"


def test_validate_without_traceback_in_a_real_process(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("kind: ClusterSet\nspec: [unclosed\n")
    run = subprocess.run([sys.executable, "-m", "fleet", "validate", "-f", str(bad)], cwd=PROJECT_DIR,
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"{bad}: YAML syntax error at line 3" in run.stderr


def test_plan_prints_the_fleet_table(capsys):
    assert main(["plan", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    for text in ("production-fleet-hub", "production-fleet-eu-west-02", "westeurope", "us-central1", "1.35",
                 "argocd", "flux", "system medium 3-6", "batch xlarge 0-20 spot", "compliance=gdpr"):
        assert text in out


def test_plan_json(capsys):
    assert main(["plan", "--stack", "staging", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["cloud"] for r in rows} == {"aws", "azure", "gcp"}
    assert sum(r["role"] == "hub" for r in rows) == 1


def test_schema_is_json_schema_of_both_kinds(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["$defs"]) >= {"ClusterSet", "ClusterTemplate", "RegionEntry", "NodePool"}
    assert schema["discriminator"]["propertyName"] == "kind"


def test_committed_schema_file_is_current(capsys):
    main(["schema"])
    current = capsys.readouterr().out
    assert (PROJECT_DIR / "schema" / "fleet.schema.json").read_text() == current, \
        "run `python -m fleet schema > schema/fleet.schema.json`"


def test_kubeconfig_merges_stack_output(tmp_path, capsys):
    from tests.test_cli_data import KUBECONFIGS

    source = tmp_path / "out.json"
    source.write_text(json.dumps(KUBECONFIGS))
    target = tmp_path / "kubeconfig"
    assert main(["kubeconfig", "--from-json", str(source), "-o", str(target)]) == 0
    import yaml

    merged = yaml.safe_load(target.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["a", "b"]
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_diff_exit_codes(tmp_path, capsys):
    base, head = tmp_path / "base", tmp_path / "head"
    for folder in (base, head):
        folder.mkdir()
    resource = {"urn": "urn:x", "type": "aws:eks/cluster:Cluster", "name": "c", "inputs": {"version": "1.35"},
                "protect": True}
    (base / "resources.json").write_text(json.dumps({"clusters": [{"name": "c"}], "resources": [resource]}))
    (head / "resources.json").write_text(json.dumps({"clusters": [{"name": "c"}], "resources": [resource]}))
    assert main(["diff", str(base), str(head)]) == 0
    (head / "resources.json").write_text(json.dumps({"clusters": [], "resources": []}))
    assert main(["diff", str(base), str(head)]) == 2
    out = capsys.readouterr().out
    assert "delete   aws:eks/cluster:Cluster  c  [DESTRUCTIVE]" in out
    assert "- cluster  c  [DESTRUCTIVE" in out
    assert main(["diff", str(base), str(tmp_path / "missing")]) == 1
    # a resources.json path works as well as its folder; a path through a file is an error, not a traceback
    assert main(["diff", str(base / "resources.json"), str(base)]) == 0
    capsys.readouterr()
    assert main(["diff", str(base / "resources.json" / "x"), str(base)]) == 1
    assert "resources.json/x/resources.json: not found" in capsys.readouterr().err


def test_deep_validation_runs_the_program_and_its_guardrails(capsys, monkeypatch):
    import fleet.synth as synth

    judged = []
    real = synth.synth_problems
    monkeypatch.setattr(synth, "synth_problems", lambda doc, source, today: judged.append(len(doc["resources"]))
                        or real(doc, source, today))
    assert main(["validate", "--deep", "--stack", "staging"]) == 0
    assert judged and judged[0] > 100  # every recorded resource went through the resource rules
    assert "valid: staging" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["fleet versions --markdown", "stack settings"])
def test_generated_documentation_is_current(name):
    """The README's version table and docs/reference.md's settings table are what the code says."""
    from fleet import docs

    relative, generate = docs.GENERATED[name]
    assert docs.block((PROJECT_DIR / relative).read_text(), name) == generate(), \
        f"{relative} is stale: run `make docs` (python -m fleet.docs)"


def test_versions_command(capsys, tmp_path):
    assert main(["versions", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| 1.35 | 2027-03-27 / 2028-03-27 |" in markdown
    assert main(["versions", "--as-of", "2027-04-01"]) == 0
    text = capsys.readouterr().out
    assert "status as of 2027-04-01" in text and "|" not in text.split("Sources:")[0]
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- fleet versions --markdown: begin -->\nstale\n"
                      "<!-- fleet versions --markdown: end -->\n")
    assert main(["versions", "--update", str(readme)]) == 0
    assert readme.read_text() == f"# x\n<!-- fleet versions --markdown: begin -->\n{markdown}" \
                                 "<!-- fleet versions --markdown: end -->\n"


@pytest.mark.parametrize("stack", ["prod", "staging"])
@pytest.mark.parametrize("width", [80, 60])
def test_plan_fits_a_narrow_terminal(stack, width):
    import io

    from rich.console import Console

    from fleet.cli import print_plan
    from fleet.stack import plan_stack, read_stack_file

    config, _ = read_stack_file(PROJECT_DIR, stack)
    plan = plan_stack(config, PROJECT_DIR).plan
    buffer = io.StringIO()
    print_plan(stack, plan, Console(width=width, file=buffer, highlight=False))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    starts = [line.split()[0] for line in lines if line and not line.startswith(" ")]
    assert set(starts[1:]) == {c.name for c in plan.clusters}  # every name whole, at the start of a line
    text = "\n".join(lines)
    for cluster in plan.clusters:  # no item broken across lines
        assert f"{cluster.provider} {cluster.location}" in text and cluster.network.block in text
        for pool in cluster.node_pools:
            assert f"{pool.name} {pool.size} {pool.min_nodes}-{pool.max_nodes}" in text
        for key, value in cluster.labels.items():
            assert f"{key}={value}" in text or key.startswith("enable_") or key in ("cloud", "engine", "cluster-set")


def test_planning_needs_no_cloud_sdk():
    """`make plan` installs no cloud SDK (Makefile): fleet plan and validate must not import one."""
    code = ("import sys\nfrom fleet.cli import main\n"
            "assert main(['plan', '--stack', 'prod']) == 0 and main(['validate']) == 0\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi_'))\n"
            "assert not loaded, loaded[:5]\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
