"""The experiment's one DuckDB query: the prediction and feedback logs in, sums per arm out.

Rows never reach Python. The query reads the experiment's served rows of the prediction log
(``experiment = name``), joins each row's latest feedback (by ``request_id`` and ``row``; of a
row's labels, the latest by arrival wins, a correction winning a tie, as monitoring reads them;
the same for ``value``), folds the rows into one row per *unit* (the assignment key), and folds
the units into the sums each arm's statistics need: for every metric the count, the sum and the
sum of squares of the unit values, of the denominator for ratio metrics, their cross products,
and the covariate's sums for CUPED.

A unit's value of a source is the sum of its rows' values: ``latency_ms`` and ``degraded`` (0 or
1) from the prediction log; ``label`` (1 when the latest label is the positive label; a
regressor's numeric label), ``value`` and ``correct`` (1 when the latest label equals the
prediction) from feedback. A row without feedback adds 0, so an exposed unit that never
converted counts as 0 (GrowthBook does the same). ``mean`` metrics use the unit's sum;
``proportion`` metrics 1 when the sum is above 0; ``ratio`` metrics the sum over the sum of the
denominator (``rows``: the unit's exposures). The covariate is the unit's value of a numeric
column at its first exposure (0 when missing). The arm is the first exposure's; units seen in
both arms (or in one and an unknown arm), rows without a unit and units of an unknown arm
are counted apart and left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final

import duckdb

from goldenpath.experiments.stats import ArmStats

__all__ = ["ARMS", "FEEDBACK_SOURCES", "Aggregates", "Exposures", "MetricQuery", "aggregate"]

ARMS: Final = ("control", "treatment")
FEEDBACK_SOURCES: Final = frozenset({"label", "value", "correct"})
_SOURCES: Final = ("latency_ms", "degraded", "label", "value", "correct")
_SUMS: Final = (
    "n",
    "sum",
    "sum_squares",
    "denominator_sum",
    "denominator_sum_squares",
    "cross_sum",
    "covariate_sum",
    "covariate_sum_squares",
    "covariate_cross_sum",
)


@dataclass(frozen=True)
class MetricQuery:
    """What the query needs to know of a metric: its source, kind and denominator."""

    name: str
    source: str
    kind: str
    denominator: str | None = None

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            raise ValueError(f"metric {self.name}: unknown source {self.source!r}")
        if self.kind not in ("mean", "proportion", "ratio"):
            raise ValueError(f"metric {self.name}: unknown kind {self.kind!r}")
        if self.kind == "ratio" and self.denominator not in (*_SOURCES, "rows"):
            raise ValueError(f"metric {self.name}: unknown denominator {self.denominator!r}")

    @property
    def sources(self) -> set[str]:
        return {self.source} | (
            {self.denominator} if self.kind == "ratio" and self.denominator else set()
        )


@dataclass(frozen=True)
class Exposures:
    """Who was exposed: units (and rows) per arm, and what was left out."""

    units: dict[str, int]
    rows: dict[str, int]
    feedback_rows: dict[str, int]  # rows with a label or a value
    units_in_both_arms: int
    rows_in_both_arms: int
    rows_without_unit: int
    rows_of_unknown_arm: int
    first_exposure: datetime | None
    last_exposure: datetime | None
    units_by_day: dict[str, dict[date, int]]  # arm -> day of the first exposure -> units


@dataclass(frozen=True)
class Aggregates:
    exposures: Exposures
    sums: dict[str, dict[str, ArmStats]]  # metric -> arm -> sums


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _source(paths: Sequence[Path]) -> str:
    listed = ", ".join(_literal(str(p)) for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def _columns(connection: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> set[str]:
    described = connection.execute(f"DESCRIBE SELECT * FROM {_source(paths)}").fetchall()
    return {str(row[0]) for row in described}


def _unit_value(metric: MetricQuery) -> tuple[str, str | None]:
    """SQL of a unit's metric value and (ratio metrics) denominator over the units table."""
    value = f"u.{metric.source}"
    if metric.kind == "proportion":
        value = f"CAST({value} > 0 AS DOUBLE)"
    if metric.kind != "ratio":
        return value, None
    return value, f"CAST(u.{metric.denominator} AS DOUBLE)"


