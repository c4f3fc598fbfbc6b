"""The web app: health endpoints, problem details, request ids, OpenAPI."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from arbitral.app import create_app
from arbitral.auth.guards import public
from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.errors import FieldProblem, ValidationFailed
from arbitral.settings import Settings
from tests.conftest import make_settings


class Filing(msgspec.Struct):
    amount: int
    title: str


@get("/test/boom", sync_to_thread=False, opt=public())
def boom() -> None:
    raise RuntimeError("secret internal detail")


@post("/test/filings", sync_to_thread=False, opt=public())
def file_claim(data: JSONBody[Filing]) -> Filing:
    if data.amount <= 0:
        raise ValidationFailed(
            "the claim is not valid",
            errors=[FieldProblem(field="$.amount", rule="positive", message="must be > 0")],
        )
    return data


async def migrated_settings(tmp_path: Path) -> Settings:
    """Embedded settings under ``tmp_path`` with the database migrated."""
    settings = make_settings(tmp_path)
    db = Database(settings.database)
    await db.open()
    await migrate(db)
    await db.close()
    return settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(await migrated_settings(tmp_path))
    app.register(boom)
    app.register(file_claim)
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def test_live_and_ready(client: AsyncTestClient[Litestar]) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json()["status"] == "live"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {
        "database": True,
        "storage": True,
        "broker": True,
    }
    # The endpoint is public: no paths, hosts or roles in it.
    assert all(set(check) == {"name", "ok"} for check in body["checks"])
    assert "sqlite" not in ready.text


async def test_unknown_route_is_problem_json(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["type"] == "/problems/not-found"
    assert body["title"] == "Not found"
    assert body["instance"] == "/no/such/thing"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_problem_json(client: AsyncTestClient[Litestar]) -> None:
    response = await client.delete("/health/live")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/method-not-allowed"


async def test_unexpected_error_is_500_problem_without_trace(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/test/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    text = response.text
    assert "secret internal detail" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_malformed_body_names_the_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/test/filings", json={"amount": "lots", "title": "x"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "/problems/validation-failed"
    assert body["errors"] == [
        {"field": "$.amount", "rule": "type", "message": body["errors"][0]["message"]}
    ]
    assert "int" in body["errors"][0]["message"]

    missing = await client.post("/test/filings", json={"amount": 3})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["rule"] == "required"
    assert "title" in missing.json()["errors"][0]["message"]

    broken = await client.post(
        "/test/filings", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/problem+json"


async def test_domain_errors_carry_field_and_rule(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/test/filings", json={"amount": -5, "title": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the claim is not valid"
    assert body["errors"] == [{"field": "$.amount", "rule": "positive", "message": "must be > 0"}]


async def test_request_id_is_kept_when_well_formed(client: AsyncTestClient[Litestar]) -> None:
    kept = await client.get("/health/live", headers={"x-request-id": "lender-42.batch-7"})
    assert kept.headers["x-request-id"] == "lender-42.batch-7"
    replaced = await client.get("/health/live", headers={"x-request-id": "bad id\n<script>"})
    assert replaced.headers["x-request-id"] != "bad id\n<script>"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_openapi_document(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    assert spec["info"]["title"] == "Arbitral API"
    assert "/health/ready" in spec["paths"]


async def test_ready_is_503_problem_when_a_backend_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = await migrated_settings(tmp_path)
    app = create_app(settings)
    async with AsyncTestClient(app) as test_client:
        root = settings.storage.root
        assert root is not None
        # The store's directory is replaced by a file: nothing can be written any more.
        shutil.rmtree(root, ignore_errors=True)
        root.write_text("not a directory")
        response = await test_client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["database"]["ok"] is True
    assert checks["storage"]["ok"] is False
    assert "detail" not in checks["storage"]
    assert "ARBITRAL_STORAGE_URL" in caplog.text  # the operator finds the reason in the log


async def test_app_refuses_to_start_with_pending_migrations(tmp_path: Path) -> None:
    from arbitral.settings import ConfigError

    app = create_app(make_settings(tmp_path))
    with pytest.RaisesGroup(
        pytest.RaisesExc(ConfigError, match="pending; run 'arbitral migrate'"),
        flatten_subgroups=True,
    ):
        async with AsyncTestClient(app):
            pass


@post("/test/contended", sync_to_thread=False, opt=public())
def contended() -> None:
    import sqlite3

    raise sqlite3.OperationalError("database is locked")


async def test_database_contention_is_503_with_retry_after(
    client: AsyncTestClient[Litestar],
) -> None:
    client.app.register(contended)
    response = await client.post("/test/contended")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/busy"


async def test_nul_characters_are_refused_at_the_door(client: AsyncTestClient[Litestar]) -> None:
    for response in (
        await client.post(
            "/test/filings",
            content=b'{"amount": 1, "title": "a\\u0000b"}',
            headers={"content-type": "application/json"},
        ),
        await client.get("/health/live%00"),
        await client.get("/health/live", params={"q": "a\x00b"}),
    ):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "NUL" in response.json()["detail"]
    # Binary bodies are not text: their NUL bytes are nobody's business here.
    fine = await client.post(
        "/test/filings",
        content=b"\x00\x01",
        headers={"content-type": "application/octet-stream"},
    )
    assert fine.status_code in (400, 415)
    assert "NUL" not in fine.text


async def test_a_unique_violation_is_a_409(client: AsyncTestClient[Litestar]) -> None:
    client.app.register(duplicate)
    response = await client.post("/test/duplicate")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/conflict"


@post("/test/duplicate", sync_to_thread=False, opt=public())
def duplicate() -> None:
    import sqlite3

    raise sqlite3.IntegrityError("UNIQUE constraint failed: tenant_user.email")
