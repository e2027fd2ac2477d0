"""``goldenpath evaluate``: the evidence every later decision stands on.

It resolves a model (a run id, ``latest``, ``name@alias`` or ``name/version``), scores the
run's recorded held-out rows (or any file that honours the contract), and computes metrics with
bootstrap intervals overall and on every slice, calibration and thresholds, and fairness per
sensitive feature. The result is an :class:`~goldenpath.evaluation.document.EvaluationDocument`,
whose JSON (versioned, :data:`SCHEMA_VERSION`) is ``evaluation.json``. :func:`evaluate` runs
named steps: resolve the model (and the model to compare with, before any data work), read and
score the rows, bootstrap, compare, profile, probe robustness and failures, then the binary
analyses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.data.dataset import Dataset, load_dataset
from goldenpath.data.fingerprint import dataset_fingerprint
from goldenpath.errors import DataError, RunNotFound, SpecInvalid, TrackingError
from goldenpath.evaluation.artifact import artifact_digest, downloaded_model
from goldenpath.evaluation.bootstrap import bootstrap, paired_differences
from goldenpath.evaluation.calibration import calibration, curves, threshold_analysis
from goldenpath.evaluation.document import (
    SCHEMA_VERSION,
    BootstrapSettings,
    Calibration,
    ComparedModel,
    Comparison,
    Curves,
    DataInfo,
    DiscoveredSlice,
    Estimate,
    EvaluationDocument,
    FailureRule,
    FairnessReport,
    Lineage,
    ModelInfo,
    NotAssessed,
    Operations,
    RobustnessProbe,
    SliceDifferences,
    Thresholds,
)
from goldenpath.evaluation.failures import Candidate, candidates, failure_rules, worst_candidates
from goldenpath.evaluation.fairness import FairnessPass
from goldenpath.evaluation.metrics import Metric, Scored, metrics_for
from goldenpath.evaluation.operations import directory_size, operational_profile
from goldenpath.evaluation.robustness import robustness
from goldenpath.evaluation.slices import SliceGroup, slice_groups, slice_results
from goldenpath.project import Project
from goldenpath.spec.models import Spec
from goldenpath.training._threads import limited_threads
from goldenpath.training.flavours import load_native
from goldenpath.training.recorded import run_rows
from goldenpath.training.reproduce import recorded_project
from goldenpath.training.run import SPLIT_ARTIFACT, StepCallback
from goldenpath.training.tracking import (
    TAG_PREFIX,
    ModelVersionRecord,
    RunRecord,
    Tracking,
    find_run,
    open_tracking,
)

__all__ = [
    "SCHEMA_VERSION",
    "EvaluationDocument",
    "EvaluationResult",
    "ModelRef",
    "evaluate",
    "load_digested",
    "load_model",
    "resolve_model",
]

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


EvaluationResult = EvaluationDocument  # what evaluate() returns; its JSON is evaluation.json


@dataclass(frozen=True)
class _Reference:
    """The model to compare with: as asked for, as a reference, as resolved, and its spec."""

    against: str
    ref: str
    model: ModelRef
    spec: Spec


@dataclass(frozen=True)
class _Subject:
    """The model under evaluation, its run, the rows it is judged on and its scores."""

    ref: ModelRef
    run: RunRecord
    spec: Spec
    dataset: Dataset
    frame: pd.DataFrame
    described: str
    held_out: bool  # the run's own held-out rows (not a --data file)
    model: Any
    model_size: int
    model_digest: str  # artifact_digest of the files the model was loaded from
    scored: Scored


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


def _as_reference(project: Project, against: str) -> str:
    """``against`` as a model reference: a bare word that is not a run id (32 hex digits) or
    ``latest`` is an alias of this project's model (``champion`` is ``NAME@champion``)."""
    bare = "@" not in against and "/" not in against and against != "latest"
    is_run_id = re.fullmatch(r"[0-9a-f]{32}", against) is not None
    return f"{project.name}@{against}" if bare and not is_run_id else against


def _resolve_reference(project: Project, client: Tracking, against: str) -> _Reference:
    """The model to compare with and the spec it was trained with, checked before any data
    is read or any resample drawn: a missing champion fails in a second, not after minutes."""
    ref = _as_reference(project, against)
    model = resolve_model(project, ref)
    return _Reference(against, ref, model, recorded_project(project, client, model.run_id).spec)


