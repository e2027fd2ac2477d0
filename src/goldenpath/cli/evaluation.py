"""The ``evaluate`` command: metrics with intervals, slices, fairness, robustness, comparison."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.evaluation.document import (
        Comparison,
        Estimate,
        EvaluationDocument,
        FairnessReport,
        MetricDifference,
        Operations,
    )

__all__ = ["evaluate"]


def _signed_interval(d: MetricDifference) -> str:
    if d.ci_low is None or d.ci_high is None:
        return "(no interval)"
    return f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]"


def _interval(estimate: Estimate | None) -> tuple[str, str]:
    if estimate is None:
        return "not computed", ""
    if estimate.value is None:
        return f"undefined ({estimate.undefined})", ""
    if estimate.ci_low is None or estimate.ci_high is None:
        return f"{estimate.value:.4f}", ""
    return f"{estimate.value:.4f}", f"[{estimate.ci_low:.4f}, {estimate.ci_high:.4f}]"


def _figure(report: FairnessReport, name: str) -> str:
    """A fairness figure between groups with its interval, or ``undefined``."""
    found = report.disparity(name)
    value = report.measure(name)
    if value is None:
        return "undefined" if found is None else f"undefined ({found.undefined})"
    if found is None or found.ci_low is None or found.ci_high is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{found.ci_low:.4f}, {found.ci_high:.4f}]"


def _print_slices(console: Console, result: EvaluationDocument) -> None:
    """Slices worse than overall across their whole interval, the most harm their intervals
    guarantee first; small slices are counted, not ranked (their intervals are too wide)."""
    worst = result.harmful_slices()[:5]
    if worst:
        console.print(f"Most harmful slices by {result.primary_metric}:")
        for s in worst:
            value, interval = _interval(result.primary(s))
            difference = "" if s.primary_difference is None else f", {s.primary_difference:+.4f}"
            console.print(
                f"  {s.name}: {value} {interval}{difference} vs overall, {s.support:,} rows",
                highlight=False,
            )
    small = [s for s in result.slices if s.small and s.harm is not None and s.harm > 0]
    if small:
        console.print(
            f"  {len(small)} small slice(s) (under {result.lineage.min_slice_support:,} rows) "
            "below overall, not ranked: read their intervals in the report",
            highlight=False,
        )


def _print_comparison(console: Console, comparison: Comparison) -> None:
    ref = comparison.against
    console.print(
        f"Against {ref.label} ({ref.reference}), paired on the same rows:", highlight=False
    )
    for name, d in comparison.metrics.items():
        if d.difference is None:
            continue
        console.print(
            f"  {name}: {d.difference:+.4f} {_signed_interval(d)} {d.verdict}", highlight=False
        )
    seen = comparison.reference_trained_on_rows
    if seen:
        console.print(
            f"  [yellow]note:[/] the reference model was trained on {seen:,} of these "
            "rows, which favours it"
        )


def _print_findings(console: Console, result: EvaluationDocument) -> None:
    """Robustness, discovered slices and where errors concentrate."""
    for p in result.robustness:
        if p.error is not None:
            console.print(
                f"Robustness {p.name}: the model fails ({p.error})", highlight=False, markup=False
            )
        else:
            change = "undefined" if p.metric_change is None else f"{p.metric_change:+.4f}"
            flips = "n/a" if p.flip_rate is None else f"{p.flip_rate:.1%}"
            console.print(
                f"Robustness {p.name}: {flips} of predictions change, {p.metric} {change}",
                highlight=False,
            )
    significant = [d for d in result.discovered_slices if d.significant]
    if significant:
        console.print("Discovered slices with significantly more errors (BH-adjusted):")
        for d in significant[:3]:
            console.print(
                f"  {d.rule}: error rate {d.error_rate:.0%}, {d.rows:,} rows, q = {d.q_value:.2g}",
                highlight=False,
                markup=False,
            )
    if result.failures:
        console.print("Where errors concentrate:")
        for rule in result.failures[:3]:
            console.print(f"  {rule.text}", highlight=False, markup=False)
    for skipped in result.not_assessed:
        console.print(
            f"Not assessed: {skipped.analysis}: {skipped.reason}", highlight=False, markup=False
        )


def _print_operations(console: Console, ops: Operations) -> None:
    console.print(
        f"Latency: one row p50 {ops.single_row_p50_ms:.2f} ms, p95 "
        f"{ops.single_row_p95_ms:.2f} ms; {ops.batch_size} rows p50 "
        f"{ops.batch_p50_ms:.2f} ms; {ops.cost_per_1000_predictions:.2g} {ops.currency} per "
        f"1,000 predictions at {ops.price_per_cpu_hour} {ops.currency} per CPU-hour",
        highlight=False,
    )


def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help="A run id, 'latest', name@alias (e.g. telco-churn@champion) or name/version."
        ),
    ] = "latest",
    project: ProjectOption = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="Evaluate on this CSV/Parquet file instead of the run's held-out rows."
        ),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Compare with this model on the same rows: champion, challenger, name@alias, "
            "name/version or a run id (paired bootstrap).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Evaluate a model: metrics with confidence intervals, slices, calibration, fairness.

    Writes evaluation.json and a self-contained evaluation.html under .goldenpath/evaluations/
    and logs both to the model's MLflow run.
    """
    from goldenpath.project import open_project
    from goldenpath.workflows import evaluate as evaluate_model
    from goldenpath.workflows import evaluate_steps

    out = Output(json_output)
    with out.working("Reading the spec", steps=evaluate_steps(against=against)) as step:
        proj = open_project(project)
        source = None if data is None or ":" in data else str(Path(data).resolve())
        saved = evaluate_model(proj, model, data=source or data, against=against, on_step=step)
    result = saved.result
    document = result.to_dict()
    document["files"] = {
        "json": str(saved.json_path),
        "html": str(saved.html_path),
        "mlflow_artifacts": saved.artifact_path,
    }

    def render(console: Console) -> None:
        console.print(
            f"[bold]Evaluation of {result.model.label}[/] on "
            f"{result.data.rows:,} rows ({result.data.description})"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("metric", "value", "interval"):
            table.add_column(column, no_wrap=True)
        for name, estimate in result.metrics.items():
            value, interval = _interval(estimate)
            star = " (primary)" if name == result.primary_metric else ""
            table.add_row(name + star, value, interval)
        console.print(table)
        _print_slices(console, result)
        for f in result.fairness:
            excluded = f" ({len(f.excluded_groups)} small groups not compared)"
            console.print(
                f"Fairness {f.feature}: demographic parity difference "
                f"{_figure(f, 'demographic_parity_difference')}, equalized odds difference "
                f"{_figure(f, 'equalized_odds_difference')}"
                + (excluded if f.excluded_groups else ""),
                highlight=False,
            )
        if result.comparison is not None:
            _print_comparison(console, result.comparison)
        _print_findings(console, result)
        if result.operations is not None:
            _print_operations(console, result.operations)
        console.print(f"Report: {saved.html_path}")
        console.print(f"JSON:   {saved.json_path}")

    out.result(document, render)
