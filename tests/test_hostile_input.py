"""Hostile and careless input (issue #11): one line, exit 1, bounded time and memory, nothing
written, nothing secret echoed. Generated inputs for the loader (YAML bombs, deep nesting, random
bytes, huge values, non-text keys, /dev/zero) run in subprocesses under resource limits."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet import rules
from fleet.credentials import credential_in
from fleet.problems import excerpt
from fleet.project import display_path, find_project
from fleet.safeyaml import MAX_BYTES, LoadError, load_documents, load_json
from fleet.spec.versions import AS_OF
from fleet.stack import PROJECT_DIR, StackConfig, plan_stack, read_stack_file
from tests.helpers import cluster_set, dump, messages, plan_documents, template

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
URL_WITH_TOKEN = f"https://x-access-token:{TOKEN}@github.com/acme/fleet.git"
# Generous bounds (about 10x what the refusals take here): they catch exhaustion, not slowness.
CPU_SECONDS = 30
MEMORY_BYTES = 1536 * 1024 * 1024


# --- credentials never leave the secret path ------------------------------------------------------


def flux_instance(url: str) -> rules.Resource:
    inputs = {"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
              "metadata": {"name": "flux", "namespace": "flux-system",
                           "annotations": {"fleet.example.com/repository": url}},
              "spec": {"sync": {"kind": "GitRepository", "url": url, "ref": "refs/heads/main",
                                "path": "gitops/clusters/production"}}}
    return rules.Resource("kubernetes:fluxcd.controlplane.io/v1:FluxInstance", "flux",
                          "urn:pulumi:prod::fleet::kubernetes:fluxcd.controlplane.io/v1:FluxInstance::flux",
                          inputs, kubernetes_cluster="production-fleet-us-east-01")


def guardrail(resource: rules.Resource) -> list[str]:
    rule = next(r for r in rules.resource_rules(AS_OF) if r.id == "no-plaintext-credentials")
    return rule.check(resource, [resource])


@pytest.mark.parametrize("url", [
    URL_WITH_TOKEN,
    f"https://{TOKEN}@github.com/acme/fleet.git",
    "https://deploy:glpat-abcdefghijklmnopqrst@gitlab.example.com/acme/fleet.git",
    "https://oauth2:sEcReT123@gitlab.example.com/acme/fleet.git",
    "https://user:hunter2@git.example.com/acme/fleet.git",
])
def test_guardrail_catches_credentials_embedded_in_any_string(url: str) -> None:
    (message,) = guardrail(flux_instance(url))
    assert "production-fleet-us-east-01" in message and "spec.sync.url" in message
    assert "metadata.annotations.fleet.example.com/repository" in message
    assert "pass it as a Pulumi secret" in message
    assert TOKEN not in message and "hunter2" not in message and "sEcReT123" not in message


@pytest.mark.parametrize("url", [
    "https://github.com/acme/fleet.git", "ssh://git@github.com/acme/fleet.git", "oci://ghcr.io/acme/fleet",
    "https://github.com:443/acme/fleet.git", "git@github.com:acme/fleet.git",
])
def test_guardrail_leaves_urls_without_credentials_alone(url: str) -> None:
    assert guardrail(flux_instance(url)) == []


def test_no_false_positives_in_the_real_synths(prod_synth: dict, staging_synth: dict) -> None:
    for document in (prod_synth, staging_synth):
        assert [str(v) for v in rules.check_synth(document, AS_OF) if v.rule.id == "no-plaintext-credentials"] == []


@pytest.mark.parametrize("where", ["ClusterSet", "stack"])
def test_a_token_in_the_repository_url_is_refused_without_being_quoted(where: str) -> None:
    if where == "ClusterSet":
        _, problems = plan_documents(template(), cluster_set(repository={"url": URL_WITH_TOKEN}))
        expected = "fleets/test.yaml: ClusterSet/demo: spec.repository.url: "
    else:
        _, problems = plan_stack_values({"fleet:repository": {"url": URL_WITH_TOKEN}})
        expected = "Pulumi.test.yaml: config.fleet:repository.url: "
    (line,) = messages(problems)
    assert line.startswith(expected), line
    assert "the URL holds a user name with a password or token (user:token@), which would be written" in line
    assert "pulumi config set --secret fleet:gitToken" in line and TOKEN not in line


def plan_stack_values(values: dict, secret_keys: frozenset[str] = frozenset()) -> tuple[object, list]:
    base = {"fleet:documents": [template(), cluster_set(environment="staging")], "fleet:gcpProject": "p"}
    result = plan_stack(StackConfig("test", "Pulumi.test.yaml", {**base, **values}, secret_keys), PROJECT_DIR)
    return result.plan, result.problems


def test_a_plain_text_git_token_is_refused_with_the_fix() -> None:
    _, problems = plan_stack_values({"fleet:gitToken": TOKEN})
    assert messages(problems) == [
        "Pulumi.test.yaml: config.fleet:gitToken: stored in plain text; remove it from Pulumi.test.yaml and run "
        "`pulumi config set --secret fleet:gitToken <token>` instead"]
    plan, problems = plan_stack_values({"fleet:gitToken": "[secret]"}, frozenset({"fleet:gitToken"}))
    assert problems == [] and all(c.gitops.private_repository for c in plan.clusters)


@pytest.mark.parametrize("values", [
    {"fleet:gitTokn": TOKEN},
    {"fleet:repository": URL_WITH_TOKEN},
    {"fleet:repositoryPath": {"token": TOKEN}},
    {"fleet:environment": TOKEN},
])
def test_a_value_under_a_wrong_key_is_never_echoed(values: dict) -> None:
    _, problems = plan_stack_values(values)
    assert problems and all(TOKEN not in line and "A1b2C3" not in line for line in messages(problems))


def test_excerpts_are_short_and_hide_what_may_be_a_secret() -> None:
    assert excerpt("x" * 10_000_000).endswith("...'") and len(excerpt("x" * 10_000_000)) < 50
    assert excerpt(URL_WITH_TOKEN) == "(a value that looks like a credential, not shown)"
    assert excerpt(10 ** 400) == "a number of 401 digits"
    assert excerpt({"a": 1}) == "a mapping of 1 key(s)" and excerpt(True) == "true"
    assert credential_in("AKIAIOSFODNN7EXAMPLE") == "an access token"


# --- one loading layer with limits ------------------------------------------------------------------


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def hostile_inputs() -> dict[str, bytes]:
    """name -> file content; each must be refused with one line."""
    cluster = dump(template(), cluster_set())
    return {
        "billion-laughs": billion_laughs().encode(),
        "laughs-into-a-typed-field": (cluster + "---\n" + billion_laughs() + "kind: ClusterSet\n").encode(),
        "recursive-alias": b"a: &a [*a]\n",
        "deep-brackets": b"[" * 20_000 + b"]" * 20_000,
        "deep-mappings": b"".join(b"  " * i + b"k:\n" for i in range(500)) + b"  " * 500 + b"v\n",
        "not-utf8": b"apiVersion: fleet.example.com/v1\nkind: \xff\xfe\x00ClusterSet\n",
        "huge-value": b"kind: " + b"x" * (50 * 1024 * 1024) + b"\n",
        "non-text-key": b"apiVersion: fleet.example.com/v1\n1: ClusterSet\n",
        "duplicate-key": cluster.replace("clusters: 2", "clusters: 1\n    clusters: 15").encode(),
        "huge-integer": b"kind: ClusterSet\nspec: {regions: [{clusters: " + b"9" * 5000 + b"}]}\n",
        "bad-date": b"kind: ClusterSet\nmetadata: {name: 2024-13-45}\n",
        "python-tag": b"!!python/object/apply:os.system ['true']\n",
    }


EXPECTED = {
    "billion-laughs": "a 'billion laughs' document",
    "laughs-into-a-typed-field": "a 'billion laughs' document",
    "recursive-alias": "recursive alias",
    "deep-brackets": "nested more than 64 levels deep",
    "deep-mappings": "nested more than 64 levels deep",
    "not-utf8": "not UTF-8 text (byte 0xff at line 2, column 7)",
    "huge-value": "is larger than 1 MB",
    "non-text-key": "line 2, column 1: the key 1 is read as a number, not text; quote it",
    "duplicate-key": "duplicate key 'clusters' (first at line",
    "huge-integer": "a value cannot be read",
    "bad-date": "a value cannot be read",
    "python-tag": "could not determine a constructor",
}


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run_fleet(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet", *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limited, timeout=120, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


DEPLOYER = ("  fleet:deployer: {aws: 'arn:aws:iam::123456789012:role/deployer', "
            "azure: faa20390-bbe9-4192-83be-1827caeea269}\n")


def project(tmp_path: Path, declarations: list[str], extra: str = "") -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    listed = "".join(f"\n    - {d}" for d in declarations)
    (folder / "Pulumi.prod.yaml").write_text(
        f"config:\n  fleet:gcpProject: p\n{DEPLOYER}  fleet:declarations:{listed}\n{extra}")
    return folder


def assert_one_line_refusal(run: subprocess.CompletedProcess[str], *expected: str) -> list[str]:
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and run.stdout == ""
    lines = run.stderr.splitlines()
    problems = [line for line in lines if not line.endswith("problem(s) found")]
    assert len(problems) == 1, lines[:5]
    assert len(problems[0]) < 400, problems[0][:400]
    for text in expected:
        assert text in problems[0], problems[0]
    return problems


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_refuses_hostile_files_in_one_line_within_limits(tmp_path: Path, name: str) -> None:
    folder = project(tmp_path, ["fleet.yaml"])
    (folder / "fleet.yaml").write_bytes(hostile_inputs()[name])
    before = snapshot(folder)
    run = run_fleet(["validate", "--stack", "prod"], folder)
    assert_one_line_refusal(run, "fleet.yaml: ", EXPECTED[name])
    assert snapshot(folder) == before


def test_dev_zero_and_folders_are_refused(tmp_path: Path) -> None:
    folder = project(tmp_path, ["fleet.yaml"])
    run = run_fleet(["validate", "--stack", "prod", "-f", "/dev/zero"], folder)
    assert_one_line_refusal(run, "/dev/zero: is not a regular file")
    run = run_fleet(["validate", "--stack", "prod", "-f", str(folder)], folder)
    assert_one_line_refusal(run, "is a folder, not a file")


@pytest.mark.parametrize("stack_file, expected", [
    ("", "Pulumi.prod.yaml: the stack file is empty"),
    ("config: {fleet:gcpProject: p}\n", "Pulumi.prod.yaml: config: declares no fleet:declarations"),
    ("config:\n  1: x\n", "Pulumi.prod.yaml: line 2, column 3: the key 1 is read as a number, not text"),
    ("config: [a]\n", "Pulumi.prod.yaml: config: expected a mapping of settings, got a list of 1 item(s)"),
    ("config:\n  fleet:gitToken: x\n  fleet:gitToken: y\n", "duplicate key 'fleet:gitToken'"),
    ("- a\n", "Pulumi.prod.yaml: expected a mapping with a `config:` key, got a list of 1 item(s)"),
])
def test_careless_stack_files_name_the_file(tmp_path: Path, stack_file: str, expected: str) -> None:
    folder = project(tmp_path, [])
    (folder / "Pulumi.prod.yaml").write_text(stack_file)
    assert_one_line_refusal(run_fleet(["validate", "--stack", "prod"], folder), expected)


def test_a_missing_stack_names_the_missing_file(tmp_path: Path) -> None:
    folder = project(tmp_path, ["fleet.yaml"])
    assert_one_line_refusal(run_fleet(["validate", "--stack", "nosuch"], folder),
                            "Pulumi.nosuch.yaml: no such stack file (stacks in .: prod)")


def test_declarations_outside_the_project_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("password: hunter2\n")
    folder = project(tmp_path, ["/etc/passwd", "../outside.yaml"])
    run = run_fleet(["validate", "--stack", "prod"], folder)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[:2] == [
        "Pulumi.prod.yaml: config.fleet:declarations[0]: '/etc/passwd' resolves outside the project folder; "
        "declarations must live inside it (or be named with -f)",
        "Pulumi.prod.yaml: config.fleet:declarations[1]: '../outside.yaml' resolves outside the project folder; "
        "declarations must live inside it (or be named with -f)"]
    assert "root:" not in run.stderr and "hunter2" not in run.stderr


def test_paths_resolve_from_where_the_user_stands(tmp_path: Path) -> None:
    folder = project(tmp_path, ["blueprints/fleet.yaml"])
    (folder / "blueprints").mkdir()
    (folder / "docs").mkdir()
    (folder / "blueprints" / "fleet.yaml").write_text(dump(template(), cluster_set()).replace("base", "bsae", 1))
    expected = {folder: "blueprints/fleet.yaml", folder / "blueprints": "fleet.yaml",
                folder / "docs": "../blueprints/fleet.yaml"}
    for cwd, shown in expected.items():
        run = run_fleet(["validate", "--stack", "prod"], cwd)
        assert run.stderr.splitlines()[0].startswith(f"{shown}: ClusterSet/demo: "), (cwd, run.stderr)
    # -f is relative to where the user stands: from a subfolder, a sibling folder, or absolute
    for cwd, argument in ((folder / "blueprints", "fleet.yaml"), (folder / "docs", "../blueprints/fleet.yaml"),
                          (folder / "docs", str(folder / "blueprints" / "fleet.yaml"))):
        run = run_fleet(["validate", "--stack", "prod", "-f", argument], cwd)
        assert run.returncode == 1 and "cannot read" not in run.stderr and "no such file" not in run.stderr
        assert run.stderr.splitlines()[0].startswith(f"{expected[cwd]}: ClusterSet/demo: spec.hub.template: "
                                                     "unknown template"), run.stderr


def test_find_project_walks_up_and_display_path_is_relative_to_the_user(tmp_path: Path) -> None:
    folder = project(tmp_path, [])
    (folder / "docs" / "deep").mkdir(parents=True)
    assert find_project(folder / "docs" / "deep") == folder
    assert find_project(tmp_path) is None
    assert display_path(folder / "blueprints" / "x.yaml", folder / "docs") == "../blueprints/x.yaml"
    assert display_path(folder / "x.yaml", folder) == "x.yaml"
    assert display_path(Path("/etc/passwd"), folder) == "/etc/passwd"


def test_f_replacing_the_stacks_blueprints_is_explained(tmp_path: Path) -> None:
    folder = project(tmp_path, ["blueprints.yaml"])
    (folder / "blueprints.yaml").write_text(dump(template()))
    (folder / "set.yaml").write_text(dump(cluster_set()))
    assert run_fleet(["validate", "--stack", "prod", "-f", "set.yaml", "-f", "blueprints.yaml"], folder).returncode == 0
    run = run_fleet(["validate", "--stack", "prod", "-f", "set.yaml"], folder)
    assert run.returncode == 1
    assert "unknown template 'base'; no ClusterTemplate documents were loaded; it is defined in blueprints.yaml, " \
           "which -f replaced (the stack's fleet:declarations): name that file with -f too" in run.stderr


def test_inline_versions_read_as_pulumi_reads_them_with_the_fix_named(tmp_path: Path) -> None:
    """Pulumi decodes a stack file's structured config into numbers (object.go, unmarshalObject):
    `version: 1.30` inline reaches the program as 1.3 under `pulumi up`, so offline reads the same
    and both say how to write it; declaration files, which only fleet reads, keep it as text."""
    folder = project(tmp_path, [])
    (folder / "Pulumi.prod.yaml").write_text(textwrap.dedent("""\
        config:
          fleet:documents:
            - kind: ClusterTemplate
              spec:
                version: 1.30
            - kind: ClusterTemplate
              spec:
                version: "1.30"
        """))
    config, problems = read_stack_file(folder, "prod")
    assert problems == []
    assert [d["spec"]["version"] for d in config.values["fleet:documents"]] == [1.3, "1.30"]
    _, problems = plan_documents(template(version=1.3), cluster_set())
    assert messages(problems) == [
        'fleets/test.yaml: ClusterTemplate/base: spec.version: the version must be text in quotes, e.g. '
        'version: "1.30"; a bare 1.3 is a number (in a stack file Pulumi passes 1.30 to the program as 1.3)']
    assert load_documents("version: 1.30\n", "f.yaml") == [{"version": "1.30"}]


# --- the loader's own properties ----------------------------------------------------------------


MEASURE = textwrap.dedent("""
    import json, sys, time, tracemalloc
    from pathlib import Path
    from fleet.safeyaml import LoadError, load_documents
    tracemalloc.start()
    try:
        load_documents(Path(sys.argv[1]), "f.yaml")
        outcome = "loaded"
    except LoadError as error:
        outcome = str(error)
    print(json.dumps({"outcome": outcome, "peak": tracemalloc.get_traced_memory()[1]}))
