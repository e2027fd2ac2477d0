"""``goldenpath train``: fit the project's model and record the run with its full lineage.

Everything that can fail on bad input (spec, data, contract, split, entrypoint, fit, predict,
a model skops cannot read back) happens before MLflow is touched, so a failed training writes
nothing. Once the model is fitted, the run is logged in one go, the model with the project's code
it imports (:mod:`goldenpath.training.code`); the logged model is then loaded and scored in a
fresh process outside the project (:mod:`goldenpath.training.roundtrip`) and only registered if
that works. If logging or the load check fails, the run is marked failed and deleted again.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.data.dataset import Dataset, load_dataset
from goldenpath.data.fingerprint import dataset_fingerprint
from goldenpath.data.split import Split
from goldenpath.errors import ModelNotLoadable
from goldenpath.project import Project
from goldenpath.spec.models import Spec
from goldenpath.training._memory import MemoryPeak, track_peak_memory
from goldenpath.training._threads import limited_threads
from goldenpath.training.code import stage_code
from goldenpath.training.entrypoint import Entrypoint, load_entrypoint
from goldenpath.training.flavours import (
    ModelFormat,
    library_requirements,
    log_model,
    model_format,
)
from goldenpath.training.lineage import CodeVersion, Environment, code_version, environment
from goldenpath.training.predictions import predict_frame
from goldenpath.training.roundtrip import check_loadable
from goldenpath.training.tracking import (
    TAG_PREFIX,
    Tracking,
    fluent_tracking,
    mlflow_boundary,
    open_tracking,
    registry_chatter_silenced,
    tracking_uri,
)

__all__ = ["FittedModel", "StepCallback", "TrainResult", "fit_model", "train_run"]

StepCallback = Callable[[str], None]

SPLIT_ARTIFACT = "split.json"
LINEAGE_ARTIFACT = "lineage.json"
SPEC_ARTIFACT = "goldenpath.yaml"
PREDICTIONS_ARTIFACT = "predictions/test.parquet"
MODEL_NAME = "model"


@dataclass(frozen=True)
class FittedModel:
    """A model fitted on a split of a dataset, with its test predictions; nothing logged yet."""

    dataset: Dataset
    split: Split
    entrypoint: Entrypoint
    model: Any
    params: dict[str, Any]
    seed: int
    duration_s: float
    memory: MemoryPeak
    test_features: pd.DataFrame
    test_predictions: pd.DataFrame
    threads: int = 1  # the cap on the native thread pools while fitting and predicting

    @property
    def train_fingerprint(self) -> str:
        return dataset_fingerprint(self.dataset.rows(self.split.train))

    @property
    def test_fingerprint(self) -> str:
        return dataset_fingerprint(self.dataset.rows(self.split.test))


@dataclass(frozen=True)
class TrainResult:
    """What ``goldenpath train`` reports."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_name: str
    model_version: str
    model_uri: str
    dataset_fingerprint: str
    train_fingerprint: str
    test_fingerprint: str
    n_train: int
    n_test: int
    duration_s: float
    peak_memory_mb: float
    contract_validated: bool
    git_commit: str
    git_dirty: bool | None
    source_hash: str | None
    packed_code: tuple[str, ...]
    load_check_s: float
    model_flavour: str
    serialization: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def audit_payload(self) -> dict[str, object]:
        """What ``train`` audits with the version (subject ``name/version``): the run, the data,
        and the lineage facts that ``gate``'s lineage rules judge."""
        return {
            "run_id": self.run_id,
            "dataset_fingerprint": self.dataset_fingerprint,
            "contract_validated": self.contract_validated,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "source_hash": self.source_hash,
            "model_flavour": self.model_flavour,
            "serialization": self.serialization,
        }


def _noop(_: str) -> None:
    return None


