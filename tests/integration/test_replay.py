"""``goldenpath replay`` sends the data's exact values: what the prediction log holds is the
source, bit for bit, and a held-out sample of the training distribution raises no drift alert."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from _live import live_server

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_frame, small_spec
from goldenpath.data import load_dataset
from goldenpath.gates import gate
from goldenpath.monitoring import run_monitor
from goldenpath.registry import promote
from goldenpath.reports.monitoring import write_monitoring_report
from goldenpath.serving.replay import replay

ROWS = 1200  # 300 held out: above monitoring's min_window_rows (200), so the window is judged


def _frame() -> pd.DataFrame:
    """small_frame with floats that 10 decimals cannot hold: unrounded ``spend`` and ``balance``
    (with NaNs), and ``ratio``, a few thirds repeated many times, so the monitor's decile edges
    fall exactly on values that a 1e-11 error moves to the next bin."""
    frame = small_frame(n=ROWS, seed=5)
    rng = np.random.default_rng(6)
    frame["spend"] = rng.gamma(2.0, 30.0, ROWS)
    frame["balance"] = np.where(rng.random(ROWS) < 0.1, np.nan, rng.normal(100, 20, ROWS))
    frame["ratio"] = rng.integers(1, 7, ROWS) / 3
    return frame


@pytest.fixture
def champion(make_project: MakeProject) -> goldenpath.Project:
    spec = small_spec()
    spec["data"]["contract"]["columns"]["ratio"] = {"dtype": "float", "min": 0}
    spec["evaluation"] = {"resamples": 0}
    project = goldenpath.open_project(make_project(frame=_frame(), spec=spec))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    return project


def _logged(project: goldenpath.Project) -> pa.Table:
    files = sorted((project.state_dir / "logs" / "predictions").rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def test_replayed_rows_are_logged_bit_for_bit_and_raise_no_drift_alert(
    champion: goldenpath.Project,
) -> None:
    spec = champion.spec
    source = load_dataset(spec, champion.root).frame
    # the data is one that DataFrame.to_json (10 decimals) would change
    rounded = pd.read_json(io.StringIO(source[["spend", "ratio"]].to_json(orient="records")))
    assert (rounded["spend"].to_numpy() != source["spend"].to_numpy()).any()
    assert (rounded["ratio"].to_numpy() != source["ratio"].to_numpy()).any()

    with live_server(champion) as (base, _):
        result = replay(champion, base, ref="small@champion", feedback_share=0.0)
    assert result.statuses == {"200": ROWS // 4}

    table = _logged(champion)
    logged = table.to_pandas().set_index("customer_id").sort_index()
    expected = source.set_index("customer_id").loc[logged.index]
    assert len(logged) == ROWS // 4
    assert logged.index.is_unique
    assert expected["balance"].isna().any()  # the NaNs are part of what is checked
    for column in spec.feature_columns:
        sent, got = expected[column].to_numpy(), logged[column].to_numpy()
        if sent.dtype.kind == "f":
            assert got.dtype == np.float64, column
            assert (np.isnan(got) == np.isnan(sent)).all(), column  # NaN sent as null
            assert (got.view(np.uint64) == sent.view(np.uint64))[~np.isnan(sent)].all(), column
        else:
            assert got.tolist() == sent.tolist(), column
    balance = table.column("balance")  # missing values are nulls in the file, not NaNs
    assert balance.null_count == int(expected["balance"].isna().sum())
    assert not pc.any(pc.is_nan(balance)).as_py()

    monitored = run_monitor(champion, window="1d")
    (window,) = monitored.report.windows
    assert window.rows == ROWS // 4
    assert window.judged
    assert monitored.report.alerts == []
    assert {f.feature: f.severity for f in window.features} == dict.fromkeys(
        spec.feature_columns, "ok"
    )
    json_path, _ = write_monitoring_report(monitored.report, monitored.folder)
    assert json.loads(json_path.read_text())["alerts"] == []


def test_value_column_sends_each_rows_value_with_its_feedback(
    champion: goldenpath.Project,
) -> None:
    """``value_column`` names a column of the file beside the contract's; each feedback carries
    the value of the row its request sent (a missing value as null), as the feedback log shows."""
    frame = _frame().head(60).copy()
    revenue = np.round(frame["spend"].to_numpy() * 1.5, 2)
    revenue[::7] = np.nan
    frame["revenue"] = revenue
    path = champion.root / "with-revenue.csv"
    frame.to_csv(path, index=False)

    with live_server(champion) as (base, _):
        result = replay(champion, base, data=str(path), feedback_share=1.0, value_column="revenue")
    assert result.statuses == {"200": 60}
    assert result.feedback_sent == 60
    assert result.value_column == "revenue"

    predictions = _logged(champion).select(["request_id", "customer_id"]).to_pandas()
    files = sorted((champion.state_dir / "logs" / "feedback").rglob("*.parquet"))
    feedback = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
    joined = feedback.merge(predictions, on="request_id", validate="one_to_one")
    expected = frame.set_index("customer_id").loc[joined["customer_id"]]
    assert len(joined) == 60
    got, sent = joined["value"].to_numpy(), expected["revenue"].to_numpy()
    assert (np.isnan(got) == np.isnan(sent)).all()
    assert np.isnan(sent).any()
    assert (got == sent)[~np.isnan(sent)].all()
    assert joined["label"].tolist() == expected["label"].tolist()


def test_value_column_a_contract_column_or_refused_before_sending(
    champion: goldenpath.Project,
) -> None:
    """A contract column may be the value column (here of the run's held-out rows); one that is
    neither there nor in the file, or that is not numeric, is refused before anything is sent."""
    from goldenpath.errors import DataReadError
    from goldenpath.serving.replay import _rows

    records, labels, values = _rows(champion, "small@champion", None, "spend")
    assert values is not None
    assert len(values) == len(records) == len(labels) == ROWS // 4
    assert values == [record["spend"] for record in records]

    unreachable = "http://127.0.0.1:9"  # nothing is sent: the refusal comes first
    with pytest.raises(DataReadError, match="not in the data contract"):
        replay(champion, unreachable, ref="small@champion", value_column="revenue")
    path = champion.root / "rows.csv"
    _frame().head(10).to_csv(path, index=False)
    with pytest.raises(DataReadError, match="'revenue' is not in"):
        replay(champion, unreachable, data=str(path), value_column="revenue")
    with pytest.raises(DataReadError, match="not numeric"):
        replay(champion, unreachable, data=str(path), value_column="plan")
