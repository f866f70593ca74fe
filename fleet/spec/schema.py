"""JSON Schema of the declaration documents, from the pydantic models (for editors and docs)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from fleet.spec.models import ClusterSet, ClusterTemplate

Document = Annotated[ClusterTemplate | ClusterSet, Field(discriminator="kind")]


def declaration_schema() -> dict[str, Any]:
    schema = TypeAdapter(Document).json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fleet.example.com/schemas/fleet.schema.json",
        "title": "fleet declaration document (ClusterTemplate or ClusterSet)",
        **schema,
    }
