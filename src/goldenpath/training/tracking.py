"""The MLflow boundary: where runs live, how to find them, and MLflow errors translated.

The embedded default is ``sqlite:///<project>/.goldenpath/mlflow.db`` with artefacts under
``<project>/.goldenpath/artifacts``; ``MLFLOW_TRACKING_URI`` (read in :mod:`goldenpath.settings`)
points a team at a shared MLflow server instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from goldenpath.errors import RunNotFound, TrackingError
from goldenpath.project import Project
from goldenpath.settings import TRACKING_URI_VAR, restored_environment, tracking_uri_override

__all__ = [
    "TAG_PREFIX",
    "RunSummary",
    "find_run",
    "list_runs",
    "mlflow_boundary",
    "open_tracking",
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


def open_tracking(project: Project, *, create: bool) -> Any:
    """An ``MlflowClient`` on the project's tracking store, or ``None`` when the embedded store
    does not exist yet and ``create`` is false (reading never creates state)."""
    if _uses_embedded_store(project):
        if not create and not (project.state_dir / "mlflow.db").exists():
            return None
        if create:
            project.artifact_root.mkdir(parents=True, exist_ok=True)
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(project)
    with mlflow_boundary(f"opening the tracking store {uri}"):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(project: Project, client: Any, *, create: bool) -> str | None:
    """The project's experiment (named after the project), created on first use."""
    with mlflow_boundary(f"looking up experiment {project.name!r}"):
        experiment = client.get_experiment_by_name(project.name)
        if experiment is not None:
            return str(experiment.experiment_id)
        if not create:
            return None
        location = project.artifact_root.as_uri() if _artifacts_in_project(project) else None
        if location is not None:
            project.artifact_root.mkdir(parents=True, exist_ok=True)
        return str(client.create_experiment(project.name, artifact_location=location))


def _summary(run: Any) -> RunSummary:
    tags = run.data.tags
    info = run.info
    start = datetime.fromtimestamp(info.start_time / 1000, tz=UTC).isoformat(timespec="seconds")
    duration = run.data.metrics.get("training_duration_s")
    return RunSummary(
        run_id=info.run_id,
        start_time=start,
        status=info.status,
        duration_s=None if duration is None else round(float(duration), 3),
        dataset_fingerprint=tags.get(TAG_PREFIX + "dataset_fingerprint"),
        model_version=tags.get(TAG_PREFIX + "model_version"),
        params=dict(run.data.params),
    )


def list_runs(project: Project, *, limit: int = 100) -> list[RunSummary]:
    """The project's runs, newest first. Empty (and nothing created) before the first run."""
    client = open_tracking(project, create=False)
    if client is None:
        return []
    exp = experiment_id(project, client, create=False)
    if exp is None:
        return []
    with mlflow_boundary("listing runs"):
        runs = client.search_runs([exp], order_by=["attributes.start_time DESC"], max_results=limit)
    return [_summary(r) for r in runs]


def find_run(project: Project, ref: str) -> Any:
    """The MLflow run ``ref`` (a run id, or ``latest``) of this project."""
    client = open_tracking(project, create=False)
    exp = None if client is None else experiment_id(project, client, create=False)
    if client is None or exp is None:
        raise RunNotFound(
            f"project {project.name!r} has no runs yet",
            hint="train one first with `goldenpath train`",
        )
    if ref == LATEST:
        with mlflow_boundary("finding the latest run"):
            runs = client.search_runs(
                [exp],
                filter_string="attributes.status = 'FINISHED'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
        if not runs:
            raise RunNotFound(f"project {project.name!r} has no finished runs")
        return runs[0]
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(ref)
    except MlflowException:
        run = None
    if run is None or run.info.experiment_id != exp or run.info.lifecycle_stage != "active":
        raise RunNotFound(
            f"no run {ref!r} in project {project.name!r}",
            hint="`goldenpath runs` lists the run ids",
        )
    return run


def load_json_artifact(client: Any, run_id: str, path: str) -> Any:
    """A JSON artefact of a run, parsed."""
    import tempfile

    with mlflow_boundary(f"reading {path} of run {run_id}"), tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        with open(local, encoding="utf-8") as handle:
            return json.load(handle)


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


def _quiet_mlflow() -> None:
    """MLflow logs progress at INFO and migrations on first use; keep the CLI's output clean."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
