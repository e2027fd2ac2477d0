"""The access guard: modes, bearer tokens and scopes, the token cache, rate limits."""

from __future__ import annotations

import asyncio

import pytest

from goldenpath.errors import AuthenticationFailed, StoreError
from goldenpath.serving.access import (
    AccessRefused,
    Guard,
    RateLimiter,
    effective_mode,
    is_loopback,
)
from goldenpath.spec.serving import RateLimitSpec
from goldenpath.store.credentials import Credential


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _credential(
    ident: str, kind: str = "client", scopes: tuple[str, ...] = ("predict",)
) -> Credential:
    return Credential(ident, f"p-{ident}", kind, scopes, "2026-12-03", "admin")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "host", "mode"),
    [
        ("auto", None, "none"),
        ("auto", "127.0.0.1", "none"),
        ("auto", "::1", "none"),
        ("auto", "localhost", "none"),
        ("auto", "0.0.0.0", "token"),
        ("auto", "10.1.2.3", "token"),
        ("auto", "serving.example.com", "token"),
        ("token", "127.0.0.1", "token"),
        ("none", "0.0.0.0", "none"),
    ],
)
def test_auto_asks_for_tokens_off_loopback(setting: str, host: str | None, mode: str) -> None:
    assert effective_mode(setting, host) == mode
    assert is_loopback("127.0.0.5")


def test_a_bucket_holds_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitSpec(per_second=2.0, burst=3), clock)
    assert [limiter.wait("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(0.5)  # one token every 0.5 s
    assert limiter.wait("b") == 0.0  # buckets are per caller
    clock.now += 0.5
    assert limiter.wait("a") == 0.0
    assert limiter.wait("a") == pytest.approx(0.5)
    clock.now += 10  # never more than the burst
    assert [limiter.wait("a") for _ in range(4)][-1] == pytest.approx(0.5)
    assert RateLimiter(RateLimitSpec(per_second=None), clock).wait("a") == 0.0


def _guard(verify: object, clock: Clock, **limits: object) -> Guard:
    return Guard(
        "token",
        verify,  # type: ignore[arg-type]
        RateLimitSpec(**limits),  # type: ignore[arg-type]
        revalidate_seconds=30,
        clock=clock,
    )


def _admit(guard: Guard, needed: str | None, token: str | None) -> object:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return asyncio.run(guard.admit(needed, headers, "10.0.0.1"))  # type: ignore[arg-type]


def test_tokens_scopes_and_open_paths() -> None:
    known = {
        "shop": _credential("shop"),
        "ops": _credential("ops", scopes=("metrics",)),
        "root": _credential("root", scopes=("admin",)),
        "alice": _credential("alice", kind="user", scopes=()),
    }

    def verify(token: str) -> Credential:
        if token not in known:
            raise AuthenticationFailed(f"token {token} is not a credential of this store")
        return known[token]

    guard = _guard(verify, Clock())
    assert _admit(guard, None, None).key == "address:10.0.0.1"  # type: ignore[attr-defined]
    with pytest.raises(AccessRefused) as refused:
        _admit(guard, "predict", None)
    assert (refused.value.status, refused.value.headers["WWW-Authenticate"][:6]) == (401, "Bearer")
    with pytest.raises(AccessRefused, match="not a credential") as refused:
        _admit(guard, "predict", "forged")
    assert refused.value.status == 401
    with pytest.raises(AccessRefused, match="lacks scope 'predict'") as refused:
        _admit(guard, "predict", "ops")
    assert refused.value.status == 403
    with pytest.raises(AccessRefused, match="a person's") as refused:
        _admit(guard, "predict", "alice")
    assert refused.value.status == 403
    assert _admit(guard, "predict", "shop").credential.id == "shop"  # type: ignore[attr-defined]
    assert _admit(guard, "metrics", "root").credential.id == "root"  # type: ignore[attr-defined]
    with pytest.raises(AccessRefused):
        asyncio.run(guard.admit("predict", {"authorization": "Basic c2hvcA=="}, None))


def test_checks_are_cached_for_the_revalidation_period_and_store_failures_counted() -> None:
    clock = Clock()
    calls: list[str] = []
    state = {"revoked": False, "down": False}

    def verify(token: str) -> Credential:
        calls.append(token)
        if state["down"]:
            raise StoreError("the store at sqlite:///x failed")
        if state["revoked"]:
            raise AuthenticationFailed(f"token {token} of p-{token} was revoked at ...")
        return _credential(token)

    failures: list[int] = []
    guard = Guard(
        "token",
        verify,
        RateLimitSpec(per_second=None),
        revalidate_seconds=30,
        on_store_failure=lambda: failures.append(1),
        clock=clock,
    )
    for _ in range(5):
        _admit(guard, "predict", "shop")
    assert calls == ["shop"]  # one check, then the cache
    state["revoked"] = True
    _admit(guard, "predict", "shop")  # not seen yet: within the period
    clock.now += 31
    with pytest.raises(AccessRefused, match="revoked"):
        _admit(guard, "predict", "shop")
    with pytest.raises(AccessRefused, match="revoked"):  # the refusal is cached too
        _admit(guard, "predict", "shop")
    assert calls == ["shop", "shop"]
    state.update(revoked=False, down=True)
    with pytest.raises(AccessRefused) as refused:
        _admit(guard, "predict", "new")  # never checked, and the store is down: 503
    assert refused.value.status == 503
    state["down"] = False
    _admit(guard, "predict", "good")
    clock.now += 31
    state["down"] = True
    assert _admit(guard, "predict", "good").credential.id == "good"  # type: ignore[attr-defined]
    assert len(failures) == 2
    # a token that expires during the outage stops at its expiry, not when the store is back
    state["down"] = False
    brief = Credential("brief", "p", "client", ("predict",), "2026", "a", "2000-01-01T00:00:00")
    guard.cache.clear()
    calls.clear()
    guard.verify = lambda token: brief
    _admit(guard, "predict", "brief")  # checked (the fake store says it is fine)
    clock.now += 31
    guard.verify = verify
    state["down"] = True
    with pytest.raises(AccessRefused) as refused:
        _admit(guard, "predict", "brief")
    assert refused.value.status == 503


def test_a_client_past_its_bucket_gets_429_with_retry_after() -> None:
    clock = Clock()
    guard = _guard(_credential, clock, per_second=0.5, burst=2)
    _admit(guard, "predict", "shop")
    _admit(guard, "predict", "shop")
    with pytest.raises(AccessRefused) as refused:
        _admit(guard, "predict", "shop")
    assert (refused.value.status, refused.value.code) == (429, "rate_limited")
    assert refused.value.headers["Retry-After"] == "2"
    _admit(guard, "predict", "other")  # another client's bucket
    _admit(guard, None, None)  # open paths are not counted
    clock.now += 2
    _admit(guard, "predict", "shop")
