"""Group fairness of a binary classifier for each sensitive feature.

Per group: selection rate (share predicted positive), true positive rate, false positive rate.
Across groups: demographic parity difference (max - min selection rate) and ratio (min / max),
and equalized odds difference (the larger of the TPR gap and the FPR gap). Definitions and
values match Fairlearn's ``demographic_parity_difference``, ``demographic_parity_ratio`` and
``equalized_odds_difference`` (a differential test checks them on the same data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from goldenpath.evaluation._math import ratio
from goldenpath.evaluation.document import FairnessReport, GroupRates

__all__ = ["FairnessReport", "GroupRates", "fairness_report"]

Array = np.ndarray


def fairness_report(feature: str, groups: pd.Series, y: Array, pred: Array) -> FairnessReport:
    """Rates per group of ``groups`` (missing values form their own group, ``<missing>``) for
    binary truth ``y`` and predictions ``pred`` (1 = positive)."""
    codes, uniques = pd.factorize(groups, sort=True, use_na_sentinel=True)
    names = np.array([*(str(u) for u in uniques), "<missing>"], dtype=object)
    index = np.where(codes < 0, len(uniques), codes)
    if not (codes < 0).any():
        names = names[:-1]
    k = len(names)
    positive, predicted = (y == 1), (pred == 1)
    support = np.bincount(index, minlength=k).astype(float)
    selected = np.bincount(index, weights=predicted, minlength=k)
    pos = np.bincount(index, weights=positive, minlength=k)
    true_pos = np.bincount(index, weights=positive & predicted, minlength=k)
    false_pos = np.bincount(index, weights=~positive & predicted, minlength=k)
    selection = ratio(selected, support)
    tpr = ratio(true_pos, pos)
    fpr = ratio(false_pos, support - pos)
    parity_ratio = float(selection.min() / selection.max()) if selection.max() > 0 else 0.0
    gaps = [np.nanmax(r) - np.nanmin(r) for r in (tpr, fpr) if not np.isnan(r).any()]
    return FairnessReport(
        feature=feature,
        groups=tuple(
            GroupRates(
                group=str(names[i]),
                support=int(support[i]),
                selection_rate=float(selection[i]),
                true_positive_rate=None if np.isnan(tpr[i]) else float(tpr[i]),
                false_positive_rate=None if np.isnan(fpr[i]) else float(fpr[i]),
            )
            for i in range(k)
        ),
        demographic_parity_difference=float(selection.max() - selection.min()),
        demographic_parity_ratio=parity_ratio,
        equalized_odds_difference=float(max(gaps)) if len(gaps) == 2 else None,
    )
