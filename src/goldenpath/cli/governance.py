"""Governance commands: gate, promote, approve, rollback, recover, history, card, users, audit.

Each is a thin shell over :mod:`goldenpath.gates`, :mod:`goldenpath.registry` and
:mod:`goldenpath.store`; the acting user is the principal :mod:`goldenpath.auth` proves (a
token, a database login, or the OS user where the store's auth mode is local).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.store.records import RuleResult

__all__ = [
    "approve",
    "audit_app",
    "card",
    "gate",
    "history",
    "promote",
    "recover",
    "rollback",
    "users_app",
]

users_app = typer.Typer(
    help="Users of the store and their roles (viewer, developer, approver, admin).",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

_OUTCOME_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}
_VERDICT_MARK = {"pass": "[green]✓ pass[/]", "warn": "[yellow]! warn[/]", "fail": "[red]✗ fail[/]"}

ModelArgument = Annotated[
    str, typer.Argument(help="name/version (e.g. telco-churn/2), name@alias or a run id.")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why: recorded in the history and the audit trail.")
]


def _observed(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


_OUTCOME_MARK = {"pass": "✓", "warn": "!", "fail": "✗", "skipped": "-"}


def _print_rules(console: Console, rules: Sequence[RuleResult]) -> None:
    """One line per rule (they stay readable on a narrow terminal or in a CI log)."""
    for r in rules:
        style = _OUTCOME_STYLE.get(r.outcome, "")
        mark = _OUTCOME_MARK.get(r.outcome, "?")
        line = f"[{style}]{mark} {r.outcome:<7}[/] {escape(r.rule)}"
        if r.observed is not None:
            line += f": {escape(_observed(r.observed))}"
        if r.detail and r.outcome != "pass":
            line += f" [dim]({escape(r.detail)})[/]"
        console.print(line, highlight=False)


def gate(
    model: ModelArgument,
    project: ProjectOption = None,
    evaluation: Annotated[
        str | None,
        typer.Option("--evaluation", help="Evaluation id (default: the version's latest)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Apply the spec's gates to an evaluation and record the decision.

    Exits with 72 (gates_failed) when a blocking rule fails; the decision is recorded anyway.
    """
    from goldenpath.errors import GatesFailed
    from goldenpath.gates import gate as gate_model
    from goldenpath.project import open_project

    out = Output(json_output)
    with out.working("Applying the gates"):
        proj = open_project(project)
        decision = gate_model(proj, model, evaluation_id=evaluation)

    def render(console: Console) -> None:
        console.print(
            f"{_VERDICT_MARK[decision.verdict]}: {decision.model_name}/{decision.model_version}"
            f", decision [bold]{decision.decision_id}[/] on evaluation {decision.evaluation_id}"
            + (
                f" (compared with v{decision.compared_with})"
                if decision.compared_with
                else " (no comparison)"
            ),
            highlight=False,
        )
        _print_rules(console, decision.rules)

    out.result(decision.to_dict(), render)
    if decision.verdict == "fail":
        raise typer.Exit(GatesFailed.exit_code)


