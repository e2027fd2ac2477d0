"""Apply the spec's gates to an evaluation document: one :class:`RuleResult` per rule, each with
the observed value, the bound, where in ``evaluation.json`` the evidence is, and the outcome.

A violated rule's outcome is its severity's (``fail`` for ``block``, ``warn`` for ``warn``); a
value the evaluation could not compute counts as violated (the evidence is missing), except for
single slices, which are skipped with the reason.

The lineage rules judge what goldenpath's audit trail recorded about the version
(:class:`Lineage`: its ``train`` event and its run's newest ``reproduce`` event), never the
MLflow run's tags, which anyone who can write to the tracking server can change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from goldenpath.errors import SpecInvalid
from goldenpath.evaluation.document import Estimate, EvaluationDocument
from goldenpath.evaluation.metrics import METRICS
from goldenpath.spec.gates import Bound, GatesSpec, Severity
from goldenpath.spec.models import RiskTier, Spec
from goldenpath.store.audit import AuditEvent
from goldenpath.store.records import Outcome, RuleResult

__all__ = ["Lineage", "RuleResult", "apply_gates", "check_gates", "verdict"]

_GREATER_IS_BETTER = {m.name: m.greater_is_better for m in METRICS}


class _Bounded(Protocol):
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...


def verdict(results: list[RuleResult]) -> Literal["pass", "warn", "fail"]:
    outcomes = {r.outcome for r in results}
    return "fail" if "fail" in outcomes else "warn" if "warn" in outcomes else "pass"


def _violated(severity: Severity) -> Outcome:
    return "fail" if severity == "block" else "warn"


def _shown(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _bound_text(bound: _Bounded) -> str:
    parts = []
    if bound.min is not None:
        parts.append(f">= {bound.min:g}")
    if bound.max is not None:
        parts.append(f"<= {bound.max:g}")
    return " and ".join(parts)


def _within(value: float, bound: _Bounded) -> bool:
    return (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)


def _metric_name(name: str, available: Mapping[str, object], key: str) -> str:
    """``name`` as the evaluation spells it (``roc_auc`` is ``roc_auc_score``)."""
    known = [m.name for m in METRICS]
    for candidate in (name, f"{name}_score"):
        if candidate in available or candidate in known:
            return candidate
    raise SpecInvalid(
        f"{key}: unknown metric {name!r}",
        hint=f"use one of: {', '.join(sorted(available) or known)}",
    )


def _judge(
    *,
    rule: str,
    kind: str,
    severity: Severity,
    observed: float | None,
    bound: _Bounded,
    evidence: str,
    missing: str = "",
) -> RuleResult:
    text = _bound_text(bound)
    if observed is None:
        detail = missing or "the evaluation has no value here"
        return RuleResult(
            rule=rule,
            kind=kind,
            severity=severity,
            observed=None,
            bound=text,
            evidence=evidence,
            outcome=_violated(severity),
            detail=detail,
        )
    ok = _within(observed, bound)
    return RuleResult(
        rule=rule,
        kind=kind,
        severity=severity,
        observed=observed,
        bound=text,
        evidence=evidence,
        outcome="pass" if ok else _violated(severity),
    )


def _on(estimate: Estimate | None, on: str) -> float | None:
    """``value``, ``ci_low`` or ``ci_high`` of an estimate (``None`` without one)."""
    if estimate is None:
        return None
    ends = {"value": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high}
    return ends[on]


def _metric_rules(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    out = []
    metrics = doc.metrics
    for name, gate in gates.metrics.items():
        metric = _metric_name(name, metrics, f"gates.metrics.{name}")
        estimate = metrics.get(metric)
        observed = _on(estimate, gate.on)
        missing = (
            f"{metric} was not computed for this model"
            if estimate is None
            else f"undefined: {estimate.undefined or 'no interval (resamples: 0?)'}"
        )
        out.append(
            _judge(
                rule=f"{metric} {gate.on} {_bound_text(gate)}",
                kind="metric",
                severity=gate.severity,
                observed=observed,
                bound=gate,
                evidence=f"metrics.{metric}.{gate.on}",
                missing=missing,
            )
        )
    return out


def _non_regression_rules(
    gates: GatesSpec, doc: EvaluationDocument, *, champion: str | None, version: str | None
) -> list[RuleResult]:
    out = []
    comparison = doc.comparison
    for name, gate in gates.non_regression.items():
        metric = _metric_name(name, doc.metrics, f"gates.non_regression.{name}")
        rule = f"{metric} drop vs champion <= {gate.max_drop:g} ({gate.on})"
        bound_text = f"change >= -{gate.max_drop:g}"
        evidence = f"comparison.metrics.{metric}"

        def result(
            outcome: Outcome,
            detail: str,
            *,
            rule: str = rule,
            severity: Severity = gate.severity,
            evidence: str = evidence,
            bound: str = bound_text,
        ) -> RuleResult:
            return RuleResult(
                rule=rule,
                kind="non_regression",
                severity=severity,
                observed=None,
                bound=bound,
                evidence=evidence,
                outcome=outcome,
                detail=detail,
            )

        if champion is None:
            out.append(result("skipped", "no champion yet: nothing to regress against"))
            continue
        if champion == version:
            out.append(result("skipped", "this version is the champion"))
            continue
        if comparison is None:
            out.append(
                result(
                    _violated(gate.severity),
                    f"the evaluation was not compared with the champion (v{champion}): "
                    "evaluate with --against champion",
                )
            )
            continue
        against = comparison.against.version
        if against != champion:
            out.append(
                result(
                    _violated(gate.severity),
                    f"the evaluation was compared with v{against}, but the champion is "
                    f"v{champion}: evaluate again with --against champion",
                )
            )
            continue
        diff = comparison.metrics.get(metric)
        if diff is None or diff.difference is None:
            out.append(result(_violated(gate.severity), f"{metric}: no paired difference"))
            continue
        sign = 1.0 if _GREATER_IS_BETTER.get(metric, True) else -1.0
        if gate.on == "value":
            change = sign * diff.difference
            suffix = "difference"
        else:  # the pessimistic end of the interval, in the "better is positive" direction
            low, high = diff.ci_low, diff.ci_high
            if low is None or high is None:
                out.append(result(_violated(gate.severity), "the difference has no interval"))
                continue
            change = min(sign * low, sign * high)
            suffix = "ci_low" if sign > 0 else "ci_high"
        ok = change >= -gate.max_drop
        out.append(
            RuleResult(
                rule=rule,
                kind="non_regression",
                severity=gate.severity,
                observed=change,
                bound=bound_text,
                evidence=f"{evidence}.{suffix}",
                outcome="pass" if ok else _violated(gate.severity),
                detail=f"candidate {_shown(diff.candidate)} vs champion {_shown(diff.reference)}",
            )
        )
    return out


def _slice_rules(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    out = []
    for i, gate in enumerate(gates.slices):
        metric = _metric_name(gate.metric, doc.metrics, f"gates.slices[{i}].metric")
        judged = []
        for s in doc.slices:
            observed = _on(s.metrics.get(metric), gate.on)
            if s.support >= gate.min_support and observed is not None:
                judged.append((s.name, observed))
        rule = (
            f"every slice with >= {gate.min_support} rows: {metric} {gate.on} {_bound_text(gate)}"
        )
        if not judged:
            out.append(
                RuleResult(
                    rule=rule,
                    kind="slices",
                    severity=gate.severity,
                    observed=None,
                    bound=_bound_text(gate),
                    evidence="slices",
                    outcome="skipped",
                    detail=f"no slice has {gate.min_support}+ rows and a defined {metric}",
                )
            )
            continue
        failing = [(n, v) for n, v in judged if not _within(v, gate)]
        # the observed value is the worst judged slice's (or the worst violator's)
        pool = failing or judged
        greater = gate.min is not None
        name, value = (
            min(pool, key=lambda nv: nv[1]) if greater else max(pool, key=lambda nv: nv[1])
        )
        detail = (
            f"{len(failing)} of {len(judged)} slices outside: "
            + ", ".join(f"{n} ({v:.4g})" for n, v in failing[:5])
            + (" ..." if len(failing) > 5 else "")
            if failing
            else f"{len(judged)} slices judged, worst {name} ({value:.4g})"
        )
        out.append(
            RuleResult(
                rule=rule,
                kind="slices",
                severity=gate.severity,
                observed=value,
                bound=_bound_text(gate),
                evidence=f"slices[name={name}].metrics.{metric}.{gate.on}",
                outcome=_violated(gate.severity) if failing else "pass",
                detail=detail,
            )
        )
    return out


def _worst_slice_rule(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    gate = gates.worst_slice
    if gate is None:
        return []
    found = [s for s in doc.discovered_slices if s.significant or not gate.significant_only]
    rule = f"worst discovered slice error rate <= {gate.max_error_rate:g}"
    bound = f"<= {gate.max_error_rate:g}"
    if not found:
        detail = "no significant discovered slice" if gate.significant_only else "none found"
        return [
            RuleResult(
                rule=rule,
                kind="worst_slice",
                severity=gate.severity,
                observed=None,
                bound=bound,
                evidence="discovered_slices",
                outcome="pass",
                detail=detail,
            )
        ]
    worst = max(found, key=lambda s: s.error_rate)
    ok = worst.error_rate <= gate.max_error_rate
    return [
        RuleResult(
            rule=rule,
            kind="worst_slice",
            severity=gate.severity,
            observed=worst.error_rate,
            bound=bound,
            evidence=f"discovered_slices[rule={worst.rule}].error_rate",
            outcome="pass" if ok else _violated(gate.severity),
            detail=f"{worst.rule}: {worst.rows} rows",
        )
    ]


def _fairness_rules(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    out = []
    reports = {r.feature: r for r in doc.fairness}
    for metric, bound in gates.fairness.items():
        if not reports:
            out.append(
                RuleResult(
                    rule=f"{metric} {_bound_text(bound)}",
                    kind="fairness",
                    severity=bound.severity,
                    observed=None,
                    bound=_bound_text(bound),
                    evidence="fairness",
                    outcome="skipped",
                    detail="no fairness report (no sensitive features, or not a binary task)",
                )
            )
        plain = bound.on == "value" and bound.method == "between_groups"
        what = metric if bound.method == "between_groups" else f"{metric} to_overall"
        what = what if bound.on == "value" else f"{what} {bound.on}"
        for feature, report in reports.items():
            found = report.disparity(metric, bound.method)
            if plain:
                evidence = f"fairness[feature={feature}].{metric}"
            else:
                evidence = (
                    f"fairness[feature={feature}].disparities"
                    f"[name={metric},method={bound.method}].{bound.on}"
                )
            if found is None:
                missing = (
                    "undefined: a group lacks positive or negative rows"
                    if plain
                    else "the evaluation has no fairness intervals (evaluate again)"
                )
            elif found.undefined is not None:
                missing = f"undefined: {found.undefined}"
            else:
                missing = "no interval (resamples: 0?)"
            out.append(
                _judge(
                    rule=f"{what} for {feature} {_bound_text(bound)}",
                    kind="fairness",
                    severity=bound.severity,
                    observed=report.measure(metric, bound.method, bound.on),
                    bound=bound,
                    evidence=evidence,
                    missing=missing,
                )
            )
    return out


def _robustness_rules(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    gate = gates.robustness
    if gate is None:
        return []
    limit = Bound(max=gate.max_flip_rate, severity=gate.severity)
    return [
        _judge(
            rule=f"flip rate under {p.name} <= {gate.max_flip_rate:g}",
            kind="robustness",
            severity=gate.severity,
            observed=p.flip_rate,
            bound=limit,
            evidence=f"robustness[name={p.name}].flip_rate",
            missing=f"not measured: {p.error or 'no value'}",
        )
        for p in doc.robustness
    ]


def _calibration_rule(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    gate = gates.calibration
    if gate is None:
        return []
    estimate = doc.metrics.get("expected_calibration_error")
    return [
        _judge(
            rule=f"expected_calibration_error {gate.on} <= {gate.max_ece:g}",
            kind="calibration",
            severity=gate.severity,
            observed=_on(estimate, gate.on),
            bound=Bound(max=gate.max_ece, severity=gate.severity),
            evidence=f"metrics.expected_calibration_error.{gate.on}",
            missing="not computed (the model gives no probabilities)"
            if estimate is None
            else f"undefined: {estimate.undefined or 'no interval (resamples: 0?)'}",
        )
    ]


def _operations_rules(gates: GatesSpec, doc: EvaluationDocument) -> list[RuleResult]:
    gate = gates.operations
    if gate is None:
        return []
    ops = doc.operations
    currency = "" if ops is None else f" ({ops.currency})"
    checks = [
        (
            "single_row_p95_ms",
            "single-row p95 latency (ms)",
            gate.max_p95_latency_ms,
            None if ops is None else ops.single_row_p95_ms,
        ),
        (
            "cost_per_1000_predictions",
            f"cost per 1,000 predictions{currency}",
            gate.max_cost_per_1000,
            None if ops is None else ops.cost_per_1000_predictions,
        ),
    ]
    return [
        _judge(
            rule=f"{label} <= {limit:g}",
            kind="operations",
            severity=gate.severity,
            observed=observed,
            bound=Bound(max=limit, severity=gate.severity),
            evidence=f"operations.{key}",
            missing="no operational profile in the evaluation",
        )
        for key, label, limit, observed in checks
        if limit is not None
    ]


@dataclass(frozen=True)
class Lineage:
    """The lineage facts of one model version as goldenpath's audit trail holds them: its
    ``train`` event (subject ``name/version``, of the version's run) and its run's newest
    ``reproduce`` event. Never MLflow run tags, which anyone who can write to the tracking
    server can change. Built with :meth:`from_events`; ``gate`` reads the events."""

    subject: str  # name/version
    run_id: str
    train_seq: int | None = None  # the train event of this run (None: the store has none)
    contract_validated: bool | None = None  # None: not in the event (an older train)
    git_recorded: bool = False  # whether the train event records git_dirty at all
    git_dirty: bool | None = None  # None: not a git repository
    reproduce_seq: int | None = None  # the run's newest reproduce event (None: never)
    reproduced: bool | None = None  # None: not reproduced, or not in the event

    @classmethod
    def from_events(
        cls,
        *,
        subject: str,
        run_id: str,
        train: AuditEvent | None,
        reproduce: AuditEvent | None,
    ) -> Lineage:
        """The facts in ``train`` (ignored unless it names ``run_id``) and ``reproduce``; a
        value that is not a JSON boolean counts as not recorded (``git_dirty`` may be null)."""
        facts = cls(subject=subject, run_id=run_id)
        if train is not None and train.payload.get("run_id") == run_id:
            payload = train.payload
            validated = payload.get("contract_validated")
            dirty = payload.get("git_dirty")
            facts = replace(
                facts,
                train_seq=train.seq,
                contract_validated=validated if isinstance(validated, bool) else None,
                git_recorded="git_dirty" in payload and (dirty is None or isinstance(dirty, bool)),
                git_dirty=dirty if isinstance(dirty, bool) else None,
            )
        if reproduce is not None:
            said = reproduce.payload.get("reproduced")
            facts = replace(
                facts,
                reproduce_seq=reproduce.seq,
                reproduced=said if isinstance(said, bool) else None,
            )
        return facts


def _train_fact(lineage: Lineage, key: str, recorded: bool, observed: str) -> tuple[str, str, str]:
    """``(observed, evidence, fix)`` of a fact of the train event; ``fix`` is what to do unless
    the event is missing or predates the fact (then it says that)."""
    if lineage.train_seq is None:
        return (
            "no train event",
            f"audit.train[subject={lineage.subject}]",
            f"the store has no train event of run {lineage.run_id}: train with goldenpath "
            "train (it audits the lineage facts) and gate the new version",
        )
    evidence = f"audit.train#{lineage.train_seq}.payload.{key}"
    if not recorded:
        return (
            "not recorded",
            evidence,
            f"train event #{lineage.train_seq} predates lineage facts in the audit trail: train "
            "again with goldenpath train and gate the new version",
        )
    return observed, evidence, ""


def _lineage_rules(gates: GatesSpec, lineage: Lineage, risk_tier: RiskTier) -> list[RuleResult]:
    gate = gates.lineage
    clean_git = gate.clean_git if gate.clean_git is not None else risk_tier == "high"
    contract = _train_fact(
        lineage,
        "contract_validated",
        lineage.contract_validated is not None,
        "yes" if lineage.contract_validated else "no",
    )
    dirty = lineage.git_dirty
    git = _train_fact(
        lineage,
        "git_dirty",
        lineage.git_recorded,
        "no (not a git repository)"
        if dirty is None
        else "no (uncommitted changes)"
        if dirty
        else "yes",
    )
    if lineage.reproduce_seq is None:
        reproduced = ("not checked", f"audit.reproduce[subject={lineage.run_id}]", "")
    else:
        said = lineage.reproduced
        reproduced = (
            "not recorded" if said is None else "yes" if said else "no",
            f"audit.reproduce#{lineage.reproduce_seq}.payload.reproduced",
            "",
        )
    # (required, rule, (observed, evidence, fix when the event says why), how to fix)
    checks = [
        (
            gate.contract_validated,
            "training data validated by its contract",
            contract,
            "train with goldenpath train (it validates the contract)",
        ),
        (
            gate.reproduced,
            "run reproduced (goldenpath reproduce)",
            reproduced,
            "run goldenpath reproduce on the run",
        ),
        (
            clean_git,
            "trained from committed code (clean git tree)",
            git,
            "commit the project, then train again",
        ),
    ]
    out = []
    for required, rule, (observed, evidence, why), fix in checks:
        if not required:
            continue
        ok = observed == "yes"
        out.append(
            RuleResult(
                rule=rule,
                kind="lineage",
                severity=gate.severity,
                observed=observed,
                bound="yes",
                evidence=evidence,
                outcome="pass" if ok else _violated(gate.severity),
                detail="" if ok else why or fix,
            )
        )
    return out


def check_gates(spec: Spec) -> None:
    """Every metric the gates name exists for the spec's task (``goldenpath validate`` and
    ``goldenpath gate`` call this, so a typo is caught before any evaluation)."""
    task = spec.task.type
    for_task = {m.name: m for m in METRICS if task in m.tasks}
    gates = spec.gates
    named = [
        *((f"gates.metrics.{n}", n) for n in gates.metrics),
        *((f"gates.non_regression.{n}", n) for n in gates.non_regression),
        *((f"gates.slices[{i}].metric", g.metric) for i, g in enumerate(gates.slices)),
    ]
    problems = []
    for key, name in named:
        if name not in for_task and f"{name}_score" not in for_task:
            problems.append(f"{key}: {name!r} is not a metric of a {task} model")
    if task != "binary_classification":
        if gates.fairness:
            problems.append("gates.fairness: fairness is assessed for binary classification only")
        if gates.calibration is not None:
            problems.append("gates.calibration: calibration is assessed for binary classification")
    if problems:
        raise SpecInvalid(
            "; ".join(problems), hint=f"metrics of a {task} model: {', '.join(sorted(for_task))}"
        )


def apply_gates(
    gates: GatesSpec,
    evaluation: EvaluationDocument,
    *,
    lineage: Lineage,
    risk_tier: RiskTier,
    champion: str | None,
) -> list[RuleResult]:
    """Every rule of ``gates`` judged on ``evaluation`` (an ``evaluation.json`` document), the
    version's lineage facts as the audit trail holds them, and the current champion version
    (non-regression)."""
    version = evaluation.model.version
    return [
        *_metric_rules(gates, evaluation),
        *_non_regression_rules(gates, evaluation, champion=champion, version=version),
        *_slice_rules(gates, evaluation),
        *_worst_slice_rule(gates, evaluation),
        *_fairness_rules(gates, evaluation),
        *_robustness_rules(gates, evaluation),
        *_calibration_rule(gates, evaluation),
        *_operations_rules(gates, evaluation),
        *_lineage_rules(gates, lineage, risk_tier),
    ]
