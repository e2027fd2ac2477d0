"""The one place goldenpath reads environment variables: deployment concerns only (where the
stores are, who the user is). Everything about the model lives in ``goldenpath.yaml``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["TRACKING_URI_VAR", "restored_environment", "tracking_uri_override"]

TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"


def tracking_uri_override() -> str | None:
    """``MLFLOW_TRACKING_URI`` when set: a shared MLflow server instead of the embedded store."""
    return os.environ.get(TRACKING_URI_VAR) or None


@contextmanager
def restored_environment(*names: str) -> Iterator[None]:
    """Undo changes that third-party code makes to these variables (MLflow's fluent API sets
    ``MLFLOW_TRACKING_URI`` process-wide), so one project's URI never leaks into the next."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
