"""Lineage of a run: where the code, the environment and the data came from."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from goldenpath._version import __version__
from goldenpath.training.code import code_files

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
    """The git state of the project folder, a hash of the entrypoint's source (with the
    project's modules it imports), and those packed with the model, relative to the project."""

    git_commit: str
    git_dirty: bool | None
    source_hash: str | None
    packed_code: tuple[str, ...] = ()

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


Sources = Path | Sequence[Path] | None


def _as_paths(sources: Sources) -> list[Path]:
    if sources is None:
        return []
    return [sources] if isinstance(sources, Path) else sorted(sources)


def source_hash(sources: Sources) -> str | None:
    """SHA-256 over the entrypoint file, or over the files packed with the model (each file,
    or the .py files of a package folder); one file hashes as it always did."""
    paths = [path for path in _as_paths(sources) if path.exists()]
    if not paths:
        return None
    digest = hashlib.sha256()
    for path in paths:
        for file in code_files(path):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def code_version(root: Path, sources: Sources, packed: Sequence[str] = ()) -> CodeVersion:
    """Git commit and dirty flag of ``root`` (only changes inside ``root`` count as dirty), the
    hash of ``sources``, and ``packed``: the paths packed with the model, relative to ``root``."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty: bool | None = None
    if commit is None:
        commit = NOT_A_GIT_REPO
    else:
        status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
        dirty = bool(status) if status is not None else None
    return CodeVersion(
        git_commit=commit,
        git_dirty=dirty,
        source_hash=source_hash(sources),
        packed_code=tuple(packed),
    )


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
