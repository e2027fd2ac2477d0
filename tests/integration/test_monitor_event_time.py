"""Windows by event time (``monitoring.time``): a real served log and written logs whose events
arrive hours late land in their event windows (by arrival, elsewhere); a late batch for a window
already judged makes it judged again, with the late rows counted and the earlier verdict kept;
rows without an event time and files written before the log kept one fall back to arrival."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import yaml
from _live import live_server
from rich.console import Console

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_frame, small_spec
from goldenpath.cli.monitoring import _render_run
from goldenpath.evaluation.evaluate import load_model, resolve_model
from goldenpath.gates import gate
from goldenpath.monitoring import MonitoringWindow, run_monitor
from goldenpath.monitoring.results import EarlierVerdict
from goldenpath.registry import promote
from goldenpath.reports.monitoring import render_monitoring_html
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.models import predictor
from goldenpath.spec.serving import LogSpec

DAY_ONE = datetime(2026, 1, 1, tzinfo=UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
DAY_THREE = DAY_ONE + timedelta(days=2)
LATER = DAY_ONE + timedelta(days=10)  # every window of these tests is complete by then


def _spec(time: str | None = None) -> dict[str, Any]:
    spec = small_spec()
    spec["data"]["time_column"] = "seen_at"
    spec["data"]["contract"]["columns"]["seen_at"] = {"dtype": "datetime", "nullable": True}
    spec["evaluation"] = {"resamples": 0}
    spec["serving"] = {"log": {"flush_seconds": 0.1}}
    if time is not None:
        spec["monitoring"] = {"time": time}
    return spec


def _frame(n: int, seed: int) -> pd.DataFrame:
    frame = small_frame(n=n, seed=seed)
    frame["seen_at"] = [
        (DAY_ONE - timedelta(days=30) + timedelta(minutes=i)).isoformat() for i in range(n)
    ]
    return frame


@pytest.fixture
def timed(make_project: MakeProject) -> goldenpath.Project:
    """A champion whose contract has an event-time column (not a feature: training drops it)."""
    project = goldenpath.open_project(make_project(frame=_frame(4000, 0), spec=_spec()))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    return project


def _with_time(project: goldenpath.Project, time: str) -> goldenpath.Project:
    """The same project and store, its spec saying ``monitoring.time: time``."""
    path = project.root / "goldenpath.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["monitoring"] = {"time": time}
    path.write_text(yaml.safe_dump(spec))
    return goldenpath.open_project(project.root)


def _log(
    project: goldenpath.Project,
    frame: pd.DataFrame,
    events: Sequence[datetime | None],
    arrival: list[datetime],
    *,
    prefix: str,
    event_field: bool = True,
) -> list[tuple[str, int]]:
    """Log ``frame`` as the server does (one file, partitioned by the first arrival), each row
    with its event time and arrival time; without the event_time field when not
    ``event_field`` (a file written before the log kept it). The rows' keys."""
    spec = project.spec
    model, _ = load_model(project, resolve_model(project, f"{project.name}@champion"))
    outputs = predictor(model, spec)(frame[spec.feature_columns])
    n = len(frame)
    features = frame[spec.feature_columns]
    values: dict[str, list[Any]] = {
        str(c): features[c].astype(object).where(features[c].notna(), None).tolist()
        for c in features
    }
    values |= {
        "request_id": [f"{prefix}{i}" for i in range(n)],
        "row": [0] * n,
        "timestamp": arrival,
        "model_name": [project.name] * n,
        "model_version": ["1"] * n,
        "route": ["champion"] * n,
        "kind": ["served"] * n,
        "prediction": [str(p) for p in outputs.predictions],
        "score": outputs.scores,
        "seen_at": [None if e is None else e.isoformat() for e in events],
        "event_time": list(events),
    }
    schema = prediction_schema(spec.data.contract.columns, "hash")
    if not event_field:
        schema = schema.remove(schema.get_field_index("event_time"))
    writer = LogWriter(project.state_dir / "logs", schema, LogSpec())
    writer.append(partition_for("predictions", arrival[0], "1"), values, n)
    writer.close()
    return list(zip(values["request_id"], values["row"], strict=True))


def _labels(
    project: goldenpath.Project, keys: list[tuple[str, int]], labels: list[str], when: datetime
) -> None:
    writer = LogWriter(project.state_dir / "logs", FEEDBACK_SCHEMA, LogSpec())
    rows: dict[str, list[Any]] = {
        "request_id": [r for r, _ in keys],
        "row": [i for _, i in keys],
        "timestamp": [when] * len(keys),
        "label": labels,
        "label_value": [None] * len(keys),
    }
    writer.append(partition_for("feedback", when), rows, len(keys))
    writer.close()


