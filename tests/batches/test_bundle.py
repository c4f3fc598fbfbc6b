"""Contract bundles: a ZIP taken into custody file by file, and evidence found by hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from arbitral.auth.clients import ApiClientCreate, create_client
from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.batches import bundle
from arbitral.batches.bundle import FIND_CHUNK_SQLITE, find_evidence
from arbitral.custody.inspect import ArchiveLimits, InspectionError, inspect_bundle
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.custody.test_inspect import make_pdf, make_png, make_zip
from tests.support.world import Tenant, World

__all__ = ["auth_world", "cheap_password_hashing"]

URL = "/api/v1/bundles"
ALLOWED = ("application/pdf", "image/png", "application/zip")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def contract(number: str) -> bytes:
    """A PDF of its own for each loan (its bytes differ, so its hash does)."""
    return make_pdf().replace(b"/Count 0", f"/Count 0 /Loan ({number})".encode())


def encrypted(data: bytes) -> bytes:
    """Set the "encrypted" flag in both headers of a one-entry ZIP, as a tool would."""
    raw = bytearray(data)
    raw[6] |= 0x1
    raw[raw.rfind(b"PK\x01\x02") + 8] |= 0x1
    return bytes(raw)


def bomb() -> bytes:
    return make_zip([("L001/合同.pdf", contract("L001")), ("zeros.pdf", b"\0" * (16 << 20))])


async def send(w: World, headers: dict[str, str], body: bytes, **extra: str) -> Any:
    return await w.client.post(
        URL, content=body, headers={**headers, **extra, "content-type": "application/zip"}
    )


async def lender(w: World, tenant: Tenant | None = None) -> dict[str, str]:
    return (await lender_client(w, tenant))[0]


async def lender_client(w: World, tenant: Tenant | None = None) -> tuple[dict[str, str], str]:
    """A lender's system that sends evidence (the world's lender files cases only)."""
    tenant = tenant or w.a
    created = await create_client(
        w.runtime,
        Principal.operator(tenant.id, "tests"),
        ApiClientCreate(
            name=f"evidence lender of {tenant.slug}",
            kind=ClientKind.LENDER,
            scopes=["tenant:read", "evidence:submit", "batches:submit"],
        ),
    )
    response = await w.client.post(
        f"/t/{tenant.slug}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created.client.client_id, created.client_secret),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    return {"authorization": f"Bearer {token}"}, created.client.client_id


async def holdings(w: World, tenant: Tenant) -> tuple[int, int, int]:
    """(custody rows, ledger leaves, stored objects) of ``tenant``."""
    async with w.runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        items = await uow.fetch(
            "SELECT count(*) AS n FROM custody_object WHERE tenant_id = {}", tenant.id
        )
        leaves = await uow.fetch(
            "SELECT count(*) AS n FROM ledger_leaf WHERE tenant_id = {}", tenant.id
        )
    objects = w.runtime.settings.data_dir / "objects" / str(tenant.id)
    stored = len([p for p in objects.rglob("*") if p.is_file()]) if objects.exists() else 0
    return int(items[0]["n"]), int(leaves[0]["n"]), stored


async def test_a_lender_sends_a_bundle_and_gets_a_manifest(auth_world: World) -> None:
    w = auth_world
    headers, client_id = await lender_client(w)
    pdf1, pdf2, png = contract("L001"), contract("L002"), make_png()
    body = make_zip(
        [
            ("L001/借款合同.pdf", pdf1),
            ("L001/身份证.png", png),
            ("L002/借款合同.pdf", pdf2),
            ("L002/身份证.png", png),  # the same bytes again: one item
            ("L002/放款凭证.pdf", make_png()),  # a PNG named .pdf
            ("L002/tool.exe", b"MZ" + bytes(200)),  # not evidence
            ("L003/合同.pdf", make_pdf(eof=False)),  # cut short
            ("L003/empty.pdf", b""),
            ("__MACOSX/L001/._借款合同.pdf", b"\x00\x05\x16\x07" + bytes(40)),
            (
                "manifest.json",
                json.dumps(
                    {"L001/借款合同.pdf": {"title": "借款合同 L001", "proves": "借款关系"}}
                ).encode(),
            ),
        ]
    )
    before = await holdings(w, w.a)
    response = await send(w, headers, body, **{"x-content-sha256": sha(body)})
    assert response.status_code == 201, response.text
    manifest = response.json()
    assert manifest["sha256"] == sha(body)
    assert manifest["size"] == len(body)
    items = {i["name"]: i for i in manifest["items"]}
    assert list(items) == [
        "L001/借款合同.pdf",
        "L001/身份证.png",
        "L002/借款合同.pdf",
        "L002/身份证.png",
    ]
    assert items["L001/借款合同.pdf"]["sha256"] == sha(pdf1)
    assert items["L001/借款合同.pdf"]["size"] == len(pdf1)
    assert items["L001/借款合同.pdf"]["media_type"] == "application/pdf"
    assert items["L001/身份证.png"]["media_type"] == "image/png"
    assert items["L002/借款合同.pdf"]["sha256"] == sha(pdf2)
    assert items["L002/身份证.png"]["item_id"] == items["L001/身份证.png"]["item_id"]
    assert [i["new"] for i in items.values()] == [True, True, True, False]
    refused = {r["name"]: r["rule"] for r in manifest["refused"]}
    assert refused == {
        "L002/放款凭证.pdf": "type_mismatch",
        "L002/tool.exe": "type_not_allowed",
        "L003/合同.pdf": "corrupt",
        "L003/empty.pdf": "empty",
    }
    assert all(r["message"] for r in manifest["refused"])
    assert manifest["skipped"] == ["__MACOSX/L001/._借款合同.pdf", "manifest.json"]
    # Three items, three leaves, three objects: nothing of the refused files.
    assert await holdings(w, w.a) == (before[0] + 3, before[1] + 3, before[2] + 3)

    # Each item is an upload like any other: its record, its receipt, the lender as submitter.
    first = items["L001/借款合同.pdf"]["item_id"]
    shown = await w.client.get(f"/api/v1/custody/items/{first}", headers=headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["filename"] == "借款合同.pdf"
    assert shown.json()["title"] == "借款合同 L001"
    assert shown.json()["proves"] == "借款关系"
    assert shown.json()["submitted_by"] == client_id
    second = await w.client.get(
        f"/api/v1/custody/items/{items['L002/借款合同.pdf']['item_id']}", headers=headers
    )
    assert second.json()["title"] == "L002/借款合同.pdf"
    receipt = await w.client.get(f"/api/v1/custody/items/{first}/receipt", headers=headers)
    assert receipt.status_code == 200
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        events = await uow.fetch(
            "SELECT action, target_id FROM audit_event WHERE tenant_id = {} "
            "AND action IN ('custody.object.received', 'custody.bundle.received')",
            w.a.id,
        )
    received = [e for e in events if e["action"] == "custody.object.received"]
    assert {str(e["target_id"]) for e in received} >= {i["item_id"] for i in items.values()}
    assert [e["target_id"] for e in events if e["action"] == "custody.bundle.received"] == [
        sha(body)
    ]

    # Sent again (a retry): the same items, nothing recorded twice.
    again = await send(w, headers, body)
    assert again.status_code == 201, again.text
    assert [(i["name"], i["item_id"]) for i in again.json()["items"]] == [
        (name, i["item_id"]) for name, i in items.items()
    ]
    assert not any(i["new"] for i in again.json()["items"])
    assert again.json()["refused"] == manifest["refused"]
    assert await holdings(w, w.a) == (before[0] + 3, before[1] + 3, before[2] + 3)

    # Two identical bundles at once still make one item per file.
    twins = make_zip([("L004/合同.pdf", contract("L004")), ("L005/合同.pdf", contract("L005"))])
    one, other = await asyncio.gather(send(w, headers, twins), send(w, headers, twins))
    assert one.status_code == other.status_code == 201, (one.text, other.text)
    assert [i["item_id"] for i in one.json()["items"]] == [
        i["item_id"] for i in other.json()["items"]
    ]
    assert sorted(i["new"] for i in one.json()["items"] + other.json()["items"]) == [
        False,
        False,
        True,
        True,
    ]
    assert await holdings(w, w.a) == (before[0] + 5, before[1] + 5, before[2] + 5)


async def test_bundles_refused_whole_leave_nothing(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    good = ("L001/合同.pdf", contract("L001"))
    cases: list[tuple[str, bytes, dict[str, str], str, str, str | None]] = [
        # (what, body, headers, field, rule, entry)
        ("a zip bomb", bomb(), {}, "file/zeros.pdf", "archive_ratio", "zeros.pdf"),
        (
            "a path climbing out",
            make_zip([good, ("../../etc/合同.pdf", make_pdf())]),
            {},
            "file/../../etc/合同.pdf",
            "archive_path",
            "../../etc/合同.pdf",
        ),
        (
            "two entries of one name",
            make_zip([good, ("l001/合同.PDF", make_pdf())]),
            {},
            "file/l001/合同.PDF",
            "archive_path",
            "l001/合同.PDF",
        ),
        (
            "an encrypted entry",
            encrypted(make_zip([good])),
            {},
            "file/L001/合同.pdf",
            "archive_encrypted",
            "L001/合同.pdf",
        ),
        ("a PDF, not a ZIP", make_pdf(), {}, "file", "type_not_allowed", None),
        ("bytes of no type", b"\x01\x02 not a zip at all", {}, "file", "type_unknown", None),
        (
            "a ZIP cut short",
            make_zip([good])[:-30],
            {},
            "file",
            "corrupt",
            None,
        ),
        (
            "a malformed manifest.json",
            make_zip(
                [good, ("manifest.json", json.dumps({"L001/合同.pdf": {"kind": 1}}).encode())]
            ),
            {},
            "file/manifest.json",
            "manifest",
            "manifest.json",
        ),
        (
            "a hash that is not the declared one",
            make_zip([good]),
            {"x-content-sha256": "0" * 64},
            "sha256",
            "mismatch",
            None,
        ),
    ]
    before = await holdings(w, w.a)
    for what, body, extra, field, rule, entry in cases:
        response = await send(w, headers, body, **extra)
        assert response.status_code == 422, (what, response.text)
        problem = response.json()
        assert problem["errors"][0]["field"] == field, (what, problem)
        assert problem["errors"][0]["rule"] == rule, (what, problem)
        assert problem.get("entry") == entry, (what, problem)
    assert await holdings(w, w.a) == before
    # Past the rule set's archive limit (declared), before a byte is read.
    big = await send(w, headers, make_zip([good]), **{"content-length": str(1 << 50)})
    assert big.status_code == 413, big.text

    # Bundles are for lenders' systems: a party or a trading platform is refused...
    claimant = await w.login(w.a, Role.CLAIMANT)
    assert (await send(w, claimant, make_zip([good]))).status_code == 403
    platform = {"authorization": f"Bearer {await w.token(w.a, ClientKind.TRADING_PLATFORM)}"}
    assert (await send(w, platform, make_zip([good]))).status_code == 403
    # ...and staff hold no evidence:submit.
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await send(w, secretary, make_zip([good]))).status_code == 403
    assert await holdings(w, w.a) == before


async def test_find_evidence_finds_the_tenants_newest_item_per_hash(auth_world: World) -> None:
    w = auth_world
    pdf, png = contract("L010"), make_png(5, 7)
    headers, client_id = await lender_client(w)
    response = await send(w, headers, make_zip([("a.pdf", pdf), ("b.png", png)]))
    assert response.status_code == 201, response.text
    ids = {i["sha256"]: i["item_id"] for i in response.json()["items"]}
    # The same PDF uploaded later by a party: a newer item of that hash.
    claimant = await w.login(w.a, Role.CLAIMANT)
    newer = await w.client.post(
        "/api/v1/custody/items",
        params={"filename": "合同.pdf", "title": "合同"},
        content=pdf,
        headers={**claimant, "content-type": "application/pdf"},
    )
    assert newer.status_code == 201, newer.text
    # Tenant B's lender holds another file.
    other = contract("B-1")
    in_b = await send(w, await lender(w, w.b), make_zip([("b.pdf", other)]))
    assert in_b.status_code == 201, in_b.text

    unknown = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(2 * FIND_CHUNK_SQLITE)]
    wanted = [*unknown[:700], sha(pdf), *unknown[700:], sha(png), sha(other)]
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        found = await find_evidence(uow, w.a.id, wanted, submitted_by=None)
        assert await find_evidence(uow, w.a.id, [], submitted_by=None) == {}
        # A batch's rows cite only what its lender took in: the lender's own item.
        lenders = await find_evidence(uow, w.a.id, wanted, submitted_by=client_id)
    assert {k: str(v) for k, v in found.items()} == {
        sha(pdf): newer.json()["item"]["id"],
        sha(png): ids[sha(png)],
    }
    assert {k: str(v) for k, v in lenders.items()} == {
        sha(pdf): ids[sha(pdf)],
        sha(png): ids[sha(png)],
    }
    async with w.runtime.db.transaction(tenant_id=w.b.id, readonly=True) as uow:
        in_tenant_b = await find_evidence(uow, w.b.id, wanted, submitted_by=None)
    assert {k: str(v) for k, v in in_tenant_b.items()} == {
        sha(other): in_b.json()["items"][0]["item_id"]
    }


# --- the archive check itself (no database) -----------------------------------------------


def bundle_of(tmp_path: Path, data: bytes, **limits: int) -> Any:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return inspect_bundle(path, allowed=ALLOWED, limits=ArchiveLimits(**limits))


def refused_whole(tmp_path: Path, data: bytes, rule: str, **limits: int) -> InspectionError:
    with pytest.raises(InspectionError) as caught:
        bundle_of(tmp_path, data, **limits)
    assert caught.value.rule == rule, caught.value.message
    return caught.value


def test_a_nested_zip_is_an_entry_and_counts_as_a_level(tmp_path: Path) -> None:
    inner = make_zip([("x.pdf", make_pdf())])
    entries = bundle_of(tmp_path, make_zip([("scans.zip", inner)]), max_depth=1)
    assert [(e.name, e.detected.media_type, e.sha256) for e in entries] == [
        ("scans.zip", "application/zip", sha(inner))
    ]
    # The bundle is a container itself: a ZIP in a ZIP in it is one level too deep.
    deeper = make_zip([("scans.zip", make_zip([("more.zip", inner)]))])
    error = refused_whole(tmp_path, deeper, "archive_depth", max_depth=1)
    assert error.entry == ("scans.zip", "more.zip")
    # A nested ZIP holding a file of a type not allowed is that entry's refusal only.
    mixed = make_zip(
        [("a.pdf", make_pdf()), ("scans.zip", make_zip([("x.exe", b"MZ" + bytes(99))]))]
    )
    entries = bundle_of(tmp_path, mixed, max_depth=1)
    assert entries[0].error is None
    assert entries[1].error is not None
    assert entries[1].error.rule == "type_not_allowed"


def test_a_forged_entry_refuses_the_bundle_a_damaged_file_only_itself(tmp_path: Path) -> None:
    pdf = make_pdf()
    data = bytearray(make_zip([("a.pdf", pdf), ("b.pdf", pdf)], compression=zipfile.ZIP_STORED))
    # Damage the bytes of b.pdf inside the archive: its CRC no longer matches.
    at = data.rfind(b"%%EOF")
    data[at : at + 5] = b"%%EOX"
    error = refused_whole(tmp_path, bytes(data), "corrupt")
    assert error.entry == ("b.pdf",)
    assert "CRC" in error.message
    # Too many entries, counted over every level.
    many = make_zip([(f"{n}.pdf", make_pdf()) for n in range(6)])
    refused_whole(tmp_path, many, "archive_entries", max_entries=5)
    # The total budget, over every entry.
    big = make_zip([(f"{n}.pdf", contract(str(n)) + bytes(400_000)) for n in range(3)])
    refused_whole(tmp_path, big, "archive_size", max_total_uncompressed=1_000_000)


async def test_a_twin_recorded_meanwhile_is_found_under_the_log_lock(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before storing can miss a twin bundle's item that commits just after it;
    the check in the item's transaction (after the log is locked) cannot."""
    w = auth_world
    headers = await lender(w)
    body = make_zip([("L020/合同.pdf", contract("L020"))])
    first = await send(w, headers, body)
    assert first.status_code == 201, first.text
    before = await holdings(w, w.a)
    checked_in_transaction: list[bool] = []
    original = bundle.held_by

    async def missed_before_storing(*args: Any, besides: Any = None) -> Any:
        checked_in_transaction.append(besides is not None)
        return None if besides is None else await original(*args, besides=besides)

    monkeypatch.setattr(bundle, "held_by", missed_before_storing)
    again = await send(w, headers, body)
    assert again.status_code == 201, again.text
    assert checked_in_transaction == [False, True]
    assert again.json()["items"][0]["item_id"] == first.json()["items"][0]["item_id"]
    assert again.json()["items"][0]["new"] is False
    assert await holdings(w, w.a) == before  # the second item and its leaf rolled back
