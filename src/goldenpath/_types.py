"""Small shared vocabulary, importable from any layer at no cost (no third-party imports)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DOCUMENT_KINDS", "DocumentKind"]

# The documents goldenpath writes whose JSON Schema `goldenpath schema --kind` prints.
DocumentKind = Literal["spec", "evaluation", "decision", "monitoring", "experiment"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)
