"""The evaluation report is rendered from the typed document: every part, the currency of the
cost, the lineage, and slices in the document's order (ranked by evidence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from goldenpath.evaluation import EvaluationDocument
from goldenpath.evaluation.fairness import fairness_report
from goldenpath.reports import render_evaluation_html

OLD_DOCUMENT = Path(__file__).parents[1] / "evaluation" / "data" / "evaluation_v1.json"


def test_the_report_shows_every_part_and_the_currency() -> None:
    document = EvaluationDocument.model_validate_json(OLD_DOCUMENT.read_text())
    assert document.operations is not None
    priced = document.model_copy(
        update={"operations": document.operations.model_copy(update={"currency": "CHF"})}
    )
    html = render_evaluation_html(priced, min_support=30)
    for heading in (
        "Headline metrics",
        "Against small version 1 (champion)",
        "Slices, most harmful first",
        "Discovered slices",
        "Fairness",
        "Calibration and thresholds",
        "Robustness",
        "Operational profile",
        "Lineage",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert " CHF at 0.05 CHF per CPU-hour" in html
    assert f"<th>dataset_fingerprint</th><td><code>{document.lineage.dataset_fingerprint}" in html
    names = [s.name for s in document.slices]
    positions = [html.index(f"<tr><td>{name}") for name in names]
    assert positions == sorted(positions)  # the document's order


def test_fairness_is_shown_with_intervals_and_the_groups_left_out() -> None:
    rng = np.random.default_rng(0)
    group = pd.Series(rng.choice(["a", "b", "c"], 500, p=[0.6, 0.38, 0.02]))
    report = fairness_report("plan", group, rng.integers(0, 2, 500), rng.integers(0, 2, 500))
    document = EvaluationDocument.model_validate_json(OLD_DOCUMENT.read_text())
    html = render_evaluation_html(
        document.model_copy(update={"fairness": (report,)}), min_support=30
    )
    section = html[html.index("<h2>Fairness</h2>") : html.index("<h2>Calibration")]
    parity = report.disparity("demographic_parity_difference", "to_overall")
    assert parity is not None
    assert parity.ci_low is not None
    assert f'{parity.value:.4f} <span class="muted">[{parity.ci_low:.4f},' in section
    assert report.excluded_groups == ("c",)
    assert 'c <span class="small">not compared</span>' in section
    assert report.notes[0] in section
    # a document written before fairness intervals still shows its point values
    old = render_evaluation_html(document, min_support=30)
    assert "(no intervals in this document)" in old
