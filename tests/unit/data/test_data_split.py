"""Unit tests of goldenpath.data.split and of load_dataset's order-independent splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from goldenpath.data import (
    Split,
    dataset_fingerprint,
    load_dataset,
    read_source,
    split_rows,
    validate_frame,
)
from goldenpath.errors import GoldenpathError, SplitError
from goldenpath.spec import Spec, parse_spec
from goldenpath.spec.models import SplitSpec


def labelled_frame(n: int = 1000, shares: tuple[float, ...] = (0.7, 0.3)) -> pd.DataFrame:
    """``n`` rows whose label ``y`` has classes c0, c1, ... in the given shares, shuffled."""
    counts = [round(n * share) for share in shares]
    labels = np.concatenate([[f"c{i}"] * count for i, count in enumerate(counts)])
    rng = np.random.default_rng(42)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.permutation(labels)})


def random_split(frame: pd.DataFrame, **spec: Any) -> Split:
    return split_rows(
        frame,
        SplitSpec(**spec),
        task="binary_classification",
        target="y",
        time_column=None,
    )


def assert_partition(split: Split, n: int) -> None:
    assert np.array_equal(split.train, np.sort(split.train))
    assert np.array_equal(split.test, np.sort(split.test))
    assert len(np.intersect1d(split.train, split.test)) == 0
    assert np.array_equal(np.sort(np.concatenate([split.train, split.test])), np.arange(n))


# --------------------------------------------------------------------------- random splits


@pytest.mark.parametrize(("fraction", "n_test"), [(0.2, 200), (0.25, 250), (0.3, 300)])
def test_random_split_sizes_match_test_fraction(fraction: float, n_test: int) -> None:
    frame = labelled_frame()

    split = random_split(frame, test_fraction=fraction, seed=1)

    assert len(split.test) == n_test
    assert len(split.train) == 1000 - n_test
    assert_partition(split, 1000)


@pytest.mark.parametrize("shares", [(0.7, 0.3), (0.9, 0.1), (0.5, 0.3, 0.2)])
def test_stratified_split_preserves_class_proportions(shares: tuple[float, ...]) -> None:
    frame = labelled_frame(shares=shares)
    task = "binary_classification" if len(shares) == 2 else "multiclass_classification"

    split = split_rows(
        frame,
        SplitSpec(test_fraction=0.25, seed=5),
        task=task,
        target="y",
        time_column=None,
    )

    overall = frame["y"].value_counts(normalize=True)
    for part in (split.train, split.test):
        observed = frame["y"].iloc[part].value_counts(normalize=True)
        for label, share in overall.items():
            assert abs(observed[label] - share) <= 0.01, (label, observed[label], share)


def test_same_seed_same_positions_different_seed_differs() -> None:
    frame = labelled_frame()

    first = random_split(frame, seed=7)
    again = random_split(frame, seed=7)
    other = random_split(frame, seed=8)

    assert np.array_equal(first.train, again.train)
    assert np.array_equal(first.test, again.test)
    assert not np.array_equal(first.test, other.test)
    assert len(other.test) == len(first.test)


def test_regression_split_is_not_stratified() -> None:
    # every target value is unique: stratifying by it would be impossible
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.linspace(0.0, 1.0, 50)})

    split = split_rows(
        frame,
        SplitSpec(test_fraction=0.2, stratify=True),
        task="regression",
        target="y",
        time_column=None,
    )

    assert len(split.test) == 10
    assert_partition(split, 50)


def test_impossible_stratified_split_raises_data_error() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 9 + ["b"]})

    with pytest.raises(SplitError) as info:
        random_split(frame, test_fraction=0.2)

    assert info.value.message.startswith("cannot split 10 rows with test_fraction=0.2:")
    assert info.value.hint is not None
    assert "stratify: false" in info.value.hint


def test_unstratified_split_of_rare_class_works() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 9 + ["b"]})

    split = random_split(frame, test_fraction=0.2, stratify=False)

    assert len(split.test) == 2
    assert_partition(split, 10)


# --------------------------------------------------------------------------- time splits


def dated_frame() -> pd.DataFrame:
    days = ["2024-03-05", "2024-01-10", "2024-02-29", "2024-03-01", "2024-01-01", "2024-04-20"]
    return pd.DataFrame({"t": pd.to_datetime(days), "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})


def time_split(frame: pd.DataFrame, cutoff: str) -> Split:
    return split_rows(
        frame,
        SplitSpec(method="time", cutoff=cutoff),
        task="regression",
        target="y",
        time_column="t",
    )


def test_time_split_puts_rows_at_or_after_cutoff_in_test() -> None:
    split = time_split(dated_frame(), "2024-03-01")

    assert split.train.tolist() == [1, 2, 4]
    assert split.test.tolist() == [0, 3, 5]  # 2024-03-01 itself is a test row


def test_time_split_with_a_time_of_day_cutoff() -> None:
    split = time_split(dated_frame(), "2024-02-29T12:00")

    assert split.train.tolist() == [1, 2, 4]
    assert split.test.tolist() == [0, 3, 5]


@pytest.mark.parametrize(("cutoff", "empty"), [("2030-01-01", "test"), ("2023-12-31", "training")])
def test_time_split_with_an_empty_side_raises(cutoff: str, empty: str) -> None:
    with pytest.raises(SplitError) as info:
        time_split(dated_frame(), cutoff)

    assert info.value.message == f"the split leaves the {empty} set empty (6 rows)"
    assert info.value.exit_code == 23


def test_time_split_with_an_unreadable_cutoff_raises() -> None:
    with pytest.raises(SplitError) as info:
        time_split(dated_frame(), "end of march")

    assert info.value.message == "data.split.cutoff 'end of march' is not a date or time"


# --------------------------------------------------------------------------- load_dataset


def make_spec(source: str, **split: Any) -> Spec:
    spec: dict[str, Any] = {
        "project": {"name": "demo", "owners": ["me@example.com"]},
        "task": {"type": "binary_classification", "target": "y", "positive_label": "yes"},
        "data": {
            "source": source,
            "id_column": "id",
            "split": {"test_fraction": 0.25, "seed": 3, **split},
            "contract": {
                "columns": {
                    "id": {"dtype": "int", "min": 0},
                    "x": {"dtype": "float", "nullable": True},
                    "y": {"dtype": "str", "allowed": ["no", "yes"]},
                }
            },
        },
        "training": {"entrypoint": "model:train"},
    }
    return parse_spec(yaml.safe_dump(spec, sort_keys=False), source="goldenpath.yaml")


def write_sources(root: Path) -> pd.DataFrame:
    n = 200
    rng = np.random.default_rng(0)
    x = rng.normal(size=n).round(4)
    x[[5, 17]] = np.nan
    frame = pd.DataFrame(
        {"id": np.arange(n), "x": x, "y": np.where(np.arange(n) % 4 == 0, "yes", "no")}
    )
    frame.to_csv(root / "a.csv", index=False)
    frame.sample(frac=1.0, random_state=9).to_csv(root / "b.csv", index=False)
    return frame


def test_load_dataset_is_independent_of_row_order(tmp_path: Path) -> None:
    original = write_sources(tmp_path)
    spec_a = make_spec("a.csv")
    spec_b = make_spec("b.csv")
    raw_a = read_source("a.csv", tmp_path)
    raw_b = read_source("b.csv", tmp_path)
    assert not raw_a["id"].equals(raw_b["id"])  # the files really differ in order

    a = load_dataset(spec_a, tmp_path)
    b = load_dataset(spec_b, tmp_path)

    assert a.n_rows == b.n_rows == len(original)
    assert a.source == str(tmp_path / "a.csv")
    assert b.source == str(tmp_path / "b.csv")
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint == dataset_fingerprint(
        validate_frame(raw_a, spec_a.data.contract, source="a")
    )
    assert a.schema_hash == b.schema_hash
    pd.testing.assert_frame_equal(a.frame, b.frame)  # canonical order
    split_a, split_b = a.split(spec_a), b.split(spec_b)
    assert np.array_equal(split_a.test, split_b.test)
    assert np.array_equal(split_a.train, split_b.train)
    pd.testing.assert_frame_equal(a.rows(split_a.test), b.rows(split_b.test))
    assert sorted(a.rows(split_a.test)["id"]) == sorted(b.rows(split_b.test)["id"])
    assert len(split_a.test) == 50
    assert int((a.rows(split_a.test)["y"] == "yes").sum()) in (12, 13)  # 25% of 50, stratified


def test_load_dataset_source_override_and_seed(tmp_path: Path) -> None:
    write_sources(tmp_path)
    spec = make_spec("a.csv")
    other_seed = make_spec("a.csv", seed=4)

    a = load_dataset(spec, tmp_path)
    b = load_dataset(spec, tmp_path, source="b.csv")

    assert b.source == str(tmp_path / "b.csv")
    assert a.fingerprint == b.fingerprint
    test_ids = set(a.rows(a.split(spec).test)["id"])
    assert test_ids == set(b.rows(b.split(spec).test)["id"])
    assert test_ids != set(a.rows(a.split(other_seed).test)["id"])


def test_load_dataset_fingerprint_changes_with_content(tmp_path: Path) -> None:
    frame = write_sources(tmp_path)
    frame.loc[3, "x"] = 99.0
    frame.to_csv(tmp_path / "c.csv", index=False)
    spec = make_spec("a.csv")

    assert (
        load_dataset(spec, tmp_path).fingerprint
        != load_dataset(spec, tmp_path, source="c.csv").fingerprint
    )


def test_load_dataset_time_split(tmp_path: Path) -> None:
    frame = dated_frame().assign(t=lambda f: f["t"].dt.strftime("%Y-%m-%d"))
    frame.sample(frac=1.0, random_state=1).to_csv(tmp_path / "d.csv", index=False)
    spec = parse_spec(
        yaml.safe_dump(
            {
                "project": {"name": "demo", "owners": ["me"]},
                "task": {"type": "regression", "target": "y"},
                "data": {
                    "source": "d.csv",
                    "time_column": "t",
                    "split": {"method": "time", "cutoff": "2024-03-01"},
                    "contract": {"columns": {"t": {"dtype": "datetime"}, "y": {"dtype": "float"}}},
                },
                "training": {"entrypoint": "m:train"},
            }
        )
    )

    dataset = load_dataset(spec, tmp_path)
    split = dataset.split(spec)

    assert pd.api.types.is_datetime64_any_dtype(dataset.frame["t"])
    assert sorted(dataset.rows(split.test)["y"]) == [1.0, 4.0, 6.0]
    assert sorted(dataset.rows(split.train)["y"]) == [2.0, 3.0, 5.0]


def test_time_split_over_non_datetime_column_is_a_goldenpath_error(tmp_path: Path) -> None:
    pd.DataFrame({"year": [2020, 2021, 2022, 2023], "y": [1.0, 2.0, 3.0, 4.0]}).to_csv(
        tmp_path / "y.csv", index=False
    )
    text = yaml.safe_dump(
        {
            "project": {"name": "demo", "owners": ["me"]},
            "task": {"type": "regression", "target": "y"},
            "data": {
                "source": "y.csv",
                "time_column": "year",
                "split": {"method": "time", "cutoff": "2022"},
                "contract": {"columns": {"year": {"dtype": "int"}, "y": {"dtype": "float"}}},
            },
            "training": {"entrypoint": "m:train"},
        }
    )

    def load_and_split() -> Split:
        # either layer may reject it: the spec (time_column must be datetime) or the split
        spec = parse_spec(text)
        return load_dataset(spec, tmp_path).split(spec)

    with pytest.raises(GoldenpathError):
        load_and_split()
