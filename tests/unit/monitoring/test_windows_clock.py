"""Which window a logged row lands in: by event time or by arrival time (monitoring.time), with
arrival standing in for a missing event time, in files with and without the event_time field;
and how a window's verdict is revised when rows arrive after it was judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from conftest import small_spec
from goldenpath.monitoring.judge import revised
from goldenpath.monitoring.logs import EVENT_TIME_MISSING, Clock, PredictionLog
from goldenpath.monitoring.results import DataQuality, EarlierVerdict, MonitoringWindow
from goldenpath.monitoring.windows import WindowRecord, WindowState, window_keys
from goldenpath.spec import Spec
from goldenpath.spec.monitoring import MonitoringSpec

HOUR = 3600
DAY = datetime(2026, 3, 1, tzinfo=UTC)
STAMP = pa.timestamp("us", tz="UTC")


def _write(
    folder: Path,
    name: str,
    arrival: list[datetime],
    event: list[datetime | None] | None,
) -> str:
    """A prediction log file of served rows; without the event_time field when ``event`` is
    None (a file written before the log kept it)."""
    n = len(arrival)
    columns: dict[str, Any] = {
        "request_id": pa.array([f"{name}-{i}" for i in range(n)]),
        "row": pa.array([0] * n, pa.int32()),
        "timestamp": pa.array(arrival, STAMP),
        "kind": pa.array(["served"] * n),
        "route": pa.array(["champion"] * n),
        "model_version": pa.array(["1"] * n),
        "prediction": pa.array(["yes"] * n),
        "score": pa.array([0.5] * n, pa.float64()),
        "age": pa.array(list(range(n)), pa.int64()),
    }
    if event is not None:
        columns["event_time"] = pa.array(event, STAMP)
    path = folder / "predictions" / f"date={arrival[0].date()}" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return str(path.relative_to(folder))


def _read(folder: Path, paths: list[str], clock: Clock) -> pd.DataFrame:
    log = PredictionLog(folder, clock=clock, threads=1)
    batches = list(log.served(paths, ["request_id", "timestamp", "age"]))
    frame: pd.DataFrame = pa.Table.from_batches(batches).to_pandas()
    return frame.sort_values("request_id").reset_index(drop=True)


def _hours(frame: pd.DataFrame) -> list[int]:
    """Each row's one-hour window, as hours after DAY."""
    keys = window_keys(frame["timestamp"], "time", HOUR)
    return [int(k) - int(DAY.timestamp()) // HOUR for k in keys]


def test_late_events_land_in_their_event_window_and_in_the_arrival_window_by_arrival(
    tmp_path: Path,
) -> None:
    events = [DAY + timedelta(minutes=10 * i) for i in range(6)]  # hours 0 and 1
    arrival = [e + timedelta(hours=5) for e in events]  # five hours late
    path = _write(tmp_path, "late", arrival, list(events))

    by_event = _read(tmp_path, [path], "event")
    assert _hours(by_event) == [0, 0, 0, 0, 0, 0]
    assert by_event[EVENT_TIME_MISSING].tolist() == [False] * 6
    by_arrival = _read(tmp_path, [path], "arrival")
    assert _hours(by_arrival) == [5, 5, 5, 5, 5, 5]
    assert EVENT_TIME_MISSING not in by_arrival


def test_a_row_at_a_windows_end_belongs_to_the_next_window() -> None:
    stamps = pd.Series(
        [DAY, DAY + timedelta(hours=1, microseconds=-1), DAY + timedelta(hours=1)], dtype=object
    ).astype("datetime64[us, UTC]")
    assert _hours(pd.DataFrame({"timestamp": stamps})) == [0, 0, 1]


def test_a_missing_event_time_falls_back_to_arrival_and_is_counted(tmp_path: Path) -> None:
    arrival = [DAY + timedelta(hours=3, minutes=i) for i in range(4)]
    event: list[datetime | None] = [DAY, None, DAY + timedelta(hours=1), None]
    path = _write(tmp_path, "some-null", arrival, event)

    frame = _read(tmp_path, [path], "event")
    assert _hours(frame) == [0, 3, 1, 3]
    assert frame[EVENT_TIME_MISSING].tolist() == [False, True, False, True]


def test_files_without_the_event_time_field_are_read_as_missing_event_times(
    tmp_path: Path,
) -> None:
    old = _write(tmp_path, "old", [DAY + timedelta(hours=2)] * 2, None)
    new = _write(tmp_path, "new", [DAY + timedelta(hours=4)] * 2, [DAY, DAY])

    alone = _read(tmp_path, [old], "event")  # no file has the field: arrival throughout
    assert _hours(alone) == [2, 2]
    assert alone[EVENT_TIME_MISSING].tolist() == [True, True]
    mixed = _read(tmp_path, [old, new], "event")  # request ids sort new-, then old-
    assert _hours(mixed) == [0, 0, 2, 2]
    assert mixed[EVENT_TIME_MISSING].tolist() == [False, False, True, True]


def test_since_and_until_and_the_label_join_use_the_window_clock(tmp_path: Path) -> None:
    events = [DAY, DAY + timedelta(hours=1), DAY + timedelta(hours=2)]
    arrival = [e + timedelta(days=1) for e in events]
    path = _write(tmp_path, "ranged", arrival, list(events))
    log = PredictionLog(tmp_path, clock="event", threads=1)
    chosen = pa.Table.from_batches(
        list(log.served([path], ["age"], since=DAY + timedelta(hours=1), until=arrival[0]))
    )
    assert sorted(chosen.column("age").to_pylist()) == [1, 2]
    feedback = tmp_path / "feedback" / "date=2026-03-05" / "labels.parquet"
    feedback.parent.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "request_id": ["ranged-0", "ranged-2"],
                "row": pa.array([0, 0], pa.int32()),
                "timestamp": pa.array([arrival[-1] + timedelta(days=3)] * 2, STAMP),
                "label": ["yes", "no"],
            }
        ),
        feedback,
    )
    labelled = log.labelled(["feedback/date=2026-03-05/labels.parquet"], DAY, DAY)
    assert labelled["request_id"].tolist() == ["ranged-0"]
    assert labelled["timestamp"].tolist() == [pd.Timestamp(DAY)]


