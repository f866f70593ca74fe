"""Every Kubernetes object the program writes validates against its upstream schema: core kinds with
kubernetes-validate, custom resources with the CRDs in ../shared/schemas/crds (read there, never
copied: the FluxInstance CRD is AGPL-3.0)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.gitops_support import has_crd, is_core, kubernetes_objects, normalise_numbers, validate_custom

KUBERNETES_VERSION = "1.35.0"
# Kinds with no upstream schema available offline; they are checked for shape only.
NO_SCHEMA = {"crd.k8s.amazonaws.com/v1alpha1/ENIConfig"}


def unredacted_shape(body: dict) -> dict:
    """resources.json redacts a Secret's whole data/stringData: give it back a map shape."""
    if body["kind"] == "Secret":
        return {
            k: ({"redacted": v} if k in ("data", "stringData") and v == "[secret]" else v)
            for k, v in body.items()
        }
    return body


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_program_objects_validate(
    stack: str, prod_synth: dict, staging_synth: dict, shared_dir: Path
) -> None:
    synth = {"prod": prod_synth, "staging": staging_synth}[stack]
    counts = {"core": 0, "custom": 0}
    kinds = set()
    for record, body in kubernetes_objects(synth):
        body = unredacted_shape(normalise_numbers(body))
        kind = f"{body['apiVersion']}/{body['kind']}"
        kinds.add(kind)
        if is_core(body):
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
            counts["core"] += 1
        elif has_crd(body):
            validate_custom(body)
            counts["custom"] += 1
        else:
            assert kind in NO_SCHEMA, f"{record['name']}: no schema for {kind}"
            assert body["metadata"]["name"], record["name"]
    assert counts["core"] and counts["custom"]
    assert "fluxcd.controlplane.io/v1/FluxInstance" in kinds


def test_invalid_objects_are_caught(shared_dir: Path) -> None:
    """The validators reject what the API server would (guards against a validator that accepts all)."""
    import jsonschema

    bad_instance = {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {"name": "flux", "namespace": "flux-system"},
        "spec": {"distribution": {"version": "2.x"}, "cluster": {"type": "openstack"}},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(bad_instance)
    bad_secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"a": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad_secret, KUBERNETES_VERSION, strict=True)
