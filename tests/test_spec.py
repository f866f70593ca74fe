"""Loading documents: the canonical example, YAML errors, unknown fields, shapes."""

from __future__ import annotations

from pathlib import Path

from fleet.spec.load import parse_documents, read_files, read_yaml_documents
from fleet.spec.models import ClusterSet, ClusterTemplate
from tests.helpers import messages

CANONICAL = Path(__file__).resolve().parent.parent / "examples" / "canonical.yaml"


def test_canonical_documents_parse_verbatim():
    raw, problems = read_files([CANONICAL])
    assert problems == []
    declaration, problems = parse_documents(raw)
    assert problems == []
    template = declaration.templates["production-blueprint"].model
    assert isinstance(template, ClusterTemplate)
    assert template.api_version == "gitops.example.com/v1"
    assert template.spec.version == "1.28.0"
    assert template.spec.networking.cni == "cilium"
    assert template.spec.security.policy_engine == "OPA"
    assert template.spec.observability.opentelemetry is True
    (cluster_set,) = [c.model for c in declaration.cluster_sets]
    assert isinstance(cluster_set, ClusterSet)
    assert [(r.name, r.clusters) for r in cluster_set.spec.regions] == [("us-east", 3), ("eu-west", 2)]
    assert cluster_set.spec.load_balancing.algorithm == "weighted-least-request"


def test_unquoted_minor_version_keeps_its_zero():
    raw, _ = read_yaml_documents("kind: ClusterTemplate\nspec:\n  version: 1.30\n", "t.yaml")
    assert raw[0].body["spec"]["version"] == "1.30"


def test_yaml_syntax_error_names_file_and_line():
    _, problems = read_yaml_documents("kind: ClusterSet\nspec:\n  regions: [a, b\n", "fleets/bad.yaml")
    (line,) = messages(problems)
    assert line.startswith("fleets/bad.yaml: YAML syntax error at line ")
    assert "line 4" in line or "line 3" in line


def test_unknown_field_suggests_the_right_one():
    raw, _ = read_yaml_documents(
        "apiVersion: fleet.example.com/v1\nkind: ClusterTemplate\nmetadata: {name: t}\n"
        "spec:\n  version: '1.35'\n  networking: {cni: cilium, serviceTyp: internal}\n", "b.yaml")
    _, problems = parse_documents(raw)
    assert messages(problems) == [
        "b.yaml: ClusterTemplate/t: spec.networking.serviceTyp: unknown field 'serviceTyp' "
        "(did you mean 'serviceType'?)"
    ]


def test_unknown_field_without_near_match_lists_the_fields():
    raw, _ = read_yaml_documents(
        "apiVersion: fleet.example.com/v1\nkind: ClusterSet\nmetadata: {name: s}\n"
        "spec:\n  regions: [{name: a, template: t, zzz: 1}]\n", "c.yaml")
    _, problems = parse_documents(raw)
    (line,) = messages(problems)
    assert line.startswith("c.yaml: ClusterSet/s: spec.regions[0].zzz: unknown field 'zzz'; expected one of")
    assert "'template'" in line


def test_unknown_kind_and_enum_values_are_named():
    raw, _ = read_yaml_documents(
        "apiVersion: fleet.example.com/v1\nkind: ClusterSett\nmetadata: {name: s}\n---\n"
        "apiVersion: fleet.example.com/v1\nkind: ClusterTemplate\nmetadata: {name: t}\n"
        "spec: {version: '1.35', gitops: {engine: flx}}\n", "d.yaml")
    _, problems = parse_documents(raw)
    assert messages(problems) == [
        "d.yaml: ClusterSett/s: kind: unknown kind 'ClusterSett' (did you mean 'ClusterSet'?); "
        "expected one of 'ClusterSet', 'ClusterTemplate'",
        "d.yaml: ClusterTemplate/t: spec.gitops.engine: 'flx' is not allowed (did you mean 'flux'?); "
        "expected 'flux' or 'argocd'",
    ]


def test_missing_required_fields_and_wrong_types():
    raw, _ = read_yaml_documents(
        "apiVersion: fleet.example.com/v1\nkind: ClusterSet\nmetadata: {name: s}\n"
        "spec:\n  regions: [{name: a, clusters: many}]\n", "e.yaml")
    _, problems = parse_documents(raw)
    assert messages(problems) == [
        "e.yaml: ClusterSet/s: spec.regions[0].clusters: Input should be a valid integer, got 'many'",
        "e.yaml: ClusterSet/s: spec.regions[0].template: required field is missing",
    ]


def test_invalid_label_keys_and_values():
    raw, _ = read_yaml_documents(
        "apiVersion: fleet.example.com/v1\nkind: ClusterSet\nmetadata: {name: s}\n"
        "spec:\n  regions:\n  - {name: a, template: t, labels: {'bad key!': x}}\n"
        "  - {name: b, template: t, labels: {team: 'no spaces allowed'}}\n", "f.yaml")
    _, problems = parse_documents(raw)
    lines = messages(problems)
    assert lines[0].startswith("f.yaml: ClusterSet/s: spec.regions[0].labels: invalid label key 'bad key!'")
    assert lines[1].startswith("f.yaml: ClusterSet/s: spec.regions[1].labels: invalid label value "
                               "'no spaces allowed'")


def test_non_mapping_document_is_reported():
    raw, _ = read_yaml_documents("- just\n- a list\n", "g.yaml")
    _, problems = parse_documents(raw)
    assert messages(problems) == ["g.yaml: expected a mapping with apiVersion and kind, got a list"]


def test_unreadable_file():
    _, problems = read_files(["does/not/exist.yaml"])
    assert messages(problems)[0]== "does/not/exist.yaml: no such file"


def test_duplicate_templates_across_files():
    body = {"apiVersion": "fleet.example.com/v1", "kind": "ClusterTemplate", "metadata": {"name": "t"},
            "spec": {"version": "1.35"}}
    from fleet.spec.load import RawDocument

    _, problems = parse_documents([RawDocument("a.yaml", body), RawDocument("b.yaml", body)])
    assert messages(problems) == [
        "b.yaml: ClusterTemplate/t: metadata.name: duplicate ClusterTemplate 't' (also defined in a.yaml)"
    ]
