"""The model card, after Mitchell et al. (2019), "Model Cards for Model Reporting".

A card is rendered from evidence goldenpath already keeps: the spec, the training run's tags,
params and metrics, the ``evaluation.json`` document, the gate decision, the approvals and the
alias history. Nothing here reads rows or touches a store; :class:`CardContext` carries it all.

The Python side turns the evidence into a *view* of ready-formatted strings (4 significant
digits for metrics, percentages for rates), and says in words what is missing ("not evaluated",
"no gate decision yet"). The two templates only lay that view out, so the Markdown and the HTML
card always say the same thing. The HTML card is one small self-contained page (no script, no
network), autoescaped; Markdown table cells escape ``|``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeGuard

from markupsafe import Markup, escape

from goldenpath.evaluation.document import EvaluationDocument, FairnessReport, ModelInfo
from goldenpath.spec.models import Spec
from goldenpath.store.records import Approval, DecisionDocument, Promotion

__all__ = ["CardContext", "render_card_html", "render_card_markdown"]

_TAG = "goldenpath."
_TOP_SLICES = 20
_NONE = "—"
_NOT_EVALUATED = "Not evaluated: the model has no evaluation yet (run `goldenpath evaluate`)."


@dataclass(frozen=True)
class CardContext:
    """Everything a model card shows; every piece of evidence but the spec may be missing."""

    spec: Spec
    model: ModelInfo
    run_tags: dict[str, str]
    run_params: dict[str, str]
    run_metrics: dict[str, float]
    evaluation: EvaluationDocument | None
    decision: DecisionDocument | None
    approvals: list[Approval]
    promotions: list[Promotion]
    generated_at: str


# -- formatting ---------------------------------------------------------------------------------


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: object) -> str:
    """A metric-like number to 4 significant digits; large numbers in full with separators."""
    if not _is_number(x):
        return _NONE if x is None else str(x)
    value = float(x)
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _signed(x: object) -> str:
    if not _is_number(x):
        return _NONE
    value = float(x)
    return f"{value:+,.0f}" if abs(value) >= 10_000 else f"{value:+.4g}"


def _pct(x: object) -> str:
    return f"{float(x) * 100:.1f}%" if _is_number(x) else _NONE


def _count(x: object) -> str:
    return f"{int(x):,}" if _is_number(x) else _NONE


def _interval(low: object, high: object, *, signed: bool = False) -> str:
    if not (_is_number(low) and _is_number(high)):
        return _NONE
    fmt = _signed if signed else _num
    return f"[{fmt(low)}, {fmt(high)}]"


def _ms(x: object) -> str:
    if not _is_number(x):
        return _NONE
    value = float(x)
    return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"


def _size(x: object) -> str:
    if not _is_number(x):
        return _NONE
    value = float(x)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    return _NONE  # pragma: no cover


def _words(name: object) -> str:
    return str(name).replace("_", " ")


def _row(label: str, value: object, *, code: bool = False) -> dict[str, Any]:
    text = _NONE if value is None or value == "" else str(value)
    return {"label": label, "value": text, "code": code and "`" not in text and text != _NONE}


# -- sections -----------------------------------------------------------------------------------


def _tag(c: CardContext, key: str) -> str | None:
    return c.run_tags.get(_TAG + key) or None


def _lineage(c: CardContext, key: str) -> str | None:
    """A run tag, or the same value as the evaluation recorded it in its lineage."""
    value = _tag(c, key)
    if value is None and c.evaluation is not None:
        recorded = {
            "git_commit": c.evaluation.lineage.git_commit,
            "dataset_fingerprint": c.evaluation.lineage.dataset_fingerprint,
            "train_fingerprint": c.evaluation.lineage.train_fingerprint,
            "test_fingerprint": c.evaluation.lineage.test_fingerprint,
        }
        value = recorded.get(key)
    return str(value) if value else None


def _first_line(text: object) -> str:
    return str(text).strip().split("\n", 1)[0]


def _code_version(c: CardContext) -> str:
    commit = _lineage(c, "git_commit")
    if commit is None:
        return "unknown"
    dirty = _tag(c, "git_dirty")
    if dirty == "true":
        return f"{commit} (uncommitted changes in the project folder)"
    if dirty == "false":
        return f"{commit} (clean)"
    return commit


_FILES = {
    "skops": "skops (loading runs no code)",
    "cloudpickle": "cloudpickle (executes code on load)",
    "xgboost_ubj": "XGBoost's own UBJSON file (loading runs no code)",
}


def _model_format(c: CardContext) -> str:
    serialization = _tag(c, "serialization")
    if serialization is None:
        return "not recorded (the run predates goldenpath recording it)"
    flavour = _tag(c, "model_flavour") or "unknown"
    return f"MLflow {flavour} flavour, saved as {_FILES.get(serialization, serialization)}"


def _warnings(c: CardContext) -> list[str]:
    """What anyone about to load the model must know first."""
    if _tag(c, "serialization") != "cloudpickle":
        return []
    return [
        "this model is saved with cloudpickle, which executes code on load "
        "(`training.serialization: cloudpickle`): load it only from this registry, whose files "
        "the server checks against the digest the gate judged, never from a copy of unknown "
        "origin."
    ]


def _reproduced(c: CardContext) -> str:
    return {
        "true": "yes: `goldenpath reproduce` retrained it to the same result",
        "false": "no: `goldenpath reproduce` did not reproduce it",
    }.get(_tag(c, "reproducible") or "", "not checked (`goldenpath reproduce` not run)")


def _training_params(c: CardContext) -> tuple[str, str]:
    if c.run_params:
        params = {k: v for k, v in c.run_params.items() if k not in ("seed", "entrypoint")}
        seed = c.run_params.get("seed", str(c.spec.training.seed))
    else:
        params = {k: str(v) for k, v in c.spec.training.params.items()}
        seed = str(c.spec.training.seed)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "none (defaults)"
    return shown, seed


def _details(c: CardContext) -> list[dict[str, Any]]:
    spec, e = c.spec, c.evaluation
    task = _words(spec.task.type)
    task += f" of {spec.task.target}"
    if spec.task.positive_label is not None:
        task += f" (positive class: {spec.task.positive_label})"
    params, seed = _training_params(c)
    return [
        _row("Name", c.model.name or spec.project.name, code=True),
        _row("Version", c.model.version or "not registered (run only)"),
        _row("Training run", c.model.run_id, code=True),
        _row("Model URI", c.model.uri, code=True),
        _row("Card generated", c.generated_at),
        _row("Last evaluated", e.created_at if e else "not evaluated"),
        _row("Owners", ", ".join(spec.project.owners)),
        _row("Risk tier", spec.project.risk_tier),
        _row("Task", task),
        _row("Description", spec.project.description or "no description given"),
        _row("Training entrypoint", spec.training.entrypoint, code=True),
        _row("Training parameters", params),
        _row("Training seed", seed),
        _row("Model format", _model_format(c)),
        _row("Code version (git)", _code_version(c)),
        _row("goldenpath version", _tag(c, "version") or "unknown"),
        _row("Python version", _tag(c, "python") or "unknown"),
        _row("Reproduced", _reproduced(c)),
    ]


def _factors(spec: Spec) -> list[dict[str, Any]]:
    rows = []
    for s in spec.data.slices:
        if s.cross is not None:
            how = "every combination of " + " × ".join(s.cross)
        elif s.bins is not None:
            how = f"{s.column} in intervals with edges {', '.join(_num(b) for b in s.bins)}"
        elif s.values is not None:
            how = f"{s.column} = each of {', '.join(str(v) for v in s.values)}"
        else:
            how = f"each value of {s.column}"
        rows.append({"name": s.name, "how": how})
    return rows


def _metrics(e: EvaluationDocument) -> dict[str, Any]:
    primary = e.primary_metric
    rows = []
    for name, m in e.metrics.items():
        rows.append(
            {
                "name": name,
                "primary": name == primary,
                "value": _num(m.value),
                "interval": _interval(m.ci_low, m.ci_high),
                "direction": "higher is better" if name.endswith("_score") else "lower is better",
                "note": f"undefined: {m.undefined}" if m.undefined else "",
            }
        )
    boot = e.lineage.bootstrap
    if boot.resamples:
        described = {
            "BCa": "BCa intervals (bias corrected and accelerated)",
            "studentized": "studentized (bootstrap-t) intervals",
        }
        others = [
            f"{text} for {', '.join(names)}"
            for method, text in described.items()
            if (names := [n for n, m in e.metrics.items() if m.interval_method == method])
        ]
        except_others = f", except {' and '.join(others)}" if others else ""
        ci = (
            f"Intervals are {_num(100 * boot.confidence)}% bootstrap percentile "
            f"intervals from {_count(boot.resamples)} resamples (seed {boot.seed}){except_others}."
        )
    else:
        ci = "No intervals: the evaluation used no bootstrap resamples."
    threshold = ""
    if e.task == "binary_classification":
        threshold = f"A row is predicted positive when its score is at least {e.lineage.threshold}."
    return {"primary": primary, "rows": rows, "intervals": ci, "threshold": threshold}


def _training_data(c: CardContext) -> list[dict[str, Any]]:
    m, split = c.run_metrics, c.spec.data.split

    def rows_of(*keys: str) -> str | None:
        return next((_count(m[k]) for k in keys if k in m), None)

    if split.method == "time":
        how = f"by time: rows at or after {split.cutoff} held out"
    else:
        how = f"random, {_pct(split.test_fraction)} held out (seed {split.seed})"
    duration = m.get("training_duration_s")
    return [
        _row("Source", _tag(c, "data_source") or c.spec.data.source, code=True),
        _row("Dataset fingerprint", _lineage(c, "dataset_fingerprint"), code=True),
        _row("Training rows fingerprint", _lineage(c, "train_fingerprint"), code=True),
        _row("Held-out rows fingerprint", _lineage(c, "test_fingerprint"), code=True),
        _row("Schema hash", _tag(c, "schema_hash"), code=True),
        _row("Rows (all validated)", rows_of("rows", "n_rows")),
        _row("Training rows", rows_of("train_rows", "n_train")),
        _row("Held-out rows", rows_of("test_rows", "n_test")),
        _row("Split", how),
        _row("Training time", f"{duration:.3g} s" if _is_number(duration) else None),
    ]


def _evaluation_data(c: CardContext, e: EvaluationDocument) -> list[dict[str, Any]]:
    data = e.data
    rows = [
        _row("Description", data.description),
        _row("Source", data.source, code=True),
        _row("Rows", _count(data.rows)),
        _row("Fingerprint", data.fingerprint, code=True),
    ]
    test_fp = _lineage(c, "test_fingerprint")
    if test_fp and data.fingerprint:
        same = data.fingerprint == test_fp
        rows.append(_row("The run's held-out rows", "yes" if same else "no: other rows"))
    return rows


def _slices(e: EvaluationDocument) -> dict[str, Any]:
    rows = []
    for s in e.slices[:_TOP_SLICES]:
        m = e.primary(s)
        value = None if m is None else m.value
        rows.append(
            {
                "name": s.name,
                "slice": s.slice,
                "support": _count(s.support),
                "small": s.small,
                "value": _num(value) if value is not None else "undefined",
                "interval": _NONE if m is None else _interval(m.ci_low, m.ci_high),
                "difference": _signed(s.primary_difference),
                "worse": s.harm is not None and s.harm > 0,
                "note": (m.undefined if m is not None else "not computed") or "",
            }
        )
    return {"rows": rows, "total": len(e.slices)}


def _disparity(f: FairnessReport, name: str) -> str:
    """A fairness figure (between groups) with its interval, or why it is undefined."""
    d = f.disparity(name)
    if d is None:  # a document written before intervals: the point value only
        value = f.measure(name)
        return "undefined (a group lacks positives or negatives)" if value is None else _num(value)
    if d.value is None:
        return f"undefined ({d.undefined})"
    interval = _interval(d.ci_low, d.ci_high)
    return _num(d.value) if interval == _NONE else f"{_num(d.value)} {interval}"


def _fairness(e: EvaluationDocument) -> list[dict[str, Any]]:
    out = []
    for f in e.fairness:
        out.append(
            {
                "feature": f.feature,
                "dp_difference": _disparity(f, "demographic_parity_difference"),
                "dp_ratio": _disparity(f, "demographic_parity_ratio"),
                "eo_difference": _disparity(f, "equalized_odds_difference"),
                "eop_difference": _disparity(f, "equal_opportunity_difference")
                if f.disparities
                else None,
                "notes": list(f.notes),
                "groups": [
                    {
                        "group": g.group if g.compared else f"{g.group} (not compared)",
                        "support": _count(g.support),
                        "selection_rate": _pct(g.selection_rate),
                        "tpr": _pct(g.true_positive_rate),
                        "fpr": _pct(g.false_positive_rate),
                    }
                    for g in f.groups
                ],
            }
        )
    return out


def _calibration(c: CardContext) -> str:
    e = c.evaluation
    if e is None:
        return _NOT_EVALUATED
    ece = e.metrics.get("expected_calibration_error")
    if ece is not None and ece.value is not None:
        text = (
            f"Expected calibration error {_num(ece.value)}, interval "
            f"{_interval(ece.ci_low, ece.ci_high)} (10 equal-width score bins; "
            "lower is better)."
        )
        th = e.thresholds
        if th is not None:
            text += (
                f" F1 is highest at threshold {_num(th.best_f1_threshold)} (F1 {_num(th.best_f1)})."
            )
        return text
    if c.spec.task.type == "regression":
        return "Not applicable: calibration is measured for classifiers with probability scores."
    if ece is not None:
        return f"Undefined: {ece.undefined}."
    skipped = next((n for n in e.not_assessed if n.analysis == "calibration"), None)
    if skipped is not None:  # the evaluation's own reason (a multiclass model has scores)
        return f"Not assessed: {skipped.reason}."
    return "Not measured: the model gives no probability scores."


def _robustness(e: EvaluationDocument) -> list[dict[str, Any]]:
    return [
        {
            "name": _words(p.name),
            "description": p.description,
            "flip_rate": _pct(p.flip_rate),
            "metric": p.metric or e.primary_metric,
            "change": _signed(p.metric_change),
            "error": _first_line(p.error) if p.error else "",
        }
        for p in e.robustness
    ]


def _operations(e: EvaluationDocument) -> list[dict[str, Any]] | None:
    o = e.operations
    if o is None:
        return None
    cost = f"{o.cost_per_1000_predictions:.3g} {o.currency}"
    return [
        _row("Single-row latency p50", _ms(o.single_row_p50_ms)),
        _row("Single-row latency p95", _ms(o.single_row_p95_ms)),
        _row(f"{_count(o.batch_size)}-row batch latency p95", _ms(o.batch_p95_ms)),
        _row(
            "Cost per 1,000 predictions",
            f"{cost} (at {o.price_per_cpu_hour} {o.currency} per CPU-hour)",
        ),
        _row("Model size", _size(o.model_size_bytes)),
    ]


def _comparison(e: EvaluationDocument) -> dict[str, Any] | None:
    comp = e.comparison
    if comp is None:
        return None
    a = comp.against
    label = f"{a.name} version {a.version or _NONE}"
    if a.reference:
        label += f" ({a.reference})"
    trained = comp.reference_trained_on_rows
    return {
        "against": label,
        "trained_on_rows": _count(trained) if trained else "",
        "rows": [
            {
                "name": name,
                "candidate": _num(d.candidate),
                "reference": _num(d.reference),
                "difference": _signed(d.difference),
                "interval": _interval(d.ci_low, d.ci_high, signed=True),
                "verdict": d.verdict,
            }
            for name, d in comp.metrics.items()
        ],
    }


def _observed(x: object) -> str:
    return _num(x) if _is_number(x) else (_NONE if x is None else str(x))


def _decision(d: DecisionDocument) -> dict[str, Any]:
    return {
        "verdict": d.verdict,
        "id": d.decision_id or _NONE,
        "created_at": d.created_at or _NONE,
        "actor": d.actor or _NONE,
        "evaluation_id": d.evaluation_id or _NONE,
        "compared_with": d.compared_with or "",
        "rules": [
            {
                "rule": r.rule or _NONE,
                "severity": r.severity,
                "observed": _observed(r.observed),
                "bound": r.bound or _NONE,
                "outcome": r.outcome,
                "evidence": r.evidence or _NONE,
                "detail": r.detail,
            }
            for r in d.rules
        ],
    }


def _promotions(c: CardContext) -> list[dict[str, Any]]:
    return [
        {
            "alias": p.alias or _NONE,
            "change": f"{p.from_version or 'none'} → {p.to_version or _NONE}",
            "kind": p.kind or _NONE,
            "actor": p.actor or _NONE,
            "reason": p.reason,
            "when": p.completed_at or _NONE,
        }
        for p in c.promotions
    ]


def _ethics(c: CardContext) -> dict[str, Any]:
    spec = c.spec
    sensitive = spec.data.sensitive_features
    pii = [name for name, col in spec.data.contract.columns.items() if col.pii]
    fairness = () if c.evaluation is None else c.evaluation.fairness
    if not sensitive:
        summary = [
            "No sensitive features are declared (`data.sensitive_features`): "
            "fairness was not assessed."
        ]
    elif c.evaluation is None:
        summary = ["Fairness was not evaluated: the model has no evaluation yet."]
    elif not fairness:
        summary = [
            "No fairness figures: they are computed for binary classification only "
            f"(this is {_words(spec.task.type)})."
        ]
    else:
        summary = [
            f"{f['feature']}: demographic parity difference {f['dp_difference']} "
            f"(ratio {f['dp_ratio']}), equalized odds difference {f['eo_difference']}."
            for f in _fairness(c.evaluation)
        ]
    return {"sensitive": sensitive, "summary": summary, "pii": pii}


def _evaluation_caveats(e: EvaluationDocument) -> list[str]:
    """What a reader of the evaluation's figures must keep in mind."""
    out = []
    small = [s.name for s in e.slices if s.small]
    if small:
        shown = ", ".join(small[:5]) + (", ..." if len(small) > 5 else "")
        out.append(
            f"{len(small)} slice group(s) have fewer than {e.lineage.min_slice_support} rows "
            f"({shown}): read their intervals, not their point values."
        )
    for name, m in e.metrics.items():
        if m.value is None:
            out.append(f"{name} is undefined on the evaluation rows: {m.undefined}.")
    undefined = [s for s in e.slices if (est := e.primary(s)) is None or est.value is None]
    if undefined:
        out.append(f"{e.primary_metric} is undefined on {len(undefined)} slice group(s).")
    for ds in e.discovered_slices:
        if ds.significant:
            out.append(
                f"Discovered slice {ds.rule}: error rate {_pct(ds.error_rate)} "
                f"vs {_pct(ds.overall_error_rate)} overall on {_count(ds.rows)} "
                f"rows (q = {ds.q_value:.2g})."
            )
    for p in e.robustness:
        if p.error:
            out.append(
                f"The model fails under {_words(p.name)} ({p.description}): {_first_line(p.error)}"
            )
    return out


