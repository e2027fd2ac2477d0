"""A served model: one registered version, loaded, warmed, with its own batcher.

:func:`predictor` turns an estimator into the function the batcher calls: predictions as the
task's labels (binary: the positive label when the score reaches the spec's threshold, as in
evaluation) and scores (the positive-class probability for binary tasks, the top probability for
multiclass, none for regression), and for multiclass the probability of every class by its label,
as plain JSON-ready Python values.

**Served = judged.** :func:`load_served` downloads a version's MLflow artefact once, computes its
:func:`~goldenpath.evaluation.artifact.artifact_digest` and, before deserialising anything,
compares it with the digest the store expects for that version
(:func:`~goldenpath.store.records.expected_artifact`: the one recorded by the decision that the
newest decision-bearing completed promotion to the version names). Files that differ (a model
replaced in the artefact store after ``gate``) are refused with :class:`RegistryDrift`
(reason :data:`ARTIFACT_MISMATCH`), and so is a version whose promotion or decision row differs
from what the audit chain recorded of it (:class:`AuditChainBroken`: someone wrote the digest in
the database). A version with no digest on record (its decision predates
store revision 0005, or no promotion to it names a decision) is loaded, marked ``unverified``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.errors import ModelContractMismatch, RegistryDrift
from goldenpath.evaluation.evaluate import ModelRef, load_digested
from goldenpath.project import Project
from goldenpath.serving.batcher import Batcher, Columns, Outputs, PredictFn
from goldenpath.serving.validation import RowValidator
from goldenpath.spec.models import Spec
from goldenpath.store import open_store
from goldenpath.store.bindings import require_bound
from goldenpath.store.records import ExpectedArtifact, expected_artifact
from goldenpath.store.schema import decisions, promotions
from goldenpath.training.tracking import fluent_tracking, mlflow_boundary, tracking_uri

__all__ = [
    "ARTIFACT_MISMATCH",
    "ServedModel",
    "check_artifact",
    "check_signature",
    "constant_predictor",
    "load_served",
    "predictor",
    "unverified_reason",
    "warm_columns",
]


FramePredictFn = Callable[[pd.DataFrame], Outputs]

ARTIFACT_MISMATCH = "artifact_mismatch"  # the reason a server gives for refusing such files


def predictor(model: Any, spec: Spec) -> FramePredictFn:
    task = spec.task.type
    if task == "regression":

        def regress(frame: pd.DataFrame) -> Outputs:
            values = np.asarray(model.predict(frame), dtype="float64").tolist()
            return Outputs(values, [None] * len(values))

        return regress
    classes = list(getattr(model, "classes_", []))
    has_proba = callable(getattr(model, "predict_proba", None)) and bool(classes)
    positive = spec.task.positive_label
    threshold = spec.evaluation.threshold
    if task == "binary_classification" and has_proba and positive in classes:
        index = classes.index(positive)
        negative = next((c for c in classes if c != positive), None)

        def binary(frame: pd.DataFrame) -> Outputs:
            score = np.asarray(model.predict_proba(frame))[:, index]
            labels = [positive if s >= threshold else negative for s in score.tolist()]
            return Outputs(_plain(labels), score.tolist())

        return binary
    if has_proba:
        labels = [str(c) for c in _plain(classes)]

        def multiclass(frame: pd.DataFrame) -> Outputs:
            proba = np.asarray(model.predict_proba(frame), dtype="float64")
            top = proba.argmax(axis=1)
            by_class = [dict(zip(labels, row, strict=True)) for row in proba.tolist()]
            return Outputs(_plain([classes[i] for i in top]), proba.max(axis=1).tolist(), by_class)

        return multiclass

    def labels_only(frame: pd.DataFrame) -> Outputs:
        values = _plain(list(model.predict(frame)))
        return Outputs(values, [None] * len(values))

    return labels_only


def constant_predictor(value: Any) -> PredictFn:
    def constant(columns: Columns) -> Outputs:
        n = len(next(iter(columns.values()), []))
        return Outputs([value] * n, [None] * n)

    return constant


def _plain(values: list[Any]) -> list[Any]:
    """numpy scalars to Python ones (JSON-ready)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def warm_columns(validator: RowValidator) -> Columns:
    """One valid row made from the contract alone (first allowed value, a value in range), to
    run a new model once before it takes traffic."""
    row: dict[str, Any] = {}
    for column, spec in validator.specs.items():
        if spec.allowed:
            row[column] = spec.allowed[0]
        elif spec.dtype in ("int", "float"):
            value = spec.min if spec.min is not None else (spec.max if spec.max is not None else 0)
            row[column] = int(value) if spec.dtype == "int" else float(value)
        elif spec.dtype == "bool":
            row[column] = False
        elif spec.dtype == "datetime":
            row[column] = "2024-01-01T00:00:00"
        else:
            row[column] = ""
    return validator.rows([row])


