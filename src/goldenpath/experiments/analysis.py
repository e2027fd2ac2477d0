"""The analysis of an online experiment: from the prediction and feedback logs to a decision.

:func:`analyze` reads the experiment's rows of the Parquet logs with DuckDB and aggregates them
per unit and then per arm in SQL (:mod:`goldenpath.experiments._queries`: no row reaches
Python), then judges them with the statistics engine: the sample-ratio-mismatch test of the
units per arm against the spec's allocation, every metric's effect (:func:`compare`, with the
spec's method, and CUPED when the spec names a covariate) and its Bayesian view
(:func:`bayesian`), and each guardrail's verdict. The result, :class:`ExperimentAnalysis`, is
``experiment.json`` (``schema_version`` 1) and what ``experiment.html`` renders.

The recommendation is the first of these that applies (``docs/experiments.md``, "Reading the
readout"):

1. ``keep running``: an arm has no units yet, or the primary metric cannot be compared yet
   (fewer than 2 units or no variance in an arm).
2. ``stop`` (results invalid): a sample ratio mismatch (p < 0.001): the split is not the one
   configured, so units were lost or moved in a way that may depend on the arm; no number of
   the readout can be trusted until the cause is found.
3. ``stop``: a guardrail is breached.
4. ``stop``: the primary metric is significantly worse.
5. ``ship``: the primary metric is significantly better and every guardrail could be judged.
6. ``keep running``: a guardrail cannot be judged yet, or the planned units are not reached.
7. ``stop`` (inconclusive): the planned units are reached without a significant effect.

A guardrail is *breached* when the treatment is worse, with the interval of the relative effect
on the bad side of 0 (significantly worse), and the relative effect is worse by more than the
metric's ``max_relative_change`` (any significant worsening when it has none). Where the control
mean is 0 (no relative effect) the absolute interval decides alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from goldenpath._version import __version__
from goldenpath.errors import ExperimentError, InsufficientData
from goldenpath.experiments._queries import ARMS, Aggregates, MetricQuery, aggregate
from goldenpath.experiments.bayes import bayesian
from goldenpath.experiments.power import plan
from goldenpath.experiments.srm import sample_ratio_mismatch
from goldenpath.experiments.stats import ArmStats, compare
from goldenpath.project import Project
from goldenpath.spec.experiments import ExperimentMetric, ExperimentSpec

if TYPE_CHECKING:
    from goldenpath.store.experiments import Experiment

__all__ = [
    "SCHEMA_VERSION",
    "SRM_THRESHOLD",
    "ArmExposure",
    "BayesView",
    "DayExposures",
    "Decision",
    "EffectView",
    "ExperimentAnalysis",
    "Exposure",
    "GuardrailVerdict",
    "MetricResult",
    "Progress",
    "SampleRatio",
    "aggregate_experiment",
    "analyze",
    "experiment_spec",
    "judge",
    "metric_query",
    "unit_sd",
]

SCHEMA_VERSION: Final = 1
SRM_THRESHOLD: Final = 0.001
MEMORY_LIMIT: Final = "700MB"

Recommendation = Literal["ship", "stop", "keep running"]
Direction = Literal["better", "worse", "inconclusive"]


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dictionary (what ``experiment.json`` holds)."""
        return self.model_dump(mode="json")


class Decision(_Document):
    """What the evidence recommends, and why (the readout's first line)."""

    recommendation: Recommendation
    reason: str
    valid: bool = Field(description="False when a sample ratio mismatch invalidates the results.")


class ArmExposure(_Document):
    arm: Literal["control", "treatment"]
    version: str = Field(description="The version the spec names for the arm.")
    units: int
    rows: int
    feedback_rows: int = Field(description="Rows with a label or a value in the feedback log.")
    expected_share: float
    observed_share: float | None


class SampleRatio(_Document):
    """The chi-square test of the units per arm against the allocation."""

    chi_square: float
    p_value: float
    threshold: float
    flagged: bool


