"""Files written whole or not at all.

Every document goldenpath writes (evaluation.json, reports, model cards, monitoring references,
prediction-log files) goes through :func:`write_atomic`: the bytes land in a hidden temporary
file in the same folder, are flushed to disk, get the permissions any new file would get under
the current umask (``mkstemp`` alone would leave them at 0600), and replace the target in one
``rename``. A crash at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Read once, at import: os.umask can only be read by setting it, which would race with threads
# (the prediction-log writer) creating files later.
_UMASK = _read_umask()


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o666) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; the folder is created if needed.
    The file ends with ``mode`` masked by the umask, as :func:`open` would create it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".partial", dir=path.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
