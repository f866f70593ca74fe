"""Small builders for declarations used across tests."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import yaml

from fleet.plan import FleetPlan, expand
from fleet.problems import Problem
from fleet.settings import parse_settings
from fleet.spec.load import RawDocument, parse_documents, read_yaml_documents

TODAY = date(2026, 11, 22)

TEMPLATE: dict[str, Any] = {
    "apiVersion": "fleet.example.com/v1",
    "kind": "ClusterTemplate",
    "metadata": {"name": "base"},
    "spec": {"version": "1.35", "networking": {"cni": "cilium"}, "gitops": {"engine": "flux"}},
}

CLUSTER_SET: dict[str, Any] = {
    "apiVersion": "fleet.example.com/v1",
    "kind": "ClusterSet",
    "metadata": {"name": "demo"},
    "spec": {
        "environment": "production",
        "repository": {"url": "https://github.com/acme/fleet.git"},
        "hub": {"template": "base", "provider": "aws", "location": "us-east"},
        "regions": [{"name": "us-east", "clusters": 2, "template": "base", "provider": "aws"}],
    },
}


def template(**spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(TEMPLATE)
    document["spec"].update(spec)
    return document


def cluster_set(regions: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(CLUSTER_SET)
    if regions is not None:
        document["spec"]["regions"] = regions
    document["spec"].update(spec)
    return document


def plan_documents(*documents: dict[str, Any], settings: dict[str, Any] | None = None,
                   source: str = "fleets/test.yaml") -> tuple[FleetPlan, list[Problem]]:
    parsed_settings, problems = parse_settings({"gcpProject": "test-project"} if settings is None else settings,
                                               "Pulumi.test.yaml")
    assert not problems, problems
    declaration, problems = parse_documents([RawDocument(source, d) for d in documents])
    if problems:
        return FleetPlan(()), problems
    return expand(declaration, parsed_settings, "test", TODAY)


def plan_yaml(text: str, source: str = "fleets/test.yaml") -> tuple[FleetPlan, list[Problem]]:
    raw, problems = read_yaml_documents(text, source)
    if problems:
        return FleetPlan(()), problems
    return plan_documents(*[r.body for r in raw], source=source)


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def dump(*documents: dict[str, Any]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)
