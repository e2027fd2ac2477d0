"""Change control of the gates (risk tier ``high``; SR 11-7: changes to a model's controls are
reviewed and approved).

The gates in force are the spec's ``gates`` with its risk tier, as canonical JSON
(:func:`gates_text`; their SHA-256 is the ``gates_sha256`` every decision records). For a
change-controlled project they must come from the spec *as committed* in git, and that set of
gates must have been proposed by one person (``goldenpath gates propose``, role developer) and
approved by a second (``goldenpath gates approve``, role approver, with the separation of duties
approvals of decisions follow). ``gate`` refuses otherwise, writing nothing; ``promote`` to
champion re-checks that the decision's gates are approved. Every change is a ``gp_gate_changes``
row bound into the audit chain.

A project is change-controlled when its spec says risk tier ``high``, or when its newest approved
change does (so lowering the tier is itself a change to approve).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from goldenpath.auth.principal import identify
from goldenpath.errors import ApprovalRefused, GatesNotApproved, GatesUncommitted, RecordNotFound
from goldenpath.registry.approvals import require_proven, require_second_person
from goldenpath.spec import Spec, parse_spec
from goldenpath.store import Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import canonical_json, now
from goldenpath.store.bindings import require_bound
from goldenpath.store.gate_changes import (
    GateChange,
    approve_change,
    approved_change,
    changes_of,
    get_change,
    insert_change,
    pending_change,
)
from goldenpath.store.records import get_user
from goldenpath.store.schema import gate_changes as gate_changes_table

if TYPE_CHECKING:
    from goldenpath.project import Project

__all__ = [
    "CommittedGates",
    "Proposal",
    "approve_gates",
    "change_controlled",
    "committed_gates",
    "enforce_change_control",
    "gate_changes",
    "gates_sha256",
    "gates_text",
    "propose_gates",
    "require_approved_gates",
    "require_committed",
]

_HOW_TO = (
    "goldenpath gates propose (role developer), then an approver runs: "
    "goldenpath gates approve latest"
)


def gates_text(spec: Spec) -> str:
    """The rules in force as canonical JSON: the gates and the risk tier they depend on."""
    return canonical_json(
        {"gates": spec.gates.model_dump(mode="json"), "risk_tier": spec.project.risk_tier}
    )


def gates_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CommittedGates:
    """The gates of the spec as committed at ``commit`` (``path``: the spec, from the project's
    folder)."""

    text: str
    sha256: str
    commit: str
    path: str


def _git(root: str, *args: str) -> str | None:
    """git's output in ``root`` (None: git is missing or the command failed)."""
    try:
        done = subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def committed_gates(project: Project) -> CommittedGates:
    """The gates of ``goldenpath.yaml`` as committed at ``HEAD`` of the git repository holding
    the project (which may be a subfolder of it); :class:`GatesUncommitted` when the project is
    not in git or the spec was never committed."""
    root, name = str(project.root), project.spec_path.name
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if head is None:
        raise GatesUncommitted(
            f"project {project.name!r} ({project.root}) is not in a git repository with a "
            "commit, so its gates have no committed version: risk tier high takes the gates "
            "only from a committed spec",
            hint=f"commit the project: git init && git add {name} && git commit",
        )
    commit = head.strip()
    shown = _git(root, "show", f"HEAD:./{name}")
    if shown is None:
        raise GatesUncommitted(
            f"{project.spec_path} is not committed (commit {commit[:12]} has no such file): "
            "risk tier high takes the gates only from a committed spec",
            hint=f"git add {name} && git commit",
        )
    spec = parse_spec(shown, source=f"{name} at commit {commit[:12]}")
    text = gates_text(spec)
    return CommittedGates(text, gates_sha256(text), commit, name)


def _differing(committed: str, current: str) -> list[str]:
    old, new = json.loads(committed), json.loads(current)
    keys = [f"gates.{k}" for k in sorted({*old["gates"], *new["gates"]})]
    found = [k for k in keys if old["gates"].get(k[6:]) != new["gates"].get(k[6:])]
    return found + (["project.risk_tier"] if old["risk_tier"] != new["risk_tier"] else [])


