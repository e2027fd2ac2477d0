"""Unit tests of goldenpath.data.fingerprint: fingerprints independent of order and format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goldenpath.data import dataset_fingerprint, read_source, row_hashes, validate_frame
from goldenpath.spec.models import ContractSpec

CONTRACT = ContractSpec.model_validate(
    {
        "columns": {
            "n": {"dtype": "int", "min": 0},
            "x": {"dtype": "float", "nullable": True},
            "s": {"dtype": "str"},
            "b": {"dtype": "bool"},
        }
    }
)


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [1, 2, 3, 4, 5, 6, 7, 8],
            "x": [0.1, np.nan, 2.5, 1 / 3, -7.25, np.nan, 1e-12, 123456.789],
            "s": ["a", "b", "c", "a", "hello world", "x,y", "ünï", "a"],
            "b": [True, False, True, True, False, False, True, False],
        }
    )


def validated(frame: pd.DataFrame, contract: ContractSpec = CONTRACT) -> pd.DataFrame:
    return validate_frame(frame, contract, source="test")


def fp(frame: pd.DataFrame) -> str:
    return dataset_fingerprint(validated(frame))


def test_fingerprint_format() -> None:
    value = fp(raw_frame())

    assert value.startswith("sha256:")
    assert len(value) == len("sha256:") + 64
    int(value.removeprefix("sha256:"), 16)  # hex digits only
    assert fp(raw_frame()) == value  # deterministic


def test_fingerprint_ignores_row_order() -> None:
    frame = validated(raw_frame())
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    reversed_ = frame.iloc[::-1].reset_index(drop=True)

    assert not shuffled["n"].equals(frame["n"])  # the order really changed
    assert dataset_fingerprint(shuffled) == dataset_fingerprint(frame)
    assert dataset_fingerprint(reversed_) == dataset_fingerprint(frame)


def test_fingerprint_ignores_column_order() -> None:
    frame = validated(raw_frame())
    reordered = frame[["b", "s", "x", "n"]]

    assert dataset_fingerprint(reordered) == dataset_fingerprint(frame)
    assert np.array_equal(row_hashes(reordered), row_hashes(frame))


def test_fingerprint_same_for_csv_and_parquet(tmp_path: Path) -> None:
    frame = raw_frame()
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_parquet(tmp_path / "data.parquet", index=False)

    from_csv = validated(read_source("data.csv", tmp_path))
    from_parquet = validated(read_source("data.parquet", tmp_path))

    assert dataset_fingerprint(from_csv) == dataset_fingerprint(from_parquet)
    assert dataset_fingerprint(from_csv) == fp(frame)


def test_fingerprint_same_for_int_read_as_float() -> None:
    # a nullable-free int column stored as floats (e.g. by another tool) hashes like ints
    as_float = raw_frame().astype({"n": "float64"})

    assert fp(as_float) == fp(raw_frame())


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [
        ("n", 0, 100),
        ("x", 0, 0.1000000001),
        ("x", 1, 0.0),  # NaN -> 0.0
        ("s", 2, "C"),
        ("s", 4, "hello world "),
        ("b", 3, False),
    ],
)
def test_fingerprint_changes_when_one_value_changes(column: str, row: int, value: object) -> None:
    frame = raw_frame()
    changed = frame.copy()
    changed.loc[row, column] = value

    assert fp(changed) != fp(frame)


def test_fingerprint_changes_when_values_swap_columns() -> None:
    contract = ContractSpec.model_validate(
        {"columns": {"a": {"dtype": "int"}, "b": {"dtype": "int"}}}
    )
    one = validated(pd.DataFrame({"a": [1], "b": [2]}), contract)
    other = validated(pd.DataFrame({"a": [2], "b": [1]}), contract)

    assert dataset_fingerprint(one) != dataset_fingerprint(other)


def test_fingerprint_changes_when_a_column_is_renamed() -> None:
    frame = validated(raw_frame())

    assert dataset_fingerprint(frame.rename(columns={"s": "t"})) != dataset_fingerprint(frame)


def test_fingerprint_counts_duplicate_rows() -> None:
    frame = validated(raw_frame())
    with_dup_0 = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    with_dup_1 = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    twice_dup_0 = pd.concat([with_dup_0, frame.iloc[[0]]], ignore_index=True)

    fingerprints = {
        dataset_fingerprint(frame),
        dataset_fingerprint(with_dup_0),
        dataset_fingerprint(with_dup_1),
        dataset_fingerprint(twice_dup_0),
    }
    assert len(fingerprints) == 4
    assert len(row_hashes(with_dup_0)) == len(frame) + 1


def test_fingerprint_negative_zero_equals_zero() -> None:
    frame = raw_frame()
    pos = frame.copy()
    neg = frame.copy()
    pos.loc[0, "x"] = 0.0
    neg.loc[0, "x"] = -0.0

    assert np.signbit(validated(neg)["x"].iloc[0])  # the sign survived validation
    assert fp(pos) == fp(neg)


def test_fingerprint_handles_missing_values_canonically() -> None:
    frame = raw_frame()
    other_nan = frame.copy()
    # a NaN with a different bit pattern, and None, are both just "missing"
    payload_nan = np.array([0x7FF8_0000_0000_0ABC], dtype=np.uint64).view(np.float64)[0]
    assert np.isnan(payload_nan)
    other_nan["x"] = other_nan["x"].astype(object)
    other_nan.loc[1, "x"] = payload_nan
    other_nan.loc[5, "x"] = None

    assert fp(other_nan) == fp(frame)


def test_fingerprint_missing_string_differs_from_literal_strings() -> None:
    contract = ContractSpec.model_validate({"columns": {"s": {"dtype": "str", "nullable": True}}})
    missing = validated(pd.DataFrame({"s": ["a", None]}), contract)
    missing_nan = validated(pd.DataFrame({"s": ["a", np.nan]}), contract)
    literal_nan = validated(pd.DataFrame({"s": ["a", "nan"]}), contract)
    empty = validated(pd.DataFrame({"s": ["a", ""]}), contract)

    assert dataset_fingerprint(missing) == dataset_fingerprint(missing_nan)
    assert dataset_fingerprint(missing) != dataset_fingerprint(literal_nan)
    assert dataset_fingerprint(missing) != dataset_fingerprint(empty)


def test_row_hashes_one_per_row_and_value_based() -> None:
    frame = validated(raw_frame())
    hashes = row_hashes(frame)

    assert hashes.dtype == np.uint64
    assert len(hashes) == len(frame)
    assert len(set(hashes.tolist())) == len(frame)  # all rows differ, so do their hashes
    shuffled = frame.iloc[[3, 1, 0, 2, 7, 6, 5, 4]].reset_index(drop=True)
    assert np.array_equal(row_hashes(shuffled), hashes[[3, 1, 0, 2, 7, 6, 5, 4]])


def test_fingerprint_distinguishes_large_integers() -> None:
    contract = ContractSpec.model_validate({"columns": {"id": {"dtype": "int"}}})
    one = validated(pd.DataFrame({"id": [2**53]}), contract)
    other = validated(pd.DataFrame({"id": [2**53 + 1]}), contract)

    assert one["id"].iloc[0] != other["id"].iloc[0]
    assert dataset_fingerprint(one) != dataset_fingerprint(other)
