"""The ``experiments`` section of the spec: online A/B tests on served traffic.

An experiment compares a *control* (the champion: what users get today) with a *treatment* (a
candidate version) on the server's own traffic. Each request's *unit* (a contract column, by
default ``data.id_column``) is hashed with the experiment's salt into one arm, with the
``allocation`` share going to the treatment; the *primary* metric decides, the *guardrails*
must not get worse by more than they allow. ``mde``, ``alpha`` and ``power`` size it
(``goldenpath experiment plan``).

Rules that need the rest of the spec (the unit and the covariate are contract columns, names
are unique, a PII unit is hashed in the log) are checked by :func:`experiment_problems`, which
the root spec's validator calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from goldenpath.spec.models import ColumnSpec

__all__ = [
    "ExperimentMetric",
    "ExperimentSpec",
    "MetricSource",
    "experiment_problems",
]

MetricSource = Literal["label", "value", "correct", "latency_ms", "degraded"]
_BINARY_SOURCES = frozenset({"correct", "degraded"})  # always 0/1, whatever the task
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ARM = re.compile(r"^(champion|challenger|[1-9][0-9]{0,17})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentMetric(_Model):
    """One metric of an experiment. Each exposed unit gets the sum of the source over its rows
    in the prediction log (joined to the feedback; a row without feedback adds 0, so a unit that
    never converted counts as 0, as GrowthBook counts it), and units are summarised per arm."""

    name: str = Field(min_length=1, max_length=100, description="The metric's name.")
    source: MetricSource = Field(
        description="label: the feedback label (binary: 1 for the positive label; regression: "
        "its value); value: the feedback's numeric value (e.g. revenue); correct: 1 where the "
        "prediction equals the feedback label; latency_ms: the served latency; degraded: 1 "
        "where a fallback answered."
    )
    kind: Literal["mean", "proportion", "ratio"] = Field(
        "mean",
        description="mean: the mean over units of each unit's sum of the source; "
        "proportion: the share of units whose sum is above 0 (a 0/1 source); ratio: the sum "
        "of the source over the sum of the denominator, per arm (delta method). A per-row rate "
        "(latency, degraded answers) is a ratio with denominator rows.",
    )
    denominator: Literal["label", "value", "correct", "latency_ms", "degraded", "rows"] | None = (
        Field(None, description="A ratio's denominator (rows: the count of rows); ratio only.")
    )
    higher_is_better: bool = Field(True, description="Whether an increase is an improvement.")
    max_relative_change: float | None = Field(
        None,
        gt=0,
        description="Guardrails: breached when the treatment is worse than the control by more "
        "than this relative change (0.05: 5%).",
    )

    @model_validator(mode="after")
    def _ratio_has_denominator(self) -> ExperimentMetric:
        if self.kind == "ratio" and self.denominator is None:
            raise ValueError(f"metric {self.name!r}: a ratio needs a denominator")
        if self.kind != "ratio" and self.denominator is not None:
            raise ValueError(f"metric {self.name!r}: denominator is for kind ratio only")
        return self


def _version_text(value: Any) -> Any:
    # YAML reads `treatment: 7` as an integer: the version's text is meant
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ExperimentSpec(_Model):
    """One online experiment (A/B test)."""

    name: str = Field(
        description="Names the experiment: lowercase letters, digits and hyphens (at most 63)."
    )
    hypothesis: str = Field(min_length=1, description="What the treatment should change, and why.")
    control: str = Field(
        "champion",
        description="The version users get today: champion (the default) or its version number.",
    )
    treatment: str = Field(
        "challenger",
        description="The candidate: challenger (the default) or a version number; it needs a "
        "passing gate decision.",
    )
    allocation: float = Field(
        0.5, gt=0, lt=1, description="Share of units assigned to the treatment, in (0, 1)."
    )
    unit: str | None = Field(
        None,
        description="The contract column whose value is the assignment unit (a user, an "
        "account); default data.id_column.",
    )
    salt: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Hashed with the unit to assign arms; default the experiment's name.",
    )
    primary: ExperimentMetric = Field(description="The metric the decision is about.")
    guardrails: list[ExperimentMetric] = Field(
        default_factory=list, description="Metrics that must not get worse (max_relative_change)."
    )
    mde: float = Field(gt=0, description="Minimum detectable effect, relative (0.02: 2%).")
    alpha: float = Field(0.05, gt=0, lt=1, description="False-positive rate.")
    power: float = Field(0.8, gt=0, lt=1, description="Chance of detecting an effect of mde.")
    covariate: str | None = Field(
        None,
        description="A numeric contract column used as the pre-period covariate (CUPED).",
    )
    method: Literal["sequential", "fixed"] = Field(
        "sequential",
        description="sequential: always-valid intervals (peeking allowed); fixed: one look at "
        "the planned sample size.",
    )
    expected_units_per_day: float | None = Field(
        None, gt=0, description="Units a day expected, for the planned duration."
    )

    @field_validator("control", "treatment", mode="before")
    @classmethod
    def _version_number(cls, value: Any) -> Any:
        return _version_text(value)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"experiment name {value!r}: use lowercase letters, digits and hyphens "
                "(at most 63, starting with a letter or digit)"
            )
        return value

    @field_validator("control", "treatment")
    @classmethod
    def _arm_shape(cls, value: str) -> str:
        if not _ARM.fullmatch(value):
            raise ValueError(f"{value!r}: name champion, challenger or a version number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.control == self.treatment:
            raise ValueError(
                f"experiment {self.name!r}: control and treatment are both {self.control!r}"
            )
        if self.control == "challenger":
            raise ValueError(
                f"experiment {self.name!r}: the control is what users get today: the champion "
                "(or its version number), not the challenger"
            )
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r}: metric names must be unique")
        return self

    @property
    def metrics(self) -> list[ExperimentMetric]:
        """The primary metric, then the guardrails."""
        return [self.primary, *self.guardrails]

    @property
    def assignment_salt(self) -> str:
        """The salt the unit is hashed with: ``salt``, else the name."""
        return self.salt if self.salt is not None else self.name


def _metric_problems(
    where: str, metric: ExperimentMetric, task: str, target: ColumnSpec | None
) -> list[str]:
    problems = []
    label_binary = task == "binary_classification"
    for field, source in (("source", metric.source), ("denominator", metric.denominator)):
        if source == "label" and task == "multiclass_classification":
            problems.append(
                f"{where}.{field}: label has no number for a multiclass task; use correct"
            )
        numeric = target is None or target.dtype in ("int", "float")
        if source == "label" and task == "regression" and not numeric:
            problems.append(f"{where}.{field}: label needs a numeric target")
    if metric.kind == "proportion":
        zero_one = metric.source in _BINARY_SOURCES or (metric.source == "label" and label_binary)
        if not zero_one:
            problems.append(
                f"{where}.kind: a proportion needs a 0/1 source (correct, degraded, or label "
                f"of a binary task), not {metric.source}"
            )
    return problems


def experiment_problems(
    experiments: Sequence[ExperimentSpec],
    *,
    columns: Mapping[str, ColumnSpec],
    id_column: str | None,
    target: str,
    task: str,
    log_pii: str,
) -> list[str]:
    """What is wrong with ``experiments`` given the rest of the spec (empty: nothing)."""
    problems: list[str] = []
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        problems.append("experiments: experiment names must be unique")
    for i, experiment in enumerate(experiments):
        where = f"experiments[{i}]"
        unit = experiment.unit or id_column
        if unit is None:
            problems.append(f"{where}.unit: name the unit column (there is no data.id_column)")
        elif unit not in columns:
            problems.append(f"{where}.unit: column {unit!r} is not in data.contract.columns")
        elif unit == target:
            problems.append(f"{where}.unit: {unit!r} is the target, which requests do not carry")
        elif columns[unit].pii and log_pii == "drop":
            problems.append(
                f"{where}.unit: column {unit!r} is PII and serving.log.pii is drop, so the "
                "prediction log could not count units; set serving.log.pii: hash"
            )
        covariate = experiment.covariate
        if covariate is not None:
            spec = columns.get(covariate)
            if spec is None:
                problems.append(
                    f"{where}.covariate: column {covariate!r} is not in data.contract.columns"
                )
            elif spec.dtype not in ("int", "float", "bool"):
                problems.append(
                    f"{where}.covariate: column {covariate!r} has dtype {spec.dtype}; a "
                    "covariate is numeric"
                )
            elif covariate == target:
                problems.append(f"{where}.covariate: {covariate!r} is the target")
        for j, metric in enumerate(experiment.metrics):
            at = f"{where}.primary" if j == 0 else f"{where}.guardrails[{j - 1}]"
            problems.extend(_metric_problems(at, metric, task, columns.get(target)))
    return problems