def require_committed(project: Project) -> CommittedGates:
    """The committed gates, if the working tree's are the same; else :class:`GatesUncommitted`
    (gates weakened, or tightened, in an uncommitted spec do not count)."""
    committed = committed_gates(project)
    current = gates_text(project.spec)
    if current != committed.text:
        keys = _differing(committed.text, current)
        raise GatesUncommitted(
            f"the gates in {project.spec_path} differ from the spec as committed at "
            f"{committed.commit[:12]} ({', '.join(keys)}): risk tier high judges only by "
            "committed, approved gates",
            hint=f"restore the committed spec (git checkout -- {committed.path}), or commit "
            f"the change and have it approved: {_HOW_TO}",
            details={"commit": committed.commit, "differing": keys},
        )
    return committed


def change_controlled(connection: Connection, project: Project) -> bool:
    """Whether the project's gates are under change control: its spec says risk tier high, or
    its newest approved change does."""
    if project.spec.project.risk_tier == "high":
        return True
    approved = [c for c in changes_of(connection, project.name) if c.approved]
    newest = max(approved, key=lambda c: c.approved_at or "", default=None)
    if newest is None:
        return False
    require_bound(  # a row forged to lower the tier is refused, not trusted
        connection,
        [(gate_changes_table, (newest.change_id,))],
        relying=f"the change control of project {project.name!r}'s gates",
    )
    return bool(json.loads(newest.gates).get("risk_tier") == "high")


def _approver_holds(connection: Connection, change: GateChange) -> bool:
    """Whether the change's approver still holds the role approver (a demoted approver's
    approval no longer counts, as for decisions)."""
    user = None if change.approved_by is None else get_user(connection, change.approved_by)
    return user is not None and user.has_role("approver")


def require_approved_gates(
    connection: Connection, project: str, fingerprint: str, *, relying: str
) -> GateChange:
    """The approved change of these gates, as goldenpath wrote it (bound into the audit
    chain) and approved by someone who is still an approver; else :class:`GatesNotApproved`
    (or :class:`~goldenpath.errors.AuditChainBroken` for a row edited in the database)."""
    change = approved_change(connection, project, fingerprint)
    if change is not None:
        require_bound(connection, [(gate_changes_table, (change.change_id,))], relying=relying)
        if _approver_holds(connection, change):
            return change
    pending = pending_change(connection, project, fingerprint)
    state = (
        f"gate change {pending.change_id}, proposed by {pending.proposed_by}, awaits approval"
        if pending is not None
        else "they were never proposed"
        if change is None
        else f"their approver {change.approved_by} is no longer an approver"
    )
    raise GatesNotApproved(
        f"{relying} is refused: the gates {fingerprint[:12]} of project {project!r} have no "
        f"approved change ({state}); risk tier high judges only by approved gates",
        hint=f"an approver runs: goldenpath gates approve {pending.change_id}"
        if pending is not None
        else _HOW_TO,
        details={"gates_sha256": fingerprint},
    )


def enforce_change_control(
    connection: Connection, project: Project, *, committed: bool = True
) -> None:
    """For a change-controlled project, ``gate``'s checks: the working tree's gates are the
    committed ones (``committed``: read git) and they have an approved change."""
    if not change_controlled(connection, project):
        return
    if committed:
        require_committed(project)
    fingerprint = gates_sha256(gates_text(project.spec))
    require_approved_gates(connection, project.name, fingerprint, relying="gate")


@dataclass(frozen=True)
class Proposal:
    """What ``propose`` did: ``created`` False when these gates were already approved or
    already awaiting approval (``change`` is that one; nothing was written)."""

    change: GateChange
    created: bool

    def to_dict(self) -> dict[str, object]:
        return {**self.change.to_dict(), "created": self.created}


