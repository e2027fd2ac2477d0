"""Reports rendered from result documents (JSON -> HTML/Markdown)."""

from __future__ import annotations

from goldenpath.reports.evaluation import render_evaluation_html

__all__ = ["render_evaluation_html"]
