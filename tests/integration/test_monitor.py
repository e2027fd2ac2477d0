"""``goldenpath monitor`` over a real prediction log (Parquet written by the server's log
writer) and a real store: windows, incremental runs, alerts and their sinks, performance."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pandas as pd
import pytest
import yaml

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_frame
from goldenpath.errors import SpecError
from goldenpath.evaluation.evaluate import load_model, resolve_model
from goldenpath.gates import gate
from goldenpath.monitoring import (
    Alert,
    MonitoringReport,
    MonitoringWindow,
    MonitorOutput,
    reference,
    run_monitor,
)
from goldenpath.monitoring.chunks import ANY_ROUTE, ChunkThresholds
from goldenpath.registry import promote
from goldenpath.reports.monitoring import write_monitoring_report
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.models import predictor
from goldenpath.spec.serving import LogSpec

DAY_ONE = datetime(2026, 1, 1, tzinfo=UTC)
DAY_TWO = datetime(2026, 1, 2, tzinfo=UTC)
DAY_THREE = datetime(2026, 1, 3, tzinfo=UTC)


def _log(
    project: goldenpath.Project,
    frame: pd.DataFrame,
    when: datetime,
    *,
    prefix: str,
    feedback_share: float = 0.0,
    version: str = "1",
    rows_per_request: int = 1,
    drop: tuple[str, ...] = (),
) -> None:
    """Log ``frame`` as served by the champion (as ``version``), one request per second from
    ``when`` with ``rows_per_request`` rows each, and feedback labels for the first
    ``feedback_share`` of the rows; the files lack the columns in ``drop``."""
    spec = project.spec
    model, _ = load_model(project, resolve_model(project, f"{project.name}@champion"))
    outputs = predictor(model, spec)(frame[spec.feature_columns])
    features = frame[[c for c in spec.feature_columns if c not in drop]]
    n, k = len(frame), rows_per_request
    values = {
        c: features[c].astype(object).where(features[c].notna(), None).tolist() for c in features
    }
    values |= {
        "request_id": [f"{prefix}{i // k}" for i in range(n)],
        "row": [i % k for i in range(n)],
        "timestamp": [when + timedelta(seconds=i // k) for i in range(n)],
        "model_name": [project.name] * n,
        "model_version": [version] * n,
        "route": ["champion"] * n,
        "kind": ["served"] * n,
        "prediction": [str(p) for p in outputs.predictions],
        "score": outputs.scores,
    }
    logs = project.state_dir / "logs"
    columns = {c: v for c, v in spec.data.contract.columns.items() if c not in drop}
    writer = LogWriter(logs, prediction_schema(columns, "hash"), LogSpec())
    writer.append(partition_for("predictions", when, version), values, n)
    writer.close()
    labelled = int(n * feedback_share)
    if labelled:
        labels = frame[spec.task.target].astype(str).tolist()[:labelled]
        keys = list(zip(values["request_id"], values["row"], strict=True))[:labelled]
        _feedback(project, keys, labels, when + timedelta(hours=1))


def _feedback(
    project: goldenpath.Project,
    keys: list[tuple[str, int]],
    labels: list[str | None],
    when: datetime,
) -> None:
    feedback = LogWriter(project.state_dir / "logs", FEEDBACK_SCHEMA, LogSpec())
    rows = {
        "request_id": [r for r, _ in keys],
        "row": [i for _, i in keys],
        "timestamp": [when] * len(keys),
        "label": labels,
        "label_value": [None] * len(keys),
    }
    feedback.append(partition_for("feedback", when), rows, len(keys))
    feedback.close()


def _shifted(seed: int) -> pd.DataFrame:
    frame = small_frame(n=3000, seed=seed)
    frame["age"] = frame["age"] + 15
    frame.loc[frame.sample(frac=0.3, random_state=1).index, "plan"] = "pro"
    return frame


@pytest.fixture
def champion(make_project: MakeProject) -> goldenpath.Project:
    project = goldenpath.open_project(
        make_project(frame=small_frame(n=4000), evaluation={"resamples": 0})
    )
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    return project


def _open(monitored: Sequence[Alert]) -> set[tuple[str, str]]:
    return {(a.metric, a.subject) for a in monitored if a.status == "open"}


def test_windows_alert_on_a_shift_and_resolve_when_it_clears(
    champion: goldenpath.Project,
) -> None:
    _log(champion, small_frame(n=3000, seed=11), DAY_ONE, prefix="a")
    first = run_monitor(champion, window="1d")
    (calm,) = first.report.windows
    assert calm.rows == 3000
    assert calm.judged
    assert calm.severity == "ok"
    assert first.report.alerts == []
    assert calm.estimated is not None
    assert calm.estimated.accuracy is not None

    _log(champion, _shifted(12), DAY_TWO, prefix="b")
    second = run_monitor(champion, window="1d")
    assert second.report.processed.new_files == 1
    assert second.report.processed.new_rows == 3000
    calm_again, shifted = second.report.windows
    assert calm_again == calm  # the first window was not read again
    assert shifted.severity == "critical"
    drifted = {f.feature for f in shifted.features if f.severity == "critical"}
    assert drifted == {"age", "plan"}
    assert shifted.multivariate is not None
    assert shifted.multivariate.auc > 0.7
    assert shifted.multivariate.top_features[0][0] in {"age", "plan"}
    assert {("feature.psi", "age"), ("feature.psi", "plan")} <= _open(second.report.alerts)
    assert {e.event for e in second.events} == {"opened"}
    for alert in second.open_alerts:
        assert alert.window_start.startswith("2026-01-02")
        assert alert.report == str(second.html_path)
    assert second.changed
    assert not second.html_path.exists()  # the engine writes no report: its caller does
    write_monitoring_report(second.report, second.folder)
    assert json.loads(second.json_path.read_text())["windows"][1]["severity"] == "critical"

    # nothing new: nothing read, no alert opened twice
    again = run_monitor(champion, window="1d")
    assert again.report.processed.new_files == 0
    assert not again.changed
    assert again.events == []
    assert _open(again.report.alerts) == _open(second.report.alerts)

    _log(champion, small_frame(n=3000, seed=13), DAY_THREE, prefix="c")
    third = run_monitor(champion, window="1d")
    assert third.report.windows[2].severity == "ok"
    assert _open(third.report.alerts) == set()
    assert {e.event for e in third.events} == {"resolved"}
    sent = [
        json.loads(line)
        for line in (champion.state_dir / "monitoring" / "alerts.jsonl").read_text().splitlines()
    ]
    # one line per incident (monitoring.md, Incidents), with the alert events behind it
    assert [e["event"] for e in sent] == ["opened"] * 3 + ["resolved"] * 3
    changes = [c["event"] for e in sent for c in e["changes"]]
    assert changes.count("opened") == len(second.events)
    assert changes.count("resolved") == len(third.events)


def test_incremental_runs_equal_one_run_over_everything(champion: goldenpath.Project) -> None:
    _log(champion, small_frame(n=1500, seed=21), DAY_ONE, prefix="a")
    run_monitor(champion, window="1d")
    _log(champion, _shifted(22).head(1500), DAY_ONE + timedelta(hours=2), prefix="b")
    stepwise = run_monitor(champion, window="1d").report.windows
    at_once = run_monitor(champion, window="24h").report.windows  # another stream
    assert len(stepwise) == len(at_once) == 1
    assert stepwise[0].rows == at_once[0].rows == 3000
    for a, b in zip(stepwise[0].features, at_once[0].features, strict=True):
        assert a.psi == pytest.approx(b.psi, abs=1e-12)
        assert a.missing_share == b.missing_share
    estimated, whole = stepwise[0].estimated, at_once[0].estimated
    assert estimated is not None
    assert whole is not None
    assert estimated.model_dump(exclude={"confusion"}) == pytest.approx(
        whole.model_dump(exclude={"confusion"})
    )
    assert estimated.confusion is not None
    assert whole.confusion is not None
    assert estimated.confusion.model_dump() == pytest.approx(whole.confusion.model_dump())


def test_row_windows_and_a_rule_over_consecutive_windows(champion: goldenpath.Project) -> None:
    spec = yaml.safe_load(champion.spec_path.read_text())
    spec["monitoring"] = {
        "default_rules": False,  # only this rule
        "alerts": {
            "rules": [
                {
                    "name": "age-drift",
                    "metric": "feature.psi",
                    "above": 0.25,
                    "windows": 2,
                    "subjects": ["age"],
                }
            ]
        },
    }
    champion.spec_path.write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(champion.root)
    _log(project, small_frame(n=3000, seed=31), DAY_ONE, prefix="a")
    _log(project, _shifted(32).head(1000), DAY_TWO, prefix="b")
    run = run_monitor(project, window="1000-rows")
    windows = run.report.windows
    assert [w.rows for w in windows] == [1000, 1000, 1000, 1000]
    assert windows[-1].severity == "critical"
    assert run.report.alerts == []  # one shifted window is not two
    _log(project, _shifted(33).head(1000), DAY_THREE, prefix="c")
    run = run_monitor(project, window="1000-rows")
    assert _open(run.report.alerts) == {("feature.psi", "age")}
    assert run.open_alerts[0].rule == "age-drift"


def test_realised_performance_from_feedback_and_estimated_performance(
    champion: goldenpath.Project,
) -> None:
    frame = small_frame(n=3000, seed=41)
    _log(champion, frame, DAY_ONE, prefix="a", feedback_share=0.5)
    (window,) = run_monitor(champion, window="1d").report.windows
    assert window.realised is not None
    route = window.realised["champion v1"]
    assert route.rows == 1500
    accuracy = route.metrics["accuracy"]
    assert accuracy.value is not None
    assert accuracy.ci_low is not None
    assert accuracy.ci_high is not None
    assert accuracy.ci_low < accuracy.value < accuracy.ci_high
    auc = route.metrics["roc_auc"]
    assert auc.value is not None
    assert auc.ci_low is not None
    assert auc.ci_high is not None
    assert auc.ci_low < auc.value < auc.ci_high
    # the estimate (no labels used) agrees with the labels within sampling error
    assert window.estimated is not None
    assert window.estimated.accuracy is not None
    assert window.estimated.roc_auc is not None
    assert abs(window.estimated.accuracy - accuracy.value) < 0.05
    assert abs(window.estimated.roc_auc - auc.value) < 0.06


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []
    failures_left: ClassVar[int] = 2

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.failures_left > 0:
            _Hook.failures_left -= 1
            self.send_response(503)
        else:
            _Hook.bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_sink_retries_and_a_dead_sink_does_not_stop_monitoring(
    champion: goldenpath.Project,
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        spec = yaml.safe_load(champion.spec_path.read_text())
        spec["monitoring"] = {
            "alerts": {
                "sinks": [
                    {"type": "webhook", "url": url, "retries": 3, "backoff_seconds": 0.01},
                    {
                        "type": "webhook",
                        "url": "http://127.0.0.1:9/none",
                        "retries": 1,
                        "backoff_seconds": 0.01,
                        "timeout_seconds": 0.5,
                    },
                ]
            }
        }
        champion.spec_path.write_text(yaml.safe_dump(spec))
        project = goldenpath.open_project(champion.root)
        _log(project, _shifted(51), DAY_ONE, prefix="a")
        run = run_monitor(project, window="1d")
    finally:
        server.shutdown()
    assert run.events
    # one body per incident, holding the alert events behind it
    assert [b["id"] for b in _Hook.bodies] == [e.id for e in run.incident_events]
    assert sorted(c["id"] for b in _Hook.bodies for c in b["changes"]) == sorted(
        e.id for e in run.events
    )
    assert all(b["event"] == "opened" and b["headline"] for b in _Hook.bodies)
    assert len(run.sink_failures) == len(run.incident_events)
    assert "2 attempts failed" in run.sink_failures[0]


def test_an_empty_log_is_a_clear_error(champion: goldenpath.Project) -> None:
    with pytest.raises(goldenpath.GoldenpathError, match="no served predictions"):
        run_monitor(champion)


def _cli(project: goldenpath.Project, *args: str) -> subprocess.CompletedProcess[str]:
    """``goldenpath ARGS`` through the console script, in the project's folder."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "goldenpath"), *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_monitor_and_alerts_as_json(champion: goldenpath.Project) -> None:
    _log(champion, _shifted(61), DAY_ONE, prefix="a")

    def run(*args: str) -> dict[str, Any]:
        done = _cli(champion, *args, "--json")
        assert done.returncode == 0, done.stderr
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed

    printed = run("monitor", "--window", "1d")
    monitored = MonitorOutput.model_validate(printed)  # the typed document, and no more
    assert Path(monitored.report.html).exists()
    assert ("feature.psi", "age") in _open(monitored.alerts)
    assert {e.event for e in monitored.events} == {"opened"}
    # the report's JSON is the document --json printed, less the run's own fields
    written = json.loads(Path(monitored.report.json_path).read_text())
    assert written == {
        k: v
        for k, v in printed.items()
        if k not in {"report", "events", "sink_failures", "incident_events"}
    }
    listed = run("alerts", "--status", "open")
    alerts = [Alert.model_validate(a) for a in listed["alerts"]]
    assert {a.id for a in alerts} == {a.id for a in monitored.alerts}
    by_version = run("monitor", "--window", "1d", "--reference", "1")  # a bare version
    assert by_version["reference"]["model_version"] == "1"
    bad = _cli(champion, "monitor", "--window", "1week")
    assert bad.returncode == 2
    assert "not a duration" in bad.stderr
    backwards = _cli(champion, "monitor", "--since", "2026-02-01", "--until", "2026-01-01")
    assert backwards.returncode == 2
    assert "is not after --since" in backwards.stderr