def aggregate(
    connection: duckdb.DuckDBPyConnection,
    predictions: Sequence[Path],
    feedback: Sequence[Path],
    *,
    experiment: str | None,
    metrics: Sequence[MetricQuery],
    positive_label: str | None,
    covariate: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    unit_column: str | None = None,
) -> Aggregates:
    """Run the query (see the module) and return its sums per arm and metric.

    ``experiment=None`` reads the champion's served rows instead (a baseline for the plan),
    their ``unit_column`` as the unit and all of them as the control arm."""
    present = _columns(connection, predictions) if predictions else set()
    if experiment is not None:
        needed = {"experiment", "arm", "unit"}
        unit, arm, where = "unit", "arm", "experiment = ? AND kind = 'served'"
        parameters: list[object] = [experiment]
    else:
        if unit_column is None:
            raise ValueError("a baseline needs the unit column")
        needed = {unit_column, "route"}
        unit, arm = f"CAST({_quoted(unit_column)} AS VARCHAR)", "'control'"
        where, parameters = "route = 'champion' AND kind = 'served'", []
    if not predictions or not needed <= present:
        return _empty(metrics, covariate)
    used = set().union(*(m.sources for m in metrics)) if metrics else set()
    with_feedback = bool(used & FEEDBACK_SOURCES) and bool(feedback)
    limit = ""
    bounds: list[object] = []
    if since is not None:
        limit += " AND timestamp >= ?"
        bounds.append(since)
    if until is not None:
        limit += " AND timestamp <= ?"
        bounds.append(until)
    parameters += bounds
    if covariate is not None and covariate not in present:
        raise ValueError(f"the prediction log has no column {covariate!r} (the covariate)")
    covariate_sql = "NULL" if covariate is None else f"TRY_CAST({_quoted(covariate)} AS DOUBLE)"
    exposures = f"""
        SELECT {unit} AS unit,
               CAST(CASE {arm} WHEN 'control' THEN 0 WHEN 'treatment' THEN 1 ELSE 2 END
                    AS TINYINT) AS arm,
               timestamp, request_id, "row",
               {"latency_ms" if "latency_ms" in present else "NULL"} AS latency_ms,
               {"degraded" if "degraded" in present else "NULL"} AS degraded,
               {"prediction" if "prediction" in present else "NULL"} AS prediction,
               {covariate_sql} AS covariate
        FROM {_source(predictions)}
        WHERE {where}{limit}
    """
    # Three statements, each with one large hash table (the units of the prediction log; the
    # feedback's rows, then its units), so that memory holds one at a time: a single query
    # joining feedback to every row before grouping by unit holds them together and spills.
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gp_exposed AS
        SELECT unit,
               min(arm) AS arm,
               min(arm) <> max(arm) AS both_arms,
               count(*) AS rows,
               min(timestamp) AS first_seen,
               max(timestamp) AS last_seen,
               coalesce(arg_min(covariate, timestamp), 0) AS covariate,
               sum(coalesce(latency_ms, 0)) AS latency_ms,
               CAST(count(*) FILTER (WHERE degraded) AS DOUBLE) AS degraded
        FROM ({exposures})
        GROUP BY unit
        """,
        parameters,
    )
    if with_feedback:
        fb = _columns(connection, feedback)
        order = "(timestamp, coalesce(correction, false))" if "correction" in fb else "timestamp"

        def latest(column: str) -> str:
            if column not in fb:
                return f"NULL AS {column}"
            return f"arg_max({column}, {order}) FILTER (WHERE {column} IS NOT NULL) AS {column}"

        if positive_label is not None:
            label = f"CAST(count(*) FILTER (WHERE l.label = {_literal(positive_label)}) AS DOUBLE)"
        else:
            label = "sum(coalesce(l.label_value, 0))"
        connection.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE gp_feedback AS
            WITH labels AS (
                SELECT request_id, "row", {latest("label")}, {latest("label_value")},
                       {latest("value")}
                FROM {_source(feedback)}
                WHERE request_id IS NOT NULL{limit}
                GROUP BY request_id, "row"
            )
            SELECT e.unit,
                   {label} AS label,
                   sum(coalesce(l.value, 0)) AS value,
                   CAST(count(*) FILTER (WHERE l.label = e.prediction) AS DOUBLE) AS correct,
                   count(*) FILTER (WHERE l.label IS NOT NULL OR l.value IS NOT NULL)
                       AS feedback_rows
            FROM ({exposures}) AS e
            JOIN labels AS l ON e.request_id = l.request_id AND e."row" = l."row"
            GROUP BY e.unit
            """,
            [*bounds, *parameters],
        )
        units = """
            SELECT p.*, coalesce(f.label, 0) AS label, coalesce(f.value, 0) AS value,
                   coalesce(f.correct, 0) AS correct,
                   coalesce(f.feedback_rows, 0) AS feedback_rows
            FROM gp_exposed AS p LEFT JOIN gp_feedback AS f ON p.unit IS NOT DISTINCT FROM f.unit
        """
    else:
        units = """
            SELECT *, 0::DOUBLE AS label, 0::DOUBLE AS value, 0::DOUBLE AS correct,
                   0 AS feedback_rows
            FROM gp_exposed
        """
    selected = [
        "count(*) AS n",
        "sum(u.rows) AS rows",
        "sum(u.feedback_rows) AS feedback_rows",
        "min(u.first_seen) AS first_seen",
        "max(u.last_seen) AS last_seen",
    ]
    for i, metric in enumerate(metrics):
        value, denominator = _unit_value(metric)
        sums = [f"sum({value})", f"sum({value} * {value})"]
        if denominator is None:
            sums += ["NULL", "NULL", "NULL"]
        else:
            sums += [
                f"sum({denominator})",
                f"sum({denominator} * {denominator})",
                f"sum({value} * {denominator})",
            ]
        if covariate is None or metric.kind == "ratio":
            sums += ["NULL", "NULL", "NULL"]
        else:
            sums += ["sum(u.covariate)", "sum(u.covariate * u.covariate)"]
            sums += [f"sum({value} * u.covariate)"]
        selected += [f"CAST({s} AS DOUBLE) AS m{i}_{j}" for j, s in enumerate(sums)]
    query = f"""
        WITH units AS ({units}),
        grouped AS (
            SELECT CASE WHEN unit IS NULL THEN 'no_unit'
                        WHEN both_arms THEN 'both'
                        WHEN arm = 0 THEN 'control'
                        WHEN arm = 1 THEN 'treatment'
                        ELSE 'unknown' END AS arm_group,
                   CAST(first_seen AS DATE) AS day, *
            FROM units
        )
        SELECT arm_group, day, {", ".join(selected)}
        FROM grouped AS u
        GROUP BY GROUPING SETS ((arm_group), (arm_group, day))
    """
    try:
        rows = connection.execute(query).fetchall()
    finally:
        connection.execute("DROP TABLE IF EXISTS gp_exposed")
        connection.execute("DROP TABLE IF EXISTS gp_feedback")
    return _collect(rows, metrics, covariate)


