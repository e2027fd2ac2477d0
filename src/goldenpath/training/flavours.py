"""How a fitted model is saved and loaded: its MLflow flavour and its serialization.

:func:`model_format` decides, before MLflow is touched, how ``train`` saves the estimator the
entrypoint returned; :func:`log_model` logs it so; :func:`load_native` loads a logged model
back as the estimator itself (what evaluation and the server call ``predict`` and
``predict_proba`` on), whatever its flavour.

- An ``LGBMClassifier`` or ``LGBMRegressor``: MLflow's ``lightgbm`` flavour, saved with skops
  (trusting LightGBM's own classes, whose state is LightGBM's model text), or with cloudpickle
  if ``training.serialization`` says so.
- An ``XGBClassifier`` or ``XGBRegressor``: MLflow's ``xgboost`` flavour, saved in XGBoost's own
  UBJSON format, which is data only (``training.serialization`` does not apply).
- Anything else, including a scikit-learn ``Pipeline`` that ends in one of the above: the
  ``sklearn`` flavour, saved with skops, or with cloudpickle if ``training.serialization`` says so.

skops runs no code on load: it rebuilds only the types recorded as trusted (those of this very
model, since goldenpath wrote the file itself; the digest the server checks covers the list).
A booster inside a pipeline is rebuilt by its library from its own model bytes. cloudpickle
executes code on load and is used only when ``training.serialization`` says so; a model skops
cannot write or read back is refused (:class:`~goldenpath.errors.ModelNotLoadable`) with that
setting as one of the fixes.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from goldenpath.errors import ModelNotLoadable
from goldenpath.training.roundtrip import skops_trusted_types

__all__ = [
    "BOOSTING_LIBRARIES",
    "Flavour",
    "ModelFormat",
    "Requested",
    "Serialization",
    "boosting_libraries",
    "install_hint",
    "library_requirements",
    "load_native",
    "log_model",
    "model_format",
]

Flavour = Literal["sklearn", "lightgbm", "xgboost"]
Serialization = Literal["skops", "cloudpickle", "xgboost_ubj"]
Requested = Literal["skops", "cloudpickle"]

# library -> (the module of its scikit-learn API, the base class of its estimators there)
BOOSTING_LIBRARIES: dict[str, tuple[str, str]] = {
    "lightgbm": ("lightgbm.sklearn", "LGBMModel"),
    "xgboost": ("xgboost.sklearn", "XGBModel"),
}
# the distributions that may provide each library's module, the one goldenpath's extra installs
# first (xgboost-cpu: the CPU-only wheel, without NCCL)
_DISTRIBUTIONS = {"lightgbm": ("lightgbm",), "xgboost": ("xgboost-cpu", "xgboost")}


@dataclass(frozen=True)
class ModelFormat:
    """How one fitted model is logged: flavour, file format, what skops trusts, and the
    boosting libraries it needs to load."""

    flavour: Flavour
    serialization: Serialization
    requested: Requested
    trusted_types: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()

    @property
    def executes_code_on_load(self) -> bool:
        return self.serialization == "cloudpickle"

    def to_dict(self) -> dict[str, object]:
        """What ``lineage.json`` records under ``model``."""
        return {**asdict(self), "executes_code_on_load": self.executes_code_on_load}


def _library_of(estimator: Any) -> str | None:
    """``lightgbm`` or ``xgboost`` when ``estimator`` is one of that library's scikit-learn
    estimators (the library is imported already if the model holds one)."""
    for library, (module_name, base) in BOOSTING_LIBRARIES.items():
        module = sys.modules.get(module_name)
        if module is not None and isinstance(estimator, getattr(module, base)):
            return library
    return None


def boosting_libraries(model: Any) -> tuple[str, ...]:
    """The boosting libraries whose estimators ``model`` is or holds (a pipeline's steps, a
    column transformer's parts, as ``get_params(deep=True)`` reaches them)."""
    parts = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        with contextlib.suppress(Exception):  # a broken get_params: the model alone is looked at
            parts += list(get_params(deep=True).values())
    return tuple(sorted({lib for part in parts if (lib := _library_of(part)) is not None}))


def model_format(model: Any, requested: Requested) -> ModelFormat:
    """How to save ``model`` given ``training.serialization``; with skops, the model's round
    trip through skops is checked here (:class:`ModelNotLoadable` if it fails)."""
    libraries = boosting_libraries(model)
    own = _library_of(model)
    if own == "xgboost":
        return ModelFormat("xgboost", "xgboost_ubj", requested, (), libraries)
    flavour: Flavour = "lightgbm" if own == "lightgbm" else "sklearn"
    if requested == "cloudpickle":
        return ModelFormat(flavour, "cloudpickle", requested, (), libraries)
    trusted = tuple(skops_trusted_types(model))
    return ModelFormat(flavour, "skops", requested, trusted, libraries)


def library_requirements(libraries: tuple[str, ...]) -> list[str]:
    """Pinned pip requirements for the boosting libraries (the distribution installed here)."""
    pins = []
    for library in libraries:
        for distribution in _DISTRIBUTIONS.get(library, (library,)):
            try:
                pins.append(f"{distribution}=={metadata.version(distribution)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return pins


def log_model(model: Any, fmt: ModelFormat, **common: Any) -> Any:
    """Log ``model`` to the active MLflow run in its flavour; ``common`` holds what every
    flavour takes (name, signature, input example, pip requirements, code paths). MLflow's
    ``ModelInfo``."""
    trusted = list(fmt.trusted_types) or None
    if fmt.flavour == "xgboost":
        import mlflow.xgboost

        return mlflow.xgboost.log_model(model, model_format="ubj", **common)
    if fmt.flavour == "lightgbm":
        import mlflow.lightgbm

        return mlflow.lightgbm.log_model(
            model,
            serialization_format=fmt.serialization,
            skops_trusted_types=trusted,
            **common,
        )
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        model, serialization_format=fmt.serialization, skops_trusted_types=trusted, **common
    )


def install_hint(module: str | None) -> str | None:
    """How to install the boosting library a missing ``module`` belongs to (``lightgbm``,
    ``xgboost.sklearn``, ...), or None when it is not one goldenpath has an extra for."""
    library = (module or "").split(".")[0]
    if library not in BOOSTING_LIBRARIES:
        return None
    return f"install it with: pip install 'goldenpath[{library}]'"


def load_native(folder: Path) -> Any:
    """The estimator saved in the MLflow model folder ``folder``, as the library made it (an
    ``LGBMClassifier``, an ``XGBRegressor``, a scikit-learn ``Pipeline``); a boosting library
    the model needs but that is not installed is :class:`ModelNotLoadable` with the extra to
    install."""
    from mlflow.models import Model

    flavours = Model.load(str(folder)).flavors
    try:
        if "xgboost" in flavours:
            import mlflow.xgboost

            return mlflow.xgboost.load_model(str(folder))
        if "lightgbm" in flavours:
            import mlflow.lightgbm

            return mlflow.lightgbm.load_model(str(folder))
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(folder))
    except ImportError as exc:
        hint = install_hint(exc.name)
        if hint is None:
            raise
        missing = (exc.name or "").split(".")[0]
        raise ModelNotLoadable(
            f"the model needs {missing}, which is not installed here",
            hint=hint,
            details={"stage": "loading the model", "missing": missing},
        ) from exc
