"""The digest of a model's MLflow artefact: what binds an evaluation, and every decision taken on
it, to the model files that were judged.

:func:`artifact_digest` is the SHA-256 (hex) of the lines ``<path>\\t<sha256 of the file>\\n``,
one per file below the model's artefact folder, sorted by path (relative, ``/``-separated). It
covers every file MLflow keeps for the model: ``MLmodel``, the serialised estimator
(``model.skops``), the code logged with it, the environment files and the input examples. It
leaves out ``registered_model_meta``, which MLflow writes into the folder when it downloads a
registered version (the name and version asked for, not the model), so a version and its run's
``runs:/<run id>/model`` have the same digest. It does not cover the run's other artefacts (the
split, the evaluations), nor the registry's metadata (tags, aliases, descriptions).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from goldenpath.project import Project
from goldenpath.training.tracking import fluent_tracking, mlflow_boundary, tracking_uri

__all__ = ["artifact_digest", "downloaded_model", "model_digest"]

_WRITTEN_ON_DOWNLOAD = frozenset({"registered_model_meta"})
_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_digest(folder: Path) -> str:
    """SHA-256 over the sorted (relative path, SHA-256 of the bytes) of every file below
    ``folder`` but the ones MLflow writes on download."""
    files = sorted(
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).as_posix() not in _WRITTEN_ON_DOWNLOAD
    )
    digest = hashlib.sha256()
    for relative, path in files:
        digest.update(f"{relative}\t{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


@contextmanager
def downloaded_model(project: Project, uri: str) -> Iterator[Path]:
    """The model's MLflow artefact folder (``models:/NAME/VERSION`` or ``runs:/RUN/model``),
    downloaded into a temporary folder that is removed on exit."""
    import mlflow.artifacts

    with (
        fluent_tracking(tracking_uri(project)),
        mlflow_boundary(f"loading {uri}"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        yield Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))


def model_digest(project: Project, uri: str) -> str:
    """The :func:`artifact_digest` of the model at ``uri`` as MLflow serves it now."""
    with downloaded_model(project, uri) as folder:
        return artifact_digest(folder)
