"""The monitoring report: self-contained HTML from the monitoring document, escaped, bounded in
size, and written atomically next to its JSON."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from goldenpath.monitoring import MonitoringReport
from goldenpath.reports import monitoring as report_module
from goldenpath.reports.monitoring import (
    MAX_WINDOWS,
    monitoring_json,
    psi_thresholds,
)

FEATURES = ["age", "spend", "plan", "<script>alert(1)</script>"]
START = datetime(2026, 1, 1, tzinfo=UTC)
ALERT_MESSAGE = "spend drifted: PSI 0.31 above 0.25 for 2 windows"


def drift(name: str, kind: str, psi: float, *, missing: float = 0.0) -> dict[str, Any]:
    severity = "critical" if psi >= 0.25 else "warning" if psi >= 0.1 else "ok"
    return {
        "feature": name,
        "kind": kind,
        "rows": 1000,
        "psi": psi,
        "js_distance": psi / 3,
        "wasserstein": psi / 2 if kind == "numeric" else None,
        "p_value": 0.01,
        "q_value": 0.02,
        "missing_share": missing,
        "reference_missing_share": 0.0,
        "unseen_share": 0.0,
        "severity": severity,
        "reasons": [f"distribution shifted (PSI {psi:.3f})"] if severity != "ok" else [],
    }


def window(index: int, psis: list[float], **overrides: Any) -> dict[str, Any]:
    kinds = ["numeric", "numeric", "categorical", "categorical"]
    features = [
        drift(FEATURES[i] if i < len(FEATURES) else f"f{i}", kinds[i % 4], p)
        for i, p in enumerate(psis)
    ]
    severities = [f["severity"] for f in features]
    w: dict[str, Any] = {
        "index": index,
        "start": f"2026-01-{index + 1:02d}T00:00:00+00:00",
        "end": f"2026-01-{index + 2:02d}T00:00:00+00:00",
        "rows": 1000,
        "complete": True,
        "routes": {"champion": 900, "challenger": 100},
        "features": features,
        "outputs": [drift("score", "numeric", 0.05), drift("prediction", "categorical", 0.02)],
        "quality": {
            "rows": 1000,
            "volume": "ok",
            "expected_rows": [800, 1200],
            "out_of_range": {"age": 0.002},
        },
        "multivariate": {
            "auc": 0.52,
            "auc_low": 0.5,
            "rows_reference": 2000,
            "rows_window": 1000,
            "top_features": [["spend", 0.4], ["age", 0.1]],
            "severity": "ok",
        },
        "estimated": {"rows": 1000, "accuracy": 0.81, "roc_auc": 0.88},
        "realised": None,
        "severity": "critical"
        if "critical" in severities
        else "warning"
        if "warning" in severities
        else "ok",
    }
    w.update(overrides)
    return w


def document(windows: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": "goldenpath.monitoring/1",
        "schema_version": 1,
        "goldenpath_version": "0.1.0",
        "project": "churn",
        "model": "churn-classifier",
        "generated_at": "2026-01-04T12:00:00+00:00",
        "reference": {
            "run_id": "a" * 32,
            "model_version": "3",
            "rows": 5000,
            "evaluation_rows": 1000,
            "metrics": {"accuracy": 0.8, "roc_auc": 0.87},
        },
        "window": {"kind": "time", "size": "1d"},
        "thresholds": {
            "psi_warning": 0.1,
            "psi_critical": 0.25,
            "js_critical": 0.1,
            "domain_warning_auc": 0.6,
            "domain_critical_auc": 0.7,
        },
        "range": {"since": "2026-01-01T00:00:00+00:00", "until": None},
        "processed": {"new_files": 2, "new_rows": 3000, "seconds": 0.42},
        "windows": windows,
        "alerts": alerts,
    }


@pytest.fixture
def sample() -> dict[str, Any]:
    realised = {
        "champion": {
            "rows": 400,
            "metrics": {
                "accuracy": {"value": 0.79, "ci_low": 0.75, "ci_high": 0.83},
                "roc_auc": {"value": 0.86, "ci_low": 0.82, "ci_high": 0.9},
            },
        },
        "challenger": {
            "rows": 40,
            "metrics": {
                "accuracy": {"value": 0.8, "ci_low": 0.68, "ci_high": 0.9},
                "roc_auc": {"value": None, "ci_low": None, "ci_high": None},
            },
        },
    }
    windows = [
        window(0, [0.01, 0.02, 0.01, 0.0], realised=realised),
        window(1, [0.02, 0.15, 0.03, 0.01], multivariate=None),
        window(2, [0.03, 0.31, 0.05, 0.02], complete=False, end=None),
    ]
    windows[2]["features"][0]["missing_share"] = 0.07
    alerts = [
        {
            "id": 1,
            "project": "churn",
            "stream": "churn|" + "a" * 32 + "|1d||",
            "metric": "feature.psi",
            "window_index": 2,
            "last_window_index": 2,
            "updated_at": "2026-01-03T01:00:00+00:00",
            "rule": "feature_psi",
            "subject": "spend",
            "severity": "critical",
            "status": "open",
            "value": 0.31,
            "threshold": 0.25,
            "window_start": windows[2]["start"],
            "opened_at": "2026-01-03T01:00:00+00:00",
            "resolved_at": None,
            "message": ALERT_MESSAGE,
            "report": ".goldenpath/monitoring/monitoring.html",
        }
    ]
    return document(windows, alerts)


def render_monitoring_html(document: dict[str, Any]) -> str:
    """The report of a document given as its JSON (read as the typed document first)."""
    return report_module.render_monitoring_html(MonitoringReport.model_validate(document))


def write_monitoring_report(document: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    typed = MonitoringReport.model_validate(document)
    return report_module.write_monitoring_report(typed, folder)


def figures_of(html: str) -> dict[str, Any]:
    match = re.search(r"const figures = (\{.*?\});\n", html)
    assert match, "the figures' JSON is missing"
    figures: dict[str, Any] = json.loads(match.group(1))
    return figures


def test_the_report_shows_features_alerts_and_figures(sample: dict[str, Any]) -> None:
    html = render_monitoring_html(sample)
    for name in ["age", "spend", "plan"]:
        assert f"<code>{name}</code>" in html
    assert ALERT_MESSAGE in html
    assert "2026-01-03 01:00 UTC" in html  # the alert opened, in short
    assert "churn-classifier" in html
    assert "a" * 32 in html
    figures = figures_of(html)
    assert set(figures) == {"psi", "outputs-psi", "rows", "missing", "performance", "multivariate"}
    for figure_id in figures:
        assert f'<div id="{figure_id}" class="plot"></div>' in html
    # the lines are at the document's (the spec's) thresholds
    psi = figures["psi"]["layout"]
    assert [s["y0"] for s in psi["shapes"]] == [0.1, 0.25]
    assert "critical 0.25 (spec)" in [a["text"] for a in psi["annotations"]]
    # only the feature that was ever missing a value has a missing-share line
    assert [t["name"] for t in figures["missing"]["data"]] == ["age"]
    # realised per route with intervals; the challenger's undefined ROC AUC has no trace
    names = [t["name"] for t in figures["performance"]["data"]]
    assert "realised accuracy (champion)" in names
    assert "realised roc_auc (challenger)" not in names
    # the multivariate series has a gap where the window has none
    assert figures["multivariate"]["data"][0]["y"] == [0.52, None, 0.52]
    # rows stacked by route
    assert [t["name"] for t in figures["rows"]["data"]] == ["champion", "challenger"]
    assert "incomplete" in html
    assert "No windows yet" not in html


def test_the_latest_window_is_sorted_by_severity_then_psi(sample: dict[str, Any]) -> None:
    html = render_monitoring_html(sample)
    latest = html[html.index("Latest window") :]
    positions = [latest.index(f"<code>{n}</code>") for n in ["spend", "plan", "age"]]
    assert positions == sorted(positions)
    assert "0.3100" in latest
    assert "7.0% (0.0%)" in latest  # missing share against the reference
    # the latest window has no outcomes yet: the most recent window with outcomes stands in
    assert "the most recent window with outcomes is #0 (2026-01-01 00:00 UTC)" in latest
    assert "0.7900 [0.7500, 0.8300]" in latest
    assert "2026-01-03 00:00 UTC → open" in latest


def test_the_report_is_self_contained(sample: dict[str, Any]) -> None:
    html = render_monitoring_html(sample)
    assert "<script src" not in html
    assert 'src="http' not in html
    assert "<link" not in html
    assert html.count("<script>") == 2  # plotly.js once, then the figures
    assert "Plotly.newPlot" in html


def test_strings_from_the_document_are_escaped(sample: dict[str, Any]) -> None:
    sample["alerts"][0]["message"] = "<img src=x onerror=alert(2)>"
    html = render_monitoring_html(sample)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    # inside the figures' JSON too: no tag can close the script element
    match = re.search(r"const figures = (\{.*?\});\n", html)
    assert match
    assert "<" not in match.group(1)
    names = [t["name"] for t in figures_of(html)["psi"]["data"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in names  # plotly shows the entities as text


def test_write_monitoring_report_is_atomic_and_round_trips(
    sample: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "reports" / "monitoring"
    json_path, html_path = write_monitoring_report(sample, folder)
    assert (json_path, html_path) == (folder / "monitoring.json", folder / "monitoring.html")
    typed = MonitoringReport.model_validate(sample)
    text = json_path.read_text("utf-8")
    assert MonitoringReport.model_validate_json(text) == typed
    assert text == json.dumps(typed.model_dump(mode="json"), indent=2, sort_keys=True)
    assert text == monitoring_json(typed)
    # what was given is kept, key for key (defaults added: judged, significant, ks, first, last)
    written = json.loads(text)
    assert written["windows"][0]["features"][0] == {
        **sample["windows"][0]["features"][0],
        "significant": True,
        "ks": None,
    }
    assert written["alerts"] == sample["alerts"]
    assert html_path.read_text("utf-8") == render_monitoring_html(sample)
    assert sorted(p.name for p in folder.iterdir()) == ["monitoring.html", "monitoring.json"]

    # a second write replaces both, still leaving no temporary file behind
    changed = copy.deepcopy(sample)
    changed["alerts"] = []
    write_monitoring_report(changed, folder)
    assert json.loads(json_path.read_text("utf-8"))["alerts"] == []
    assert sorted(p.name for p in folder.iterdir()) == ["monitoring.html", "monitoring.json"]


def test_the_report_files_get_the_permissions_of_any_new_file(
    sample: dict[str, Any], tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("made by open()")
    for path in write_monitoring_report(sample, tmp_path / "out"):
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_failed_render_writes_nothing(
    sample: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(document: MonitoringReport) -> str:
        raise RuntimeError("the template failed")

    monkeypatch.setattr(report_module, "render_monitoring_html", broken)
    with pytest.raises(RuntimeError):
        write_monitoring_report(sample, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_document_with_an_unknown_field_is_refused(sample: dict[str, Any]) -> None:
    from pydantic import ValidationError

    sample["windows"][0]["features"][0]["no"] = "such field"
    with pytest.raises(ValidationError, match="no"):
        MonitoringReport.model_validate(sample)


def test_an_empty_document_renders() -> None:
    empty = document([], [])
    empty["reference"]["model_version"] = None
    empty["range"] = {"since": None, "until": None}
    html = render_monitoring_html(empty)
    assert "No windows yet" in html
    assert "No alerts." in html
    assert "Latest window" not in html
    assert figures_of(html) == {}
    assert "model version" not in html


def test_null_sections_are_left_out(sample: dict[str, Any]) -> None:
    latest = sample["windows"][-1]
    latest.update(multivariate=None, estimated=None, realised=None)
    for w in sample["windows"]:
        w.update(estimated=None, realised=None)
    html = render_monitoring_html(sample)
    assert "Performance: estimated and realised" not in html
    assert "performance" not in figures_of(html)
    assert "Multivariate drift <span" not in html


def test_psi_thresholds_are_the_documents() -> None:
    stated = document([], [])
    stated["thresholds"].update(psi_warning=0.2, psi_critical=0.4)
    typed = MonitoringReport.model_validate(stated)
    assert psi_thresholds(typed) == [("warning", 0.2, "spec"), ("critical", 0.4, "spec")]


def test_a_long_history_is_capped_and_stays_small() -> None:
    features = 20
    windows = [
        window(i, [0.001 * ((i * 7 + j * 13) % 97) for j in range(features)])
        for i in range(MAX_WINDOWS + 100)
    ]
    for i, w in enumerate(windows):
        w["start"] = (START + timedelta(hours=i)).isoformat()
        w["end"] = (START + timedelta(hours=i + 1)).isoformat()
        for f in w["features"]:
            f["missing_share"] = 0.001 * (i % 5)
    html = render_monitoring_html(document(windows, []))
    assert f"most recent {MAX_WINDOWS:,} of {MAX_WINDOWS + 100:,} windows" in html
    figures = figures_of(html)
    # the windows' starts once per figure, a value per window in every trace
    assert all(f["x"][0] == windows[100]["start"] for f in figures.values())
    assert all(len(t["y"]) == MAX_WINDOWS for f in figures.values() for t in f["data"])
    assert all("x" not in t for f in figures.values() for t in f["data"])
    assert len(figures["psi"]["data"]) == 8
    assert len(figures["missing"]["data"]) == 8
    assert "top 8 of 20" in figures["psi"]["layout"]["title"]["text"]
    assert len(html.encode("utf-8")) < 6_000_000


def test_a_latest_window_too_small_to_judge_says_so() -> None:
    judged = window(0, [0.01, 0.02, 0.03, 0.04])
    filling = window(1, [0.5, 0.02, 0.03, 0.04], complete=False, judged=False, severity="ok")
    html = render_monitoring_html(document([judged, filling], []))
    assert "not judged" in html
    assert "too few rows to judge yet" in html
    assert "not judged" not in render_monitoring_html(document([judged], []))


def estimated_loss(mae: float, rmse: float) -> dict[str, Any]:
    return {
        "rows": 1000,
        "mean_absolute_error": mae,
        "mean_absolute_error_low": mae - 0.2,
        "mean_absolute_error_high": mae + 0.2,
        "root_mean_squared_error": rmse,
        "root_mean_squared_error_low": rmse - 0.3,
        "root_mean_squared_error_high": rmse + 0.3,
    }


def regression_window(index: int, **overrides: Any) -> dict[str, Any]:
    """A regressor's window: DLE's estimated loss (no CBPE estimate); realised MAE and RMSE on
    the champion route."""
    mae, rmse = 2.5 + index, 3.5 + index
    realised = {
        "champion v1": {
            "rows": 300,
            "metrics": {
                "mean_absolute_error": {"value": mae, "ci_low": mae - 0.3, "ci_high": mae + 0.4},
                "root_mean_squared_error": {
                    "value": rmse,
                    "ci_low": rmse - 0.5,
                    "ci_high": rmse + 0.75,
                },
            },
        }
    }
    values: dict[str, Any] = {
        "estimated": None,
        "estimated_loss": estimated_loss(2.4 + index, 3.3 + index),
        "realised": realised,
    }
    return window(index, [0.01, 0.02], **(values | overrides))


def test_a_regressors_report_shows_realised_mae_and_rmse_with_intervals() -> None:
    stream = document([regression_window(0), regression_window(1)], [])
    stream["reference"]["metrics"] = {"mean_absolute_error": 2.4, "root_mean_squared_error": 3.4}
    html = render_monitoring_html(stream)
    traces = {t["name"]: t for t in figures_of(html)["performance"]["data"]}
    rmse = traces["realised root_mean_squared_error (champion v1)"]
    assert rmse["y"] == [3.5, 4.5]
    assert rmse["error_y"]["array"] == [0.75, 0.75]  # to the top of each interval
    assert rmse["error_y"]["arrayminus"] == [0.5, 0.5]
    assert "realised mean_absolute_error (champion v1)" in traces
    assert "<tr><td>root_mean_squared_error</td>" in html
    assert "4.5000 [4.0000, 5.2500]" in html  # the latest window's RMSE and its interval
    written = json.loads(monitoring_json(MonitoringReport.model_validate(stream)))
    metrics = written["windows"][1]["realised"]["champion v1"]["metrics"]
    assert metrics["root_mean_squared_error"] == {"value": 4.5, "ci_low": 4.0, "ci_high": 5.25}


def test_a_regressors_report_plots_the_dle_estimate_beside_the_realised_values() -> None:
    """DLE's estimated MAE and RMSE are lines over the windows, as CBPE's estimated accuracy is,
    with the realised values of the same metric (markers) in the same colour; the table has
    the estimate next to each route's realised value, and a window without labels yet still
    shows its estimate."""
    unlabelled = regression_window(2, realised=None, estimated_loss=estimated_loss(5.1, 6.2))
    html = render_monitoring_html(document([regression_window(0), regression_window(1)], []))
    traces = {t["name"]: t for t in figures_of(html)["performance"]["data"]}
    for metric, values in (
        ("mean_absolute_error", [2.4, 3.4]),
        ("root_mean_squared_error", [3.3, 4.3]),
    ):
        line = traces[f"estimated {metric}"]
        assert line["mode"] == "lines"
        assert line["y"] == values
        realised = traces[f"realised {metric} (champion v1)"]
        assert realised["legendgroup"] == line["legendgroup"] == metric
        assert realised["marker"]["color"] == line["line"]["color"]
    assert "estimated (1,000 rows)" in html
    assert '<tr><td>mean_absolute_error</td><td class="num">3.4000</td>' in html
    assert '<tr><td>root_mean_squared_error</td><td class="num">4.3000</td>' in html

    html = render_monitoring_html(
        document([regression_window(0), regression_window(1), unlabelled], [])
    )
    traces = {t["name"]: t for t in figures_of(html)["performance"]["data"]}
    assert traces["estimated mean_absolute_error"]["y"] == [2.4, 3.4, 5.1]
    assert traces["realised mean_absolute_error (champion v1)"]["y"] == [2.5, 3.5, None]
    assert '<tr><td>root_mean_squared_error</td><td class="num">6.2000</td>' in html
    assert "No outcomes have arrived for this window yet" in html


def test_windows_judged_before_dle_have_no_estimated_loss_line() -> None:
    html = render_monitoring_html(document([regression_window(0, estimated_loss=None)], []))
    names = [t["name"] for t in figures_of(html)["performance"]["data"]]
    assert not any(name.startswith("estimated") for name in names)
    assert "realised root_mean_squared_error (champion v1)" in names


def test_a_multiclass_estimate_lists_accuracy_and_no_empty_roc_auc() -> None:
    """A multiclass window is estimated an accuracy only: the report lists no ROC AUC row."""
    from goldenpath.monitoring import MonitoringWindow

    estimated = {"rows": 1000, "accuracy": 0.73, "roc_auc": None}
    w = MonitoringWindow.model_validate(window(0, [0.01, 0.01], estimated=estimated))
    assert report_module._performance_metrics(w) == ["accuracy"]
    both = MonitoringWindow.model_validate(window(0, [0.01, 0.01]))
    assert report_module._performance_metrics(both) == ["accuracy", "roc_auc"]
