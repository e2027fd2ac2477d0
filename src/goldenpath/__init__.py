"""goldenpath: the golden path for shipping machine-learning models."""

from __future__ import annotations

from goldenpath._version import __version__

__all__ = ["__version__"]