def promote(
    model: ModelArgument,
    to: Annotated[
        str, typer.Option("--to", help="The alias to move: champion or challenger.")
    ] = "champion",
    reason: ReasonOption = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move champion (or challenger) to a version that passed its gates.

    Refuses, listing the reasons, without a non-failing decision on an evaluation compared with
    the current champion, or (risk tier high, champion) without another user's approval.
    """
    from goldenpath.project import open_project
    from goldenpath.registry import promote as promote_version

    if to not in ("champion", "challenger"):
        raise typer.BadParameter("must be champion or challenger", param_hint="--to")
    out = Output(json_output)
    with out.working("Promoting") as step:
        proj = open_project(project)
        moved = promote_version(proj, model, to=to, reason=reason, on_step=step)  # type: ignore[arg-type]
    out.result(
        moved.to_dict(),
        lambda c: c.print(
            f"[green]✓[/] {moved.model_name}@{moved.alias}: "
            f"{'(none)' if moved.from_version is None else 'v' + moved.from_version} → "
            f"v{moved.to_version} (decision {moved.decision_id}, by {moved.actor})",
            highlight=False,
        ),
    )


def rollback(
    to: Annotated[
        str | None,
        typer.Option("--to", help="A former champion version (default: the previous one)."),
    ] = None,
    reason: ReasonOption = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move the champion back to the previous (or a named former) champion."""
    from goldenpath.project import open_project
    from goldenpath.registry import rollback as rollback_champion

    out = Output(json_output)
    with out.working("Rolling back") as step:
        proj = open_project(project)
        moved = rollback_champion(proj, to=to, reason=reason, on_step=step)
    out.result(
        moved.to_dict(),
        lambda c: c.print(
            f"[green]✓[/] rolled back {moved.model_name}@champion: v{moved.from_version} → "
            f"v{moved.to_version} (by {moved.actor})",
            highlight=False,
        ),
    )


def recover(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Finish or undo the promotions a dead process left pending (role developer).

    Each is completed when MLflow's alias already reached the new version, else abandoned (the
    alias never moved); both are audited. A promotion whose process is still running is left
    alone. Read commands (history) only show such a move as pending.
    """
    from goldenpath.project import open_project
    from goldenpath.registry import recover_promotions

    out = Output(json_output)
    with out.working("Settling pending promotions"):
        settled = recover_promotions(open_project(project))

    def render(console: Console) -> None:
        if not settled:
            console.print("[green]✓[/] nothing to settle: no promotion was left pending")
        for p in settled:
            outcome = "completed" if p.state == "completed" else "abandoned (the alias never moved)"
            console.print(
                f"[green]✓[/] promotion {p.id}, {p.model_name}@{p.alias} "
                f"{'-' if p.from_version is None else 'v' + p.from_version} → v{p.to_version} "
                f"(asked by {p.actor}): {outcome}",
                highlight=False,
            )

    out.result({"settled": [p.to_dict() for p in settled]}, render)


def approve(
    decision: Annotated[
        str,
        typer.Argument(
            help="The decision id printed by goldenpath gate, or name/version for that "
            "version's latest decision."
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Recorded with it.")] = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a gate decision (role approver; not the user who took the decision)."""
    from goldenpath.project import open_project
    from goldenpath.registry import approve as approve_decision

    out = Output(json_output)
    with out.working("Approving"):
        proj = open_project(project)
        approval = approve_decision(proj, decision, comment=comment)
    out.result(
        approval.to_dict(),
        lambda c: c.print(
            f"[green]✓[/] {approval.approver} approved decision {approval.decision_id}",
            highlight=False,
        ),
    )


def history(
    project: ProjectOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also compare MLflow's aliases with the history; exits 78 (registry_drift) "
            "when one was moved outside goldenpath.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Who moved which alias when, and why (newest first).

    Writes nothing: a promotion a dead process left pending is shown as pending (its alias is
    not drift); goldenpath recover settles it.
    """
    from goldenpath.errors import RegistryDrift
    from goldenpath.project import open_project
    from goldenpath.registry import check_aliases, stalled
    from goldenpath.registry import history as alias_history

    out = Output(json_output)
    with out.working("Reading the history"):
        proj = open_project(project)
        moves = alias_history(proj)
        drift = check_aliases(proj) if check else []
    stuck = [m for m in moves if stalled(m)]

    def render(console: Console) -> None:
        if not moves:
            console.print(f"No promotions yet for [bold]{proj.name}[/].")
        table = Table(pad_edge=False)
        for column in ("when", "alias", "move", "kind", "state", "by", "decision", "reason"):
            table.add_column(column, overflow="fold")
        for m in moves:
            table.add_row(
                (m.completed_at or m.created_at)[:16].replace("T", " "),
                m.alias,
                f"{'-' if m.from_version is None else 'v' + m.from_version} → v{m.to_version}",
                m.kind,
                m.state,
                m.actor,
                (m.decision_id or "-")[:8],
                m.reason,
            )
        if moves:
            console.print(table)
        for m in moves:
            if m.state == "pending":
                why = (
                    "its process ended: settle it with goldenpath recover (role developer)"
                    if m in stuck
                    else f"in progress ({m.owner})"
                )
                console.print(
                    f"[yellow]![/] promotion {m.id} of @{m.alias} to v{m.to_version} (by "
                    f"{m.actor}) is pending; {why}",
                    highlight=False,
                )
        if check:
            if drift:
                for d in drift:
                    console.print(f"[red]✗[/] {d.message}", highlight=False)
            else:
                console.print("[green]✓[/] MLflow's aliases agree with the history")

    out.result(
        {
            "history": [m.to_dict() for m in moves],
            "drift": [d.to_dict() for d in drift],
            "stalled": [m.id for m in stuck],
        },
        render,
    )
    if drift:
        raise typer.Exit(RegistryDrift.exit_code)


def card(
    model: ModelArgument,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write the model card (Markdown and HTML) from the evidence, and log it to MLflow."""
    from goldenpath.project import open_project
    from goldenpath.reports.model_card import write_model_card

    out = Output(json_output)
    with out.working("Writing the model card"):
        proj = open_project(project)
        written = write_model_card(proj, model)
    out.result(
        written.to_dict(),
        lambda c: c.print(
            f"[green]✓[/] Model card of {written.model}: {written.markdown_path}\n"
            f"  HTML: {written.html_path}",
            highlight=False,
        ),
    )


RoleArgument = Annotated[str, typer.Argument(help="viewer, developer, approver or admin.")]


def _role(value: str) -> Any:
    from goldenpath.store import ROLES

    if value not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="ROLE")
    return value


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (their tokens act as it).")],
    role: Annotated[str, typer.Option("--role", help="viewer, developer, approver or admin.")],
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a user with a role (admins only)."""
    from goldenpath.project import open_project
    from goldenpath.registry import add_member

    checked = _role(role)
    out = Output(json_output)
    with out.working("Adding the user"):
        user = add_member(open_project(project), name, checked)
    out.result(user.to_dict(), lambda c: c.print(f"[green]✓[/] added {user.name} as {user.role}"))


@users_app.command("grant")
def users_grant(
    name: Annotated[str, typer.Argument(help="An existing user.")],
    role: RoleArgument,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change a user's role (admins only)."""
    from goldenpath.project import open_project
    from goldenpath.registry import grant

    checked = _role(role)
    out = Output(json_output)
    with out.working("Changing the role"):
        user = grant(open_project(project), name, checked)
    out.result(user.to_dict(), lambda c: c.print(f"[green]✓[/] {user.name} is now {user.role}"))


@users_app.command("list")
def users_list(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """List the users and their roles."""
    from goldenpath.project import open_project
    from goldenpath.registry import members

    out = Output(json_output)
    with out.working("Reading users"):
        found = members(open_project(project))

    def render(console: Console) -> None:
        if not found:
            console.print("No users yet: the first user to act on the store becomes its admin.")
        for u in found:
            console.print(f"{u.name}  {u.role}  (added by {u.created_by}, {u.created_at[:10]})")

    out.result([u.to_dict() for u in found], render)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint file (or a folder of them) to verify the store against; "
            "repeatable. Needs --public-key.",
            exists=True,
        ),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="The public key (FILE.pub of audit keygen) checkpoints must be signed with; "
            "repeatable.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute the audit chain, re-hash every store row it binds (users, decisions,
    approvals, promotions, evaluations, credentials, settings), and check it against signed
    checkpoints; exits 77 (audit_chain_broken) at a broken link, a row changed outside
    goldenpath or a failing checkpoint."""
    from goldenpath.errors import AuditChainBroken
    from goldenpath.project import open_project
    from goldenpath.registry.checkpoints import verify_with_checkpoints

    if checkpoint and not public_key:
        raise typer.BadParameter(
            "a checkpoint proves nothing without the key it must be signed with: give the "
            "public key kept apart from the store (the FILE.pub of goldenpath audit keygen)",
            param_hint="--public-key",
        )
    out = Output(json_output)
    with out.working("Verifying the audit chain"):
        verification = verify_with_checkpoints(
            open_project(project), checkpoint or [], public_key or []
        )
    report = verification.chain

    def render(console: Console) -> None:
        if report.ok and report.head_seq is None:
            console.print("[green]✓[/] audit chain empty: nothing recorded yet")
        elif report.ok:
            console.print(
                f"[green]✓[/] audit chain intact: {report.events:,} events, head "
                f"{report.head_seq} {report.head_hash}",
                highlight=False,
            )
        else:
            console.print(
                f"[red]✗[/] audit chain broken at event {report.broken_at}: {report.reason}",
                highlight=False,
            )
        rows = verification.rows
        if rows.ok:
            console.print(f"[green]✓[/] store rows bound: {rows.rows:,} rows as the chain recorded")
        for problem in rows.problems:
            console.print(f"[red]✗[/] {escape(problem.detail)}", highlight=False)
        for c in verification.checkpoints:
            if c.ok:
                console.print(
                    f"[green]✓[/] checkpoint {escape(c.path)} holds: events 1 to {c.head_seq} "
                    f"as signed at {c.at} by {c.key_fingerprint}",
                    highlight=False,
                )
            else:
                console.print(
                    f"[red]✗[/] checkpoint {escape(c.path)}: {escape(c.reason or '')}",
                    highlight=False,
                )

    out.result(verification.to_dict(), render)
    if not verification.ok:
        raise typer.Exit(AuditChainBroken.exit_code)


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="The Ed25519 private key (PEM, mode 0600) to sign with "
            "(default: GOLDENPATH_CHECKPOINT_KEY).",
            dir_okay=False,
        ),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="A .json file to write, or a folder for a new file named by time and seq "
            "(default: .goldenpath/checkpoints/ in the project).",
        ),
    ] = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Sign the head of the audit chain and write the checkpoint (role approver)."""
    from goldenpath.project import open_project
    from goldenpath.registry.checkpoints import make_checkpoint

    out = Output(json_output)
    with out.working("Signing the head of the audit chain"):
        written = make_checkpoint(open_project(project), key=key, out=out_path)
    c = written.checkpoint
    out.result(
        written.to_dict(),
        lambda console: console.print(
            f"[green]✓[/] checkpoint of {c.events:,} event{'' if c.events == 1 else 's'}, "
            f"head {c.head_seq} {c.head_hash}, "
            f"signed by {c.key_fingerprint}: {escape(written.path)} (audit event "
            f"{written.audit_event})",
            highlight=False,
        ),
    )


