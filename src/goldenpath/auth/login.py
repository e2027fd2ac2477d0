"""``goldenpath login``: the tokens a person keeps for the CLI, one per store, in a file only
they can read (mode 0600) under their configuration folder
(``$XDG_CONFIG_HOME/goldenpath/credentials.json``, by default ``~/.config/goldenpath/``).

A store is known by its id (a random id kept in the store itself), so a project moved to
another folder, or a PostgreSQL store reached by another URL, still finds its token."""

from __future__ import annotations

import json
import os
from pathlib import Path

from goldenpath._files import write_atomic
from goldenpath.settings import config_dir

__all__ = ["credentials_file", "forget_token", "remember_token", "remembered_token"]


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def _read() -> dict[str, str]:
    path = credentials_file()
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable: as if nobody logged in (login writes it anew)
    stores = found.get("stores") if isinstance(found, dict) else None
    return {str(k): str(v) for k, v in stores.items()} if isinstance(stores, dict) else {}


def _write(stores: dict[str, str]) -> None:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps({"stores": stores}, indent=2, sort_keys=True), mode=0o600)
    os.chmod(path, 0o600)  # whatever the umask: the file holds secrets


def remembered_token(store_id: str) -> str | None:
    return _read().get(store_id)


def remember_token(store_id: str, token: str) -> Path:
    stores = _read()
    stores[store_id] = token
    _write(stores)
    return credentials_file()


def forget_token(store_id: str) -> bool:
    stores = _read()
    if stores.pop(store_id, None) is None:
        return False
    _write(stores)
    return True
