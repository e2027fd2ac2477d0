"""The evaluation document: typed models of every part of ``evaluation.json``.

The code that computes an evaluation builds these models, every reader (gates, reports, the
model card, the CLI) reads their attributes, and ``evaluation.json`` is their JSON dump, so a
renamed field is a type error, not a ``KeyError`` in a report. Every model is frozen and
refuses unknown keys; :data:`SCHEMA_VERSION` is written with each document, and
``EvaluationDocument.model_json_schema()`` is its published JSON Schema
(``goldenpath schema --kind evaluation``).

Documents written before these models existed have the same keys and values and load as they
are; keys added since (``operations.currency``, ``slices[].harm_ci_low``) have defaults.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from goldenpath.spec.gates import FairnessMethod, FairnessMetric
from goldenpath.spec.models import TaskType

__all__ = [
    "SCHEMA_VERSION",
    "BootstrapSettings",
    "Calibration",
    "ComparedModel",
    "Comparison",
    "Curves",
    "DataInfo",
    "DiscoveredSlice",
    "Disparity",
    "Estimate",
    "EvaluationDocument",
    "FailureRule",
    "FairnessReport",
    "GroupRates",
    "Lineage",
    "MetricDifference",
    "ModelInfo",
    "NotAssessed",
    "Operations",
    "RobustnessProbe",
    "SliceDifferences",
    "SliceResult",
    "Thresholds",
    "Verdict",
]

SCHEMA_VERSION: Final = 1

Verdict = Literal["better", "worse", "no clear difference", "undefined"]


class _Part(BaseModel):
    """Frozen, no unknown keys; ``model_`` field names (``model_version``) are allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    def to_dict(self) -> dict[str, object]:
        """The JSON-compatible dict of this part, as written in ``evaluation.json``."""
        return self.model_dump(mode="json")


