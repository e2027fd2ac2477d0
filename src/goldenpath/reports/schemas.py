"""JSON Schemas of the documents goldenpath writes, generated from the typed models that write
them, so a schema cannot drift from its documents: ``goldenpath schema --kind KIND``."""

from __future__ import annotations

from pydantic import BaseModel

from goldenpath._types import DOCUMENT_KINDS, DocumentKind

__all__ = ["DOCUMENT_KINDS", "DocumentKind", "document_model", "document_schema"]

_TITLES = {
    "spec": "goldenpath.yaml",
    "evaluation": "evaluation.json (goldenpath evaluate)",
    "decision": "decision (goldenpath gate --json)",
    "monitoring": "monitoring.json (goldenpath monitor; --json adds report, events, sink_failures)",
    "experiment": "experiment.json (goldenpath experiment analyze)",
}


def document_model(kind: DocumentKind) -> type[BaseModel]:
    """The pydantic model that writes (and reads back) documents of ``kind``."""
    if kind == "spec":
        from goldenpath.spec import Spec

        return Spec
    if kind == "evaluation":
        from goldenpath.evaluation import EvaluationDocument

        return EvaluationDocument
    if kind == "decision":
        from goldenpath.gates import DecisionDocument

        return DecisionDocument
    if kind == "experiment":
        from goldenpath.experiments.analysis import ExperimentAnalysis

        return ExperimentAnalysis
    from goldenpath.monitoring import MonitoringReport

    return MonitoringReport


def document_schema(kind: DocumentKind) -> str:
    """The JSON Schema (draft 2020-12) of documents of ``kind``, as indented JSON."""
    from goldenpath.spec import json_schema

    return json_schema(document_model(kind), title=_TITLES[kind])
