"""Taking files into custody over the API: receipts, refusals that leave nothing, downloads."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import pytest

from arbitral.auth.domain import ClientKind, Role
from arbitral.custody import services
from arbitral.keys.domain import import_public_jwk, verify_compact
from arbitral.ledger.domain import verify_receipt
from tests.custody.test_inspect import make_pdf, make_png
from tests.support.world import World

URL = "/api/v1/custody/items"


def params(filename: str = "借款合同.pdf", title: str = "借款合同", **more: str) -> dict[str, str]:
    return {"filename": filename, "title": title, **more}


async def upload(
    w: World, headers: dict[str, str], body: bytes, *, sha256: str | None = None, **query: str
) -> Any:
    extra = {"x-content-sha256": sha256} if sha256 else {}
    return await w.client.post(
        URL,
        params=params(**query),
        content=body,
        headers={**headers, **extra, "content-type": "application/octet-stream"},
    )


async def holdings(w: World) -> tuple[int, int, int]:
    """(custody rows, ledger leaves, stored objects) of tenant A."""
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        items = await uow.fetch(
            "SELECT count(*) AS n FROM custody_object WHERE tenant_id = {}", w.a.id
        )
        leaves = await uow.fetch(
            "SELECT count(*) AS n FROM ledger_leaf WHERE tenant_id = {}", w.a.id
        )
    objects = w.runtime.settings.data_dir / "objects" / str(w.a.id)
    stored = len([p for p in objects.rglob("*") if p.is_file()]) if objects.exists() else 0
    return int(items[0]["n"]), int(leaves[0]["n"]), stored


async def test_a_party_uploads_and_gets_a_receipt_that_verifies_offline(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    body = make_pdf()
    digest = hashlib.sha256(body).hexdigest()
    response = await upload(w, claimant, body, sha256=digest, proves="the loan and its terms")
    assert response.status_code == 201, response.text
    item = response.json()["item"]
    assert item["sha256"] == digest
    assert item["media_type"] == "application/pdf"
    assert item["filename"] == "借款合同.pdf"
    assert item["proves"] == "the loan and its terms"
    assert item["provenance"] == "uploaded"
    receipt = response.json()["receipt"]
    keys = {
        k.kid: import_public_jwk(k.public_jwk) for k in await w.runtime.keys.keys(w.a.id, "ledger")
    }
    checked = verify_receipt(
        receipt,
        verify_signature=lambda jws, kid: verify_compact(jws, keys[kid]),
        content_sha256=digest,
    )
    assert checked.entry["object_id"] == item["id"]
    assert checked.leaf_index == item["leaf_index"]
    # The same receipt later, under a newer head, from the API.
    again = await w.client.get(f"{URL}/{item['id']}/receipt", headers=claimant)
    assert again.status_code == 200
    assert again.json()["leaf"] == receipt["leaf"]
    # An API client of a trading platform may submit too.
    token = await w.token(w.a, ClientKind.TRADING_PLATFORM)
    png = await upload(
        w, {"authorization": f"Bearer {token}"}, make_png(), filename="截图.png", title="订单截图"
    )
    assert png.status_code == 201, png.text
    assert png.json()["item"]["media_type"] == "image/png"
    # The platform reads back its own item and receipt (tenant:read; the item is its own).
    platform = {"authorization": f"Bearer {token}"}
    own = png.json()["item"]["id"]
    assert (await w.client.get(f"{URL}/{own}", headers=platform)).status_code == 200
    assert (await w.client.get(f"{URL}/{own}/receipt", headers=platform)).status_code == 200
    # ...but not the claimant's.
    theirs = await w.client.get(f"{URL}/{item['id']}", headers=platform)
    assert theirs.status_code == 404


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.txt", "w") as entry,
    ):
        for _ in range(64):
            entry.write(b"\0" * (1 << 20))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "status", "field", "rule"),
    [
        ("wrong declared hash", 422, "sha256", "mismatch"),
        ("malformed declared hash", 422, "sha256", "format"),
        ("an executable", 415, "file", "type_not_allowed"),
        ("a PDF that is not a PDF", 422, "file", "corrupt"),
        ("a PNG named .pdf", 415, "file", "type_mismatch"),
        ("a zip bomb", 422, "file", None),
        ("a path in the file name", 422, "filename", "filename"),
        ("an empty file", 422, "file", "empty"),
        ("no title", 422, "title", "required"),
    ],
)
@pytest.mark.parametrize("declared", [False, True], ids=["spooled", "streamed"])
async def test_bad_uploads_are_refused_and_leave_nothing(
    auth_world: World, case: str, status: int, field: str, rule: str | None, declared: bool
) -> None:
    """Each refusal both ways: spooled and hashed (no hash declared), or streamed to the
    store while inspected (its hash declared, as a lender's system would)."""
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    before = await holdings(w)
    body, sha, query = make_pdf(), None, {}
    if case == "wrong declared hash":
        sha = hashlib.sha256(b"something else").hexdigest()
    elif case == "malformed declared hash":
        sha = "abc"
    elif case == "an executable":
        body, query = b"\x7fELF\x02\x01\x01" + b"\0" * 200, {"filename": "tool"}
    elif case == "a PDF that is not a PDF":
        body = make_pdf(eof=False)
    elif case == "a PNG named .pdf":
        body = make_png()
    elif case == "a zip bomb":
        body, query = zip_bomb(), {"filename": "evidence.zip"}
    elif case == "a path in the file name":
        query = {"filename": "../../etc/合同.pdf"}
    elif case == "an empty file":
        body = b""
    elif case == "no title":
        query = {"title": "  "}
    if declared and sha is None:
        sha = hashlib.sha256(body).hexdigest()
    response = await upload(w, claimant, body, sha256=sha, **query)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    if rule is not None:
        assert problem["errors"][0]["rule"] == rule
    else:
        assert problem["errors"][0]["rule"].startswith("archive_")
    assert await holdings(w) == before
    spool = w.runtime.settings.data_dir / "spool"
    assert not spool.exists() or not any(spool.iterdir())


async def test_size_limits_from_the_rule_set(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    real = services.evidence_limits

    def small(runtime: Any, rule_set: str, version: str) -> Any:
        return replace(real(runtime, rule_set, version), max_size=4096)

    monkeypatch.setattr(services, "evidence_limits", small)
    before = await holdings(w)
    big = make_pdf() + b"%" * 5000  # the bytes arrive in full; the limit is counted
    for sha in (None, hashlib.sha256(big).hexdigest()):
        response = await upload(w, claimant, big, sha256=sha)
        assert response.status_code == 413
        assert response.json()["errors"][0] == {
            "field": "file",
            "rule": "max_size",
            "message": "at most 4096 bytes",
        }

    async def stream() -> Any:  # no Content-Length: refused while streaming
        for _ in range(10):
            yield b"%PDF-1.7\n" + b"x" * 1000

    for extra in ({}, {"x-content-sha256": "ab" * 32}):
        chunked = await w.client.post(
            URL,
            params=params(),
            content=stream(),
            headers={**claimant, "content-type": "application/pdf", **extra},
        )
        assert chunked.status_code == 413
    assert await holdings(w) == before


@pytest.mark.parametrize("declared", [False, True], ids=["spooled", "streamed"])
async def test_a_truncated_upload_is_refused(auth_world: World, declared: bool) -> None:
    w = auth_world
    tenant_principal = _principal_of_claimant(w)

    async def chunks() -> Any:
        yield make_pdf()[:50]

    before = await holdings(w)
    with pytest.raises(services.IncompleteUpload, match="received 50 of the 5000 bytes"):
        await services.receive(
            w.runtime,
            await tenant_principal,
            chunks(),
            services.UploadMeta("合同.pdf", "合同"),
            declared_length=5000,
            declared_sha256=hashlib.sha256(make_pdf()).hexdigest() if declared else None,
        )
    assert await holdings(w) == before


async def _principal_of_claimant(w: World) -> Any:
    from arbitral.auth.domain import Principal, PrincipalKind

    return Principal(
        kind=PrincipalKind.USER,
        subject_id=w.a.users[Role.CLAIMANT],
        tenant_id=w.a.id,
        permissions=frozenset(),
        roles=frozenset({Role.CLAIMANT}),
    )


async def test_downloads_only_to_those_entitled_and_recorded(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    body = make_pdf()
    item = (await upload(w, claimant, body)).json()["item"]
    link = await w.client.get(f"{URL}/{item['id']}/download", headers=claimant)
    assert link.status_code == 200, link.text
    assert link.json()["sha256"] == item["sha256"]
    fetched = await w.client.get(link.json()["url"])
    assert fetched.status_code == 200
    assert fetched.content == body
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.get(f"{URL}/{item['id']}", headers=secretary)).status_code == 200
    # Another party of the same commission: not theirs (cases will widen this), so 404.
    respondent = await w.login(w.a, Role.RESPONDENT)
    for path in ("", "/download", "/receipt"):
        response = await w.client.get(f"{URL}/{item['id']}{path}", headers=respondent)
        assert response.status_code == 404, path
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    events = (
        await w.client.get(
            "/api/v1/audit-events", params={"action": "custody.object.downloaded"}, headers=admin
        )
    ).json()["items"]
    assert [e["target_id"] for e in events] == [item["id"]]


async def test_evidence_verify_checks_a_file_offline_with_the_published_keys(
    auth_world: World, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from arbitral.cli import main

    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    body = make_pdf()
    receipt = (await upload(w, claimant, body)).json()["receipt"]
    keys = await w.client.get(f"/t/{w.a.slug}/.well-known/ledger-keys.json")
    assert keys.status_code == 200
    (tmp_path / "keys.json").write_text(keys.text)
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "合同.pdf").write_bytes(body)
    (tmp_path / "altered.pdf").write_bytes(body.replace(b"1 0 obj", b"1 0 obj "))

    def run(name: str) -> Any:
        return CliRunner().invoke(
            main,
            [
                "evidence",
                "verify",
                str(tmp_path / name),
                str(tmp_path / "receipt.json"),
                "--keys",
                str(tmp_path / "keys.json"),
            ],
        )

    good = run("合同.pdf")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["valid"] is True
    bad = run("altered.pdf")
    assert bad.exit_code == 1
    assert "is not the one logged" in json.loads(bad.stdout)["reason"]
    # Keys of another commission do not vouch for this one's log.
    await w.runtime.keys.active_key(w.b.id, "ledger")
    other = await w.client.get(f"/t/{w.b.slug}/.well-known/ledger-keys.json")
    (tmp_path / "keys.json").write_text(other.text)
    foreign = run("合同.pdf")
    assert foreign.exit_code == 1
    assert "not one of --keys" in json.loads(foreign.stdout)["reason"]


async def test_the_scrub_names_a_flipped_byte_and_repairs_nothing(auth_world: World) -> None:
    import asyncio
    import os

    from arbitral.custody.actors import SCRUB_JOB

    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    body = make_pdf()
    item = (await upload(w, claimant, body)).json()["item"]
    path = next((w.runtime.settings.data_dir / "objects").rglob(item["sha256"]))
    os.chmod(path, 0o600)
    damaged = bytearray(path.read_bytes())
    damaged[20] ^= 0x01
    path.write_bytes(bytes(damaged))

    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.enqueue(SCRUB_JOB, {})
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    for _ in range(100):
        done = (
            await w.client.get(
                "/api/v1/audit-events", params={"action": "custody.scrub.completed"}, headers=admin
            )
        ).json()["items"]
        if done:
            break
        await asyncio.sleep(0.05)
    assert done, "the scrub job did not run"
    assert done[0]["outcome"] == "failure"
    problems = (
        await w.client.get(
            "/api/v1/audit-events", params={"action": "custody.scrub.problem"}, headers=admin
        )
    ).json()["items"]
    [problem] = [p["detail"]["problem"] for p in problems]
    assert f"leaf {item['leaf_index']}: object" in problem
    assert f"logged as {item['sha256']}" in problem
    assert path.read_bytes() == bytes(damaged)  # reported, never repaired
