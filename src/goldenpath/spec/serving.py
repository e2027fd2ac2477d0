"""The ``serving`` section of the spec: how ``goldenpath serve`` routes, batches, logs and
degrades. Every key has a default that works for a first deployment."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from goldenpath.spec._durations import parse_duration

__all__ = [
    "FallbackSpec",
    "FeedbackSpec",
    "GuardrailRule",
    "LimitsSpec",
    "LogSpec",
    "RateLimitSpec",
    "ServingSpec",
    "SloSpec",
]

Scalar = str | int | float | bool
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FallbackSpec(_Model):
    """What answers when the champion fails: another version, or a constant prediction."""

    version: str | None = Field(None, description="A registered version of this project's model.")
    constant: Scalar | None = Field(
        None, description="A fixed prediction (a class label or a number)."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML reads `version: 3` as a number: take it as the version it names
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> FallbackSpec:
        if (self.version is None) == (self.constant is None):
            raise ValueError("a fallback is either a version or a constant, not both or neither")
        return self


class LogSpec(_Model):
    """The prediction log: Parquet files under ``.goldenpath/logs/``."""

    flush_rows: int = Field(5000, ge=1, description="Write a file once this many rows wait.")
    flush_seconds: float = Field(
        2.0, gt=0, description="Write waiting rows at least this often (the crash window)."
    )
    pii: Literal["hash", "drop"] = Field(
        "hash",
        description="PII columns (contract pii: true): HMAC-SHA256 with the project's key, or "
        "left out.",
    )


class FeedbackSpec(_Model):
    """What ``POST /feedback`` accepts: labels for requests this server answered, from where."""

    remember_ids: int = Field(
        1_000_000,
        ge=1,
        description="Most answered request ids kept in memory (about 160 bytes each); past it "
        "the oldest are forgotten, and feedback for them gets 422 unknown_request_id.",
    )
    known_days: int = Field(
        7,
        ge=0,
        description="At start-up, the ids served in the prediction log of this many last days "
        "are known too; 0: only ids answered since start.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins (https://app.example.com) whose pages may send feedback; "
        "a request with another Origin header gets 403. Empty: none.",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], with no path "
                    "and no trailing slash (https://labels.example.com)"
                )
        return value


class SloSpec(_Model):
    """Service-level objectives, exported as Prometheus gauges with their burn rate."""

    p95_latency_ms: float = Field(50.0, gt=0, description="Target p95 latency of scoring requests.")
    availability: float = Field(
        0.999, gt=0, lt=1, description="Target share of requests answered without a 5xx."
    )
    window_seconds: float = Field(300.0, gt=0, description="The sliding window of the gauges.")


class LimitsSpec(_Model):
    """Bounds on one request, so that no request can exhaust the server's memory, hold its event
    loop or keep its model busy for an answer nobody waits for."""

    max_body_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest request body; beyond, 413 (checked on Content-Length, then while "
        "reading).",
    )
    max_rows: int = Field(10_000, ge=1, description="Most rows in one request; beyond, 413.")
    max_string_chars: int = Field(
        10_000, ge=1, description="Longest string value of a field; beyond, 422 naming the field."
    )
    slice_rows: int = Field(
        1024,
        ge=1,
        description="A request with more rows (and more than max_batch_size) is predicted in "
        "slices of this many rows (at least max_batch_size), and stops at a timeout.",
    )
    max_errors: int = Field(
        50, ge=1, le=10_000, description="Most problems listed in one 400/422 answer."
    )
    error_value_chars: int = Field(
        100, ge=10, le=10_000, description="A value shown in an error answer is cut to this length."
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="A body not fully received in time gets 408."
    )
    keep_alive_seconds: int = Field(
        5, ge=1, description="An idle keep-alive connection is closed after this long."
    )
    max_connections: int | None = Field(
        1000,
        ge=1,
        description="Most open connections (and requests in progress); beyond, 503 from the "
        "HTTP server. null: no limit.",
    )


class RateLimitSpec(_Model):
    """Requests per API client (its token), per server process, in auth mode token."""

    per_second: float | None = Field(
        100.0, gt=0, description="Sustained requests a second; null: no limit."
    )
    burst: int = Field(200, ge=1, description="Requests a client may send at once.")


_GUARDRAIL_METRIC = re.compile(
    r"degraded_rate|p95_latency_ms|score_psi|realised_accuracy|realised_mean_absolute_error"
)


class GuardrailRule(_Model):
    """A rule on the challenger while it answers a canary share: its route against the
    champion's over the latest ``window`` of the prediction log (see docs/serving.md,
    Guardrails and automatic rollback)."""

    metric: str = Field(
        description="degraded_rate, p95_latency_ms, score_psi (the challenger's scores against "
        "the champion's), realised_accuracy or realised_mean_absolute_error (from feedback)."
    )
    max_relative_increase: float | None = Field(
        None,
        ge=0,
        description="Breached when the challenger's value exceeds the champion's by more than "
        "this share of it (0.5: 50% worse; realised_accuracy: its relative drop).",
    )
    max: float | None = Field(
        None,
        description="Breached when the challenger's value is above this (realised_accuracy: "
        "when its drop below the champion's is above this).",
    )
    min_rows: int = Field(
        100, ge=1, description="Rows each route needs in the window before the rule judges."
    )
    window: str = Field("5m", description="How far back the log is read (30s, 5m, 1h).")
    name: str | None = Field(None, description="Shown in alerts and audit events.")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if not _GUARDRAIL_METRIC.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a guardrail metric: degraded_rate, p95_latency_ms, score_psi, "
                "realised_accuracy or realised_mean_absolute_error"
            )
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_bound(self) -> GuardrailRule:
        if (self.max is None) == (self.max_relative_increase is None):
            raise ValueError("a guardrail has max or max_relative_increase, not both or neither")
        if self.metric == "score_psi" and self.max is None:
            raise ValueError("score_psi compares the routes already: give it max, not a ratio")
        return self

    @property
    def window_seconds(self) -> int:
        return parse_duration(self.window)

    @property
    def label(self) -> str:
        return self.name or self.metric


class ServingSpec(_Model):
    """How ``goldenpath serve`` serves the champion (and the challenger)."""

    challenger: Literal["none", "canary", "shadow"] = Field(
        "none",
        description="none; canary: the challenger answers a share of traffic; shadow: it is "
        "called on a copy of traffic and only logged.",
    )
    canary_share: float = Field(
        0.1, ge=0, le=1, description="Share of requests the canary challenger answers."
    )
    max_batch_size: int = Field(
        64, ge=1, le=4096, description="Most rows coalesced into one predict call."
    )
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Extra wait to fill a batch; 0: batch only what queued while the model "
        "was busy (no added latency when idle).",
    )
    max_queue: int = Field(
        2048, ge=1, description="Requests waiting for the model; beyond, 503 with Retry-After."
    )
    timeout_ms: float = Field(
        5000.0, gt=0, description="A request not answered in time gets 504 (or the fallback)."
    )
    fallback: FallbackSpec | None = Field(
        None, description="Answers when the champion fails (the response says degraded: true)."
    )
    model_threads: int = Field(
        1,
        ge=1,
        description="Native threads (OpenMP, BLAS) a predict call may use; batching, not "
        "threads, is what makes a server fast.",
    )
    poll_seconds: float = Field(
        2.0, gt=0, description="How often the server checks the registry for a new champion."
    )
    auth: Literal["auto", "token", "none"] = Field(
        "auto",
        description="token: guarded paths need an API client's bearer token; none: open; auto: "
        "token unless the server binds to a loopback address.",
    )
    auth_revalidate_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a checked token is trusted before the store is asked again (a "
        "revocation takes effect within this).",
    )
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    log: LogSpec = Field(default_factory=LogSpec)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    slo: SloSpec = Field(default_factory=SloSpec)
    guardrails: list[GuardrailRule] = Field(
        default_factory=list,
        description="Rules on a canary challenger; one breached sets its share to 0 (a rollback "
        "record every server applies on its next poll), alerts and audits why.",
    )
