"""The model card: every Mitchell et al. section, from a real evaluation, and missing evidence."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import SMALL_MODEL, small_frame, small_spec
from goldenpath.evaluation import EvaluationDocument, evaluate
from goldenpath.gates import DecisionDocument
from goldenpath.reports.card import CardContext, render_card_html, render_card_markdown
from goldenpath.store.records import Approval, Promotion

SECTIONS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Training data",
    "Evaluation data",
    "Quantitative analyses",
    "Gate decision",
    "Approvals",
    "Promotion history",
    "Ethical considerations",
    "Caveats and recommendations",
]
ANALYSES = [
    "Slices",
    "Fairness",
    "Calibration",
    "Robustness",
    "Operational profile",
    "Comparison with the champion",
]

REGRESSION_MODEL = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline


def regress(frame, params):
    numbers = ColumnTransformer([("n", "passthrough", ["age"])])
    return Pipeline([("n", numbers), ("m", Ridge())]).fit(frame, frame["spend"])
"""


# -- fixtures: real trainings and evaluations, once per module -----------------------------------


def _write_project(root: Path, spec: dict[str, Any], n: int = 600) -> goldenpath.Project:
    root.mkdir(parents=True)
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec))
    small_frame(n=n).to_csv(root / "data.csv", index=False)
    (root / "small_model.py").write_text(textwrap.dedent(SMALL_MODEL))
    (root / "regression_model.py").write_text(REGRESSION_MODEL)
    return goldenpath.open_project(root)


def _run(project: goldenpath.Project, run_id: str) -> Any:
    return MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}").get_run(run_id)


@pytest.fixture(scope="module")
def _no_tracking_uri() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory, _no_tracking_uri: None) -> CardContext:
    """Version 2 of a binary classifier, evaluated against version 1 as champion."""
    spec = small_spec()
    spec["project"].update(
        description="Predicts which customers will cancel next month.",
        intended_use="Rank customers for a retention call.",
        out_of_scope_use=["Pricing decisions", "Credit scoring"],
        caveats=["Trained on synthetic customers only."],
    )
    spec["data"]["contract"]["columns"]["customer_id"]["pii"] = True
    spec["data"]["sensitive_features"] = ["plan"]
    spec["data"]["slices"] = [
        {"name": "plan", "column": "plan"},
        {"name": "age", "column": "age", "bins": [0, 40, 60, 200]},
        {"name": "plan_by_age", "cross": ["plan", "age"]},
    ]
    spec["evaluation"] = {"resamples": 100, "seed": 5}
    project = _write_project(tmp_path_factory.mktemp("card") / "binary", spec)
    goldenpath.train(project)
    spec["training"]["params"]["C"] = 0.05
    project.spec_path.write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(project.root)
    second = goldenpath.train(project)
    client = MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")
    client.set_registered_model_alias("small", "champion", "1")
    result = evaluate(project, "small/2", against="champion")
    run = _run(project, second.run_id)
    return CardContext(
        spec=project.spec,
        model=result.model,
        run_tags=dict(run.data.tags),
        run_params=dict(run.data.params),
        run_metrics=dict(run.data.metrics),
        evaluation=result,
        decision=_decision(result.to_dict()),
        approvals=[Approval("dec-42", "risk@example.com", "Fine for a pilot.", "t1")],
        promotions=[
            _move(1, ("1", "2"), "promote", ("alice", "better recall"), "t2"),
            _move(2, ("2", "1"), "rollback", ("bob", "latency incident"), "t3"),
        ],
        generated_at="2026-11-25T12:00:00+00:00",
    )


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory, _no_tracking_uri: None) -> CardContext:
    spec = small_spec(**{"training.entrypoint": "regression_model:regress"})
    spec["task"] = {"type": "regression", "target": "spend"}
    spec["data"]["sensitive_features"] = ["plan"]
    spec["evaluation"] = {"resamples": 50}
    project = _write_project(tmp_path_factory.mktemp("card") / "regression", spec, n=400)
    trained = goldenpath.train(project)
    result = evaluate(project, "latest")
    run = _run(project, trained.run_id)
    return CardContext(
        spec=project.spec,
        model=result.model,
        run_tags=dict(run.data.tags),
        run_params=dict(run.data.params),
        run_metrics=dict(run.data.metrics),
        evaluation=result,
        decision=None,
        approvals=[],
        promotions=[],
        generated_at="2026-11-25T12:00:00+00:00",
    )