def _caveats(c: CardContext) -> list[str]:
    e, d = c.evaluation, c.decision
    out = list(c.spec.project.caveats)
    if e is None:
        out.append("The model has not been evaluated: no figure in this card is measured.")
    else:
        out.extend(_evaluation_caveats(e))
    if d is None:
        out.append("No gate decision yet: the model has not been through the gates.")
    else:
        for r in d.rules:
            if r.outcome in ("fail", "warn"):
                verb = "failed" if r.outcome == "fail" else "warned"
                detail = f": {r.detail}" if r.detail else ""
                out.append(f"Gate rule `{r.rule}` {verb}{detail}.")
        if e is not None and d.evaluation_id != e.evaluation_id:
            out.append(
                f"The gate decision judged evaluation {d.evaluation_id}, not the one "
                f"shown here ({e.evaluation_id})."
            )
    reproduced = _tag(c, "reproducible")
    if reproduced == "false":
        out.append(
            "`goldenpath reproduce` did not reproduce this run: its figures may not be repeatable."
        )
    elif reproduced is None:
        out.append("The run has not been checked with `goldenpath reproduce`.")
    if _tag(c, "git_dirty") == "true":
        out.append(
            "The model was trained with uncommitted changes in the project folder: the git "
            "commit alone does not recover its code."
        )
    return out