class DayExposures(_Document):
    day: str
    control: int = Field(description="Units first exposed that day.")
    treatment: int


class Exposure(_Document):
    arms: list[ArmExposure]
    srm: SampleRatio
    units_in_both_arms: int = Field(description="Units seen in both arms: left out.")
    rows_in_both_arms: int
    rows_without_unit: int
    rows_of_unknown_arm: int
    first_exposure: str | None
    last_exposure: str | None
    days: float | None = Field(description="Days between the first and the last exposure.")
    by_day: list[DayExposures]


class EffectView(_Document):
    """The frequentist comparison (treatment minus control)."""

    absolute: float
    absolute_ci: tuple[float, float]
    relative: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    alpha: float
    method: Literal["fixed", "sequential"]
    significant: bool
    cuped: bool
    variance_reduction: float | None


class BayesView(_Document):
    chance_to_beat_control: float
    expected_loss: float = Field(description="Relative: the expected shortfall if shipped.")
    relative_ci: tuple[float, float]


class GuardrailVerdict(_Document):
    max_relative_change: float | None
    breached: bool | None = Field(description="None: cannot be judged yet.")
    reason: str


class MetricResult(_Document):
    name: str
    role: Literal["primary", "guardrail"]
    source: str
    kind: Literal["mean", "proportion", "ratio"]
    denominator: str | None
    higher_is_better: bool
    control_units: int
    treatment_units: int
    control_mean: float | None
    treatment_mean: float | None
    effect: EffectView | None
    bayes: BayesView | None
    direction: Direction
    guardrail: GuardrailVerdict | None
    unavailable: str | None = Field(description="Why there is no comparison yet, if none.")


class Progress(_Document):
    """Units so far against the fixed-horizon plan for the primary metric's mde (the baseline:
    the control arm's mean and standard deviation so far)."""

    units: int
    planned_units: int | None
    share: float | None
    mde: float
    power: float


class ExperimentAnalysis(_Document):
    """``experiment.json``: the decision first, then the evidence."""

    schema_version: Literal[1] = SCHEMA_VERSION
    goldenpath_version: str
    project: str
    experiment: str
    decision: Decision
    hypothesis: str
    generated_at: str
    until: str | None = Field(description="Rows logged after this time were not read.")
    status: str | None = Field(description="running, stopped or shipped; None: never started.")
    started_at: str | None = Field(description="Rows logged before this time were not read.")
    control: str
    treatment: str
    allocation: float
    method: Literal["fixed", "sequential"]
    alpha: float
    covariate: str | None
    exposure: Exposure
    progress: Progress
    primary: MetricResult
    guardrails: list[MetricResult]
    warnings: list[str]
    seconds: float = Field(description="Time the analysis took.")

    @property
    def metrics(self) -> list[MetricResult]:
        return [self.primary, *self.guardrails]


def experiment_spec(project: Project, name: str) -> ExperimentSpec:
    """The spec's experiment ``name``; ExperimentError naming the ones there are."""
    for experiment in project.spec.experiments:
        if experiment.name == name:
            return experiment
    names = ", ".join(e.name for e in project.spec.experiments) or "none"
    raise ExperimentError(
        f"no experiment {name!r} in {project.spec_path} (experiments: {names})",
        hint="add it under experiments: in goldenpath.yaml, or name one of those",
    )


def metric_query(metric: ExperimentMetric) -> MetricQuery:
    return MetricQuery(metric.name, metric.source, metric.kind, metric.denominator)


def _positive_label(project: Project) -> str | None:
    task = project.spec.task
    if task.type != "binary_classification" or task.positive_label is None:
        return None
    return str(task.positive_label)


def _day(path: Path) -> date | None:
    for part in path.parts:
        if part.startswith("date="):
            try:
                return date.fromisoformat(part[5:])
            except ValueError:
                return None
    return None


