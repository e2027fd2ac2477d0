"""Identity from the command line: tokens created once and kept as hashes, login into a 0600
file, whoami, revocation, API clients with scopes, and the auth mode."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from test_cli import GOLDENPATH, run, run_json

import goldenpath
from conftest import MakeProject
from goldenpath.settings import os_user


def _as(token: str) -> dict[str, str]:
    return {**os.environ, "GOLDENPATH_TOKEN": token}


def _token(*args: str, root: Path) -> str:
    done = run(*args, cwd=root)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_tokens_login_whoami_and_revocation(make_project: MakeProject) -> None:
    root = make_project()
    code, me = run_json("whoami", cwd=root)
    assert (code, me["name"], me["method"], me["auth_mode"]) == (0, os_user(), "local", "local")
    assert run("users", "add", "alice", "--role", "developer", cwd=root).returncode == 0
    token = _token("users", "token", "create", "alice", root=root)

    # the store keeps its hash, never the token
    store = (root / ".goldenpath" / "goldenpath.db").read_bytes()
    assert token.encode() not in store

    login = subprocess.run(
        [GOLDENPATH, "login", "--with-token", "--json"],
        input=token + "\n",
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["name"] == "alice"
    kept = Path(os.environ["XDG_CONFIG_HOME"]) / "goldenpath" / "credentials.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    code, me = run_json("whoami", cwd=root)
    assert (me["name"], me["method"], me["role"]) == ("alice", "token", "developer")
    credential = me["credential"]
    assert token.startswith(f"gp_{credential}_")

    code, listed = run_json("users", "token", "list", cwd=root)  # alice sees her own only
    assert [c["principal"] for c in listed] == ["alice"]
    assert listed[0]["last_used_at"] is not None
    assert "token" not in listed[0]

    assert run("logout", cwd=root).returncode == 0
    code, me = run_json("whoami", cwd=root)
    assert me["name"] == os_user()  # back to the store's admin, the operating-system user
    code, revoked = run_json("users", "token", "revoke", credential, cwd=root)
    assert (code, revoked["state"]) == (0, "revoked")
    done = run("whoami", cwd=root, env=_as(token))
    assert done.returncode == 69
    assert f"token {credential} of alice was revoked" in done.stderr


def test_token_lifetimes_and_client_tokens_cannot_run_commands(make_project: MakeProject) -> None:
    """(Refusing an expired token is shown in tests/unit/auth/test_principal.py.)"""
    root = make_project()
    assert run("users", "add", "bob", "--role", "viewer", cwd=root).returncode == 0
    code, issued = run_json("users", "token", "create", "bob", "--expires", "1m", cwd=root)
    assert code == 0
    assert issued["expires_at"]
    assert issued["token"].startswith("gp_")
    bad = run("users", "token", "create", "bob", "--expires", "soon", cwd=root)
    assert bad.returncode == 2
    client = _token(
        "clients", "create", "shop", "--scope", "predict", "--scope", "feedback", root=root
    )
    done = run("whoami", cwd=root, env=_as(client))
    assert done.returncode == 69
    assert "API client 'shop'" in done.stderr
    code, clients = run_json("clients", "list", cwd=root)
    assert [(c["principal"], c["scopes"]) for c in clients] == [("shop", ["predict", "feedback"])]
    bob = run("clients", "list", cwd=root, env=_as(issued["token"]))
    assert bob.returncode == 71  # a viewer: clients are the admins' business
    unknown = run("clients", "create", "x", "--scope", "everything", cwd=root)
    assert unknown.returncode == 2


def test_token_mode_needs_an_admin_with_a_token_then_refuses_the_local_user(
    make_project: MakeProject,
) -> None:
    """Once an admin was given a token, the local user stays refused, even when every admin
    token has lapsed (an account named like an admin must not become one)."""
    root = make_project()
    refused = run("auth", "set", "token", cwd=root)
    assert refused.returncode == 71
    assert "no admin has an active token" in refused.stderr
    admin = _token("users", "token", "create", os_user(), root=root)
    assert run("auth", "set", "token", cwd=root).returncode == 0
    done = run("whoami", cwd=root)
    assert done.returncode == 69
    assert "identifies people by token" in done.stderr
    done = run("auth", "show", "--json", cwd=root, env=_as(admin))
    assert json.loads(done.stdout)["auth_mode"] == "token"
    assert run("auth", "set", "database", cwd=root, env=_as(admin)).returncode == 71  # SQLite
    admin_id = admin.split("_")[1]
    assert run("users", "token", "revoke", admin_id, cwd=root, env=_as(admin)).returncode == 0
    done = run("whoami", cwd=root)
    assert done.returncode == 69  # no way back to the local identity
    assert "identifies people by token" in done.stderr


def test_the_library_refuses_unknown_scopes_as_the_cli_does(make_project: MakeProject) -> None:
    from goldenpath.errors import PermissionDenied
    from goldenpath.registry.credentials import create_client

    project = goldenpath.open_project(make_project())
    with pytest.raises(PermissionDenied, match="unknown scope"):
        create_client(project, "x", ("everything",))  # type: ignore[arg-type]
