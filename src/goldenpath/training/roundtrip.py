"""Nothing is registered that cannot be loaded: the model's round trip through its saved form.

Two checks, cheapest first:

1. :func:`skops_trusted_types` writes the model with skops (in which loading runs no code) and
   loads the bytes back in this process. A model skops cannot write, or writes but cannot read
   back (a ``FunctionTransformer(lambda ...)``: skops stores a function by its importable name,
   and a lambda has none), is refused here, before MLflow is touched, naming the object and
   the fixes: a named function, or ``training.serialization: cloudpickle`` (which executes code
   on load, so it is never picked without being asked for; see
   :mod:`goldenpath.training.flavours`).
2. :func:`check_loadable` loads the logged model's files with ``mlflow.pyfunc.load_model`` and
   scores its input example in a fresh Python process whose working directory is a temporary
   folder and whose ``sys.path`` holds nothing from the project folder, as a server or a
   colleague's notebook would. A module the model needs but that was not packed, or a class
   that cannot be found by its name, fails here. It costs a Python start and the imports of
   MLflow, scikit-learn and skops: 5 to 6.5 s measured on a busy 2-core machine (docs/cli.md,
   ``train``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from goldenpath.errors import ModelNotLoadable

__all__ = ["LOAD_CHECK_TIMEOUT_S", "check_loadable", "skops_trusted_types", "unnamed_callables"]

LOAD_CHECK_TIMEOUT_S = 600

_FIX_UNNAMED = (
    "use a named function defined at the top level of a module in the project folder instead "
    "of a lambda or a nested function (for example FunctionTransformer(mylib.features.clean), "
    "with `def clean(frame): ...` in mylib/features.py); the project's modules the entrypoint "
    "imports are packed with the model; or, if the model must hold it, set "
    "`training.serialization: cloudpickle` in goldenpath.yaml (cloudpickle stores the function "
    "itself, and executes code on load)"
)
_FIX_UNWRITABLE = (
    "set `training.serialization: cloudpickle` in goldenpath.yaml (cloudpickle stores any "
    "Python object, and executes code on load), or return an estimator made of scikit-learn, "
    "LightGBM or XGBoost parts and named functions"
)
_FIX_MISSING = (
    "import the module the model needs from the entrypoint (or from a module it imports) with "
    "a plain `import` or `from ... import` statement, so that it is found and packed with the "
    "model; a module imported by a computed name is not, and a package needs an __init__.py"
)

# Run as ``python -c PROBE MODEL_DIR PROJECT_ROOT RESULT_FILE`` in a temporary folder.
_PROBE = r"""
import json, os, sys, traceback
model_dir, root, result_file = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
def inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
def in_project(path):
    path = os.path.realpath(path)
    return inside(path, root) and not any(inside(path, p) for p in installed)
sys.path[:] = [p for p in sys.path if p and not in_project(p)]
result = {"ok": False, "stage": "importing mlflow"}
try:
    import mlflow.pyfunc
    from mlflow.models import Model
    result["stage"] = "loading the model"
    # same environment: skip the requirement check (1.7 s scanning installed packages)
    model = mlflow.pyfunc.load_model(model_dir, suppress_warnings=True)
    result["stage"] = "reading the input example"
    example = Model.load(model_dir).load_input_example(model_dir)
    result["stage"] = "scoring the input example"
    predictions = model.predict(example)
    result["rows"] = len(predictions)
    result["from_project"] = sorted(
        name for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and in_project(module.__file__)
    )
    result["ok"] = not result["from_project"]
except BaseException as exc:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    result.update(
        exception=type(exc).__name__, message=str(exc), missing=getattr(exc, "name", None),
        where=f"{frame.filename}:{frame.lineno}",
    )
with open(result_file, "w") as out:
    json.dump(result, out)