def fit_model(
    project: Project,
    *,
    dataset: Dataset | None = None,
    split: Split | None = None,
    params: dict[str, Any] | None = None,
    seed: int | None = None,
    threads: int | None = None,
    on_step: StepCallback = _noop,
) -> FittedModel:
    """Load, validate and split the data (unless given), then fit the entrypoint's model with
    at most ``threads`` threads per native thread pool (default: ``resources.threads``)."""
    spec = project.spec
    threads = spec.resources.threads if threads is None else threads
    if dataset is None:
        on_step("Reading and validating data")
        dataset = load_dataset(spec, project.root)
    split = split if split is not None else dataset.split(spec)
    on_step("Importing the training entrypoint")
    entrypoint = load_entrypoint(spec.training.entrypoint, project.root)
    params = dict(spec.training.params if params is None else params)
    seed = spec.training.seed if seed is None else seed
    seed = int(params.get("seed", seed))  # a seed in training.params wins, and is recorded
    columns = [*spec.feature_columns, spec.task.target]
    train_frame = dataset.rows(split.train)[columns]
    on_step(f"Training on {len(train_frame):,} rows")
    with limited_threads(threads) as threads:  # the most a pool then runs
        with track_peak_memory() as memory:
            started = time.perf_counter()
            model = entrypoint.fit(train_frame, params, seed=seed)
            duration = time.perf_counter() - started
        on_step("Predicting the test rows")
        test_features = dataset.rows(split.test)[spec.feature_columns]
        predictions = predict_frame(model, test_features, spec.task.type)
    return FittedModel(
        dataset=dataset,
        split=split,
        entrypoint=entrypoint,
        model=model,
        params=params,
        seed=seed,
        duration_s=duration,
        memory=memory,
        test_features=test_features,
        test_predictions=predictions,
        threads=threads,
    )


def train_run(project: Project, *, on_step: StepCallback = _noop) -> TrainResult:
    """Fit the project's model and log the run, lineage and model to MLflow; register it.
    The mechanics only: :func:`goldenpath.train` checks the role and audits around this."""
    fitted = fit_model(project, on_step=on_step)
    on_step("Recording the run in MLflow")
    return _log_run(project, fitted)


def _split_record(project: Project, fitted: FittedModel) -> dict[str, object]:
    id_column = project.spec.data.id_column
    record: dict[str, object] = {
        "order": "canonical (rows sorted by content hash)",
        "train_positions": fitted.split.train.tolist(),
        "test_positions": fitted.split.test.tolist(),
    }
    if id_column is not None:
        ids = fitted.dataset.frame[id_column]
        record["id_column"] = id_column
        record["train_ids"] = ids.iloc[fitted.split.train].tolist()
        record["test_ids"] = ids.iloc[fitted.split.test].tolist()
    return record


def _pip_requirements(packages: dict[str, str]) -> list[str]:
    wanted = ("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle", "skops", "mlflow")
    from importlib import metadata

    pins = []
    for name in wanted:
        version = packages.get(name)
        if version is None:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        pins.append(f"{name}=={version}")
    return pins


@dataclass(frozen=True)
class _Provenance:
    """Where a run came from: its code and environment, and its rows' fingerprints."""

    code: CodeVersion
    env: Environment
    train_fingerprint: str
    test_fingerprint: str
    model: ModelFormat


def _log_run(project: Project, fitted: FittedModel) -> TrainResult:
    """Record ``fitted`` as one MLflow run (tags, params, metrics, lineage, split, spec, test
    predictions, the model) and register the model; a failure leaves no run behind."""
    spec = project.spec
    # a model skops cannot read back stops here, unless the spec asks for cloudpickle
    fmt = model_format(fitted.model, spec.training.serialization)
    origin = _Provenance(
        code=code_version(
            project.root, fitted.entrypoint.sources, fitted.entrypoint.code.relative()
        ),
        env=environment(fitted.entrypoint.modules),
        train_fingerprint=fitted.train_fingerprint,
        test_fingerprint=fitted.test_fingerprint,
        model=fmt,
    )
    client = open_tracking(project, create=True)
    run_id: str | None = None
    try:
        run_id = client.create_run(tags=_run_tags(spec, fitted, origin))
        client.log_batch(run_id, metrics=_run_metrics(fitted), params=_run_params(spec, fitted))
        _log_artifacts(client, run_id, project, fitted, _lineage(spec, fitted, origin))
        version, load_check_s = _log_model(project, fitted, origin, run_id)
        client.set_tag(run_id, TAG_PREFIX + "model_version", version)
    except BaseException:
        if run_id is not None:
            client.discard_run(run_id)
        raise
    return TrainResult(
        run_id=run_id,
        experiment_id=client.experiment_id(create=True) or "",
        tracking_uri=tracking_uri(project),
        model_name=spec.project.name,
        model_version=version,
        model_uri=f"models:/{spec.project.name}/{version}",
        dataset_fingerprint=fitted.dataset.fingerprint,
        train_fingerprint=origin.train_fingerprint,
        test_fingerprint=origin.test_fingerprint,
        n_train=len(fitted.split.train),
        n_test=len(fitted.split.test),
        duration_s=fitted.duration_s,
        peak_memory_mb=fitted.memory.peak_mb,
        # load_dataset validated every row against the contract, or fit_model stopped
        contract_validated=True,
        git_commit=origin.code.git_commit,
        git_dirty=origin.code.git_dirty,
        source_hash=origin.code.source_hash,
        packed_code=origin.code.packed_code,
        load_check_s=load_check_s,
        model_flavour=fmt.flavour,
        serialization=fmt.serialization,
    )


