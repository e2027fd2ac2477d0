"""Change-control commands of the gates: ``goldenpath gates propose``, ``approve`` and ``list``.

Thin shells over :mod:`goldenpath.gates.changes`: for risk tier high, ``gate`` judges only by
the gates of the committed spec, once a developer has proposed them and an approver approved
them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.store.gate_changes import GateChange

__all__ = ["gates_app"]

gates_app = typer.Typer(
    help="Change control of the gates (risk tier high): propose the committed gates, approve "
    "them, list the changes.",
    no_args_is_help=True,
)


def _summary(change: GateChange) -> str:
    tier = json.loads(change.gates).get("risk_tier")
    return (
        f"gate change {change.change_id}: gates {change.gates_sha256[:12]} (risk tier {tier}) "
        f"from commit {change.git_commit[:12]}, proposed by {change.proposed_by}"
    )


@gates_app.command("propose")
def propose(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Propose the gates of the committed goldenpath.yaml for approval (role developer)."""
    from goldenpath.gates.changes import propose_gates
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working("Proposing the gates"):
        proposal = propose_gates(open_project(project))
    change = proposal.change

    def render(c: Console) -> None:
        if proposal.created:
            c.print(f"[green]✓[/] proposed {_summary(change)}", highlight=False)
            c.print(f"Next: an approver runs goldenpath gates approve {change.change_id}")
        elif change.approved:
            c.print(
                f"These gates are already approved: {_summary(change)}, approved by "
                f"{change.approved_by}. Nothing was written.",
                highlight=False,
            )
        else:
            c.print(
                f"These gates already await approval: {_summary(change)}. Nothing was written.",
                highlight=False,
            )

    out.result(proposal.to_dict(), render)


@gates_app.command("approve")
def approve(
    change: Annotated[
        str,
        typer.Argument(
            help="The change id printed by goldenpath gates propose, or latest for the newest "
            "change awaiting approval."
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Recorded with it.")] = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a gate change (role approver; not the user who proposed it)."""
    from goldenpath.gates.changes import approve_gates
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working("Approving the gates"):
        approved = approve_gates(open_project(project), change, comment=comment)
    out.result(
        approved.to_dict(),
        lambda c: c.print(
            f"[green]✓[/] {approved.approved_by} approved {_summary(approved)}", highlight=False
        ),
    )


@gates_app.command("list")
def list_changes(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """The project's gate changes, newest first (writes nothing)."""
    from goldenpath.gates.changes import gate_changes
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working("Reading the gate changes"):
        found = gate_changes(open_project(project))

    def render(c: Console) -> None:
        if not found:
            c.print("No gate changes yet: goldenpath gates propose makes one.")
            return
        table = Table(
            "change", "gates", "risk tier", "commit", "proposed by", "state", "approved by"
        )
        for ch in found:
            table.add_row(
                ch.change_id,
                ch.gates_sha256[:12],
                str(json.loads(ch.gates).get("risk_tier")),
                ch.git_commit[:12],
                ch.proposed_by,
                ch.state,
                ch.approved_by or "-",
            )
        c.print(table)

    out.result({"changes": [ch.to_dict() for ch in found]}, render)