def _shifted(n: int, seed: int) -> pd.DataFrame:
    frame = _frame(n, seed)
    frame["age"] = frame["age"] + 15
    frame.loc[frame.sample(frac=0.3, random_state=1).index, "plan"] = "pro"
    return frame


def _spread(start: datetime, n: int, seconds: float) -> list[datetime]:
    return [start + timedelta(seconds=i * seconds) for i in range(n)]


def _by_start(windows: list[MonitoringWindow]) -> dict[str, int]:
    return {w.start[:10]: w.rows for w in windows}


def test_events_hours_late_land_in_their_event_window_not_their_arrival_window(
    timed: goldenpath.Project,
) -> None:
    # 2,000 events late on day one and 1,000 early on day two, all arriving 5 hours later
    evening = _spread(DAY_ONE + timedelta(hours=22), 2000, 3)
    morning = _spread(DAY_TWO + timedelta(hours=1), 1000, 3)
    late = [e + timedelta(hours=5) for e in [*evening, *morning]]
    frame = _frame(3000, 11)
    keys = _log(timed, frame, [*evening, *morning], late, prefix="a")
    _labels(timed, keys, frame["label"].astype(str).tolist(), DAY_THREE)

    by_event = run_monitor(timed, window="1d", now=LATER).report
    assert by_event.window.time == "event"
    assert _by_start(by_event.windows) == {"2026-01-01": 2000, "2026-01-02": 1000}
    first, second = by_event.windows
    assert first.first is not None  # the window's earliest and latest event times
    assert first.last is not None
    assert (datetime.fromisoformat(first.first), datetime.fromisoformat(first.last)) == (
        evening[0],
        evening[-1],
    )
    assert first.event_time_missing == second.event_time_missing == 0
    # the labels join the rows in their event windows
    assert first.realised is not None
    assert first.realised["champion v1"].rows == 2000
    assert second.realised is not None
    assert second.realised["champion v1"].rows == 1000

    by_arrival = run_monitor(_with_time(timed, "arrival"), window="1d", now=LATER).report
    assert by_arrival.window.time == "arrival"
    assert _by_start(by_arrival.windows) == {"2026-01-02": 3000}
    assert by_arrival.processed.new_rows == 3000  # its own stream: it read the log afresh
    # row windows count rows as they arrived, whatever the clock
    rows = run_monitor(timed, window="1000-rows", now=LATER).report
    assert rows.window.time == "arrival"
    assert [w.rows for w in rows.windows] == [1000, 1000, 1000]


def test_a_late_batch_makes_its_judged_window_judged_again(timed: goldenpath.Project) -> None:
    day_one = _spread(DAY_ONE, 3000, 20)
    day_two = _spread(DAY_TWO, 3000, 20)
    _log(timed, _frame(3000, 21), day_one, [e + timedelta(minutes=1) for e in day_one], prefix="a")
    _log(timed, _frame(3000, 22), day_two, [e + timedelta(minutes=1) for e in day_two], prefix="b")
    before = run_monitor(timed, window="1d", now=DAY_THREE)
    calm, other = before.report.windows
    assert (calm.rows, calm.complete, calm.severity, calm.revision) == (3000, True, "ok", 1)
    assert not calm.rejudged
    assert before.report.alerts == []

    # two days later, 3,000 shifted events of day one arrive
    events = _spread(DAY_ONE + timedelta(hours=6), 3000, 5)
    _log(timed, _shifted(3000, 23), events, [DAY_THREE + timedelta(hours=3)] * 3000, prefix="c")
    after = run_monitor(timed, window="1d", now=DAY_THREE + timedelta(hours=4))
    assert after.report.processed.new_rows == 3000
    rejudged, untouched = after.report.windows
    assert untouched == other
    assert rejudged.index == calm.index
    assert (rejudged.rows, rejudged.revision, rejudged.rejudged) == (6000, 2, True)
    assert rejudged.late_rows == 3000
    assert rejudged.earlier == [EarlierVerdict(revision=1, rows=3000, judged=True, severity="ok")]
    assert rejudged.severity == "critical"
    html = render_monitoring_html(after.report)
    assert f"window #{calm.index} (" in html
    assert "3,000 late rows, verdict 2" in html
    assert "before: ok" in html
    console = Console(record=True, width=200)
    _render_run(console, after, None)  # what `goldenpath monitor` prints
    assert "6,000 (3,000 late, verdict 2)" in console.export_text()
    # its alerts are raised like any other window's
    opened = [e for e in after.events if e.event == "opened"]
    assert opened
    assert {e.window_index for e in opened} == {calm.index}
    assert ("feature.psi", "age") in {(e.metric, e.subject) for e in opened}
    raised = [a for a in after.report.alerts if a.window_index == calm.index]
    assert {(a.metric, a.subject) for a in raised} >= {("feature.psi", "age")}
    # the calm day after it resolves them, as it would any window's
    assert {a.status for a in raised} == {"resolved"}

    again = run_monitor(timed, window="1d", now=DAY_THREE + timedelta(hours=5))
    assert again.report.windows == after.report.windows  # nothing new: nothing re-judged
    assert again.events == []