def _files(
    folder: Path, since: datetime | None = None, until: datetime | None = None
) -> list[Path]:
    """The Parquet files under ``folder`` whose day partition can hold rows logged in [since,
    until] (a day either side: a row near midnight; files outside any day partition: all)."""
    if not folder.exists():
        return []
    low = None if since is None else since.astimezone(UTC).date() - timedelta(days=1)
    high = None if until is None else until.astimezone(UTC).date() + timedelta(days=1)
    return [
        path
        for path in sorted(folder.rglob("*.parquet"))
        if (day := _day(path)) is None
        or ((low is None or low <= day) and (high is None or day <= high))
    ]


def connect(memory_limit: str = MEMORY_LIMIT, threads: int = 2) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = '{memory_limit}'")
    connection.execute(f"SET threads = {int(threads)}")
    connection.execute("SET preserve_insertion_order = false")
    return connection


def aggregate_experiment(
    project: Project,
    experiment: ExperimentSpec,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    logs: Path | None = None,
) -> Aggregates:
    """The SQL part of :func:`analyze`: exposures and the per-arm sums of every metric."""
    folder = logs if logs is not None else project.state_dir / "logs"
    with connect() as connection:
        try:
            return aggregate(
                connection,
                _files(folder / "predictions", since, until),
                _files(folder / "feedback", since),  # feedback arrives after its row
                experiment=experiment.name,
                metrics=[metric_query(m) for m in experiment.metrics],
                positive_label=_positive_label(project),
                covariate=experiment.covariate,
                since=since,
                until=until,
            )
        except ValueError as error:
            raise ExperimentError(
                f"experiment {experiment.name!r}: {error}",
                hint="log the column (it is a contract column the requests carry)",
            ) from error


def unit_sd(stats: ArmStats) -> tuple[float, float] | None:
    """The mean and standard deviation of one unit's value (a ratio metric: of its
    linearisation by the delta method), or None with fewer than 2 units."""
    n = stats.n
    if n < 2:
        return None
    mean = stats.sum / n
    variance = (stats.sum_squares - stats.sum * mean) / (n - 1)
    if stats.denominator_sum is not None:
        assert stats.denominator_sum_squares is not None
        assert stats.cross_sum is not None
        d_mean = stats.denominator_sum / n
        if d_mean == 0:
            return None
        d_var = (stats.denominator_sum_squares - stats.denominator_sum * d_mean) / (n - 1)
        cov = (stats.cross_sum - stats.sum * d_mean) / (n - 1)
        ratio = mean / d_mean
        variance = (variance - 2 * ratio * cov + ratio * ratio * d_var) / (d_mean * d_mean)
        mean = ratio
    return mean, math.sqrt(max(variance, 0.0))


def _significant_side(ci: tuple[float, float]) -> int:
    """+1 when the interval is above 0, -1 below, 0 when it holds 0."""
    return 1 if ci[0] > 0 else (-1 if ci[1] < 0 else 0)


