"""The ``gates`` section of the spec: rules that turn an evaluation into a recorded decision.

Each rule has a severity: ``block`` (a failure makes the verdict ``fail`` and stops promotion)
or ``warn`` (recorded and shown, promotion goes on). Metric names are the evaluation's
(``roc_auc_score``, ``mean_absolute_error``, ...); a short name without ``_score`` is accepted
(``roc_auc``). Names are checked against the model's task when the gates are applied.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Bound",
    "CalibrationGate",
    "FairnessGate",
    "FairnessMethod",
    "FairnessMetric",
    "GatesSpec",
    "LineageGate",
    "MetricGate",
    "NonRegressionGate",
    "OperationsGate",
    "RobustnessGate",
    "Severity",
    "SliceGate",
    "WorstSliceGate",
]

Severity = Literal["block", "warn"]
FairnessMetric = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
]
FairnessMethod = Literal["between_groups", "to_overall"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true: take it back as "on".
        if isinstance(data, dict) and True in data and "on" in cls.model_fields:
            return {("on" if key is True else key): value for key, value in data.items()}
        return data


class Bound(_Model):
    """A value must lie within ``min`` and/or ``max`` (inclusive)."""

    min: float | None = Field(None, description="Smallest acceptable value (inclusive).")
    max: float | None = Field(None, description="Largest acceptable value (inclusive).")
    severity: Severity = Field("block", description="block: fails the decision; warn: noted.")

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs min or max (or both)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class MetricGate(Bound):
    """A metric's bound, judged on its point value or on a bound of its interval."""

    on: Literal["value", "ci_low", "ci_high"] = Field(
        "value",
        description="What is compared: the point value, or the interval's low or high end "
        "(ci_low with a min asks that the whole interval clears it).",
    )


class FairnessGate(Bound):
    """A fairness figure's bound, judged on its point value or on a bound of its interval."""

    on: Literal["value", "ci_low", "ci_high"] = Field(
        "value",
        description="What is compared: the point value, or the interval's low or high end "
        "(ci_high with a max asks that the whole interval stays under it).",
    )
    method: FairnessMethod = Field(
        "between_groups",
        description="between_groups: the largest gap (smallest ratio) between two compared "
        "groups; to_overall: between a compared group and all rows (Fairlearn's method).",
    )


class NonRegressionGate(_Model):
    """The candidate may not be worse than the champion by more than ``max_drop``."""

    max_drop: float = Field(
        ge=0, description="Largest acceptable loss against the champion, in the metric's units."
    )
    on: Literal["ci", "value"] = Field(
        "ci",
        description="ci: the pessimistic end of the paired difference's interval must stay "
        "within max_drop (a non-inferiority test); value: the point difference only.",
    )
    severity: Severity = "block"


class SliceGate(MetricGate):
    """Every slice with at least ``min_support`` rows meets a bound on ``metric``."""

    metric: str = Field(description="Metric judged on each slice.")
    min_support: int = Field(100, ge=1, description="Slices with fewer rows are not judged.")
    severity: Severity = Field("warn", description="block: fails the decision; warn: noted.")


class WorstSliceGate(_Model):
    """The worst discovered slice (automatic discovery) may not exceed an error rate."""

    max_error_rate: float = Field(gt=0, le=1, description="Largest acceptable error rate.")
    significant_only: bool = Field(
        True, description="Judge only slices whose excess error is significant (after FDR)."
    )
    severity: Severity = "warn"


class RobustnessGate(_Model):
    """Predictions must stay stable under every perturbation the evaluation applies."""

    max_flip_rate: float = Field(ge=0, le=1, description="Largest share of changed predictions.")
    severity: Severity = "warn"


class CalibrationGate(_Model):
    """Expected calibration error (binary classification)."""

    max_ece: float = Field(ge=0, le=1, description="Largest acceptable ECE.")
    on: Literal["value", "ci_low", "ci_high"] = "value"
    severity: Severity = "warn"


class OperationsGate(_Model):
    """Operational budgets from the evaluation's profile."""

    max_p95_latency_ms: float | None = Field(None, gt=0, description="Single-row p95 latency.")
    max_cost_per_1000: float | None = Field(
        None, ge=0, description="Cost per 1,000 predictions (evaluation.price_per_cpu_hour)."
    )
    severity: Severity = "block"

    @model_validator(mode="after")
    def _some_budget(self) -> OperationsGate:
        if self.max_p95_latency_ms is None and self.max_cost_per_1000 is None:
            raise ValueError("an operations gate needs max_p95_latency_ms or max_cost_per_1000")
        return self


class LineageGate(_Model):
    """What the run's lineage must show."""

    contract_validated: bool = Field(True, description="The training data passed its contract.")
    reproduced: bool = Field(
        False, description="`goldenpath reproduce` was run on the run and reproduced it."
    )
    clean_git: bool | None = Field(
        None,
        description="The code was committed (clean git tree) when trained; default: required "
        "for risk tier high only.",
    )
    severity: Severity = "block"


class GatesSpec(_Model):
    """Rules over an evaluation; all optional, applied by ``goldenpath gate``."""

    metrics: dict[str, MetricGate] = Field(
        default_factory=dict, description="Metric name to bound (roc_auc: {min: 0.8, on: ci_low})."
    )
    non_regression: dict[str, NonRegressionGate] = Field(
        default_factory=dict, description="Metric name to largest drop against the champion."
    )
    slices: list[SliceGate] = Field(default_factory=list, description="Floors for every slice.")
    worst_slice: WorstSliceGate | None = None
    fairness: dict[FairnessMetric, FairnessGate] = Field(
        default_factory=dict,
        description="Bounds per sensitive feature (binary tasks): "
        "demographic_parity_difference: {max: 0.1, on: ci_high}.",
    )
    robustness: RobustnessGate | None = None
    calibration: CalibrationGate | None = None
    operations: OperationsGate | None = None
    lineage: LineageGate = Field(default_factory=LineageGate)
