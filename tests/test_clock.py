"""The day the Kubernetes support calendar is judged at is an input (issue #14: "the project's own
tests never depend on today's date"). Pure code never reads a clock; the shell reads one input,
FLEET_AS_OF (else the system's date), which `--as-of` overrides; a synth hands its day to the
program, every shard process and the guardrails. The far-future tests move the shell's clock to
2031, when every version of the example stacks is past the end of all support."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pulumi
import pytest

import fleet.stack
from fleet import rules
from fleet.cli import main
from fleet.spec.versions import AS_OF
from fleet.stack import AS_OF_VARIABLE, PROJECT_DIR, clock_today, plan_stack, read_stack_file
from fleet.synth.engine import run_program
from tests.test_shards_synth import EU_WEST, US_EAST, project

FAR = date(2031, 6, 1)  # past the end of every support window of 1.35 and 1.36, on every cloud
PAST_SUPPORT = "is past end of support"

# Modules that decide, and so take the day as an argument (docs/upgrading.md).
PURE = ("fleet/plan.py", "fleet/spec/*.py", "fleet/rules.py", "fleet/rollout.py", "fleet/gates.py",
        "fleet/recorded.py", "fleet/behaviour/*.py")
CLOCK_CALLS = {"today", "now", "utcnow", "fromtimestamp", "utcfromtimestamp"}
CLOCK_FUNCTIONS = {("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime")}
# The one clock reading the test suite and the benchmarks may make: when a benchmark report was taken.
REPORT_TIMESTAMPS = {"benchmarks/__main__.py": 1}


def reads_clock(call: ast.Call) -> bool:
    if not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
    if name in {"date", "datetime"} and call.func.attr in CLOCK_CALLS:
        return True
    return (name, call.func.attr) in CLOCK_FUNCTIONS


def clock_calls(path: Path) -> list[str]:
    """`date.today()`, `dt.datetime.now()`, `time.time()`... called in a file, as 'line: call'."""
    tree = ast.parse(path.read_text(), str(path))
    return [f"{node.lineno}: {ast.unparse(node.func)}()" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and reads_clock(node)]


def files(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in PROJECT_DIR.glob(pattern))


class FarClock(date):
    """The system's date, moved to 2031 (what fleet.stack reads as `date`)."""

    @classmethod
    def today(cls) -> date:
        return FAR


@pytest.fixture
def far_clock(monkeypatch):
    """The shell's clock in 2031 and no FLEET_AS_OF: what a user running fleet in 2031 gets."""
    monkeypatch.setattr(fleet.stack, "date", FarClock)
    monkeypatch.delenv(AS_OF_VARIABLE)
    monkeypatch.chdir(PROJECT_DIR)


# --- pure code reads no clock -----------------------------------------------------------------