def _metric(
    metric: ExperimentMetric,
    role: Literal["primary", "guardrail"],
    control: ArmStats,
    treatment: ArmStats,
    experiment: ExperimentSpec,
) -> MetricResult:
    cuped = control.covariate_sum is not None
    means = [
        None if s.n == 0 else (s.sum / s.denominator_sum if s.denominator_sum else s.sum / s.n)
        for s in (control, treatment)
    ]
    if any(s.denominator_sum == 0 for s in (control, treatment) if s.n):
        means = [None, None]
    effect = bayes = None
    unavailable = None
    try:
        found = compare(
            control, treatment, alpha=experiment.alpha, method=experiment.method, cuped=cuped
        )
        ci = found.relative_ci if found.relative_ci is not None else found.absolute_ci
        effect = EffectView(
            absolute=found.absolute,
            absolute_ci=found.absolute_ci,
            relative=found.relative,
            relative_ci=found.relative_ci,
            p_value=found.p_value,
            alpha=found.alpha,
            method=found.method,
            significant=_significant_side(ci) != 0,
            cuped=found.cuped,
            variance_reduction=found.variance_reduction,
        )
        means = [found.control_mean, found.treatment_mean]
    except InsufficientData as error:
        unavailable = error.message
    if effect is not None:
        try:
            found_bayes = bayesian(
                control,
                treatment,
                alpha=experiment.alpha,
                higher_is_better=metric.higher_is_better,
                cuped=cuped,
            )
            bayes = BayesView(
                chance_to_beat_control=found_bayes.chance_to_beat_control,
                expected_loss=found_bayes.expected_loss,
                relative_ci=found_bayes.relative_ci,
            )
        except InsufficientData:
            bayes = None  # a control mean of 0: no relative effect, no Bayesian view
    direction: Direction = "inconclusive"
    if effect is not None and effect.significant:
        ci = effect.relative_ci if effect.relative_ci is not None else effect.absolute_ci
        up = _significant_side(ci) > 0
        direction = "better" if up == metric.higher_is_better else "worse"
    return MetricResult(
        name=metric.name,
        role=role,
        source=metric.source,
        kind=metric.kind,
        denominator=metric.denominator,
        higher_is_better=metric.higher_is_better,
        control_units=control.n,
        treatment_units=treatment.n,
        control_mean=means[0],
        treatment_mean=means[1],
        effect=effect,
        bayes=bayes,
        direction=direction,
        guardrail=_guardrail(metric, effect, direction, unavailable)
        if role == "guardrail"
        else None,
        unavailable=unavailable,
    )


def _guardrail(
    metric: ExperimentMetric,
    effect: EffectView | None,
    direction: Direction,
    unavailable: str | None,
) -> GuardrailVerdict:
    """The guardrail rule of the module's docstring."""
    tolerance = metric.max_relative_change
    allowed = "any significant worsening" if tolerance is None else f"{tolerance:.1%}"
    if effect is None:
        return GuardrailVerdict(
            max_relative_change=tolerance,
            breached=None,
            reason=f"cannot be judged yet: {unavailable}",
        )
    if direction != "worse":
        return GuardrailVerdict(
            max_relative_change=tolerance,
            breached=False,
            reason="not significantly worse"
            if direction == "inconclusive"
            else "significantly better",
        )
    if effect.relative is None or tolerance is None:
        return GuardrailVerdict(
            max_relative_change=tolerance,
            breached=True,
            reason=f"significantly worse (p = {effect.p_value:.3g}); allowed: {allowed}",
        )
    worse_by = abs(effect.relative)
    breached = worse_by > tolerance
    return GuardrailVerdict(
        max_relative_change=tolerance,
        breached=breached,
        reason=(
            f"significantly worse by {worse_by:.2%} (p = {effect.p_value:.3g}), "
            f"{'more' if breached else 'less'} than the {allowed} allowed"
        ),
    )


