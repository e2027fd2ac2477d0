"""Shared fixtures: small generated projects that train in well under a second."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

SMALL_MODEL = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, params):
    X = frame.drop(columns=["label"])
    prepare = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
         ("numbers", StandardScaler(), ["age", "spend"])]
    )
    model = Pipeline([("prepare", prepare),
                      ("model", LogisticRegression(C=params.get("C", 1.0)))])
    return model.fit(X, frame["label"])


def returns_nothing(frame, params):
    return "not a model"


def raises(frame, params):
    raise RuntimeError("the feature store is down")


def nondeterministic(frame, params):
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    seed = int.from_bytes(__import__("os").urandom(4), "little")
    numbers = ColumnTransformer([("numbers", "passthrough", ["age", "spend"])])
    forest = RandomForestClassifier(n_estimators=5, random_state=seed)
    model = Pipeline([("numbers", numbers), ("forest", forest)])
    return model.fit(frame.drop(columns=["label"]), frame["label"])
"""


def small_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A binary-classification table with an id, a category, numbers and a nullable float."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    spend = rng.gamma(2.0, 30.0, n).round(2)
    plan = rng.choice(["basic", "plus", "pro"], n)
    logit = -2 + 0.03 * (age - 40) + 0.02 * spend + (plan == "pro") * 0.8
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    balance = np.where(rng.random(n) < 0.1, np.nan, rng.normal(100, 20, n).round(2))
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "age": age,
            "spend": spend,
            "plan": plan,
            "balance": balance,
            "label": label,
        }
    )


