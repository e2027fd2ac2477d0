"""Who may call the HTTP service, and how often: bearer tokens with scopes, checked against the
project's store, and a rate limit per caller.

``serving.auth`` chooses the mode: ``token`` (every request to a guarded path needs
``Authorization: Bearer <token>`` of an API client, ``goldenpath clients create``), ``none``
(anyone on the network), or ``auto`` (the default): ``token`` whenever ``goldenpath serve``
binds to an address that is not loopback, ``none`` on loopback. The effective mode is shown by
``/version`` and logged at start-up.

Guarded paths and the scope each needs: the scoring paths ``predict``; ``/feedback``
``feedback``; ``/metrics`` ``metrics``. A token with scope ``admin`` may call everything. The
health, readiness and metadata paths, ``/version`` and the API docs are open (a load balancer
must reach them). A missing, malformed, unknown, revoked or expired token is 401 (with
``WWW-Authenticate: Bearer``); a person's token or a client's without the scope, 403.

A verified token is cached (by its SHA-256) for ``revalidate_seconds``: within that time a
revocation is not yet seen, and the token's last use is recorded once per period, not per
request. Refusals are cached too (an unknown token does not reach the database on every request
of a client that keeps trying). When the store cannot be reached, a token verified before keeps
what it proved until the store answers again (or until its expiry), a new one gets 503; each
failure is counted (``goldenpath_auth_store_failures_total``).

Rate limits (``serving.rate_limit``) are token buckets per client credential, in mode ``token``
(mode ``none`` has no callers to count, and is meant for loopback). A request past its bucket
is 429 with ``Retry-After`` (seconds). Each server process (``--workers``) keeps its own
buckets, so the service as a whole allows up to that many times the rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Literal

from goldenpath.errors import AuthenticationFailed, GoldenpathError
from goldenpath.serving.validation import RequestRefused
from goldenpath.spec.serving import RateLimitSpec
from goldenpath.store.audit import now as now_text
from goldenpath.store.credentials import Credential, Scope, verify
from goldenpath.store.engine import Store

__all__ = [
    "CALLER",
    "AccessMode",
    "AccessRefused",
    "Caller",
    "Guard",
    "RateLimiter",
    "effective_mode",
    "is_loopback",
    "store_verifier",
]

AccessMode = Literal["token", "none"]
CALLER = "goldenpath.caller"  # the ASGI scope key the guard puts the Caller under
_CACHE_ENTRIES = 10_000
_BUCKETS = 100_000


class AccessRefused(RequestRefused):
    """401, 403 or 429, with the headers the answer must carry."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, code, message)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Caller:
    """Who a request came from: a client's credential, or (mode ``none``, open paths) an
    address."""

    key: str  # what its rate limit is counted by
    credential: Credential | None = None


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def effective_mode(setting: str, host: str | None) -> AccessMode:
    """``token`` or ``none`` for the spec's setting and the address served on (None: not
    bound by ``goldenpath serve``, as an app made in a test: as loopback)."""
    if setting == "token":
        return "token"
    if setting == "none":
        return "none"
    return "none" if host is None or is_loopback(host) else "token"


class RateLimiter:
    """Token buckets per key: ``burst`` requests at once, refilled at ``per_second``."""

    def __init__(self, spec: RateLimitSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = spec.per_second
        self.burst = float(spec.burst)
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """0 when the request may go now (its token taken), else the seconds until it may."""
        if self.per_second is None:
            return 0.0
        now = self.clock()
        tokens, at = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self.buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.per_second
        while len(self.buckets) > _BUCKETS:  # the least recently seen callers go first
            self.buckets.popitem(last=False)
        return wait


Verify = Callable[[str], Credential]  # a token -> its credential, or AuthenticationFailed


class Guard:
    """Authenticates and rate-limits requests (see the module docstring)."""

    def __init__(
        self,
        mode: AccessMode,
        verify: Verify,
        limits: RateLimitSpec,
        *,
        revalidate_seconds: float,
        on_store_failure: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self.on_store_failure = on_store_failure
        self.verify = verify
        self.limiter = RateLimiter(limits, clock)
        self.revalidate_seconds = revalidate_seconds
        self.clock = clock
        # sha256(token) -> (when checked, credential or the refusal's message)
        self.cache: OrderedDict[str, tuple[float, Credential | str]] = OrderedDict()

    async def _credential(self, token: str) -> Credential | str:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        now = self.clock()
        found = self.cache.get(digest)
        if found is not None and now - found[0] < self.revalidate_seconds:
            return found[1]
        try:
            checked: Credential | str = await asyncio.to_thread(self.verify, token)
        except AuthenticationFailed as refused:
            checked = refused.message
        except GoldenpathError as error:  # the store failed: counted, and no new verdict
            self.on_store_failure()
            if found is not None and not isinstance(found[1], str):
                stale = found[1]
                if stale.state(now_text()) == "active":  # not past its expiry meanwhile
                    return stale  # what it proved at its last check, until the store is back
            raise AccessRefused(
                503, "auth_unavailable", f"tokens cannot be checked now: {error.message}"
            ) from None
        self.cache.pop(digest, None)
        self.cache[digest] = (now, checked)
        while len(self.cache) > _CACHE_ENTRIES:
            self.cache.popitem(last=False)
        return checked

    async def admit(
        self, needed: Scope | None, headers: Mapping[str, str], address: str | None
    ) -> Caller:
        """The caller of a request to a path that needs ``needed`` (None: an open path), or
        :class:`AccessRefused`."""
        if self.mode == "none" or needed is None:
            return Caller(f"address:{address or 'unknown'}")
        caller = await self._authenticated(needed, headers)
        wait = self.limiter.wait(caller.key)
        if wait > 0:
            raise AccessRefused(
                429,
                "rate_limited",
                f"too many requests from {caller.key}; retry in {wait:.2f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return caller

    async def _authenticated(self, needed: Scope, headers: Mapping[str, str]) -> Caller:
        challenge = {"WWW-Authenticate": 'Bearer realm="goldenpath"'}
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessRefused(
                401,
                "unauthorized",
                "this path needs Authorization: Bearer <token> (goldenpath clients create)",
                challenge,
            )
        found = await self._credential(token.strip())
        if isinstance(found, str):
            raise AccessRefused(401, "unauthorized", found, challenge)
        if found.kind != "client":
            raise AccessRefused(
                403,
                "forbidden",
                f"token {found.id} is {found.principal}'s, a person's: the HTTP service takes "
                "API clients' tokens (goldenpath clients create)",
            )
        if needed not in found.scopes and "admin" not in found.scopes:
            raise AccessRefused(
                403,
                "forbidden",
                f"client {found.principal!r} (token {found.id}) lacks scope {needed!r}; it has "
                f"{', '.join(found.scopes)}",
            )
        return Caller(f"credential:{found.id}", found)


def store_verifier(open_store: Callable[[], Store]) -> Verify:
    """A :data:`Verify` over the project's store (opened on first use, in a worker thread):
    AuthenticationFailed for a refused token, another GoldenpathError when the store fails."""
    opened: list[Store] = []

    def check(token: str) -> Credential:
        if not opened:
            opened.append(open_store())
        with opened[0].transaction() as connection:
            return verify(connection, token)

    return check
