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

**Served = judged.** Every load (at start, at each swap, of the challenger and of a fallback
version) checks the digest of the files it loads against the one the store's decision recorded
(:func:`goldenpath.serving.models.load_served`): files replaced after ``gate`` are refused as
``artifact_mismatch``, like a corrupt artefact. A version with no digest on record is served, but
said so: a warning logged once per version, and ``goldenpath_model_unverified{version}`` is 1
while a role serves it.

**Routing.** ``canary``: a request whose key hashes below ``canary_share`` (or, without a key, a
random draw) goes to the challenger; the same key always takes the same route. ``shadow``: the
champion answers; the challenger sees a copy afterwards, and its answer is only logged.

**Experiments.** While an experiment runs (a ``running`` row of ``gp_experiments``, read at each
poll as the aliases are), its treatment version takes the challenger's seat and replaces canary
and shadow routing: each request is assigned by its unit
(:func:`goldenpath.experiments.assignment.assign_request`), the treatment arm answered by the
challenger seat, the control arm (and a request without a unit, not exposed) by the champion.
It is routed only while the champion is its control version and its treatment is loaded (not
while pinned, nor once its treatment is halted); otherwise the champion answers everything,
the reason is logged and shown by readiness. A row changed outside goldenpath is not routed by.

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
import time
from dataclasses import dataclass

from goldenpath.errors import (
    AuditChainBroken,
    GoldenpathError,
    ModelContractMismatch,
    RegistryDrift,
)
from goldenpath.experiments.assignment import Assignment, assign_request
from goldenpath.project import Project
from goldenpath.registry.controls import ServingControls, serving_controls
from goldenpath.serving.batcher import Batcher, Columns, Outputs, Overloaded, PredictFn, Retired
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.models import (
    ARTIFACT_MISMATCH,
    ServedModel,
    constant_predictor,
    load_served,
    warm_columns,
)
from goldenpath.serving.validation import RowValidator
from goldenpath.store.experiments import Experiment

__all__ = ["Answer", "Deployment", "NoModel", "VersionNotServed"]

log = logging.getLogger("goldenpath.serving")


_RETRY_SECONDS = 60.0


