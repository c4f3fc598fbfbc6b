"""Resumable uploads: a file sent in parts, resumed, completed once, refused whole or not at all."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from arbitral.auth.domain import Role
from arbitral.bench.custody import _wav_header
from arbitral.custody import uploads
from arbitral.keys.domain import import_public_jwk, verify_compact
from arbitral.ledger.domain import verify_receipt
from tests.conftest import make_settings
from tests.custody.test_items import holdings
from tests.support.s3 import bucket_name, multipart_uploads, object_names
from tests.support.world import World, world

URL = "/api/v1/custody/uploads"
PART = 4096


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 4 KiB for the tests (5 MiB in production)."""
    monkeypatch.setattr(uploads, "MIN_PART_SIZE", 1024)


def recording(size: int = 2 * PART + 1000) -> bytes:
    """A WAV file of ``size`` bytes (header included): three parts of 4 KiB by default."""
    header = _wav_header(size - 44)
    return header + os.urandom(size - len(header))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parts_of(data: bytes, part_size: int = PART) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)]


async def open_upload(
    w: World, headers: dict[str, str], data: bytes, **changes: Any
) -> dict[str, Any]:
    body = {
        "filename": "通话录音.wav",
        "title": "催收通话录音",
        "proves": "the call of 3 March",
        "size": len(data),
        "sha256": sha(data),
        "part_size": PART,
    } | changes
    response = await w.client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = response.json()
    return opened


async def send(
    w: World,
    headers: dict[str, str],
    upload_id: str,
    number: int,
    data: bytes,
    *,
    declared: str | None = None,
) -> Any:
    extra = {"x-content-sha256": declared} if declared else {}
    return await w.client.put(
        f"{URL}/{upload_id}/parts/{number}",
        content=data,
        headers={**headers, **extra, "content-type": "application/octet-stream"},
    )


async def upload_and_check(w: World) -> tuple[dict[str, Any], bytes]:
    """The whole journey: parts out of order, a resume, complete, complete again."""
    claimant = await w.login(w.a, Role.CLAIMANT)
    data = recording()
    opened = await open_upload(w, claimant, data)
    assert opened["parts"] == 3
    assert opened["part_size"] == PART
    assert opened["state"] == "open"
    assert opened["missing"] == [1, 2, 3]
    upload_id = opened["upload_id"]
    chunks = parts_of(data)
    assert (await send(w, claimant, upload_id, 3, chunks[2], declared=sha(chunks[2]))).json()[
        "received"
    ] == [3]
    assert (await send(w, claimant, upload_id, 1, chunks[0])).status_code == 200
    # The connection broke before part 2: the client asks what arrived, and resumes.
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert (state["received"], state["missing"]) == ([1, 3], [2])
    early = await w.client.post(f"{URL}/{upload_id}/complete", headers=claimant)
    assert early.status_code == 409
    assert early.json()["errors"][0]["field"] == "parts"
    assert early.json()["errors"][0]["rule"] == "missing"
    assert "send parts 2 first" in early.json()["errors"][0]["message"]
    assert early.json()["missing_parts"] == [2]
    before = await holdings(w)
    # A part sent twice replaces the first.
    assert (await send(w, claimant, upload_id, 2, chunks[0])).status_code == 200
    assert (await send(w, claimant, upload_id, 2, chunks[1])).status_code == 200
    done = await w.client.post(f"{URL}/{upload_id}/complete", headers=claimant)
    assert done.status_code == 201, done.text
    item = done.json()["item"]
    assert item["sha256"] == sha(data)
    assert item["size"] == len(data)
    assert item["media_type"] == "audio/wav"
    assert item["proves"] == "the call of 3 March"
    keys = {
        k.kid: import_public_jwk(k.public_jwk) for k in await w.runtime.keys.keys(w.a.id, "ledger")
    }
    checked = verify_receipt(
        done.json()["receipt"],
        verify_signature=lambda jws, kid: verify_compact(jws, keys[kid]),
        content_sha256=sha(data),
    )
    assert checked.entry["object_id"] == item["id"]
    # Completed twice: the same item, not a second one.
    again = await w.client.post(f"{URL}/{upload_id}/complete", headers=claimant)
    assert again.status_code == 200
    assert again.json()["item"]["id"] == item["id"]
    items, leaves, _ = await holdings(w)
    assert (items, leaves) == (before[0] + 1, before[1] + 1)
    finished = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert (finished["state"], finished["item_id"], finished["missing"]) == (
        "completed",
        item["id"],
        [],
    )
    link = (
        await w.client.get(f"/api/v1/custody/items/{item['id']}/download", headers=claimant)
    ).json()
    assert link["sha256"] == sha(data)
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    for action in ("custody.upload.created", "custody.upload.completed"):
        events = (
            await w.client.get("/api/v1/audit-events", params={"action": action}, headers=admin)
        ).json()["items"]
        assert [e["target_id"] for e in events] == [upload_id], action
    return item, data


