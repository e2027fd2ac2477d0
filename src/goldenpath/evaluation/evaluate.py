"""``goldenpath evaluate``: the evidence every later decision stands on.

It resolves a model (a run id, ``latest``, ``name@alias`` or ``name/version``), scores the
run's recorded held-out rows (or any file that honours the contract), and computes metrics with
bootstrap intervals overall and on every slice, calibration and thresholds, and fairness per
sensitive feature. The result is a versioned JSON document (:data:`SCHEMA_VERSION`).
"""

from __future__ import annotations

import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.data.dataset import Dataset, load_dataset
from goldenpath.data.fingerprint import dataset_fingerprint
from goldenpath.errors import DataError, RunNotFound, SpecInvalid, TrackingError
from goldenpath.evaluation.bootstrap import Estimate, bootstrap, paired_differences
from goldenpath.evaluation.calibration import calibration, curves, threshold_analysis
from goldenpath.evaluation.failures import candidates, failure_rules, worst_candidates
from goldenpath.evaluation.fairness import fairness_report
from goldenpath.evaluation.metrics import Metric, Scored, metrics_for
from goldenpath.evaluation.operations import directory_size, operational_profile
from goldenpath.evaluation.robustness import robustness
from goldenpath.evaluation.slices import slice_groups
from goldenpath.project import Project
from goldenpath.spec.models import Spec
from goldenpath.training.recorded import run_rows
from goldenpath.training.reproduce import recorded_project
from goldenpath.training.run import SPLIT_ARTIFACT, StepCallback
from goldenpath.training.tracking import (
    TAG_PREFIX,
    ModelVersionRecord,
    Tracking,
    find_run,
    fluent_tracking,
    mlflow_boundary,
    open_tracking,
    tracking_uri,
)

__all__ = [
    "SCHEMA_VERSION",
    "EvaluationResult",
    "ModelRef",
    "evaluate",
    "load_model",
    "resolve_model",
]

SCHEMA_VERSION = 1
_DISCOVERED = "discovered: "
_DISCOVERED_TOP = 10
_DEFAULT_PRIMARY = {
    "binary_classification": "roc_auc_score",
    "multiclass_classification": "accuracy_score",
    "regression": "mean_absolute_error",
}


@dataclass(frozen=True)
class ModelRef:
    run_id: str
    name: str
    version: str | None

    @property
    def uri(self) -> str:
        if self.version is None:
            return f"runs:/{self.run_id}/model"
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class EvaluationResult:
    """A whole evaluation; :meth:`to_dict` is the documented ``evaluation.json``."""

    evaluation_id: str
    created_at: str
    project: str
    task: str
    model: dict[str, object]
    data: dict[str, object]
    lineage: dict[str, object]
    primary_metric: str
    metrics: dict[str, Estimate]
    slices: list[dict[str, Any]]
    calibration: dict[str, object] | None = None
    thresholds: dict[str, object] | None = None
    curves: dict[str, object] | None = None
    fairness: list[dict[str, object]] = field(default_factory=list)
    comparison: dict[str, Any] | None = None
    operations: dict[str, object] | None = None
    robustness: list[dict[str, object]] = field(default_factory=list)
    failures: list[dict[str, object]] = field(default_factory=list)
    discovered_slices: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": self.evaluation_id,
            "created_at": self.created_at,
            "project": self.project,
            "task": self.task,
            "model": self.model,
            "data": self.data,
            "lineage": self.lineage,
            "primary_metric": self.primary_metric,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "slices": self.slices,
            "calibration": self.calibration,
            "thresholds": self.thresholds,
            "curves": self.curves,
            "fairness": self.fairness,
            "comparison": self.comparison,
            "operations": self.operations,
            "robustness": self.robustness,
            "failures": self.failures,
            "discovered_slices": self.discovered_slices,
        }


def resolve_model(project: Project, ref: str) -> ModelRef:
    """A run id or ``latest``, ``name@alias`` or ``name/version`` of this project's model."""
    client = open_tracking(project, create=False)
    if client is None:
        raise RunNotFound(
            f"project {project.name!r} has no runs yet",
            hint="train one first with `goldenpath train`",
        )
    if "@" in ref or "/" in ref:
        name, alias = ref.split("@", 1) if "@" in ref else (ref, None)
        version = None
        if alias is None:
            name, version = ref.split("/", 1)
        if name != project.name:
            raise RunNotFound(
                f"{ref!r} is not a model of project {project.name!r}",
                hint=f"name this project's model: {project.name}@ALIAS or {project.name}/VERSION",
            )
        found = (
            client.get_model_version_by_alias(name, alias)
            if alias is not None
            else _model_version(client, name, str(version))
        )
        if found is None or found.run_id is None:
            raise RunNotFound(
                f"no registered model version {ref!r}",
                hint="use a run id, `latest`, name@alias or name/version",
            )
        return ModelRef(run_id=found.run_id, name=name, version=found.version)
    run = find_run(project, ref)
    return ModelRef(
        run_id=run.run_id,
        name=project.name,
        version=run.tags.get(TAG_PREFIX + "model_version"),
    )


