"""Rollouts: a fleet-wide change that reaches clusters wave by wave. Pure decisions, no Pulumi.

A ClusterSet's `spec.rollout` names the template clusters run now (`from`), the new revision
declared next to it (`to`), ordered waves, a soak time, gates, and `reached`: how many waves run
the new revision. The planner gives a cluster the `to` template when its wave index is below
`reached`, so each step of a rollout is one reviewed change of one number, whose preview and diff
touch only that wave's clusters, and git always says what each cluster runs.

Waves select clusters of the `from` template (a cluster belongs to the first wave that selects
it): named clusters, the first cluster of each region entry (a canary per region and cloud),
region entries, or labels. Clusters no wave selects form a last wave, `rest`.

Time is an input: the soak gate compares `now` with the time the previous step was applied, both
given by the caller (the command line reads them from the clock and from git: see
docs/upgrading.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleet.problems import did_you_mean
from fleet.spec.models import Rollout

REST_WAVE = "rest"
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([mhd])")


@dataclass(frozen=True)
class Candidate:
    """A cluster of the set as the rollout sees it."""

    name: str
    region: str  # region entry name (the hub: its location)
    index: int  # position in the entry
    role: str  # hub | spoke
    provider: str
    labels: Mapping[str, str]  # the entry's labels
    template: str  # the template the declaration gives it


@dataclass(frozen=True)
class WavePlan:
    name: str
    index: int
    clusters: tuple[str, ...]
    implicit: bool = False  # the last wave of clusters no wave selected


@dataclass(frozen=True)
class RolloutProblem:
    path: str  # field path under the ClusterSet, e.g. spec.rollout.waves[0].clusters[1]
    message: str


def _selects(wave_index: int, rollout: Rollout, candidate: Candidate) -> bool:
    wave = rollout.waves[wave_index]
    facts = {**candidate.labels, "region": candidate.region, "cloud": candidate.provider}
    return (candidate.name in wave.clusters
            or (wave.first_of_each_entry and candidate.role == "spoke" and candidate.index == 0)
            or (candidate.region in wave.regions and candidate.role == "spoke")
            or (bool(wave.selector) and all(facts.get(k) == v for k, v in wave.selector.items())))


def waves(rollout: Rollout, candidates: Sequence[Candidate]) -> tuple[list[WavePlan], list[RolloutProblem]]:
    """The rollout's waves over the clusters of its `from` template, and what is wrong with them."""
    rolling = [c for c in candidates if c.template == rollout.from_]
    problems = _reference_problems(rollout, candidates, rolling)
    taken: set[str] = set()
    plans = []
    for index, wave in enumerate(rollout.waves):
        chosen = tuple(c.name for c in rolling if c.name not in taken and _selects(index, rollout, c))
        taken.update(chosen)
        if not chosen:
            problems.append(RolloutProblem(f"spec.rollout.waves[{index}]", (
                f"wave '{wave.name}' selects no cluster of template '{rollout.from_}' that an earlier wave "
                "did not take; select other clusters or remove the wave")))
        plans.append(WavePlan(wave.name, index, chosen))
    rest = tuple(c.name for c in rolling if c.name not in taken)
    if rest:
        plans.append(WavePlan(REST_WAVE, len(plans), rest, implicit=True))
    if rollout.reached > len(plans):
        problems.append(RolloutProblem("spec.rollout.reached", (
            f"{rollout.reached} is more than the {len(plans)} wave(s) of this rollout; "
            f"at most {len(plans)} (then `fleet rollout finish`)")))
    return plans, problems


def _reference_problems(rollout: Rollout, candidates: Sequence[Candidate],
                        rolling: Sequence[Candidate]) -> list[RolloutProblem]:
    problems = []
    if rollout.from_ == rollout.to:
        problems.append(RolloutProblem("spec.rollout.to", (
            f"'{rollout.to}' is also `from`: declare the new revision as a new ClusterTemplate next to "
            f"'{rollout.from_}' and name it here")))
    if not rolling:
        problems.append(RolloutProblem("spec.rollout.from", (
            f"no cluster of this ClusterSet uses template '{rollout.from_}'; name the template its "
            "region entries use")))
    names = {c.name: c for c in candidates}
    entries = {c.region for c in candidates if c.role == "spoke"}
    for w, wave in enumerate(rollout.waves):
        if wave.name == REST_WAVE:
            problems.append(RolloutProblem(f"spec.rollout.waves[{w}].name",
                                           f"'{REST_WAVE}' names the implicit last wave; choose another name"))
        for c, name in enumerate(wave.clusters):
            found = names.get(name)
            if found is None:
                problems.append(RolloutProblem(f"spec.rollout.waves[{w}].clusters[{c}]", (
                    f"no cluster '{name}' in this ClusterSet{did_you_mean(name, names)}; clusters: "
                    f"{', '.join(sorted(names)) or 'none'}")))
            elif found.template != rollout.from_:
                problems.append(RolloutProblem(f"spec.rollout.waves[{w}].clusters[{c}]", (
                    f"cluster '{name}' runs template '{found.template}', not '{rollout.from_}': it is not "
                    "part of this rollout")))
        for r, region in enumerate(wave.regions):
            if region not in entries:
                problems.append(RolloutProblem(f"spec.rollout.waves[{w}].regions[{r}]", (
                    f"no region entry '{region}'{did_you_mean(region, entries)}; entries: "
                    f"{', '.join(sorted(entries))}")))
        if not (wave.clusters or wave.first_of_each_entry or wave.regions or wave.selector):
            problems.append(RolloutProblem(f"spec.rollout.waves[{w}]", (
                "selects nothing: give clusters, firstOfEachEntry: true, regions or selector")))
    names_seen = [w.name for w in rollout.waves]
    for w, name in enumerate(names_seen):
        if names_seen.index(name) != w:
            problems.append(RolloutProblem(f"spec.rollout.waves[{w}].name", f"duplicate wave name '{name}'"))
    return problems