def _refreeze() -> None:
    """After a model is loaded or retired: let the collector see the frozen heap once (a
    retired model with reference cycles is freed), then freeze the long-lived heap again, out
    of the full passes that stalled predictions (see :mod:`goldenpath.serving.app`)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class NoModel(Exception):
    """Neither the champion nor a fallback can answer (HTTP 503)."""


class VersionNotServed(Exception):
    """A request for a version that is neither the champion nor the challenger served now."""


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
        # (role, what) -> when it was last refused: reported once while it persists, and a
        # version that failed to load is tried again only after _RETRY_SECONDS
        self._refused: dict[tuple[str, str], float] = {}
        self._problems: set[tuple[str, str]] = set()  # refused during the current pass
        self._unverified: set[str] = set()  # versions served without a digest to check: warned
        self._rng = random.Random()
        # incident controls and guardrail halts (goldenpath.registry.controls), read each pass
        self.controls = ServingControls(project=project.name)
        self.controls_problem: str | None = None
        # the running experiment as last read from the store, and the one routed by now (None
        # while its arms are not the champion and challenger served); why it is not routed
        self.experiment_row: Experiment | None = None
        self.experiment: Experiment | None = None
        self.experiment_problem: str | None = None

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
            slice_rows=s.limits.slice_rows,
            observe=observe,
            threads=s.model_threads,
        )

    async def _load(self, role: str, version: str) -> ServedModel | None:
        failed_at = self._refused.get((role, f"v{version}"))
        if failed_at is not None and time.monotonic() - failed_at < _RETRY_SECONDS:
            self._problems.add((role, f"v{version}"))
            return None
        try:
            served = await asyncio.to_thread(
                load_served, self.project, self.spec, version, self.validator, self._batcher
            )
        except Exception as exc:  # a corrupt or replaced artefact, a model that cannot predict
            reason = (
                exc.code
                if isinstance(exc, ModelContractMismatch | AuditChainBroken)
                else ARTIFACT_MISMATCH
                if isinstance(exc, RegistryDrift)
                else "load_failed"
            )
            self._refuse(role, f"v{version}", reason, f"{type(exc).__name__}: {exc}")
            return None
        self.metrics.model_load_seconds.observe(served.load_seconds)
        if served.unverified is not None and version not in self._unverified:
            self._unverified.add(version)
            log.warning(
                "serving %s v%s unverified: its model files were not checked against a digest "
                "on record (%s); evaluate and gate it again, and promote it, to have them checked",
                role,
                version,
                served.unverified,
            )
        return served

    def _count_unverified(self) -> None:
        """``goldenpath_model_unverified{version}``: 1 while a role serves it unverified."""
        roles = (self.champion, self.challenger, self.fallback)
        now = {s.version for s in roles if s is not None and s.unverified is not None}
        for version in self._unverified:
            self.metrics.model_unverified.labels(version).set(version in now)

    def _refuse(self, role: str, what: str, reason: str, message: str) -> None:
        self.last_error = f"{role} {what}: {message}"
        key = (role, what if what.startswith("v") else f"{reason}: {message}")
        self._problems.add(key)
        if key not in self._refused:  # a new problem: report it once
            self.metrics.model_load_failures.labels(reason).inc()
            log.error("refusing the %s (%s): %s", role, reason, message)
        self._refused[key] = time.monotonic()

    async def _wanted(self, alias: str) -> str | None:
        from goldenpath.registry import verified_alias

        try:
            return await asyncio.to_thread(verified_alias, self.project, alias)  # type: ignore[arg-type]
        except GoldenpathError as exc:  # RegistryDrift, an unreachable store or registry
            current = self.champion if alias == "champion" else self.challenger
            self._refuse(alias, "alias", exc.code, exc.message)
            return None if current is None else current.version

    async def refresh(self) -> None:
        """Bring champion, challenger and fallback in line with the registry (one pass). A
        problem that did not recur in this pass is forgotten (and reported again if it comes
        back); ``last_error`` is cleared once a pass has none."""
        self._problems = set()
        await self._refresh()
        self._count_unverified()
        for key in list(self._refused):
            if key not in self._problems and not key[1].startswith("v"):
                del self._refused[key]
        if not self._problems:
            self.last_error = None

    async def _read_controls(self) -> ServingControls:
        """The store's serving controls; the last ones read when the store cannot answer
        (counted in ``goldenpath_serving_controls_failures_total``, shown by readiness)."""
        try:
            self.controls = await asyncio.to_thread(serving_controls, self.project)
            self.controls_problem = None
        except Exception as exc:
            self.metrics.controls_failures.inc()
            if self.controls_problem is None:
                log.error("reading the serving controls failed: %s", exc)
            self.controls_problem = f"serving controls: {type(exc).__name__}: {exc}"
        for control, on in (
            ("pinned", self.controls.pinned is not None),
            ("safe_mode", self.controls.safe_mode),
            ("halted", bool(self.controls.halted)),
        ):
            self.metrics.serving_control.labels(control).set(on)
        return self.controls

    async def _refresh(self) -> None:
        controls = await self._read_controls()
        pinned = controls.pinned  # incident pin: that version, no hot swap, no challenger
        wanted = pinned or await self._wanted("champion")
        if wanted is not None and (self.champion is None or self.champion.version != wanted):
            await self._swap("champion", wanted)
        experiment, problem = await self._read_experiment()
        treatment = None if experiment is None or pinned else experiment.treatment_version
        if treatment is not None and treatment != wanted and treatment not in controls.halted:
            if self.challenger is None or self.challenger.version != treatment:
                await self._swap("challenger", treatment)  # the treatment takes its seat
        elif self.settings.challenger != "none":
            other = None if pinned else await self._wanted("challenger")
            if other is None or other == wanted or other in controls.halted:
                await self._retire("challenger")
            elif self.challenger is None or self.challenger.version != other:
                await self._swap("challenger", other)
        else:
            await self._retire("challenger")  # an ended experiment's treatment
        self._route_experiment(experiment, pinned, problem)
        fallback = self.settings.fallback
        if fallback is not None and self.fallback is None:
            if fallback.version is not None:
                self.fallback = await self._load("fallback", fallback.version)
            else:
                batcher = self._batcher("constant", constant_predictor(fallback.constant))
                await asyncio.to_thread(batcher.warm, warm_columns(self.validator))
                self.fallback = ServedModel("constant", batcher, 0.0)

    async def _read_experiment(self) -> tuple[Experiment | None, str | None]:
        """The project's running experiment from the store, and what went wrong reading it:
        on a store that cannot answer, the last one read (as the aliases keep their versions);
        None for a row changed outside goldenpath."""
        from goldenpath.experiments.lifecycle import active_experiment

        try:
            self.experiment_row = await asyncio.to_thread(active_experiment, self.project)
        except AuditChainBroken as exc:
            self.experiment_row = None
            return None, f"experiment: {exc.message}"
        except Exception as exc:  # an unreachable store: keep routing as before
            return self.experiment_row, f"experiment: {type(exc).__name__}: {exc}"
        return self.experiment_row, None

    def _route_experiment(
        self, experiment: Experiment | None, pinned: str | None, problem: str | None = None
    ) -> None:
        """Route by ``experiment`` when its arms are the champion and challenger served (and
        nothing is pinned); otherwise say why in :attr:`experiment_problem` (logged once)."""
        before = self.experiment
        champion, challenger = self.champion, self.challenger
        routed = (
            experiment is not None
            and pinned is None
            and champion is not None
            and challenger is not None
            and champion.version == experiment.control_version
            and challenger.version == experiment.treatment_version
        )
        self.experiment = experiment if routed else None
        if experiment is not None and not routed and problem is None:
            served = f"v{champion.version}" if champion is not None else "nothing"
            why = (
                f"the champion is pinned to v{pinned}"
                if pinned is not None
                else f"its treatment v{experiment.treatment_version} is halted"
                if experiment.treatment_version in self.controls.halted
                else f"its control is v{experiment.control_version} and the champion serves "
                f"{served}"
                if champion is None or champion.version != experiment.control_version
                else f"its treatment v{experiment.treatment_version} is not loaded"
            )
            problem = f"experiment {experiment.name!r} is not routed: {why}; the champion answers"
        if problem is not None and problem != self.experiment_problem:
            log.error("%s", problem)
        self.experiment_problem = problem
        for found, on in ((before, False), (self.experiment, True)):
            if found is not None:
                self.metrics.experiment_routed.labels(found.name).set(on)
        if self.experiment is not None and before is None:
            log.info(
                "experiment %s: routing %.0f%% of units to v%s",
                self.experiment.name,
                self.experiment.allocation * 100,
                self.experiment.treatment_version,
            )

    async def _swap(self, role: str, version: str) -> None:
        served = await self._load(role, version)
        if served is None:
            return
        old = getattr(self, role)
        setattr(self, role, served)  # the atomic switch: later requests see the new version
        self.metrics.serving_version.labels(role, version).set(1)
        if old is not None:
            self.metrics.serving_version.labels(role, old.version).set(0)
            log.info("%s: version %s replaces %s", role, version, old.version)
            await old.batcher.close()  # its in-flight requests finish on it
            del old
        _refreeze()

    async def _retire(self, role: str) -> None:
        old = getattr(self, role)
        if old is not None:
            setattr(self, role, None)
            self.metrics.serving_version.labels(role, old.version).set(0)
            await old.batcher.close()
            del old
            _refreeze()

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
        if self.controls.safe_mode and self.fallback is not None:  # goldenpath incident safe-mode
            return "fallback"
        if self.settings.challenger != "canary" or self.challenger is None:
            return "champion"
        draw = _bucket(key) if key is not None else self._rng.random()
        return "challenger" if draw < self.settings.canary_share else "champion"

    def assign(self, columns: Columns) -> Assignment | None:
        """The running experiment's assignment of a request (None: no experiment is routed),
        counted in ``goldenpath_experiment_exposures_total`` or, when the request cannot be
        assigned, ``goldenpath_experiment_unassigned_total``."""
        experiment = self.experiment
        if experiment is None or (self.controls.safe_mode and self.fallback is not None):
            return None
        found = assign_request(
            columns.get(experiment.unit) or [],
            experiment=experiment.name,
            salt=experiment.salt,
            allocation=experiment.allocation,
        )
        if found.arm is not None:
            self.metrics.experiment_exposures.labels(experiment.name, found.arm).inc()
        else:
            self.metrics.experiment_unassigned.labels(experiment.name, found.reason).inc()
        return found

    async def _ask(self, served: ServedModel, columns: Columns) -> Outputs:
        timeout = self.settings.timeout_ms / 1000
        rows = len(next(iter(columns.values()), []))
        return await asyncio.wait_for(served.batcher.submit(columns, rows), timeout)

    async def _ask_current(self, role: str, columns: Columns) -> tuple[str, Outputs] | None:
        """(version, outputs) from whatever model holds ``role`` now; a model retired by a
        swap between picking it and queueing sends the request on to its successor, so the
        request is still answered by exactly one version."""
        for _ in range(5):
            served: ServedModel | None = getattr(self, role)
            if served is None:
                return None
            try:
                return served.version, await self._ask(served, columns)
            except Retired:
                await asyncio.sleep(0)
        raise NoModel(f"the {role} kept changing while this request waited")

    async def answer(self, columns: Columns, route: str) -> Answer:
        """Predict ``columns`` on ``route``, falling back as the module says. Overloaded
        propagates (shedding is not a failure to hide); TimeoutError when the champion timed
        out and there is no fallback; NoModel when nothing else can answer."""
        if route == "fallback":  # safe mode: the fallback answers everything
            got = await self._ask_current("fallback", columns)
            if got is not None:
                self.metrics.fallbacks.labels("safe_mode").inc()
                return Answer(got[1], got[0], "fallback", True)
        if route == "challenger":
            try:
                got = await self._ask_current("challenger", columns)
                if got is not None:
                    return Answer(got[1], got[0], "challenger", False)
            except Overloaded:
                raise
            except Exception as exc:
                self.metrics.fallbacks.labels("challenger_failed").inc()
                log.warning("the challenger failed (%s); the champion answers", type(exc).__name__)
        failure: Exception | None = None
        try:
            got = await self._ask_current("champion", columns)
            if got is not None:
                return Answer(got[1], got[0], "champion", False)
        except Overloaded:
            raise
        except Exception as exc:
            failure = exc
            log.warning("the champion failed (%s)", type(exc).__name__)
        try:
            got = await self._ask_current("fallback", columns)
        except Overloaded:
            raise
        except Exception as exc:
            raise NoModel(f"the fallback failed too ({type(exc).__name__})") from exc
        if got is None:
            if isinstance(failure, TimeoutError):
                raise failure
            if failure is not None:
                raise NoModel(
                    f"the champion failed ({type(failure).__name__}) and no fallback is configured"
                ) from failure
            raise NoModel("no champion is loaded and no fallback is configured")
        reason = (
            "no_champion"
            if failure is None
            else "champion_timeout"
            if isinstance(failure, TimeoutError)
            else "champion_failed"
        )
        self.metrics.fallbacks.labels(reason).inc()
        return Answer(got[1], got[0], "fallback", True)

    def served_versions(self) -> dict[str, str]:
        """version -> role, for the champion and the challenger loaded now."""
        roles = (("challenger", self.challenger), ("champion", self.champion))
        return {served.version: role for role, served in roles if served is not None}

    async def answer_version(self, columns: Columns, version: str) -> Answer:
        """Predict ``columns`` on exactly ``version`` (the champion's or the challenger's): no
        routing, no fallback. VersionNotServed when no role holds it, before or while asking."""
        role = self.served_versions().get(version)
        if role is not None:
            served: ServedModel | None = getattr(self, role)
            if served is not None and served.version == version:
                try:
                    return Answer(await self._ask(served, columns), version, role, False)
                except Retired:
                    pass  # swapped out while this request waited
        raise VersionNotServed(
            f"version {version!r} of {self.project.name!r} is not served here; served: "
            + (", ".join(sorted(self.served_versions())) or "none")
        )

    async def shadow(self, columns: Columns) -> tuple[Outputs, str] | None:
        """The challenger's answer on a copy of the request, or None (never raises)."""
        if self.settings.challenger != "shadow" or self.experiment is not None:
            return None
        try:
            got = await self._ask_current("challenger", columns)
        except Exception:
            self.metrics.shadow_failures.inc()
            return None
        return None if got is None else (got[1], got[0])