def _model_version(client: Tracking, name: str, version: str) -> ModelVersionRecord | None:
    try:
        return client.get_model_version(name, version)
    except TrackingError:  # MLflow answers a version it does not have with an error
        return None


def _scored(model: Any, features: pd.DataFrame, target: pd.Series, spec: Spec) -> Scored:
    """Encode truth and predictions for the metrics (binary: class 1 is the positive label)."""
    task = spec.task.type
    if task == "regression":
        pred = np.asarray(model.predict(features), dtype="float64")
        return Scored(task, target.to_numpy(dtype="float64"), pred, None, ())
    has_proba = callable(getattr(model, "predict_proba", None))
    classes = list(getattr(model, "classes_", []))
    proba = np.asarray(model.predict_proba(features), dtype="float64") if has_proba else None
    if task == "binary_classification":
        positive = spec.task.positive_label
        y = (target == positive).to_numpy().astype(int)
        if proba is not None and positive in classes:
            score = proba[:, classes.index(positive)]
            pred = (score >= spec.evaluation.threshold).astype(int)
            proba = np.stack([1.0 - score, score], axis=1)
        else:
            pred = (pd.Series(model.predict(features)) == positive).to_numpy().astype(int)
            proba = None
        negative = next((c for c in classes if c != positive), "other")
        return Scored(task, y, pred, proba, (negative, positive))
    if not classes:
        classes = sorted(pd.unique(target).tolist(), key=str)
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted({str(v) for v in target.unique() if v not in index})
    if unseen:
        raise DataError(
            f"the evaluation data has target values the model never saw: {', '.join(unseen)}",
            hint="evaluate on data whose target classes the model was trained on",
        )
    y = target.map(index).to_numpy(dtype=int)
    if proba is not None:
        pred = proba.argmax(axis=1)
    else:
        pred = pd.Series(model.predict(features)).map(index).fillna(-1).to_numpy(dtype=int)
    return Scored(task, y, pred, proba, tuple(classes))


def _primary(spec: Spec, metrics: list[Metric]) -> Metric:
    """The spec's primary metric, or the task's default; a model without probabilities falls
    back to the first label metric (F1 for binary tasks)."""
    available = {m.name: m for m in metrics}
    name = spec.evaluation.primary_metric
    if name is None:
        for candidate in (_DEFAULT_PRIMARY[spec.task.type], "f1_score", "accuracy_score"):
            if candidate in available:
                return available[candidate]
    if name not in available:
        raise SpecInvalid(
            f"evaluation.primary_metric: {name!r} is not available for this model and task",
            hint=f"use one of: {', '.join(sorted(available))}",
        )
    return available[name]


