"""What the server routes: the champion, the challenger (canary or shadow) and the fallback,
kept in step with the registry.

**Hot swap.** A watcher asks the registry every ``poll_seconds`` which versions the aliases
point at (:func:`goldenpath.registry.verified_alias`: the store and MLflow must agree). A new
version is downloaded, loaded and warmed on a thread while the old one keeps serving; then one
reference is replaced. A request picks its model once, at the start, so it is answered by exactly
one version, and the old version's batcher drains before it is closed: no request fails during a
swap. A version the store does not vouch for (an alias moved outside goldenpath), or one that
fails to load, is refused: the previous version keeps serving, and the refusal is logged and
counted in ``goldenpath_model_load_failures_total``.

**Routing.** ``canary``: a request whose key hashes below ``canary_share`` (or, without a key, a
random draw) goes to the challenger; the same key always takes the same route. ``shadow``: the
champion answers; the challenger sees a copy afterwards, and its answer is only logged.

**Fallback.** A challenger that fails or times out is replaced by the champion; a champion that
fails or times out by the configured fallback (another version or a constant), with
``degraded: true`` in the answer. All of it counted in ``goldenpath_fallbacks_total``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import random
from dataclasses import dataclass

from goldenpath.errors import GoldenpathError
from goldenpath.project import Project
from goldenpath.serving.batcher import Batcher, Columns, Outputs, Overloaded, PredictFn
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.models import ServedModel, constant_predictor, load_served
from goldenpath.serving.validation import RowValidator

__all__ = ["Answer", "Deployment", "NoModel"]

log = logging.getLogger("goldenpath.serving")


class NoModel(Exception):
    """Neither the champion nor a fallback can answer (HTTP 503)."""


@dataclass(frozen=True)
class Answer:
    outputs: Outputs
    version: str
    route: str  # champion, challenger or fallback
    degraded: bool


def _bucket(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Deployment:
    def __init__(self, project: Project, metrics: ServerMetrics) -> None:
        self.project = project
        self.spec = project.spec
        self.settings = project.spec.serving
        self.metrics = metrics
        self.validator = RowValidator(project.spec)
        self.champion: ServedModel | None = None
        self.challenger: ServedModel | None = None
        self.fallback: ServedModel | None = None
        self.last_error: str | None = None
        self._refused: set[tuple[str, str]] = set()  # (role, version) already reported
        self._rng = random.Random()

    # ------------------------------------------------------------------ loading and swapping

    def _batcher(self, version: str, predict: PredictFn) -> Batcher:
        s = self.settings

        def observe(rows: int, seconds: float) -> None:
            self.metrics.batch_rows.labels(version).observe(rows)
            self.metrics.predict_seconds.labels(version).observe(seconds)

        return Batcher(
            predict,
            max_batch_size=s.max_batch_size,
            max_wait_ms=s.max_wait_ms,
            max_queue=s.max_queue,
            observe=observe,
            threads=s.model_threads,
        )

    async def _load(self, role: str, version: str) -> ServedModel | None:
        try:
            served = await asyncio.to_thread(
                load_served, self.project, self.spec, version, self.validator, self._batcher
            )
        except Exception as exc:  # a corrupt artefact, a model that cannot predict ...
            self._refuse(role, version, "load_failed", f"{type(exc).__name__}: {exc}")
            return None
        self.metrics.model_load_seconds.observe(served.load_seconds)
        return served

    def _refuse(self, role: str, version: str, reason: str, message: str) -> None:
        self.last_error = f"{role} v{version}: {message}"
        if (role, version) not in self._refused:
            self._refused.add((role, version))
            self.metrics.model_load_failures.labels(reason).inc()
            log.error("refusing %s version %s (%s): %s", role, version, reason, message)

    async def _wanted(self, alias: str) -> str | None:
        from goldenpath.registry import verified_alias

        try:
            return await asyncio.to_thread(verified_alias, self.project, alias)  # type: ignore[arg-type]
        except GoldenpathError as exc:  # RegistryDrift, an unreachable store or registry
            current = self.champion if alias == "champion" else self.challenger
            self._refuse(alias, "?", exc.code, exc.message)
            return None if current is None else current.version

    async def refresh(self) -> None:
        """Bring champion, challenger and fallback in line with the registry (one pass)."""
        wanted = await self._wanted("champion")
        if wanted is not None and (self.champion is None or self.champion.version != wanted):
            await self._swap("champion", wanted)
        if self.settings.challenger != "none":
            other = await self._wanted("challenger")
            if other is None or other == wanted:
                await self._retire("challenger")
            elif self.challenger is None or self.challenger.version != other:
                await self._swap("challenger", other)
        fallback = self.settings.fallback
        if fallback is not None and self.fallback is None:
            if fallback.version is not None:
                self.fallback = await self._load("fallback", fallback.version)
            else:
                self.fallback = ServedModel(
                    "constant",
                    self._batcher("constant", constant_predictor(fallback.constant)),
                    0.0,
                    constant=True,
                )

    async def _swap(self, role: str, version: str) -> None:
        served = await self._load(role, version)
        if served is None:
            return
        old = getattr(self, role)
        gc.freeze()  # the new model lives long: out of the collector's full passes (see app)
        setattr(self, role, served)  # the atomic switch: later requests see the new version
        self.metrics.serving_version.labels(role, version).set(1)
        if old is not None:
            self.metrics.serving_version.labels(role, old.version).set(0)
            log.info("%s: version %s replaces %s", role, version, old.version)
            await old.batcher.close()  # its in-flight requests finish on it

    async def _retire(self, role: str) -> None:
        old = getattr(self, role)
        if old is not None:
            setattr(self, role, None)
            self.metrics.serving_version.labels(role, old.version).set(0)
            await old.batcher.close()

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                await self.refresh()
            except Exception:  # never let the watcher die
                log.exception("refreshing the deployment failed")

    async def close(self) -> None:
        for role in ("champion", "challenger", "fallback"):
            await self._retire(role)

    # ---------------------------------------------------------------------------- answering

    def route(self, key: str | None) -> str:
        if self.settings.challenger != "canary" or self.challenger is None:
            return "champion"
        draw = _bucket(key) if key is not None else self._rng.random()
        return "challenger" if draw < self.settings.canary_share else "champion"

    async def _ask(self, served: ServedModel, columns: Columns) -> Outputs:
        timeout = self.settings.timeout_ms / 1000
        rows = len(next(iter(columns.values()), []))
        return await asyncio.wait_for(served.batcher.submit(columns, rows), timeout)

    async def answer(self, columns: Columns, route: str) -> Answer:
        """Predict ``frame`` on ``route``, falling back as the module says. Overloaded
        propagates (shedding is not a failure to hide); NoModel when nothing can answer."""
        challenger = self.challenger
        if route == "challenger" and challenger is not None:
            try:
                return Answer(
                    await self._ask(challenger, columns), challenger.version, route, False
                )
            except Overloaded:
                raise
            except Exception as exc:
                self.metrics.fallbacks.labels("challenger_failed").inc()
                log.warning(
                    "challenger v%s failed (%s); the champion answers",
                    challenger.version,
                    type(exc).__name__,
                )
        champion = self.champion
        if champion is not None:
            try:
                return Answer(
                    await self._ask(champion, columns), champion.version, "champion", False
                )
            except Overloaded:
                raise
            except Exception as exc:
                reason = "champion_timeout" if isinstance(exc, TimeoutError) else "champion_failed"
                self.metrics.fallbacks.labels(reason).inc()
                log.warning("champion v%s failed (%s)", champion.version, type(exc).__name__)
        fallback = self.fallback
        if fallback is None:
            raise NoModel("no champion is loaded and no fallback is configured")
        try:
            outputs = await self._ask(fallback, columns)
        except Overloaded:
            raise
        except Exception as exc:
            raise NoModel(f"the fallback failed too ({type(exc).__name__})") from exc
        return Answer(outputs, fallback.version, "fallback", True)

    async def shadow(self, columns: Columns) -> tuple[Outputs, str] | None:
        """The challenger's answer on a copy of the request, or None (never raises)."""
        challenger = self.challenger
        if self.settings.challenger != "shadow" or challenger is None:
            return None
        try:
            return await self._ask(challenger, columns), challenger.version
        except Exception:
            self.metrics.fallbacks.labels("shadow_failed").inc()
            return None
