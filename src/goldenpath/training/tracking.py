"""The MLflow boundary: where runs live, how to find them, and MLflow errors translated.

The embedded default is ``sqlite:///<project>/.goldenpath/mlflow.db`` with artefacts under
``<project>/.goldenpath/artifacts``; ``MLFLOW_TRACKING_URI`` (read in :mod:`goldenpath.settings`)
points a team at a shared MLflow server instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, overload

from goldenpath.errors import RunNotFound, TrackingError
from goldenpath.project import Project
from goldenpath.settings import TRACKING_URI_VAR, restored_environment, tracking_uri_override

__all__ = [
    "TAG_PREFIX",
    "ModelVersionRecord",
    "RunRecord",
    "RunSummary",
    "Tracking",
    "find_run",
    "list_runs",
    "mlflow_boundary",
    "open_tracking",
    "require_tracking",
    "tracking_uri",
]

TAG_PREFIX = "goldenpath."
LATEST = "latest"


@dataclass(frozen=True)
class RunSummary:
    """One training run as ``goldenpath runs`` lists it."""

    run_id: str
    start_time: str
    status: str
    duration_s: float | None
    dataset_fingerprint: str | None
    model_version: str | None
    params: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def tracking_uri(project: Project) -> str:
    return tracking_uri_override() or project.default_tracking_uri


def _uses_embedded_store(project: Project) -> bool:
    return tracking_uri_override() is None


_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _artifacts_in_project(project: Project) -> bool:
    """Artefacts go to ``<project>/.goldenpath/artifacts`` unless a tracking *server* stores them.

    A bare database URI (SQLite, PostgreSQL, ...) has no artefact store of its own; MLflow
    would fall back to ``./mlruns`` in whatever folder the command ran from.
    """
    uri = tracking_uri(project)
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    return scheme in _DATABASE_SCHEMES


@contextmanager
def mlflow_boundary(action: str) -> Iterator[None]:
    """Translate MLflow's exceptions into :class:`TrackingError` naming what was being done."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow failed while {action}: {exc.message}",
            hint="check MLFLOW_TRACKING_URI and that the tracking store is reachable",
        ) from exc


@dataclass(frozen=True)
class RunRecord:
    """One MLflow run as goldenpath reads it: identity, state, and its tags, params, metrics."""

    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    start_time_ms: int
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]

    @classmethod
    def from_mlflow(cls, run: Any) -> RunRecord:
        info, data = run.info, run.data
        return cls(
            run_id=str(info.run_id),
            experiment_id=str(info.experiment_id),
            status=str(info.status),
            lifecycle_stage=str(info.lifecycle_stage),
            start_time_ms=int(info.start_time or 0),
            tags=MappingProxyType(dict(data.tags)),
            params=MappingProxyType(dict(data.params)),
            metrics=MappingProxyType({k: float(v) for k, v in data.metrics.items()}),
        )


@dataclass(frozen=True)
class ModelVersionRecord:
    """One registered model version."""

    name: str
    version: str
    run_id: str | None
    source: str


def _version_record(found: Any) -> ModelVersionRecord:
    return ModelVersionRecord(
        name=str(found.name),
        version=str(found.version),
        run_id=None if found.run_id is None else str(found.run_id),
        source=str(found.source),
    )


