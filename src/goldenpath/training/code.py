"""The user's own code that ships with a model: the project's modules and packages that the
training entrypoint imports, directly or through each other.

They are found statically: the entrypoint's file is parsed with :mod:`ast`, every ``import a.b``
and ``from a import b`` (relative imports inside packages too, and imports inside function
bodies) is resolved against the project folder, and each file found is parsed in turn. Comparing
``sys.modules`` before and after importing the entrypoint was the alternative; it was not chosen
because it depends on what the process imported before (a notebook, a test session, a second
``train`` in the same process that finds ``mylib`` already imported from another folder) and
misses imports that only run when the training function is called. What a static walk cannot
see, a module imported by a computed name (``importlib.import_module(name)``), is caught by the
load check (:mod:`goldenpath.training.roundtrip`), which refuses a model that does not load
without the project folder.

What is packed is the top-level unit of each local module: the file ``helpers.py`` for a module,
the folder ``mylib/`` for a package (``__init__.py`` required), with only its ``.py`` files:
never ``__pycache__``, hidden folders, virtual environments, ``.goldenpath/`` or data files.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalCode", "code_files", "find_local_code", "stage_code"]


@dataclass(frozen=True)
class LocalCode:
    """The project's own modules the entrypoint needs, and the paths packed with the model."""

    root: Path
    modules: tuple[str, ...]  # dotted names of the local modules found, sorted
    paths: tuple[Path, ...]  # top-level module files and package folders, sorted

    @property
    def top_level(self) -> frozenset[str]:
        """The top-level names of the local modules (``mylib`` for ``mylib.models``)."""
        return frozenset(name.partition(".")[0] for name in self.modules)

    def relative(self) -> tuple[str, ...]:
        """The packed paths relative to the project folder, a package folder with a ``/``."""
        return tuple(
            path.relative_to(self.root).as_posix() + ("/" if path.is_dir() else "")
            for path in self.paths
        )


def _is_excluded_folder(folder: Path) -> bool:
    """Folders never packed: hidden ones (``.goldenpath``, ``.venv``), caches, virtualenvs."""
    return (
        folder.name.startswith(".")
        or folder.name == "__pycache__"
        or (folder / "pyvenv.cfg").exists()
    )


def _module_file(name: str, root: Path) -> Path | None:
    """The file of module ``name`` inside ``root`` (a package's ``__init__.py``), or None when
    the name is not a module of the project (an installed package, an attribute, a typo).
    A package wins over a module of the same name, as in Python's own import system."""
    parts = name.split(".")
    folder = root
    for position, part in enumerate(parts):
        if not part.isidentifier():
            return None
        package = folder / part
        if (package / "__init__.py").is_file() and not _is_excluded_folder(package):
            if position == len(parts) - 1:
                return package / "__init__.py"
            folder = package
            continue
        module = folder / f"{part}.py"
        return module if position == len(parts) - 1 and module.is_file() else None
    return None


def _imported_names(file: Path, module: str) -> Iterator[str]:
    """Every module name ``file`` (module ``module``) imports, relative imports made absolute.
    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule or an attribute)."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return  # importing it fails on its own, with the entrypoint's error
    package = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up > len(package):
                    continue
                base = package[: len(package) - up]
                parts = [*base, *(node.module.split(".") if node.module else [])]
                if not parts:
                    continue
                source = ".".join(parts)
            elif node.module:
                source = node.module
            else:
                continue
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names if alias.name != "*")


def find_local_code(entry_module: str, root: Path) -> LocalCode:
    """The project's modules that ``entry_module`` imports, transitively (itself included when
    it is a file of the project), and the top-level paths to pack for them."""
    root = root.resolve()
    found: dict[str, Path] = {}
    pending = [entry_module]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        file = _module_file(name, root)
        if file is None:
            continue
        found[name] = file
        parts = name.split(".")
        pending.extend(".".join(parts[:end]) for end in range(1, len(parts)))  # parents run too
        pending.extend(_imported_names(file, name))
    paths = set()
    for name in found:
        top = name.partition(".")[0]
        package = root / top
        paths.add(package if (package / "__init__.py").is_file() else root / f"{top}.py")
    return LocalCode(root=root, modules=tuple(sorted(found)), paths=tuple(sorted(paths)))


def code_files(path: Path) -> list[Path]:
    """The files packed for ``path``: the file itself, or a package's ``.py`` files (sorted),
    without caches, hidden folders and virtualenvs below it."""
    if not path.is_dir():
        return [path]
    files = []
    for file in sorted(path.rglob("*.py")):
        folders = file.relative_to(path).parents
        if any(_is_excluded_folder(path / folder) for folder in folders if str(folder) != "."):
            continue
        files.append(file)
    return files


def stage_code(code: LocalCode, folder: Path) -> list[str]:
    """Copy the packed files into ``folder`` (one entry per top-level path) and return the
    paths to hand MLflow as ``code_paths``: only code is packed, never data next to it."""
    staged = []
    for path in code.paths:
        for file in code_files(path):
            target = folder / file.relative_to(code.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
        staged.append(str(folder / path.name))
    return staged
