"""Identity commands: tokens for people and API clients, login, whoami and the auth mode.

Thin shells over :mod:`goldenpath.registry.credentials`. A token is printed once, when it is
created: alone on stdout (so ``TOKEN=$(goldenpath users token create alice)`` works), with what
it is on stderr; ``--json`` prints both as one object.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from goldenpath.cli._options import JsonOption, ProjectOption
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.registry.credentials import Identity, Issued
    from goldenpath.store.credentials import Credential

__all__ = ["auth_app", "clients_app", "login", "logout", "token_app", "whoami"]

token_app = typer.Typer(
    help="Tokens people act with (created by admins, shown once, kept only as hashes).",
    no_args_is_help=True,
)
clients_app = typer.Typer(
    help="API clients of the HTTP service: tokens with scopes (predict, feedback, metrics, admin).",
    no_args_is_help=True,
)
auth_app = typer.Typer(
    help="How the store identifies people: local (the OS user), token, or database (PostgreSQL "
    "logins).",
    no_args_is_help=True,
)

_DURATION = re.compile(r"^(\d+)([mhd])$")
ExpiresOption = Annotated[
    str | None,
    typer.Option("--expires", help="Lifetime: 30m, 12h, 90d (default: until revoked)."),
]
IdArgument = Annotated[str, typer.Argument(help="The credential's id (goldenpath ... list).")]


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(
            "a positive duration such as 30m, 12h or 90d", param_hint="--expires"
        )
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _issued(out: Output, issued: Issued) -> None:
    credential = issued.credential
    data = {**credential.to_dict(), "token": issued.token}
    if out.json_mode:
        out.result(data, lambda _: None)
        return
    expiry = credential.expires_at[:19] if credential.expires_at else "never"
    scopes = f", scopes {', '.join(credential.scopes)}" if credential.scopes else ""
    out.stderr.print(
        f"[green]✓[/] token {credential.id} for {credential.kind} {credential.principal}"
        f"{scopes} (expires {expiry}); it is shown only now:",
        highlight=False,
    )
    print(issued.token, flush=True)  # the token alone on stdout


def _credential_lines(console: Console, found: list[Credential]) -> None:
    if not found:
        console.print("No credentials.")
    for c in found:
        data = c.to_dict()
        scopes = f" [{', '.join(c.scopes)}]" if c.scopes else ""
        used = (c.last_used_at or "never")[:19]
        console.print(
            f"{c.id}  {c.kind:<6} {c.principal:<16}{scopes}  {data['state']:<7}  created "
            f"{c.created_at[:10]} by {c.created_by}, last used {used}",
            highlight=False,
            markup=False,
        )


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="An existing user.")],
    expires: ExpiresOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a token for a user (admins only); printed once."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import create_token

    lifetime = _duration(expires)
    out = Output(json_output)
    with out.working("Creating the token"):
        issued = create_token(open_project(project), name, expires=lifetime)
    _issued(out, issued)


@token_app.command("list")
def token_list(
    name: Annotated[str | None, typer.Argument(help="Only this principal's.")] = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """List credentials (never tokens): all for admins, your own otherwise."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import credentials_of

    out = Output(json_output)
    with out.working("Reading credentials"):
        found = credentials_of(open_project(project), name)
    out.result([c.to_dict() for c in found], lambda c: _credential_lines(c, found))


def _revoke(ident: str, project: ProjectOption, json_output: bool) -> None:
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import revoke_credential

    out = Output(json_output)
    with out.working("Revoking"):
        credential = revoke_credential(open_project(project), ident)
    out.result(
        credential.to_dict(),
        lambda c: c.print(f"[green]✓[/] revoked {credential.id} of {credential.principal}"),
    )


@token_app.command("revoke")
def token_revoke(
    ident: IdArgument, project: ProjectOption = None, json_output: JsonOption = False
) -> None:
    """Revoke a credential (admins: any; users: their own)."""
    _revoke(ident, project, json_output)


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Names the client (a service, a team).")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", "-s", help="predict, feedback, metrics or admin; repeatable."),
    ],
    expires: ExpiresOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create an API client's token with scopes (admins only); printed once."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import create_client
    from goldenpath.store.credentials import SCOPES

    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: must be among {', '.join(SCOPES)}", param_hint="--scope"
        )
    lifetime = _duration(expires)
    out = Output(json_output)
    with out.working("Creating the client"):
        issued = create_client(
            open_project(project),
            name,
            tuple(s for s in SCOPES if s in scope),
            expires=lifetime,
        )
    _issued(out, issued)


@clients_app.command("list")
def clients_list(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """List API clients' credentials (admins only)."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import clients_of

    out = Output(json_output)
    with out.working("Reading credentials"):
        found = clients_of(open_project(project))
    out.result([c.to_dict() for c in found], lambda c: _credential_lines(c, found))


@clients_app.command("revoke")
def clients_revoke(
    ident: IdArgument, project: ProjectOption = None, json_output: JsonOption = False
) -> None:
    """Revoke an API client's credential (admins only)."""
    _revoke(ident, project, json_output)


def _identity(console: Console, identity: Identity) -> None:
    p = identity.principal
    how = {"local": "the operating-system user", "token": f"token {p.credential}"}.get(
        p.method, "the database login"
    )
    role = identity.role or "not a user of this store"
    console.print(
        f"{p.name} ({role}), proven by {how}; the store's auth mode is {identity.mode}",
        highlight=False,
        markup=False,
    )


def login(
    with_token: Annotated[
        bool, typer.Option("--with-token", help="Read the token from stdin (no prompt).")
    ] = False,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Keep your token for this project's store (checked first; kept in a 0600 file)."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import log_in

    token = sys.stdin.readline() if with_token else typer.prompt("Token", hide_input=True)
    out = Output(json_output)
    with out.working("Checking the token"):
        identity = log_in(open_project(project), token.strip())
    out.result(identity.to_dict(), lambda c: _identity(c, identity))


def logout(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Forget the token kept for this project's store (revoke it to end it)."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import log_out

    out = Output(json_output)
    with out.working("Logging out"):
        forgotten = log_out(open_project(project))
    out.result(
        {"forgotten": forgotten},
        lambda c: c.print("logged out" if forgotten else "no token was kept for this store"),
    )


def whoami(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Who you act as here, how that is proven, and the store's auth mode."""
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import who_am_i

    out = Output(json_output)
    with out.working("Identifying"):
        identity = who_am_i(open_project(project))
    out.result(identity.to_dict(), lambda c: _identity(c, identity))


@auth_app.command("set")
def auth_set(
    mode: Annotated[str, typer.Argument(help="local, token or database.")],
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set how the store identifies people (admins only)."""
    from goldenpath.auth import AUTH_MODES
    from goldenpath.project import open_project
    from goldenpath.registry.credentials import set_auth_mode

    if mode not in AUTH_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(AUTH_MODES)}", param_hint="MODE")
    out = Output(json_output)
    with out.working("Setting the auth mode"):
        found = set_auth_mode(open_project(project), mode)
    out.result({"auth_mode": found}, lambda c: c.print(f"[green]✓[/] auth mode {found}"))


@auth_app.command("show")
def auth_show(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """The store's auth mode and who you are in it (as whoami)."""
    whoami(project, json_output)
