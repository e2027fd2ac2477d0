"""Online serving: the champion (and challenger) behind one HTTP service, batched, checked
against the contract, logged and measured."""

from __future__ import annotations

from goldenpath.serving.app import asgi_app, create_app

__all__ = ["asgi_app", "create_app"]