def check_signature(project: Project, ref: ModelRef, frame: pd.DataFrame) -> None:
    """Refuse (:class:`ModelContractMismatch`) a version whose MLflow signature names other
    feature columns, or other types, than the frames the current contract builds: a contract
    edited since training (a column made nullable turns int64 into float64) would otherwise
    feed the model values it was never evaluated on. A version without a signature (not logged
    by goldenpath) is served as it is."""
    from mlflow.models import get_model_info, infer_signature

    with fluent_tracking(tracking_uri(project)), mlflow_boundary(f"reading {ref.uri}"):
        signature = get_model_info(ref.uri).signature
    if signature is None or signature.inputs is None:
        return
    trained = {c["name"]: c["type"] for c in signature.inputs.to_dict() if "name" in c}
    framed = {c["name"]: c["type"] for c in infer_signature(frame).inputs.to_dict()}
    problems = [
        f"{name}: trained on {trained[name]}, the contract now makes it {kind}"
        for name, kind in framed.items()
        if name in trained and trained[name] != kind
    ]
    problems += [f"{n}: a feature now, unknown to the model" for n in framed if n not in trained]
    problems += [
        f"{n}: the model needs it, the contract no longer has it"
        for n in trained
        if n not in framed
    ]
    if problems:
        raise ModelContractMismatch(
            f"version {ref.version} of {ref.name} was trained on other features than the "
            f"contract in goldenpath.yaml now describes: {'; '.join(problems)}",
            hint="restore the contract the model was trained with, or train and promote a new "
            "version under the current one",
            details={"problems": problems},
        )


def unverified_reason(name: str, version: str, expected: ExpectedArtifact | None) -> str | None:
    """Why ``version``'s files cannot be checked against a digest on record (``None``: they
    can)."""
    if expected is None:
        return f"no completed promotion of version {version} of {name} names a decision"
    if expected.artifact_sha256 is None:
        return (
            f"decision {expected.decision_id} on version {version} of {name} was taken before "
            "the store recorded model digests (revision 0005)"
        )
    return None


def check_artifact(name: str, version: str, expected: ExpectedArtifact | None, digest: str) -> None:
    """Refuse (:class:`RegistryDrift`, reason :data:`ARTIFACT_MISMATCH`) files about to be
    loaded for ``version`` whose digest differs from the one the store expects; files with
    nothing on record to compare with pass (see :func:`unverified_reason`)."""
    if expected is None or expected.artifact_sha256 is None:
        return
    if digest != expected.artifact_sha256:
        raise RegistryDrift(
            f"version {version} of {name}: its model files in MLflow have digest "
            f"{digest[:12]}, but decision {expected.decision_id} was taken on files with digest "
            f"{expected.artifact_sha256[:12]}: the artefact was replaced after gate, and is not "
            "served",
            hint=f"restore the artefact that was judged, or evaluate and gate {name}/{version} "
            "again and promote it",
            details={
                "reason": ARTIFACT_MISMATCH,
                "model_name": name,
                "version": version,
                "decision_id": expected.decision_id,
                "promotion_id": expected.promotion_id,
                "expected_sha256": expected.artifact_sha256,
                "found_sha256": digest,
            },
        )


@dataclass
class ServedModel:
    """A version ready for traffic."""

    version: str
    batcher: Batcher
    load_seconds: float
    artifact_sha256: str | None = None  # the digest of the files loaded (None: a constant)
    unverified: str | None = None  # why they were not checked against a digest on record


def load_served(
    project: Project,
    spec: Spec,
    version: str,
    validator: RowValidator,
    make_batcher: Callable[[str, PredictFn], Batcher],
) -> ServedModel:
    """Download, verify (:func:`check_artifact`, before deserialising), load and warm
    ``version`` (blocking: run it on a thread)."""
    started = time.perf_counter()
    ref = ModelRef(run_id="", name=project.name, version=version)
    with open_store(project).reading() as connection:
        expected = expected_artifact(connection, project.name, version)
        if expected is not None:  # the promotion and decision vouching for it, as written
            require_bound(
                connection,
                [
                    (promotions, (expected.promotion_id,)),
                    (decisions, (expected.decision_id,)),
                ],
                relying=f"serving version {version} of {project.name}",
            )

    def check(digest: str) -> None:
        check_artifact(project.name, version, expected, digest)

    model, _, digest = load_digested(project, ref, check=check)
    check_signature(project, ref, validator.frame(warm_columns(validator)))
    on_frame = predictor(model, spec)

    def predict(columns: Columns) -> Outputs:
        return on_frame(validator.frame(columns))

    batcher = make_batcher(version, predict)
    batcher.warm(warm_columns(validator))  # a model that cannot predict never takes traffic
    unverified = unverified_reason(project.name, version, expected)
    return ServedModel(version, batcher, time.perf_counter() - started, digest, unverified)
