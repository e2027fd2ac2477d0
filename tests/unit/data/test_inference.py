"""Contract and task inference for ``init --from``: the inferred contract accepts its own data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goldenpath.data.contract import validate_frame
from goldenpath.data.inference import infer_column, infer_project
from goldenpath.errors import CannotInfer, DestinationExists
from goldenpath.scaffold import init_from_data, project_name
from goldenpath.spec.loader import load_spec

INT64 = np.iinfo(np.int64)

_ints = st.integers(min_value=INT64.min, max_value=INT64.max)
_floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
_text = st.text(alphabet="abcXYZ 019-@._:", max_size=12)
_times = st.datetimes(
    min_value=pd.Timestamp("1700-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2200-01-01").to_pydatetime(),
)


@st.composite
def columns(draw: st.DrawFn, n: int) -> pd.Series:
    """One column of n rows of a random kind, with missing values at random positions."""
    kind = draw(st.sampled_from(["int", "float", "zero", "text", "category", "bool", "time"]))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "int":
        values: list[object] = draw(st.lists(_ints, min_size=n, max_size=n))
        if not any(mask):
            return pd.Series(values, dtype="int64")
        return pd.Series(
            pd.array([None if m else v for v, m in zip(values, mask, strict=True)], dtype="Int64")
        )
    if kind == "float":
        values = draw(st.lists(_floats, min_size=n, max_size=n))
    elif kind == "zero":  # zero-inflated amounts
        values = [0.0 if draw(st.booleans()) else draw(st.floats(0, 1e6)) for _ in range(n)]
    elif kind == "text":  # high cardinality, free text
        values = draw(st.lists(_text, min_size=n, max_size=n))
    elif kind == "category":
        values = draw(
            st.lists(st.sampled_from(["Yes", "No", "on", "null", "1"]), min_size=n, max_size=n)
        )
    elif kind == "bool":
        values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return pd.Series(
            pd.array([None if m else v for v, m in zip(values, mask, strict=True)], dtype="boolean")
        )
    else:
        values = [pd.Timestamp(t) for t in draw(st.lists(_times, min_size=n, max_size=n))]
        return pd.Series(
            [pd.NaT if m else v for v, m in zip(values, mask, strict=True)], dtype="datetime64[ns]"
        )
    series = pd.Series([None if m else v for v, m in zip(values, mask, strict=True)])
    if kind in ("float", "zero"):
        series = series.astype("float64")
    return series


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=2, max_value=30))
    width = draw(st.integers(min_value=1, max_value=6))
    data = {f"c{i}": draw(columns(n)) for i in range(width)}
    data["label"] = pd.Series(draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n)))
    if data["label"].nunique() < 2:
        data["label"].iloc[0] = "b" if data["label"].iloc[0] == "a" else "a"
    return pd.DataFrame(data)


@settings(max_examples=150, deadline=None)
@given(frames())
def test_the_inferred_contract_accepts_the_frame_it_came_from(frame: pd.DataFrame) -> None:
    inferred = infer_project(frame, target="label")
    assert inferred.task == "binary_classification"
    validate_frame(frame, inferred.contract, source="generated")  # raises on any failure


@settings(max_examples=100, deadline=None)
@given(frames())
def test_the_written_spec_accepts_the_file_it_came_from(frame: pd.DataFrame) -> None:
    """Through YAML and back, and through Parquet: what validate reads is what init read."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data.parquet"
        frame.to_parquet(data)
        result = init_from_data(Path(folder) / "project", data, target="label")
        spec = load_spec(result.project / "goldenpath.yaml")
        validate_frame(pd.read_parquet(data), spec.data.contract, source="data.parquet")