def wave_index_of(plans: Sequence[WavePlan], cluster: str) -> int | None:
    return next((w.index for w in plans if cluster in w.clusters), None)


def on_new_revision(rollout: Rollout, plans: Sequence[WavePlan], cluster: str) -> bool:
    """Whether the cluster's wave has been reached: it runs the `to` template."""
    index = wave_index_of(plans, cluster)
    return index is not None and index < rollout.reached


# --- steps and the soak gate -------------------------------------------------------------------


def duration(text: str) -> timedelta:
    """'30m' | '24h' | '2d' (checked by the model) -> timedelta."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class Step:
    """What `fleet rollout advance` would do next."""

    kind: str  # "advance" (reach the next wave) | "finish" (every wave reached) | "none"
    wave: WavePlan | None  # the wave this step reaches (advance)
    previous: WavePlan | None  # the wave whose gates this step needs (None before the first wave)


def next_step(rollout: Rollout, plans: Sequence[WavePlan]) -> Step:
    previous = plans[rollout.reached - 1] if rollout.reached > 0 else None
    if rollout.reached < len(plans):
        return Step("advance", plans[rollout.reached], previous)
    return Step("finish", None, previous)


def soak_problem(rollout: Rollout, previous: WavePlan | None, applied_at: datetime | None,
                 now: datetime) -> str | None:
    """None when the soak time since the previous wave was applied has passed (or there is no
    previous wave); otherwise why the rollout waits."""
    if previous is None:
        return None
    if applied_at is None:
        return (f"soak: no apply time is known for wave '{previous.name}'; give --applied-at (the time "
                "the step that reached it was deployed)")
    if applied_at > now:
        return f"soak: wave '{previous.name}' was applied at {applied_at.isoformat()}, after now ({now.isoformat()})"
    left = applied_at + duration(rollout.soak) - now
    if left > timedelta(0):
        return (f"soak: wave '{previous.name}' ({', '.join(previous.clusters)}) was applied at "
                f"{applied_at.isoformat()}; the soak of {rollout.soak} ends in {_human(left)}")
    return None


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60) + (1 if delta.total_seconds() % 60 else 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaveStatus:
    wave: WavePlan
    state: str  # "done" | "this step" | "next" | "waiting"


def statuses(rollout: Rollout, plans: Sequence[WavePlan], base_reached: int | None = None) -> list[WaveStatus]:
    """Each wave's state. With `base_reached` (the base of a pull request), the waves between it
    and `reached` are the ones this step changes."""
    result = []
    for wave in plans:
        if base_reached is not None and base_reached <= wave.index < rollout.reached:
            state = "this step"
        elif wave.index < rollout.reached:
            state = "done"
        elif wave.index == rollout.reached:
            state = "next"
        else:
            state = "waiting"
        result.append(WaveStatus(wave, state))
    return result


_STATE_TEXT = {"done": "runs the new revision", "this step": "**changes in this step**",
               "next": "next step", "waiting": "waits"}


def status_markdown(cluster_set: str, rollout: Rollout, plans: Sequence[WavePlan],
                    base_reached: int | None = None) -> str:
    lines = [f"#### rollout of ClusterSet `{cluster_set}`: `{rollout.from_}` → `{rollout.to}`", "",
             f"{rollout.reached} of {len(plans)} wave(s) reached; soak {rollout.soak}.", "",
             "| wave | clusters | state |", "| --- | --- | --- |"]
    for status in statuses(rollout, plans, base_reached):
        lines.append(f"| {status.wave.name} | {', '.join(status.wave.clusters)} | {_STATE_TEXT[status.state]} |")
    return "\n".join(lines) + "\n"


def status_text(cluster_set: str, rollout: Rollout, plans: Sequence[WavePlan],
                base_reached: int | None = None) -> str:
    lines = [f"{cluster_set}: rollout {rollout.from_} -> {rollout.to}, {rollout.reached}/{len(plans)} "
             f"wave(s) reached, soak {rollout.soak}"]
    for status in statuses(rollout, plans, base_reached):
        lines.append(f"  {status.wave.index + 1}. {status.wave.name}: {status.state.replace('**', '')}: "
                     f"{', '.join(status.wave.clusters)}")
    return "\n".join(lines) + "\n"
