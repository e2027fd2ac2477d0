"""What ``goldenpath monitor`` finds, as typed documents.

A :class:`MonitoringWindow` is one window's verdict: data quality, drift per feature and per
model output (:class:`~goldenpath.monitoring.drift.FeatureDrift`, each with its statistics and
the thresholds' verdict), the domain classifier
(:class:`~goldenpath.monitoring.multivariate.DomainDrift`), estimated performance
(:class:`~goldenpath.monitoring.estimation.EstimatedPerformance`), estimated loss of regressors
(:class:`~goldenpath.monitoring.loss_estimation.EstimatedLoss`) and realised performance per
route. The store keeps one per window; :class:`MonitoringReport` is a monitor run's document:
``monitoring.json``, what ``goldenpath monitor --json`` prints (with the run's
:class:`MonitorOutput` fields) and what ``monitoring.html`` renders. Alerts
(:class:`~goldenpath.store.monitoring.Alert`: ``goldenpath alerts --json`` prints
``{"alerts": [Alert, ...]}``), their changes (:class:`AlertEvent`), the incidents that group
them (:class:`Incident`) and the events sent to sinks (:class:`IncidentEvent`, one per incident)
are typed the same way.

Every model is frozen and refuses unknown fields; ``MonitoringReport.model_json_schema()`` is the
JSON Schema of ``monitoring.json`` (``goldenpath schema --kind monitoring``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from goldenpath.monitoring._document import Document, Severity
from goldenpath.monitoring.drift import FeatureDrift
from goldenpath.monitoring.estimation import EstimatedPerformance
from goldenpath.monitoring.loss_estimation import EstimatedLoss
from goldenpath.monitoring.multivariate import DomainDrift
from goldenpath.registry.checkpoints import ScheduledCheckpoint
from goldenpath.store.monitoring import Alert

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Alert",
    "AlertEvent",
    "DataQuality",
    "EarlierVerdict",
    "Incident",
    "IncidentEvent",
    "MetricInterval",
    "MonitorOutput",
    "MonitoringReport",
    "MonitoringWindow",
    "Processed",
    "ReferenceSummary",
    "ReportPaths",
    "RouteOutcome",
    "SkippedRule",
    "Thresholds",
    "TimeRange",
    "WindowSize",
]

SCHEMA: Final = "goldenpath.monitoring/1"
SCHEMA_VERSION: Final = 1


class DataQuality(Document):
    """A window's volume and values outside the data contract."""

    rows: int
    volume: Literal["ok", "low", "high"]  # against expected_rows, for complete windows only
    expected_rows: tuple[int | None, int | None] | None  # the spec's (low, high), if set
    out_of_range: dict[str, float]  # share of rows per feature outside the contract


class MetricInterval(Document):
    """A realised metric with its 95% bootstrap interval (None where undefined)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


class RouteOutcome(Document):
    """Realised performance of one route and model version, from feedback labels."""

    rows: int  # rows with a label
    # accuracy and roc_auc; mean_absolute_error and root_mean_squared_error (regressors)
    metrics: dict[str, MetricInterval]


class EarlierVerdict(Document):
    """A window's verdict before rows that arrived late made it judged again."""

    revision: int  # 1: the first verdict
    rows: int
    judged: bool
    severity: Severity


class MonitoringWindow(Document):
    """One window of the prediction log, judged against the reference."""

    index: int  # seconds since the epoch // size (time windows), rows // size (row windows)
    start: str
    end: str | None  # None while a row window fills
    first: str | None = None  # the earliest and latest timestamps seen
    last: str | None = None
    rows: int
    complete: bool
    judged: bool = True  # enough rows to judge (min_window_rows, or a complete row window)
    routes: dict[str, int]  # rows per route
    features: list[FeatureDrift]
    outputs: list[FeatureDrift]  # score and prediction, the reference version's rows only
    quality: DataQuality
    multivariate: DomainDrift | None  # the domain classifier, on the latest judged window
    estimated: EstimatedPerformance | None  # CBPE (binary classifiers with scores)
    realised: dict[str, RouteOutcome] | None  # per "route vVERSION", once labels arrive
    severity: Severity  # the most severe verdict of a judged window; "ok" if not judged
    # DLE (regressors whose reference has a loss estimator); None in windows judged before it
    estimated_loss: EstimatedLoss | None = None
    # the event clock: rows without an event time, windowed by their arrival time instead
    event_time_missing: int = 0
    # late data: rows that arrived after the window was complete and judged make it judged again
    # with all its rows; this verdict's revision (1: the first), the late rows so far, and the
    # earlier verdicts, oldest first
    revision: int = 1
    rejudged: bool = False
    late_rows: int = 0
    earlier: list[EarlierVerdict] = Field(default_factory=list)