def _move(
    number: int, versions: tuple[str, str], kind: str, by: tuple[str, str], at: str
) -> Promotion:
    """A completed move of the champion alias, as the store returns it."""
    return Promotion(
        id=number,
        project="small",
        model_name="small",
        alias="champion",
        from_version=versions[0],
        to_version=versions[1],
        kind=kind,
        decision_id="dec-42",
        actor=by[0],
        reason=by[1],
        state="completed",
        owner="host:1",
        created_at=at,
        completed_at=at,
    )


def _decision(e: dict[str, Any]) -> DecisionDocument:
    auc = e["metrics"]["roc_auc_score"]
    return DecisionDocument.model_validate(_decision_dict(e, auc))


def _decision_dict(e: dict[str, Any], auc: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": "small",
        "model_name": "small",
        "model_version": "2",
        "run_id": e["model"]["run_id"],
        "evaluation_sha256": "0" * 64,
        "gates_sha256": "1" * 64,
        "decision_id": "dec-42",
        "verdict": "fail",
        "created_at": "2026-11-25T12:01:00+00:00",
        "actor": "ci",
        "evaluation_id": e["evaluation_id"],
        "compared_with": "champion",
        "rules": [
            {
                "rule": "roc_auc_score ci_low >= 0.99",
                "kind": "metric",
                "severity": "block",
                "observed": auc["ci_low"],
                "bound": ">= 0.99",
                "evidence": "metrics.roc_auc_score.ci_low",
                "outcome": "fail",
                "detail": "the interval's lower end is below the bound",
            },
            {
                "rule": "log_loss <= 0.1",
                "kind": "metric",
                "severity": "warn",
                "observed": e["metrics"]["log_loss"]["value"],
                "bound": "<= 0.1",
                "evidence": "metrics.log_loss.value",
                "outcome": "warn",
                "detail": "",
            },
            {
                "rule": "accuracy_score >= 0.1",
                "kind": "metric",
                "severity": "block",
                "observed": e["metrics"]["accuracy_score"]["value"],
                "bound": ">= 0.1",
                "evidence": "metrics.accuracy_score.value",
                "outcome": "pass",
                "detail": "",
            },
            {
                "rule": "git tree is clean",
                "kind": "lineage",
                "severity": "warn",
                "observed": "not a git repo",
                "bound": "clean",
                "evidence": "run.tags.goldenpath.git_dirty",
                "outcome": "skipped",
                "detail": "the project is not under git",
            },
        ],
    }


def _empty(context: CardContext) -> CardContext:
    return replace(
        context,
        run_tags={},
        run_params={},
        run_metrics={},
        evaluation=None,
        decision=None,
        approvals=[],
        promotions=[],
    )


def _with_evaluation(context: CardContext, e: dict[str, Any]) -> CardContext:
    return replace(context, evaluation=EvaluationDocument.model_validate(e))


def _e(context: CardContext) -> dict[str, Any]:
    """The context's evaluation as its JSON document (a fresh copy to change)."""
    assert context.evaluation is not None
    return context.evaluation.to_dict()


def _d(context: CardContext) -> dict[str, Any]:
    assert context.decision is not None
    return context.decision.to_dict()


# -- helpers ------------------------------------------------------------------------------------


def _md_section(markdown: str, heading: str) -> str:
    """The text under ``## heading`` or ``### heading``, up to the next heading of any level."""
    match = re.search(
        rf"^#{{2,3}} {re.escape(heading)}\n(.*?)(?=^#{{1,3}} |\Z)", markdown, re.M | re.S
    )
    assert match, f"no section {heading!r}"
    return match.group(1)


def _html_section(html: str, heading: str) -> str:
    match = re.search(
        rf"<h[23][^>]*>{re.escape(heading)}</h[23]>(.*?)(?=<h[123][ >]|</body>)", html, re.S
    )
    assert match, f"no section {heading!r}"
    return match.group(1)