def test_without_a_champion_monitor_says_how_to_get_one(make_project: MakeProject) -> None:
    project = goldenpath.open_project(make_project(frame=small_frame(n=600)))
    goldenpath.train(project)
    done = _cli(project, "monitor")
    assert done.returncode == 40
    assert "small has no champion to monitor" in done.stderr
    assert "goldenpath promote small/VERSION --to champion" in done.stderr


def test_windows_and_alerts_live_in_the_configured_store(
    store_uri: str, champion: goldenpath.Project
) -> None:
    """The same run against an external store (a SQLite file elsewhere, and PostgreSQL)."""
    _log(champion, _shifted(71), DAY_ONE, prefix="a")
    first = run_monitor(champion, window="1d")
    assert ("feature.psi", "age") in _open(first.report.alerts)
    again = run_monitor(champion, window="1d")
    assert again.report.processed.new_files == 0
    assert again.events == []
    assert again.report.windows == first.report.windows
    from goldenpath.store.engine import open_store
    from goldenpath.store.monitoring import list_alerts

    store = open_store(uri=store_uri)
    with store.transaction() as connection:
        stored = list_alerts(connection, champion.name, status="open")
    assert {a.id for a in stored} == {a.id for a in first.open_alerts}


def test_a_data_file_as_the_reference(champion: goldenpath.Project) -> None:
    shifted = _shifted(81)
    _log(champion, shifted, DAY_ONE, prefix="a")
    like_log = champion.root / "shifted.csv"
    _shifted(82).to_csv(like_log, index=False)
    same = run_monitor(champion, str(like_log), window="1d")
    (window,) = same.report.windows
    assert same.report.reference.run_id.startswith("file-")
    assert window.severity == "ok"  # the file looks like the traffic
    assert window.outputs == []
    assert window.estimated is None  # no calibration without a model
    training_like = champion.root / "training-like.csv"
    small_frame(n=3000, seed=83).to_csv(training_like, index=False)
    other = run_monitor(champion, reference(champion, str(training_like)), window="1d")
    drifted = {f.feature for f in other.report.windows[0].features}
    assert {"age", "plan"} <= {a.subject for a in other.open_alerts}
    assert "age" in drifted