def _compare(
    project: Project,
    reference: _Reference,
    subject: _Subject,
    *,
    metrics: list[Metric],
    row_sets: dict[str, np.ndarray],
    client: Tracking,
) -> Comparison:
    """The candidate against ``reference``, paired on the same rows and resamples."""
    frame, spec = subject.frame, subject.spec
    features = reference.spec.feature_columns
    missing = sorted(set(features) - set(frame.columns))
    if missing:
        raise DataError(
            f"{reference.ref} needs columns the evaluation rows do not have: {', '.join(missing)}",
            hint="compare models trained on the same contract, or pass --data with all columns",
        )
    model, _, digest = load_digested(project, reference.model)
    other = _scored(model, frame[features], frame[spec.task.target], spec)
    settings = spec.evaluation
    differences = paired_differences(
        subject.scored,
        other,
        [m for m in metrics if m.applies_to(other)],
        row_sets,
        n_resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    found = reference.model
    return Comparison(
        against=ComparedModel(
            reference=reference.against,
            name=found.name,
            version=found.version,
            run_id=found.run_id,
            uri=found.uri,
            artifact_sha256=digest,
        ),
        reference_trained_on_rows=_rows_seen(client, subject, found),
        metrics=differences["overall"],
        slices=tuple(
            SliceDifferences(name=name, metrics=values)
            for name, values in differences.items()
            if name != "overall"
        ),
    )


def _rows_seen(client: Tracking, subject: _Subject, reference: ModelRef) -> int | None:
    """How many of the evaluation rows the reference model was trained on (they are no fair
    test of it); ``None`` when that cannot be known (other data, or rows from a file)."""
    if not subject.held_out:
        return None
    fingerprint = TAG_PREFIX + "dataset_fingerprint"
    if client.get_run(reference.run_id).tags.get(fingerprint) != subject.run.tags.get(fingerprint):
        return None
    ours = client.load_json(subject.ref.run_id, SPLIT_ARTIFACT)["test_positions"]
    theirs = client.load_json(reference.run_id, SPLIT_ARTIFACT)["train_positions"]
    return len(set(ours) & set(theirs))


def load_model(project: Project, ref: ModelRef) -> tuple[Any, int]:
    """The model as the estimator it was trained as (scikit-learn, LightGBM, XGBoost), and the
    size of its MLflow artefact in bytes."""
    with downloaded_model(project, ref.uri) as local:
        return load_native(local), directory_size(local)


def load_digested(
    project: Project, ref: ModelRef, *, check: Callable[[str], None] | None = None
) -> tuple[Any, int, str]:
    """:func:`load_model` and the :func:`~goldenpath.evaluation.artifact.artifact_digest` of
    the files it was loaded from, downloaded once, so the digest is of exactly what is loaded.
    ``check`` is called with the digest before the model is deserialised; it raises to refuse
    the files (the server compares them with the digest its store expects)."""
    with downloaded_model(project, ref.uri) as local:
        digest = artifact_digest(local)
        if check is not None:
            check(digest)
        return load_native(local), directory_size(local), digest


def _noop(_: str) -> None:
    return None


def _judging_spec(project: Project, client: Tracking, run_id: str) -> tuple[Spec, Path]:
    """The spec to judge the run's model by, and the project folder its data is read from.

    What the model is (contract, target, features, data source) is the run's; how to judge it
    (evaluation settings, slices, sensitive features) is the project's current spec, so that
    models trained at different times are judged alike.
    """
    recorded = recorded_project(project, client, run_id)
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
    return spec, recorded.root


def _evaluation_rows(
    client: Tracking, spec: Spec, root: Path, ref: ModelRef, data: str | None
) -> tuple[Dataset, pd.DataFrame, str]:
    """The dataset, the rows to evaluate on (the run's held-out rows, or all of ``data``) and
    their description."""
    dataset = load_dataset(spec, root, source=data)
    if data is not None:
        return dataset, dataset.frame, dataset.source
    frame = run_rows(
        client,
        ref.run_id,
        dataset,
        "test",
        hint="restore the data, or evaluate on a file with --data",
    )
    return dataset, frame, f"held-out rows of run {ref.run_id}"


def _check_slice_columns(spec: Spec, frame: pd.DataFrame) -> None:
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


def _errors(scored: Scored) -> np.ndarray:
    """Which rows the model gets wrong: a wrong label, or an absolute error above the median."""
    if scored.task == "regression":
        absolute = np.abs(scored.y - scored.pred)
        return np.asarray(absolute > np.median(absolute))
    return np.asarray(scored.y != scored.pred)


def _discovered_slices(
    discovered: list[Candidate],
    errors: np.ndarray,
    estimates: dict[str, dict[str, Estimate]],
    primary: Metric,
    confidence: float,
) -> tuple[DiscoveredSlice, ...]:
    overall = float(errors.mean()) if len(errors) else None
    return tuple(
        DiscoveredSlice(
            rule=c.rule,
            rows=c.rows,
            error_rate=c.errors / c.rows,
            overall_error_rate=overall,
            p_value=c.p_value,
            q_value=c.q_value,
            significant=c.q_value < 1 - confidence,
            primary=estimates[f"{_DISCOVERED}{c.rule}"][primary.name],
        )
        for c in discovered
    )


@dataclass(frozen=True)
class _BinaryAnalyses:
    calibration: Calibration | None = None
    thresholds: Thresholds | None = None
    curves: Curves | None = None
    fairness: tuple[FairnessReport, ...] = ()
    not_assessed: tuple[NotAssessed, ...] = ()


def _not_assessed(subject: _Subject) -> tuple[NotAssessed, ...]:
    """The binary analyses this model does not get, each with the reason in words."""
    scored, spec = subject.scored, subject.spec
    task = scored.task.replace("_", " ")
    features = spec.data.sensitive_features
    if scored.task == "binary_classification":
        if scored.proba is not None:
            return ()
        return (
            NotAssessed(
                analysis="calibration",
                reason="the model has no predict_proba: calibration, the threshold analysis "
                "and the ROC and precision-recall curves need its probability scores",
            ),
        )
    scores = (
        "its class probabilities are judged by log_loss"
        if scored.proba is not None
        else "the model has no predict_proba"
    )
    skipped = []
    if scored.task == "multiclass_classification":
        skipped.append(
            NotAssessed(
                analysis="calibration",
                reason="calibration, the threshold analysis and the ROC and precision-recall "
                f"curves are computed for binary classification, not {task} ({scores})",
            )
        )
    if features:
        skipped.append(
            NotAssessed(
                analysis="fairness",
                reason=f"group fairness figures (selection rates, true and false positive rates "
                f"and their disparities) are defined for binary classification, not {task}: "
                f"data.sensitive_features ({', '.join(features)}) are evaluated as slices, "
                "with the metrics of each group",
            )
        )
    return tuple(skipped)


def _binary_analyses(subject: _Subject, fairness: tuple[FairnessReport, ...]) -> _BinaryAnalyses:
    """Calibration, thresholds and curves (with scores) and fairness of a binary classifier,
    and what is not assessed, with the reason."""
    scored, spec = subject.scored, subject.spec
    skipped = _not_assessed(subject)
    if scored.task != "binary_classification":
        return _BinaryAnalyses(not_assessed=skipped)
    score = scored.positive_score
    if score is None:
        return _BinaryAnalyses(fairness=fairness, not_assessed=skipped)
    costs = spec.evaluation.costs
    return _BinaryAnalyses(
        calibration=calibration(score, scored.y),
        thresholds=threshold_analysis(
            score,
            scored.y,
            cost_false_positive=None if costs is None else costs.false_positive,
            cost_false_negative=None if costs is None else costs.false_negative,
        ),
        curves=curves(score, scored.y),
        fairness=fairness,
    )


def _lineage(subject: _Subject, rows_fingerprint: str) -> Lineage:
    tags, settings = subject.run.tags, subject.spec.evaluation
    return Lineage(
        run_id=subject.ref.run_id,
        model_version=subject.ref.version,
        dataset_fingerprint=tags.get(TAG_PREFIX + "dataset_fingerprint"),
        train_fingerprint=tags.get(TAG_PREFIX + "train_fingerprint"),
        test_fingerprint=tags.get(TAG_PREFIX + "test_fingerprint"),
        evaluation_data_fingerprint=rows_fingerprint,
        git_commit=tags.get(TAG_PREFIX + "git_commit"),
        training_seed=subject.run.params.get("seed"),
        bootstrap=BootstrapSettings(
            resamples=settings.resamples, confidence=settings.confidence, seed=settings.seed
        ),
        threshold=settings.threshold,
        min_slice_support=settings.min_slice_support,
    )


def _subject(
    project: Project,
    client: Tracking,
    ref: ModelRef,
    data: str | None,
    on_step: StepCallback,
) -> _Subject:
    """Read the rows, load the model and score it."""
    spec, root = _judging_spec(project, client, ref.run_id)
    on_step("Reading and validating data")
    dataset, frame, described = _evaluation_rows(client, spec, root, ref, data)
    on_step("Loading the model")
    model, model_size, digest = load_digested(project, ref)
    on_step(f"Scoring {len(frame):,} rows")
    scored = _scored(model, frame[spec.feature_columns], frame[spec.task.target], spec)
    return _Subject(
        ref=ref,
        run=client.get_run(ref.run_id),
        spec=spec,
        dataset=dataset,
        frame=frame,
        described=described,
        held_out=data is None,
        model=model,
        model_size=model_size,
        model_digest=digest,
        scored=scored,
    )


@dataclass(frozen=True)
class _Evidence:
    """The metrics, the slice groups, the errors and their discovered slices, and every
    metric's bootstrap estimate on every row set."""

    metrics: list[Metric]
    primary: Metric
    groups: list[SliceGroup]
    errors: np.ndarray
    tested: list[Candidate]
    discovered: list[Candidate]
    row_sets: dict[str, np.ndarray]
    estimates: dict[str, dict[str, Estimate]]
    fairness: tuple[FairnessReport, ...]


def _evidence(subject: _Subject, on_step: StepCallback) -> _Evidence:
    """Metrics with bootstrap intervals overall, on every slice group, and on the worst
    discovered slices: every feature and pair of features is tested for excess errors with
    multiple-testing control, and the worst few also get the metrics with their intervals."""
    spec, frame, scored = subject.spec, subject.frame, subject.scored
    settings = spec.evaluation
    metrics = metrics_for(scored)
    primary = _primary(spec, metrics)
    _check_slice_columns(spec, frame)
    groups = slice_groups(spec, frame)
    on_step(f"Bootstrapping {settings.resamples:,} resamples over {len(groups) + 1} row sets")
    errors = _errors(scored)
    tested = candidates(frame[spec.feature_columns], errors, min_rows=settings.min_slice_support)
    discovered = worst_candidates(tested, top=_DISCOVERED_TOP)
    row_sets = {
        "overall": np.arange(scored.n),
        **{g.name: g.rows for g in groups},
        **{f"{_DISCOVERED}{c.rule}": np.flatnonzero(c.mask) for c in discovered},
    }
    fairness = FairnessPass(  # binary classifiers: on the metrics' resamples, as they are drawn
        {f: frame[f] for f in spec.data.sensitive_features}
        if scored.task == "binary_classification"
        else {},
        scored.y,
        scored.pred,
        min_group_size=settings.fairness.min_group_size,
        confidence=settings.confidence,
    )
    estimates = bootstrap(
        scored,
        metrics,
        row_sets,
        n_resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
        on_block=fairness.add,
    )
    return _Evidence(
        metrics,
        primary,
        groups,
        errors,
        tested,
        discovered,
        row_sets,
        estimates,
        fairness.reports(),
    )


def _operations(subject: _Subject, threads: int) -> Operations:
    settings = subject.spec.evaluation
    return operational_profile(
        subject.model,
        subject.frame[subject.spec.feature_columns],
        price_per_cpu_hour=settings.price_per_cpu_hour,
        currency=settings.currency,
        model_size_bytes=subject.model_size,
        seed=settings.seed,
        threads=threads,
    )


def _robustness_and_failures(
    subject: _Subject, evidence: _Evidence
) -> tuple[list[RobustnessProbe], list[FailureRule]]:
    """How predictions move under damaged inputs, and where errors concentrate."""
    spec, frame = subject.spec, subject.frame
    features = frame[spec.feature_columns]
    target = frame[spec.task.target]
    probes = robustness(
        features,
        lambda damaged: _scored(subject.model, damaged, target.loc[damaged.index], spec),
        subject.scored,
        evidence.primary,
        seed=spec.evaluation.seed,
    )
    failures = failure_rules(
        features,
        evidence.errors,
        min_rows=spec.evaluation.min_slice_support,
        tested=evidence.tested,
    )
    return probes, failures


def _document(
    subject: _Subject,
    evidence: _Evidence,
    *,
    comparison: Comparison | None,
    operations: Operations,
    probes: list[RobustnessProbe],
    failures: list[FailureRule],
    binary: _BinaryAnalyses,
) -> EvaluationDocument:
    """Every part, assembled into the evaluation document."""
    spec, frame, dataset, ref = subject.spec, subject.frame, subject.dataset, subject.ref
    settings = spec.evaluation
    estimates, primary = evidence.estimates, evidence.primary
    rows_fingerprint = (
        dataset.fingerprint if len(frame) == dataset.n_rows else dataset_fingerprint(frame)
    )
    return EvaluationDocument(
        evaluation_id=uuid.uuid4().hex,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        project=spec.project.name,
        task=spec.task.type,
        model=ModelInfo(
            name=ref.name,
            version=ref.version,
            run_id=ref.run_id,
            uri=ref.uri,
            artifact_sha256=subject.model_digest,
        ),
        data=DataInfo(
            description=subject.described,
            source=dataset.source,
            rows=subject.scored.n,
            fingerprint=rows_fingerprint,
        ),
        lineage=_lineage(subject, rows_fingerprint),
        primary_metric=primary.name,
        metrics=estimates["overall"],
        slices=tuple(
            slice_results(
                evidence.groups,
                estimates,
                primary,
                overall=estimates["overall"][primary.name].value,
                min_support=settings.min_slice_support,
            )
        ),
        calibration=binary.calibration,
        thresholds=binary.thresholds,
        curves=binary.curves,
        fairness=binary.fairness,
        not_assessed=binary.not_assessed,
        comparison=comparison,
        operations=operations,
        robustness=tuple(probes),
        failures=tuple(failures),
        discovered_slices=_discovered_slices(
            evidence.discovered, evidence.errors, estimates, primary, settings.confidence
        ),
    )


def evaluate(
    project: Project,
    ref: str = "latest",
    *,
    data: str | None = None,
    against: str | None = None,
    on_step: StepCallback = _noop,
) -> EvaluationDocument:
    """Evaluate model ``ref`` on its run's held-out rows, or on ``data`` (a path or source);
    with ``against`` (``champion``, an alias, a version or a run), also compare it, paired on
    the same rows and resamples, with that model.

    Both models are resolved first, so a reference that does not exist fails before any data
    is read or any resample drawn. The native thread pools are capped at
    ``resources.threads`` throughout (single-row latency is timed with one thread)."""
    threads = project.spec.resources.threads
    with limited_threads(threads):
        return _evaluate(project, ref, data=data, against=against, threads=threads, on_step=on_step)


def _evaluate(
    project: Project,
    ref: str,
    *,
    data: str | None,
    against: str | None,
    threads: int,
    on_step: StepCallback,
) -> EvaluationDocument:
    on_step("Resolving the model")
    model_ref = resolve_model(project, ref)
    client = open_tracking(project, create=False)
    assert client is not None  # resolve_model found the run in it
    reference = None if against is None else _resolve_reference(project, client, against)
    subject = _subject(project, client, model_ref, data, on_step)
    evidence = _evidence(subject, on_step)
    comparison = None
    if reference is not None:
        on_step(f"Comparing with {reference.against}")
        comparison = _compare(
            project,
            reference,
            subject,
            metrics=evidence.metrics,
            row_sets=evidence.row_sets,
            client=client,
        )
    on_step("Measuring latency, size and cost")
    operations = _operations(subject, threads)
    on_step("Robustness and failure analysis")
    probes, failures = _robustness_and_failures(subject, evidence)
    on_step("Calibration, thresholds and fairness")
    return _document(
        subject,
        evidence,
        comparison=comparison,
        operations=operations,
        probes=probes,
        failures=failures,
        binary=_binary_analyses(subject, evidence.fairness),
    )
