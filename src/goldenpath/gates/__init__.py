"""Gates: rules over an evaluation that turn it into a recorded decision."""

from __future__ import annotations

from goldenpath.evaluation.document import EvaluationDocument
from goldenpath.gates.decision import gate, gates_fingerprint
from goldenpath.gates.rules import RuleResult, apply_gates, check_gates, verdict
from goldenpath.store.records import DecisionDocument

__all__ = [
    "DecisionDocument",
    "EvaluationDocument",
    "RuleResult",
    "apply_gates",
    "check_gates",
    "gate",
    "gates_fingerprint",
    "verdict",
]
