"""The training entrypoint: ``module:function`` in the project, called as
``function(train_frame, params)`` and expected to return a fitted estimator."""

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

__all__ = ["Entrypoint", "load_entrypoint"]

TrainFunction = Callable[[pd.DataFrame, dict[str, Any]], Any]


@dataclass(frozen=True)
class Entrypoint:
    """A resolved entrypoint and the file it came from (for lineage and model packaging)."""

    spec: str
    function: TrainFunction
    source_file: Path | None
    modules: frozenset[str]  # top-level modules that importing the entrypoint brought in

    def fit(self, frame: pd.DataFrame, params: dict[str, Any], *, seed: int) -> Any:
        """Seed Python and NumPy, call the function, and check that it returned a model."""
        random.seed(seed)
        np.random.seed(seed)
        try:
            model = self.function(frame, {**params, "seed": seed})
        except Exception as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            raise EntrypointFailed(
                f"training entrypoint {self.spec} raised {type(exc).__name__}: {exc} "
                f"(at {last.filename}:{last.lineno})",
                hint="fix the training code or training.params in goldenpath.yaml",
                details={
                    "exception": type(exc).__name__,
                    "file": last.filename,
                    "line": last.lineno,
                },
            ) from exc
        if not callable(getattr(model, "predict", None)):
            raise NotAModel(
                f"training entrypoint {self.spec} returned {type(model).__name__}, "
                "which has no predict method",
                hint="return the fitted scikit-learn estimator or Pipeline itself",
            )
        return model


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
    for loaded in [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]:
        del sys.modules[loaded]
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
                hint="install the missing package or fix the import",
            ) from None
        except Exception as exc:
            raise EntrypointFailed(
                f"importing {module_name!r} raised {type(exc).__name__}: {exc}",
                hint="fix the module so that it imports cleanly",
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
    return Entrypoint(spec=spec, function=function, source_file=source_file, modules=new_modules)