def _view(c: CardContext) -> dict[str, Any]:
    e = c.evaluation
    name = c.model.name or c.spec.project.name
    version = c.model.version
    return {
        "title": f"{name} version {version}" if version else f"{name} (run {c.model.run_id})",
        "generated_at": c.generated_at,
        "not_evaluated": _NOT_EVALUATED,
        "warnings": _warnings(c),
        "details": _details(c),
        "intended_use": c.spec.project.intended_use,
        "out_of_scope": c.spec.project.out_of_scope_use,
        "factors": _factors(c.spec),
        "sensitive": c.spec.data.sensitive_features,
        "evaluated": e is not None,
        "metrics": _metrics(e) if e else None,
        "training_data": _training_data(c),
        "evaluation_data": _evaluation_data(c, e) if e else None,
        "slices": _slices(e) if e else None,
        "fairness": _fairness(e) if e else [],
        "fairness_note": _ethics(c)["summary"][0],
        "calibration": _calibration(c),
        "robustness": _robustness(e) if e else [],
        "operations": _operations(e) if e else None,
        "comparison": _comparison(e) if e else None,
        "decision": _decision(c.decision) if c.decision else None,
        "approvals": c.approvals,
        "risk_tier": c.spec.project.risk_tier,
        "promotions": _promotions(c),
        "ethics": _ethics(c),
        "caveats": _caveats(c),
    }


# -- rendering ----------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell: one line, ``|`` and ``\\`` escaped."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _prose(value: object) -> Markup:
    """HTML text whose `backtick spans` become ``<code>``; everything else escaped."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(value))))


def _render(template_name: str, view: dict[str, Any], *, html: bool) -> str:
    import jinja2

    source = resources.files("goldenpath.reports").joinpath(f"templates/{template_name}")
    env = jinja2.Environment(
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = _cell
    env.filters["prose"] = _prose
    return env.from_string(source.read_text("utf-8")).render(v=view)


def render_card_markdown(context: CardContext) -> str:
    """The model card as Markdown (GitHub-flavoured tables)."""
    text = _render("card.md.j2", _view(context), html=False)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_card_html(context: CardContext) -> str:
    """The model card as one self-contained, autoescaped HTML page (no script, no network)."""
    return _render("card.html.j2", _view(context), html=True)