async def test_a_file_sent_in_parts_is_resumed_and_completed_once(auth_world: World) -> None:
    w = auth_world
    item, data = await upload_and_check(w)
    claimant = await w.login(w.a, Role.CLAIMANT)
    link = (
        await w.client.get(f"/api/v1/custody/items/{item['id']}/download", headers=claimant)
    ).json()
    assert (await w.client.get(link["url"])).content == data
    staging = w.runtime.settings.data_dir / "objects" / ".staging"
    assert not staging.exists() or not any(staging.rglob("*.0*"))


@pytest.mark.s3
async def test_a_file_sent_in_parts_on_s3(s3_server: Any, tmp_path: Path) -> None:
    bucket = bucket_name()
    s3_server.create_bucket(bucket)
    settings = make_settings(tmp_path, storage_url=s3_server.storage_url(bucket, prefix="c"))
    async with world(settings) as w:
        item, data = await upload_and_check(w)
        names = object_names(s3_server, bucket)
        assert [n for n in names if n.endswith(item["sha256"])], names
        assert [n for n in names if "/.staging/" in n or n.startswith("c/.staging")] == []
        assert multipart_uploads(s3_server, bucket) == []
        with s3_server.authentication_off():
            claimant = await w.login(w.a, Role.CLAIMANT)
            link = (
                await w.client.get(f"/api/v1/custody/items/{item['id']}/download", headers=claimant)
            ).json()
            import httpx

            async with httpx.AsyncClient() as plain:
                assert (await plain.get(link["url"])).content == data
        # A single upload streamed with a wrong declared hash leaves nothing on S3 either.
        before = object_names(s3_server, bucket)
        big = recording(3 * (5 << 20) + 17)
        refused = await w.client.post(
            "/api/v1/custody/items",
            params={"filename": "录音.wav", "title": "录音"},
            content=big,
            headers={**claimant, "x-content-sha256": sha(b"other")},
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "sha256"
        assert object_names(s3_server, bucket) == before
        assert multipart_uploads(s3_server, bucket) == []
        # ...and with the right one it is stored (streamed straight to its key).
        stored = await w.client.post(
            "/api/v1/custody/items",
            params={"filename": "录音.wav", "title": "录音"},
            content=big,
            headers={**claimant, "x-content-sha256": sha(big)},
        )
        assert stored.status_code == 201, stored.text
        assert any(n.endswith(sha(big)) for n in object_names(s3_server, bucket))


async def test_wrong_parts_are_refused_and_left_missing(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    data = recording()
    upload_id = (await open_upload(w, claimant, data))["upload_id"]
    chunks = parts_of(data)

    wrong_hash = await send(w, claimant, upload_id, 1, chunks[0], declared=sha(b"x"))
    assert wrong_hash.status_code == 422
    assert wrong_hash.json()["errors"][0] == {
        "field": "sha256",
        "rule": "mismatch",
        "message": f"declared {sha(b'x')}, received {sha(chunks[0])}",
    }
    too_big = await send(w, claimant, upload_id, 1, chunks[0] + b"x")
    assert too_big.status_code == 413
    assert too_big.json()["errors"][0] == {
        "field": "part",
        "rule": "size",
        "message": f"part 1 is {PART} bytes",
    }
    too_short = await send(w, claimant, upload_id, 1, chunks[0][:-1])
    assert too_short.status_code == 400
    assert too_short.json()["errors"][0]["field"] == "part"

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        yield chunks[2]
        yield b"more than the last part has"

    chunked = await w.client.put(f"{URL}/{upload_id}/parts/3", content=streamed(), headers=claimant)
    assert chunked.status_code == 413
    beyond = await send(w, claimant, upload_id, 4, b"x")
    assert beyond.status_code == 422
    assert beyond.json()["errors"][0]["field"] == "part"
    malformed = await send(w, claimant, upload_id, 1, chunks[0], declared="abc")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0] == {
        "field": "sha256",
        "rule": "format",
        "message": "64 hexadecimal digits",
    }
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert state["received"] == []
    # Refused on its announced length: the part received before stays.
    assert (await send(w, claimant, upload_id, 1, chunks[0])).status_code == 200
    assert (await send(w, claimant, upload_id, 1, chunks[0][:10])).status_code == 400
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert state["received"] == [1]
    # Refused once read (its hash): it was replacing the one before, which is gone.
    assert (
        await send(w, claimant, upload_id, 1, chunks[1], declared=sha(chunks[0]))
    ).status_code == 422
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert state["received"] == []


@pytest.mark.parametrize("case", ["hash", "type"])
async def test_a_whole_that_is_not_as_announced_is_refused_at_complete(
    auth_world: World, case: str
) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    if case == "hash":
        data = recording()
        opened = await open_upload(w, claimant, data, sha256=sha(b"another recording"))
    else:
        data = b"\x7fELF\x02\x01\x01" + os.urandom(2 * PART)
        opened = await open_upload(w, claimant, data, filename="tool")
    upload_id = opened["upload_id"]
    for number, chunk in enumerate(parts_of(data), start=1):
        assert (await send(w, claimant, upload_id, number, chunk)).status_code == 200
    before = await holdings(w)
    response = await w.client.post(f"{URL}/{upload_id}/complete", headers=claimant)
    if case == "hash":
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "sha256"
        assert response.json()["errors"][0]["rule"] == "mismatch"
    else:
        assert response.status_code == 415
        assert response.json()["errors"][0] == {
            "field": "file",
            "rule": "type_not_allowed",
            "message": response.json()["errors"][0]["message"],
        }
    assert await holdings(w) == before  # no item, no leaf, no object
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert state["state"] == "open"
    spool = w.runtime.settings.data_dir / "spool"
    assert not spool.exists() or not any(spool.iterdir())


async def test_opening_an_upload_is_checked(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    good = {"filename": "录音.wav", "title": "录音", "size": 10_000, "sha256": "a" * 64}
    cases = [
        ({"sha256": "abc"}, 422, "sha256", "format"),
        ({"sha256": ""}, 422, "sha256", "required"),
        ({"size": 0}, 422, "size", "minimum"),
        ({"size": 10 << 30}, 413, "size", "max_size"),
        ({"part_size": 10}, 422, "part_size", "range"),
        ({"part_size": 1024, "size": 20_000_000}, 422, "part_size", "max_parts"),
        ({"filename": "../x.wav"}, 422, "filename", "filename"),
        ({"title": " "}, 422, "title", "required"),
    ]
    for change, status, field, rule in cases:
        response = await w.client.post(URL, json=good | change, headers=claimant)
        assert response.status_code == status, (change, response.text)
        assert response.json()["errors"][0]["field"] == field, change
        assert response.json()["errors"][0]["rule"] == rule, change
    missing = await w.client.post(URL, json={"filename": "x.wav"}, headers=claimant)
    assert missing.status_code in {400, 422}
    # Without evidence:submit, no upload.
    court = await w.token(w.a, __import__("arbitral.auth.domain").auth.domain.ClientKind.COURT)
    refused = await w.client.post(URL, json=good, headers={"authorization": f"Bearer {court}"})
    assert refused.status_code in {403, 404}


async def test_only_its_opener_and_the_staff_see_an_upload(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    data = recording()
    upload_id = (await open_upload(w, claimant, data))["upload_id"]
    respondent = await w.login(w.a, Role.RESPONDENT)
    for method, path, body in (
        ("GET", "", None),
        ("PUT", "/parts/1", parts_of(data)[0]),
        ("POST", "/complete", None),
        ("DELETE", "", None),
    ):
        response = await w.client.request(
            method, f"{URL}/{upload_id}{path}", content=body, headers=respondent
        )
        assert response.status_code == 404, (method, path, response.text)
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.get(f"{URL}/{upload_id}", headers=secretary)).status_code == 200
    unknown = await w.client.get(f"{URL}/{__import__('uuid').uuid4()}", headers=claimant)
    assert unknown.status_code == 404


async def test_an_aborted_upload_loses_its_parts(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    data = recording()
    upload_id = (await open_upload(w, claimant, data))["upload_id"]
    assert (await send(w, claimant, upload_id, 1, parts_of(data)[0])).status_code == 200
    staging = w.runtime.settings.data_dir / "objects" / ".staging" / str(w.a.id)
    assert len(list(staging.iterdir())) == 1
    assert (await w.client.delete(f"{URL}/{upload_id}", headers=claimant)).status_code == 204
    assert list(staging.iterdir()) == []
    state = (await w.client.get(f"{URL}/{upload_id}", headers=claimant)).json()
    assert (state["state"], state["received"]) == ("aborted", [])
    late = await send(w, claimant, upload_id, 2, parts_of(data)[1])
    assert late.status_code == 409
    assert late.json()["errors"][0]["rule"] == "state"
    assert list(staging.iterdir()) == []
    assert (await w.client.post(f"{URL}/{upload_id}/complete", headers=claimant)).status_code == 409
    assert (await w.client.delete(f"{URL}/{upload_id}", headers=claimant)).status_code == 204
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    events = (
        await w.client.get(
            "/api/v1/audit-events", params={"action": "custody.upload.aborted"}, headers=admin
        )
    ).json()["items"]
    assert [e["target_id"] for e in events] == [upload_id]


async def test_stale_uploads_expire_by_the_job(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    data = recording()
    stale = (await open_upload(w, claimant, data))["upload_id"]
    fresh = (await open_upload(w, claimant, data))["upload_id"]
    for upload_id in (stale, fresh):
        assert (await send(w, claimant, upload_id, 1, parts_of(data)[0])).status_code == 200
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE custody_upload SET expires_at = {} WHERE tenant_id = {} AND id = {}",
            datetime.now(UTC) - timedelta(minutes=1),
            w.a.id,
            __import__("uuid").UUID(stale),
        )
        await uow.enqueue(uploads.EXPIRE_JOB, {})
    for _ in range(100):
        state = (await w.client.get(f"{URL}/{stale}", headers=claimant)).json()
        if state["state"] != "open":
            break
        await asyncio.sleep(0.05)
    assert state["state"] == "expired"
    assert state["received"] == []
    assert (await w.client.get(f"{URL}/{fresh}", headers=claimant)).json()["received"] == [1]
    staging = w.runtime.settings.data_dir / "objects" / ".staging" / str(w.a.id)
    assert [p.name for p in staging.iterdir()] == [
        uploads.part_name(__import__("uuid").UUID(fresh), 1)
    ]
    # Safe to run again: nothing more to do.
    assert await uploads.expire_stale(w.runtime, w.a.id) == 0
    late = await w.client.post(f"{URL}/{stale}/complete", headers=claimant)
    assert late.status_code == 409
