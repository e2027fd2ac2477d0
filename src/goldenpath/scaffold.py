"""``goldenpath init``: scaffold a project from a bundled example."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from goldenpath.errors import DestinationExists, UnknownExample
from goldenpath.spec.loader import SPEC_FILENAME

__all__ = ["available_examples", "init_project"]

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".goldenpath")


def _examples_root() -> Path:
    return Path(str(resources.files("goldenpath") / "examples"))


def available_examples() -> list[str]:
    """Names of the bundled examples."""
    root = _examples_root()
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILENAME).is_file())


def init_project(destination: Path, example: str) -> Path:
    """Copy ``example`` into ``destination`` (which must not exist or be an empty folder)."""
    names = available_examples()
    if example not in names:
        raise UnknownExample(
            f"there is no bundled example {example!r}",
            hint=f"pick one of: {', '.join(names)}",
            details={"examples": names},
        )
    target = destination.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DestinationExists(
            f"{target} already exists and is not an empty folder",
            hint="choose a new folder name, or remove the existing one first",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_examples_root() / example, target, ignore=_IGNORED, dirs_exist_ok=True)
    (target / ".gitignore").write_text("# goldenpath's embedded stores\n.goldenpath/\n")
    return target
