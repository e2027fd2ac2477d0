"""Data: sources, contracts, fingerprints and splits."""

from __future__ import annotations

from goldenpath.data.contract import ContractFailure, build_schema, validate_frame
from goldenpath.data.dataset import Dataset, load_dataset
from goldenpath.data.fingerprint import dataset_fingerprint, row_hashes, schema_hash
from goldenpath.data.sources import read_source
from goldenpath.data.split import Split, split_rows

__all__ = [
    "ContractFailure",
    "Dataset",
    "Split",
    "build_schema",
    "dataset_fingerprint",
    "load_dataset",
    "read_source",
    "row_hashes",
    "schema_hash",
    "split_rows",
    "validate_frame",
]
