"""Response types of the health endpoints."""

from __future__ import annotations

import msgspec


class Liveness(msgspec.Struct):
    status: str
    version: str


class BackendCheck(msgspec.Struct):
    """One backend's state; what was found stays in the log (the endpoint is public)."""

    name: str
    ok: bool


class Readiness(msgspec.Struct):
    status: str
    checks: list[BackendCheck]