def _lineage(spec: Spec, fitted: FittedModel, origin: _Provenance) -> dict[str, object]:
    """``lineage.json``: the data, the training and the code behind the run."""
    return {
        "project": spec.project.name,
        "task": spec.task.type,
        "data": {
            "source": fitted.dataset.source,
            "fingerprint": fitted.dataset.fingerprint,
            "schema_hash": fitted.dataset.schema_hash,
            "rows": fitted.dataset.n_rows,
            "train_fingerprint": origin.train_fingerprint,
            "test_fingerprint": origin.test_fingerprint,
            "train_rows": len(fitted.split.train),
            "test_rows": len(fitted.split.test),
            "split": spec.data.split.model_dump(mode="json"),
        },
        "training": {
            "entrypoint": spec.training.entrypoint,
            "params": fitted.params,
            "seed": fitted.seed,
            "threads": fitted.threads,
            "duration_s": fitted.duration_s,
            "peak_memory_mb": fitted.memory.peak_mb,
            "peak_memory_increase_mb": fitted.memory.increase_mb,
        },
        "code": origin.code.to_dict(),
        "environment": origin.env.to_dict(),
        "model": origin.model.to_dict(),
    }


def _run_tags(spec: Spec, fitted: FittedModel, origin: _Provenance) -> dict[str, str]:
    """The run's tags: what ``runs``, ``reproduce``, ``evaluate`` and ``gate`` look up."""
    code, env = origin.code, origin.env
    return {
        TAG_PREFIX + "project": spec.project.name,
        TAG_PREFIX + "task": spec.task.type,
        TAG_PREFIX + "data_source": fitted.dataset.source,
        TAG_PREFIX + "dataset_fingerprint": fitted.dataset.fingerprint,
        TAG_PREFIX + "train_fingerprint": origin.train_fingerprint,
        TAG_PREFIX + "test_fingerprint": origin.test_fingerprint,
        TAG_PREFIX + "schema_hash": fitted.dataset.schema_hash,
        TAG_PREFIX + "git_commit": code.git_commit,
        TAG_PREFIX + "git_dirty": str(code.git_dirty).lower(),
        TAG_PREFIX + "source_hash": code.source_hash or "",
        TAG_PREFIX + "python": env.python,
        TAG_PREFIX + "version": env.packages["goldenpath"],
        TAG_PREFIX + "contract_validated": "true",
        TAG_PREFIX + "threads": str(fitted.threads),
        TAG_PREFIX + "model_flavour": origin.model.flavour,
        TAG_PREFIX + "serialization": origin.model.serialization,
    }


def _run_params(spec: Spec, fitted: FittedModel) -> dict[str, str]:
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fitted.params.items()}
    params["seed"] = str(fitted.seed)
    params["entrypoint"] = spec.training.entrypoint
    return params


def _run_metrics(fitted: FittedModel) -> dict[str, float]:
    return {
        "training_duration_s": fitted.duration_s,
        "peak_memory_mb": fitted.memory.peak_mb,
        "peak_memory_increase_mb": fitted.memory.increase_mb,
        "rows": float(fitted.dataset.n_rows),
        "train_rows": float(len(fitted.split.train)),
        "test_rows": float(len(fitted.split.test)),
    }


