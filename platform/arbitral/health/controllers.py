"""``/health/live`` and ``/health/ready``: for load balancers and orchestrators."""

from __future__ import annotations

import time
from typing import Any

import structlog
from litestar import Controller, Request, get

from arbitral import __version__
from arbitral.auth.guards import public
from arbitral.errors import ServiceUnavailable
from arbitral.health.schemas import BackendCheck, Liveness, Readiness
from arbitral.health.services import check_all

log = structlog.get_logger(__name__)

# Probes arrive every few seconds from every balancer: answer from a short cache.
READY_CACHE_S = 1.0


class HealthController(Controller):
    path = "/health"
    tags = ("operations",)

    @get("/live", summary="The process is up", opt=public())
    async def live(self) -> Liveness:
        return Liveness(status="live", version=__version__)

    @get(
        "/ready",
        summary="The database, object store and broker answer (503 problem details if not)",
        opt=public(),
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Readiness:
        state = request.app.state
        cached = getattr(state, "ready_cache", None)
        now = time.monotonic()
        if cached is not None and now - cached[0] < READY_CACHE_S:
            checks = cached[1]
        else:
            worker = getattr(state, "inprocess_worker", None)
            results = await check_all(
                state.runtime, worker_running=None if worker is None else worker.running
            )
            for result in results:
                if not result.ok:  # the details (hosts, roles, paths) go to the log only
                    log.warning("health.not_ready", backend=result.name, detail=result.detail)
            checks = [BackendCheck(name=r.name, ok=r.ok) for r in results]
            state.ready_cache = (now, checks)
        if not all(check.ok for check in checks):
            failing = ", ".join(check.name for check in checks if not check.ok)
            raise ServiceUnavailable(
                f"not ready: {failing} (details in the server log and 'arbitral check')",
                extensions={"checks": [{"name": c.name, "ok": c.ok} for c in checks]},
            )
        return Readiness(status="ready", checks=checks)