def _state(missing: int) -> WindowState:
    return WindowState(0, "time", HOUR, rows=10, event_time_missing=missing)


def test_missing_event_times_add_up_across_runs_and_survive_the_store() -> None:
    merged = _state(2).merged(_state(3))
    assert merged.event_time_missing == 5
    assert WindowState.of_record(0, "time", HOUR, merged.record()).event_time_missing == 5
    older = merged.record().model_dump(mode="json")
    del older["event_time_missing"]  # a record written before the event clock
    assert WindowRecord.model_validate(older).event_time_missing == 0


def _window(rows: int, *, complete: bool, severity: str = "ok") -> MonitoringWindow:
    return MonitoringWindow.model_validate(
        {
            "index": 0,
            "start": DAY.isoformat(),
            "end": (DAY + timedelta(hours=1)).isoformat(),
            "rows": rows,
            "complete": complete,
            "routes": {"champion": rows},
            "features": [],
            "outputs": [],
            "quality": DataQuality(rows=rows, volume="ok", expected_rows=None, out_of_range={}),
            "multivariate": None,
            "estimated": None,
            "realised": None,
            "severity": severity,
        }
    )


def test_rows_after_a_complete_verdict_make_a_revision_that_keeps_the_earlier_one() -> None:
    first = _window(300, complete=True)
    second = revised(_window(450, complete=True, severity="critical"), first)
    assert (second.revision, second.rejudged, second.late_rows) == (2, True, 150)
    assert second.earlier == [EarlierVerdict(revision=1, rows=300, judged=True, severity="ok")]
    third = revised(_window(460, complete=True), second)
    assert (third.revision, third.late_rows) == (3, 160)
    assert [v.severity for v in third.earlier] == ["ok", "critical"]
    # judged again without new rows (labels arrived): the history stays as it was
    relabelled = revised(_window(460, complete=True), third)
    assert (relabelled.revision, relabelled.late_rows, relabelled.earlier) == (
        3,
        160,
        third.earlier,
    )


def test_rows_that_fill_an_open_window_are_not_late() -> None:
    filled = revised(_window(450, complete=True), _window(300, complete=False))
    assert (filled.revision, filled.rejudged, filled.late_rows, filled.earlier) == (
        1,
        False,
        0,
        [],
    )
    assert revised(_window(300, complete=False), None).revision == 1


@pytest.mark.parametrize(
    ("time", "column", "clock"),
    [
        (None, "seen_at", "event"),
        (None, None, "arrival"),
        ("arrival", "seen_at", "arrival"),
        ("event", "seen_at", "event"),
    ],
)
def test_the_clock_defaults_to_event_time_when_the_contract_has_one(
    time: str | None, column: str | None, clock: str
) -> None:
    settings = MonitoringSpec.model_validate({} if time is None else {"time": time})
    assert settings.clock(column) == clock


def test_event_windows_without_a_time_column_are_a_spec_error() -> None:
    spec = small_spec()
    spec["monitoring"] = {"time": "event"}
    with pytest.raises(ValidationError, match=r"monitoring.time: event windows need .*time_column"):
        Spec.model_validate(spec)
    spec["data"]["time_column"] = "seen_at"
    spec["data"]["contract"]["columns"]["seen_at"] = {"dtype": "datetime", "nullable": True}
    assert Spec.model_validate(spec).monitoring.clock("seen_at") == "event"


def test_window_keys_of_many_rows_match_integer_division() -> None:
    rng = np.random.default_rng(5)
    seconds = rng.integers(0, 10 * 24 * HOUR, 1000)
    stamps = pd.Series(pd.to_datetime(seconds, unit="s", utc=True))
    keys = window_keys(stamps, "time", HOUR)
    assert keys.tolist() == (seconds // HOUR).tolist()
