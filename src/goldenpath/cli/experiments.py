"""Online experiments: ``goldenpath experiment plan|start|status|analyze|decide|list``.

Thin shells over :mod:`goldenpath.experiments`: the lifecycle verbs (start, decide, list) over
:mod:`goldenpath.experiments.lifecycle`, the analysis verbs (plan, status, analyze) over
:mod:`goldenpath.experiments.analysis`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption, parse_moment
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.experiments.analysis import ExperimentAnalysis
    from goldenpath.store.experiments import Experiment

__all__ = ["experiment_app"]

experiment_app = typer.Typer(
    help="Online experiments (A/B tests) on served traffic: plan, start, status, analyze, "
    "decide, list.",
    no_args_is_help=True,
)


def _arms(e: Experiment) -> str:
    return f"v{e.control_version} (control) vs v{e.treatment_version} (treatment)"


@experiment_app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="The experiment's name in the spec's experiments.")],
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Start an experiment (role developer): servers route by it from their next poll."""
    from goldenpath.experiments.lifecycle import start_experiment
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working(f"Starting experiment {name}"):
        started = start_experiment(open_project(project), name)

    def render(c: Console) -> None:
        c.print(
            f"[green]✓[/] experiment {started.name} started: {_arms(started)}, "
            f"{started.allocation:.0%} of units (by {started.unit}) to the treatment",
            highlight=False,
        )
        c.print(
            f"Next: goldenpath experiment status {started.name}; then goldenpath experiment "
            f'decide {started.name} --ship|--stop --reason "..."',
            highlight=False,
        )

    out.result(started.to_dict(), render)