def propose_gates(project: Project, *, store: Store | None = None) -> Proposal:
    """Propose the gates of the spec as committed (role developer): :class:`GatesUncommitted`
    when the working tree's gates differ from them or the project is not in git. Gates already
    approved (by someone who is still an approver), or already awaiting approval, are not
    proposed again."""
    store = store or open_store(project)
    with store.transaction() as connection:  # refuse before reading git
        actor = identify(connection)
        authorize(connection, actor, "developer", project=project.name, action="propose gates")
    committed = require_committed(project)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action="propose gates")
        approved = approved_change(connection, project.name, committed.sha256)
        if approved is not None and not _approver_holds(connection, approved):
            approved = None  # its approver was demoted: the gates need approving again
        known = approved or pending_change(connection, project.name, committed.sha256)
        if known is not None:
            return Proposal(known, created=False)
        change = GateChange(
            change_id=uuid.uuid4().hex,
            project=project.name,
            gates_sha256=committed.sha256,
            gates=committed.text,
            git_commit=committed.commit,
            proposed_by=actor.name,
            proposed_at=now(),
            state="proposed",
        )
        insert_change(connection, change)
        record(
            connection,
            actor=actor,
            action="gates.propose",
            project=project.name,
            subject=f"gates/{change.change_id}",
            payload={
                "change_id": change.change_id,
                "gates_sha256": change.gates_sha256,
                "git_commit": change.git_commit,
            },
            rows=[(gate_changes_table, (change.change_id,))],
        )
    return Proposal(change, created=True)


def approve_gates(
    project: Project, change_id: str, *, comment: str = "", store: Store | None = None
) -> GateChange:
    """Approve gate change ``change_id`` (``latest``: the newest awaiting approval) as the
    current user (role approver): not its proposer, nor someone the proposer added or gave
    their role, nor with a token the proposer created; for risk tier high, a proven identity."""
    store = store or open_store(project)
    with store.transaction() as connection:  # refuse before reading anything else
        actor = identify(connection)
        authorize(connection, actor, "approver", project=project.name, action="approve gates")
    require_proven(actor, risk_tier=project.spec.project.risk_tier)
    with store.transaction() as connection:
        approver = authorize(
            connection, actor, "approver", project=project.name, action="approve gates"
        )
        change = (
            pending_change(connection, project.name)
            if change_id == "latest"
            else get_change(connection, change_id)
        )
        if change is None or change.project != project.name:
            raise RecordNotFound(
                f"no gate change {change_id!r} awaiting approval in project {project.name!r}"
                if change_id == "latest"
                else f"no gate change {change_id!r} in project {project.name!r}",
                hint="goldenpath gates list shows the changes; goldenpath gates propose makes one",
            )
        if change.approved:
            raise ApprovalRefused(
                f"gate change {change.change_id} was already approved by {change.approved_by} "
                f"at {change.approved_at}"
            )
        require_proven(actor, risk_tier=str(json.loads(change.gates).get("risk_tier")))
        require_second_person(
            connection,
            actor,
            approver,
            author=change.proposed_by,
            did=f"proposed gate change {change.change_id}",
        )
        if not approve_change(
            connection,
            change.change_id,
            approved_by=actor.name,
            approved_at=now(),
            credential=actor.credential,
            comment=comment,
        ):
            raise ApprovalRefused(f"gate change {change.change_id} was approved meanwhile")
        record(
            connection,
            actor=actor,
            action="gates.approve",
            project=project.name,
            subject=f"gates/{change.change_id}",
            payload={
                "change_id": change.change_id,
                "gates_sha256": change.gates_sha256,
                "comment": comment,
            },
            rows=[(gate_changes_table, (change.change_id,))],
        )
        approved = get_change(connection, change.change_id)
    assert approved is not None
    return approved


def gate_changes(project: Project, *, store: Store | None = None) -> list[GateChange]:
    """The project's gate changes, newest first (a read: writes nothing)."""
    with (store or open_store(project)).reading() as connection:
        return changes_of(connection, project.name)