def test_watch_processes_new_files_as_they_land(champion: goldenpath.Project) -> None:
    import time

    _log(champion, small_frame(n=500, seed=91), DAY_ONE, prefix="a")
    cli = str(Path(sys.executable).parent / "goldenpath")
    watcher = subprocess.Popen(
        [cli, "monitor", "--window", "1d", "--watch", "--interval", "0.5"],
        cwd=champion.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert watcher.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.time() + 120
        logged = False
        while time.time() < deadline:
            line = watcher.stdout.readline()
            if "new log file(s)" in line:
                seen.append(line)
                if len(seen) == 1 and not logged:
                    _log(champion, small_frame(n=700, seed=92), DAY_TWO, prefix="b")
                    logged = True
                if "700 new rows" in line:
                    break
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert seen[0].startswith("1 new log file(s), 500 new rows")
    assert any(line.startswith("1 new log file(s), 700 new rows") for line in seen[1:])


def test_a_window_that_closes_later_is_judged_again(champion: goldenpath.Project) -> None:
    spec = yaml.safe_load(champion.spec_path.read_text())
    spec["monitoring"] = {"expected_rows": [5000, None]}
    champion.spec_path.write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(champion.root)
    _log(project, small_frame(n=1000, seed=101), DAY_ONE, prefix="a")
    during = run_monitor(project, window="1d", now=DAY_ONE + timedelta(hours=12))
    (open_window,) = during.report.windows
    assert not open_window.complete
    assert open_window.quality.volume == "ok"  # an open window is not short yet
    after = run_monitor(project, window="1d", now=DAY_TWO + timedelta(hours=1))
    assert after.report.processed.new_files == 0
    (closed,) = after.report.windows
    assert closed.complete
    assert closed.quality.volume == "low"
    assert closed.severity == "warning"
    assert _open(after.report.alerts) == {("rows", "window")}
    assert after.open_alerts[0].rule == "volume-low"
    assert "is 1000, below 5000" in after.open_alerts[0].message
    assert _open(during.report.alerts) == set()


def test_two_runs_reading_the_same_files_at_once_leave_one_result(
    champion: goldenpath.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import goldenpath.monitoring.monitor as monitor_module

    _log(champion, small_frame(n=1000, seed=111), DAY_ONE, prefix="a")
    first = run_monitor(champion, window="1d")
    # the second run read the store before the first committed: it sees the same files as new
    monkeypatch.setattr(monitor_module, "processed_files", lambda *args: {})
    monkeypatch.setattr(monitor_module, "load_windows", lambda *args: [])
    with pytest.raises(goldenpath.GoldenpathError, match="at the same time"):
        run_monitor(champion, window="1d")
    monkeypatch.undo()
    again = run_monitor(champion, window="1d")
    assert again.report.windows == first.report.windows  # nothing counted twice


def test_late_labels_for_an_old_window_do_not_replay_its_alerts(
    champion: goldenpath.Project,
) -> None:
    calm = small_frame(n=3000, seed=121)
    _log(champion, calm, DAY_ONE, prefix="a")
    _log(champion, _shifted(122), DAY_TWO, prefix="b")
    _log(champion, small_frame(n=3000, seed=123), DAY_THREE, prefix="c")
    first = run_monitor(champion, window="1d")
    opened = [e for e in first.events if e.event == "opened"]
    assert opened
    assert len([e for e in first.events if e.event == "resolved"]) == len(opened)
    # labels for day one arrive days later: that window is judged again, its alerts are not
    keys = [(f"a{i}", 0) for i in range(1000)]
    _feedback(
        champion, keys, calm[champion.spec.task.target].astype(str)[:1000].tolist(), DAY_THREE
    )
    second = run_monitor(champion, window="1d")
    assert second.report.windows[0].realised is not None
    assert second.report.windows[0].realised["champion v1"].rows == 1000
    assert second.events == []
    assert len(second.report.alerts) == len(first.report.alerts)


def test_an_alert_stays_open_through_windows_that_cannot_observe_it(
    champion: goldenpath.Project,
) -> None:
    frame = small_frame(n=3000, seed=131)
    wrong = frame[champion.spec.task.target].map({"yes": "no", "no": "yes"})
    _log(champion, frame, DAY_ONE, prefix="a")
    _feedback(champion, [(f"a{i}", 0) for i in range(1500)], wrong[:1500].tolist(), DAY_ONE)
    _log(champion, small_frame(n=3000, seed=132), DAY_TWO, prefix="b")  # no labels yet
    run = run_monitor(champion, window="1d")
    realised = {a.metric for a in run.open_alerts if a.metric.startswith("realised.")}
    assert realised == {"realised.accuracy_drop", "realised.roc_auc_drop"}
    assert not [e for e in run.events if e.event == "resolved"]


def test_null_labels_are_not_outcomes(champion: goldenpath.Project) -> None:
    frame = small_frame(n=1000, seed=141)
    _log(champion, frame, DAY_ONE, prefix="a")
    labels: list[str | None] = frame[champion.spec.task.target].astype(str).tolist()[:400]
    labels[200:] = [None] * 200
    _feedback(champion, [(f"a{i}", 0) for i in range(400)], labels, DAY_ONE)
    (window,) = run_monitor(champion, window="1d").report.windows
    assert window.realised is not None
    assert window.realised["champion v1"].rows == 200


def test_an_outage_is_a_volume_alert(champion: goldenpath.Project) -> None:
    spec = yaml.safe_load(champion.spec_path.read_text())
    spec["monitoring"] = {"expected_rows": [500, None]}
    champion.spec_path.write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(champion.root)
    _log(project, small_frame(n=1000, seed=151), DAY_ONE, prefix="a")
    run = run_monitor(project, window="1d", now=DAY_THREE + timedelta(hours=1))
    (volume,) = run.open_alerts
    assert (volume.metric, volume.rule) == ("rows", "volume-low")
    assert volume.window_start.startswith("2026-01-02")  # the day without a single row
    assert volume.value == 0


def test_files_without_a_feature_count_it_as_missing(champion: goldenpath.Project) -> None:
    _log(champion, small_frame(n=1000, seed=161), DAY_ONE, prefix="a")
    run_monitor(champion, window="1d")
    later = small_frame(n=1000, seed=162)
    _log(champion, later, DAY_ONE + timedelta(hours=1), prefix="b", drop=("balance",))
    run = run_monitor(champion, window="1d")
    (window,) = run.report.windows
    balance = next(f for f in window.features if f.feature == "balance")
    assert balance.missing_share > 0.5  # its 1,000 rows in the second file are missing
    assert ("feature.missing_increase", "balance") in _open(run.report.alerts)


def test_row_windows_keep_a_request_whole_when_mapping_labels(
    champion: goldenpath.Project,
) -> None:
    frame = small_frame(n=2100, seed=171)
    _log(champion, frame, DAY_ONE, prefix="a", rows_per_request=7, feedback_share=1.0)
    windows = run_monitor(champion, window="1000-rows").report.windows
    complete = [w for w in windows if w.complete]
    assert [w.rows for w in complete] == [1000, 1000]
    labelled = [(w.realised or {})["champion v1"].rows for w in windows]
    assert labelled == [w.rows for w in windows]  # every row's label in its own window


def test_no_output_drift_without_the_reference_versions_rows(
    champion: goldenpath.Project,
) -> None:
    _log(champion, small_frame(n=3000, seed=181), DAY_ONE, prefix="a", version="2")
    run = run_monitor(champion, window="1d")
    (window,) = run.report.windows
    assert window.outputs == []
    assert window.severity == "ok"
    assert run.open_alerts == []


WINDOW_KEYS = {
    "index",
    "start",
    "end",
    "first",
    "last",
    "rows",
    "complete",
    "judged",
    "routes",
    "features",
    "outputs",
    "quality",
    "multivariate",
    "estimated",
    "realised",
    "severity",
    "estimated_loss",
    "event_time_missing",  # the event clock (issue: event time and late data)
    "revision",
    "rejudged",
    "late_rows",
    "earlier",
}


def _stored_results(project: goldenpath.Project) -> list[str]:
    """The judged windows as the store keeps them (JSON text), oldest first."""
    from sqlalchemy import select

    from goldenpath.store.engine import open_store
    from goldenpath.store.schema import monitor_windows

    query = select(monitor_windows.c.result).order_by(monitor_windows.c.window_index)
    with open_store(project).transaction() as connection:
        return [str(r) for r in connection.execute(query).scalars()]


def test_the_document_round_trips_through_its_model(champion: goldenpath.Project) -> None:
    frame = small_frame(n=3000, seed=191)
    _log(champion, frame, DAY_ONE, prefix="a", feedback_share=0.3)
    _log(champion, _shifted(192), DAY_TWO, prefix="b")
    run = run_monitor(champion, window="1d")
    json_path, _ = write_monitoring_report(run.report, run.folder)
    text = json_path.read_text()
    assert MonitoringReport.model_validate_json(text) == run.report
    written = json.loads(text)
    assert written == run.report.model_dump(mode="json")
    # the document keeps its shape: the same keys as before it was typed, and schema_version;
    # skipped_rules (issue 16) and incidents added since, with defaults that read older documents
    assert set(written) == {
        "schema",
        "schema_version",
        "goldenpath_version",
        "project",
        "model",
        "generated_at",
        "reference",
        "window",
        "thresholds",
        "range",
        "processed",
        "windows",
        "alerts",
        "skipped_rules",
        "incidents",
    }
    assert written["skipped_rules"] == []  # a classifier's reference judges every rule
    assert written["incidents"]  # the shifted window's alerts, grouped
    older = {k: v for k, v in written.items() if k not in {"skipped_rules", "incidents"}}
    assert MonitoringReport.model_validate(older).skipped_rules == []
    assert MonitoringReport.model_validate(older).incidents == []
    assert (written["schema"], written["schema_version"]) == ("goldenpath.monitoring/1", 1)
    calm, shifted = written["windows"]
    assert set(calm) == set(shifted) == WINDOW_KEYS
    assert set(calm["realised"]["champion v1"]) == {"rows", "metrics"}
    assert set(calm["realised"]["champion v1"]["metrics"]["accuracy"]) == {
        "value",
        "ci_low",
        "ci_high",
    }
    assert isinstance(shifted["multivariate"]["top_features"][0], list)
    assert written["alerts"]
    assert set(written["alerts"][0]) == set(Alert.model_fields)
    # the store keeps the same windows, and reads them back as they were
    stored = _stored_results(champion)
    assert [MonitoringWindow.model_validate_json(t) for t in stored] == run.report.windows
    assert [json.loads(t) for t in stored] == written["windows"]
    schema = MonitoringReport.model_json_schema()
    assert schema["properties"]["schema_version"]["const"] == 1
    jsonschema.validate(written, schema)  # checked by an implementation other than pydantic
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**written, "windows": [{**calm, "rows": "many"}]}, schema)


