"""What ``gate`` checks before it judges an evaluation: that the store recorded it, for this
model version, and that neither the ``evaluation.json`` read back from MLflow nor the model's
artefact files changed since ``evaluate`` recorded them.

MLflow's runs, artefacts and tags can be changed by anyone who can write to the tracking
server; goldenpath's store records, when ``evaluate`` runs, the SHA-256 of the JSON it wrote and
the digest of the model files it evaluated (:mod:`goldenpath.evaluation.artifact`). A copied,
edited or re-pointed evaluation, or a model replaced under the same version, is refused here.
"""

from __future__ import annotations

from sqlalchemy import Connection

from goldenpath.errors import RecordNotFound, RegistryDrift
from goldenpath.evaluation.evaluate import ModelRef
from goldenpath.evaluation.record import LoadedEvaluation
from goldenpath.store.evaluations import EvaluationRecord, get_evaluation

__all__ = ["check_artifact", "recorded_evaluation"]


def _label(model: ModelRef) -> str:
    return f"{model.name}/{model.version}" if model.version else f"run {model.run_id}"


def recorded_evaluation(
    connection: Connection, project: str, model: ModelRef, loaded: LoadedEvaluation
) -> EvaluationRecord:
    """The store's record of evaluation ``loaded`` of ``model``: :class:`RecordNotFound` when
    there is none; :class:`RegistryDrift` when it was recorded for another model or run, or
    when the JSON read from MLflow is not the one recorded (its SHA-256 differs)."""
    kept = get_evaluation(connection, loaded.evaluation_id)
    label = _label(model)
    again = f"evaluate it again (goldenpath evaluate {label}) and gate that evaluation"
    if kept is None:
        raise RecordNotFound(
            f"evaluation {loaded.evaluation_id} of {label} is not recorded in goldenpath's store: "
            "gate judges only evaluations that goldenpath evaluate produced and recorded",
            hint=again,
        )
    if (
        kept.project != project
        or kept.model_name != model.name
        or kept.run_id != model.run_id
        or (kept.model_version is not None and kept.model_version != model.version)
    ):
        owner = (
            f"run {kept.run_id}"
            if kept.model_version is None
            else f"{kept.model_name}/{kept.model_version} (run {kept.run_id})"
        )
        raise RegistryDrift(
            f"evaluation {loaded.evaluation_id} was recorded for {owner} of project "
            f"{kept.project!r}, not for {label} (run {model.run_id}): its MLflow run holds a copy "
            "of another model's evaluation",
            hint=again,
        )
    if kept.evaluation_sha256 != loaded.sha256:
        raise RegistryDrift(
            f"evaluation {loaded.evaluation_id} of {label} changed since it was recorded: the "
            f"SHA-256 of its evaluation.json in MLflow is {loaded.sha256}, the store recorded "
            f"{kept.evaluation_sha256}",
            hint=again,
        )
    return kept


def check_artifact(kept: EvaluationRecord, model: ModelRef, digest: str) -> None:
    """:class:`RegistryDrift` when the model's artefact files (their digest now, ``digest``)
    are not the ones evaluation ``kept`` evaluated."""
    if digest != kept.artifact_sha256:
        label = _label(model)
        raise RegistryDrift(
            f"the model artefact of {label} changed since evaluation {kept.evaluation_id} "
            f"evaluated it: its digest is {digest}, the store recorded {kept.artifact_sha256}",
            hint=f"find who replaced the files of {model.uri} in MLflow; to judge the model as it "
            f"is now, evaluate it again (goldenpath evaluate {label}) and gate that evaluation",
        )