def test_ranges_are_widened_rounded_and_keep_zero() -> None:
    ages = infer_column(pd.Series([18, 30, 68]), "age").spec
    assert (ages.dtype, ages.min, ages.max) == ("int", 0, 80)  # width 50, +-10, min stays 0
    temps = infer_column(pd.Series([-5.5, 0.5, 14.5]), "temp").spec
    assert temps.min is not None
    assert temps.max is not None
    assert temps.min <= -9.5
    assert temps.max >= 18.5
    assert temps.min == -10
    assert temps.max == 19
    constant = infer_column(pd.Series([7, 7, 7]), "seven")
    assert constant.spec.min is not None
    assert constant.spec.min <= 7 <= (constant.spec.max or 0)
    assert any("constant" in note for note in constant.notes)


def test_extreme_integers_keep_a_range_their_values_honour() -> None:
    frame = pd.DataFrame({"big": [INT64.min, 0, INT64.max], "label": ["a", "b", "a"]})
    inferred = infer_project(frame, target="label")
    validate_frame(frame, inferred.contract, source="extreme")
    assert inferred.contract.columns["big"].dtype == "int"


def test_text_gets_allowed_values_only_when_few_and_repeated() -> None:
    few = infer_column(pd.Series(["red", "blue", "red", "blue", None]), "colour").spec
    assert few.allowed == ["blue", "red"]
    assert few.nullable
    many = infer_column(pd.Series([f"note {i}" for i in range(100)]), "note").spec
    assert many.allowed is None
    assert many.dtype == "str"
    flags = infer_column(pd.Series([0, 1, 1, 0]), "flag").spec
    assert flags.allowed == [0, 1]
    assert flags.min is None


def test_dtypes_of_booleans_datetimes_and_all_null_columns() -> None:
    assert infer_column(pd.Series([True, False]), "b").spec.dtype == "bool"
    iso = infer_column(pd.Series(["2024-01-01", "2024-02-03T10:00:00", None]), "when").spec
    assert (iso.dtype, iso.nullable) == ("datetime", True)
    assert infer_column(pd.Series(["01/02/2024", "x"]), "d").spec.dtype == "str"
    empty = infer_column(pd.Series([np.nan, np.nan]), "empty")
    assert empty.spec.nullable
    assert any("every value is missing" in note for note in empty.notes)


def test_pii_is_flagged_by_name_and_set_only_on_values_that_look_personal() -> None:
    mails = infer_column(pd.Series([f"user{i}@example.com" for i in range(10)]), "contact")
    assert mails.spec.pii
    assert any("e-mail" in note and "review" in note for note in mails.notes)
    named = infer_column(pd.Series(["Ann", "Bob"]), "first_name")
    assert not named.spec.pii
    assert any(note.startswith("PII?") for note in named.notes)
    ips = infer_column(pd.Series(["10.0.0.1", "192.168.1.20", "8.8.8.8"]), "origin")
    assert ips.spec.pii
    assert not infer_column(pd.Series(["basic", "pro"]), "plan").notes


def test_task_inference_and_positive_labels() -> None:
    def project(label: list[object], **options: object) -> object:
        frame = pd.DataFrame({"x": range(len(label)), "y": label})
        return infer_project(frame, target="y", **options)  # type: ignore[arg-type]

    churn = project(["No", "Yes", "No", "No"])
    assert (churn.task, churn.positive_label) == ("binary_classification", "Yes")  # type: ignore[attr-defined]
    rare = project(["good", "good", "poor", "good"])
    assert rare.positive_label == "poor"  # type: ignore[attr-defined]
    flags = project([0, 1, 0, 1])
    assert flags.positive_label == 1  # type: ignore[attr-defined]
    species = project(["a", "b", "c", "a"])
    assert species.task == "multiclass_classification"  # type: ignore[attr-defined]
    stars = project([1, 2, 3, 4, 5, 1])
    assert stars.task == "multiclass_classification"  # type: ignore[attr-defined]
    price = project([float(i) * 1.5 for i in range(30)])
    assert price.task == "regression"  # type: ignore[attr-defined]
    assert project([1, 2, 3, 4, 5, 1], task="regression").task == "regression"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("label", "options", "message"),
    [
        ([None, None, None], {}, "has no values"),
        (["a", "a", "a"], {}, "is constant"),
        (["a", None, "b"], {}, "missing in 1 of 3 rows"),
        (["a", "b", "c"], {"task": "binary"}, "3 distinct values"),
        (["a", "b", "c"], {"task": "regression"}, "not numeric"),
    ],
)
def test_a_target_that_cannot_be_predicted_is_refused(
    label: list[object], options: dict[str, str], message: str
) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": label})
    with pytest.raises(CannotInfer, match=message):
        infer_project(frame, target="y", **options)  # type: ignore[arg-type]


