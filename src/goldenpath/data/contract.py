"""Data contracts: the spec's ``data.contract``, enforced in two passes that both report.

First every contract column is converted to its dtype exactly (no silent truncation or
truthiness), collecting unreadable values and unexpected nulls; then pandera checks the table
rules (required and extra columns, ranges, allowed values) lazily.

All failures are collected and reported at once, grouped by column and rule, with the number
of offending rows and a few example rows and values, so one run tells the user everything to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from goldenpath.errors import ContractViolation
from goldenpath.spec.models import ColumnSpec, ContractSpec

__all__ = [
    "ContractFailure",
    "build_schema",
    "coerce_column",
    "frame_dtype",
    "model_column",
    "to_datetimes",
    "validate_frame",
]

_EXAMPLES = 5


@dataclass(frozen=True)
class ContractFailure:
    """One broken rule on one column, with how many rows break it and a few examples."""

    column: str | None
    rule: str
    count: int
    example_rows: tuple[int, ...]
    example_values: tuple[str, ...]

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        rows = ", ".join(str(r) for r in self.example_rows)
        values = ", ".join(self.example_values)
        text = f"{where}: {self.rule}"
        if self.example_rows:
            text += f" — {self.count} row(s), e.g. rows {rows} (values: {values})"
        elif self.example_values:
            text += f" ({values})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "example_rows": list(self.example_rows),
            "example_values": list(self.example_values),
        }


def _checks(column: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.min is not None:
        checks.append(pa.Check.ge(column.min))
    if column.max is not None:
        checks.append(pa.Check.le(column.max))
    if column.allowed is not None:
        checks.append(pa.Check.isin(column.allowed))
    return checks


def build_schema(contract: ContractSpec) -> pa.DataFrameSchema:
    """The pandera schema of the contract's table rules: required and extra columns, ranges and
    allowed values. Dtypes and nulls are settled before it runs, by :func:`coerce_column`."""
    columns = {
        name: pa.Column(checks=_checks(spec), nullable=True, required=True)
        for name, spec in contract.columns.items()
    }
    return pa.DataFrameSchema(columns, strict="filter" if contract.allow_extra_columns else True)


def validate_frame(frame: pd.DataFrame, contract: ContractSpec, *, source: str) -> pd.DataFrame:
    """Return ``frame`` converted to the contract's dtypes, or raise :class:`ContractViolation`
    listing every failure. Rows are 0-based positions (for a CSV, line = row + 2)."""
    frame = frame.reset_index(drop=True)
    failures: list[ContractFailure] = []
    converted = frame.copy()
    for name, spec in contract.columns.items():
        if name in frame.columns:
            converted[name], problems = coerce_column(frame[name], spec, name)
            failures.extend(problems)
    try:
        validated: pd.DataFrame = build_schema(contract).validate(converted, lazy=True)
    except SchemaErrors as exc:
        failures.extend(_summarise(exc.failure_cases))
    except SchemaError as exc:  # raised without lazy collection by some checks
        failures.append(ContractFailure(None, str(exc).splitlines()[0], 1, (), ()))
    if not failures:
        return validated.reset_index(drop=True)
    lines = "\n".join(f"  - {f.describe()}" for f in failures)
    raise ContractViolation(
        f"{source} breaks the data contract ({len(failures)} failure(s)):\n{lines}",
        hint=(
            "fix the data, or change data.contract in goldenpath.yaml if the contract is wrong "
            "(rows are 0-based; in a CSV, line = row + 2)"
        ),
        details={"failures": [f.to_dict() for f in failures]},
    )


_TRUE = frozenset({"true", "1", "1.0", "t", "yes", "y"})
_FALSE = frozenset({"false", "0", "0.0", "f", "no", "n"})


def coerce_column(
    values: pd.Series, spec: ColumnSpec, name: str
) -> tuple[pd.Series, list[ContractFailure]]:
    """Convert one column to its contract dtype without ever guessing: a value that does not
    convert exactly (``"abc"`` or ``2.5`` for an int, ``"maybe"`` for a bool) is a failure, and
    so is a missing value in a column that is not nullable.

    Dtypes: int -> int64 (float64 when nullable: NumPy ints have no missing value),
    float -> float64, str -> str, bool -> bool (pandas ``boolean`` when nullable),
    datetime -> datetime64[ns].
    """
    missing = values.isna().to_numpy()
    failures: list[ContractFailure] = []
    if spec.dtype in ("int", "float"):
        numbers = pd.to_numeric(values, errors="coerce")
        unreadable = pd.isna(numbers).to_numpy() & ~missing
        failures += _failure(
            values, name, unreadable, f"values that cannot be read as {spec.dtype}"
        )
        if spec.dtype == "int":
            as_float = numbers.astype("float64")
            fractional = (as_float.notna() & (as_float % 1 != 0)).to_numpy()
            failures += _failure(values, name, fractional, "values that are not whole numbers")
        result: pd.Series = numbers
    elif spec.dtype == "bool":
        if pd.api.types.is_bool_dtype(values.dtype):
            result = values.astype("boolean")
        else:
            text = values.astype("str").str.strip().str.lower()
            truth = text.isin(_TRUE).to_numpy()
            falsity = text.isin(_FALSE).to_numpy()
            unreadable = ~(truth | falsity | missing)
            failures += _failure(values, name, unreadable, "values that cannot be read as bool")
            result = pd.Series(pd.array(truth, dtype="boolean"), index=values.index)
            result[~(truth | falsity)] = pd.NA
    elif spec.dtype == "datetime":
        try:
            result = to_datetimes(values)
        except (TypeError, ValueError):
            result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        unreadable = pd.isna(result).to_numpy() & ~missing
        failures += _failure(values, name, unreadable, "values that cannot be read as datetime")
    else:
        result = values.astype("str")
    if not spec.nullable:
        failures += _failure(
            values, name, missing, "missing values where the contract says nullable: false"
        )
    return _final_dtype(result, spec), failures


def frame_dtype(spec: ColumnSpec) -> str:
    """The pandas dtype of a contract column in every frame a model sees: training,
    evaluation, reproduction, serving and batch scoring. One rule, so that a row's answer never
    depends on which path built its frame: int -> int64 (float64 when nullable: NumPy ints have
    no missing value), float -> float64, str -> pandas' string dtype (missing = NaN),
    bool -> bool (pandas ``boolean`` when nullable), datetime -> datetime64[ns] (UTC, naive)."""
    if spec.dtype == "int":
        return "float64" if spec.nullable else "int64"
    if spec.dtype == "bool":
        return "boolean" if spec.nullable else "bool"
    return {"float": "float64", "datetime": "datetime64[ns]", "str": "str"}[spec.dtype]


def to_datetimes(values: Any) -> pd.Series:
    """Date-times as datetime64[ns], naive, in UTC: offsets are applied (``+02:00`` moves the
    time two hours back), times without an offset are taken as UTC; unreadable values are NaT.
    ISO-8601 text (of any precision, mixed in one column) is read by one parser wherever it
    comes from; anything else (``01/02/2024``) value by value."""
    series = pd.Series(values)
    parsed = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    rest = (parsed.isna() & series.notna()).to_numpy()
    if rest.any():
        parsed[rest] = pd.to_datetime(series[rest], errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_convert(None).astype("datetime64[ns]")


def model_column(values: list[Any], spec: ColumnSpec) -> Any:
    """A column of already checked plain values (``None`` for missing), as the array a model
    sees for ``spec``: the same dtype and values :func:`validate_frame` gives the same data read
    from a file, whatever else the list holds (all nulls, one row, ...)."""
    dtype: Any = frame_dtype(spec)
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "datetime64[ns]":
        return to_datetimes(values).to_numpy()
    if dtype in ("int64", "bool"):
        return np.array(values, dtype=dtype)
    return pd.array(values, dtype=dtype)


def _final_dtype(result: pd.Series, spec: ColumnSpec) -> pd.Series:
    if result.isna().any() and not spec.nullable:  # a contract failure: kept only to report it
        loose: Any = {"int": "float64", "bool": "boolean"}.get(spec.dtype)
        if loose is not None:
            return result.astype(loose)
    dtype: Any = frame_dtype(spec)
    return result.astype(dtype)


def _failure(values: pd.Series, name: str, mask: np.ndarray, rule: str) -> list[ContractFailure]:
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return []
    examples = rows[:_EXAMPLES]
    return [
        ContractFailure(
            column=name,
            rule=rule,
            count=len(rows),
            example_rows=tuple(int(r) for r in examples),
            example_values=tuple(_show(values.iloc[r]) for r in examples),
        )
    ]


def _summarise(cases: pd.DataFrame) -> list[ContractFailure]:
    """Group pandera's failure cases by (column, check) into one failure each."""
    grouped: dict[tuple[str | None, str], list[tuple[Any, Any]]] = {}
    for column, check, value, index in zip(
        cases["column"], cases["check"], cases["failure_case"], cases["index"], strict=True
    ):
        key = (None if _is_missing(column) else str(column), _rule_name(str(check), value))
        grouped.setdefault(key, []).append((index, value))
    failures = []
    for (column, rule), items in grouped.items():
        with_rows = [(i, v) for i, v in items if i is not None and not _is_missing(i)]
        examples = with_rows[:_EXAMPLES]
        failures.append(
            ContractFailure(
                column=column,
                rule=rule,
                count=len(with_rows) if with_rows else len(items),
                example_rows=tuple(int(i) for i, _ in examples),
                example_values=tuple(_show(v) for _, v in (examples or items[:_EXAMPLES])),
            )
        )
    return failures


def _rule_name(check: str, value: object) -> str:
    if check == "column_in_dataframe":
        return f"required column {value!r} is missing"
    if check == "column_in_schema":
        return f"column {value!r} is not in the contract (set allow_extra_columns to accept it)"
    if check.startswith("isin("):
        return f"values not in the allowed set {check[len('isin(') : -1]}"
    return check


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _show(value: object) -> str:
    if _is_missing(value):
        return "null"
    return repr(value.item() if isinstance(value, np.generic) else value)
