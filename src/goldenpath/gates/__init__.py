"""Gates: rules over an evaluation that turn it into a recorded decision."""

from __future__ import annotations

from goldenpath.gates.decision import gate, gates_fingerprint
from goldenpath.gates.rules import RuleResult, apply_gates, check_gates, verdict

__all__ = ["RuleResult", "apply_gates", "check_gates", "gate", "gates_fingerprint", "verdict"]
