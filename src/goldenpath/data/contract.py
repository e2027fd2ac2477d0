"""Data contracts: the spec's ``data.contract`` checked with pandera, lazily.

All failures are collected and reported at once, grouped by column and rule, with the number
of offending rows and a few example rows and values, so one run tells the user everything to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from goldenpath.errors import ContractViolation
from goldenpath.spec.models import ColumnSpec, ContractSpec

__all__ = ["ContractFailure", "build_schema", "validate_frame"]

_EXAMPLES = 5

_PANDAS_DTYPES = {
    "float": "float64",
    "str": "str",
    "bool": "bool",
    "datetime": "datetime64[ns]",
}


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


def _pandas_dtype(column: ColumnSpec) -> str:
    if column.dtype == "int":
        # A column of integers with gaps is held as float64: NumPy ints have no missing value.
        return "float64" if column.nullable else "int64"
    return _PANDAS_DTYPES[column.dtype]


def _checks(column: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.min is not None:
        checks.append(pa.Check.ge(column.min))
    if column.max is not None:
        checks.append(pa.Check.le(column.max))
    if column.allowed is not None:
        checks.append(pa.Check.isin(column.allowed))
    if column.dtype == "int" and column.nullable:
        checks.append(
            pa.Check(
                lambda s: s.isna() | (s % 1 == 0),
                name="integer_valued",
                error="values must be whole numbers",
            )
        )
    return checks


def build_schema(contract: ContractSpec) -> pa.DataFrameSchema:
    """The pandera schema that enforces ``contract`` (coercing to the contract's dtypes)."""
    columns = {
        name: pa.Column(
            _pandas_dtype(spec),
            checks=_checks(spec),
            nullable=spec.nullable,
            coerce=True,
            required=True,
        )
        for name, spec in contract.columns.items()
    }
    return pa.DataFrameSchema(
        columns,
        strict="filter" if contract.allow_extra_columns else True,
        coerce=True,
    )


def validate_frame(frame: pd.DataFrame, contract: ContractSpec, *, source: str) -> pd.DataFrame:
    """Return ``frame`` coerced to the contract, or raise :class:`ContractViolation` listing
    every failure. Rows are 0-based positions in the source (for a CSV, line = row + 2)."""
    schema = build_schema(contract)
    try:
        validated: pd.DataFrame = schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        failures = _summarise(exc.failure_cases)
    except SchemaError as exc:  # raised without lazy collection by some checks
        failures = [ContractFailure(None, str(exc).splitlines()[0], 1, (), ())]
    else:
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


def _summarise(cases: pd.DataFrame) -> list[ContractFailure]:
    """Group pandera's failure cases by (column, check) into one failure each."""
    failures: list[ContractFailure] = []
    cases = cases.astype({"column": object, "check": str})
    grouped: dict[tuple[Any, str], list[tuple[Any, Any]]] = {}
    for column, check, value, index in zip(
        cases["column"], cases["check"], cases["failure_case"], cases["index"], strict=True
    ):
        key = (None if pd.isna(column) else str(column), _rule_name(str(check), value))
        grouped.setdefault(key, []).append((index, value))
    for (column, rule), items in grouped.items():
        with_rows = [(i, v) for i, v in items if i is not None and not _is_missing(i)]
        if rule.startswith("dtype(") and any(
            r.startswith("coerce_dtype") for c, r in grouped if c == column
        ):
            continue  # the coercion failure already says it, with the offending values
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
    if check == "not_nullable":
        return "missing values where the contract says nullable: false"
    if check.startswith("coerce_dtype("):
        return f"values that cannot be read as {check[len('coerce_dtype(') : -1]}"
    if check.startswith("isin("):
        return f"values not in the allowed set {check[len('isin(') : -1]}"
    return check


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _show(value: object) -> str:
    return "null" if _is_missing(value) else repr(value)
