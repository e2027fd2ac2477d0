"""Reading the gates of the committed spec (change control of the gates, risk tier high): git
repositories made in temporary folders, no store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

import goldenpath
from conftest import MakeProject, commit_spec
from goldenpath.errors import GatesUncommitted
from goldenpath.gates import gates_fingerprint
from goldenpath.gates.changes import committed_gates, gates_text, require_committed

HIGH = {"project.risk_tier": "high"}


def _edit(root: Path, **project: str) -> None:
    spec = yaml.safe_load((root / "goldenpath.yaml").read_text())
    spec["project"].update(project)
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec))


def test_a_project_outside_git_has_no_committed_gates(make_project: MakeProject) -> None:
    project = goldenpath.open_project(make_project(**HIGH))
    with pytest.raises(GatesUncommitted, match="is not in a git repository"):
        committed_gates(project)


def test_a_spec_never_committed_is_refused(make_project: MakeProject) -> None:
    root = make_project(**HIGH)
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    (root / "README").write_text("x")
    subprocess.run(["git", "-C", str(root), "add", "README"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        check=True,
    )
    with pytest.raises(GatesUncommitted, match="is not committed"):
        committed_gates(goldenpath.open_project(root))


def test_committed_gates_are_what_the_fingerprint_hashes(make_project: MakeProject) -> None:
    root = make_project(**HIGH)
    commit_spec(root)
    project = goldenpath.open_project(root)
    committed = require_committed(project)
    assert committed.text == gates_text(project.spec)
    assert committed.sha256 == gates_fingerprint(project)
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    )
    assert committed.commit == head.stdout.strip()


def test_a_project_in_a_subfolder_of_the_repository(make_project: MakeProject) -> None:
    repo = make_project(**HIGH)
    sub = repo / "models" / "churn"
    sub.mkdir(parents=True)
    (repo / "goldenpath.yaml").rename(sub / "goldenpath.yaml")
    for args in (
        ["init", "-q"],
        ["add", "models/churn/goldenpath.yaml"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    project = goldenpath.open_project(sub)
    assert require_committed(project).sha256 == gates_fingerprint(project)


def test_working_tree_gates_that_differ_are_named(make_project: MakeProject) -> None:
    root = make_project(**HIGH)
    commit_spec(root)
    _edit(root, risk_tier="medium")
    project = goldenpath.open_project(root)
    with pytest.raises(GatesUncommitted, match="differ from the spec as committed") as caught:
        require_committed(project)
    assert caught.value.details["differing"] == ["gates.metrics", "project.risk_tier"]
    commit_spec(root)  # committed, the same gates are no longer refused
    assert require_committed(goldenpath.open_project(root)).text == gates_text(project.spec)