def judge(
    primary: MetricResult,
    guardrails: Sequence[MetricResult],
    srm: SampleRatio,
    units: dict[str, int],
    progress: Progress,
) -> Decision:
    """The recommendation (the rules of the module's docstring, in their order)."""
    empty = [arm for arm in ARMS if units.get(arm, 0) == 0]
    if empty:
        return Decision(
            recommendation="keep running",
            reason=f"no exposed units in the {' and '.join(empty)} arm yet",
            valid=True,
        )
    if primary.effect is None:
        return Decision(
            recommendation="keep running",
            reason=f"{primary.name} cannot be compared yet: {primary.unavailable}",
            valid=True,
        )
    if srm.flagged:
        return Decision(
            recommendation="stop",
            reason=(
                f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold}): the split of "
                "units is not the configured one, so the results are invalid; find why units "
                "were lost or moved before trusting any number"
            ),
            valid=False,
        )
    breached = [g for g in guardrails if g.guardrail is not None and g.guardrail.breached]
    if breached:
        names = ", ".join(f"{g.name} ({g.guardrail.reason})" for g in breached if g.guardrail)
        return Decision(recommendation="stop", reason=f"guardrail breached: {names}", valid=True)
    effect = primary.effect
    relative = "" if effect.relative is None else f" ({effect.relative:+.2%})"
    if primary.direction == "worse":
        return Decision(
            recommendation="stop",
            reason=f"{primary.name} is significantly worse{relative}, p = {effect.p_value:.3g}",
            valid=True,
        )
    pending = [
        g.name for g in guardrails if g.guardrail is not None and g.guardrail.breached is None
    ]
    if primary.direction == "better" and not pending:
        return Decision(
            recommendation="ship",
            reason=(
                f"{primary.name} is significantly better{relative}, p = {effect.p_value:.3g}, "
                "and no guardrail is breached"
            ),
            valid=True,
        )
    if pending:
        return Decision(
            recommendation="keep running",
            reason=f"guardrail(s) {', '.join(pending)} cannot be judged yet",
            valid=True,
        )
    if progress.planned_units is None or progress.units < progress.planned_units:
        planned = "unknown" if progress.planned_units is None else f"{progress.planned_units:,}"
        return Decision(
            recommendation="keep running",
            reason=(
                f"no significant effect on {primary.name} yet (p = {effect.p_value:.3g}); "
                f"{progress.units:,} of {planned} planned units"
            ),
            valid=True,
        )
    return Decision(
        recommendation="stop",
        reason=(
            f"the planned {progress.planned_units:,} units are reached without a significant "
            f"effect on {primary.name} (p = {effect.p_value:.3g}): inconclusive, the treatment "
            f"was not shown to be better by the {progress.mde:.1%} planned for"
        ),
        valid=True,
    )