def _slice_rows(
    groups: list[tuple[str, str, np.ndarray]],
    results: dict[str, dict[str, Estimate]],
    overall: dict[str, Estimate],
    primary: Metric,
    min_support: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    base = overall[primary.name].value
    for name, slice_name, positions in groups:
        estimates = results[name]
        value = estimates[primary.name].value
        difference = None if value is None or base is None else value - base
        harm = (
            None
            if difference is None
            else (-difference if primary.greater_is_better else difference)
        )
        rows.append(
            {
                "name": name,
                "slice": slice_name,
                "support": len(positions),
                "small": len(positions) < min_support,
                "metrics": {k: v.to_dict() for k, v in estimates.items()},
                "primary_difference": difference,
                "harm": harm,
            }
        )
    # most harmful first; slices where the primary metric is undefined last
    rows.sort(key=lambda r: (r["harm"] is None, -(r["harm"] if r["harm"] is not None else 0.0)))
    return rows


def _compare(
    project: Project,
    against: str,
    *,
    candidate: ModelRef,
    scored: Scored,
    frame: pd.DataFrame,
    spec: Spec,
    metrics: list[Metric],
    row_sets: dict[str, np.ndarray],
    held_out: bool,
    client: Tracking,
) -> dict[str, Any]:
    """The candidate against another model, paired on the same rows and resamples."""
    # a bare word that is not a run id (32 hex digits) or "latest" is an alias of this project
    bare = "@" not in against and "/" not in against and against != "latest"
    is_run_id = re.fullmatch(r"[0-9a-f]{32}", against) is not None
    ref = f"{project.name}@{against}" if bare and not is_run_id else against
    reference = resolve_model(project, ref)
    recorded = recorded_project(project, client, reference.run_id).spec
    missing = sorted(set(recorded.feature_columns) - set(frame.columns))
    if missing:
        raise DataError(
            f"{ref} needs columns the evaluation rows do not have: {', '.join(missing)}",
            hint="compare models trained on the same contract, or pass --data with all columns",
        )
    model, _ = load_model(project, reference)
    other = _scored(model, frame[recorded.feature_columns], frame[spec.task.target], spec)
    shared = [m for m in metrics if m.applies_to(other)]
    settings = spec.evaluation
    differences = paired_differences(
        scored,
        other,
        shared,
        row_sets,
        n_resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    # rows the reference model was trained on are no fair test of it: count them
    seen: int | None = None
    reference_tags = client.get_run(reference.run_id).tags
    candidate_tags = client.get_run(candidate.run_id).tags
    fingerprint = TAG_PREFIX + "dataset_fingerprint"
    if held_out and reference_tags.get(fingerprint) == candidate_tags.get(fingerprint):
        ours = client.load_json(candidate.run_id, SPLIT_ARTIFACT)["test_positions"]
        theirs = client.load_json(reference.run_id, SPLIT_ARTIFACT)["train_positions"]
        seen = len(set(ours) & set(theirs))
    return {
        "against": {
            "reference": against,
            "name": reference.name,
            "version": reference.version,
            "run_id": reference.run_id,
            "uri": reference.uri,
        },
        "reference_trained_on_rows": seen,
        "metrics": {k: v.to_dict() for k, v in differences["overall"].items()},
        "slices": [
            {"name": name, "metrics": {k: v.to_dict() for k, v in values.items()}}
            for name, values in differences.items()
            if name != "overall"
        ],
    }


def load_model(project: Project, ref: ModelRef) -> tuple[Any, int]:
    """The model as scikit-learn estimator, and the size of its MLflow artefact in bytes."""
    import mlflow.artifacts
    import mlflow.sklearn

    with (
        fluent_tracking(tracking_uri(project)),
        mlflow_boundary(f"loading {ref.uri}"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=tmp))
        return mlflow.sklearn.load_model(str(local)), directory_size(local)


def _noop(_: str) -> None:
    return None


def evaluate(
    project: Project,
    ref: str = "latest",
    *,
    data: str | None = None,
    against: str | None = None,
    on_step: StepCallback = _noop,
) -> EvaluationResult:
    """Evaluate model ``ref`` on its run's held-out rows, or on ``data`` (a path or source);
    with ``against`` (``champion``, an alias, a version or a run), also compare it, paired on
    the same rows and resamples, with that model."""
    on_step("Resolving the model")
    model_ref = resolve_model(project, ref)
    client = open_tracking(project, create=False)
    assert client is not None  # resolve_model found the run in it
    run = client.get_run(model_ref.run_id)
    tags = run.tags
    recorded = recorded_project(project, client, model_ref.run_id)
    # What the model is (contract, target, features, data source) is the run's; how to judge it
    # (evaluation settings, slices, sensitive features) is the project's current spec, so that
    # models trained at different times are judged alike.
    spec = recorded.spec.model_copy(
        update={
            "evaluation": project.spec.evaluation,
            "data": recorded.spec.data.model_copy(
                update={
                    "slices": project.spec.data.slices,
                    "sensitive_features": project.spec.data.sensitive_features,
                }
            ),
        }
    )
    on_step("Reading and validating data")
    dataset: Dataset = load_dataset(spec, recorded.root, source=data)
    if data is None:
        frame = run_rows(
            client,
            model_ref.run_id,
            dataset,
            "test",
            hint="restore the data, or evaluate on a file with --data",
        )
        described = f"held-out rows of run {model_ref.run_id}"
    else:
        frame = dataset.frame
        described = dataset.source
    on_step("Loading the model")
    model, model_size = load_model(project, model_ref)
    on_step(f"Scoring {len(frame):,} rows")
    scored = _scored(model, frame[spec.feature_columns], frame[spec.task.target], spec)
    metrics = metrics_for(scored)
    primary = _primary(spec, metrics)
    missing = sorted(
        {s.column for s in spec.data.slices if s.column is not None}.union(
            spec.data.sensitive_features
        ).difference(frame.columns)
    )
    if missing:
        raise SpecInvalid(
            f"data.slices / data.sensitive_features name columns the model's data does not "
            f"have: {', '.join(missing)}",
            hint="slice by columns of the contract the model was trained with",
        )
    groups = [(g.name, g.slice, g.rows) for g in slice_groups(spec, frame)]
    settings = spec.evaluation
    on_step(f"Bootstrapping {settings.resamples:,} resamples over {len(groups) + 1} row sets")
    row_sets = {"overall": np.arange(scored.n), **{name: rows for name, _, rows in groups}}
    # Worst-slice discovery: every feature and pair of features, tested for excess errors with
    # multiple-testing control; the worst few also get the primary metric with its interval.
    features = frame[spec.feature_columns]
    if scored.task == "regression":
        absolute = np.abs(scored.y - scored.pred)
        errors = absolute > np.median(absolute)
    else:
        errors = scored.y != scored.pred
    tested = candidates(features, errors, min_rows=settings.min_slice_support)
    discovered = worst_candidates(tested, top=_DISCOVERED_TOP)
    row_sets.update({f"{_DISCOVERED}{c.rule}": np.flatnonzero(c.mask) for c in discovered})
    results = bootstrap(
        scored,
        metrics,
        row_sets,
        n_resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    comparison = None
    if against is not None:
        on_step(f"Comparing with {against}")
        comparison = _compare(
            project,
            against,
            candidate=model_ref,
            scored=scored,
            frame=frame,
            spec=spec,
            metrics=metrics,
            row_sets=row_sets,
            held_out=data is None,
            client=client,
        )
    on_step("Measuring latency, size and cost")
    operations = operational_profile(
        model,
        frame[spec.feature_columns],
        price_per_cpu_hour=settings.price_per_cpu_hour,
        model_size_bytes=model_size,
        seed=settings.seed,
    ).to_dict()
    on_step("Robustness and failure analysis")
    target = frame[spec.task.target]
    robust = [
        p.to_dict()
        for p in robustness(
            features,
            lambda damaged: _scored(model, damaged, target.loc[damaged.index], spec),
            scored,
            primary,
            seed=settings.seed,
        )
    ]
    rules = [
        r.to_dict()
        for r in failure_rules(features, errors, min_rows=settings.min_slice_support, tested=tested)
    ]
    discovered_part: list[dict[str, object]] = [
        {
            "rule": c.rule,
            "rows": c.rows,
            "error_rate": c.errors / c.rows,
            "overall_error_rate": float(errors.mean()) if len(errors) else None,
            "p_value": c.p_value,
            "q_value": c.q_value,
            "significant": c.q_value < 1 - settings.confidence,
            "primary": results[f"{_DISCOVERED}{c.rule}"][primary.name].to_dict(),
        }
        for c in discovered
    ]
    on_step("Calibration, thresholds and fairness")
    calibration_part = thresholds_part = curves_part = None
    fairness_part: list[dict[str, object]] = []
    if scored.task == "binary_classification":
        if scored.positive_score is not None:
            score = scored.positive_score
            calibration_part = calibration(score, scored.y).to_dict()
            curves_part = curves(score, scored.y).to_dict()
            costs = settings.costs
            thresholds_part = threshold_analysis(
                score,
                scored.y,
                cost_false_positive=None if costs is None else costs.false_positive,
                cost_false_negative=None if costs is None else costs.false_negative,
            ).to_dict()
        fairness_part = [
            fairness_report(f, frame[f], scored.y, scored.pred).to_dict()
            for f in spec.data.sensitive_features
        ]
    rows_fingerprint = (
        dataset.fingerprint if len(frame) == dataset.n_rows else dataset_fingerprint(frame)
    )
    return EvaluationResult(
        evaluation_id=uuid.uuid4().hex,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        project=spec.project.name,
        task=spec.task.type,
        model={
            "name": model_ref.name,
            "version": model_ref.version,
            "run_id": model_ref.run_id,
            "uri": model_ref.uri,
        },
        data={
            "description": described,
            "source": dataset.source,
            "rows": scored.n,
            "fingerprint": rows_fingerprint,
        },
        lineage={
            "run_id": model_ref.run_id,
            "model_version": model_ref.version,
            "dataset_fingerprint": tags.get(TAG_PREFIX + "dataset_fingerprint"),
            "train_fingerprint": tags.get(TAG_PREFIX + "train_fingerprint"),
            "test_fingerprint": tags.get(TAG_PREFIX + "test_fingerprint"),
            "evaluation_data_fingerprint": rows_fingerprint,
            "git_commit": tags.get(TAG_PREFIX + "git_commit"),
            "training_seed": run.params.get("seed"),
            "bootstrap": {
                "resamples": settings.resamples,
                "confidence": settings.confidence,
                "seed": settings.seed,
            },
            "threshold": settings.threshold,
            "min_slice_support": settings.min_slice_support,
        },
        primary_metric=primary.name,
        metrics=results["overall"],
        slices=_slice_rows(
            groups, results, results["overall"], primary, settings.min_slice_support
        ),
        calibration=calibration_part,
        thresholds=thresholds_part,
        curves=curves_part,
        fairness=fairness_part,
        comparison=comparison,
        operations=operations,
        robustness=robust,
        failures=rules,
        discovered_slices=discovered_part,
    )