class Estimate(_Part):
    """A metric on a set of rows: point value, bootstrap interval, support; or why undefined.

    ``interval_method`` says how the interval was made: ``percentile``, ``BCa`` (bias
    corrected and accelerated) or ``studentized`` (bootstrap-t); ``None`` when there is no
    interval. Documents written before
    the field existed had percentile intervals only, hence the default."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    support: int
    undefined: str | None = None
    interval_method: Literal["percentile", "BCa", "studentized"] | None = "percentile"


class MetricDifference(_Part):
    """``candidate - reference`` of one metric on the same rows, with a paired interval."""

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    candidate: float | None
    reference: float | None
    support: int
    verdict: Verdict


class ModelInfo(_Part):
    """The model evaluated: a registered version (``version``) or a bare run."""

    name: str
    version: str | None
    run_id: str
    uri: str
    # the digest of the model's artefact files (goldenpath.evaluation.artifact); None in
    # documents written before it was recorded
    artifact_sha256: str | None = None

    @property
    def label(self) -> str:
        """``name version V``, or ``name run RUN_ID`` for a run without a version."""
        if self.version is None:
            return f"{self.name} run {self.run_id}"
        return f"{self.name} version {self.version}"


class DataInfo(_Part):
    """The rows the model was evaluated on."""

    description: str
    source: str
    rows: int
    fingerprint: str


class BootstrapSettings(_Part):
    resamples: int
    confidence: float
    seed: int


class Lineage(_Part):
    """Where the model and the evaluation rows come from, and the settings of the evaluation."""

    run_id: str
    model_version: str | None
    dataset_fingerprint: str | None
    train_fingerprint: str | None
    test_fingerprint: str | None
    evaluation_data_fingerprint: str
    git_commit: str | None
    training_seed: str | None
    bootstrap: BootstrapSettings
    threshold: float
    min_slice_support: int


class SliceResult(_Part):
    """Every metric on one slice group, and how it differs from overall on the primary metric.

    ``harm`` is the point difference in the harmful direction (positive: worse than overall);
    ``harm_ci_low`` is the least harm the slice's interval allows: how far the end of its
    interval nearest to the overall value lies beyond it (positive: worse than overall even at
    the interval's most favourable end; ``None`` without an interval).
    """

    name: str
    slice: str
    support: int
    small: bool
    metrics: dict[str, Estimate]
    primary_difference: float | None
    harm: float | None
    harm_ci_low: float | None = None

    @property
    def clearly_worse(self) -> bool:
        """Worse than overall at every point of its interval (or, without an interval, worse
        at its point value), and not a small slice."""
        if self.small:
            return False
        if self.harm_ci_low is not None:
            return self.harm_ci_low > 0
        return self.harm is not None and self.harm > 0


class Calibration(_Part):
    """The reliability curve: mean score and observed positive rate per equal-width bin."""

    bin_edges: tuple[float, ...]
    mean_score: tuple[float | None, ...]
    positive_rate: tuple[float | None, ...]
    count: tuple[int, ...]


class Thresholds(_Part):
    """Precision, recall and F1 on a grid of thresholds; the F1- and cost-optimal ones."""

    thresholds: tuple[float, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    best_f1_threshold: float
    best_f1: float
    cost_false_positive: float | None
    cost_false_negative: float | None
    best_cost_threshold: float | None
    best_cost_per_row: float | None


class Curves(_Part):
    """ROC and precision-recall curves, thinned so their size does not grow with the rows."""

    false_positive_rate: tuple[float, ...]
    true_positive_rate: tuple[float, ...]
    recall: tuple[float, ...]
    precision: tuple[float, ...]


class GroupRates(_Part):
    """One group's rates, with percentile intervals from the evaluation's resamples.

    ``compared`` is false for a group under ``evaluation.fairness.min_group_size`` rows: it is
    shown here but left out of the summary figures. Documents written before intervals and
    counts existed load with ``None`` for them.
    """

    group: str
    support: int
    selection_rate: float
    true_positive_rate: float | None  # None: the group has no positive rows
    false_positive_rate: float | None  # None: the group has no negative rows
    positives: int | None = None
    selection_rate_ci_low: float | None = None
    selection_rate_ci_high: float | None = None
    true_positive_rate_ci_low: float | None = None
    true_positive_rate_ci_high: float | None = None
    false_positive_rate_ci_low: float | None = None
    false_positive_rate_ci_high: float | None = None
    compared: bool = True


class Disparity(_Part):
    """One summary figure across the compared groups, with its percentile interval.

    ``between_groups``: the largest gap (difference) or the smallest ratio between two compared
    groups; ``to_overall``: between a compared group and all rows. ``undefined`` says why there
    is no value (fewer than one compared group with the rows the rate needs, or 0 / 0).
    """

    name: FairnessMetric
    method: FairnessMethod
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    undefined: str | None = None


class FairnessReport(_Part):
    """Group rates of one sensitive feature and the disparities between its groups.

    The three flat figures are the ``between_groups`` values of ``disparities`` (kept for
    readers of documents written before it existed); ``excluded_groups`` are the groups under
    ``min_group_size`` rows, ``notes`` say in words what was left out of which figure.
    """

    feature: str
    groups: tuple[GroupRates, ...]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None  # None: every compared group's rate is 0
    equalized_odds_difference: float | None  # None: no compared group has positives/negatives
    min_group_size: int = 1
    excluded_groups: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    disparities: tuple[Disparity, ...] = ()

    def disparity(self, name: str, method: FairnessMethod = "between_groups") -> Disparity | None:
        """The named figure with ``method`` (``None`` in documents written before intervals)."""
        return next((d for d in self.disparities if d.name == name and d.method == method), None)

    def measure(
        self,
        name: str,
        method: FairnessMethod = "between_groups",
        on: Literal["value", "ci_low", "ci_high"] = "value",
    ) -> float | None:
        """A fairness figure by name (the names gates use): its value or an end of its
        interval; a document without ``disparities`` has the three flat point values only."""
        found = self.disparity(name, method)
        if found is not None:
            ends = {"value": found.value, "ci_low": found.ci_low, "ci_high": found.ci_high}
            return ends[on]
        if method != "between_groups" or on != "value":
            return None
        legacy: dict[str, float | None] = {
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "equalized_odds_difference": self.equalized_odds_difference,
        }
        return legacy.get(name)


class NotAssessed(_Part):
    """An analysis the evaluation did not do for this model, and why (in words)."""

    analysis: Literal["calibration", "fairness"]
    reason: str


class ComparedModel(ModelInfo):
    """The model compared with: as resolved, and as asked for (``reference``)."""

    reference: str


class SliceDifferences(_Part):
    name: str
    metrics: dict[str, MetricDifference]


class Comparison(_Part):
    """The candidate against another model, paired on the same rows and resamples."""

    against: ComparedModel
    reference_trained_on_rows: int | None  # rows of these the reference was trained on
    metrics: dict[str, MetricDifference]
    slices: tuple[SliceDifferences, ...]


class Operations(_Part):
    """Latency, size and cost of the model, measured on this machine at evaluation time."""

    single_row_p50_ms: float
    single_row_p95_ms: float
    batch_size: int
    batch_p50_ms: float
    batch_p95_ms: float
    cpu_ms_per_prediction: float
    cost_per_1000_predictions: float
    price_per_cpu_hour: float
    model_size_bytes: int | None
    peak_memory_increase_mb: float
    repeats: int
    cpu_count: int
    currency: str = Field("USD", description="ISO 4217 code of the price and the cost.")
    single_row_threads: int | None = Field(
        None,
        description="Threads per native thread pool while single rows were timed (None: not "
        "recorded, documents before thread caps).",
    )
    batch_threads: int | None = Field(
        None,
        description="Threads per native thread pool while batches were timed "
        "(resources.threads; None: not recorded).",
    )


class RobustnessProbe(_Part):
    """One perturbation of the inputs: the share of predictions it changes and the primary
    metric before and after; ``error`` when the model fails on the damaged rows."""

    name: str
    description: str
    flip_rate: float | None
    metric: str
    metric_before: float | None
    metric_after: float | None
    metric_change: float | None
    error: str | None = None


class FailureRule(_Part):
    """A condition on the features whose rows hold more errors than the overall rate gives."""

    rule: str
    rows: int
    error_rate: float
    overall_error_rate: float
    excess_errors: float
    text: str  # the rule in words, with its rates and rows


class DiscoveredSlice(_Part):
    """A condition found by worst-slice discovery, its multiple-testing-adjusted test, and the
    primary metric on its rows."""

    rule: str
    rows: int
    error_rate: float
    overall_error_rate: float | None
    p_value: float
    q_value: float
    significant: bool
    primary: Estimate


class EvaluationDocument(_Part):
    """A whole evaluation, as written to ``evaluation.json``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    evaluation_id: str
    created_at: str
    project: str
    task: TaskType
    model: ModelInfo
    data: DataInfo
    lineage: Lineage
    primary_metric: str
    metrics: dict[str, Estimate]
    slices: tuple[SliceResult, ...]
    calibration: Calibration | None = None
    thresholds: Thresholds | None = None
    curves: Curves | None = None
    fairness: tuple[FairnessReport, ...] = ()
    not_assessed: tuple[NotAssessed, ...] = Field(
        (), description="Analyses not done for this model (its task, no probabilities), and why."
    )
    comparison: Comparison | None = None
    operations: Operations | None = None
    robustness: tuple[RobustnessProbe, ...] = ()
    failures: tuple[FailureRule, ...] = ()
    discovered_slices: tuple[DiscoveredSlice, ...] = ()

    def primary(self, slice_result: SliceResult) -> Estimate | None:
        """The primary metric on one slice group (``None`` when it was not computed)."""
        return slice_result.metrics.get(self.primary_metric)

    def harmful_slices(self) -> list[SliceResult]:
        """Slices clearly worse than overall on the primary metric (see
        :attr:`SliceResult.clearly_worse`: small slices never count), the most harm their
        intervals guarantee first."""
        return sorted(
            (s for s in self.slices if s.clearly_worse),
            key=lambda s: -(s.harm_ci_low if s.harm_ci_low is not None else s.harm or 0.0),
        )