class Tracking:
    """The project's MLflow tracking store and model registry, behind typed methods.

    The only place that talks to ``MlflowClient``: every method translates MLflow's exceptions
    into :class:`TrackingError` naming what was being done, and returns goldenpath's own frozen
    records instead of MLflow entities. One instance serves a whole command (see
    :func:`open_tracking`).
    """

    def __init__(self, project: Project, client: Any) -> None:
        self.project = project
        self.uri = tracking_uri(project)
        self._client = client
        self._experiment_id: str | None = None

    # experiments and runs

    def experiment_id(self, *, create: bool) -> str | None:
        """The project's experiment (named after the project), created on first use."""
        if self._experiment_id is not None:
            return self._experiment_id
        with mlflow_boundary(f"looking up experiment {self.project.name!r}"):
            experiment = self._client.get_experiment_by_name(self.project.name)
            if experiment is not None:
                self._experiment_id = str(experiment.experiment_id)
            elif create:
                location = (
                    self.project.artifact_root.as_uri()
                    if _artifacts_in_project(self.project)
                    else None
                )
                if location is not None:
                    self.project.artifact_root.mkdir(parents=True, exist_ok=True)
                self._experiment_id = str(
                    self._client.create_experiment(self.project.name, artifact_location=location)
                )
        return self._experiment_id

    def get_run(self, run_id: str) -> RunRecord:
        with mlflow_boundary(f"reading run {run_id}"):
            return RunRecord.from_mlflow(self._client.get_run(run_id))

    def find_run(self, run_id: str) -> RunRecord | None:
        """Run ``run_id`` if MLflow knows it, else None (a mistyped id is not an outage)."""
        from mlflow.exceptions import MlflowException

        try:
            return RunRecord.from_mlflow(self._client.get_run(run_id))
        except MlflowException:
            return None

    def search_runs(self, *, filter_string: str = "", max_results: int = 100) -> list[RunRecord]:
        """The project's runs matching ``filter_string``, newest first."""
        exp = self.experiment_id(create=False)
        if exp is None:
            return []
        with mlflow_boundary("listing runs"):
            found = self._client.search_runs(
                [exp],
                filter_string=filter_string,
                order_by=["attributes.start_time DESC"],
                max_results=max_results,
            )
        return [RunRecord.from_mlflow(r) for r in found]

    def create_run(self, *, tags: Mapping[str, str]) -> str:
        exp = self.experiment_id(create=True)
        assert exp is not None
        with mlflow_boundary("creating a run"):
            return str(self._client.create_run(exp, tags=dict(tags), run_name=None).info.run_id)

    def log_batch(
        self, run_id: str, *, metrics: Mapping[str, float], params: Mapping[str, str]
    ) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        with mlflow_boundary(f"logging to run {run_id}"):
            self._client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                params=[Param(k, v[:6000]) for k, v in params.items()],
            )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        with mlflow_boundary(f"tagging run {run_id}"):
            self._client.set_tag(run_id, key, value)

    def discard_run(self, run_id: str) -> None:
        """Leave no half-written run behind: mark it failed and delete it (best effort)."""
        try:
            self._client.set_terminated(run_id, status="FAILED")
            self._client.delete_run(run_id)
        except Exception:  # the original error is what the user must see
            return

    # artefacts

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None:
        with mlflow_boundary(f"logging {Path(local_path).name} to run {run_id}"):
            self._client.log_artifact(run_id, str(local_path), artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | Path, artifact_path: str) -> None:
        with mlflow_boundary(f"logging {artifact_path} to run {run_id}"):
            self._client.log_artifacts(run_id, str(local_dir), artifact_path)

    def download_artifacts(self, run_id: str, path: str, destination: str | Path) -> Path:
        with mlflow_boundary(f"reading {path} of run {run_id}"):
            return Path(self._client.download_artifacts(run_id, path, str(destination)))

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of artefact ``path`` of run ``run_id``."""
        with tempfile.TemporaryDirectory() as tmp:
            return self.download_artifacts(run_id, path, Path(tmp)).read_bytes()

    def load_json(self, run_id: str, path: str) -> Any:
        """A JSON artefact of a run, parsed."""
        return json.loads(self.read_artifact(run_id, path))

    # the model registry

    def get_model_version(self, name: str, version: str) -> ModelVersionRecord:
        with mlflow_boundary(f"reading model {name} version {version}"):
            return _version_record(self._client.get_model_version(name, version))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionRecord | None:
        """The version alias ``alias`` of model ``name`` points at, or None when it points at
        nothing (or the model is not registered yet)."""
        from mlflow.exceptions import MlflowException

        try:
            return _version_record(self._client.get_model_version_by_alias(name, alias))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise TrackingError(
                f"MLflow failed while reading alias {name}@{alias}: {exc.message}",
                hint="check MLFLOW_TRACKING_URI and that the tracking store is reachable",
            ) from exc

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with mlflow_boundary(f"moving {name}@{alias} to version {version}"):
            self._client.set_registered_model_alias(name, alias, version)


_OPEN: dict[tuple[str, str, str], Tracking] = {}


@overload
def open_tracking(project: Project, *, create: Literal[True]) -> Tracking: ...
@overload
def open_tracking(project: Project, *, create: bool) -> Tracking | None: ...
def open_tracking(project: Project, *, create: bool) -> Tracking | None:
    """The project's :class:`Tracking`, or ``None`` when the embedded store does not exist yet
    and ``create`` is false (reading never creates state). One instance per project and store
    for the whole process, as MLflow itself keeps one store per URI."""
    if _uses_embedded_store(project):
        if not create and not (project.state_dir / "mlflow.db").exists():
            return None
        if create:
            project.artifact_root.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(project)
    key = (uri, project.name, str(project.root))
    found = _OPEN.get(key)
    if found is not None:
        return found
    from mlflow.tracking import MlflowClient

    _quiet_mlflow()  # after the import: importing mlflow sets its own loggers to INFO

    with mlflow_boundary(f"opening the tracking store {uri}"):
        tracking = Tracking(project, MlflowClient(tracking_uri=uri, registry_uri=uri))
    _OPEN[key] = tracking
    return tracking


def require_tracking(project: Project) -> Tracking:
    """The project's :class:`Tracking` for reading; :class:`RunNotFound` before the first run."""
    tracking = open_tracking(project, create=False)
    if tracking is None:
        raise RunNotFound(
            f"project {project.name!r} has no runs yet",
            hint="train one first with `goldenpath train`",
        )
    return tracking