"""


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops must trust to load ``model`` back (those of this very model, since
    goldenpath wrote the file itself), after checking that it does load back.
    :class:`ModelNotLoadable` if skops cannot write the model, or cannot read it back."""
    import skops.io

    try:
        data = skops.io.dumps(model)
        trusted = list(skops.io.get_untrusted_types(data=data))
    except Exception as exc:  # skops cannot represent the model
        raise ModelNotLoadable(
            f"the fitted model cannot be saved with skops: {type(exc).__name__}: {exc}; "
            "nothing was registered",
            hint=_FIX_UNWRITABLE,
            details={
                "stage": "skops round trip",
                "exception": type(exc).__name__,
                "error": str(exc),
            },
        ) from exc
    try:
        skops.io.loads(data, trusted=trusted)
    except Exception as exc:
        unnamed = unnamed_callables(model)
        culprit = (
            f"{', '.join(unnamed)} cannot be found by name when loading"
            if unnamed
            else f"types it stores by name: {', '.join(trusted) or 'none'}"
        )
        raise ModelNotLoadable(
            f"the fitted model does not load back from skops: {type(exc).__name__}: {exc} "
            f"({culprit}); nothing was registered",
            hint=_FIX_UNNAMED,
            details={
                "stage": "skops round trip",
                "exception": type(exc).__name__,
                "error": str(exc),
                "objects": unnamed,
            },
        ) from exc
    return trusted


def unnamed_callables(model: Any) -> list[str]:
    """The estimator parameters (``step__func`` as scikit-learn names them) holding a lambda or
    a function defined inside another function: what no loader can import by name."""
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return []
    try:
        params = get_params(deep=True)
    except Exception:  # a broken get_params is not this check's concern
        return []
    found = []
    for key, value in params.items():
        qualname = getattr(value, "__qualname__", "")
        if callable(value) and not isinstance(value, type) and "<" in qualname:
            found.append(f"{key}={getattr(value, '__module__', '?')}.{qualname}")
    return sorted(found)


def _environment(root: Path) -> dict[str, str]:
    """This process's environment with the project folder (and the current folder, an empty
    entry) left out of ``PYTHONPATH``."""
    env = dict(os.environ)
    kept = [
        entry
        for entry in env.get("PYTHONPATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(root.resolve())
    ]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    return env


def check_loadable(model_dir: Path, root: Path) -> float:
    """Load the model saved in ``model_dir`` and score its input example in a fresh Python
    process that cannot see the project folder ``root``; the seconds it took. Raises
    :class:`ModelNotLoadable` naming what failed and how to fix it."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="goldenpath-load-check-") as tmp:
        result_file = Path(tmp) / "result.json"
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE, str(model_dir), str(root), str(result_file)],
                cwd=tmp,
                env=_environment(root),
                capture_output=True,
                text=True,
                timeout=LOAD_CHECK_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ModelNotLoadable(
                f"loading the logged model in a fresh process did not finish within "
                f"{LOAD_CHECK_TIMEOUT_S} s; nothing was registered",
                hint="make the model load faster (a server loads it the same way)",
                details={"stage": "timeout"},
            ) from None
        if not result_file.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise ModelNotLoadable(
                f"the process loading the logged model exited with {done.returncode} "
                f"without a result: {' | '.join(tail) or 'no output'}; nothing was registered",
                hint="run the model's loading by hand with mlflow.pyfunc.load_model to see why",
                details={"stage": "process", "returncode": done.returncode},
            )
        result = json.loads(result_file.read_text())
    if not result["ok"]:
        raise _not_loadable(result, root)
    return time.perf_counter() - started


def _not_loadable(result: dict[str, Any], root: Path) -> ModelNotLoadable:
    details = {key: value for key, value in result.items() if key != "ok"}
    if result.get("from_project"):
        names = ", ".join(result["from_project"])
        return ModelNotLoadable(
            f"the logged model loaded modules from the project folder {root} rather than from "
            f"the code packed with it ({names}); nothing was registered",
            hint=_FIX_MISSING,
            details=details,
        )
    exception, message = result.get("exception", "?"), result.get("message", "")
    missing = result.get("missing")
    if exception == "ModuleNotFoundError" and missing:
        what = f"module {missing!r} is not packed with the model nor installed"
        hint = _FIX_MISSING
    elif exception == "AttributeError" and "<" in message:
        what = "an object it refers to by name (a lambda or nested function) has no such name"
        hint = _FIX_UNNAMED
    else:
        what = f"it fails outside the project folder at {result.get('where')}"
        hint = f"{_FIX_MISSING}; {_FIX_UNNAMED}"
    return ModelNotLoadable(
        f"the logged model does not load outside the project: {result['stage']} raised "
        f"{exception}: {message} ({what}); nothing was registered",
        hint=hint,
        details=details,
    )
