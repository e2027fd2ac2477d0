"""`goldenpath schema --kind`: the JSON Schemas of the documents goldenpath writes are valid
draft 2020-12 schemas, generated from the models that write the documents, and a document
written by an earlier goldenpath validates against today's schema (checked by jsonschema, an
implementation independent of pydantic)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from goldenpath._types import DOCUMENT_KINDS, DocumentKind
from goldenpath.reports.schemas import document_model, document_schema

EVALUATION_V1 = Path(__file__).parent / "evaluation" / "data" / "evaluation_v1.json"


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_each_kind_is_a_valid_schema_of_its_model(kind: DocumentKind) -> None:
    schema = json.loads(document_schema(kind))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert (
        schema["properties"].keys() == document_model(kind).model_json_schema()["properties"].keys()
    )


def test_documents_carry_schema_version() -> None:
    for kind in ("evaluation", "monitoring", "experiment"):
        assert "schema_version" in json.loads(document_schema(kind))["properties"], kind


def test_an_evaluation_written_before_the_typed_models_validates() -> None:
    document = json.loads(EVALUATION_V1.read_text())
    jsonschema.validate(document, json.loads(document_schema("evaluation")))
    broken = {**document, "metrics": {"roc_auc": {"value": "high"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(document_schema("evaluation")))