def test_rows_without_an_event_time_fall_back_to_arrival_and_are_counted(
    timed: goldenpath.Project,
) -> None:
    events: list[datetime | None] = [*_spread(DAY_ONE, 1000, 30), *[None] * 500]
    arrival = [DAY_TWO + timedelta(seconds=i) for i in range(1500)]
    _log(timed, _frame(1500, 31), events, arrival, prefix="a")
    report = run_monitor(timed, window="1d", now=LATER).report
    day_one, day_two = report.windows
    assert day_one.start.startswith("2026-01-01")
    assert (day_one.rows, day_one.event_time_missing) == (1000, 0)
    assert day_two.start.startswith("2026-01-02")
    assert (day_two.rows, day_two.event_time_missing) == (500, 500)


def test_files_written_before_the_event_time_field_are_still_read(
    timed: goldenpath.Project,
) -> None:
    old = _spread(DAY_ONE + timedelta(hours=1), 1000, 30)
    _log(timed, _frame(1000, 41), [None] * 1000, old, prefix="old", event_field=False)
    first = run_monitor(timed, window="1d", now=LATER).report
    (day_one,) = first.windows
    assert (day_one.rows, day_one.event_time_missing) == (1000, 1000)
    # a newer file's events, late, join the same window
    events = _spread(DAY_ONE + timedelta(hours=12), 500, 30)
    _log(timed, _frame(500, 42), events, [DAY_TWO + timedelta(hours=12)] * 500, prefix="new")
    second = run_monitor(timed, window="1d", now=LATER).report
    (joined,) = second.windows
    assert (joined.rows, joined.event_time_missing, joined.late_rows) == (1500, 1000, 500)
    assert joined.revision == 2


def test_the_served_log_keeps_event_times_and_monitor_windows_by_them(
    timed: goldenpath.Project,
) -> None:
    """Through a real server: rows sent with the time column are windowed by it, rows sent
    without it by when the server answered them."""
    rows = small_frame(n=300, seed=51)[timed.spec.feature_columns]
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    past = datetime(2025, 6, 1, 12, tzinfo=UTC)
    timed_rows = [
        {**r, "seen_at": (past + timedelta(minutes=i)).isoformat()}
        for i, r in enumerate(records[:250])
    ]
    untimed_rows = records[250:]

    def post(body: list[dict[str, Any]]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    served_at = datetime.now(UTC)
    with live_server(timed) as (base, _):
        with_time = post(timed_rows)
        without = post(untimed_rows)
    assert len(with_time["predictions"]) == 250
    assert len(without["predictions"]) == 50
    report = run_monitor(timed, window="1d").report
    windows = {w.start[:10]: w for w in report.windows}
    assert windows["2025-06-01"].rows == 250
    assert windows["2025-06-01"].event_time_missing == 0
    assert windows["2025-06-01"].judged
    today = windows[served_at.date().isoformat()]
    assert (today.rows, today.event_time_missing) == (50, 50)


def test_the_report_document_carries_the_clock_and_the_revisions(
    timed: goldenpath.Project,
) -> None:
    events = _spread(DAY_ONE, 500, 60)
    _log(timed, _frame(500, 61), events, [e + timedelta(hours=1) for e in events], prefix="a")
    run_monitor(timed, window="1d", now=LATER)
    _log(timed, _frame(300, 62), events[:300], [DAY_THREE] * 300, prefix="b")
    document = run_monitor(timed, window="1d", now=LATER).report
    written = json.loads(document.model_dump_json(by_alias=True))
    assert written["window"]["time"] == "event"
    (window,) = written["windows"]
    assert (window["revision"], window["rejudged"], window["late_rows"]) == (2, True, 300)
    assert window["earlier"] == [{"revision": 1, "rows": 500, "judged": True, "severity": "ok"}]
    assert type(document).model_validate(written) == document
