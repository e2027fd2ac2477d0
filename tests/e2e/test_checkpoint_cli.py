"""Signed checkpoints from the command line: audit keygen, audit checkpoint, and audit verify
--checkpoint catching a truncated chain with exit 77."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from test_cli import run, run_json

from conftest import MakeProject


def test_keygen_checkpoint_and_verify_catch_a_truncation(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project()
    key = tmp_path / "keys" / "audit.key"
    code, generated = run_json("audit", "keygen", "--out", str(key), cwd=root)
    assert code == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert generated["public_key"] == f"{key}.pub"
    assert generated["fingerprint"].startswith("sha256:")
    assert run("audit", "keygen", "--out", str(key), cwd=root).returncode == 61  # kept

    assert run("users", "add", "alice", "--role", "developer", cwd=root).returncode == 0
    env = {**os.environ, "GOLDENPATH_CHECKPOINT_KEY": str(key)}
    done = run("audit", "checkpoint", "--out", str(tmp_path / "kept"), "--json", cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    # users.bootstrap, users.add, store.id (the id made for the first checkpoint): head 3
    assert (written["checkpoint"]["head_seq"], written["audit_event"]) == (3, 4)
    assert Path(written["path"]).parent == tmp_path / "kept"

    verify = ("audit", "verify", "--checkpoint", str(tmp_path / "kept"))
    code, report = run_json(*verify, "--public-key", f"{key}.pub", cwd=root)
    assert (code, report["ok"], report["checkpoints"][0]["ok"]) == (0, True, True)
    refused = run(*verify, cwd=root)
    assert refused.returncode == 2
    assert "--public-key" in refused.stderr

    with sqlite3.connect(root / ".goldenpath" / "goldenpath.db") as db:
        db.execute("DELETE FROM gp_audit_events WHERE seq >= 2")
    code, alone = run_json("audit", "verify", cwd=root)
    assert (code, alone["broken_at"]) == (77, None)  # the chain alone holds, but the rows
    assert {(p["table"], p["key"], p["problem"]) for p in alone["rows"]["problems"]} == {
        ("gp_users", "alice", "inserted"),  # their events were among those deleted
        ("gp_settings", "store_id", "inserted"),
    }
    done = run(*verify, "--public-key", f"{key}.pub", cwd=root)
    assert done.returncode == 77
    assert "events 2 to 3 are missing: the chain was truncated" in done.stdout
    code, report = run_json(*verify, "--public-key", f"{key}.pub", cwd=root)
    assert (code, report["ok"], report["broken_at"]) == (77, False, None)
    assert report["checkpoints"][0]["first_missing"] == 2

    key.chmod(0o644)
    loose = run("audit", "checkpoint", "--key", str(key), cwd=root)
    assert loose.returncode == 69
    assert "chmod 600" in loose.stderr