def _md_rows(markdown: str, first_cell: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith(f"| {first_cell}")]


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def _f(x: float) -> str:
    return f"{x:.4g}"


# -- every section, both formats ------------------------------------------------------------------


def test_every_mitchell_section_is_in_both_formats(binary: CardContext) -> None:
    markdown = render_card_markdown(binary)
    html = render_card_html(binary)
    assert re.findall(r"^## (.+)$", markdown, re.M) == SECTIONS
    assert re.findall(r"^### (.+)$", markdown, re.M) == ANALYSES
    assert re.findall(r"<h2[^>]*>(.+?)</h2>", html) == SECTIONS
    headings3 = re.findall(r"<h3[^>]*>(.+?)</h3>", html)
    assert [h for h in headings3 if h in ANALYSES] == ANALYSES
    assert markdown.startswith("# Model card: small version 2\n")
    assert "<title>Model card: small version 2" in html


def test_model_details_come_from_the_spec_and_the_run(binary: CardContext) -> None:
    run_id = binary.model.run_id
    for text in (
        render_card_markdown(binary),
        _html_section(render_card_html(binary), "Model details"),
    ):
        for expected in (
            run_id,
            "models:/small/2",
            "tests@example.com",
            "low",
            "binary classification of label (positive class: yes)",
            "Predicts which customers will cancel next month.",
            "small_model:train",
            "C=0.05",
            binary.run_tags["goldenpath.python"],
            binary.run_tags["goldenpath.version"],
            "not a git repo",
        ):
            assert expected in text, expected
    markdown = render_card_markdown(binary)
    assert "| Training seed | 1 |" in markdown
    use = _md_section(markdown, "Intended use")
    assert "Rank customers for a retention call." in use
    assert "- Pricing decisions\n- Credit scoring" in use


def test_factors_list_declared_slices_and_sensitive_features(binary: CardContext) -> None:
    factors = _md_section(render_card_markdown(binary), "Factors")
    assert "| plan | each value of plan |" in factors
    assert "| age | age in intervals with edges 0, 40, 60, 200 |" in factors
    assert "| plan_by_age | every combination of plan × age |" in factors
    assert "Sensitive features: plan." in factors
    assert "every combination of plan × age" in _html_section(render_card_html(binary), "Factors")


# -- figures from the real evaluation -----------------------------------------------------------