def test_windows_stored_before_the_typed_results_still_load(
    champion: goldenpath.Project,
) -> None:
    from sqlalchemy import select, update

    from goldenpath.store.engine import open_store
    from goldenpath.store.schema import monitor_windows

    _log(champion, small_frame(n=3000, seed=201), DAY_ONE, prefix="a")
    first = run_monitor(champion, window="1d")
    with open_store(champion).transaction() as connection:
        (row,) = connection.execute(select(monitor_windows)).all()
    # the result as the dict-based engine wrote it; and older still, before judged and
    # significant (a window then was judged, and a shift counted as significant)
    old = json.loads(row.result)
    assert old.pop("judged") is True
    for feature in [*old["features"], *old["outputs"]]:
        if feature["significant"]:
            del feature["significant"]
    # the state as WindowState.to_dict wrote it: each profile's kind first
    state = json.loads(row.profile)
    for frame in (state["features"], state["outputs"]):
        for name, profile in frame["features"].items():
            frame["features"][name] = {"kind": profile.pop("kind"), **profile}
    with open_store(champion).transaction() as connection:
        connection.execute(
            update(monitor_windows).values(
                result=json.dumps(old, separators=(",", ":")),
                profile=json.dumps(state, separators=(",", ":")),
            )
        )
    again = run_monitor(champion, window="1d")
    assert again.report.processed.new_files == 0
    assert again.report.windows == first.report.windows
    # the old state merges with new rows as the new one would: as one run over everything
    _log(champion, small_frame(n=1000, seed=202), DAY_ONE + timedelta(hours=2), prefix="b")
    (merged,) = run_monitor(champion, window="1d").report.windows
    (at_once,) = run_monitor(champion, window="24h").report.windows  # another stream
    assert merged.rows == at_once.rows == 4000
    assert [f.psi for f in merged.features] == pytest.approx([f.psi for f in at_once.features])


