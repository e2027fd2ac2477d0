"""goldenpath evaluate against a real MLflow store: values, slices, fairness, files, references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import f1_score, roc_auc_score

import goldenpath
from conftest import MakeProject, small_frame, small_spec
from goldenpath.errors import FingerprintMismatch, RunError, RunNotFound
from goldenpath.evaluation import evaluate, record_evaluation
from goldenpath.evaluation.record import load_evaluation


def _spec() -> dict[str, object]:
    spec = small_spec()
    spec["data"]["sensitive_features"] = ["plan"]  # type: ignore[index]
    spec["data"]["slices"] = [  # type: ignore[index]
        {"name": "plan", "column": "plan"},
        {"name": "age", "column": "age", "bins": [0, 40, 60, 200]},
        {"name": "plan_by_age", "cross": ["plan", "age"]},
    ]
    spec["evaluation"] = {
        "resamples": 200,
        "seed": 5,
        "costs": {"false_positive": 1, "false_negative": 4},
    }
    return spec


@pytest.fixture
def trained(make_project: MakeProject) -> goldenpath.Project:
    frame = small_frame(n=800)
    project = goldenpath.open_project(make_project(frame=frame, spec=_spec()))
    goldenpath.train(project)
    return project


def test_evaluation_of_held_out_rows_matches_scikit_learn(trained: goldenpath.Project) -> None:
    result = evaluate(trained, "latest")
    split = MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}").download_artifacts(
        result.model.run_id, "split.json"
    )
    test_ids = json.loads(Path(split).read_text())["test_ids"]
    rows = small_frame(n=800).set_index("customer_id").loc[test_ids]
    predictions = pd.read_parquet(
        MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}").download_artifacts(
            result.model.run_id, "predictions/test.parquet"
        )
    )
    y = (rows["label"] == "yes").to_numpy()
    score = predictions["score_yes"].to_numpy()
    assert result.data.rows == 200
    auc = result.metrics["roc_auc_score"]
    assert auc.value == pytest.approx(roc_auc_score(y, score))
    assert auc.ci_low < auc.value < auc.ci_high
    assert result.metrics["f1_score"].value == pytest.approx(f1_score(y, score >= 0.5))
    assert result.primary_metric == "roc_auc_score"
    assert result.lineage.bootstrap.model_dump() == {
        "resamples": 200,
        "confidence": 0.95,
        "seed": 5,
    }


def test_slices_fairness_and_thresholds(trained: goldenpath.Project) -> None:
    result = evaluate(trained, "latest")
    names = {s.name for s in result.slices}
    assert {"plan=basic", "plan=plus", "plan=pro", "age=[0, 40)", "age=[60, 200)"} <= names
    assert "plan=pro & age=[40, 60)" in names
    assert sum(s.support for s in result.slices if s.slice == "plan") == 200
    # most harmful first: slices of enough rows before small ones; first those worse than
    # overall across their whole interval, by the harm the interval guarantees
    small = [s.small for s in result.slices]
    assert small == sorted(small)
    sure = [s.harm_ci_low for s in result.slices if not s.small and s.clearly_worse]
    assert sure == sorted(sure, reverse=True)  # type: ignore[type-var]
    assert result.harmful_slices() == [s for s in result.slices if s.clearly_worse]
    assert [f.feature for f in result.fairness] == ["plan"]
    (fairness,) = result.fairness  # with intervals, on the spec's min_group_size (default 30)
    assert fairness.min_group_size == 30
    assert len(fairness.disparities) == 12
    parity = fairness.disparity("demographic_parity_difference")
    assert parity is not None
    assert parity.ci_low is not None
    assert parity.ci_high is not None
    assert all(g.selection_rate_ci_low is not None for g in fairness.groups)
    assert result.thresholds is not None
    assert result.thresholds.best_cost_threshold is not None
    assert result.calibration is not None
    assert sum(result.calibration.count) == 200


def test_record_writes_json_and_html_and_logs_them(trained: goldenpath.Project) -> None:
    result = evaluate(trained, "latest")
    saved = record_evaluation(trained, result, html="<html>report</html>")
    document = json.loads(saved.json_path.read_text())
    assert document["schema_version"] == 1
    assert document["evaluation_id"] == result.evaluation_id
    assert saved.html_path.read_text() == "<html>report</html>"
    client = MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}")
    logged = [a.path for a in client.list_artifacts(result.model.run_id, saved.artifact_path)]
    assert sorted(Path(p).name for p in logged) == ["evaluation.html", "evaluation.json"]
    tags = client.get_run(result.model.run_id).data.tags
    assert tags["goldenpath.last_evaluation"] == result.evaluation_id


def test_alias_and_version_references_and_other_data(
    trained: goldenpath.Project, tmp_path: Path
) -> None:
    client = MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}")
    client.set_registered_model_alias("small", "champion", "1")
    by_alias = evaluate(trained, "small@champion")
    by_version = evaluate(trained, "small/1")
    assert by_alias.model.version == by_version.model.version == "1"
    assert by_alias.metrics["roc_auc_score"] == by_version.metrics["roc_auc_score"]
    with pytest.raises(RunNotFound, match="small@nobody"):
        evaluate(trained, "small@nobody")
    other = tmp_path / "fresh.csv"
    small_frame(n=300, seed=42).to_csv(other, index=False)
    fresh = evaluate(trained, "latest", data=str(other))
    assert fresh.data.rows == 300
    assert fresh.lineage.evaluation_data_fingerprint != by_alias.lineage.evaluation_data_fingerprint


def test_changed_data_cannot_give_held_out_rows(trained: goldenpath.Project) -> None:
    data = trained.root / "data.csv"
    frame = pd.read_csv(data)
    frame.loc[0, "spend"] += 1
    frame.to_csv(data, index=False)
    with pytest.raises(FingerprintMismatch, match="held-out rows"):
        evaluate(trained, "latest")


def test_tiny_slice_and_one_class_slice_are_reported_not_crashing(
    make_project: MakeProject,
) -> None:
    frame = small_frame(n=400)
    frame.loc[frame["plan"] == "pro", "label"] = "no"  # the pro slice has one class only
    spec = _spec()
    root = make_project(frame=frame, spec=spec)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    result = evaluate(project, "latest")
    pro = next(s for s in result.slices if s.name == "plan=pro")
    assert pro.metrics["roc_auc_score"].value is None
    assert pro.metrics["roc_auc_score"].undefined == "no positive rows"
    assert pro.harm is None
    assert pro.harm_ci_low is None
    assert np.isfinite(pro.metrics["accuracy_score"].value or np.nan)


def test_judged_by_the_current_spec_and_only_this_projects_models(
    trained: goldenpath.Project,
) -> None:
    import yaml

    spec = yaml.safe_load(trained.spec_path.read_text())
    spec["data"]["slices"] = [{"name": "spend", "column": "spend", "bins": [0, 50, 1000]}]
    spec["evaluation"]["primary_metric"] = "f1_score"
    trained.spec_path.write_text(yaml.safe_dump(spec))
    current = goldenpath.open_project(trained.root)
    result = evaluate(current, "latest")
    assert result.primary_metric == "f1_score"
    assert {s.slice for s in result.slices} == {"spend", "plan"}  # plan: sensitive feature
    with pytest.raises(RunNotFound, match="not a model of project 'small'"):
        evaluate(current, "other@champion")


def test_against_an_earlier_version_is_paired_on_the_same_rows(
    trained: goldenpath.Project,
) -> None:
    import yaml

    spec = yaml.safe_load(trained.spec_path.read_text())
    spec["training"]["params"]["C"] = 0.0001  # a much weaker second model
    trained.spec_path.write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(trained.root)
    goldenpath.train(project)
    client = MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}")
    client.set_registered_model_alias("small", "champion", "1")
    result = evaluate(project, "small/2", against="champion")
    comparison = result.comparison
    assert comparison is not None
    assert comparison.against.version == "1"
    auc = comparison.metrics["roc_auc_score"]
    assert auc.candidate == result.metrics["roc_auc_score"].value
    assert auc.candidate is not None
    assert auc.reference is not None
    assert auc.difference is not None
    assert auc.difference == pytest.approx(auc.candidate - auc.reference)
    assert auc.ci_low is not None
    assert auc.ci_high is not None
    assert auc.ci_low <= auc.difference <= auc.ci_high
    assert comparison.reference_trained_on_rows == 0  # same data, same split seed
    assert {s.name for s in comparison.slices} >= {"plan=basic", "plan=pro"}


def test_operational_profile_is_measured(trained: goldenpath.Project) -> None:
    ops = evaluate(trained, "latest").operations
    assert ops is not None
    assert 0 < ops.single_row_p50_ms <= ops.single_row_p95_ms
    assert 0 < ops.batch_p50_ms <= ops.batch_p95_ms
    assert ops.batch_size == 256
    assert ops.model_size_bytes is not None
    assert ops.model_size_bytes > 1000  # the MLflow model folder (MLmodel, skops file ...)
    expected = ops.cpu_ms_per_prediction / 1000 * 1000 / 3600 * ops.price_per_cpu_hour
    assert ops.cost_per_1000_predictions == pytest.approx(expected)
    assert ops.currency == "USD"  # the spec's default


def test_robustness_and_failure_rules_are_in_the_document(trained: goldenpath.Project) -> None:
    result = evaluate(trained, "latest")
    assert [p.name for p in result.robustness] == [
        "gaussian_noise",
        "missing_values",
        "unseen_categories",
    ]
    for p in result.robustness:
        assert p.error is not None or 0.0 <= (p.flip_rate or 0.0) <= 1.0
    for rule in result.failures:
        assert rule.error_rate > rule.overall_error_rate
        assert rule.rows >= 30
        assert rule.text.startswith(rule.rule)


def test_discovered_slices_carry_tests_and_intervals(trained: goldenpath.Project) -> None:
    result = evaluate(trained, "latest")
    assert result.discovered_slices
    rates = [d.error_rate for d in result.discovered_slices]
    assert rates == sorted(rates, reverse=True)
    for d in result.discovered_slices:
        assert 0.0 <= d.p_value <= d.q_value <= 1.0
        assert d.significant == (d.q_value < 0.05)
        assert d.rows >= 30
        assert d.primary.support == d.rows


NO_PROBA_MODEL = """
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.linear_model import Ridge


