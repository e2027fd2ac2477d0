"""Online experiments: ``goldenpath experiment plan|start|status|analyze|decide|list``.

Thin shells over :mod:`goldenpath.experiments`: the lifecycle verbs (start, decide, list) over
:mod:`goldenpath.experiments.lifecycle`, the analysis verbs (plan, status, analyze) over
:mod:`goldenpath.experiments.analysis`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

if TYPE_CHECKING:
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
