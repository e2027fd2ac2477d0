"""Approvals: a second person's recorded consent to a decision (four-eyes).

Risk tier ``high`` needs one before a version becomes champion; ``medium`` records one when
given. An approver cannot approve a decision they took themselves, nor a failing decision, nor
one taken by the person who added them, gave them their role or created the token they act
with (no sock puppets). For risk
tier ``high`` the approver must be proven (a token or a database login): an approval by a
``local`` identity, which only the account running the command vouches for, is refused.
"""

from __future__ import annotations

from sqlalchemy import Connection

from goldenpath.auth.principal import Principal, identify
from goldenpath.errors import ApprovalRefused, DuplicateRecord, RecordNotFound
from goldenpath.project import Project
from goldenpath.store import Approval, Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import now
from goldenpath.store.credentials import get_credential
from goldenpath.store.records import User, add_approval, decisions_of, get_decision
from goldenpath.store.schema import approvals as approvals_table

__all__ = ["approve", "require_proven", "require_second_person"]


def _latest_decision_of(project: Project, ref: str, store: Store) -> str:
    from goldenpath.evaluation.evaluate import resolve_model  # heavy: only when approving

    model = resolve_model(project, ref)
    with store.transaction() as connection:
        found = decisions_of(connection, model.name, model.version or "")
    if not found:
        raise RecordNotFound(
            f"{ref} has no gate decision to approve", hint=f"gate it first: goldenpath gate {ref}"
        )
    return found[0].decision_id


def _token_issuer(connection: Connection, credential: str | None) -> str | None:
    """Who created the credential a principal acts with (None without one)."""
    found = None if credential is None else get_credential(connection, credential)
    return None if found is None else found.created_by


def require_proven(actor: Principal, *, risk_tier: str) -> None:
    """:class:`ApprovalRefused` for risk tier ``high`` when ``actor`` is a ``local`` identity
    (only the account running the command vouches for it: no proof of a second person)."""
    if risk_tier == "high" and not actor.proven:
        raise ApprovalRefused(
            f"{actor.name} is identified only as the operating-system user running this "
            "command (no token), which cannot prove a second person: the approval of a "
            "high-risk model needs a proven identity",
            hint="an admin creates a token for each approver (goldenpath users token create "
            "NAME) and each approves after goldenpath login (or with GOLDENPATH_TOKEN); on "
            "PostgreSQL, goldenpath auth set database makes database logins the identity",
        )


def require_second_person(
    connection: Connection, actor: Principal, approver: User, *, author: str, did: str
) -> None:
    """:class:`ApprovalRefused` unless ``actor`` (the user ``approver``) is a second person for
    ``author``, who ``did`` what is being approved ("took decision ...", "proposed gate change
    ..."): not the author (four-eyes), not acting with a token the author created, not added
    or given their role by the author (separation of duties: no sock puppets)."""
    if author == actor.name:
        raise ApprovalRefused(
            f"{actor.name} {did} and cannot also approve it (four-eyes)",
            hint="another approver must approve it",
        )
    issuer = _token_issuer(connection, actor.credential)
    if issuer is not None and issuer == author:
        raise ApprovalRefused(
            f"{actor.name} acts with token {actor.credential}, which {issuer} created; "
            f"{issuer} {did}, so this approval would be theirs (separation of duties)",
            hint=f"{actor.name} approves with a token another admin created",
        )
    if author in approver.sponsors():
        raise ApprovalRefused(
            f"{author} {did} and added {actor.name} or gave them their role, so {actor.name} "
            "cannot approve it (separation of duties: no approving for the person who made you "
            "an approver)",
            hint="an approver whom another admin added must approve it",
            details={"sponsors": sorted(approver.sponsors())},
        )


def approve(
    project: Project, decision_id: str, *, comment: str = "", store: Store | None = None
) -> Approval:
    """Approve decision ``decision_id`` (or the latest decision on a model version named as
    ``name/version`` or ``name@alias``) as the current user (role approver or admin)."""
    store = store or open_store(project)
    with store.transaction() as connection:  # refuse before reading anything else
        actor = identify(connection)
        authorize(connection, actor, "approver", project=project.name, action="approve")
    require_proven(actor, risk_tier=project.spec.project.risk_tier)
    if "/" in decision_id or "@" in decision_id:
        decision_id = _latest_decision_of(project, decision_id, store)
    try:
        with store.transaction() as connection:
            approver = authorize(
                connection, actor, "approver", project=project.name, action="approve"
            )
            decision = get_decision(connection, decision_id)
            if decision is None or decision.project != project.name:
                raise RecordNotFound(
                    f"no decision {decision_id!r} in project {project.name!r}",
                    hint="decision ids are printed by goldenpath gate and in goldenpath history",
                )
            require_second_person(
                connection,
                actor,
                approver,
                author=decision.actor,
                did=f"took decision {decision_id}",
            )
            if decision.verdict == "fail":
                raise ApprovalRefused(
                    f"decision {decision_id} failed its gates; a failing decision cannot be "
                    "approved",
                    details={"failing": [r.model_dump(mode="json") for r in decision.failing]},
                )
            approval = Approval(decision_id, actor.name, comment, now(), actor.credential)
            add_approval(connection, approval)
            record(
                connection,
                actor=actor,
                action="approve",
                project=project.name,
                subject=f"{decision.model_name}/{decision.model_version}",
                payload={"decision_id": decision_id, "comment": comment},
                rows=[(approvals_table, (decision_id, actor.name))],
            )
    except DuplicateRecord:
        raise ApprovalRefused(f"{actor.name} has already approved decision {decision_id}") from None
    return approval