def _empty(metrics: Sequence[MetricQuery], covariate: str | None) -> Aggregates:
    return _collect([], metrics, covariate)


def _collect(
    rows: list[tuple[object, ...]], metrics: Sequence[MetricQuery], covariate: str | None
) -> Aggregates:
    totals = {str(r[0]): r for r in rows if r[1] is None}
    by_day: dict[str, dict[date, int]] = {arm: {} for arm in ARMS}
    for r in rows:
        if r[1] is not None and str(r[0]) in by_day:
            assert isinstance(r[1], date)
            by_day[str(r[0])][r[1]] = int(r[2])  # type: ignore[call-overload]
    by_day = {arm: dict(sorted(days.items())) for arm, days in by_day.items()}

    def count(group: str, column: int) -> int:
        row = totals.get(group)
        return 0 if row is None or row[column] is None else int(row[column])  # type: ignore[call-overload]

    arm_rows = [totals[a] for a in ARMS if a in totals]
    firsts = [r[5] for r in arm_rows if isinstance(r[5], datetime)]
    lasts = [r[6] for r in arm_rows if isinstance(r[6], datetime)]
    exposures = Exposures(
        units={a: count(a, 2) for a in ARMS},
        rows={a: count(a, 3) for a in ARMS},
        feedback_rows={a: count(a, 4) for a in ARMS},
        units_in_both_arms=count("both", 2),
        rows_in_both_arms=count("both", 3),
        rows_without_unit=count("no_unit", 3),
        rows_of_unknown_arm=count("unknown", 3),
        first_exposure=min(firsts) if firsts else None,
        last_exposure=max(lasts) if lasts else None,
        units_by_day=by_day,
    )
    sums: dict[str, dict[str, ArmStats]] = {}
    for i, metric in enumerate(metrics):
        per_arm: dict[str, ArmStats] = {}
        for arm in ARMS:
            row = totals.get(arm)
            start = 7 + i * 8
            values: list[float] = [
                0.0 if row is None or v is None else float(v)  # type: ignore[arg-type]
                for v in ([None] * 8 if row is None else row[start : start + 8])
            ]

            ratio = metric.kind == "ratio"
            cuped = covariate is not None and not ratio
            per_arm[arm] = ArmStats(
                n=count(arm, 2),
                sum=values[0],
                sum_squares=values[1],
                denominator_sum=values[2] if ratio else None,
                denominator_sum_squares=values[3] if ratio else None,
                cross_sum=values[4] if ratio else None,
                covariate_sum=values[5] if cuped else None,
                covariate_sum_squares=values[6] if cuped else None,
                covariate_cross_sum=values[7] if cuped else None,
            )
        sums[metric.name] = per_arm
    return Aggregates(exposures=exposures, sums=sums)