@pytest.mark.parametrize("path", files(*PURE), ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_pure_modules_read_no_clock(path: Path) -> None:
    assert clock_calls(path) == [], f"{path.relative_to(PROJECT_DIR)} reads the clock; take the day as an argument"


def test_the_check_finds_a_clock_call(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("import datetime as dt, time\nfrom datetime import date\n"
                      "a = date.today()\nb = dt.datetime.now(dt.UTC)\nc = time.time()\nd = date.fromisoformat('x')\n")
    assert clock_calls(source) == ["3: date.today()", "4: dt.datetime.now()", "5: time.time()"]


def test_tests_and_benchmarks_read_no_clock() -> None:
    """A test (or a benchmark's fleet) judged at today would fail once a date passes."""
    readings = {str(p.relative_to(PROJECT_DIR)): clock_calls(p) for p in files("tests/*.py", "benchmarks/*.py")}
    assert {f: len(c) for f, c in readings.items() if c} == REPORT_TIMESTAMPS, readings


# --- the shell's one input --------------------------------------------------------------------


def test_fleet_as_of_is_the_day_else_the_system_date(monkeypatch) -> None:
    monkeypatch.setattr(fleet.stack, "date", FarClock)
    assert clock_today({AS_OF_VARIABLE: "2027-04-01"}) == (date(2027, 4, 1), [])
    assert clock_today({AS_OF_VARIABLE: " "}) == (FAR, [])
    assert clock_today({}) == (FAR, [])


def test_a_malformed_fleet_as_of_is_one_line_naming_the_variable(capsys, monkeypatch) -> None:
    monkeypatch.setenv(AS_OF_VARIABLE, "2027-02-30")
    monkeypatch.chdir(PROJECT_DIR)
    assert main(["validate", "--stack", "prod"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "FLEET_AS_OF: '2027-02-30' is not a day: expected YYYY-MM-DD, the day the Kubernetes support calendar is "
        "judged at (unset: today)",
        "1 problem(s) found"]


def test_a_user_without_as_of_is_judged_at_today(far_clock, capsys) -> None:
    """Nothing changes for a user: no --as-of and no FLEET_AS_OF is the system's date."""
    assert main(["validate", "--stack", "prod"]) == 1
    assert PAST_SUPPORT in capsys.readouterr().err


def test_fleet_as_of_and_as_of_judge_at_their_day(far_clock, capsys, monkeypatch) -> None:
    assert main(["validate", "--stack", "prod", "--as-of", AS_OF.isoformat()]) == 0
    monkeypatch.setenv(AS_OF_VARIABLE, AS_OF.isoformat())
    assert main(["validate", "--stack", "prod"]) == 0
    assert main(["validate", "--stack", "prod", "--as-of", FAR.isoformat()]) == 1  # the flag wins
    assert "valid: prod" in capsys.readouterr().out


def test_plan_stack_judges_at_the_day_it_is_given(far_clock) -> None:
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    judged = plan_stack(config, PROJECT_DIR, AS_OF)
    assert (judged.problems, judged.as_of) == ([], AS_OF)
    assert any(PAST_SUPPORT in p.message for p in plan_stack(config, PROJECT_DIR).problems)


# --- the program, synth and the guardrails ----------------------------------------------------


def test_the_program_judges_at_the_day_it_is_handed(far_clock) -> None:
    """`fleet synth` hands the program its day as a user does under `pulumi up`: FLEET_AS_OF."""
    config, _ = read_stack_file(PROJECT_DIR, "staging")
    with pytest.raises(pulumi.RunError, match=PAST_SUPPORT):
        run_program(PROJECT_DIR, config, FAR)
    assert AS_OF_VARIABLE not in os.environ  # restored afterwards
    assert run_program(PROJECT_DIR, config, AS_OF).records


def test_deep_validation_synthesises_at_the_as_of_day(far_clock, capsys) -> None:
    """validate --deep runs the program and the resource guardrails at --as-of, not at the clock."""
    assert main(["validate", "--deep", "--stack", "staging", "--as-of", AS_OF.isoformat()]) == 0
    assert "valid: staging" in capsys.readouterr().out


def test_the_resource_and_plan_rules_judge_at_the_day_given(prod_synth: dict) -> None:
    assert rules.check_synth(prod_synth, AS_OF) == []
    late = {v.rule.id for v in rules.check_synth(prod_synth, FAR)}
    assert late == {"supported-kubernetes-version"}
    config, _ = read_stack_file(PROJECT_DIR, "prod")
    plan = plan_stack(config, PROJECT_DIR, AS_OF).plan
    assert [r.id for _, r, _ in rules.violations(plan, FAR)] == ["supported-kubernetes-version"] * len(plan.clusters)
    assert list(rules.violations(plan, AS_OF)) == []


@pytest.mark.parametrize("how", [["--jobs", "2"], ["--shard", "eu-west"]])
def test_a_sharded_synth_hands_its_day_to_every_shard(tmp_path: Path, how: list[str]) -> None:
    """The day reaches the shard programs, in this process (--shard) or in worker processes
    (--jobs), whatever FLEET_AS_OF the process started with."""
    folder = project(tmp_path / "fleet", [US_EAST, EU_WEST])
    run = subprocess.run([sys.executable, "-m", "fleet", "synth", "--stack", "prod", "--out", str(tmp_path / "out"),
                          "--as-of", AS_OF.isoformat(), *how], cwd=folder, capture_output=True, text=True,
                         env={**os.environ, AS_OF_VARIABLE: FAR.isoformat()}, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("synth prod"), run.stdout
