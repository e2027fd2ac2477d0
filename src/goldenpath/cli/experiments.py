"""Online experiments: ``goldenpath experiment plan|start|status|analyze|decide|list``.

Thin shells over :mod:`goldenpath.experiments`: the lifecycle verbs (start, decide, list) over
:mod:`goldenpath.experiments.lifecycle`, the analysis verbs (plan, status, analyze) over
:mod:`goldenpath.experiments.analysis`.
"""

from __future__ import annotations

import typer

__all__ = ["experiment_app"]

experiment_app = typer.Typer(
    help="Online experiments (A/B tests) on served traffic: plan, start, status, analyze, "
    "decide, list.",
    no_args_is_help=True,
)