def test_metric_values_and_intervals_appear(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    markdown_metrics = _md_section(render_card_markdown(binary), "Metrics")
    html_metrics = _html_section(render_card_html(binary), "Metrics")
    assert len(e["metrics"]) == 10
    for name, m in e["metrics"].items():
        interval = f"[{_f(m['ci_low'])}, {_f(m['ci_high'])}]"
        (row,) = _md_rows(markdown_metrics, name)
        assert f"| {_f(m['value'])} | {interval} |" in row
        assert _f(m["value"]) in html_metrics
        assert interval in html_metrics
    assert "| roc_auc_score (primary) |" in markdown_metrics
    assert "roc_auc_score <b>(primary)</b>" in html_metrics
    for text in (markdown_metrics, html_metrics):
        assert "95% bootstrap percentile intervals from 100 resamples (seed 5)" in text
        assert "except BCa intervals (bias corrected and accelerated) for log_loss." in text
        assert "at least 0.5" in text  # the decision threshold


def test_training_and_evaluation_data_lineage(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    markdown = render_card_markdown(binary)
    training = _md_section(markdown, "Training data")
    for tag in ("dataset_fingerprint", "train_fingerprint", "schema_hash", "data_source"):
        assert binary.run_tags[f"goldenpath.{tag}"] in training
    assert "| Rows (all validated) | 600 |" in training
    assert "| Training rows | 450 |" in training
    assert "| Held-out rows | 150 |" in training
    assert "random, 25.0% held out (seed 3)" in training
    evaluation = _md_section(markdown, "Evaluation data")
    assert e["data"]["description"] in evaluation
    assert f"`{e['data']['fingerprint']}`" in evaluation
    assert "| Rows | 150 |" in evaluation
    assert "| The run's held-out rows | yes |" in evaluation
    assert e["data"]["fingerprint"] in _html_section(render_card_html(binary), "Evaluation data")


def test_slices_fairness_calibration_robustness_operations_comparison(
    binary: CardContext,
) -> None:
    e = _e(binary)
    assert e is not None
    markdown, html = render_card_markdown(binary), render_card_html(binary)

    slices_md = _md_section(markdown, "Slices")
    worst = e["slices"][0]
    primary = worst["metrics"]["roc_auc_score"]
    (row,) = _md_rows(slices_md, worst["name"] + (" *(small)*" if worst["small"] else "") + " |")
    assert f"| {worst['support']} | {_f(primary['value'])} |" in row
    assert f"{worst['primary_difference']:+.4g}" in row
    small = [s for s in e["slices"] if s["small"]]
    assert small  # 150 rows over 9 plan x age cells
    assert slices_md.count("*(small)*") == sum(1 for s in e["slices"][:20] if s["small"])
    assert '<span class="small">small</span>' in _html_section(html, "Slices")

    fairness = e["fairness"][0]
    parity = next(
        d
        for d in fairness["disparities"]
        if (d["name"], d["method"]) == ("demographic_parity_difference", "between_groups")
    )
    for text in (_md_section(markdown, "Fairness"), _html_section(html, "Fairness")):
        # the figures with their intervals, and the note on groups left out
        assert f"{_f(parity['value'])} [{_f(parity['ci_low'])}, {_f(parity['ci_high'])}]" in text
        for note in fairness["notes"]:
            assert note.split(":")[0] in text
        assert _f(fairness["demographic_parity_difference"]) in text
        assert _f(fairness["demographic_parity_ratio"]) in text
        assert _f(fairness["equalized_odds_difference"]) in text
        for g in fairness["groups"]:
            assert f"{g['selection_rate'] * 100:.1f}%" in text
            assert f"{g['true_positive_rate'] * 100:.1f}%" in text
            assert f"{g['false_positive_rate'] * 100:.1f}%" in text

    ece = e["metrics"]["expected_calibration_error"]
    calibration = _md_section(markdown, "Calibration")
    assert f"Expected calibration error {_f(ece['value'])}" in calibration
    assert f"[{_f(ece['ci_low'])}, {_f(ece['ci_high'])}]" in calibration

    robustness = _md_section(markdown, "Robustness")
    for p in e["robustness"]:
        (row,) = _md_rows(robustness, p["name"].replace("_", " "))
        if p["error"]:
            assert "the model fails: " + p["error"].splitlines()[0] in row
        else:
            assert f"{p['flip_rate'] * 100:.1f}%" in row
            assert f"{p['metric_change']:+.4g}" in row

    ops = e["operations"]
    operations = _md_section(markdown, "Operational profile")
    assert f"| Single-row latency p50 | {ops['single_row_p50_ms']:.3g} ms |" in operations
    assert f"| 256-row batch latency p95 | {ops['batch_p95_ms']:.3g} ms |" in operations
    assert f"{ops['cost_per_1000_predictions']:.3g} USD (at 0.05 USD per CPU-hour)" in operations
    assert "| Model size |" in operations

    comparison_md = _md_section(markdown, "Comparison with the champion")
    comparison_html = _html_section(html, "Comparison with the champion")
    assert "Against small version 1 (champion)" in comparison_md
    for name, d in e["comparison"]["metrics"].items():
        (row,) = _md_rows(comparison_md, name)
        assert f"| {_f(d['candidate'])} | {_f(d['reference'])} | {d['difference']:+.4g} |" in row
        assert f"[{d['ci_low']:+.4g}, {d['ci_high']:+.4g}]" in row
        assert row.endswith(f"| {d['verdict']} |")
        assert f'<td class="{d["verdict"]}">{d["verdict"]}</td>' in comparison_html


def test_only_the_twenty_most_harmful_slices_are_shown(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    extra = [dict(s, name=f"extra-{i}") for i, s in enumerate(e["slices"] * 3)]
    e["slices"] = e["slices"] + extra
    total = len(e["slices"])
    assert total > 20
    context = _with_evaluation(binary, e)
    slices = _md_section(render_card_markdown(context), "Slices")
    rows = [line for line in slices.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 20  # header + 20 groups
    assert f"(the 20 most harmful of {total})" in slices
    assert e["slices"][19]["name"] in slices
    assert f"| {e['slices'][20]['name']} " not in slices
    html_slices = _html_section(render_card_html(context), "Slices")
    assert html_slices.count("<tr>") == 21


# -- the gate decision, approvals, promotions ---------------------------------------------------


def test_decision_rules_appear_with_their_outcomes(binary: CardContext) -> None:
    assert binary.decision is not None
    markdown, html = render_card_markdown(binary), render_card_html(binary)
    gate = _md_section(markdown, "Gate decision")
    assert "Verdict: **FAIL** (decision dec-42" in gate
    assert "compared with champion" in gate
    for rule in _d(binary)["rules"]:
        (row,) = _md_rows(gate, rule["rule"])
        observed = rule["observed"]
        shown = _f(observed) if isinstance(observed, float) else observed
        assert f"| {rule['severity']} | {shown} | {rule['bound']} | **{rule['outcome']}**" in row
        assert f"`{rule['evidence']}`" in row
    gate_html = _html_section(html, "Gate decision")
    assert '<span class="fail">FAIL</span>' in gate_html
    for rule in _d(binary)["rules"]:
        assert f"<td>{rule['rule'].replace('>', '&gt;').replace('<', '&lt;')}</td>" in gate_html
        assert f'<span class="{rule["outcome"]}">{rule["outcome"]}</span>' in gate_html
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert (
        "Gate rule `roc_auc_score ci_low >= 0.99` failed: the interval's lower end is below"
        in caveats
    )
    assert "Gate rule `log_loss <= 0.1` warned." in caveats
    assert "accuracy_score >= 0.1" not in caveats  # passing rules are no caveat


def test_approvals_and_promotion_history(binary: CardContext) -> None:
    markdown, html = render_card_markdown(binary), render_card_html(binary)
    assert "| risk@example.com | Fine for a pilot. | t1 |" in _md_section(markdown, "Approvals")
    history = _md_section(markdown, "Promotion history")
    assert "| champion | 1 → 2 | promote | alice | better recall | t2 |" in history
    assert "| champion | 2 → 1 | rollback | bob | latency incident | t3 |" in history
    assert "<td>risk@example.com</td>" in _html_section(html, "Approvals")
    assert "<td>2 → 1</td><td>rollback</td>" in _html_section(html, "Promotion history")


def test_ethics_and_caveats(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    markdown = render_card_markdown(binary)
    ethics = _md_section(markdown, "Ethical considerations")
    assert "Sensitive features: plan." in ethics
    dp = _f(e["fairness"][0]["demographic_parity_difference"])
    assert f"- plan: demographic parity difference {dp}" in ethics
    assert "PII) columns in the contract: customer_id." in ethics
    assert "<code>customer_id</code>" in _html_section(
        render_card_html(binary), "Ethical considerations"
    )
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert "- Trained on synthetic customers only." in caveats  # from the spec, first
    assert caveats.strip().startswith("- Trained on synthetic customers only.")
    small = sum(1 for s in e["slices"] if s["small"])
    assert f"{small} slice group(s) have fewer than 30 rows" in caveats
    assert "has not been checked with `goldenpath reproduce`" in caveats
    assert "uncommitted changes" not in caveats


def test_lineage_caveats_follow_the_run_tags(binary: CardContext) -> None:
    tags = dict(binary.run_tags)
    tags.update({"goldenpath.git_commit": "0123abc", "goldenpath.git_dirty": "true"})
    tags["goldenpath.reproducible"] = "true"
    markdown = render_card_markdown(replace(binary, run_tags=tags))
    assert (
        "| Code version (git) | 0123abc (uncommitted changes in the project folder) |" in markdown
    )
    assert "yes: `goldenpath reproduce` retrained it to the same result" in markdown
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert "trained with uncommitted changes" in caveats
    assert "goldenpath reproduce" not in caveats
    tags.update({"goldenpath.git_dirty": "false", "goldenpath.reproducible": "false"})
    markdown = render_card_markdown(replace(binary, run_tags=tags))
    assert "| Code version (git) | 0123abc (clean) |" in markdown
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert "did not reproduce this run" in caveats
    assert "uncommitted changes" not in caveats


def test_undefined_metrics_and_significant_discovered_slices_are_caveats(
    binary: CardContext,
) -> None:
    e = _e(binary)
    assert e is not None
    e["metrics"]["recall_score"] = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "support": 150,
        "undefined": "no positive rows",
    }
    e["discovered_slices"] = [
        {
            "rule": "plan = pro and age >= 61",
            "rows": 40,
            "error_rate": 0.5,
            "overall_error_rate": 0.25,
            "p_value": 0.0001,
            "q_value": 0.002,
            "significant": True,
            "primary": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7, "support": 40},
        },
        {
            "rule": "plan = basic",
            "rows": 57,
            "error_rate": 0.3,
            "overall_error_rate": 0.25,
            "p_value": 0.3,
            "q_value": 0.6,
            "significant": False,
            "primary": {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8, "support": 57},
        },
    ]
    e["metrics"]["log_loss"]["value"] = 123456.789  # large values keep their digits
    markdown = render_card_markdown(_with_evaluation(binary, e))
    metrics = _md_section(markdown, "Metrics")
    (row,) = _md_rows(metrics, "recall_score")
    assert "undefined: no positive rows" in row
    assert "123,457" in metrics
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert "recall_score is undefined on the evaluation rows: no positive rows." in caveats
    assert (
        "Discovered slice plan = pro and age >= 61: error rate 50.0% vs 25.0% overall "
        "on 40 rows (q = 0.002)" in caveats
    )
    assert "plan = basic" not in caveats
    html = _html_section(render_card_html(_with_evaluation(binary, e)), "Metrics")
    assert '<td colspan="2" class="small">undefined: no positive rows</td>' in html


# -- missing evidence ---------------------------------------------------------------------------


def test_missing_evidence_renders_in_words(binary: CardContext) -> None:
    context = _empty(binary)
    markdown, html = render_card_markdown(context), render_card_html(context)
    assert re.findall(r"^## (.+)$", markdown, re.M) == SECTIONS
    assert re.findall(r"<h2[^>]*>(.+?)</h2>", html) == SECTIONS
    for heading in (
        "Metrics",
        "Evaluation data",
        "Slices",
        "Calibration",
        "Robustness",
        "Operational profile",
        "Comparison with the champion",
    ):
        assert "Not evaluated" in _md_section(markdown, heading), heading
        assert "Not evaluated" in _html_section(html, heading), heading
    assert "Fairness was not evaluated" in _md_section(markdown, "Fairness")
    for text, section in ((markdown, _md_section), (html, _html_section)):
        assert "No gate decision yet" in section(text, "Gate decision")
        assert "No approvals recorded (risk tier low)" in section(text, "Approvals")
        assert "Never promoted" in section(text, "Promotion history")
    assert "| Last evaluated | not evaluated |" in markdown
    assert "| Code version (git) | unknown |" in markdown
    assert "| Dataset fingerprint | — |" in markdown
    assert "| Training parameters | C=0.05 |" in markdown  # falls back to the spec
    caveats = _md_section(markdown, "Caveats and recommendations")
    assert "The model has not been evaluated" in caveats
    assert "No gate decision yet" in caveats


def test_partial_evaluation_without_optional_parts(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    for key in ("operations", "comparison", "calibration", "thresholds"):
        e[key] = None
    e["fairness"], e["robustness"], e["slices"], e["discovered_slices"] = [], [], [], []
    del e["metrics"]["expected_calibration_error"]
    assert binary.decision is not None
    passed = binary.decision.model_copy(update={"verdict": "pass", "rules": ()})
    context = replace(_with_evaluation(binary, e), decision=passed)
    markdown = render_card_markdown(context)
    assert "No slice groups" in _md_section(markdown, "Slices")
    assert "No fairness figures" in _md_section(markdown, "Fairness")
    assert "Not measured: the model gives no probability scores." in markdown
    assert "Not measured." in _md_section(markdown, "Robustness")
    assert "Not measured." in _md_section(markdown, "Operational profile")
    assert "No comparison" in _md_section(markdown, "Comparison with the champion")
    assert "The decision has no rules." in _md_section(markdown, "Gate decision")
    render_card_html(context)


def test_regression_card(regression: CardContext) -> None:
    e = _e(regression)
    assert e is not None
    assert e["calibration"] is None
    assert e["fairness"] == []
    markdown, html = render_card_markdown(regression), render_card_html(regression)
    assert re.findall(r"^## (.+)$", markdown, re.M) == SECTIONS
    mae = e["metrics"]["mean_absolute_error"]
    (row,) = _md_rows(_md_section(markdown, "Metrics"), "mean_absolute_error (primary)")
    assert f"| {_f(mae['value'])} | [{_f(mae['ci_low'])}, {_f(mae['ci_high'])}] |" in row
    assert "lower is better" in row
    assert "predicted positive" not in markdown  # no decision threshold for a regressor
    assert "regression of spend" in markdown
    calibration = "Not applicable: calibration is measured for classifiers"
    assert calibration in _md_section(markdown, "Calibration")
    assert calibration in _html_section(html, "Calibration")
    fairness = "computed for binary classification only (this is regression)"
    assert fairness in _md_section(markdown, "Fairness")
    assert fairness in _md_section(markdown, "Ethical considerations")
    assert "Never promoted" in markdown
    assert e["slices"][0]["name"] in _md_section(markdown, "Slices")


# -- escaping and self-containment --------------------------------------------------------------


def test_html_escapes_a_malicious_description(binary: CardContext) -> None:
    evil = "<script>alert('owned')</script>"
    project = binary.spec.project.model_copy(
        update={"description": evil, "intended_use": "A & B <b>", "caveats": [evil]}
    )
    context = replace(binary, spec=binary.spec.model_copy(update={"project": project}))
    html = render_card_html(context)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html
    assert "A &amp; B &lt;b&gt;" in html
    assert "<script" not in render_card_html(_empty(context))


def test_markdown_escapes_pipes_in_table_cells(binary: CardContext) -> None:
    e = _e(binary)
    assert e is not None
    e["slices"][0]["name"] = "plan=a|b"
    e["slices"][0]["slice"] = "plan|x"
    e["fairness"][0]["groups"][0]["group"] = "x|y\nz"
    decision = _d(binary)
    decision["rules"][0]["rule"] = "a | b >= 0.9"
    context = replace(
        _with_evaluation(binary, e), decision=DecisionDocument.model_validate(decision)
    )
    markdown = render_card_markdown(context)
    assert "| plan=a\\|b" in markdown
    assert "| plan\\|x |" in markdown
    assert "| x\\|y z |" in markdown  # newlines in a cell collapse to one line
    assert "| a \\| b >= 0.9 |" in markdown
    # Every row of a table keeps the header's number of cell separators.
    for heading in ("Slices", "Fairness", "Gate decision", "Metrics", "Model details"):
        rows = [
            line for line in _md_section(markdown, heading).splitlines() if line.startswith("|")
        ]
        assert rows, heading
        assert len({_unescaped_pipes(line) for line in rows}) == 1, heading
    assert "plan=a|b" in render_card_html(context)


class _TagBalance(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.errors.append(f"external {name}={value}")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


@pytest.mark.parametrize("fixture", ["binary", "regression"])
def test_html_is_small_self_contained_and_well_formed(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    context: CardContext = request.getfixturevalue(fixture)
    for html in (render_card_html(context), render_card_html(_empty(context))):
        parser = _TagBalance()
        parser.feed(html)
        parser.close()
        assert parser.errors == []
        assert parser.stack == []
        assert "script" not in parser.tags
        assert "http://" not in html
        assert "https://" not in html
        assert len(html.encode()) < 100_000
