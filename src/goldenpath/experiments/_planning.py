"""``goldenpath experiment plan``: units and days an experiment needs, from a baseline.

The baseline is the primary metric's per-unit mean and standard deviation (a ratio metric: of
its delta-method linearisation), taken, in this order, from the ``--baseline`` given (with
``--baseline-sd``; a proportion's is ``sqrt(p (1 - p))``), or from the champion's served rows of
the last ``days`` days in the prediction log joined to their feedback, grouped by the
experiment's unit column exactly as the analysis groups exposures. Units a day: the option, else
the spec's ``expected_units_per_day``, else the units the champion saw a day in that window.
The sizes are the fixed-horizon test's (:func:`goldenpath.experiments.power.plan`); a sequential
test needs somewhat more to reach the same power, and pays for it by allowing every look.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field

from goldenpath.errors import ExperimentError
from goldenpath.experiments._queries import aggregate
from goldenpath.experiments.analysis import (
    _Document,
    _files,
    _positive_label,
    connect,
    experiment_spec,
    metric_query,
    unit_sd,
)
from goldenpath.experiments.power import plan
from goldenpath.project import Project

__all__ = ["Baseline", "ExperimentPlan", "plan_experiment"]


class Baseline(_Document):
    mean: float
    sd: float
    source: Literal["option", "log"]
    units: int | None = Field(description="Units the log's baseline was measured on.")
    days: float | None = Field(description="Days of log the baseline was measured on.")


class ExperimentPlan(_Document):
    schema_version: Literal[1] = 1
    experiment: str
    metric: str
    kind: str
    baseline: Baseline
    mde: float
    relative: bool
    alpha: float
    power: float
    allocation: float
    method: Literal["fixed", "sequential"]
    units_per_arm: dict[str, int]
    total_units: int
    units_per_day: float | None
    units_per_day_source: Literal["option", "spec", "log"] | None
    days: float | None
    note: str


def plan_experiment(
    project: Project,
    name: str,
    *,
    baseline: float | None = None,
    baseline_sd: float | None = None,
    units_per_day: float | None = None,
    days: float = 14.0,
    now: datetime | None = None,
    logs: Path | None = None,
) -> ExperimentPlan:
    """The plan of experiment ``name`` (see the module); ExperimentError without a baseline."""
    experiment = experiment_spec(project, name)
    metric = experiment.primary
    observed_units: int | None = None
    span: float | None = None
    if baseline is not None:
        sd = baseline_sd
        if sd is None and metric.kind == "proportion" and 0 < baseline < 1:
            sd = math.sqrt(baseline * (1 - baseline))
        if sd is None:
            raise ExperimentError(
                f"--baseline {baseline} needs --baseline-sd for a {metric.kind} metric",
                hint="give the per-unit standard deviation of the primary metric",
            )
        found = Baseline(mean=baseline, sd=sd, source="option", units=None, days=None)
    else:
        end = now or datetime.now(UTC)
        start = end - timedelta(days=days)
        folder = logs if logs is not None else project.state_dir / "logs"
        unit = experiment.unit or project.spec.data.id_column
        with connect() as connection:
            sums = aggregate(
                connection,
                _files(folder / "predictions", start, end),
                _files(folder / "feedback", start),
                experiment=None,
                metrics=[metric_query(metric)],
                positive_label=_positive_label(project),
                covariate=None,
                since=start,
                until=end,
                unit_column=unit,
            )
        stats = sums.sums[metric.name]["control"]
        moments = unit_sd(stats)
        if moments is None or moments[1] == 0 or moments[0] == 0:
            raise ExperimentError(
                f"no baseline for {metric.name}: the champion's served rows of the last "
                f"{days:g} days in {folder} give {stats.n} unit(s) by {unit}"
                + ("" if moments is None else f" with mean {moments[0]:g} and sd {moments[1]:g}"),
                hint="give --baseline (and --baseline-sd), or serve the champion first",
            )
        seen = sums.exposures
        if seen.first_exposure is not None and seen.last_exposure is not None:
            span = max((seen.last_exposure - seen.first_exposure).total_seconds() / 86_400, 1.0)
        observed_units = stats.n
        found = Baseline(
            mean=moments[0], sd=moments[1], source="log", units=observed_units, days=span
        )
    per_day_source: Literal["option", "spec", "log"] | None = None
    if units_per_day is not None:
        per_day_source = "option"
    elif experiment.expected_units_per_day is not None:
        units_per_day, per_day_source = experiment.expected_units_per_day, "spec"
    elif observed_units is not None and span is not None:
        units_per_day, per_day_source = observed_units / span, "log"
    sized = plan(
        baseline_mean=found.mean,
        baseline_sd=found.sd,
        mde=experiment.mde,
        relative=True,
        alpha=experiment.alpha,
        power=experiment.power,
        allocation=experiment.allocation,
        units_per_day=units_per_day,
    )
    return ExperimentPlan(
        experiment=experiment.name,
        metric=metric.name,
        kind=metric.kind,
        baseline=found,
        mde=experiment.mde,
        relative=True,
        alpha=experiment.alpha,
        power=experiment.power,
        allocation=experiment.allocation,
        method=experiment.method,
        units_per_arm={"control": sized.units_per_arm[0], "treatment": sized.units_per_arm[1]},
        total_units=sized.total_units,
        units_per_day=units_per_day,
        units_per_day_source=per_day_source,
        days=sized.days,
        note=(
            "fixed-horizon sizes: a sequential test reads its always-valid interval at every "
            "look and needs somewhat more units for the same power"
            if experiment.method == "sequential"
            else "fixed-horizon sizes: read the result once, at this size"
        ),
    )