@audit_app.command("keygen")
def audit_keygen(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where to write the private key (mode 0600); the public key goes to FILE.pub.",
            dir_okay=False,
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Create an Ed25519 key pair to sign checkpoints with (keep it away from the store)."""
    from goldenpath.registry.checkpoints import create_checkpoint_key

    out = Output(json_output)
    with out.working("Creating the key"):
        generated = create_checkpoint_key(out_path)
    out.result(
        generated.to_dict(),
        lambda console: console.print(
            f"[green]✓[/] private key {escape(generated.private_key)} (mode 0600), public key "
            f"{escape(generated.public_key)}, fingerprint {generated.fingerprint}\n"
            + generated.public_key_pem.rstrip(),
            highlight=False,
            markup=True,
        ),
    )


@audit_app.command("list")
def audit_list(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N events.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The newest audit events of this project."""
    from goldenpath.project import open_project
    from goldenpath.registry import audit_events

    out = Output(json_output)
    with out.working("Reading the audit trail"):
        events = audit_events(open_project(project), limit=limit)

    def render(console: Console) -> None:
        for e in events:
            console.print(
                f"{e.seq:>5} {e.at[:19].replace('T', ' ')} {e.actor:<12} {e.action:<20} "
                f"{e.subject}",
                highlight=False,
                markup=False,
            )

    out.result([e.to_dict() for e in events], render)