def _calls_into(module_file: str) -> tuple[list[str], Any]:
    """A profiler recording the Python calls whose code lives in ``module_file``, and those of
    ``resolve_model`` (which looks the model up in MLflow) wherever it lives."""
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and (
            code.co_filename.endswith(module_file) or code.co_name == "resolve_model"
        ):
            calls.append(code.co_name)

    return calls, profile


def test_one_monitor_run_loads_the_reference_once(champion: goldenpath.Project) -> None:
    from typer.testing import CliRunner

    from goldenpath.cli.app import app

    _log(champion, small_frame(n=600, seed=211), DAY_ONE, prefix="a")
    reference(champion)  # cached, as training leaves it
    calls, profile = _calls_into("goldenpath/monitoring/reference.py")
    sys.setprofile(profile)
    try:
        done = CliRunner().invoke(
            app, ["monitor", "--project", str(champion.root), "--window", "1d", "--json"]
        )
    finally:
        sys.setprofile(None)
    assert done.exit_code == 0, done.output
    assert calls.count("reference") == 1
    assert calls.count("resolve_model") == 1  # the champion looked up once
    assert calls.count("_read") == 1  # and its reference read from the cache once
    assert calls.count("monitored_features") == 1

    # given a loaded reference, the engine never goes back to reference.py to load it
    loaded = reference(champion)
    calls, profile = _calls_into("goldenpath/monitoring/reference.py")
    sys.setprofile(profile)
    try:
        run_monitor(champion, loaded, window="1d")
    finally:
        sys.setprofile(None)
    assert {"reference", "resolve_model", "_read"}.isdisjoint(calls)


