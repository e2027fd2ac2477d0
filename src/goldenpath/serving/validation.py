"""Requests checked against the data contract before inference, fast.

pandera is thorough but costs milliseconds per call; a server needs microseconds. The contract is
compiled once into one small check per column (type, missing, range, allowed values), applied to
JSON values in plain Python, and every failure is collected with its row and field, so a bad
request gets one 422 that names all of them. Accepted rows become a DataFrame with exactly the
dtypes training used (int64, float64 where nullable, str, bool, datetime64).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.spec.models import ColumnSpec, Spec

__all__ = ["FieldError", "RequestInvalid", "RowValidator"]

MAX_ERRORS = 50


@dataclass(frozen=True)
class FieldError:
    row: int
    field: str
    problem: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "problem": self.problem}


class RequestInvalid(Exception):
    """The request's rows break the contract (HTTP 422) or are not rows at all (400)."""

    def __init__(self, errors: list[FieldError], *, status: int = 422) -> None:
        super().__init__(f"{len(errors)} problem(s) in the request")
        self.errors = errors
        self.status = status


Check = Callable[[Any], tuple[Any, str | None]]


def _number(value: Any, *, integer: bool) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value, f"expected {'an integer' if integer else 'a number'}, got {_kind(value)}"
    if integer and isinstance(value, float):
        if not value.is_integer():
            return value, f"expected an integer, got {value!r}"
        return int(value), None
    if isinstance(value, float) and not np.isfinite(value):
        return value, "expected a finite number"
    return value, None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_for(spec: ColumnSpec) -> Check:
    allowed = None if spec.allowed is None else set(spec.allowed)
    low, high = spec.min, spec.max

    def check(value: Any) -> tuple[Any, str | None]:
        if value is None:
            return None, None if spec.nullable else "missing, and the column is not nullable"
        if spec.dtype in ("int", "float"):
            value, problem = _number(value, integer=spec.dtype == "int")
            if problem is None and low is not None and value < low:
                problem = f"{value!r} is below the minimum {low:g}"
            if problem is None and high is not None and value > high:
                problem = f"{value!r} is above the maximum {high:g}"
        elif spec.dtype == "str":
            problem = None if isinstance(value, str) else f"expected a string, got {_kind(value)}"
        elif spec.dtype == "bool":
            problem = None if isinstance(value, bool) else f"expected true/false, got {value!r}"
        else:  # datetime: ISO-8601 text
            try:
                datetime.fromisoformat(str(value))
                problem = None if isinstance(value, str) else "expected an ISO-8601 string"
            except ValueError:
                problem = f"{value!r} is not an ISO-8601 date or time"
        if problem is None and allowed is not None and value not in allowed:
            shown = ", ".join(repr(v) for v in sorted(allowed, key=str)[:10])
            problem = f"{value!r} is not an allowed value ({shown})"
        return value, problem

    return check


class RowValidator:
    """The contract's feature columns (and optional id column), compiled for requests."""

    def __init__(self, spec: Spec) -> None:
        columns = spec.data.contract.columns
        self.features = list(spec.feature_columns)
        self.optional = [c for c in (spec.data.id_column,) if c is not None]
        self.specs = {c: columns[c] for c in [*self.features, *self.optional]}
        self.checks = {c: _check_for(s) for c, s in self.specs.items()}
        self.known = set(self.specs) | {spec.task.target}
        self.allow_extra = spec.data.contract.allow_extra_columns

    def rows(self, records: Sequence[Any]) -> dict[str, list[Any]]:
        """Checked columns of ``records`` (a list of JSON objects); RequestInvalid otherwise."""
        if not isinstance(records, list | tuple) or not records:
            raise RequestInvalid(
                [FieldError(0, "", "expected one JSON object or a non-empty list of them")],
                status=400,
            )
        errors: list[FieldError] = []
        out: dict[str, list[Any]] = {c: [] for c in self.specs}
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                errors.append(FieldError(i, "", f"expected a JSON object, got {_kind(record)}"))
                continue
            for column, check in self.checks.items():
                if column not in record:
                    if column in self.optional:
                        out[column].append(None)
                        continue
                    errors.append(FieldError(i, column, "missing field"))
                    continue
                value, problem = check(record[column])
                if problem is not None:
                    errors.append(FieldError(i, column, problem))
                out[column].append(value)
            if not self.allow_extra:
                for field in record:
                    if field not in self.known:
                        errors.append(FieldError(i, str(field), "unknown field"))
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            raise RequestInvalid(errors[:MAX_ERRORS])
        return out

    def frame(self, columns: Mapping[str, list[Any]]) -> pd.DataFrame:
        """The model's input: feature columns in training order with training's dtypes."""
        data: dict[str, Any] = {}
        for column in self.features:
            spec, values = self.specs[column], columns[column]
            if spec.dtype == "int":
                has_none = any(v is None for v in values)
                data[column] = np.array(
                    [np.nan if v is None else v for v in values] if has_none else values,
                    dtype="float64" if spec.nullable or has_none else "int64",
                )
            elif spec.dtype == "float":
                data[column] = np.array(
                    [np.nan if v is None else v for v in values], dtype="float64"
                )
            elif spec.dtype == "datetime":
                data[column] = pd.to_datetime(pd.Series(values), format="ISO8601")
            elif spec.dtype == "bool" and (spec.nullable or any(v is None for v in values)):
                data[column] = pd.array(values, dtype="boolean")
            else:
                data[column] = values
        return pd.DataFrame(data)