def small_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": {"name": "small", "owners": ["tests@example.com"], "risk_tier": "low"},
        "task": {"type": "binary_classification", "target": "label", "positive_label": "yes"},
        "data": {
            "source": "data.csv",
            "id_column": "customer_id",
            "split": {"method": "random", "test_fraction": 0.25, "seed": 3},
            "contract": {
                "columns": {
                    "customer_id": {"dtype": "int", "min": 1},
                    "age": {"dtype": "int", "min": 0, "max": 120},
                    "spend": {"dtype": "float", "min": 0},
                    "plan": {"dtype": "str", "allowed": ["basic", "plus", "pro"]},
                    "balance": {"dtype": "float", "nullable": True},
                    "label": {"dtype": "str", "allowed": ["no", "yes"]},
                }
            },
            "slices": [{"name": "plan", "column": "plan"}],
        },
        "training": {"entrypoint": "small_model:train", "params": {"C": 0.5}, "seed": 1},
    }
    for dotted, value in overrides.items():
        node = spec
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    return spec


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a small project (spec, CSV, model module) and return its folder."""
    counter = iter(range(1000))

    def make(
        frame: pd.DataFrame | None = None,
        spec: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Path:
        root = tmp_path / f"project{next(counter)}"
        root.mkdir()
        (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec or small_spec(**overrides)))
        (small_frame() if frame is None else frame).to_csv(root / "data.csv", index=False)
        (root / "small_model.py").write_text(textwrap.dedent(SMALL_MODEL))
        return root

    return make


@pytest.fixture(autouse=True)
def _isolated_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests use each project's embedded store unless they set MLFLOW_TRACKING_URI."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(autouse=True)
def _isolated_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests act as the operating-system user (the admin of every store they create) unless
    they present a token; a login of whoever runs the tests is never read."""
    monkeypatch.delenv("GOLDENPATH_TOKEN", raising=False)
    monkeypatch.delenv("GOLDENPATH_USER", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


_ADMIN_TOKENS: dict[tuple[str, str], str] = {}


def _admin_token(monkeypatch: pytest.MonkeyPatch, project: Any) -> str:
    """A token of the store's first admin, the operating-system user (who claims an unclaimed
    store): created once per store, so the admin can still act once a token mode refuses the
    local identity."""
    import os

    from goldenpath.registry.credentials import create_token
    from goldenpath.settings import os_user

    key = (str(project.root), os.environ.get("GOLDENPATH_STORE_URI", ""))
    if key not in _ADMIN_TOKENS:
        monkeypatch.delenv("GOLDENPATH_TOKEN", raising=False)
        _ADMIN_TOKENS[key] = create_token(project, os_user()).token
    return _ADMIN_TOKENS[key]


def act_as_admin(monkeypatch: pytest.MonkeyPatch, project: Any) -> str:
    """Act as the store's first admin (the operating-system user) with their token."""
    token = _admin_token(monkeypatch, project)
    monkeypatch.setenv("GOLDENPATH_TOKEN", token)
    return token


def act_as(
    monkeypatch: pytest.MonkeyPatch, project: Any, name: str, role: str | None = None
) -> str:
    """Act as user ``name`` from now on, with a token the store's first admin creates (added
    first, by that admin, with ``role`` when given). Returns the token."""
    from goldenpath.registry.access import add_member
    from goldenpath.registry.credentials import create_token

    act_as_admin(monkeypatch, project)
    if role is not None:
        add_member(project, name, role)
    token = create_token(project, name).token
    monkeypatch.setenv("GOLDENPATH_TOKEN", token)
    return token


def store_rows(project: Any) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every goldenpath table of the project's store (sorted, as text), to check
    that a call wrote nothing. A credential's last use is left out: using a token records it,
    even in a call that is then refused."""
    import sqlalchemy as sa

    from goldenpath.store import open_store

    tables = {}
    with open_store(project).reading() as connection:
        for name in sa.inspect(connection).get_table_names():
            if name.startswith("gp_"):
                rows = [
                    tuple(v for k, v in row._mapping.items() if k != "last_used_at")
                    for row in connection.execute(sa.text(f"SELECT * FROM {name}"))
                ]
                tables[name] = sorted(tuple(map(str, row)) for row in rows)
    return tables


def tree(root: Path) -> set[str]:
    """Every file and folder below ``root``, relative, to check that nothing was written."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_schema() -> str:
    """A fresh schema in the local PostgreSQL (skips the test when it does not answer)."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"gp_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3
        ) as connection:
            connection.execute(f'CREATE SCHEMA "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not answering at 127.0.0.1:5432: {exc}")
    return name


def _drop_postgres_schema(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test") as connection:
        connection.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A new, empty goldenpath store on SQLite and on PostgreSQL (its own schema), also set as
    GOLDENPATH_STORE_URI so that library calls and subprocesses use it."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'store' / 'goldenpath.db'}"
        monkeypatch.setenv("GOLDENPATH_STORE_URI", uri)
        yield uri
        return
    schema = _postgres_schema()
    uri = f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("GOLDENPATH_STORE_URI", uri)
    yield uri
    _drop_postgres_schema(schema)


def project_with_versions(folder: Path, spec: dict[str, Any], versions: int = 2) -> Any:
    """A small project in ``folder`` trained ``versions`` times (versions 1 .. n registered),
    for the module-scoped fixtures of the governance and serving suites."""
    import os

    import goldenpath

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "goldenpath.yaml").write_text(yaml.safe_dump(spec))
    small_frame(n=600).to_csv(folder / "data.csv", index=False)
    (folder / "small_model.py").write_text(textwrap.dedent(SMALL_MODEL))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    project = goldenpath.open_project(folder)
    for _ in range(versions):
        goldenpath.train(project)
    return project


def recorded_evaluation(project: Any, ref: str, against: str | None = None) -> str:
    """Evaluate ``ref`` (optionally against another model) and record it as
    ``goldenpath.evaluate`` does (files, MLflow, the store's record and the audit event; only
    the HTML report is a stub); return its id."""
    from goldenpath.evaluation import evaluate, record_evaluation
    from goldenpath.registry.access import authorized_actor
    from goldenpath.registry.evaluations import keep_evaluation

    actor = authorized_actor(project, "evaluate")
    result = evaluate(project, ref, against=against)
    keep_evaluation(project, actor, record_evaluation(project, result, html="<html></html>"))
    return result.evaluation_id


def keep_recorded_training(project: Any, version: str) -> None:
    """Record in the current store (a new one: ``store_uri``) the ``train`` event of
    ``NAME/version`` that ``goldenpath.train`` appended to the project's own store (its payload:
    the run and the lineage facts gate judges), acting as the current user."""
    from goldenpath.registry.access import audit, authorized_actor
    from goldenpath.store import open_store
    from goldenpath.store.audit import latest_event

    subject = f"{project.name}/{version}"
    own = open_store(uri=f"sqlite:///{project.state_dir / 'goldenpath.db'}")
    with own.reading() as connection:
        trained = latest_event(connection, project=project.name, action="train", subject=subject)
    assert trained is not None, f"{subject} was not trained in the project's own store"
    audit(project, authorized_actor(project, "train"), "train", subject, trained.payload)


def keep_recorded_evaluation(project: Any, evaluation_id: str) -> None:
    """Record in the current store (a new one: ``store_uri``) an evaluation that
    :func:`recorded_evaluation` made earlier under another store, as ``goldenpath.evaluate``
    records it (the store's record and the audit event), acting as the current user."""
    import hashlib

    from goldenpath.evaluation import EvaluationDocument
    from goldenpath.evaluation.record import HTML_NAME, JSON_NAME, RecordedEvaluation
    from goldenpath.registry.access import authorized_actor
    from goldenpath.registry.evaluations import keep_evaluation

    folder = project.state_dir / "evaluations" / evaluation_id
    raw = (folder / JSON_NAME).read_bytes()
    saved = RecordedEvaluation(
        EvaluationDocument.model_validate_json(raw),
        folder / JSON_NAME,
        folder / HTML_NAME,
        f"evaluations/{evaluation_id}",
        hashlib.sha256(raw).hexdigest(),
    )
    keep_evaluation(project, authorized_actor(project, "evaluate"), saved)


def commit_spec(root: Path, message: str = "spec") -> None:
    """Commit ``root/goldenpath.yaml`` (a git repository made on first use), as change control
    of the gates for risk tier high asks."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    if not (root / ".git").exists():
        git("init", "-q")
    git("add", "goldenpath.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", message)


def approve_gates(project: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Have the project's committed gates proposed and approved as ``goldenpath gates propose``
    and ``goldenpath gates approve`` do, by two people the store's first admin adds
    (``gates-proposer``, a developer, and ``gates-approver``, an approver), each with their
    token; the token acting before is restored. Returns the approved change."""
    import os

    from goldenpath.gates.changes import approve_gates as approve_change
    from goldenpath.gates.changes import propose_gates
    from goldenpath.registry.access import members

    before = os.environ.get("GOLDENPATH_TOKEN")
    act_as_admin(monkeypatch, project)
    known = {user.name for user in members(project)}
    act_as(
        monkeypatch, project, "gates-proposer", None if "gates-proposer" in known else "developer"
    )
    change = propose_gates(project).change
    if not change.approved:
        act_as(
            monkeypatch,
            project,
            "gates-approver",
            None if "gates-approver" in known else "approver",
        )
        change = approve_change(project, change.change_id, comment="approved for the tests")
    if before is None:
        monkeypatch.delenv("GOLDENPATH_TOKEN", raising=False)
    else:
        monkeypatch.setenv("GOLDENPATH_TOKEN", before)
    return change
