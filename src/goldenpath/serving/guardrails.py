"""The server's guardrail watch: every ``poll_seconds``, while a canary challenger answers and
``serving.guardrails`` has rules, judge them on the prediction log
(:func:`goldenpath.monitoring.guardrails.enforce`, on a thread). On a breach the challenger is
halted in the store, so every server drops it at its next poll, and this one at once; a
running experiment whose treatment it is is stopped. While an experiment is routed its
treatment sits in the challenger's seat, so it is judged the same way.

Every check is counted in ``goldenpath_guardrail_checks_total{rule,status}``; a check that
fails (the log or the store unreadable), and each sink that could not be sent a breach's alert,
in ``goldenpath_guardrail_failures_total``, logged and shown by readiness until a check
succeeds; nothing stops the watch
but the server's shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from goldenpath.monitoring.guardrails import enforce
from goldenpath.serving.deployment import Deployment

__all__ = ["GuardrailWatch"]

log = logging.getLogger("goldenpath.serving")


class GuardrailWatch:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.project = deployment.project
        self.metrics = deployment.metrics
        self.problem: str | None = None

    @property
    def scheduled(self) -> bool:
        """Rules to judge, and a canary or experiments that may route to a challenger."""
        settings = self.project.spec.serving
        judged = settings.challenger == "canary" or bool(self.project.spec.experiments)
        return judged and bool(settings.guardrails)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.project.spec.serving.poll_seconds)
            await self.check()

    async def check(self) -> None:
        """One pass (never raises)."""
        challenger = self.deployment.challenger
        if challenger is None or challenger.version in self.deployment.controls.halted:
            return
        if self.project.spec.serving.challenger != "canary" and self.deployment.experiment is None:
            return  # a shadow challenger never answers: nothing to judge
        try:
            done = await asyncio.to_thread(enforce, self.project, challenger.version)
        except Exception as exc:  # never let the watch die unseen
            self.metrics.guardrail_failures.inc()
            problem = f"guardrails: {type(exc).__name__}: {exc}"
            if problem != self.problem:
                log.exception("checking the guardrails failed")
            self.problem = problem
            return
        self.problem = None
        for verdict in done.verdicts:
            self.metrics.guardrail_checks.labels(verdict.rule, verdict.status).inc()
        if done.undelivered:  # the halt is written; a sink (or the experiment) did not hear
            self.metrics.guardrail_failures.inc(len(done.undelivered))
            self.problem = "guardrails: alert not delivered: " + "; ".join(done.undelivered)
        if done.alert is not None:
            self.metrics.guardrail_rollbacks.inc()
            log.error("%s", done.alert.message)
        for name in done.stopped:
            log.error("experiment %s stopped by a guardrail", name)
        if done.alert is not None or any(v.breached for v in done.verdicts):
            await self.deployment.refresh()  # drop the challenger here now, not at the next poll

    def problems(self) -> list[str]:
        return [] if self.problem is None else [self.problem]