def train(frame, params):
    numbers = ColumnTransformer([("n", "passthrough", ["age", "spend"])])
    return Pipeline([("n", numbers), ("m", LinearSVC())]).fit(frame, frame["label"])


def regress(frame, params):
    numbers = ColumnTransformer([("n", "passthrough", ["age"])])
    return Pipeline([("n", numbers), ("m", Ridge())]).fit(frame, frame["spend"])
"""


def test_a_model_without_probabilities_is_judged_on_labels(make_project: MakeProject) -> None:
    root = make_project(spec=small_spec(**{"training.entrypoint": "plain_model:train"}))
    (root / "plain_model.py").write_text(NO_PROBA_MODEL)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    result = evaluate(project, "latest")
    assert result.primary_metric == "f1_score"
    assert "roc_auc_score" not in result.metrics
    assert result.calibration is None
    assert result.metrics["accuracy_score"].ci_low is not None


def test_regression_evaluation(make_project: MakeProject) -> None:
    spec = small_spec(**{"training.entrypoint": "plain_model:regress"})
    spec["task"] = {"type": "regression", "target": "spend"}
    root = make_project(spec=spec)
    (root / "plain_model.py").write_text(NO_PROBA_MODEL)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    result = evaluate(project, "latest")
    assert result.primary_metric == "mean_absolute_error"
    assert set(result.metrics) == {
        "mean_absolute_error",
        "root_mean_squared_error",
        "r2_score",
        "mean_absolute_percentage_error",
    }
    assert result.fairness == ()
    assert result.robustness[0].flip_rate is not None
    assert all(s.metrics["mean_absolute_error"].value is not None for s in result.slices)


def test_against_without_resamples_and_bare_aliases(make_project: MakeProject) -> None:
    import subprocess
    import sys

    spec = _spec()
    spec["evaluation"]["resamples"] = 0  # type: ignore[index]
    root = make_project(frame=small_frame(n=400), spec=spec)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    client = MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")
    client.set_registered_model_alias("small", "staging", "1")
    result = evaluate(project, "latest", against="staging")  # a bare alias of this project
    assert result.comparison is not None
    assert result.comparison.metrics["roc_auc_score"].ci_low is None
    cli = str(Path(sys.executable).parent / "goldenpath")
    done = subprocess.run(
        [cli, "evaluate", "--against", "staging"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(no interval)" in done.stdout


def test_a_missing_reference_fails_before_any_data_is_read(
    trained: goldenpath.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    module = importlib.import_module("goldenpath.evaluation.evaluate")  # not the function

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("data was read before the reference was checked")

    monkeypatch.setattr(module, "load_dataset", never)
    monkeypatch.setattr(module, "bootstrap", never)
    steps: list[str] = []
    with pytest.raises(RunNotFound, match="small@champion"):
        evaluate(trained, "latest", against="champion", on_step=steps.append)
    assert steps == ["Resolving the model"]


def test_an_invalid_logged_document_is_a_clear_error(
    trained: goldenpath.Project, tmp_path: Path
) -> None:
    result = evaluate(trained, "latest")
    saved = record_evaluation(trained, result, html="<html></html>")
    loaded = load_evaluation(trained, result.model.run_id)
    assert loaded.document == result  # typed, as written
    changed = json.loads(saved.json_path.read_text())
    changed["metrics"]["roc_auc_score"]["value"] = "high"
    folder = tmp_path / "changed"
    folder.mkdir()
    (folder / "evaluation.json").write_text(json.dumps(changed))
    client = MlflowClient(f"sqlite:///{trained.state_dir / 'mlflow.db'}")
    client.log_artifacts(result.model.run_id, str(folder), saved.artifact_path)
    with pytest.raises(RunError, match=r"metrics\.roc_auc_score\.value: Input should be"):
        load_evaluation(trained, result.model.run_id)