def _log_artifacts(
    client: Tracking,
    run_id: str,
    project: Project,
    fitted: FittedModel,
    lineage: dict[str, object],
) -> None:
    """Lineage, split, the spec as it was, and the test predictions ``reproduce`` compares."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / LINEAGE_ARTIFACT).write_text(json.dumps(lineage, indent=2, default=str))
        (folder / SPLIT_ARTIFACT).write_text(
            json.dumps(_split_record(project, fitted), default=_json_default)
        )
        (folder / SPEC_ARTIFACT).write_text(project.spec_path.read_text(encoding="utf-8"))
        for name in (LINEAGE_ARTIFACT, SPLIT_ARTIFACT, SPEC_ARTIFACT):
            client.log_artifact(run_id, folder / name)
        (folder / "predictions").mkdir()
        fitted.test_predictions.to_parquet(folder / PREDICTIONS_ARTIFACT, index=False)
        client.log_artifact(run_id, folder / PREDICTIONS_ARTIFACT, "predictions")


def _log_model(
    project: Project,
    fitted: FittedModel,
    origin: _Provenance,
    run_id: str,
) -> tuple[str, float]:
    """Log the model in its flavour (:mod:`goldenpath.training.flavours`) with its signature, a
    PII-free input example, pinned requirements and the project's code it imports; load it in a
    fresh process outside the project; only then register it. The new version's number and the
    load check's seconds."""
    import mlflow
    import mlflow.artifacts
    from mlflow.models import infer_signature

    spec = project.spec
    with (
        tempfile.TemporaryDirectory(prefix="goldenpath-model-") as tmp,
        mlflow_boundary("logging and registering the model"),
        fluent_tracking(tracking_uri(project)),
        registry_chatter_silenced(),
        mlflow.start_run(run_id=run_id),
        warnings.catch_warnings(),
    ):
        # Contract ints are non-nullable by construction (nullable ints are floats).
        warnings.filterwarnings("ignore", message=".*Integer columns in Python.*")
        signature = infer_signature(
            fitted.test_features, fitted.test_predictions["prediction"].to_numpy()
        )
        code_paths = stage_code(fitted.entrypoint.code, Path(tmp) / "code")
        info = log_model(
            fitted.model,
            origin.model,
            name=MODEL_NAME,
            signature=signature,
            input_example=_input_example(fitted.test_features, spec),
            pip_requirements=_pip_requirements(origin.env.packages)
            + library_requirements(origin.model.libraries),
            code_paths=code_paths or None,
        )
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=info.model_uri, dst_path=str(Path(tmp) / "logged")
        )
        try:
            load_check_s = check_loadable(Path(local), project.root)
        except ModelNotLoadable:
            _discard_logged_model(info.model_id)  # the run is discarded by the caller
            raise
        mlflow.log_metric("load_check_s", load_check_s)
        version = mlflow.register_model(info.model_uri, spec.project.name)
    return str(version.version), load_check_s


def _discard_logged_model(model_id: str | None) -> None:
    """Mark a logged model that failed the load check deleted (best effort: the load check's
    error is what the user must see)."""
    from mlflow import MlflowClient

    if model_id is None:
        return
    try:
        MlflowClient().delete_logged_model(model_id)
    except Exception:
        return


def _input_example(features: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Five real test rows, with every PII column's values replaced by a contract-valid
    placeholder, so personal data never lands in the model artefact."""
    example = features.head(5).copy()
    for name, column in spec.data.contract.columns.items():
        if not column.pii or name not in example.columns:
            continue
        if column.allowed:
            placeholder: object = column.allowed[0]
        elif column.dtype == "str":
            placeholder = "<redacted>"
        elif column.dtype in ("int", "float"):
            placeholder = column.min if column.min is not None else 0
        elif column.dtype == "bool":
            placeholder = False
        else:
            placeholder = pd.Timestamp("1970-01-01")
        example[name] = pd.Series([placeholder] * len(example), index=example.index).astype(
            example[name].dtype
        )
    return example


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
