"""The one place goldenpath reads environment variables: deployment concerns only (where the
stores are, the token to act with, secrets). Everything about the model lives in
``goldenpath.yaml``."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CHECKPOINT_KEY_VAR",
    "PII_KEY_VAR",
    "SERVE_HOST_VAR",
    "SERVE_PROJECT_VAR",
    "STORE_URI_VAR",
    "TOKEN_VAR",
    "TRACKING_URI_VAR",
    "USER_VAR",
    "checkpoint_key_override",
    "claimed_user",
    "config_dir",
    "os_user",
    "pii_key_override",
    "restored_environment",
    "served_host",
    "served_project",
    "store_uri_override",
    "token_override",
    "tracking_uri_override",
]

TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"
STORE_URI_VAR = "GOLDENPATH_STORE_URI"
USER_VAR = "GOLDENPATH_USER"  # refused: identity is proven, not claimed
TOKEN_VAR = "GOLDENPATH_TOKEN"
SERVE_PROJECT_VAR = "GOLDENPATH_SERVE_PROJECT"  # set by `goldenpath serve` for its workers
SERVE_HOST_VAR = "GOLDENPATH_SERVE_HOST"  # ... and the address it binds to
PII_KEY_VAR = "GOLDENPATH_PII_KEY"
CHECKPOINT_KEY_VAR = "GOLDENPATH_CHECKPOINT_KEY"


def tracking_uri_override() -> str | None:
    """``MLFLOW_TRACKING_URI`` when set: a shared MLflow server instead of the embedded store."""
    return os.environ.get(TRACKING_URI_VAR) or None


def store_uri_override() -> str | None:
    """``GOLDENPATH_STORE_URI`` when set: a shared PostgreSQL store instead of the project's
    SQLite file (``postgresql+psycopg://user@host:5432/db``)."""
    return os.environ.get(STORE_URI_VAR) or None


def pii_key_override() -> str | None:
    """``GOLDENPATH_PII_KEY`` when set: the secret the prediction log's PII columns are hashed
    with (HMAC-SHA256), instead of the project's generated ``.goldenpath/pii.key``."""
    return os.environ.get(PII_KEY_VAR) or None


def checkpoint_key_override() -> Path | None:
    """``GOLDENPATH_CHECKPOINT_KEY`` when set: the Ed25519 private key file (PEM) that
    ``goldenpath audit checkpoint`` signs with when no ``--key`` is given."""
    value = os.environ.get(CHECKPOINT_KEY_VAR, "").strip()
    return Path(value).expanduser() if value else None


def served_project() -> str | None:
    """The project folder ``goldenpath serve`` hands to its worker processes."""
    return os.environ.get(SERVE_PROJECT_VAR) or None


def served_host() -> str | None:
    """The address ``goldenpath serve`` binds to, handed to its worker processes."""
    return os.environ.get(SERVE_HOST_VAR) or None


def claimed_user() -> str | None:
    """``GOLDENPATH_USER``, the claimed name earlier versions acted as: read only to refuse it
    (:mod:`goldenpath.auth` says what replaced it)."""
    return os.environ.get(USER_VAR, "").strip() or None


def token_override() -> str | None:
    """``GOLDENPATH_TOKEN``: the token to act with, before any kept by ``goldenpath login``."""
    return os.environ.get(TOKEN_VAR, "").strip() or None


def os_user() -> str:
    """The operating-system account running this process (the identity of a store in
    ``local`` auth mode): looked up by the process's user id, not read from ``USER`` or
    ``LOGNAME``, which anyone can set."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"


def config_dir() -> Path:
    """The user's goldenpath configuration folder: ``$XDG_CONFIG_HOME/goldenpath``, by default
    ``~/.config/goldenpath``."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "goldenpath"


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
