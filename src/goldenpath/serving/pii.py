"""PII values as the prediction log holds them: HMAC-SHA256 with a secret key, hex.

A plain SHA-256 of an e-mail address is reversed by hashing a dictionary of addresses; a keyed
HMAC is not, without the key. The key is the text of ``GOLDENPATH_PII_KEY`` when it is set (the
same on every machine whose logs must join), else the project's own key: 32 random bytes, as hex
text, generated once in ``.goldenpath/pii.key`` (mode 0600, created atomically: two processes
starting together end with the same key). Equal values give equal digests under one key, so
rows can still be grouped and joined by them; the key itself is never logged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldenpath.settings import PII_KEY_VAR, pii_key_override

__all__ = ["KEY_FILE", "PiiKey", "hash_pii", "pii_key"]

KEY_FILE = "pii.key"
_logger = logging.getLogger("goldenpath.serving")


@dataclass(frozen=True)
class PiiKey:
    """The HMAC key, and where it came from (``GOLDENPATH_PII_KEY`` or the key file's path)."""

    key: bytes
    source: str

    def __repr__(self) -> str:  # never show the key
        return f"PiiKey(source={self.source!r})"


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC with the key already absorbed: a copy per value costs 40% less than a new one."""
    return hmac.new(key, digestmod=hashlib.sha256)


def hash_pii(value: Any, key: bytes) -> str | None:
    """The hex HMAC-SHA256 of ``str(value)`` under ``key``; None stays None."""
    if value is None:
        return None
    # surrogatepass: a lone surrogate (which valid text never holds) still gets a digest
    digest = _keyed(key).copy()
    digest.update(str(value).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _create(path: Path) -> None:
    """Write a new random key to ``path`` (0600) unless a file is there already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".partial", dir=path.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="ascii") as stream:
            stream.write(secrets.token_bytes(32).hex() + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def pii_key(state_dir: Path) -> PiiKey:
    """The key PII is hashed with: ``GOLDENPATH_PII_KEY``, else ``<state_dir>/pii.key`` (made
    on first use)."""
    given = pii_key_override()
    if given is not None:
        return PiiKey(given.encode("utf-8"), PII_KEY_VAR)
    path = state_dir / KEY_FILE
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _logger.warning(
            "%s can be read by other users (mode %o); run: chmod 600 %s", path, mode, path
        )
    return PiiKey(path.read_text(encoding="ascii").strip().encode("ascii"), str(path))