@experiment_app.command("decide")
def decide(
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    ship: Annotated[
        bool | None,
        typer.Option(
            "--ship/--stop",
            help="--ship promotes the treatment to champion (with promote's checks and "
            "approvals); --stop ends the experiment. Either way routing by it stops.",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why (recorded in the audit trail).")
    ] = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Decide an experiment (role developer): ship its treatment, or stop it."""
    from goldenpath.experiments.lifecycle import decide_experiment
    from goldenpath.project import open_project

    if ship is None:
        raise typer.BadParameter("say --ship or --stop", param_hint="--ship/--stop")
    out = Output(json_output)
    with out.working(f"Deciding experiment {name}"):
        decided = decide_experiment(open_project(project), name, ship=ship, reason=reason)
    e = decided.experiment

    def render(c: Console) -> None:
        if ship:
            c.print(
                f"[green]✓[/] experiment {e.name} shipped: v{e.treatment_version} is the champion"
                + ("" if decided.promotion_id is None else f" (promotion {decided.promotion_id})"),
                highlight=False,
            )
        else:
            c.print(
                f"[green]✓[/] experiment {e.name} stopped: v{e.control_version} answers everyone "
                "from the servers' next poll",
                highlight=False,
            )

    out.result(decided.to_dict(), render)


@experiment_app.command("list")
def list_(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """The spec's experiments and those the store holds, with their state (writes nothing)."""
    from goldenpath.experiments.lifecycle import list_experiments
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working("Reading the experiments"):
        found = list_experiments(open_project(project))

    def render(c: Console) -> None:
        if not found:
            c.print("No experiments yet: add one under experiments: in goldenpath.yaml.")
            return
        table = Table("experiment", "status", "arms", "allocation", "started", "decision")
        for entry in found:
            e = entry.record
            status = entry.status.replace("_", " ")
            if not entry.in_spec:
                status += " (not in the spec)"
            elif entry.spec_changed:
                status += " (spec changed since)"
            table.add_row(
                entry.name,
                status,
                "-" if e is None else _arms(e),
                "-" if e is None else f"{e.allocation:.0%}",
                "-" if e is None else f"{e.started_at[:19]} by {e.started_by}",
                "-" if e is None or e.decision is None else f"{e.decision} by {e.decided_by}",
            )
        c.print(table)

    out.result({"experiments": [entry.to_dict() for entry in found]}, render)


def _analysis(project: Path | None, name: str, until: datetime | None) -> ExperimentAnalysis:
    """The analysis of ``name``, with the store's record when the experiment was started."""
    from goldenpath.errors import RecordNotFound
    from goldenpath.experiments.analysis import analyze, experiment_spec
    from goldenpath.experiments.lifecycle import experiment_record
    from goldenpath.project import open_project

    opened = open_project(project)
    experiment_spec(opened, name)  # an unknown name fails before the store is opened
    try:
        record = experiment_record(opened, name)
    except RecordNotFound:
        record = None  # never started: the spec's arms and allocation
    return analyze(opened, name, now=until, record=record)


def _render_analysis(c: Console, a: ExperimentAnalysis) -> None:
    style = {"ship": "green", "stop": "red", "keep running": "yellow"}[a.decision.recommendation]
    c.print(
        f"[bold {style}]{a.decision.recommendation.upper()}[/]: {escape(a.decision.reason)}",
        highlight=False,
    )
    if not a.decision.valid:
        c.print("[bold red]The results are invalid: do not read the effects as evidence.[/]")
    arms = ", ".join(
        f"{arm.arm} {'v' if arm.version.isdigit() else ''}{arm.version} {arm.units:,} units"
        + ("" if arm.observed_share is None else f" ({arm.observed_share:.1%})")
        for arm in a.exposure.arms
    )
    srm = a.exposure.srm
    c.print(
        f"exposures: {arms}; SRM p = {srm.p_value:.3g}"
        + (" [bold red]MISMATCH[/]" if srm.flagged else " (ok)"),
        highlight=False,
    )
    table = Table(
        "metric", "control", "treatment", "relative", "interval", "p", "P(beat)", "verdict"
    )
    for m in a.metrics:
        e = m.effect
        relative = "-" if e is None or e.relative is None else f"{e.relative:+.2%}"
        interval = "-"
        if e is not None and e.relative_ci is not None:
            interval = f"[{e.relative_ci[0]:+.2%}, {e.relative_ci[1]:+.2%}]"
        elif e is not None:
            interval = f"[{e.absolute_ci[0]:+.4g}, {e.absolute_ci[1]:+.4g}] abs"
        verdict: str = m.direction
        if m.guardrail is not None:
            verdict = {True: "BREACHED", False: "holds", None: "not judged"}[m.guardrail.breached]
        table.add_row(
            m.name + (" (primary)" if m.role == "primary" else ""),
            "-" if m.control_mean is None else f"{m.control_mean:.4g}",
            "-" if m.treatment_mean is None else f"{m.treatment_mean:.4g}",
            relative,
            interval,
            "-" if e is None else f"{e.p_value:.3g}",
            "-" if m.bayes is None else f"{m.bayes.chance_to_beat_control:.1%}",
            verdict,
        )
    c.print(table)
    for warning in a.warnings:
        c.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    planned = a.progress.planned_units
    c.print(
        f"{a.progress.units:,} units"
        + ("" if planned is None else f" of {planned:,} planned ({a.progress.share:.0%})"),
        highlight=False,
    )


UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Read rows logged up to this time only (ISO-8601; UTC if bare)."),
]


@experiment_app.command("plan")
def plan_(
    name: Annotated[str, typer.Argument(help="The experiment's name in the spec's experiments.")],
    baseline: Annotated[
        float | None,
        typer.Option(help="The primary metric's per-unit mean today (default: from the log)."),
    ] = None,
    baseline_sd: Annotated[
        float | None,
        typer.Option(help="Its per-unit standard deviation (a proportion's is derived)."),
    ] = None,
    units_per_day: Annotated[
        float | None,
        typer.Option(help="Units a day (default: the spec's, else the champion's in the log)."),
    ] = None,
    days: Annotated[
        float, typer.Option(help="Days of the champion's log the baseline is measured on.")
    ] = 14.0,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Units and days the experiment needs for its mde, alpha and power (writes nothing)."""
    from goldenpath.experiments._planning import plan_experiment
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working(f"Planning experiment {name}"):
        planned = plan_experiment(
            open_project(project),
            name,
            baseline=baseline,
            baseline_sd=baseline_sd,
            units_per_day=units_per_day,
            days=days,
        )

    def render(c: Console) -> None:
        b = planned.baseline
        where = "given" if b.source == "option" else f"the champion's {b.units:,} units in the log"
        c.print(
            f"{planned.metric}: baseline mean {b.mean:.4g}, sd {b.sd:.4g} ({where}); "
            f"a {planned.mde:.1%} relative change at alpha {planned.alpha} with "
            f"{planned.power:.0%} power needs {planned.total_units:,} units "
            f"({planned.units_per_arm['control']:,} control, "
            f"{planned.units_per_arm['treatment']:,} treatment)",
            highlight=False,
        )
        if planned.days is not None and planned.units_per_day is not None:
            c.print(
                f"at {planned.units_per_day:,.0f} units a day ({planned.units_per_day_source}): "
                f"{planned.days:.1f} days",
                highlight=False,
            )
        c.print(f"[dim]{planned.note}[/]", highlight=False)

    out.result(planned.to_dict(), render)


@experiment_app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    until: UntilOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Live: exposures per arm, the SRM check, the primary metric and the guardrails (writes
    nothing; ``analyze`` writes the readout)."""
    moment = parse_moment(until, "--until")
    out = Output(json_output)
    with out.working(f"Reading experiment {name}"):
        found = _analysis(project, name, moment)

    def render(c: Console) -> None:
        state = found.status or "not started"
        c.print(f"experiment {found.experiment} ({state})", highlight=False)
        _render_analysis(c, found)

    out.result(found.to_dict(), render)


@experiment_app.command("analyze")
def analyze_(
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    until: UntilOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """The full analysis: writes experiment.json and experiment.html under
    .goldenpath/experiments/NAME/ and prints the decision first."""
    from goldenpath.project import open_project
    from goldenpath.reports.experiment import experiment_folder, write_experiment_report

    moment = parse_moment(until, "--until")
    out = Output(json_output)
    with out.working(f"Analysing experiment {name}", steps=2) as step:
        step("reading the logs")
        found = _analysis(project, name, moment)
        step("writing the readout")
        folder = experiment_folder(open_project(project).state_dir, name)
        json_path, html_path = write_experiment_report(found, folder)

    def render(c: Console) -> None:
        _render_analysis(c, found)
        c.print(f"readout: {html_path}", highlight=False)
        c.print(f"document: {json_path}", highlight=False)

    out.result(
        {**found.to_dict(), "paths": {"json": str(json_path), "html": str(html_path)}}, render
    )