class ReferenceSummary(Document):
    """The reference the windows were compared with."""

    run_id: str  # a training run, or file-FINGERPRINT for a data file
    model_version: str | None
    rows: int  # training rows profiled
    evaluation_rows: int  # held-out rows behind the outputs' profile and the metrics
    metrics: dict[str, float]  # held-out accuracy and ROC AUC (binary classifiers)
    # regressors: held-out MAE and RMSE with evaluate's intervals (empty when not kept)
    intervals: dict[str, MetricInterval] = Field(default_factory=dict)


class SkippedRule(Document):
    """An alert rule this run could not judge, and why."""

    name: str
    metric: str
    reason: str


class WindowSize(Document):
    kind: Literal["time", "rows"]
    size: str  # as given: 1h, 1d, 5000-rows
    time: Literal["event", "arrival"] = "arrival"  # the clock of time windows (monitoring.time)


class Thresholds(Document):
    """The spec's drift thresholds the windows were judged with."""

    psi_warning: float
    psi_critical: float
    js_critical: float
    domain_warning_auc: float
    domain_critical_auc: float


class TimeRange(Document):
    since: str | None
    until: str | None


class Processed(Document):
    """What this run read."""

    new_files: int
    new_rows: int
    seconds: float


class Incident(Document):
    """Related alerts grouped (:mod:`goldenpath.monitoring.incidents`): every alert on one
    feature, or every model-level alert, over windows that overlap."""

    id: str  # stable: the stream, the kind, the subject and the first window, hashed
    kind: Literal["feature", "model"]
    subject: str  # the feature, or "model"
    severity: Literal["warning", "critical"]  # the most severe of its alerts
    status: Literal["open", "resolved"]  # open while any of its alerts is
    first_window_index: int
    first_window_start: str
    last_window_index: int
    headline: str  # the strongest alert's message
    causes: list[str] = Field(default_factory=list)  # model: features with incidents meanwhile
    alerts: list[Alert]  # strongest first

    @property
    def message(self) -> str:
        count = f"{len(self.alerts)} alert{'' if len(self.alerts) == 1 else 's'}"
        causes = f"; likely causes: {', '.join(self.causes)}" if self.causes else ""
        return f"{self.subject} ({self.severity}, {count}): {self.headline}{causes}"


class MonitoringReport(Document):
    """A monitor run's document (``monitoring.json``): every window of its stream, oldest
    first, and the stream's alerts."""

    schema_name: Literal["goldenpath.monitoring/1"] = Field(SCHEMA, alias="schema")
    schema_version: Literal[1] = SCHEMA_VERSION
    goldenpath_version: str
    project: str
    model: str
    generated_at: str
    reference: ReferenceSummary
    window: WindowSize
    thresholds: Thresholds
    range: TimeRange
    processed: Processed
    windows: list[MonitoringWindow]
    alerts: list[Alert]
    # rules the reference cannot judge, with the reason (none in documents written before)
    skipped_rules: list[SkippedRule] = Field(default_factory=list)
    # the alerts grouped per feature and for the model (none in documents written before)
    incidents: list[Incident] = Field(default_factory=list)

    @property
    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "open"]


class AlertEvent(Alert):
    """An alert's change, as sent to every sink once: opened, escalated, resolved, reopened."""

    event: Literal["opened", "escalated", "resolved", "reopened"]

    @classmethod
    def of(
        cls, event: Literal["opened", "escalated", "resolved", "reopened"], alert: Alert
    ) -> AlertEvent:
        return cls(event=event, **dict(alert))


class IncidentEvent(Incident):
    """An incident's change in one run, as sent to every sink once: ``changes`` are the events
    of its alerts that the run made (``opened``, ``escalated``, ``resolved``, ``reopened``)."""

    event: Literal["opened", "escalated", "updated", "resolved", "reopened"]
    project: str
    stream: str
    report: str  # the monitoring report it was raised in
    changes: list[AlertEvent]


class ReportPaths(Document):
    json_path: str = Field(alias="json")
    html: str


class MonitorOutput(MonitoringReport):
    """What ``goldenpath monitor --json`` prints: the document, where its report is, the
    events this run sent, the sinks that failed and, with ``audit.checkpoints`` (only then),
    what the checkpoint schedule did."""

    report: ReportPaths
    events: list[AlertEvent]
    sink_failures: list[str]
    incident_events: list[IncidentEvent] = Field(default_factory=list)  # what the sinks got
    checkpoint: ScheduledCheckpoint | None = None
