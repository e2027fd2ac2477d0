"""The goldenpath command-line interface."""

from __future__ import annotations

from goldenpath.cli.app import app, main

__all__ = ["app", "main"]
