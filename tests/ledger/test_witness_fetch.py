"""A witness reads a log server it does not trust: hostile JSON is an alarm, never a crash."""

from __future__ import annotations

import httpx
import pytest

from arbitral.ledger.witness import WitnessFailure, _fetch_json


async def test_json_nested_too_deep_is_not_json() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=deep, headers={"content-type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(WitnessFailure, match="not JSON"):
            await _fetch_json(client, "https://log.example/head", "head")
