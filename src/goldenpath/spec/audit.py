"""The ``audit`` section of the spec: signed checkpoints of the audit chain on a schedule.

Without ``audit.checkpoints`` nothing is scheduled: checkpoints are signed only when someone
runs ``goldenpath audit checkpoint``. With it, ``goldenpath serve`` and ``goldenpath monitor``
sign one whenever the project's newest checkpoint is older than ``every``. The private key is
never in the spec: it comes from ``GOLDENPATH_CHECKPOINT_KEY`` in the process's environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from goldenpath.spec._durations import parse_duration

__all__ = ["AuditSpec", "CheckpointScheduleSpec"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckpointScheduleSpec(_Model):
    """How often a signed checkpoint of the audit chain is written, and where."""

    every: str = Field(
        description="Sign a checkpoint when the project's newest one is older than this: a "
        "duration such as 30s, 15m, 1h or 1d. The key is read from GOLDENPATH_CHECKPOINT_KEY."
    )
    out: str | None = Field(
        None,
        description="Folder the checkpoints are written to (relative: to the project folder; "
        "default: .goldenpath/checkpoints/). Keep it where whoever can write the store cannot "
        "rewrite it.",
    )

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def every_seconds(self) -> int:
        return parse_duration(self.every)


class AuditSpec(_Model):
    """The audit trail's settings (every key optional)."""

    checkpoints: CheckpointScheduleSpec | None = Field(
        None,
        description="Signed checkpoints on a schedule, written by goldenpath serve and "
        "goldenpath monitor; absent: only goldenpath audit checkpoint writes them.",
    )