def test_the_reference_comes_back_from_its_run_when_the_cache_is_gone(
    champion: goldenpath.Project,
) -> None:
    first = reference(champion)
    cached = sorted((champion.state_dir / "monitoring").glob("reference-*"))
    assert [p.suffix for p in cached] == [".json", ".parquet"]
    for path in cached:
        path.unlink()
    calls, profile = _calls_into("goldenpath/monitoring/reference.py")
    sys.setprofile(profile)
    try:
        again = reference(champion)
    finally:
        sys.setprofile(None)
    assert "_compute" not in calls  # downloaded from the run's artefacts, not recomputed
    assert again.record() == first.record()
    pd.testing.assert_frame_equal(again.sample, first.sample)
    assert sorted((champion.state_dir / "monitoring").glob("reference-*")) == cached


def _with_rules(project: goldenpath.Project, **monitoring: Any) -> goldenpath.Project:
    spec = yaml.safe_load(project.spec_path.read_text())
    spec["monitoring"] = monitoring
    project.spec_path.write_text(yaml.safe_dump(spec))
    return goldenpath.open_project(project.root)


def test_thresholds_learnt_from_reference_chunks(champion: goldenpath.Project) -> None:
    """Rules with ``sigmas`` fire above the mean + k sd of their metric over chunks of the
    held-out rows: not on calm traffic, on a shift; the thresholds are cached and reused."""
    project = _with_rules(
        champion,
        chunk_count=30,
        default_rules=False,  # only the learnt rules
        alerts={
            "rules": [
                {"name": "learnt-drift", "metric": "feature.js_distance", "sigmas": 3},
                {"name": "learnt-accuracy", "metric": "estimated.accuracy_drop", "sigmas": 3},
            ]
        },
    )
    _log(project, small_frame(n=1200, seed=31), DAY_ONE, prefix="a")
    run = run_monitor(project, window="400-rows")
    assert [w.rows for w in run.report.windows] == [400, 400, 400]
    assert run.report.alerts == []
    cached = list((project.state_dir / "monitoring").glob("chunks-*-400x30-0-*.json"))
    assert len(cached) == 1
    learnt = ChunkThresholds.model_validate_json(cached[0].read_bytes())
    assert (learnt.chunk_rows, learnt.chunk_count, learnt.source_rows) == (400, 30, 1000)
    spreads = {(s.metric, s.subject): s for s in learnt.spreads}
    accuracy = spreads[("estimated.accuracy_drop", ANY_ROUTE)]
    assert accuracy.chunks == 30
    assert abs(accuracy.mean) < 0.02  # held-out chunks estimate the held-out accuracy
    assert 0 < accuracy.sd < 0.05
    age = spreads[("feature.js_distance", "age")]
    assert age.chunks == 30

    _log(project, _shifted(32).head(400), DAY_TWO, prefix="b")
    run = run_monitor(project, window="400-rows")
    opened = {(a.metric, a.subject): a for a in run.report.alerts if a.status == "open"}
    drift = opened[("feature.js_distance", "age")]
    assert drift.rule == "learnt-drift"
    assert drift.threshold == float(f"{age.mean + 3 * age.sd:.4g}")
    assert drift.value > drift.threshold
    # reused, not recomputed: the second run found the cached file and wrote no other
    assert list((project.state_dir / "monitoring").glob("chunks-*.json")) == cached


def test_learnt_thresholds_that_cannot_be_learnt_are_clear_errors(
    champion: goldenpath.Project,
) -> None:
    _log(champion, small_frame(n=800, seed=31), DAY_ONE, prefix="a")
    rule = {"name": "learnt", "metric": "estimated.mean_absolute_error_increase", "sigmas": 3}
    project = _with_rules(champion, alerts={"rules": [rule]})
    with pytest.raises(SpecError, match="no reference chunk observed"):
        run_monitor(project, window="400-rows")
    rule = {"name": "learnt", "metric": "feature.psi", "sigmas": 3}
    project = _with_rules(champion, alerts={"rules": [rule]})
    with pytest.raises(SpecError, match="need at least 1,200 held-out rows"):
        run_monitor(project, window="600-rows")
    with pytest.raises(SpecError, match=r"monitoring\.chunk_rows"):
        run_monitor(project, window="1d")
    # nothing was judged or stored by the refused runs
    assert run_monitor(project, window="400-rows").report.windows[0].rows == 400
