"""Who is acting, proven: the principal behind a command or a request, how it was
authenticated, and the tokens a person keeps for the CLI."""

from __future__ import annotations

from goldenpath.auth.login import forget_token, remember_token, remembered_token
from goldenpath.auth.principal import (
    AUTH_MODES,
    AuthMethod,
    AuthMode,
    Principal,
    acting,
    auth_mode,
    identify,
)

__all__ = [
    "AUTH_MODES",
    "AuthMethod",
    "AuthMode",
    "Principal",
    "acting",
    "auth_mode",
    "forget_token",
    "identify",
    "remember_token",
    "remembered_token",
]
