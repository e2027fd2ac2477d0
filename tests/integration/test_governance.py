"""Gates, promotion, approvals, rollback, roles, drift, crash recovery and concurrency, on a real
MLflow registry and the goldenpath store on SQLite and PostgreSQL (``store_uri``).

Two versions are trained and evaluated once per module (version 2 also against version 1 as
champion); every test starts with a new, empty store and no aliases in MLflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient
from sqlalchemy import text as sa_text
from typer.testing import CliRunner

import goldenpath
from conftest import (
    act_as,
    act_as_admin,
    approve_gates,
    commit_spec,
    keep_recorded_evaluation,
    keep_recorded_training,
    project_with_versions,
    recorded_evaluation,
    small_spec,
    store_rows,
)
from goldenpath.auth.principal import auth_mode
from goldenpath.cli.app import app
from goldenpath.errors import (
    ApprovalRefused,
    AuditChainBroken,
    AuthenticationFailed,
    GatesNotApproved,
    GatesUncommitted,
    PermissionDenied,
    PromotionConflict,
    PromotionRefused,
    RecordNotFound,
    RegistryDrift,
)
from goldenpath.gates import DecisionDocument, gate
from goldenpath.gates.changes import approve_gates as approve_gate_change
from goldenpath.gates.changes import gate_changes, gates_text, propose_gates
from goldenpath.gates.decision import gates_fingerprint
from goldenpath.registry import (
    add_member,
    approve,
    check_aliases,
    grant,
    history,
    promote,
    recover_promotions,
    rollback,
    stalled,
    verified_alias,
    verify_audit,
)
from goldenpath.registry.credentials import create_token, credentials_of, revoke_credential
from goldenpath.reports.model_card import write_model_card
from goldenpath.settings import os_user
from goldenpath.store import AuditEvent, open_store, verify_chain
from goldenpath.store.audit import list_events
from goldenpath.store.records import approvals_of, get_decision

NAME = "small"
GATES: dict[str, Any] = {
    "metrics": {"roc_auc": {"min": 0.5, "on": "value"}},
    "non_regression": {"roc_auc": {"max_drop": 0.05}},
    "slices": [{"metric": "roc_auc", "min": 0.3, "min_support": 20, "severity": "warn"}],
    "lineage": {"clean_git": False},
}


@dataclass(frozen=True)
class Trained:
    root: Path
    evaluation_v1: str  # version 1, no comparison
    evaluation_v2: str  # version 2 against version 1 as champion
    evaluation_v2_alone: str  # version 2, no comparison


def _spec_dict(*, risk_tier: str = "medium", gates: dict[str, Any] | None = None) -> Any:
    spec = small_spec()
    spec["project"]["risk_tier"] = risk_tier
    spec["evaluation"] = {"resamples": 50, "seed": 1}
    spec["gates"] = GATES if gates is None else gates
    return spec


def _write_spec(
    root: Path,
    *,
    risk_tier: str = "medium",
    gates: dict[str, Any] | None = None,
    commit: bool = True,
) -> None:
    """Write the spec and commit it (``commit``): the project is a git repository, as change
    control of the gates for risk tier high asks."""
    spec = _spec_dict(risk_tier=risk_tier, gates=gates)
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec))
    if commit:
        commit_spec(root)


def _high(
    root: Path, monkeypatch: pytest.MonkeyPatch, gates: dict[str, Any] | None = None
) -> goldenpath.Project:
    """The project at risk tier high, its spec committed and its gates approved."""
    _write_spec(root, risk_tier="high", gates=gates)
    high = goldenpath.open_project(root)
    approve_gates(high, monkeypatch)
    return high


def _client(project: goldenpath.Project) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")


def _clear_aliases(project: goldenpath.Project) -> None:
    client = _client(project)
    for alias in ("champion", "challenger"):
        with contextlib.suppress(Exception):  # absent alias
            client.delete_registered_model_alias(NAME, alias)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("governance") / "project"
    project = project_with_versions(root, _spec_dict())
    commit_spec(root, "the governance project")

    def evaluated(ref: str, against: str | None = None) -> str:
        return recorded_evaluation(project, ref, against)

    first = evaluated(f"{NAME}/1")
    _client(project).set_registered_model_alias(NAME, "champion", "1")
    second = evaluated(f"{NAME}/2", against="champion")
    _clear_aliases(project)
    alone = evaluated(f"{NAME}/2")
    return Trained(root, first, second, alone)


@pytest.fixture
def project(
    trained: Trained, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[goldenpath.Project]:
    """The trained project with a new store, medium risk, no aliases, acting as alice (admin);
    the module's trainings and evaluations are recorded in the new store (by alice) as train
    and evaluate record them (a version is promotable only with its train event)."""
    _write_spec(trained.root)
    loaded = goldenpath.open_project(trained.root)
    act_as(monkeypatch, loaded, "alice", "admin")
    for version in ("1", "2"):
        keep_recorded_training(loaded, version)
    for kept in (trained.evaluation_v1, trained.evaluation_v2, trained.evaluation_v2_alone):
        keep_recorded_evaluation(loaded, kept)
    _clear_aliases(loaded)
    yield loaded
    _clear_aliases(loaded)


def _as(
    monkeypatch: pytest.MonkeyPatch, project: goldenpath.Project, user: str, role: str | None = None
) -> None:
    """Act as ``user`` with a token (added with ``role`` by the store's first admin)."""
    act_as(monkeypatch, project, user, role)


def _alias(project: goldenpath.Project, alias: str = "champion") -> str | None:
    try:
        return str(_client(project).get_model_version_by_alias(NAME, alias).version)
    except Exception:
        return None


def _champion_v1(project: goldenpath.Project, trained: Trained) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    promote(project, f"{NAME}/1", reason="first")


def _events(project: goldenpath.Project) -> list[AuditEvent]:
    with open_store(project).transaction() as connection:
        return list(reversed(list_events(connection, project=project.name)))


def _actions(project: goldenpath.Project) -> list[str]:
    return [e.action for e in _events(project)]


def _cli(project: goldenpath.Project, *args: str) -> Any:
    """``goldenpath ARGS --json`` on the project, in this process; its JSON."""
    done = CliRunner().invoke(app, [*args, "--json", "--project", str(project.root)])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _sql(project: goldenpath.Project, *statements: str) -> None:
    with open_store(project).transaction() as connection:
        for statement in statements:
            connection.execute(sa_text(statement))


def _auth_mode(project: goldenpath.Project) -> str:
    with open_store(project).transaction() as connection:
        return auth_mode(connection)


# ------------------------------------------------------------------------------------- gates


def test_gate_records_every_rule_with_its_evidence(
    project: goldenpath.Project, trained: Trained
) -> None:
    decision = gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    rules = {r.kind: r for r in decision.rules}
    assert decision.verdict == "pass"
    assert rules["metric"].evidence == "metrics.roc_auc_score.value"
    assert rules["metric"].outcome == "pass"
    assert rules["non_regression"].outcome == "skipped"  # no champion yet
    assert rules["slices"].evidence.startswith("slices[name=plan=")
    assert rules["lineage"].observed == "yes"
    assert decision.compared_with is None
    with open_store(project).transaction() as connection:
        assert get_decision(connection, decision.decision_id) == decision  # typed both ways
    assert DecisionDocument.model_validate(decision.to_dict()) == decision
    # the fixture's set-up (the first admin claims the store and adds alice with a token, and
    # alice's three evaluations are recorded), then alice's gate, with how she was authenticated
    assert _actions(project) == [
        "users.bootstrap",
        "credentials.create_user",
        "users.add",
        "credentials.create_user",
        *["train"] * 2,
        *["evaluate"] * 3,
        "gate",
    ]
    last = _events(project)[-1]
    assert (last.actor, last.payload["auth"]["method"]) == ("alice", "token")


def test_a_blocking_failure_fails_the_decision_and_refuses_promotion(
    project: goldenpath.Project, trained: Trained
) -> None:
    _write_spec(trained.root, gates={"metrics": {"roc_auc": {"min": 0.99, "on": "ci_low"}}})
    strict = goldenpath.open_project(trained.root)
    decision = gate(strict, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert decision.verdict == "fail"
    assert [r.rule for r in decision.failing] == ["roc_auc_score ci_low >= 0.99"]
    with pytest.raises(
        PromotionRefused,
        match=r"(?s)failed 1 blocking rule.*roc_auc_score ci_low >= 0.99: observed 0.6",
    ):
        promote(strict, f"{NAME}/1")
    assert _alias(strict) is None


def test_a_warning_is_recorded_but_does_not_block(
    project: goldenpath.Project, trained: Trained
) -> None:
    _write_spec(
        trained.root,
        gates={"metrics": {"roc_auc": {"min": 0.99, "severity": "warn"}}, "lineage": {}},
    )
    lenient = goldenpath.open_project(trained.root)
    decision = gate(lenient, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert decision.verdict == "warn"
    moved = promote(lenient, f"{NAME}/1", to="challenger")
    assert (moved.state, _alias(lenient, "challenger")) == ("completed", "1")


# ----------------------------------------------------------------------------- refusals


def test_promotion_without_a_decision_is_refused(project: goldenpath.Project) -> None:
    with pytest.raises(PromotionRefused, match="has no gate decision"):
        promote(project, f"{NAME}/1")


def test_first_promotion_needs_no_comparison(project: goldenpath.Project, trained: Trained) -> None:
    _champion_v1(project, trained)
    assert _alias(project) == "1"
    assert verified_alias(project, "champion") == "1"
    assert _actions(project)[-2:] == ["promotion.requested", "promote"]


def test_a_challenger_must_be_compared_with_the_current_champion(
    project: goldenpath.Project, trained: Trained
) -> None:
    _champion_v1(project, trained)
    decision = gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2_alone)
    assert decision.verdict == "fail"  # non-regression cannot be judged without a comparison
    gate_lenient = {**GATES, "non_regression": {}}
    _write_spec(trained.root, gates=gate_lenient)
    lenient = goldenpath.open_project(trained.root)
    gate(lenient, f"{NAME}/2", evaluation_id=trained.evaluation_v2_alone)
    with pytest.raises(PromotionRefused, match="was not compared with any model"):
        promote(lenient, f"{NAME}/2")
    gate(lenient, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
    assert promote(lenient, f"{NAME}/2").from_version == "1"
    assert _alias(lenient) == "2"


def test_a_decision_under_other_gates_is_refused(
    project: goldenpath.Project, trained: Trained
) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    _write_spec(trained.root, gates={**GATES, "metrics": {"roc_auc": {"min": 0.6}}})
    changed = goldenpath.open_project(trained.root)
    with pytest.raises(PromotionRefused, match="taken under other gates"):
        promote(changed, f"{NAME}/1")


def test_promoting_the_current_champion_again_is_refused(
    project: goldenpath.Project, trained: Trained
) -> None:
    _champion_v1(project, trained)
    with pytest.raises(PromotionRefused, match="already the champion"):
        promote(project, f"{NAME}/1")


# ------------------------------------------------------------------- approvals and roles


def test_high_risk_needs_a_second_person(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    high = _high(trained.root, monkeypatch)
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    with pytest.raises(PromotionRefused, match=r"needs an approval .* by someone other than alice"):
        promote(high, f"{NAME}/1")
    with pytest.raises(ApprovalRefused, match="four-eyes"):
        approve(high, decision.decision_id)  # alice is admin, but took the decision
    _as(monkeypatch, high, "bob", "approver")  # added by the first admin, not by alice
    approve(high, f"{NAME}/1", comment="read the card")  # the version's latest decision
    with pytest.raises(ApprovalRefused, match="already approved"):
        approve(high, decision.decision_id)
    with pytest.raises(PromotionRefused, match="by someone other than bob"):
        promote(high, f"{NAME}/1")  # an approver may promote, but not on his own approval
    act_as_admin(monkeypatch, high)
    grant(high, "bob", "viewer")  # a demoted approver's approval no longer counts
    _as(monkeypatch, high, "alice")
    with pytest.raises(PromotionRefused, match="needs an approval"):
        promote(high, f"{NAME}/1")
    act_as_admin(monkeypatch, high)
    grant(high, "bob", "approver")
    _as(monkeypatch, high, "alice")
    moved = promote(high, f"{NAME}/1")
    assert (moved.state, _alias(high)) == ("completed", "1")
    approved = [e for e in _events(high) if e.action == "approve"]
    assert [(e.actor, e.payload["auth"]["method"]) for e in approved] == [("bob", "token")]
    assert approved[0].payload["auth"]["credential"]
    assert verify_audit(high).ok


def test_a_decision_or_approval_written_in_the_database_is_refused(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, item 3: a stale decision's gates_sha256 rewritten and an approval by another
    user inserted directly in the database. Promotion refuses; audit verify names both rows."""
    high = _high(trained.root, monkeypatch)
    stale = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    _as(monkeypatch, high, "bob", "approver")  # a real approver, who approved nothing
    _as(monkeypatch, high, "alice")
    _write_spec(trained.root, risk_tier="high", gates={**GATES, "lineage": {"clean_git": True}})
    changed = goldenpath.open_project(trained.root)
    with pytest.raises(PromotionRefused, match="taken under other gates"):
        promote(changed, f"{NAME}/1")
    _sql(
        changed,
        f"UPDATE gp_decisions SET gates_sha256 = '{gates_fingerprint(changed)}' "
        f"WHERE decision_id = '{stale.decision_id}'",
        "INSERT INTO gp_approvals (decision_id, approver, comment, created_at) "
        f"VALUES ('{stale.decision_id}', 'bob', 'forged', '2026-12-03T00:00:00+00:00')",
    )
    before = store_rows(changed)
    with pytest.raises(
        AuditChainBroken, match=rf"promoting small/1 on decision {stale.decision_id}"
    ):
        promote(changed, f"{NAME}/1")
    assert _alias(changed) is None
    assert store_rows(changed) == before
    problems = {(p.table, p.key): p.problem for p in verify_audit(changed).rows.problems}
    assert problems == {
        ("gp_decisions", stale.decision_id): "edited",
        ("gp_approvals", f'["{stale.decision_id}","bob"]'): "inserted",
    }


def test_a_failing_decision_cannot_be_approved(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_spec(trained.root, gates={"metrics": {"roc_auc": {"min": 0.99}}})
    strict = goldenpath.open_project(trained.root)
    decision = gate(strict, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    _as(monkeypatch, strict, "bob", "approver")
    with pytest.raises(ApprovalRefused, match="cannot be approved"):
        approve(strict, decision.decision_id)
    with pytest.raises(RecordNotFound, match="no decision"):
        approve(strict, "0" * 32)


def test_no_approving_for_the_person_who_made_you_an_approver(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin who adds an approver, or gives someone the approver role, cannot have them
    approve the admin's own decision or promotion (no sock puppets)."""
    high = _high(trained.root, monkeypatch)
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # by alice
    add_member(high, "puppet", "approver")  # alice adds an approver ...
    _as(monkeypatch, high, "puppet")
    with pytest.raises(ApprovalRefused, match="separation of duties"):
        approve(high, decision.decision_id)  # ... who cannot approve alice's decision
    _as(monkeypatch, high, "carol", "viewer")  # added by the first admin
    _as(monkeypatch, high, "alice")
    grant(high, "carol", "approver")  # but given the approver role by alice
    _as(monkeypatch, high, "carol")
    with pytest.raises(ApprovalRefused, match="separation of duties"):
        approve(high, decision.decision_id)
    _as(monkeypatch, high, "dave", "developer")
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # by dave
    _as(monkeypatch, high, "carol")
    approve(high, decision.decision_id)  # dave neither added carol nor made her approver
    _as(monkeypatch, high, "alice")
    with pytest.raises(PromotionRefused, match="neither added nor gave their role"):
        promote(high, f"{NAME}/1")  # alice made carol an approver: not a second person for alice
    _as(monkeypatch, high, "dave")
    assert promote(high, f"{NAME}/1").state == "completed"


def test_a_token_made_by_the_decision_taker_or_promoter_is_not_a_second_person(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin can create a token for any user; an approval made with a token the decision
    taker (or the promoter) created is theirs, not a second person's."""
    high = _high(trained.root, monkeypatch)
    _as(monkeypatch, high, "bob", "approver")  # bob and his own token: the first admin's
    _as(monkeypatch, high, "dave", "developer")
    _as(monkeypatch, high, "alice")  # an admin
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    monkeypatch.setenv("GOLDENPATH_TOKEN", create_token(high, "bob").token)  # alice's bob
    with pytest.raises(ApprovalRefused, match="which alice created"):
        approve(high, decision.decision_id)
    _as(monkeypatch, high, "dave")
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # dave's decision
    _as(monkeypatch, high, "alice")
    monkeypatch.setenv("GOLDENPATH_TOKEN", create_token(high, "bob").token)
    approve(high, decision.decision_id)  # alice's bob may approve dave's decision ...
    _as(monkeypatch, high, "alice")
    with pytest.raises(PromotionRefused, match="with a token alice did not create"):
        promote(high, f"{NAME}/1")  # ... but it is no second person for alice's promotion
    _as(monkeypatch, high, "dave")
    assert promote(high, f"{NAME}/1").state == "completed"
    with open_store(high).transaction() as connection:
        (approval,) = approvals_of(connection, decision.decision_id)
    assert approval.credential is not None


def test_a_decision_or_a_demotion_landing_during_a_promotion_stops_it(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What changed while a promotion was being checked is seen when it records its intent: a
    newer (failing) decision, or the promoter's role taken away."""
    from goldenpath.registry import promotion

    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    moving = promotion._move

    def meanwhile_a_failing_decision(*args: Any, **kwargs: Any) -> Any:
        _write_spec(trained.root, gates={"metrics": {"roc_auc": {"min": 0.99}}})
        strict = goldenpath.open_project(trained.root)
        gate(strict, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # fails
        _write_spec(trained.root)
        return moving(*args, **kwargs)

    monkeypatch.setattr(promotion, "_move", meanwhile_a_failing_decision)
    before = len(_events(project))
    with pytest.raises((PromotionRefused, PromotionConflict)):
        promote(project, f"{NAME}/1")
    assert _alias(project) is None
    assert [e.action for e in _events(project)][before:] == ["gate"]  # no intent was recorded

    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # passes again
    _as(monkeypatch, project, "dave", "developer")

    def meanwhile_a_demotion(*args: Any, **kwargs: Any) -> Any:
        token = os.environ["GOLDENPATH_TOKEN"]
        act_as_admin(monkeypatch, project)
        grant(project, "dave", "viewer")
        monkeypatch.setenv("GOLDENPATH_TOKEN", token)
        return moving(*args, **kwargs)

    monkeypatch.setattr(promotion, "_move", meanwhile_a_demotion)
    with pytest.raises(PermissionDenied, match="'dave' has role viewer"):
        promote(project, f"{NAME}/1")
    assert _alias(project) is None


def test_a_local_identity_cannot_approve_a_high_risk_model(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    high = _high(trained.root, monkeypatch)
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    monkeypatch.delenv("GOLDENPATH_TOKEN")  # the operating-system user, an admin of the store
    if _auth_mode(high) == "token":  # PostgreSQL: tokens only, once an admin holds one
        with pytest.raises(AuthenticationFailed, match="identifies people by token"):
            approve(high, decision.decision_id)
        return
    with pytest.raises(ApprovalRefused, match="cannot prove a second person"):
        approve(high, decision.decision_id)


def test_identity_is_proven_not_claimed(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    monkeypatch.setenv("GOLDENPATH_USER", "alice")
    with pytest.raises(AuthenticationFailed, match="GOLDENPATH_USER is no longer read"):
        promote(project, f"{NAME}/1")
    monkeypatch.delenv("GOLDENPATH_USER")
    for forged in ("gp_0123456789ab_" + "A" * 43, "alice"):
        monkeypatch.setenv("GOLDENPATH_TOKEN", forged)
        with pytest.raises(AuthenticationFailed):
            promote(project, f"{NAME}/1")
    token = act_as(monkeypatch, project, "erin", "developer")
    act_as_admin(monkeypatch, project)
    (credential,) = credentials_of(project, "erin")
    revoke_credential(project, credential.id)
    monkeypatch.setenv("GOLDENPATH_TOKEN", token)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        promote(project, f"{NAME}/1")
    assert _alias(project) is None


def test_roles_are_checked_for_every_mutation(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)  # alice: an admin
    _as(monkeypatch, project, "dan", "developer")
    _as(monkeypatch, project, "carol", "viewer")
    with pytest.raises(PermissionDenied, match="needs role developer; 'carol' has role viewer"):
        gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    with pytest.raises(PermissionDenied, match="needs role developer"):
        promote(project, f"{NAME}/1")
    with pytest.raises(PermissionDenied, match="needs role developer"):
        rollback(project)
    _as(monkeypatch, project, "dan")
    with pytest.raises(PermissionDenied, match="approve needs role approver"):
        approve(project, f"{NAME}/1")
    with pytest.raises(PermissionDenied, match="needs role admin"):
        add_member(project, "eve", "admin")
    with pytest.raises(PermissionDenied, match="needs role admin"):
        grant(project, "dan", "admin")
    with pytest.raises(PermissionDenied, match="needs role admin"):
        create_token(project, "carol")
    _as(monkeypatch, project, "alice")
    assert grant(project, "dan", "approver").role == "approver"
    act_as_admin(monkeypatch, project)
    grant(project, "alice", "developer")
    _as(monkeypatch, project, "admin2", "admin")
    grant(project, os_user(), "viewer")
    with pytest.raises(PermissionDenied, match="last admin"):
        grant(project, "admin2", "developer")
    assert _alias(project) is None
    assert "users.grant" in _actions(project)


# --------------------------------------------------------------------- rollback, history


def test_rollback_returns_to_the_previous_champion(
    project: goldenpath.Project, trained: Trained
) -> None:
    with pytest.raises(PromotionRefused, match="no champion"):
        rollback(project)
    _champion_v1(project, trained)
    with pytest.raises(PromotionRefused, match="no earlier champion"):
        rollback(project)
    gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
    promote(project, f"{NAME}/2", reason="better")
    with pytest.raises(PromotionRefused, match="v3 was never the champion"):
        rollback(project, to="3")
    back = rollback(project, reason="incident 42")
    assert (back.from_version, back.to_version, back.kind) == ("2", "1", "rollback")
    assert _alias(project) == "1"
    moves = history(project)
    assert [(m.kind, m.to_version, m.state) for m in moves] == [
        ("rollback", "1", "completed"),
        ("promote", "2", "completed"),
        ("promote", "1", "completed"),
    ]
    assert moves[0].reason == "incident 42"
    assert check_aliases(project) == []
    with pytest.raises(PromotionRefused, match="v1 has no earlier champion"):
        rollback(project)  # back through the champions, not forth to the one rolled back
    again = rollback(project, to="small/2", reason="fixed")
    assert (again.from_version, again.to_version) == ("1", "2")
    verified = verify_audit(project)  # every decision and move is bound into the chain
    assert verified.ok, verified.rows.problems
    _sql(project, f"DELETE FROM gp_promotions WHERE id = {again.id}")
    (gone,) = verify_audit(project).rows.problems
    assert (gone.table, gone.key, gone.problem) == ("gp_promotions", str(again.id), "deleted")


def test_an_alias_moved_outside_goldenpath_is_detected(
    project: goldenpath.Project, trained: Trained
) -> None:
    _champion_v1(project, trained)
    _client(project).set_registered_model_alias(NAME, "champion", "2")  # e.g. the MLflow UI
    drift = check_aliases(project)
    assert [(d.alias, d.store_version, d.mlflow_version) for d in drift] == [("champion", "1", "2")]
    with pytest.raises(RegistryDrift, match=r"restore it: goldenpath promote small/1"):
        verified_alias(project, "champion")
    restored = promote(project, f"{NAME}/1")
    assert (restored.kind, restored.to_version, _alias(project)) == ("restore", "1", "1")
    assert check_aliases(project) == []
    assert _actions(project)[-1] == "restore"


# ------------------------------------------------------------ crash safety, concurrency


_KILLER = """
import os, signal, sys
import goldenpath
from goldenpath.registry import promote

project = goldenpath.open_project(sys.argv[1])

def die(stage):
    if stage == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

promote(project, "small/1", reason="killed", on_step=die)
"""


@pytest.mark.parametrize(
    "case",
    [("intent recorded", "promotion.abandoned", None), ("alias moved", "promote", "1")],
    ids=["before-the-alias-moved", "after-the-alias-moved"],
)
def test_a_promotion_killed_between_steps_is_finished_or_undone(
    project: goldenpath.Project,
    trained: Trained,
    case: tuple[str, str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stage, outcome, alias = case
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    done = subprocess.run(
        [sys.executable, "-c", _KILLER, str(trained.root), stage],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _alias(project) == alias
    assert _actions(project)[-1] == "promotion.requested"  # died mid-way
    with open_store(project).transaction() as connection:
        assert verify_chain(connection).ok
    # reads, by a viewer, settle nothing: the move shows as pending, its alias is not drift,
    # and a server still loads the store's champion (none yet)
    _as(monkeypatch, project, "vic", "viewer")
    before = store_rows(project)
    moves = history(project)
    assert [(m.state, stalled(m)) for m in moves] == [("pending", True)]
    shown = _cli(project, "history", "--check")  # says how to settle it
    assert (shown["stalled"], shown["drift"]) == ([moves[0].id], [])
    assert check_aliases(project) == []
    assert verified_alias(project, "champion") is None
    assert store_rows(project) == before
    with pytest.raises(PermissionDenied, match="needs role developer"):  # nor may a viewer
        recover_promotions(project)
    assert store_rows(project) == before
    _as(monkeypatch, project, "dora", "developer")  # a developer settles it: goldenpath recover
    settled = _cli(project, "recover")["settled"]
    assert [m["state"] for m in settled] == ["completed" if alias else "abandoned"]
    assert [(m.id, m.state) for m in history(project)] == [(s["id"], s["state"]) for s in settled]
    events = _events(project)
    assert events[-1].action == outcome
    assert (events[-1].actor, events[-1].payload["requested_by"]) == ("dora", "alice")
    assert events[-1].payload["recovered"] is True
    assert check_aliases(project) == []  # alias, history and audit agree
    assert verified_alias(project, "champion") == alias
    assert recover_promotions(project) == []  # nothing left to settle
    verified = verify_audit(project)  # the chain, and every row as the chain recorded it
    assert verified.ok, verified.rows.problems
    if alias is None:  # undone: promoting again works
        assert promote(project, f"{NAME}/1").state == "completed"


def test_concurrent_promotions_one_wins_the_other_fails_clearly(
    project: goldenpath.Project, trained: Trained
) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2_alone)
    failures: list[Exception] = []

    def meanwhile(stage: str) -> None:
        if stage == "intent recorded":  # the first holds the lock: the second must fail
            try:
                promote(project, f"{NAME}/2")
            except PromotionConflict as exc:
                failures.append(exc)

    winner = promote(project, f"{NAME}/1", on_step=meanwhile)
    assert winner.state == "completed"
    assert len(failures) == 1
    assert "another promotion of small is in progress (alice" in failures[0].message
    assert _alias(project) == "1"
    assert [m.to_version for m in history(project)] == ["1"]


def test_racing_processes_never_lose_an_update(
    project: goldenpath.Project, trained: Trained
) -> None:
    gate(project, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2_alone)
    script = textwrap.dedent(
        """
        import sys, goldenpath
        from goldenpath.errors import GoldenpathError
        from goldenpath.registry import promote
        try:
            promote(goldenpath.open_project(sys.argv[1]), sys.argv[2])
            print("won")
        except GoldenpathError as exc:
            print(exc.code)
        """
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(trained.root), f"{NAME}/{v}"],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for v in ("1", "2")
    ]
    results = sorted(r.communicate(timeout=120)[0].strip() for r in racers)
    # exactly one wins; the other meets the lock or finds the champion moved under it
    assert results.count("won") == 1, results
    assert results[0] in ("promotion_conflict", "promotion_refused"), results
    moves = [m for m in history(project) if m.state == "completed"]
    assert len(moves) == 1
    assert _alias(project) == moves[0].to_version


# ------------------------------------------------------------------------------- card


def test_model_card_is_written_from_the_evidence_and_logged(
    project: goldenpath.Project, trained: Trained
) -> None:
    _champion_v1(project, trained)
    card = write_model_card(project, f"{NAME}/1")
    markdown = card.markdown_path.read_text()
    decision = history(project)[0].decision_id
    assert decision is not None
    assert decision in markdown
    assert "roc_auc_score" in markdown
    assert card.html_path.read_text().lower().startswith("<!doctype html>")
    logged = _client(project).list_artifacts(
        _client(project).get_model_version(NAME, "1").run_id, "model_card"
    )
    assert sorted(Path(a.path).name for a in logged) == ["model_card.html", "model_card.md"]
    assert _actions(project)[-1] == "card"


# ------------------------------------------- change control of the gates (risk tier high)


def _cli_fails(project: goldenpath.Project, *args: str) -> tuple[int, Any]:
    """``goldenpath ARGS --json`` on the project, expected to fail: its exit code and error."""
    done = CliRunner().invoke(app, [*args, "--json", "--project", str(project.root)])
    assert done.exit_code != 0, done.output
    return done.exit_code, json.loads(done.stdout)["error"]


def test_gates_weakened_in_an_uncommitted_spec_are_refused(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: for risk tier high, gates weakened in goldenpath.yaml without a commit (or the
    tier lowered there) do not count: gate refuses and writes nothing."""
    high = _high(trained.root, monkeypatch)
    assert gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1).verdict == "pass"
    weak = {"metrics": {"roc_auc": {"min": 0.1, "on": "value"}}, "lineage": {"clean_git": False}}
    before = store_rows(high)
    for tier in ("high", "medium"):  # a weaker bar, or the tier lowered to escape control
        _write_spec(trained.root, risk_tier=tier, gates=weak, commit=False)
        weakened = goldenpath.open_project(trained.root)
        with pytest.raises(GatesUncommitted, match=r"differ from the spec as committed at"):
            gate(weakened, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
        code, error = _cli_fails(
            weakened, "gate", f"{NAME}/1", "--evaluation", trained.evaluation_v1
        )
        assert (code, error["code"]) == (67, "gates_uncommitted")
        with pytest.raises(GatesUncommitted):
            propose_gates(weakened)  # only committed gates can be proposed
    assert store_rows(high) == before
    assert verify_audit(high).ok


def test_committed_gates_need_an_approved_change(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_spec(trained.root, risk_tier="high")
    high = goldenpath.open_project(trained.root)
    before = store_rows(high)
    with pytest.raises(GatesNotApproved, match=r"no approved change \(they were never proposed\)"):
        gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert store_rows(high) == before
    proposal = propose_gates(high)  # by alice
    assert (proposal.created, proposal.change.state) == (True, "proposed")
    before = store_rows(high)
    with pytest.raises(GatesNotApproved, match=f"gate change {proposal.change.change_id}, "):
        gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    code, error = _cli_fails(high, "gate", f"{NAME}/1", "--evaluation", trained.evaluation_v1)
    assert (code, error["code"]) == (68, "gates_not_approved")
    assert store_rows(high) == before
    _write_spec(trained.root, risk_tier="medium")  # medium: today's behaviour, no approval
    assert gate(goldenpath.open_project(trained.root), f"{NAME}/1").verdict == "pass"


def test_gates_proposed_and_approved_by_a_second_person_allow_gate_and_promotion(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_spec(trained.root, risk_tier="high")
    high = goldenpath.open_project(trained.root)
    _as(monkeypatch, high, "bob", "approver")  # added by the first admin
    _as(monkeypatch, high, "alice")
    proposed = _cli(high, "gates", "propose")
    head = subprocess.run(
        ["git", "-C", str(trained.root), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert (proposed["created"], proposed["state"], proposed["proposed_by"]) == (
        True,
        "proposed",
        "alice",
    )
    assert (proposed["gates_sha256"], proposed["git_commit"]) == (gates_fingerprint(high), head)
    assert json.loads(proposed["gates"])["risk_tier"] == "high"
    with pytest.raises(ApprovalRefused, match=r"proposed gate change .* \(four-eyes\)"):
        approve_gate_change(high, "latest")  # alice is an admin, but she proposed them
    _as(monkeypatch, high, "bob")
    approved = _cli(high, "gates", "approve", "latest", "--comment", "thresholds reviewed")
    assert (approved["state"], approved["approved_by"], approved["comment"]) == (
        "approved",
        "bob",
        "thresholds reviewed",
    )
    assert approved["credential"] is not None
    with pytest.raises(ApprovalRefused, match="already approved by bob"):
        approve_gate_change(high, proposed["change_id"])
    before = store_rows(high)
    again = propose_gates(high)  # the same gates again: nothing is written
    assert (again.created, again.change.change_id) == (False, proposed["change_id"])
    assert store_rows(high) == before
    listed = _cli(high, "gates", "list")["changes"]
    assert [(c["change_id"], c["state"]) for c in listed] == [(proposed["change_id"], "approved")]
    _as(monkeypatch, high, "alice")
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    _as(monkeypatch, high, "bob")
    approve(high, decision.decision_id)
    _as(monkeypatch, high, "alice")
    assert promote(high, f"{NAME}/1").state == "completed"
    actions = _actions(high)
    assert (actions.count("gates.propose"), actions.count("gates.approve")) == (1, 1)
    assert verify_audit(high).ok


def test_gate_changes_follow_the_separation_of_duties_of_approvals(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither a local identity, nor an approver the proposer added or made, nor a token the
    proposer created can approve the proposer's gates."""
    _write_spec(trained.root, risk_tier="high")
    high = goldenpath.open_project(trained.root)
    _as(monkeypatch, high, "bob", "approver")
    _as(monkeypatch, high, "alice")
    change = propose_gates(high).change
    add_member(high, "puppet", "approver")  # alice adds an approver ...
    _as(monkeypatch, high, "puppet")
    with pytest.raises(ApprovalRefused, match="separation of duties"):
        approve_gate_change(high, change.change_id)  # ... who cannot approve her gates
    _as(monkeypatch, high, "alice")
    monkeypatch.setenv("GOLDENPATH_TOKEN", create_token(high, "bob").token)  # alice's bob
    with pytest.raises(ApprovalRefused, match="which alice created"):
        approve_gate_change(high, change.change_id)
    monkeypatch.delenv("GOLDENPATH_TOKEN")  # the operating-system user, an admin of the store
    if _auth_mode(high) == "token":  # PostgreSQL: tokens only, once an admin holds one
        with pytest.raises(AuthenticationFailed, match="identifies people by token"):
            approve_gate_change(high, change.change_id)
    else:
        with pytest.raises(ApprovalRefused, match="cannot prove a second person"):
            approve_gate_change(high, change.change_id)
    _as(monkeypatch, high, "bob")  # bob with the token the first admin made him
    assert approve_gate_change(high, change.change_id).approved_by == "bob"
    assert [c.state for c in gate_changes(high)] == ["approved"]
    assert verify_audit(high).ok


def test_a_committed_change_of_the_gates_needs_its_own_approval(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    high = _high(trained.root, monkeypatch)
    first = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert first.verdict == "pass"
    loose = {**GATES, "slices": []}
    _write_spec(trained.root, risk_tier="high", gates=loose)  # committed, not approved
    changed = goldenpath.open_project(trained.root)
    before = store_rows(changed)
    with pytest.raises(GatesNotApproved, match=rf"gates {gates_fingerprint(changed)[:12]} "):
        gate(changed, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert store_rows(changed) == before
    approve_gates(changed, monkeypatch)  # proposed and approved as a change of its own
    assert gate(changed, f"{NAME}/1", evaluation_id=trained.evaluation_v1).verdict == "pass"
    assert [c.state for c in gate_changes(changed)] == ["approved", "approved"]
    assert verify_audit(changed).ok


def test_promotion_rechecks_that_the_decisions_gates_are_approved(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """promote to champion re-checks the gate change behind the decision: an approval whose
    approver lost the role no longer counts, and a change row edited in the database is caught
    (by promote and by audit verify)."""
    high = _high(trained.root, monkeypatch)
    decision = gate(high, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    _as(monkeypatch, high, "bob", "approver")
    approve(high, decision.decision_id)
    act_as_admin(monkeypatch, high)
    grant(high, "gates-approver", "viewer")  # the gates' approver is no longer one
    _as(monkeypatch, high, "alice")
    with pytest.raises(GatesNotApproved, match="no longer an approver"):
        promote(high, f"{NAME}/1")
    assert _alias(high) is None
    assert propose_gates(high).created  # the same gates, to be approved again
    act_as_admin(monkeypatch, high)
    grant(high, "gates-approver", "approver")
    assert [c.state for c in gate_changes(high)] == ["proposed", "approved"]
    change = gate_changes(high)[1]
    _sql(
        high,
        f"UPDATE gp_gate_changes SET comment = 'edited' WHERE change_id = '{change.change_id}'",
    )
    _as(monkeypatch, high, "alice")
    with pytest.raises(AuditChainBroken, match="gp_gate_changes row"):
        promote(high, f"{NAME}/1")
    assert _alias(high) is None
    problems = {(p.table, p.key): p.problem for p in verify_audit(high).rows.problems}
    assert problems == {("gp_gate_changes", change.change_id): "edited"}


def test_a_gate_change_forged_in_the_database_is_refused(
    project: goldenpath.Project, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row inserted in the database as an approved change of medium-tier gates, to lift the
    change control of a high-risk project, is refused and named by audit verify."""
    _high(trained.root, monkeypatch)
    _write_spec(trained.root, risk_tier="medium")  # committed, not approved
    lowered = goldenpath.open_project(trained.root)
    with pytest.raises(GatesNotApproved, match="never proposed"):
        gate(lowered, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    forged = "f" * 32
    with open_store(lowered).transaction() as connection:
        connection.execute(
            sa_text(
                "INSERT INTO gp_gate_changes (change_id, project, gates_sha256, gates, "
                "git_commit, proposed_by, proposed_at, state, approved_by, approved_at) VALUES "
                "(:id, :project, :sha, :gates, 'x', 'mallory', :at, 'approved', "
                "'gates-approver', :at)"
            ),
            {
                "id": forged,
                "project": lowered.name,
                "sha": gates_fingerprint(lowered),
                "gates": gates_text(lowered.spec),
                "at": "2999-01-01T00:00:00+00:00",
            },
        )
    before = store_rows(lowered)
    with pytest.raises(AuditChainBroken, match=f"gp_gate_changes row {forged} is named by no"):
        gate(lowered, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert store_rows(lowered) == before
    problems = {(p.table, p.key): p.problem for p in verify_audit(lowered).rows.problems}
    assert problems == {("gp_gate_changes", forged): "inserted"}
