"""Unit tests of goldenpath.data.contract: every violation kind, reported all at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from goldenpath.data import ContractFailure, validate_frame
from goldenpath.errors import ContractViolation, DataError
from goldenpath.spec.models import ContractSpec

SOURCE = "data.csv"


def contract(*, allow_extra_columns: bool = False) -> ContractSpec:
    return ContractSpec.model_validate(
        {
            "allow_extra_columns": allow_extra_columns,
            "columns": {
                "age": {"dtype": "int", "min": 0, "max": 120},
                "income": {"dtype": "float", "nullable": True},
                "plan": {"dtype": "str", "allowed": ["basic", "pro"]},
                "active": {"dtype": "bool"},
                "visits": {"dtype": "int", "nullable": True},
            },
        }
    )


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41, 0, 120, 55, 18],
            "income": [1000.5, np.nan, 0.0, 250.0, 99.9, 12.0],
            "plan": ["basic", "pro", "pro", "basic", "basic", "pro"],
            "active": [True, False, True, True, False, True],
            "visits": [1.0, np.nan, 3.0, 0.0, 12.0, np.nan],
        }
    )


def violation(frame: pd.DataFrame, spec: ContractSpec | None = None) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        validate_frame(frame, spec or contract(), source=SOURCE)
    error = info.value
    assert error.exit_code == 22
    assert error.code == "contract_violation"
    assert isinstance(error, DataError)
    assert error.message.startswith(f"{SOURCE} breaks the data contract (")
    return error


def failures(error: ContractViolation) -> list[dict[str, Any]]:
    found = error.details["failures"]
    assert isinstance(found, list)
    return found


def only_failure(error: ContractViolation) -> dict[str, Any]:
    found = failures(error)
    assert len(found) == 1, found
    assert "(1 failure(s))" in error.message
    return found[0]


# --------------------------------------------------------------------------- valid data


def test_valid_frame_is_coerced_to_contract_dtypes() -> None:
    raw = pd.DataFrame(
        {
            "age": ["30", "41", "7"],  # strings, as from a loosely typed source
            "income": [1000, 2000, 3000],  # ints
            "plan": pd.Series(["basic", "pro", "basic"], dtype="category"),
            "active": [1, 0, 1],
            "visits": [1, None, 3],
        }
    )
    raw.index = pd.Index([10, 11, 12])

    result = validate_frame(raw, contract(), source=SOURCE)

    assert result["age"].dtype == np.dtype("int64")
    assert result["income"].dtype == np.dtype("float64")
    assert pd.api.types.is_string_dtype(result["plan"].dtype)
    assert not isinstance(result["plan"].dtype, pd.CategoricalDtype)
    assert result["active"].dtype == np.dtype("bool")
    assert result["visits"].dtype == np.dtype("float64")  # a nullable int holds NaN as float
    assert result["age"].tolist() == [30, 41, 7]
    assert result["income"].tolist() == [1000.0, 2000.0, 3000.0]
    assert result["plan"].tolist() == ["basic", "pro", "basic"]
    assert all(isinstance(v, str) for v in result["plan"])
    assert result["active"].tolist() == [True, False, True]
    assert result["visits"].iloc[0] == 1.0
    assert np.isnan(result["visits"].iloc[1])
    assert result["visits"].iloc[2] == 3.0
    assert list(result.index) == [0, 1, 2]  # fresh 0..n-1 index
    assert list(result.columns) == ["age", "income", "plan", "active", "visits"]


def test_valid_frame_keeps_its_values() -> None:
    frame = good_frame()

    result = validate_frame(frame, contract(), source=SOURCE)

    pd.testing.assert_series_equal(result["age"], frame["age"].astype("int64"))
    pd.testing.assert_series_equal(result["income"], frame["income"])
    assert result["plan"].tolist() == frame["plan"].tolist()
    assert result["visits"].isna().tolist() == [False, True, False, False, False, True]


def test_nullable_int_rejects_non_integral_values() -> None:
    frame = good_frame()
    frame.loc[4, "visits"] = 2.5

    failure = only_failure(violation(frame))

    assert failure == {
        "column": "visits",
        "rule": "values that are not whole numbers",
        "count": 1,
        "example_rows": [4],
        "example_values": ["2.5"],
    }


# --------------------------------------------------------------------------- one kind each


def test_wrong_dtype_names_column_and_rows() -> None:
    frame = good_frame().astype({"age": object})
    frame.loc[2, "age"] = "abc"
    frame.loc[5, "age"] = "twelve"

    error = violation(frame)

    coercion = [f for f in failures(error) if f["rule"].startswith("values that cannot be read")]
    assert coercion == [
        {
            "column": "age",
            "rule": "values that cannot be read as int",
            "count": 2,
            "example_rows": [2, 5],
            "example_values": ["'abc'", "'twelve'"],
        }
    ]
    assert (
        "column 'age': values that cannot be read as int — 2 row(s), e.g. rows 2, 5 "
        "(values: 'abc', 'twelve')" in error.message
    )
    assert all(f["column"] == "age" for f in failures(error))


def test_wrong_dtype_is_reported_once() -> None:
    frame = good_frame().astype({"age": object})
    frame.loc[2, "age"] = "abc"

    failure = only_failure(violation(frame))

    assert failure["rule"] == "values that cannot be read as int"


def test_nulls_in_non_nullable_column() -> None:
    frame = good_frame()
    frame.loc[1, "plan"] = None
    frame.loc[4, "plan"] = np.nan

    error = violation(frame)

    assert only_failure(error) == {
        "column": "plan",
        "rule": "missing values where the contract says nullable: false",
        "count": 2,
        "example_rows": [1, 4],
        "example_values": ["null", "null"],
    }
    assert (
        "column 'plan': missing values where the contract says nullable: false — 2 row(s), "
        "e.g. rows 1, 4 (values: null, null)" in error.message
    )


def test_nulls_in_nullable_columns_are_fine() -> None:
    frame = good_frame()
    frame["income"] = np.nan

    result = validate_frame(frame, contract(), source=SOURCE)

    assert result["income"].isna().all()


@pytest.mark.parametrize(
    ("row", "value", "rule"),
    [
        pytest.param(0, -1, "greater_than_or_equal_to(0.0)", id="below-min"),
        pytest.param(3, 121, "less_than_or_equal_to(120.0)", id="above-max"),
    ],
)
def test_out_of_range(row: int, value: int, rule: str) -> None:
    frame = good_frame()
    frame.loc[row, "age"] = value

    error = violation(frame)

    assert only_failure(error) == {
        "column": "age",
        "rule": rule,
        "count": 1,
        "example_rows": [row],
        "example_values": [repr(value)],
    }
    assert f"column 'age': {rule} — 1 row(s), e.g. rows {row} (values: {value})" in error.message


def test_bounds_are_inclusive() -> None:
    frame = good_frame()
    frame["age"] = [0, 120, 0, 120, 0, 120]

    result = validate_frame(frame, contract(), source=SOURCE)

    assert result["age"].tolist() == [0, 120, 0, 120, 0, 120]


def test_below_min_and_above_max_are_two_failures() -> None:
    frame = good_frame()
    frame.loc[0, "age"] = -5
    frame.loc[3, "age"] = 200

    error = violation(frame)

    assert [(f["rule"], f["example_rows"]) for f in failures(error)] == [
        ("greater_than_or_equal_to(0.0)", [0]),
        ("less_than_or_equal_to(120.0)", [3]),
    ]


def test_unseen_category() -> None:
    frame = good_frame()
    frame.loc[5, "plan"] = "enterprise"
    frame.loc[2, "plan"] = "Pro"  # case matters

    error = violation(frame)

    assert only_failure(error) == {
        "column": "plan",
        "rule": "values not in the allowed set ['basic', 'pro']",
        "count": 2,
        "example_rows": [2, 5],
        "example_values": ["'Pro'", "'enterprise'"],
    }
    assert "column 'plan'" in error.message
    assert "e.g. rows 2, 5" in error.message


def test_missing_column() -> None:
    frame = good_frame().drop(columns=["active"])

    error = violation(frame)

    assert only_failure(error) == {
        "column": None,
        "rule": "required column 'active' is missing",
        "count": 1,
        "example_rows": [],
        "example_values": ["'active'"],
    }
    assert "table: required column 'active' is missing" in error.message


def test_extra_column_is_a_violation() -> None:
    frame = good_frame()
    frame["notes"] = ["x"] * len(frame)

    error = violation(frame)

    failure = only_failure(error)
    assert failure["rule"] == (
        "column 'notes' is not in the contract (set allow_extra_columns to accept it)"
    )
    assert failure["example_rows"] == []
    assert "'notes'" in error.message


def test_extra_column_is_dropped_when_allowed() -> None:
    frame = good_frame()
    frame["notes"] = ["x"] * len(frame)

    result = validate_frame(frame, contract(allow_extra_columns=True), source=SOURCE)

    assert "notes" not in result.columns
    assert list(result.columns) == ["age", "income", "plan", "active", "visits"]
    assert len(result) == len(frame)


def test_examples_are_capped_at_five_but_count_is_complete() -> None:
    frame = pd.concat([good_frame()] * 2, ignore_index=True)
    bad_rows = [0, 1, 2, 4, 6, 7, 9, 11]
    frame.loc[bad_rows, "plan"] = "free"

    failure = only_failure(violation(frame))

    assert failure["count"] == 8
    assert failure["example_rows"] == [0, 1, 2, 4, 6]
    assert failure["example_values"] == ["'free'"] * 5


def test_all_failures_are_reported_at_once() -> None:
    frame = good_frame().drop(columns=["active"])
    frame.loc[1, "age"] = -3
    frame.loc[4, "plan"] = "gold"

    error = violation(frame)

    found = failures(error)
    assert len(found) == 3
    assert "(3 failure(s))" in error.message
    by_column = {f["column"]: f for f in found}
    assert set(by_column) == {None, "age", "plan"}
    assert by_column[None]["rule"] == "required column 'active' is missing"
    assert by_column["age"]["example_rows"] == [1]
    assert by_column["plan"]["example_rows"] == [4]
    assert len([line for line in error.message.splitlines() if line.startswith("  - ")]) == 3


def test_failure_hint_explains_row_numbers() -> None:
    frame = good_frame()
    frame.loc[0, "age"] = -1

    error = violation(frame)

    assert error.hint is not None
    assert "0-based" in error.hint
    assert "line = row + 2" in error.hint


def test_contract_failure_describe() -> None:
    with_rows = ContractFailure("age", "too old", 7, (1, 2), ("130", "140"))
    table = ContractFailure(None, "required column 'x' is missing", 1, (), ("'x'",))

    assert (
        with_rows.describe()
        == "column 'age': too old — 7 row(s), e.g. rows 1, 2 (values: 130, 140)"
    )
    assert table.describe() == "table: required column 'x' is missing ('x')"
    assert table.to_dict()["example_rows"] == []


# --------------------------------------------------------------------------- known bugs


def test_non_nullable_int_rejects_non_integral_values() -> None:
    frame = good_frame().astype({"age": "float64"})
    frame.loc[2, "age"] = 2.5

    failure = only_failure(violation(frame))

    assert failure["column"] == "age"
    assert failure["example_rows"] == [2]


def test_nulls_in_non_nullable_bool_column() -> None:
    frame = good_frame()
    frame["active"] = pd.Series([True, None, True, True, False, True], dtype=object)

    failure = only_failure(violation(frame))

    assert failure["column"] == "active"
    assert failure["example_rows"] == [1]


def test_bool_column_rejects_text_it_cannot_read() -> None:
    frame = good_frame()
    frame["active"] = ["True", "False", "maybe", "True", "False", "True"]

    failure = only_failure(violation(frame))

    assert failure["column"] == "active"
    assert failure["example_rows"] == [2]


def test_nullable_bool_column_keeps_missing_values() -> None:
    spec = ContractSpec.model_validate({"columns": {"flag": {"dtype": "bool", "nullable": True}}})
    frame = pd.DataFrame({"flag": pd.Series([True, np.nan, False], dtype=object)})

    result = validate_frame(frame, spec, source=SOURCE)

    assert result["flag"].isna().tolist() == [False, True, False]