def _progress(experiment: ExperimentSpec, control: ArmStats, units: int) -> Progress:
    planned = None
    baseline = unit_sd(control)
    if baseline is not None and baseline[1] > 0 and baseline[0] != 0:
        planned = plan(
            baseline_mean=baseline[0],
            baseline_sd=baseline[1],
            mde=experiment.mde,
            alpha=experiment.alpha,
            power=experiment.power,
            allocation=experiment.allocation,
        ).total_units
    return Progress(
        units=units,
        planned_units=planned,
        share=None if not planned else units / planned,
        mde=experiment.mde,
        power=experiment.power,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _exposure(found: Aggregates, allocation: float, versions: dict[str, str]) -> Exposure:
    seen = found.exposures
    shares = {"control": 1.0 - allocation, "treatment": allocation}
    total = sum(seen.units.values())
    test = sample_ratio_mismatch(
        [seen.units[a] for a in ARMS], [shares[a] for a in ARMS], threshold=SRM_THRESHOLD
    )
    days = sorted({d for by_day in seen.units_by_day.values() for d in by_day})
    span = None
    if seen.first_exposure is not None and seen.last_exposure is not None:
        span = (seen.last_exposure - seen.first_exposure).total_seconds() / 86_400
    return Exposure(
        arms=[
            ArmExposure(
                arm=arm,
                version=versions[arm],
                units=seen.units[arm],
                rows=seen.rows[arm],
                feedback_rows=seen.feedback_rows[arm],
                expected_share=shares[arm],
                observed_share=None if total == 0 else seen.units[arm] / total,
            )
            for arm in ARMS
        ],
        srm=SampleRatio(
            chi_square=test.chi_square,
            p_value=test.p_value,
            threshold=SRM_THRESHOLD,
            flagged=test.flagged,
        ),
        units_in_both_arms=seen.units_in_both_arms,
        rows_in_both_arms=seen.rows_in_both_arms,
        rows_without_unit=seen.rows_without_unit,
        rows_of_unknown_arm=seen.rows_of_unknown_arm,
        first_exposure=_iso(seen.first_exposure),
        last_exposure=_iso(seen.last_exposure),
        days=span,
        by_day=[
            DayExposures(
                day=d.isoformat(),
                control=seen.units_by_day["control"].get(d, 0),
                treatment=seen.units_by_day["treatment"].get(d, 0),
            )
            for d in days
        ],
    )


def _warnings(exposure: Exposure, metrics: Sequence[MetricResult]) -> list[str]:
    warnings = []
    units = sum(a.units for a in exposure.arms)
    if exposure.units_in_both_arms:
        share = exposure.units_in_both_arms / max(units + exposure.units_in_both_arms, 1)
        warnings.append(
            f"{exposure.units_in_both_arms:,} unit(s) ({share:.2%}) were seen in both arms and "
            "are left out: assignment should be sticky per unit (a changed salt, allocation or "
            "unit column while running moves units)"
        )
    if exposure.rows_without_unit:
        warnings.append(
            f"{exposure.rows_without_unit:,} row(s) of the experiment carry no unit and are left "
            "out"
        )
    if exposure.rows_of_unknown_arm:
        warnings.append(f"{exposure.rows_of_unknown_arm:,} row(s) name an unknown arm")
    feedback = [m for m in metrics if m.source in ("label", "value", "correct")]
    if feedback and not any(a.feedback_rows for a in exposure.arms):
        warnings.append(
            "no feedback joins the experiment's rows yet: feedback metrics count every unit as 0"
        )
    return warnings


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def analyze(
    project: Project,
    name: str,
    *,
    now: datetime | None = None,
    logs: Path | None = None,
    record: Experiment | None = None,
) -> ExperimentAnalysis:
    """The analysis of experiment ``name`` from the rows logged up to ``now`` (default: all).

    ``record``: the experiment as the store holds it, when it was started: its versions and
    allocation are the ones compared, and only rows between its start and its stop (or ``now``)
    are read. ``logs``: the log folder (default ``.goldenpath/logs``). Raises ExperimentError
    for an experiment the spec does not name."""
    started = datetime.now(UTC)
    experiment = experiment_spec(project, name)
    since = until = None
    versions = {"control": experiment.control, "treatment": experiment.treatment}
    allocation = experiment.allocation
    if record is not None:
        since = _moment(record.started_at)
        until = _moment(record.stopped_at)
        versions = {"control": record.control_version, "treatment": record.treatment_version}
        allocation = record.allocation
    if now is not None:
        until = now if until is None else min(until, now)
    found = aggregate_experiment(project, experiment, since=since, until=until, logs=logs)
    exposure = _exposure(found, allocation, versions)
    results = [
        _metric(
            metric,
            "primary" if i == 0 else "guardrail",
            found.sums[metric.name]["control"],
            found.sums[metric.name]["treatment"],
            experiment,
        )
        for i, metric in enumerate(experiment.metrics)
    ]
    primary, guardrails = results[0], results[1:]
    units = sum(found.exposures.units.values())
    progress = _progress(experiment, found.sums[experiment.primary.name]["control"], units)
    decision = judge(primary, guardrails, exposure.srm, found.exposures.units, progress)
    return ExperimentAnalysis(
        goldenpath_version=__version__,
        project=project.name,
        experiment=experiment.name,
        decision=decision,
        hypothesis=experiment.hypothesis,
        generated_at=started.isoformat(),
        until=_iso(until),
        status=None if record is None else record.status,
        started_at=_iso(since),
        control=versions["control"],
        treatment=versions["treatment"],
        allocation=allocation,
        method=experiment.method,
        alpha=experiment.alpha,
        covariate=experiment.covariate,
        exposure=exposure,
        progress=progress,
        primary=primary,
        guardrails=guardrails,
        warnings=_warnings(exposure, results),
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )
