"""Every command against missing, empty, garbage and wrong-shape input: exit 1, one line on stderr,
no traceback, nothing written or deleted. In-process for speed; a few real processes at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.cli import main
from fleet.stack import PROJECT_DIR
from fleet.synth.engine import Record, Recording
from fleet.synth.output import WRITTEN_LIST, check_out_dir, write_synth
from tests.test_cli_data import KUBECONFIGS

RESOURCE = {"urn": "urn:pulumi:prod::fleet::aws:eks/cluster:Cluster::c", "type": "aws:eks/cluster:Cluster",
            "name": "c", "inputs": {"version": "1.35"}, "protect": True}
SYNTH = {"project": "fleet", "stack": "prod", "clusters": [{"name": "c"}], "resources": [RESOURCE]}


@pytest.fixture(autouse=True)
def _in_project(monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below folder with its content: what 'nothing written or deleted' compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(argv: list[str], capsys, folder: Path) -> str:
    """Run argv; assert exit 1, one line on stderr, nothing on stdout, no file changed under folder."""
    before = tree(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and not out
    assert tree(folder) == before
    return lines[0]


def refused_problems(argv: list[str], capsys, folder: Path) -> str:
    """Declaration problems come as problem lines and a count: one problem here."""
    before = tree(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    lines = err.splitlines()
    assert lines[-1] == "1 problem(s) found" and len(lines) == 2, err
    assert "Traceback" not in err
    assert tree(folder) == before
    return lines[0]


# --- bytes a user (or an attacker) may hand over -------------------------------------------------

GARBAGE = {
    "empty": b"",
    "not-utf8": b"\xff\xfe\x00garbage\x80\x81",
    "text": b"hello, world\n",
    "truncated-json": b'{"resources": [',
    "deep": b"[" * 20000 + b"]" * 20000,
    "nan": b'{"resources": [], "x": NaN}',
    "duplicate-key": b'{"resources": [], "resources": []}',
}


def _write(path: Path, content: bytes | object) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


# --- fleet diff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_diff_of_garbage_is_one_line(name, tmp_path, capsys):
    good = _write(tmp_path / "good.json", SYNTH)
    bad = _write(tmp_path / "bad.json", GARBAGE[name])
    line = refused(["diff", str(good), str(bad)], capsys, tmp_path)
    assert line.startswith(f"{bad}: ")


WRONG_SHAPES = {
    "a list": ([RESOURCE], "the top level is a list, not an object"),
    "no resources": ({"clusters": []}, "no 'resources' list"),
    "resources not a list": ({"resources": {"a": 1}}, "'resources' is an object, not a list"),
    "resource not an object": ({"resources": [1]}, "resources[0]: is a number, not an object"),
    "resource without urn": ({"resources": [{"type": "t", "name": "n"}]}, "resources[0]: 'urn' is missing"),
    "urn not text": ({"resources": [{**RESOURCE, "urn": 5}]}, "resources[0]: 'urn' is a number, not text"),
    "type missing": ({"resources": [{"urn": "u", "name": "n"}]}, "resources[0]: 'type' is missing"),
    "urn twice": ({"resources": [RESOURCE, RESOURCE]}, "resources[1]: the urn appears twice"),
    "clusters not a list": ({"resources": [], "clusters": "c"}, "'clusters' is text, not a list"),
    "cluster without name": ({"resources": [], "clusters": [{}]}, "clusters[0]: 'name' is missing"),
    "stack not text": ({"resources": [], "stack": ["prod"]}, "'stack' is a list, not text"),
}


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
def test_diff_of_a_wrong_shape_names_the_entry(name, tmp_path, capsys):
    document, message = WRONG_SHAPES[name]
    good = tmp_path / "good"
    good.mkdir()
    _write(good / "resources.json", SYNTH)
    bad = _write(tmp_path / "bad.json", document)
    for argv in (["diff", str(bad), str(good)], ["diff", str(good), str(bad)]):
        line = refused(argv, capsys, tmp_path)
        assert line == f"{bad}: {message}; not a fleet synth output (fleet synth writes resources.json)"


def test_diff_of_missing_inputs(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = refused(["diff", str(empty), str(tmp_path / "nowhere")], capsys, tmp_path)
    assert line == f"{empty}/resources.json: not found (run `fleet synth --out {empty}` first)"
    _write(empty / "resources.json", SYNTH)
    line = refused(["diff", str(empty), str(tmp_path / "nowhere")], capsys, tmp_path)
    assert line.startswith(f"{tmp_path / 'nowhere'}/resources.json: not found")


def test_diff_of_two_different_stacks_says_so(tmp_path, capsys):
    prod = _write(tmp_path / "prod.json", SYNTH)
    staging = _write(tmp_path / "staging.json", {**SYNTH, "stack": "staging"})
    line = refused(["diff", str(prod), str(staging)], capsys, tmp_path)
    assert line == ("fleet diff: the base is stack 'prod' and the head is stack 'staging'; compare two synths "
                    "of the same stack (or pass --allow-different-stacks)")
    other = _write(tmp_path / "other.json", {**SYNTH, "project": "other"})
    assert "the base is project 'fleet' and the head is project 'other'" in refused(
        ["diff", str(prod), str(other)], capsys, tmp_path)
    assert main(["diff", "--allow-different-stacks", str(prod), str(staging)]) == 0
    # the pull-request job's stand-in for a stack missing on one side names no stack: compared as is
    bare = _write(tmp_path / "bare.json", {"clusters": [], "resources": []})
    assert main(["diff", str(bare), str(prod)]) == 2


# --- fleet kubeconfig ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_kubeconfig_from_garbage_json(name, tmp_path, capsys):
    source = _write(tmp_path / "out.json", GARBAGE[name])
    line = refused(["kubeconfig", "--from-json", str(source), "-o", str(tmp_path / "config")], capsys, tmp_path)
    assert line.startswith(f"{source}: ")
    assert not (tmp_path / "config").exists()


KUBECONFIG_SHAPES = {
    "a list": (["a"], "expected an object of cluster name -> kubeconfig"),
    "no cluster": ({}, "holds no cluster; has the stack been deployed (`pulumi up`)?"),
    "a number": ({"a": 1}, "'a': expected a kubeconfig as YAML text, got 1"),
    "redacted": ({"a": "[secret]"}, "run `pulumi stack output` with --show-secrets"),
    "broken YAML": ({"a": "clusters: [unclosed\n"}, "'a': YAML syntax error"),
    "plain text": ({"a": "just text"}, "'a': not a kubeconfig (expected clusters, users and contexts lists)"),
    "lists missing": ({"a": "clusters: []\n"}, "'a': not a kubeconfig"),
    "token in the name": ({"ghp_" + "a" * 36: 1}, "(a value that looks like a credential, not shown)"),
}


@pytest.mark.parametrize("name", sorted(KUBECONFIG_SHAPES))
def test_kubeconfig_of_a_wrong_shape(name, tmp_path, capsys):
    document, message = KUBECONFIG_SHAPES[name]
    source = _write(tmp_path / "out.json", document)
    line = refused(["kubeconfig", "--from-json", str(source)], capsys, tmp_path)
    assert line.startswith(str(source)) and message in line, line
    assert "ghp_" not in line


def test_kubeconfig_of_a_missing_file(tmp_path, capsys):
    line = refused(["kubeconfig", "--from-json", str(tmp_path / "nope.json")], capsys, tmp_path)
    assert line == f"{tmp_path / 'nope.json'}: no such file"


def test_kubeconfig_of_an_unknown_cluster_is_an_error_not_an_empty_file(tmp_path, capsys):
    source = _write(tmp_path / "out.json", KUBECONFIGS)
    line = refused(["kubeconfig", "--from-json", str(source), "--cluster", "b", "--cluster", "c",
                    "-o", str(tmp_path / "config")], capsys, tmp_path)
    assert line == f"fleet kubeconfig: --cluster 'c': no such cluster in {source}; clusters: a, b"


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_kubeconfig_output_that_cannot_be_a_file(where, tmp_path, capsys):
    source = _write(tmp_path / "out.json", KUBECONFIGS)
    target = tmp_path / "no" / "such" / "config" if where == "missing folder" else tmp_path
    line = refused(["kubeconfig", "--from-json", str(source), "-o", str(target)], capsys, tmp_path)
    expected = "does not exist; create it first" if where == "missing folder" else "is a folder; name a file"
    assert line.startswith(f"fleet kubeconfig: -o {target}: ") and expected in line


def test_kubeconfig_replaces_a_wider_file_with_a_private_one(tmp_path, capsys):
    source = _write(tmp_path / "out.json", KUBECONFIGS)
    target = tmp_path / "config"
    target.write_text("old")
    target.chmod(0o644)
    assert main(["kubeconfig", "--from-json", str(source), "-o", str(target), "--cluster", "a"]) == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert "https://a.example" in target.read_text() and "https://b.example" not in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "out.json"]  # no temporary left


# --- fleet synth --out ---------------------------------------------------------------------------


def test_synth_onto_a_file_is_refused(tmp_path, capsys):
    target = _write(tmp_path / "notes.txt", b"mine")
    line = refused(["synth", "--stack", "staging", "--out", str(target)], capsys, tmp_path)
    assert line == f"--out {target}: is a file, not a folder; give a new or empty folder"


def test_synth_into_a_folder_of_the_users_is_refused_and_nothing_is_deleted(tmp_path, capsys):
    (tmp_path / "manifests" / "mine").mkdir(parents=True)
    _write(tmp_path / "manifests" / "mine" / "keep.yaml", b"kind: Mine\n")
    line = refused(["synth", "--stack", "staging", "--out", str(tmp_path)], capsys, tmp_path)
    assert line == (f"--out {tmp_path}: the folder holds files fleet did not write (e.g. "
                    "manifests/mine/keep.yaml); give a new or empty folder")


def test_synth_refuses_a_foreign_file_beside_its_own_output(tmp_path, capsys):
    _write(tmp_path / WRITTEN_LIST, {"written": ["resources.json"]})
    _write(tmp_path / "resources.json", SYNTH)
    _write(tmp_path / "README", b"my notes")
    line = refused(["synth", "--stack", "staging", "--out", str(tmp_path)], capsys, tmp_path)
    assert line.startswith(f"--out {tmp_path}: README was not written by fleet synth")
    _write(tmp_path / WRITTEN_LIST, b"garbage")
    assert "is not the list fleet synth writes" in refused(
        ["synth", "--stack", "staging", "--out", str(tmp_path)], capsys, tmp_path)


def _recording(*clusters: str) -> Recording:
    records = [Record(urn=f"urn:{c}-k8s", type="pulumi:providers:kubernetes", name=f"{c}-k8s", parent=None,
                      provider=None, dependencies=[], protect=False, custom=True,
                      inputs={"clusterIdentifier": c}) for c in clusters]
    records += [Record(urn=f"urn:{c}-ns", type="kubernetes:core/v1:Namespace", name=f"{c}-ns", parent=None,
                       provider=f"urn:{c}-k8s", dependencies=[], protect=False, custom=True,
                       inputs={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
                for c in clusters]
    return Recording("fleet", "prod", records, {})


def test_a_second_synth_removes_only_what_the_first_wrote(tmp_path):
    out = tmp_path / "out"
    write_synth(_recording("a", "b"), SYNTH, out)
    assert set(tree(out)) == {WRITTEN_LIST, "resources.json", "manifests/a/namespace-cluster-apps.yaml",
                              "manifests/b/namespace-cluster-apps.yaml"}
    assert check_out_dir(out) == ["manifests/a/namespace-cluster-apps.yaml",
                                  "manifests/b/namespace-cluster-apps.yaml", "resources.json"]
    write_synth(_recording("a"), SYNTH, out)  # cluster b left the fleet: its folder goes, nothing else
    assert set(tree(out)) == {WRITTEN_LIST, "resources.json", "manifests/a/namespace-cluster-apps.yaml"}
    assert not (out / "manifests" / "b").exists()


# --- usage, project, stack and declaration files -------------------------------------------------


@pytest.mark.parametrize("argv", [["diff", "only-one"], ["nosuch"], ["plan", "--bogus"], [],
                                  ["kubeconfig", "--output"], ["diff", "a", "b", "--format", "yaml"]])
def test_usage_errors_are_one_line_and_exit_1(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 1 and len(err.splitlines()) == 1 and "usage" not in err and not out, err


def test_versions_bad_as_of(capsys, tmp_path):
    assert refused(["versions", "--as-of", "2026-13-45"], capsys, tmp_path) == \
        "fleet versions: --as-of '2026-13-45': expected a day as YYYY-MM-DD"
    readme = _write(tmp_path / "README.md", b"# no markers\n")
    assert "no '<!-- fleet versions --markdown: begin -->'" in refused(
        ["versions", "--update", str(readme)], capsys, tmp_path)
    assert "cannot read" in refused(["versions", "--update", str(tmp_path / "nope.md")], capsys, tmp_path)


@pytest.mark.parametrize("command", ["validate", "plan", "synth"])
def test_outside_any_project(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [command] + (["--out", str(tmp_path / "out")] if command == "synth" else [])
    line = refused(argv, capsys, tmp_path)
    assert line.startswith("fleet: no Pulumi.yaml in this folder or any folder above it")


@pytest.mark.parametrize("command", ["validate", "plan", "synth"])
@pytest.mark.parametrize("name", ["empty", "not-utf8", "text", "deep"])
def test_declaration_file_garbage(command, name, tmp_path, capsys):
    bad = _write(tmp_path / "bad.yaml", GARBAGE[name])
    extra = ["--out", str(tmp_path / "out")] if command == "synth" else []
    line = refused_problems([command, "--stack", "staging", "-f", str(bad), *extra], capsys, tmp_path)
    assert line.startswith(f"{bad}: "), line
    if name == "empty":
        assert f"no ClusterSet document in {bad}; add one" in line, line


@pytest.mark.parametrize("command", ["validate", "plan", "synth"])
def test_missing_stack(command, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "out")] if command == "synth" else []
    line = refused_problems([command, "--stack", "nosuch", *extra], capsys, tmp_path)
    assert line.startswith("Pulumi.nosuch.yaml: no such stack file")


# --- real processes: the console entry point, its exit code and its time -------------------------


@pytest.mark.parametrize("argv", [
    ["diff", "{tmp}/bad.json", "{tmp}/bad.json"],
    ["kubeconfig", "--from-json", "{tmp}/bad.json"],
    ["kubeconfig", "--from-json", "{tmp}/missing.json"],
    ["synth", "--stack", "staging", "--out", "{tmp}/bad.json"],
    ["diff", "only-one"],
])
def test_in_a_real_process(argv, tmp_path):
    _write(tmp_path / "bad.json", GARBAGE["deep"])
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "fleet", *(a.format(tmp=tmp_path) for a in argv)],
                         cwd=PROJECT_DIR, capture_output=True, text=True, env={**os.environ, "FLEET_DEBUG": ""})
    assert time.monotonic() - started < 10  # well under 2 s alone; the suite shares two CPUs
    assert run.returncode == 1, run
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_an_unexpected_error_is_one_line_too(tmp_path):
    """The last resort of the console entry point: a bug is reported in one line, the traceback only
    with FLEET_DEBUG=1."""
    code = ("import sys, fleet.cli as cli\ncli.cmd_schema = lambda args: {}['x']\n"
            "sys.argv = ['fleet', 'schema']\ncli.run()\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True,
                         env={**os.environ, "FLEET_DEBUG": ""})
    assert run.returncode == 1
    assert run.stderr.splitlines() == ["fleet: internal error: KeyError: 'x' (please report it; FLEET_DEBUG=1 "
                                       "shows the traceback)"]
    debug = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True,
                           env={**os.environ, "FLEET_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize("stack", ["../../etc/passwd", "/etc/passwd", "prod\n", "", "a b"])
def test_a_stack_name_that_is_not_one(stack, tmp_path, capsys):
    line = refused(["validate", "--stack", stack], capsys, tmp_path)
    assert line.startswith("fleet: --stack ") and "not a stack name" in line


def test_synth_under_a_file_is_refused_before_the_program_runs(tmp_path, capsys):
    _write(tmp_path / "file", b"mine")
    line = refused(["synth", "--stack", "staging", "--out", str(tmp_path / "file" / "out")], capsys, tmp_path)
    assert line == f"--out {tmp_path / 'file' / 'out'}: {tmp_path / 'file'} is a file, not a folder; " \
                   "give a new or empty folder"


def test_a_hostile_list_of_written_files_removes_nothing_outside(tmp_path):
    outside = _write(tmp_path / "precious", b"keep")
    out = tmp_path / "out"
    out.mkdir()
    _write(out / WRITTEN_LIST, {"written": [str(outside), "../precious", "resources.json"]})
    write_synth(_recording("a"), SYNTH, out)
    assert outside.read_bytes() == b"keep"
