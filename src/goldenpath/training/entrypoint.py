"""The training entrypoint: ``module:function`` in the project, called as
``function(train_frame, params)`` and expected to return a fitted estimator.

When it raises, the error points at the deepest frame in the project's own files (the line of
the user's code that called into pandas or scikit-learn), not at the library's internals."""

from __future__ import annotations

import importlib
import random
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.errors import EntrypointFailed, EntrypointNotFound, NotAModel
from goldenpath.training.code import LocalCode, find_local_code
from goldenpath.training.flavours import install_hint

__all__ = ["Entrypoint", "load_entrypoint"]

TrainFunction = Callable[[pd.DataFrame, dict[str, Any]], Any]


@dataclass(frozen=True)
class Entrypoint:
    """A resolved entrypoint, the file it came from, and the project's code it needs (for
    lineage and model packaging)."""

    spec: str
    function: TrainFunction
    source_file: Path | None
    modules: frozenset[str]  # top-level modules that importing the entrypoint brought in
    root: Path
    code: LocalCode

    @property
    def sources(self) -> Path | tuple[Path, ...] | None:
        """What the source hash covers: the packed project code, else the entrypoint's file."""
        return self.code.paths or self.source_file

    def fit(self, frame: pd.DataFrame, params: dict[str, Any], *, seed: int) -> Any:
        """Seed Python and NumPy, call the function, and check that it returned a model."""
        random.seed(seed)
        np.random.seed(seed)
        try:
            model = self.function(frame, {**params, "seed": seed})
        except Exception as exc:
            where, details = _user_frame(exc, self.root)
            missing = exc.name if isinstance(exc, ImportError) else None
            raise EntrypointFailed(
                f"training entrypoint {self.spec} raised {type(exc).__name__}: {exc} ({where})",
                hint=install_hint(missing)
                or "fix the training code or training.params in goldenpath.yaml",
                details={"exception": type(exc).__name__, **details},
            ) from exc
        if not callable(getattr(model, "predict", None)):
            raise NotAModel(
                f"training entrypoint {self.spec} returned {type(model).__name__}, "
                "which has no predict method",
                hint="return the fitted scikit-learn estimator or Pipeline itself",
            )
        return model


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` but not in the running Python's own installation
    (a virtualenv inside the project folder holds libraries, not the user's code)."""
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return path.is_relative_to(folder) and not any(path.is_relative_to(p) for p in installed)


def _user_frame(exc: BaseException, root: Path) -> tuple[str, dict[str, object]]:
    """Where ``exc`` was raised, as the deepest frame in the project's own files (falling back
    to the deepest frame when none is): ``at FILE:LINE: CODE`` and its details. When a library
    raised it further down, that frame is named too (``raised in``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    folder = root.resolve()
    own = [f for f in frames if _inside(Path(f.filename).resolve(), folder)]
    frame = own[-1] if own else frames[-1]
    code = (frame.line or "").strip()
    where = f"at {frame.filename}:{frame.lineno}" + (f": {code}" if code else "")
    details: dict[str, object] = {"file": frame.filename, "line": frame.lineno, "code": code}
    deepest = frames[-1]
    if deepest is not frame:
        where += f"; raised in {deepest.filename}:{deepest.lineno}"
        details["raised_in"] = f"{deepest.filename}:{deepest.lineno}"
    return where, details


@contextmanager
def _importable_from(root: Path) -> Iterator[None]:
    """Put ``root`` first on sys.path and keep Python from writing bytecode into the project."""
    path = str(root)
    previous = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.dont_write_bytecode = previous
        if path in sys.path:
            sys.path.remove(path)


def load_entrypoint(spec: str, root: Path) -> Entrypoint:
    """Import ``module:function`` from the project at ``root`` afresh (picking up code edits)."""
    module_name, _, function_name = spec.partition(":")
    fix = "set training.entrypoint in goldenpath.yaml to module:function of a file in the project"
    code = find_local_code(module_name, root)
    _forget({module_name, *code.top_level})
    before = set(sys.modules)
    with _importable_from(root):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise EntrypointNotFound(
                    f"training.entrypoint {spec!r}: no module {module_name!r} in {root}",
                    hint=fix,
                ) from None
            raise EntrypointFailed(
                f"importing {module_name!r} failed: {exc}",
                hint=install_hint(exc.name) or "install the missing package or fix the import",
            ) from None
        except Exception as exc:
            where, details = _user_frame(exc, root)
            raise EntrypointFailed(
                f"importing {module_name!r} raised {type(exc).__name__}: {exc} ({where})",
                hint="fix the module so that it imports cleanly",
                details={"exception": type(exc).__name__, **details},
            ) from None
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        names = [n for n in vars(module) if callable(vars(module)[n]) and not n.startswith("_")]
        raise EntrypointNotFound(
            f"training.entrypoint {spec!r}: module {module_name!r} has no function "
            f"{function_name!r} (callables there: {', '.join(sorted(names)) or 'none'})",
            hint=fix,
        )
    source = getattr(module, "__file__", None)
    source_file = Path(source).resolve() if source else None
    if source_file is not None and source_file.name == "__init__.py":
        source_file = source_file.parent
    new_modules = frozenset(m.partition(".")[0] for m in set(sys.modules) - before)
    return Entrypoint(
        spec=spec,
        function=function,
        source_file=source_file,
        modules=new_modules,
        root=root,
        code=code,
    )


def _forget(names: set[str]) -> None:
    """Drop modules ``names`` and their submodules from ``sys.modules``, so that importing the
    entrypoint picks up code edits, and a module of the same name imported earlier in the
    process from another project folder is not reused."""
    for loaded in list(sys.modules):
        if loaded in names or any(loaded.startswith(name + ".") for name in names):
            del sys.modules[loaded]
