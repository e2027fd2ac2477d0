"""Prometheus metrics of the server, in a registry of its own (several apps in one process, as
in tests, never collide), plus SLO gauges computed over a sliding window."""

from __future__ import annotations

import threading
import time

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from goldenpath.spec.serving import SloSpec

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_WINDOW_CAPACITY = 65_536
_SCORING = frozenset({"predict", "invocations", "infer"})


class ServerMetrics:
    def __init__(self, slo: SloSpec) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "goldenpath_requests_total",
            "Requests answered, by endpoint, route, model version and HTTP status.",
            ["endpoint", "route", "version", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "goldenpath_request_latency_seconds",
            "Request latency from receipt to answer.",
            ["endpoint", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "goldenpath_batch_rows",
            "Rows per predict call.",
            ["version"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.predict_seconds = Histogram(
            "goldenpath_predict_seconds",
            "Time of one predict call (one batch).",
            ["version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "goldenpath_queue_depth", "Requests waiting for a model.", ["version"], registry=r
        )
        self.access_refused = Counter(
            "goldenpath_access_refused_total",
            "Requests refused before any work: 401 unauthorized, 403 forbidden, 429 "
            "rate_limited, 503 auth_unavailable.",
            ["code"],
            registry=r,
        )
        self.auth_store_failures = Counter(
            "goldenpath_auth_store_failures_total",
            "Token checks the store could not answer (a token checked before keeps what it "
            "proved; a new one gets 503).",
            registry=r,
        )
        self.shed = Counter(
            "goldenpath_shed_requests_total", "Requests refused with 503: queue full.", registry=r
        )
        self.fallbacks = Counter(
            "goldenpath_fallbacks_total",
            "Answers given by a fallback, by reason.",
            ["reason"],
            registry=r,
        )
        self.shadow_failures = Counter(
            "goldenpath_shadow_failures_total",
            "Shadow calls to the challenger that failed or timed out (never seen by clients).",
            registry=r,
        )
        self.log_errors = Counter(
            "goldenpath_prediction_log_errors_total",
            "Requests the prediction or feedback log could not write (each set aside in the "
            "quarantine), plus quarantine files that could not be written (their rows are lost).",
            registry=r,
        )
        self.log_healthy = Gauge(
            "goldenpath_prediction_log_healthy",
            "1 when the latest write of the log reached it whole; 0 after a write that set "
            "requests aside, until a write succeeds again.",
            ["log"],
            registry=r,
        )
        self.model_load_seconds = Histogram(
            "goldenpath_model_load_seconds",
            "Download, load and warm-up time of a model version.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.model_load_failures = Counter(
            "goldenpath_model_load_failures_total",
            "Versions that could not be loaded or were refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.model_unverified = Gauge(
            "goldenpath_model_unverified",
            "1 while a version is served whose model files could not be checked against a "
            "digest on record (its decision was taken before store revision 0005, or no "
            "promotion to it names a decision).",
            ["version"],
            registry=r,
        )
        self.serving_version = Gauge(
            "goldenpath_serving_version",
            "1 for the version each role serves.",
            ["role", "version"],
            registry=r,
        )
        self.log_rows = Counter(
            "goldenpath_prediction_log_rows_total",
            "Rows written to the prediction log.",
            registry=r,
        )
        self.checkpoints_written = Counter(
            "goldenpath_checkpoints_written_total",
            "Signed checkpoints of the audit chain this server wrote (audit.checkpoints).",
            registry=r,
        )
        self.checkpoint_failures = Counter(
            "goldenpath_checkpoint_failures_total",
            "Scheduled checkpoints that could not be written, by reason: no_key, "
            "key_unreadable, authentication_failed, permission_denied, chain_broken, "
            "store_unavailable, write_failed, unexpected.",
            ["reason"],
            registry=r,
        )
        self.checkpoint_last_success = Gauge(
            "goldenpath_checkpoint_last_success_timestamp_seconds",
            "Unix time of the project's newest signed checkpoint, written by this server or "
            "found in the store (0: none yet); alert when it falls behind audit.checkpoints.every.",
            registry=r,
        )
        self.checkpoint_head_seq = Gauge(
            "goldenpath_checkpoint_head_seq",
            "The audit event the newest checkpoint signed (the chain's head then).",
            registry=r,
        )
        self.guardrail_checks = Counter(
            "goldenpath_guardrail_checks_total",
            "Guardrail rules judged on the canary challenger, by rule and status (ok, "
            "breached, insufficient: too few rows to judge).",
            ["rule", "status"],
            registry=r,
        )
        self.guardrail_rollbacks = Counter(
            "goldenpath_guardrail_rollbacks_total",
            "Challengers this server halted (share 0) because a guardrail was breached.",
            registry=r,
        )
        self.guardrail_failures = Counter(
            "goldenpath_guardrail_failures_total",
            "Guardrail checks that failed (the log or the store could not be read or written).",
            registry=r,
        )
        self.controls_failures = Counter(
            "goldenpath_serving_controls_failures_total",
            "Polls that could not read the serving controls (pin, safe mode, halts) from the "
            "store; the last ones read stay in force.",
            registry=r,
        )
        self.serving_control = Gauge(
            "goldenpath_serving_control",
            "1 while a control is in force: pinned, safe_mode, halted (a challenger).",
            ["control"],
            registry=r,
        )
        self.experiment_exposures = Counter(
            "goldenpath_experiment_exposures_total",
            "Requests a running experiment assigned to an arm (control, treatment).",
            ["experiment", "arm"],
            registry=r,
        )
        self.experiment_unassigned = Counter(
            "goldenpath_experiment_unassigned_total",
            "Requests of a running experiment answered by the control without exposure, by "
            "reason: no_unit (a row without the unit), mixed_units (rows of several units).",
            ["experiment", "reason"],
            registry=r,
        )
        self.experiment_routed = Gauge(
            "goldenpath_experiment_routed",
            "1 while this server routes by the experiment.",
            ["experiment"],
            registry=r,
        )
        self.slo_target_p95 = Gauge(
            "goldenpath_slo_latency_p95_target_seconds", "The p95 latency objective.", registry=r
        )
        self.slo_p95 = Gauge(
            "goldenpath_slo_latency_p95_seconds",
            "Observed p95 latency of scoring requests over the SLO window.",
            registry=r,
        )
        self.slo_target_availability = Gauge(
            "goldenpath_slo_availability_target", "The availability objective.", registry=r
        )
        self.slo_availability = Gauge(
            "goldenpath_slo_availability",
            "Share of requests without a 5xx over the SLO window.",
            registry=r,
        )
        self.slo_burn_rate = Gauge(
            "goldenpath_slo_error_budget_burn_rate",
            "Error rate over the window divided by the error budget (1 - availability target); "
            "above 1 the budget runs out before the period ends.",
            registry=r,
        )
        self.slo = slo
        self.slo_target_p95.set(slo.p95_latency_ms / 1000)
        self.slo_target_availability.set(slo.availability)
        # the SLO window: a ring of the latest requests in NumPy arrays, not Python objects
        # (hundreds of thousands of tuples would make every full garbage collection slower)
        self._at = np.full(_WINDOW_CAPACITY, -np.inf)
        self._seconds = np.zeros(_WINDOW_CAPACITY)
        self._bad = np.zeros(_WINDOW_CAPACITY, dtype=bool)
        self._next = 0
        self._lock = threading.Lock()

    def observe_request(
        self, endpoint: str, route: str, version: str, status: int, seconds: float
    ) -> None:
        self.requests.labels(endpoint, route, version, str(status)).inc()
        self.latency.labels(endpoint, route).observe(seconds)
        if endpoint in _SCORING:
            with self._lock:
                i = self._next % _WINDOW_CAPACITY
                self._at[i], self._seconds[i], self._bad[i] = (
                    time.monotonic(),
                    seconds,
                    status >= 500,
                )
                self._next += 1

    def refresh_slo(self) -> None:
        """Recompute the SLO gauges over the window (called when /metrics is scraped; the
        window holds at most the latest 65,536 requests)."""
        horizon = time.monotonic() - self.slo.window_seconds
        with self._lock:
            inside = self._at >= horizon
            latencies = self._seconds[inside]
            errors = int(self._bad[inside].sum())
        n = len(latencies)
        if not n:  # no traffic in the window: no measurement, not a perfect or a failed one
            for gauge in (self.slo_p95, self.slo_availability, self.slo_burn_rate):
                gauge.set(float("nan"))
            return
        self.slo_p95.set(float(np.quantile(latencies, 0.95)))
        self.slo_availability.set(1 - errors / n)
        self.slo_burn_rate.set((errors / n) / (1 - self.slo.availability))

    def exposition(self) -> bytes:
        self.refresh_slo()
        return generate_latest(self.registry)
