"""Lineage of a run: where the code, the environment and the data came from."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from goldenpath._version import __version__

__all__ = ["CodeVersion", "Environment", "code_version", "environment", "source_hash"]

KEY_PACKAGES = (
    "goldenpath",
    "mlflow",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "pyarrow",
    "pandera",
    "pydantic",
)
NOT_A_GIT_REPO = "not a git repo"


@dataclass(frozen=True)
class CodeVersion:
    """The git state of the project folder, and a hash of the entrypoint's source."""

    git_commit: str
    git_dirty: bool | None
    source_hash: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    packages: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_hash(path: Path | None) -> str | None:
    """SHA-256 over the entrypoint file (or every .py file of a package folder)."""
    if path is None or not path.exists():
        return None
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def code_version(root: Path, entrypoint_file: Path | None) -> CodeVersion:
    """Git commit and dirty flag of ``root`` (only changes inside ``root`` count as dirty)."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty: bool | None = None
    if commit is None:
        commit = NOT_A_GIT_REPO
    else:
        status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
        dirty = bool(status) if status is not None else None
    return CodeVersion(git_commit=commit, git_dirty=dirty, source_hash=source_hash(entrypoint_file))


@functools.cache
def _module_distributions() -> dict[str, list[str]]:
    """Top-level module -> distributions; scanning every installed package costs ~0.5 s."""
    return dict(metadata.packages_distributions())


def _distributions_of(modules: Iterable[str]) -> set[str]:
    mapping = _module_distributions()
    return {dist for module in modules for dist in mapping.get(module, [])}


def environment(extra_modules: Iterable[str] = ()) -> Environment:
    """Python, platform, and the versions of the key packages and of every installed
    distribution that provides one of ``extra_modules`` (what the entrypoint imported)."""
    packages: dict[str, str] = {}
    for name in sorted({*KEY_PACKAGES, *_distributions_of(extra_modules)}, key=str.lower):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    packages["goldenpath"] = __version__
    return Environment(
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=packages,
    )
