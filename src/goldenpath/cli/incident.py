"""On-call commands: ``goldenpath incident pin``, ``safe-mode``, ``resume`` and ``status``.

Thin shells over :mod:`goldenpath.registry.controls`: each act is written to the store (every
server applies it at its next poll), audited with the actor (role developer), and timed from
the alert it answers, so MTTR can be reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from goldenpath.cli._options import JsonOption, ProjectOption, kv_table
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.registry.controls import Mitigation

__all__ = ["incident_app"]

incident_app = typer.Typer(
    help="On-call: pin a version (freeze promotions and hot swaps), route everything to the "
    "fallback (safe mode), resume, and see where things stand with the time to mitigate.",
    no_args_is_help=True,
)

ReasonOption = Annotated[
    str, typer.Option("--reason", "-m", help="Why: recorded in the audit event.")
]
AlertOption = Annotated[
    int | None,
    typer.Option(
        "--alert",
        help="The alert this answers (goldenpath alerts); default: the latest open one. The "
        "time from its opening to now is recorded.",
    ),
]


def _version(version: str) -> str:
    return version if version == "constant" else f"v{version}"


def _timed(done: Mitigation) -> str:
    if done.alert_id is None:
        return "no open alert to time it from"
    return f"{done.seconds_since_alert:.0f} s after alert {done.alert_id} opened"


def _show(out: Output, done: Mitigation, headline: str) -> None:
    def render(c: Console) -> None:
        c.print(f"[green]✓[/] {headline} ({_timed(done)})", highlight=False)
        c.print("Every server applies it at its next poll (serving.poll_seconds).")

    out.result(done.model_dump(mode="json"), render)


@incident_app.command("pin")
def pin(
    version: Annotated[
        str, typer.Argument(help="The version to serve: the champion or a former champion.")
    ],
    reason: ReasonOption = "",
    alert: AlertOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Serve VERSION everywhere, with no challenger, and refuse promotions and rollbacks until
    goldenpath incident resume (role developer)."""
    from goldenpath.project import open_project
    from goldenpath.registry.controls import pin as pin_version

    out = Output(json_output)
    with out.working("Pinning"):
        done = pin_version(open_project(project), version, reason=reason, alert_id=alert)
    _show(out, done, f"pinned v{done.version}: promotions and hot swaps are frozen")


@incident_app.command("safe-mode")
def safe_mode(
    reason: ReasonOption = "",
    alert: AlertOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Route every request to serving.fallback (answers say degraded: true) until goldenpath
    incident resume (role developer)."""
    from goldenpath.project import open_project
    from goldenpath.registry.controls import safe_mode as switch

    out = Output(json_output)
    with out.working("Switching to safe mode"):
        done = switch(open_project(project), reason=reason, alert_id=alert)
    _show(out, done, f"safe mode: the fallback ({done.version}) answers everything")


@incident_app.command("resume")
def resume(
    readmit: Annotated[
        bool,
        typer.Option(
            "--readmit",
            help="Also lift guardrail halts: the halted challenger answers its share again.",
        ),
    ] = False,
    reason: ReasonOption = "",
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Lift the pin and safe mode (with --readmit, guardrail halts too) (role developer)."""
    from goldenpath.project import open_project
    from goldenpath.registry.controls import resume as lift

    out = Output(json_output)
    with out.working("Resuming"):
        done = lift(open_project(project), reason=reason, readmit=readmit)

    def render(c: Console) -> None:
        c.print(f"[green]✓[/] resumed: lifted {done.reason}", highlight=False)
        c.print("Every server applies it at its next poll (serving.poll_seconds).")

    out.result(done.model_dump(mode="json"), render)


@incident_app.command("status")
def status(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """What is in force (pin, safe mode, halted challengers), the mitigations so far and the
    mean time from alert to mitigation (MTTR)."""
    from goldenpath.project import open_project
    from goldenpath.registry.controls import mttr_seconds, serving_controls

    out = Output(json_output)
    with out.working("Reading the serving controls"):
        opened = open_project(project)
        controls = serving_controls(opened)
    mttr = mttr_seconds(controls)
    data = {**controls.model_dump(mode="json"), "mttr_seconds": mttr}

    def render(c: Console) -> None:
        rows = {
            "pinned": "-" if controls.pinned is None else f"v{controls.pinned}",
            "safe mode": "on" if controls.safe_mode else "off",
            "halted challengers": ", ".join(f"v{v}" for v in sorted(controls.halted)) or "-",
            "mitigations": str(len(controls.mitigations)),
            "MTTR": "-" if mttr is None else f"{mttr:.0f} s",
        }
        c.print(kv_table(rows, title=f"incident status of {opened.name}"))
        for m in controls.mitigations[-10:]:
            c.print(
                f"  {m.at}  {m.action:<9} {m.actor}"
                + ("" if m.version is None else f"  {_version(m.version)}")
                + ("" if m.alert_id is None else f"  alert {m.alert_id}")
                + (f"  ({m.reason})" if m.reason else ""),
                highlight=False,
            )

    out.result(data, render)
