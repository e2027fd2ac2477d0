"""The reference a model's traffic is compared with, computed at training time and kept with
the run (for runs trained before that, computed the first time ``monitor`` needs it).

It holds no raw training data beyond a small sample: the profile of the training rows' features,
the profile of the model's outputs (score, prediction) on the held-out rows, the score
calibration that CBPE needs (classifiers), the loss estimator DLE needs (regressors), the
held-out metrics they are compared with (regressors: the MAE's and RMSE's 95% intervals too,
as ``goldenpath evaluate`` makes them, for the realised-loss rule), and a sample of training
rows for the domain classifier. It is written to the run in MLflow (``monitoring/reference.json``,
``monitoring/reference-sample.parquet``) and cached under ``.goldenpath/monitoring/``, so the
data is read once per run, not once per ``monitor``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from goldenpath._files import write_atomic
from goldenpath.data.dataset import load_dataset
from goldenpath.errors import RunNotFound, TrackingError
from goldenpath.evaluation.evaluate import ModelRef, load_model, resolve_model
from goldenpath.monitoring._document import Document
from goldenpath.monitoring.estimation import ScoreCalibration
from goldenpath.monitoring.loss_estimation import LossEstimator
from goldenpath.monitoring.performance import held_out_intervals, point_values
from goldenpath.monitoring.profile import FrameProfile, profile_frame
from goldenpath.monitoring.results import MetricInterval
from goldenpath.project import Project
from goldenpath.serving.models import predictor
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import Tracking, require_tracking

__all__ = [
    "SAMPLE_ROWS",
    "Reference",
    "ReferenceRecord",
    "build_reference",
    "file_reference",
    "log_reference",
    "model_outputs",
    "monitored_features",
    "reference",
]

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 5_000
ARTIFACT = "monitoring"


def monitored_features(project: Project) -> list[str]:
    """Features compared with the reference: not PII (the log holds their hashes, or nothing)
    and not datetimes (the log holds their text)."""
    columns = project.spec.data.contract.columns
    return [
        c
        for c in project.spec.feature_columns
        if not columns[c].pii and columns[c].dtype != "datetime"
    ]


def model_outputs(project: Project, predictions: pd.Series, scores: pd.Series) -> pd.DataFrame:
    """The outputs monitored for drift, as the prediction log holds them."""
    if project.spec.task.type == "regression":
        return pd.DataFrame({"prediction": pd.to_numeric(predictions, errors="coerce")})
    frame = pd.DataFrame({"prediction": predictions.astype("string")})
    if scores.notna().any():
        frame["score"] = pd.to_numeric(scores, errors="coerce")
    return frame


@dataclass(frozen=True)
class Reference:
    run_id: str
    model_version: str | None
    features: FrameProfile  # the training rows
    outputs: FrameProfile  # score and prediction on the held-out rows
    calibration: ScoreCalibration | None  # classifiers with scores (multiclass: of correctness)
    metrics: dict[str, float]  # accuracy (and, binary, ROC AUC) on the held-out rows
    evaluation_rows: int
    sample: pd.DataFrame  # up to SAMPLE_ROWS training rows (monitored features only)
    # regressors: the expected absolute and squared error (None in references written before
    # it was kept, or with too few held-out rows)
    loss: LossEstimator | None = None
    # regressors: the held-out MAE and RMSE with evaluate's intervals (empty in references
    # written before they were kept, and for data files)
    intervals: dict[str, MetricInterval] = field(default_factory=dict)

    def record(self) -> ReferenceRecord:
        return ReferenceRecord(
            run_id=self.run_id,
            model_version=self.model_version,
            features=self.features,
            outputs=self.outputs,
            calibration=self.calibration,
            metrics=self.metrics,
            evaluation_rows=self.evaluation_rows,
            loss=self.loss,
            intervals=self.intervals,
        )

    @classmethod
    def of_record(cls, record: ReferenceRecord, sample: pd.DataFrame) -> Reference:
        return cls(
            record.run_id,
            record.model_version,
            record.features,
            record.outputs,
            record.calibration,
            dict(record.metrics),
            record.evaluation_rows,
            sample,
            record.loss,
            dict(record.intervals),
        )


class ReferenceRecord(Document):
    """``reference.json``: a reference without its sample (kept beside it, as Parquet)."""

    run_id: str
    model_version: str | None
    features: FrameProfile
    outputs: FrameProfile
    calibration: ScoreCalibration | None
    metrics: dict[str, float]
    evaluation_rows: int
    loss: LossEstimator | None = None
    intervals: dict[str, MetricInterval] = Field(default_factory=dict)


def _read(json_path: Path, sample_path: Path) -> Reference:
    record = ReferenceRecord.model_validate_json(json_path.read_bytes())
    return Reference.of_record(record, pd.read_parquet(sample_path))


def build_reference(
    project: Project,
    run_id: str,
    estimator: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    model_version: str | None = None,
) -> Reference:
    """The reference of a fitted model from its training and held-out rows."""
    spec = project.spec
    features = monitored_features(project)
    answered = predictor(estimator, spec)(test[spec.feature_columns])
    predictions = pd.Series(answered.predictions, dtype="object")
    scores = pd.Series([np.nan if s is None else s for s in answered.scores], dtype="float64")
    outputs = model_outputs(project, predictions, scores)
    calibration = None
    if spec.task.type == "binary_classification" and "score" in outputs:
        labels = (test[spec.task.target] == spec.task.positive_label).to_numpy().astype(int)
        score = outputs["score"].to_numpy(dtype="float64")
        calibration = ScoreCalibration.choose(score, labels, spec.evaluation.threshold)
    elif spec.task.type == "multiclass_classification" and "score" in outputs:
        # the log keeps the top class probability: calibrate it to P(prediction correct)
        target = test[spec.task.target].astype(str).to_numpy()
        correct = (predictions.astype(str).to_numpy() == target).astype(int)
        calibration = ScoreCalibration.correctness(outputs["score"].to_numpy("float64"), correct)
    metrics = point_values(spec, test[spec.task.target], predictions, scores)
    loss = None
    intervals: dict[str, MetricInterval] = {}
    if spec.task.type == "regression":
        loss = LossEstimator.fit(test[features], outputs["prediction"], test[spec.task.target])
        if loss is not None:
            metrics["root_mean_squared_error"] = loss.root_mean_squared_error
        found = held_out_intervals(spec, test[spec.task.target], outputs["prediction"])
        intervals = {
            name: MetricInterval(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high)
            for name, e in found.items()
        }
    sample = train[features].sample(n=min(SAMPLE_ROWS, len(train)), random_state=0)
    return Reference(
        run_id,
        model_version,
        profile_frame(train[features]),
        profile_frame(outputs),
        calibration,
        metrics,
        len(test),
        sample.reset_index(drop=True),
        loss,
        intervals,
    )


def log_reference(client: Tracking, reference: Reference) -> None:
    """Write the reference to its run's artifacts (``monitoring/``)."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        _write(reference, staged / "reference.json", staged / "reference-sample.parquet")
        client.log_artifacts(reference.run_id, staged, ARTIFACT)


