"""The tables of goldenpath's own store (SQLAlchemy Core).

Every table is prefixed ``gp_`` so that the store can share a PostgreSQL database with an MLflow
tracking server without clashing. Times are ISO-8601 UTC text and JSON payloads are canonical
text, so a row reads back byte-for-byte the same from SQLite and PostgreSQL (the audit chain's
hashes depend on it). The Alembic migrations in ``migrations/`` create exactly these tables; a
test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "alerts",
    "approvals",
    "audit_events",
    "credentials",
    "decisions",
    "evaluations",
    "experiments",
    "gate_changes",
    "metadata",
    "monitor_files",
    "monitor_windows",
    "promotions",
    "settings",
    "users",
]

metadata = MetaData()

users = Table(
    "gp_users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    # who last gave the user their role (migration 0003; null: nobody since they were added)
    Column("role_granted_by", String(200)),
)

decisions = Table(
    "gp_decisions",
    metadata,
    Column("decision_id", String(32), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(40), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("evaluation_id", String(64), nullable=False),
    Column("evaluation_sha256", String(64), nullable=False),
    Column("compared_with", String(40)),
    Column("verdict", String(10), nullable=False),
    Column("rules", Text, nullable=False),
    Column("gates_sha256", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    # the model artefact's digest, checked when the decision was taken (migration 0005; null:
    # older)
    Column("artifact_sha256", String(64)),
    Index("ix_gp_decisions_version", "model_name", "model_version"),
)

# Evaluations (migration 0005): every evaluation that `evaluate` produced, so that `gate` judges
# only an evaluation goldenpath wrote, unchanged (the SHA-256 of its JSON as written), of the
# model files it evaluated (goldenpath.evaluation.artifact's digest) on the rows it names.

evaluations = Table(
    "gp_evaluations",
    metadata,
    Column("evaluation_id", String(64), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(40)),  # null: a run without a registered version
    Column("run_id", String(64), nullable=False),
    Column("evaluation_sha256", String(64), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("data_fingerprint", String(100), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Index("ix_gp_evaluations_run", "run_id"),
)

# Gate changes (migration 0007): change control of the gates for risk tier high. A change is the
# gates (with the risk tier) read from the spec as committed in git, proposed by one person and
# approved by a second; gate judges, and promote moves a champion, only under approved gates.

gate_changes = Table(
    "gp_gate_changes",
    metadata,
    Column("change_id", String(32), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("gates_sha256", String(64), nullable=False),
    Column("gates", Text, nullable=False),  # canonical JSON: what gates_sha256 hashes
    Column("git_commit", String(64), nullable=False),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", String(40), nullable=False),
    Column("state", String(20), nullable=False),  # proposed, approved
    Column("approved_by", String(200)),
    Column("approved_at", String(40)),
    Column("credential", String(40)),  # the approver's credential (null: none)
    Column("comment", Text),
    Index("ix_gp_gate_changes_gates", "project", "gates_sha256"),
)

# Experiments (migration 0008): online A/B tests. A row is one experiment of a project as it was
# started (the spec entry, the versions its arms resolved to, the unit column, allocation and
# salt the server assigns by), and how it ended: stopped (by a person or a guardrail) or shipped
# (the treatment promoted to champion). At most one runs per project.

experiments = Table(
    "gp_experiments",
    metadata,
    Column("experiment_id", String(32), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("name", String(100), nullable=False),
    Column("spec_sha256", String(64), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON of the spec entry: what it hashes
    Column("control_version", String(40), nullable=False),
    Column("treatment_version", String(40), nullable=False),
    Column("unit", String(200), nullable=False),  # the contract column assigned by
    Column("allocation", Float, nullable=False),
    Column("salt", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # running, stopped, shipped
    Column("started_at", String(40), nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("stopped_at", String(40)),
    Column("stopped_by", String(200)),
    Column("reason", Text),
    Column("decision", String(20)),  # ship, stop (null: stopped by a guardrail, undecided)
    Column("decided_by", String(200)),
    Column("decided_at", String(40)),
    Column("decision_reason", Text),
    Column("promotion_id", Integer),  # the promotion that shipped it
    UniqueConstraint("project", "name", name="uq_gp_experiments_name"),
    Index("ix_gp_experiments_status", "project", "status"),
)

approvals = Table(
    "gp_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(32), ForeignKey("gp_decisions.decision_id"), nullable=False),
    Column("approver", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    # the credential the approver acted with (migration 0004; null: no token, or older)
    Column("credential", String(40)),
    UniqueConstraint("decision_id", "approver", name="uq_gp_approvals_decision_approver"),
)

promotions = Table(
    "gp_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("alias", String(40), nullable=False),
    Column("from_version", String(40)),
    Column("to_version", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("decision_id", String(32), ForeignKey("gp_decisions.decision_id")),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(20), nullable=False),
    # set while the promotion is pending, cleared when it ends: at most one pending promotion per
    # model (NULLs never collide in a unique index, on SQLite as on PostgreSQL)
    Column("lock", String(200), unique=True),
    Column("owner", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("completed_at", String(40)),
    Index("ix_gp_promotions_model", "model_name", "alias", "state"),
)

audit_events = Table(
    "gp_audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("project", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Monitoring (migration 0002). A *stream* is one way of windowing one model's log against one
# reference ("<model>|<reference run>|<window>|<since>|<until>"): its files, windows and alerts
# are kept apart from other streams', so `monitor --window 1h` never mixes with `--window 1d`.

monitor_files = Table(
    "gp_monitor_files",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("stream", String(400), primary_key=True),
    Column("path", String(500), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("processed_at", String(40), nullable=False),
)

monitor_windows = Table(
    "gp_monitor_windows",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("stream", String(400), primary_key=True),
    Column("window_index", Integer, primary_key=True),
    Column("start", String(40), nullable=False),
    Column("end", String(40)),
    Column("rows", Integer, nullable=False),
    Column("profile", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

alerts = Table(
    "gp_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    Column("stream", String(400), nullable=False),
    Column("metric", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("value", Text),
    Column("threshold", Text),
    Column("window_index", Integer, nullable=False),
    Column("window_start", String(40), nullable=False),
    Column("last_window_index", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("report", Text, nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("resolved_at", String(40)),
    Index("ix_gp_alerts_open", "project", "stream", "status"),
)

# Identity (migration 0003). A credential is a token's record: never the token, only its SHA-256
# (tokens are 256 random bits, so a fast hash is as strong as a slow one). Its principal is a
# user (kind "user", who acts with their role) or an API client (kind "client", with scopes).

credentials = Table(
    "gp_credentials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires_at", String(40)),
    Column("last_used_at", String(40)),
    Column("revoked_at", String(40)),
    Column("revoked_by", String(200)),
    Index("ix_gp_credentials_principal", "principal"),
)

settings = Table(
    "gp_settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("updated_by", String(200), nullable=False),
)