def test_named_columns_must_exist_and_be_what_they_are_asked_to_be() -> None:
    frame = pd.DataFrame({"id": [1, 1, 2], "when": ["x", "2024-01-01", "y"], "y": ["a", "b", "a"]})
    with pytest.raises(CannotInfer, match="'nope' is not a column"):
        infer_project(frame, target="nope")
    with pytest.raises(CannotInfer, match="not date-times"):
        infer_project(frame, target="y", time_column="when")
    with pytest.raises(CannotInfer, match="does not identify rows"):
        infer_project(frame, target="y", id_column="id")


def test_id_columns_are_inferred_only_when_clearly_ids() -> None:
    frame = pd.DataFrame(
        {"customer_id": [3, 1, 2, 4], "score": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]}
    )
    inferred = infer_project(frame, target="y")
    assert inferred.id_column == "customer_id"
    assert inferred.contract.columns["customer_id"].max is None
    repeated = frame.assign(customer_id=[1, 1, 2, 3])
    assert infer_project(repeated, target="y").id_column is None


def test_a_time_column_gives_a_time_split(tmp_path: Path) -> None:
    times = pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"day": times, "x": range(40), "y": ["a", "b"] * 20})
    frame.to_csv(tmp_path / "events.csv", index=False)
    result = init_from_data(tmp_path / "p", tmp_path / "events.csv", target="y", time_column="day")
    spec = load_spec(result.project / "goldenpath.yaml")
    assert spec.data.time_column == "day"
    assert spec.data.split.method == "time"
    assert spec.data.split.cutoff == "2024-01-31T00:00:00"


def test_init_from_data_writes_nothing_on_error(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "a"]})
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(CannotInfer):
        init_from_data(tmp_path / "project", tmp_path / "data.csv", target="y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(DestinationExists):
        init_from_data(tmp_path / "taken", tmp_path / "data.csv", target="y")


def test_project_names_are_valid_spec_names() -> None:
    assert project_name("own-data") == "own-data"
    assert project_name("my data (v2)") == "my-data-v2"
    assert project_name("__") == "my-project"


@pytest.mark.parametrize("target", ["label", "amount"])
def test_the_generated_model_trains_on_every_kind_of_column(tmp_path: Path, target: str) -> None:
    """model.py as written handles text, booleans, date-times, missing and all-missing values."""
    import importlib.util

    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", None], n),
            "note": [f"free text {i}" for i in range(n)],
            "vip": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "active": rng.choice([True, False], n),
            "seen": pd.date_range("2024-01-01", periods=n, freq="h"),
            "spend": np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2.0, 10.0, n)),
            "empty": [np.nan] * n,
            "label": rng.choice(["no", "yes"], n),
            "amount": rng.normal(100, 10, n),
        }
    )
    frame.to_parquet(tmp_path / "data.parquet")
    result = init_from_data(tmp_path / "p", tmp_path / "data.parquet", target=target)
    spec = load_spec(result.project / "goldenpath.yaml")
    rows = validate_frame(frame, spec.data.contract, source="data")[[*spec.feature_columns, target]]
    module_spec = importlib.util.spec_from_file_location("generated", result.project / "model.py")
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    model = module.train(rows, {**spec.training.params, "seed": spec.training.seed})
    predictions = model.predict(rows.drop(columns=[target]))
    assert len(predictions) == n
