"""The ``monitoring`` section of the spec: windows, thresholds, alert rules and sinks.

Every key has a default that works: the thresholds are the ones practice settled on
(docs/monitoring.md), and the default rules raise an alert on the severities those thresholds
define. ``alerts.rules`` add to the defaults (a rule named as a default replaces it);
``default_rules: false`` leaves only the spec's rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from goldenpath.spec._durations import parse_duration

__all__ = [
    "LOSS_METRICS",
    "METRICS",
    "AlertRule",
    "AlertsSpec",
    "LossMetric",
    "MonitoringSpec",
    "SinkSpec",
    "parse_window",
]

ROWS_WINDOW = re.compile(r"^(\d+)-rows$")

# a regressor's realised loss the default rule watches: its default, the mean absolute error,
# or the root mean squared error when the evaluation's primary metric is that
LossMetric = Literal["mean_absolute_error", "root_mean_squared_error"]
LOSS_METRICS: dict[LossMetric, str] = {
    "mean_absolute_error": "realised-mae",
    "root_mean_squared_error": "realised-rmse",
}

# what a rule can watch: per feature (subject = the feature), per model output (score,
# prediction), per route (realised performance) or per window
METRICS: dict[str, str] = {
    "feature.psi": "PSI of a feature against the reference",
    "feature.js_distance": "Jensen-Shannon distance of a feature",
    "feature.wasserstein": "Wasserstein distance / reference sd of a numeric feature",
    "feature.ks": "two-sample Kolmogorov-Smirnov statistic of a numeric feature",
    "feature.missing_increase": "missing share minus the reference's missing share",
    "feature.unseen_share": "share of rows with categories the reference never had",
    "feature.out_of_range_share": "share of rows outside the contract's min/max or allowed values",
    "output.psi": "PSI of the model's score or prediction",
    "domain.auc": "the domain classifier's cross-validated AUC (0.5 while its lower bound is "
    "not above 0.5: indistinguishable from chance)",
    "estimated.accuracy_drop": "reference accuracy minus the CBPE-estimated accuracy",
    "estimated.roc_auc_drop": "reference ROC AUC minus the CBPE-estimated ROC AUC",
    "estimated.mean_absolute_error_increase": "regressors: the DLE-estimated mean absolute error "
    "over the reference's held-out one, minus 1 (0.1: 10% higher)",
    "estimated.root_mean_squared_error_increase": "regressors: the DLE-estimated root mean "
    "squared error over the reference's held-out one, minus 1",
    "realised.accuracy_drop": "reference accuracy minus the top of the 95% interval of the "
    "accuracy on feedback labels",
    "realised.roc_auc_drop": "reference ROC AUC minus the top of the 95% interval of the "
    "ROC AUC on feedback labels",
    "realised.mean_absolute_error": "regressors: the bottom of the 95% interval of the mean "
    "absolute error on feedback labels",
    "realised.mean_absolute_error_increase": "regressors: the bottom of the 95% interval of the "
    "mean absolute error on feedback labels over the top of the reference's 95% interval "
    "(evaluate's, on the held-out rows), minus 1 (above 0: the labels make sure the error is "
    "higher than the reference's could be)",
    "realised.root_mean_squared_error_increase": "regressors: the same for the root mean "
    "squared error",
    "rows": "rows in a complete window",
}


def parse_window(text: str) -> tuple[str, int]:
    """("time", seconds) for ``30m``, ``1h``, ``1d``; ("rows", n) for ``5000-rows``."""
    rows = ROWS_WINDOW.match(text.strip())
    try:
        if rows is None:
            return "time", parse_duration(text, units="mhd")
        if int(rows.group(1)) > 0:
            return "rows", int(rows.group(1))
    except ValueError:
        pass
    raise ValueError(f"window {text!r} is not a duration (30m, 1h, 1d) or a row count (5000-rows)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertRule(_Model):
    """An alert when ``metric`` is above ``above`` (or below ``below``, or more than ``sigmas``
    standard deviations above its mean over reference chunks) in ``windows`` consecutive
    windows."""

    name: str = Field(description="Names the rule in alerts.")
    metric: str = Field(description="What the rule watches (docs/monitoring.md lists them).")
    above: float | None = Field(None, description="Fires when the value is above this.")
    below: float | None = Field(None, description="Fires when the value is below this.")
    sigmas: float | None = Field(
        None,
        gt=0,
        description="Fires when the value is above its mean plus this many standard deviations "
        "over chunks of the reference's held-out rows (docs/monitoring.md, Thresholds learnt "
        "from the reference).",
    )
    severity: Literal["warning", "critical"] = Field("critical", description="The alert's.")
    windows: int = Field(1, ge=1, description="Consecutive windows the condition must hold.")
    subjects: list[str] | None = Field(
        None, description="Only these features / outputs / routes (default: all)."
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; one of: {', '.join(METRICS)}")
        return value

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRule:
        if sum(bound is not None for bound in (self.above, self.below, self.sigmas)) != 1:
            raise ValueError(f"rule {self.name!r} needs exactly one of above / below / sigmas")
        if self.sigmas is not None and self.metric == "rows":
            raise ValueError(
                f"rule {self.name!r}: reference chunks all have the same number of rows, so "
                "they cannot set a threshold on rows; use above / below"
            )
        return self


class SinkSpec(_Model):
    """Where alerts are sent when they open, escalate and resolve."""

    type: Literal["log", "file", "webhook"] = Field(description="log, file or webhook.")
    path: str | None = Field(None, description="file: a JSON-lines file (relative: the project).")
    url: str | None = Field(None, description="webhook: the URL a JSON body is POSTed to.")
    timeout_seconds: float = Field(5.0, gt=0, description="webhook: per attempt.")
    retries: int = Field(3, ge=0, le=10, description="webhook: attempts after the first.")
    backoff_seconds: float = Field(0.5, ge=0, description="webhook: first wait, then doubled.")

    @model_validator(mode="after")
    def _target(self) -> SinkSpec:
        if self.type == "file" and not self.path:
            raise ValueError("a file sink needs a path")
        if self.type == "webhook" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("a webhook sink needs an http(s) url")
        return self


class AlertsSpec(_Model):
    """Alert rules (default: one per threshold above) and sinks (default: the log and
    ``.goldenpath/monitoring/alerts.jsonl``)."""

    rules: list[AlertRule] | None = Field(
        None,
        description="Added to the default rules; a rule named as a default replaces it "
        "(monitoring.default_rules: false leaves only these).",
    )
    sinks: list[SinkSpec] = Field(
        default_factory=lambda: [
            SinkSpec(type="log"),
            SinkSpec(type="file", path=".goldenpath/monitoring/alerts.jsonl"),
        ],
        description="Where alerts go.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsSpec:
        names = [r.name for r in self.rules or []]
        if len(names) != len(set(names)):
            raise ValueError("alert rule names must be unique")
        return self


class MonitoringSpec(_Model):
    """How ``goldenpath monitor`` windows the prediction log and judges each window."""

    window: str = Field("1d", description="Window: a duration (30m, 1h, 1d) or N-rows.")
    time: Literal["event", "arrival"] | None = Field(
        None,
        description="The clock time windows use: event (the contract's time column, as the "
        "server logs it) or arrival (when the server answered). Default: event when "
        "data.time_column is set, else arrival. Row windows always count rows as they arrived.",
    )
    min_window_rows: int = Field(
        200, ge=1, description="Windows with fewer rows are kept but not judged."
    )
    expected_rows: tuple[int | None, int | None] | None = Field(
        None, description="[min, max] rows per complete window (volume check)."
    )
    psi_warning: float = Field(0.1, gt=0, description="PSI from which a feature is a warning.")
    psi_critical: float = Field(0.25, gt=0, description="PSI from which it is critical.")
    js_critical: float = Field(
        0.1, gt=0, le=1, description="Jensen-Shannon distance from which it is critical."
    )
    max_missing_increase: float = Field(
        0.05, ge=0, le=1, description="Largest rise of the missing share before it is critical."
    )
    max_unseen_share: float = Field(
        0.01, ge=0, le=1, description="Largest share of rows with unseen categories."
    )
    significance: float = Field(
        0.01,
        gt=0,
        le=1,
        description="A distribution shift counts only with a chi-square q-value (BH) below this.",
    )
    max_out_of_range_share: float = Field(
        0.01, ge=0, le=1, description="Largest share of rows outside the contract."
    )
    domain_warning_auc: float = Field(
        0.6, gt=0.5, le=1, description="Domain classifier AUC for a warning."
    )
    domain_critical_auc: float = Field(
        0.7, gt=0.5, le=1, description="Domain classifier AUC that is critical."
    )
    domain_max_rows: int = Field(
        5000, ge=100, description="Rows sampled from each side for the domain classifier."
    )
    max_performance_drop: float = Field(
        0.05, ge=0, le=1, description="Largest drop of accuracy / ROC AUC below the reference."
    )
    max_loss_increase: float = Field(
        0.1,
        ge=0,
        description="Largest relative rise of a regressor's estimated MAE / RMSE above the "
        "reference's held-out value (0.1: 10%).",
    )
    chunk_rows: int | None = Field(
        None,
        ge=10,
        description="Rows per reference chunk for rules with sigmas (default: the window's "
        "size for row windows; required for time windows: the rows a window typically holds).",
    )
    chunk_count: int = Field(
        50, ge=10, le=1000, description="Reference chunks drawn for rules with sigmas."
    )
    default_rules: bool = Field(
        True,
        description="Judge the default rules (built from the thresholds above) beside "
        "alerts.rules; false: only alerts.rules.",
    )
    alerts: AlertsSpec = Field(default_factory=AlertsSpec, description="Rules and sinks.")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSpec:
        if self.psi_warning > self.psi_critical:
            raise ValueError(
                f"psi_warning ({self.psi_warning}) is above psi_critical ({self.psi_critical})"
            )
        if self.domain_warning_auc > self.domain_critical_auc:
            raise ValueError("domain_warning_auc is above domain_critical_auc")
        low, high = self.expected_rows or (None, None)
        if any(v is not None and v < 0 for v in (low, high)):
            raise ValueError("expected_rows cannot be negative")
        if low is not None and high is not None and low > high:
            raise ValueError(f"expected_rows: the minimum ({low}) is above the maximum ({high})")
        return self

    def clock(self, time_column: str | None) -> Literal["event", "arrival"]:
        """The clock time windows use: ``time``, or by default event time when the contract has
        a time column (``time_column``) and arrival time otherwise."""
        if self.time is not None:
            return self.time
        return "event" if time_column is not None else "arrival"

    def alert_rules(self, *, loss: LossMetric = "mean_absolute_error") -> list[AlertRule]:
        """The rules monitor judges: the defaults, each replaced by the spec's rule of the same
        name if there is one, then the spec's other rules in their order; only the spec's with
        ``default_rules: false``. ``loss``: the realised loss the regressors' default rule
        watches."""
        own = list(self.alerts.rules or [])
        if not self.default_rules:
            return own
        named = {r.name: r for r in own}
        defaults = self.default_alert_rules(loss=loss)
        replaced = {r.name for r in defaults}
        return [named.get(r.name, r) for r in defaults] + [r for r in own if r.name not in replaced]

    def default_alert_rules(self, *, loss: LossMetric = "mean_absolute_error") -> list[AlertRule]:
        """The default rules, derived from the thresholds (docs/monitoring.md, Alerts)."""

        def rule(name: str, metric: str, bound: float, severity: str = "critical") -> AlertRule:
            return AlertRule.model_validate(
                {"name": name, "metric": metric, "above": bound, "severity": severity}
            )

        volume: list[AlertRule] = []
        low, high = self.expected_rows or (None, None)
        if low is not None:
            volume.append(
                AlertRule(name="volume-low", metric="rows", below=low, severity="warning")
            )
        if high is not None:
            volume.append(rule("volume-high", "rows", high, "warning"))
        return [
            *volume,
            rule("feature-drift-warning", "feature.psi", self.psi_warning, "warning"),
            rule("feature-drift", "feature.psi", self.psi_critical),
            rule("feature-js", "feature.js_distance", self.js_critical),
            rule("missing-values", "feature.missing_increase", self.max_missing_increase),
            rule("unseen-categories", "feature.unseen_share", self.max_unseen_share),
            rule("out-of-range", "feature.out_of_range_share", self.max_out_of_range_share),
            rule("score-drift", "output.psi", self.psi_critical),
            rule("multivariate-drift-warning", "domain.auc", self.domain_warning_auc, "warning"),
            rule("multivariate-drift", "domain.auc", self.domain_critical_auc),
            rule("estimated-accuracy", "estimated.accuracy_drop", self.max_performance_drop),
            rule("estimated-roc-auc", "estimated.roc_auc_drop", self.max_performance_drop),
            rule("estimated-mae", "estimated.mean_absolute_error_increase", self.max_loss_increase),
            rule(
                "estimated-rmse",
                "estimated.root_mean_squared_error_increase",
                self.max_loss_increase,
            ),
            rule("realised-accuracy", "realised.accuracy_drop", self.max_performance_drop),
            rule("realised-roc-auc", "realised.roc_auc_drop", self.max_performance_drop),
            # above the top of the reference's interval, to the bottom of the window's
            rule(LOSS_METRICS[loss], f"realised.{loss}_increase", 0.0),
        ]
