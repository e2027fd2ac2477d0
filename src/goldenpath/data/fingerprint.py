"""Content fingerprints of data: the same rows give the same fingerprint whatever their order,
their column order or the file format they came from.

A fingerprint hashes the *contract-validated* frame, so values already have their contract
dtypes: an integer column read from CSV and from Parquet hashes alike. Each cell is hashed
(vectorised, with pandas' keyed SipHash for strings), cells are combined into one 64-bit hash
per row, the row hashes are sorted (order independence, multiplicity kept) and SHA-256 of the
sorted row hashes and the column header gives the fingerprint.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

__all__ = ["dataset_fingerprint", "row_hashes", "schema_hash"]

_NA_BITS = np.uint64(0x7FF8_0000_0000_0001)  # one canonical code for every missing value


def _column_hash(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        bits = values.astype("Int64").to_numpy(dtype="int64", na_value=0).view(np.uint64)
    elif pd.api.types.is_numeric_dtype(dtype):
        numbers = values.astype("float64").to_numpy(na_value=np.nan) + 0.0  # -0.0 -> 0.0
        bits = numbers.view(np.uint64)
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        bits = values.astype("datetime64[ns]").to_numpy().view(np.int64).view(np.uint64)
    else:
        text = values.astype(object).to_numpy()
        text = np.where(missing, "\x00<NA>", text.astype(str)).astype(object)
        return pd.util.hash_array(text)
    bits = bits.copy()
    bits[missing] = _NA_BITS
    return pd.util.hash_array(bits)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row from the row's values, independent of the frame's column order."""
    columns = sorted(frame.columns, key=str)
    hashed = pd.DataFrame({str(c): _column_hash(frame[c]) for c in columns})
    return pd.util.hash_pandas_object(hashed, index=False).to_numpy()


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """``sha256:<hex>`` of the frame's content, independent of row and column order."""
    digest = hashlib.sha256()
    header = json.dumps(sorted(str(c) for c in frame.columns))
    digest.update(header.encode())
    digest.update(np.sort(row_hashes(frame)).tobytes())
    return f"sha256:{digest.hexdigest()}"


def schema_hash(schema: dict[str, object]) -> str:
    """``sha256:<hex>`` of a JSON-able schema description (keys sorted)."""
    text = json.dumps(schema, sort_keys=True, default=str)
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
