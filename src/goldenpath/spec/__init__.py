"""The project spec (``goldenpath.yaml``): models, loading and the JSON Schema."""

from __future__ import annotations

import json

from pydantic import BaseModel

from goldenpath.spec.loader import SPEC_FILENAME, find_spec_file, load_spec, parse_spec
from goldenpath.spec.models import (
    ColumnSpec,
    ContractSpec,
    DataSpec,
    ProjectSpec,
    SliceSpec,
    Spec,
    SplitSpec,
    TaskSpec,
    TrainingSpec,
)

__all__ = [
    "SPEC_FILENAME",
    "ColumnSpec",
    "ContractSpec",
    "DataSpec",
    "ProjectSpec",
    "SliceSpec",
    "Spec",
    "SplitSpec",
    "TaskSpec",
    "TrainingSpec",
    "find_spec_file",
    "json_schema",
    "load_spec",
    "parse_spec",
]


def json_schema(model: type[BaseModel] = Spec, *, title: str = "goldenpath.yaml") -> str:
    """The JSON Schema (draft 2020-12) of ``model``, by default of ``goldenpath.yaml``, as
    indented JSON for editors and CI checks."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return json.dumps(schema, indent=2, sort_keys=True)
