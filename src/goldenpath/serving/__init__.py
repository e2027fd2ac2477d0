"""Online serving: the champion (and challenger) behind one HTTP service, batched, checked
against the contract, logged and measured."""

from __future__ import annotations

from goldenpath.serving.app import create_app

__all__ = ["create_app"]