def _compute(project: Project, model: ModelRef) -> Reference:
    """The reference of a run trained before references were logged at training time."""
    dataset = load_dataset(project.spec, project.root)
    client = require_tracking(project)
    hint = "restore the data of that run"
    train = run_rows(client, model.run_id, dataset, "train", hint=hint)
    test = run_rows(client, model.run_id, dataset, "test", hint=hint)
    estimator, _ = load_model(project, model)
    return build_reference(
        project, model.run_id, estimator, train, test, model_version=model.version
    )


def _write(reference: Reference, json_path: Path, sample_path: Path) -> None:
    """The sample, then the JSON, each atomically: a reader that finds the JSON finds both."""
    sample = reference.sample.to_parquet(index=False)
    assert sample is not None  # without a path, the Parquet file's bytes
    write_atomic(sample_path, sample)
    write_atomic(json_path, reference.record().model_dump_json())


def file_reference(project: Project, path: str) -> Reference:
    """A reference from a data file (CSV or Parquet, checked against the contract): the
    profile of its features only (no outputs, calibration or held-out metrics). Its id is the
    data's fingerprint, so the same rows give the same stream."""
    dataset = load_dataset(project.spec, project.root, source=path)
    features = dataset.frame[monitored_features(project)]
    sample = features.sample(n=min(SAMPLE_ROWS, len(features)), random_state=0)
    return Reference(
        f"file-{dataset.fingerprint[:16]}",
        None,
        profile_frame(features),
        FrameProfile(0, {}),
        None,
        {},
        0,
        sample.reset_index(drop=True),
    )


def reference(project: Project, ref: str = "champion") -> Reference:
    """The reference of the model ``ref`` names (an alias, a version, a run id, ``latest``),
    or of a data file (a path ending in .csv or .parquet)."""
    if ref.lower().endswith((".csv", ".parquet")):
        return file_reference(project, ref)
    if ref.isdigit():  # a version of this project's model
        ref = f"{project.name}/{ref}"
    bare = "@" not in ref and "/" not in ref and ref != "latest" and len(ref) != 32
    try:
        model = resolve_model(project, f"{project.name}@{ref}" if bare else ref)
    except RunNotFound as error:
        if ref != "champion":
            raise
        raise RunNotFound(
            f"{project.name} has no champion to monitor",
            hint=f"promote a version first (goldenpath promote {project.name}/VERSION "
            "--to champion), or monitor another model with --reference (a version, name@alias, "
            "a run id, latest)",
        ) from error
    folder = project.state_dir / "monitoring"
    json_path = folder / f"reference-{model.run_id}.json"
    sample_path = folder / f"reference-{model.run_id}.parquet"
    if json_path.exists() and sample_path.exists():
        return replace(_read(json_path, sample_path), model_version=model.version)
    client = require_tracking(project)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(model.run_id, ARTIFACT, tmp)
            found = _read(local / "reference.json", local / "reference-sample.parquet")
        except (TrackingError, OSError, ValueError, KeyError):  # not logged yet: compute it
            found = None
    if found is not None:
        _write(found, json_path, sample_path)
        return replace(found, model_version=model.version)
    computed = _compute(project, model)
    _write(computed, json_path, sample_path)
    try:  # best effort: the cached copy serves this machine either way
        log_reference(client, computed)
    except (TrackingError, OSError) as error:
        logger.warning("could not log the monitoring reference to run %s: %s", model.run_id, error)
    return computed
