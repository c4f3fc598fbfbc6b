"""Response types of the health endpoints."""

from __future__ import annotations

import msgspec


class Liveness(msgspec.Struct):
    status: str
    version: str


class BackendCheck(msgspec.Struct):
    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    status: str
    checks: list[BackendCheck]
