"""The scoring endpoints' request bodies in the OpenAPI document, written from the data
contract: each feature column with its JSON type, nullability, range, allowed values and string
length, which columns a row needs, and the rows per request. Data generated from these schemas
is accepted (schemathesis checks it), so they are exact where they can be and narrower where
JSON Schema cannot say a rule (the columns of one request have equal lengths)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from goldenpath.serving._oip import OUTPUTS
from goldenpath.serving.validation import RowValidator
from goldenpath.spec.models import ColumnSpec, Spec

__all__ = ["infer_schema", "invocations_schema", "predict_schema"]

_JSON_TYPE = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
# 64-bit integers; the top bound is the largest one a float64 holds (2**63 - 1 is read as 2**63
# by tools that hold bounds as floats, and 2**63 is refused)
_INT64 = (-(2**63), 2**63 - 1024)
_FLOAT_MAX = float(np.finfo(np.float64).max)
_DATATYPE = {"int": "INT64", "float": "FP64", "str": "BYTES", "bool": "BOOL", "datetime": "BYTES"}


def column_schema(spec: ColumnSpec, max_chars: int) -> dict[str, Any]:
    """One value of a contract column, as JSON Schema."""
    if spec.dtype == "datetime":
        schema: dict[str, Any] = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": _JSON_TYPE[spec.dtype]}
    if spec.dtype in ("int", "float"):
        integer = spec.dtype == "int"
        low, high = _INT64 if integer else (-_FLOAT_MAX, _FLOAT_MAX)
        if spec.min is not None:  # an integer column's bounds are integers
            low = max(low, math.ceil(spec.min) if integer else spec.min)
        if spec.max is not None:
            high = min(high, math.floor(spec.max) if integer else spec.max)
        schema["minimum"], schema["maximum"] = low, high
    if spec.dtype == "str":
        schema["maxLength"] = max_chars
    if spec.allowed is not None:
        schema = {"enum": list(spec.allowed)}
    if spec.description:
        schema["description"] = spec.description
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


class Schemas:
    """The request schemas of one project's scoring endpoints."""

    def __init__(self, spec: Spec, validator: RowValidator) -> None:
        limits = spec.serving.limits
        self.max_rows = limits.max_rows
        self.validator = validator
        self.columns = {
            c: column_schema(s, limits.max_string_chars) for c, s in validator.specs.items()
        }
        target = spec.data.contract.columns.get(spec.task.target)
        self.target = (
            {spec.task.target: column_schema(target, limits.max_string_chars)}
            if target is not None
            else {}
        )

    def row(self) -> dict[str, Any]:
        """One row: contract column -> value (every feature column; the id and time columns
        and the target may be given)."""
        return {
            "type": "object",
            "description": "one row: contract column -> value",
            "properties": {**self.columns, **self.target},
            "required": list(self.validator.features),
            "additionalProperties": self.validator.allow_extra,
        }

    def rows(self) -> dict[str, Any]:
        return {"type": "array", "items": self.row(), "minItems": 1, "maxItems": self.max_rows}

    def by_column(self) -> dict[str, Any]:
        """Column -> list of values (MLflow's column form); one row in the schema, since JSON
        Schema cannot say that the lists have equal lengths (any equal length is accepted)."""
        return {
            "type": "object",
            "description": "column -> list of values, all lists of one length (the rows)",
            "properties": {
                c: {"type": "array", "items": s, "minItems": 1, "maxItems": 1}
                for c, s in self.columns.items()
            },
            "required": list(self.validator.features),
            "additionalProperties": False,
        }


def predict_schema(s: Schemas) -> dict[str, Any]:
    return {
        "anyOf": [
            s.row(),
            s.rows(),
            {
                "type": "object",
                "properties": {
                    "records": s.rows(),
                    "key": {"type": "string", "description": "sticky routing key (canary)"},
                },
                "required": ["records"],
                "additionalProperties": False,
            },
        ]
    }


def invocations_schema(s: Schemas) -> dict[str, Any]:
    """MLflow's four JSON forms (text/csv is described in prose: a header line of column
    names, then one line per row)."""
    features = list(s.validator.features)
    split = {
        "type": "object",
        "properties": {
            "columns": {"const": features, "description": "the column names, in this order"},
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": s.max_rows,
                "items": {
                    "type": "array",
                    "prefixItems": [s.columns[c] for c in features],
                    "items": False,
                    "minItems": len(features),
                    "maxItems": len(features),
                },
            },
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"dataframe_split": split},
                "required": ["dataframe_split"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"dataframe_records": s.rows()},
                "required": ["dataframe_records"],
                "additionalProperties": False,
            },
            *(
                {
                    "type": "object",
                    "properties": {key: {"anyOf": [s.rows(), s.by_column()]}},
                    "required": [key],
                    "additionalProperties": False,
                }
                for key in ("instances", "inputs")
            ),
        ]
    }


def infer_schema(s: Schemas) -> dict[str, Any]:
    """An inference request with JSON tensors: one input per feature column, in the contract's
    order (any order is accepted), one element per row; one row in the schema (the tensors of a
    request have equal lengths). The binary tensor data extension is described in prose."""
    specs = s.validator.specs

    def tensor(column: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "name": {"const": column},
                "shape": {"const": [1]},
                "datatype": {"const": _DATATYPE[specs[column].dtype]},
                "data": {
                    "type": "array",
                    "items": s.columns[column],
                    "minItems": 1,
                    "maxItems": 1,
                },
            },
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
        }

    features = list(s.validator.features)
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "inputs": {
                "type": "array",
                "prefixItems": [tensor(c) for c in features],
                "items": False,
                "minItems": len(features),
                "maxItems": len(features),
            },
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"enum": list(OUTPUTS)},
                        "parameters": {
                            "type": "object",
                            "properties": {"binary_data": {"type": "boolean"}},
                        },
                    },
                    "required": ["name"],
                },
            },
            "parameters": {
                "type": "object",
                "properties": {"binary_data_output": {"type": "boolean"}},
            },
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }
