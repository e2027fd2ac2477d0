"""The ``evaluate`` command: metrics with intervals, slices, fairness, robustness, comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

__all__ = ["evaluate"]

EVALUATE_STEPS = 11  # one more with --against


def _model_label(model: dict[str, Any]) -> str:
    if model.get("version") is None:
        return f"{model['name']} run {model['run_id']}"
    return f"{model['name']} version {model['version']}"


def _signed_interval(d: dict[str, Any]) -> str:
    if d["ci_low"] is None or d["ci_high"] is None:
        return "(no interval)"
    return f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"


def _interval(estimate: dict[str, Any]) -> tuple[str, str]:
    if estimate["value"] is None:
        return f"undefined ({estimate['undefined']})", ""
    if estimate["ci_low"] is None:
        return f"{estimate['value']:.4f}", ""
    return f"{estimate['value']:.4f}", f"[{estimate['ci_low']:.4f}, {estimate['ci_high']:.4f}]"


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
    from goldenpath.evaluation import evaluate as evaluate_model
    from goldenpath.evaluation import record_evaluation
    from goldenpath.project import open_project
    from goldenpath.reports import render_evaluation_html

    out = Output(json_output)
    with out.working("Reading the spec", steps=EVALUATE_STEPS - (against is None)) as step:
        proj = open_project(project)
        from goldenpath.registry.access import audit, authorized_actor

        actor = authorized_actor(proj, "evaluate")
        source = None if data is None or ":" in data else str(Path(data).resolve())
        result = evaluate_model(proj, model, data=source or data, against=against, on_step=step)
        step("Writing the report")
        document = result.to_dict()
        html = render_evaluation_html(document, min_support=proj.spec.evaluation.min_slice_support)
        saved = record_evaluation(proj, result, html=html)
        audit(
            proj,
            actor,
            "evaluate",
            f"{result.model['name']}/{result.model['version']}"
            if result.model.get("version") is not None
            else str(result.model["run_id"]),
            {
                "evaluation_id": result.evaluation_id,
                "run_id": result.model["run_id"],
                "data": result.data["fingerprint"],
                "against": None if result.comparison is None else result.comparison["against"],
            },
        )
    document["files"] = {
        "json": str(saved.json_path),
        "html": str(saved.html_path),
        "mlflow_artifacts": saved.artifact_path,
    }

    def render(console: Console) -> None:
        m = result.model
        console.print(
            f"[bold]Evaluation of {_model_label(m)}[/] on "
            f"{result.data['rows']:,} rows ({result.data['description']})"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("metric", "value", "interval"):
            table.add_column(column, no_wrap=True)
        for name, estimate in result.metrics.items():
            value, interval = _interval(estimate.to_dict())
            star = " (primary)" if name == result.primary_metric else ""
            table.add_row(name + star, value, interval)
        console.print(table)
        worst = [s for s in result.slices if s["harm"] is not None and s["harm"] > 0][:5]
        if worst:
            console.print(f"Most harmful slices by {result.primary_metric}:")
            for s in worst:
                value, interval = _interval(s["metrics"][result.primary_metric])
                small = " (small)" if s["small"] else ""
                console.print(
                    f"  {s['name']}: {value} {interval}, {s['primary_difference']:+.4f} vs "
                    f"overall, {s['support']:,} rows{small}",
                    highlight=False,
                )
        for f in result.fairness:
            eo = f["equalized_odds_difference"]
            console.print(
                f"Fairness {f['feature']}: demographic parity difference "
                f"{f['demographic_parity_difference']:.4f}, equalized odds difference "
                + ("undefined" if eo is None else f"{eo:.4f}"),
                highlight=False,
            )
        if result.comparison is not None:
            ref = result.comparison["against"]
            console.print(
                f"Against {_model_label(ref)} ({ref['reference']}), paired on the same rows:",
                highlight=False,
            )
            for name, d in result.comparison["metrics"].items():
                if d["difference"] is None:
                    continue
                console.print(
                    f"  {name}: {d['difference']:+.4f} {_signed_interval(d)} {d['verdict']}",
                    highlight=False,
                )
            seen = result.comparison["reference_trained_on_rows"]
            if seen:
                console.print(
                    f"  [yellow]note:[/] the reference model was trained on {seen:,} of these "
                    "rows, which favours it"
                )
        for p in result.robustness:
            if p["error"] is not None:
                console.print(
                    f"Robustness {p['name']}: the model fails ({p['error']})",
                    highlight=False,
                    markup=False,
                )
            else:
                change = p["metric_change"]
                console.print(
                    f"Robustness {p['name']}: {p['flip_rate']:.1%} of predictions change, "
                    f"{p['metric']} " + ("undefined" if change is None else f"{change:+.4f}"),
                    highlight=False,
                )
        significant = [d for d in result.discovered_slices if d["significant"]]
        if significant:
            console.print("Discovered slices with significantly more errors (BH-adjusted):")
            for d in significant[:3]:
                console.print(
                    f"  {d['rule']}: error rate {d['error_rate']:.0%}, {d['rows']:,} rows, "
                    f"q = {d['q_value']:.2g}",
                    highlight=False,
                    markup=False,
                )
        if result.failures:
            console.print("Where errors concentrate:")
            for rule in result.failures[:3]:
                console.print(f"  {rule['text']}", highlight=False, markup=False)
        ops = result.operations
        if ops is not None:
            console.print(
                f"Latency: one row p50 {ops['single_row_p50_ms']:.2f} ms, p95 "
                f"{ops['single_row_p95_ms']:.2f} ms; {ops['batch_size']} rows p50 "
                f"{ops['batch_p50_ms']:.2f} ms; {ops['cost_per_1000_predictions']:.2g} per 1,000 "
                f"predictions at {ops['price_per_cpu_hour']} per CPU-hour",
                highlight=False,
            )
        console.print(f"Report: {saved.html_path}")
        console.print(f"JSON:   {saved.json_path}")

    out.result(document, render)