""")


@pytest.mark.parametrize("name", ["billion-laughs", "deep-brackets", "huge-value", "not-utf8"])
def test_refusals_take_bounded_memory(tmp_path: Path, name: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(hostile_inputs()[name])
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                         preexec_fn=limited, timeout=120, cwd=PROJECT_DIR, check=True)
    result = json.loads(run.stdout)
    assert EXPECTED[name] in result["outcome"]
    assert result["peak"] < 10 * MAX_BYTES + 32 * 1024 * 1024  # at most the read limit, a few times over


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_load_or_are_refused_in_one_line(data: bytes) -> None:
    try:
        load_documents(data.decode("utf-8", errors="surrogateescape"), "r.yaml")
    except LoadError as error:
        assert "\n" not in str(error) and str(error).startswith("r.yaml: ")


YAML_ALPHABET = "[]{}:,-&*!|>'\"#?%@` \n\tab01.~=<\\"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=YAML_ALPHABET, max_size=400))
def test_yaml_shaped_noise_loads_or_is_refused_in_one_line(text: str) -> None:
    try:
        load_documents(text, "n.yaml")
    except LoadError as error:
        assert "\n" not in str(error) and str(error).startswith("n.yaml: ")


@settings(max_examples=50, deadline=None)
@given(depth=st.integers(65, 3000), opener=st.sampled_from(["[", "{a: ", "- ", "? "]))
def test_any_depth_past_the_limit_is_refused(depth: int, opener: str) -> None:
    text = opener * depth if opener.strip() != "-" else "".join("  " * i + "-\n" for i in range(depth))
    with pytest.raises(LoadError):
        load_documents(text, "d.yaml")


def test_json_files_go_through_the_same_limits(tmp_path: Path) -> None:
    cases = {
        "missing.json": (None, "no such file"),
        "garbage.json": (b"\x00\xff", "not UTF-8 text"),
        "truncated.json": (b'{"resources": [', "not valid JSON: Expecting value at line 1"),
        "deep.json": (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        "duplicate.json": (b'{"a": 1, "a": 2}', "JSON object has the key 'a' twice"),
        "nan.json": (b'{"a": NaN}', "JSON holds NaN"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(LoadError) as caught:
            load_json(path, name)
        assert str(caught.value).startswith(f"{name}: ") and expected in str(caught.value)
    big = tmp_path / "big.json"
    big.write_bytes(b'"' + b"x" * 2048 + b'"')
    with pytest.raises(LoadError, match=r"big\.json: is larger than 1 kB"):
        load_json(big, "big.json", max_bytes=1024)