def _summary(run: RunRecord) -> RunSummary:
    start = datetime.fromtimestamp(run.start_time_ms / 1000, tz=UTC).isoformat(timespec="seconds")
    duration = run.metrics.get("training_duration_s")
    return RunSummary(
        run_id=run.run_id,
        start_time=start,
        status=run.status,
        duration_s=None if duration is None else round(float(duration), 3),
        dataset_fingerprint=run.tags.get(TAG_PREFIX + "dataset_fingerprint"),
        model_version=run.tags.get(TAG_PREFIX + "model_version"),
        params=dict(run.params),
    )


def list_runs(project: Project, *, limit: int = 100) -> list[RunSummary]:
    """The project's runs, newest first. Empty (and nothing created) before the first run."""
    tracking = open_tracking(project, create=False)
    if tracking is None:
        return []
    return [_summary(r) for r in tracking.search_runs(max_results=limit)]


def find_run(project: Project, ref: str) -> RunRecord:
    """The MLflow run ``ref`` (a run id, or ``latest``) of this project."""
    tracking = open_tracking(project, create=False)
    exp = None if tracking is None else tracking.experiment_id(create=False)
    if tracking is None or exp is None:
        raise RunNotFound(
            f"project {project.name!r} has no runs yet",
            hint="train one first with `goldenpath train`",
        )
    if ref == LATEST:
        runs = tracking.search_runs(filter_string="attributes.status = 'FINISHED'", max_results=1)
        if not runs:
            raise RunNotFound(f"project {project.name!r} has no finished runs")
        return runs[0]
    run = tracking.find_run(ref)
    if run is None or run.experiment_id != exp or run.lifecycle_stage != "active":
        raise RunNotFound(
            f"no run {ref!r} in project {project.name!r}",
            hint="`goldenpath runs` lists the run ids",
        )
    return run


@contextmanager
def fluent_tracking(uri: str) -> Iterator[None]:
    """Point MLflow's process-global (fluent) API at ``uri`` for the block only.

    MLflow keeps the URIs in module globals and in the environment; both are put back exactly as
    they were (including "unset"), so one project's store never leaks into the next call.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    with restored_environment(TRACKING_URI_VAR, "MLFLOW_REGISTRY_URI"):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield
        finally:
            tracking_utils._tracking_uri, registry_utils._registry_uri = saved


# What MLflow prints itself while registering a model: goldenpath reports the version itself.
_REGISTRY_CHATTER = re.compile(
    r"^(Successfully registered model |Created version '|Registered model '.*' already exists)"
)


@contextmanager
def registry_chatter_silenced() -> Iterator[None]:
    """Keep MLflow's own registration lines ("Successfully registered model", "Created version
    ...") off the user's terminal. MLflow prints them to stderr with ``print``, not through a
    logger (and its own switch for that stream is reset by the sklearn flavour mid-call), so
    stderr is captured for the block and every other line is passed on unchanged."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        kept = [
            line
            for line in captured.getvalue().splitlines(keepends=True)
            if not _REGISTRY_CHATTER.match(line)
        ]
        if kept:
            sys.stderr.write("".join(kept))


def _quiet_mlflow() -> None:
    """MLflow logs progress at INFO and migrations on first use; keep the CLI's output clean."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
