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

from goldenpath.data.contract import model_column
from goldenpath.spec.models import ColumnSpec, Spec
from goldenpath.spec.serving import LimitsSpec

__all__ = ["Check", "FieldError", "RequestInvalid", "RequestRefused", "RowValidator", "value_check"]

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


_INT64 = (-(2**63), 2**63 - 1)


def _number(value: Any, *, integer: bool) -> tuple[Any, str | None]:
    """A JSON number as the model's column will hold it: a 64-bit integer, or a finite double
    (an integer too large for a double is refused, never rounded to infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value, f"expected {'an integer' if integer else 'a number'}, got {_kind(value)}"
    if isinstance(value, float) and not np.isfinite(value):
        return value, "expected a finite number"
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                return value, f"expected an integer, got {value!r}"
            value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            return value, "outside the 64-bit integer range (-2**63 to 2**63-1)"
    elif isinstance(value, int) and abs(value) > _FLOAT_MAX:
        return value, "too large for a 64-bit floating-point number"
    return value, None


_FLOAT_MAX = int(np.finfo(np.float64).max)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _shown(value: Any, limit: int) -> str:
    """``value`` as an error answer shows it: at most ``limit`` characters, then "…"; an array
    or object only by its size (its text could be huge, or nested past repr's recursion)."""
    if isinstance(value, list | dict):
        kind = "an array" if isinstance(value, list) else "an object"
        return f"{kind} of {len(value)} item(s)"
    try:
        text = repr(value[: limit + 1] if isinstance(value, str) else value)
    except ValueError:  # an integer past Python's digit limit for text
        return "a very large number"
    return text if len(text) <= limit else text[:limit] + "…"


def _check_for(spec: ColumnSpec, limits: LimitsSpec | None = None) -> Check:
    allowed = None if spec.allowed is None else set(spec.allowed)
    low, high = spec.min, spec.max
    limits = limits or LimitsSpec()
    max_chars, shown = limits.max_string_chars, limits.error_value_chars

    def check(value: Any) -> tuple[Any, str | None]:
        if value is None:
            return None, None if spec.nullable else "missing, and the column is not nullable"
        if isinstance(value, str) and len(value) > max_chars:
            return value, f"a string of {len(value)} characters (at most {max_chars})"
        if spec.dtype in ("int", "float"):
            value, problem = _number(value, integer=spec.dtype == "int")
            if problem is None and low is not None and value < low:
                problem = f"{_shown(value, shown)} is below the minimum {low:g}"
            if problem is None and high is not None and value > high:
                problem = f"{_shown(value, shown)} is above the maximum {high:g}"
        elif spec.dtype == "str":
            problem = None if isinstance(value, str) else f"expected a string, got {_kind(value)}"
        elif spec.dtype == "bool":
            got = None if isinstance(value, bool) else _shown(value, shown)
            problem = None if got is None else f"expected true/false, got {got}"
        else:  # datetime: ISO-8601 text
            try:
                datetime.fromisoformat(str(value))
                problem = None if isinstance(value, str) else "expected an ISO-8601 string"
            except ValueError:
                problem = f"{_shown(value, shown)} is not an ISO-8601 date or time"
        if problem is None and allowed is not None and value not in allowed:
            choices = ", ".join(repr(v) for v in sorted(allowed, key=str)[:10])
            problem = f"{_shown(value, shown)} is not an allowed value ({choices})"
        return value, problem

    return check


def value_check(spec: ColumnSpec, limits: LimitsSpec | None = None) -> Check:
    """The check of one JSON value against ``spec`` (type, missing, range, allowed values, string
    length): ``(value as the column holds it, None)`` or ``(value, the problem)``."""
    return _check_for(spec, limits)


class RowValidator:
    """The contract's feature columns (and optional id column), compiled for requests."""

    def __init__(self, spec: Spec) -> None:
        columns = spec.data.contract.columns
        self.features = list(spec.feature_columns)
        # not features, but accepted and logged: the id column, and the event time (which
        # reaches the model only as far as training used it: it is not a feature column)
        self.optional = [c for c in (spec.data.id_column, spec.data.time_column) if c is not None]
        self.time_column = spec.data.time_column
        self.specs = {c: columns[c] for c in [*self.features, *self.optional]}
        self.limits = spec.serving.limits
        self.checks = {c: _check_for(s, self.limits) for c, s in self.specs.items()}
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
        cap, shown = self.limits.max_errors, self.limits.error_value_chars
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):  # counts toward the cap: stop early on junk
                errors.append(FieldError(i, "", f"expected a JSON object, got {_kind(record)}"))
                if len(errors) >= cap:
                    break
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
                        name = str(field)
                        if len(name) > shown:
                            name = name[:shown] + "…"
                        errors.append(FieldError(i, name, "unknown field"))
                        if len(errors) >= cap:
                            break
            if len(errors) >= cap:
                break
        if errors:
            raise RequestInvalid(errors[:cap])
        return out

    def frame(self, columns: Mapping[str, list[Any]]) -> pd.DataFrame:
        """The model's input: feature columns in training order, each built by
        :func:`goldenpath.data.contract.model_column` (the dtype training saw, whatever the
        batch holds: all nulls, one row, values never seen)."""
        return pd.DataFrame(
            {c: model_column(columns[c], self.specs[c]) for c in self.features}, copy=False
        )


class RequestRefused(Exception):
    """A request refused before its rows are checked, for its size, type or timing (413 too
    large, 415 not JSON, 408 too slow ...): ``status``, a stable ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
