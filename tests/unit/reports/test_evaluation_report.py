"""The evaluation report is rendered from the typed document: every part, the currency of the
cost, the lineage, and slices in the document's order (ranked by evidence)."""

from __future__ import annotations

from pathlib import Path

from goldenpath.evaluation import EvaluationDocument
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
