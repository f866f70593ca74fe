"""Property-based tests: stable names and ranges, no collisions, and no crash on bad input."""

from __future__ import annotations

import copy
import ipaddress
import itertools
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.spec.regions import LOCATIONS
from tests.helpers import cluster_set, dump, plan_documents, plan_yaml, template

LOCATION_KEYS = sorted(LOCATIONS)
REGION_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5})?", fullmatch=True)


@st.composite
def region_entries(draw: st.DrawFn, min_size: int = 1, max_size: int = 8) -> list[dict[str, Any]]:
    """Valid region entries: distinct names and distinct cloud locations."""
    places = draw(st.lists(st.sampled_from(LOCATION_KEYS), min_size=min_size, max_size=max_size, unique=True))
    names = draw(st.lists(REGION_NAMES, min_size=len(places), max_size=len(places), unique=True))
    return [
        {"name": name, "provider": provider, "location": location, "template": "base",
         "clusters": draw(st.integers(1, 4))}
        for name, (provider, location) in zip(names, places, strict=True)
    ]


def _expand(entries: list[dict[str, Any]]):
    plan, problems = plan_documents(template(), cluster_set(regions=entries, hub=None))
    assert problems == [], [str(p) for p in problems]
    return {c.name: c for c in plan.clusters}


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(region_entries())
def test_random_valid_sets_have_unique_names_and_disjoint_ranges(entries):
    clusters = _expand(entries)
    assert len(clusters) == sum(e["clusters"] for e in entries)
    blocks = sorted((ipaddress.ip_network(c.network.block) for c in clusters.values()),
                    key=lambda n: int(n.network_address))
    assert all(not a.overlaps(b) for a, b in itertools.pairwise(blocks))
    assert all(len(name) <= 40 or c.provider != "gcp" for name, c in clusters.items())


@FAST
@given(region_entries(min_size=2), st.randoms(use_true_random=False), st.data())
def test_insert_remove_reorder_keeps_every_other_cluster(entries, rng, data):
    before = _expand(entries)
    shuffled = list(entries)
    rng.shuffle(shuffled)
    removed = shuffled.pop(data.draw(st.integers(0, len(shuffled) - 1)))
    after = _expand(shuffled)
    kept = {name: c for name, c in before.items() if c.region != removed["name"]}
    assert set(after) == set(kept)
    for name, cluster in kept.items():
        assert after[name].network == cluster.network
        assert after[name].labels == cluster.labels
    # putting the removed entry back, anywhere, restores exactly the original clusters
    position = data.draw(st.integers(0, len(shuffled)))
    restored = _expand([*shuffled[:position], removed, *shuffled[position:]])
    assert {n: c.network for n, c in restored.items()} == {n: c.network for n, c in before.items()}


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 99) | st.text(max_size=12) | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> list[Any]:
    documents: list[Any] = [template(), cluster_set()]
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(documents))
        node, key = _random_slot(draw, target)
        if node is None:
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[key] = draw(JUNK)
        elif action == "delete" and isinstance(node, dict):
            node.pop(key, None)
        elif isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
    if draw(st.booleans()):
        documents.append(draw(JUNK))
    return documents


def _random_slot(draw: st.DrawFn, document: Any) -> tuple[Any, Any]:
    node, key = None, None
    current = document
    for _ in range(draw(st.integers(1, 5))):
        if isinstance(current, dict) and current:
            key = draw(st.sampled_from(sorted(current, key=str)))
        elif isinstance(current, list) and current:
            key = draw(st.integers(0, len(current) - 1))
        else:
            break
        node, current = current, current[key]
    return node, key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_malformed_documents_give_problems_never_exceptions(documents):
    plan, problems = plan_documents(*copy.deepcopy(documents))
    for problem in problems:
        assert problem.message and str(problem).count(":") >= 1
    assert bool(problems) != bool(plan.clusters)  # either a plan or the reasons there is none


# --- hostile values: one short line per problem, nothing secret echoed (issue #11) -------------

TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
HOSTILE = st.one_of(
    st.builds(lambda n, c: c * n, st.integers(1_000, 50_000), st.sampled_from(["x", "é", "\n", "1.", "-"])),
    st.sampled_from([TOKEN, f"https://x-access-token:{TOKEN}@github.com/a/b.git", f"https://u:{TOKEN}@h/x",
                     f"{TOKEN}\n{TOKEN}", 10 ** 60, -(10 ** 30), True, 1e308, float("inf"), "0.0.0.0/0"]),
    st.dictionaries(st.integers() | st.booleans() | st.none(), st.just(TOKEN), min_size=1, max_size=2),
    st.lists(st.just(TOKEN), min_size=1, max_size=3),
)


@st.composite
def documents_with_hostile_values(draw: st.DrawFn) -> list[Any]:
    documents: list[Any] = [template(), cluster_set()]
    for _ in range(draw(st.integers(1, 3))):
        node, key = _random_slot(draw, draw(st.sampled_from(documents)))
        if node is not None:
            node[key] = draw(HOSTILE)
    return documents


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents_with_hostile_values())
def test_hostile_values_give_short_single_lines_that_never_quote_a_secret(documents):
    plan, problems = plan_documents(*copy.deepcopy(documents))
    for line in (str(p) for p in problems):
        assert "\n" not in line and len(line) < 1000, line[:300]
        assert TOKEN not in line and "Z9y8X7" not in line, line
    assert bool(problems) != bool(plan.clusters)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents(), st.integers(0, 10_000))
def test_documents_as_yaml_text_go_through_the_loader_with_the_same_outcome(documents, seed):
    """What hypothesis builds as data, written as a file and read back: the loader never raises, and
    a key repeated in the text is refused with its line instead of silently keeping the last."""
    text = dump(*[d if isinstance(d, dict) else {"value": d} for d in documents])
    _, problems = plan_yaml(text)
    assert all("\n" not in str(p) for p in problems)
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"\s*[A-Za-z_][A-Za-z0-9_-]*: \S", line)]
    if keyed:
        index = keyed[seed % len(keyed)]
        repeated = "\n".join([*lines[: index + 1], lines[index], *lines[index + 1:]])
        _, problems = plan_yaml(repeated)
        assert len(problems) == 1 and f"line {index + 2}" in str(problems[0]) and "duplicate key" in str(problems[0])
