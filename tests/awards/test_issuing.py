"""Issuing an award: rendered, signed, kept and logged once; verified by anyone."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import uuid
import zlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arbitral.audit.services import Actor
from arbitral.awards import issuing
from arbitral.custody.cli import verify as evidence_verify
from arbitral.documents.verify import verify_pdf_async
from arbitral.keys.documents import trust_anchors
from tests.awards.helpers import AWARDS, COMPLETE, awards_url, ready_case
from tests.hearings.helpers import Who, history, state_of, wait_for
from tests.support.world import World

OPERATOR = Actor(kind="operator", id="tests")


async def _approved(w: World, case_id: str, tribunal: dict[str, str], path: str = "") -> Any:
    drafted = await w.client.post(path or awards_url(case_id), json=COMPLETE, headers=tribunal)
    assert drafted.status_code == 201, drafted.text
    award = drafted.json()
    voted = await w.client.post(
        f"{AWARDS}/{award['id']}/votes",
        json={"vote": "concur", "content_sha256": award["content_sha256"]},
        headers=tribunal,
    )
    assert voted.json()["status"] == "approved", voted.text
    return voted.json()


async def _issued(w: World, award_id: str, who: Who) -> dict[str, Any]:
    issuing_ = await w.client.post(f"{AWARDS}/{award_id}/issue", headers=who["secretary"])
    assert issuing_.status_code == 202, issuing_.text
    found: dict[str, Any] = {}

    async def done() -> bool:
        got = await w.client.get(f"{AWARDS}/{award_id}", headers=who["arbitrator"])
        found.update(got.json())
        return bool(got.json()["status"] == "issued")

    await wait_for(done, seconds=60)
    return found


def _run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


async def test_an_award_is_issued_once_signed_and_verifiable_by_anyone(
    auth_world: World, tmp_path: Path
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await ready_case(w)
    case_id = case["id"]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:  # decided with the claim
        await uow.execute(
            "INSERT INTO case_counterclaim (id, tenant_id, case_id, claims, amount, "
            "facts_and_reasons, sha256, status, filed_by, filed_at, paid_at) VALUES "
            "({}, {}, {}, {}, {}, '', {}, 'standing', 'tests', {}, {})",
            uuid.uuid4(),
            w.a.id,
            uuid.UUID(case_id),
            "请求申请人赔偿名誉损失300元",
            Decimal("300.00"),
            "0" * 64,
            w.runtime.clock.now(),
            w.runtime.clock.now(),
        )
    award = await _approved(w, case_id, who["arbitrator"])
    award = await _issued(w, award["id"], who)
    document = award["document"]
    assert document["pages"] >= 1
    assert award["effective_on"] is not None
    assert await state_of(w, case_id, who["claimant"]) == "awarded"
    assert "issue_award" in [e["command"] for e in await history(w, case_id, who["claimant"])]

    # It is served on both parties through the ladder, like every notice.
    served = await w.client.get(f"/api/v1/cases/{case_id}/service", headers=who["secretary"])
    notices = [r for r in served.json()["requests"] if r["notice"] == "notice-of-award"]
    assert len(notices) == 2, served.text
    assert {r["title"] for r in notices} == {"裁决书送达通知"}

    # The parties now see it, and download the signed PDF (audited).
    listed = await w.client.get(awards_url(case_id), headers=who["respondent"])
    assert [a["id"] for a in listed.json()] == [award["id"]]
    assert listed.json()[0]["votes"] == []  # as the document shows it: no votes
    assert award["votes"]  # the tribunal's view keeps them
    got = await w.client.get(f"{AWARDS}/{award['id']}/document", headers=who["respondent"])
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/pdf")
    pdf = got.content
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"]
    other = await w.login(w.b, next(iter(w.b.users)))
    assert (
        await w.client.get(f"{AWARDS}/{award['id']}/document", headers=other)
    ).status_code == 404

    # Its receipt (leaf, signed head, proof) checks out offline against the file.
    receipt = await w.client.get(f"{AWARDS}/{award['id']}/receipt", headers=who["respondent"])
    assert receipt.status_code == 200, receipt.text
    keys = await w.client.get(f"/t/{w.a.slug}/.well-known/ledger-keys.json")
    (tmp_path / "receipt.json").write_text(receipt.text)
    (tmp_path / "keys.json").write_text(keys.text)
    (tmp_path / "award-for-receipt.pdf").write_bytes(pdf)
    checked_offline = CliRunner().invoke(
        evidence_verify,
        [
            str(tmp_path / "award-for-receipt.pdf"),
            str(tmp_path / "receipt.json"),
            "--keys",
            str(tmp_path / "keys.json"),
        ],
    )
    assert checked_offline.exit_code == 0, checked_offline.output

    # Independent tools, and our own verifier, accept it.
    checked = await verify_pdf_async(pdf, await trust_anchors(w.runtime.db, w.a.id))
    assert checked.genuine, checked.detail
    assert checked.verification_code == document["verification_code"]
    path = tmp_path / "award.pdf"
    path.write_bytes(pdf)
    report = _run("pdfsig", "-nocert", str(path))
    assert "Signature is Valid." in report, report
    assert "Total document signed" in report, report
    text = _run("pdftotext", "-layout", str(path), "-")
    number = (await w.client.get(f"/api/v1/cases/{case_id}", headers=who["claimant"])).json()[
        "number"
    ]
    for expected in (
        number,
        "张三",
        "某某电子商务有限公司",
        "2,500.00",
        "广州",
        "赔偿名誉损失300元",
    ):
        assert expected in text, (expected, text[:2000])
    fonts = _run("pdffonts", str(path)).splitlines()[2:]
    assert fonts
    assert all(" yes " in line for line in fonts), fonts

    # Anyone checks it on the commission's public pages, by code or by file.
    slug = w.a.slug
    by_code = await w.client.get(f"/t/{slug}/documents/verify/{document['verification_code']}")
    assert by_code.status_code == 200, by_code.text
    assert by_code.json()["case_number"] == number
    assert by_code.json()["sha256"] == document["sha256"]
    genuine = await w.client.post(f"/t/{slug}/documents/verify", content=pdf)
    assert genuine.json()["genuine"] is True, genuine.text
    altered = bytearray(pdf)
    at = len(pdf) // 3
    altered[at] ^= 0x01
    forged = await w.client.post(f"/t/{slug}/documents/verify", content=bytes(altered))
    assert forged.status_code == 200
    assert forged.json()["genuine"] is False
    # Whatever the file, a verdict, never a 500: not a PDF, a mangled signature.
    mangled = re.sub(
        rb"/ByteRange\s*\[[^\]]*\]",
        lambda m: b"/ByteRange [/a /b /c /d]".ljust(len(m.group(0))),
        pdf,
        count=1,
    )
    for body in (b"hello", mangled):
        odd = await w.client.post(f"/t/{slug}/documents/verify", content=body)
        assert odd.status_code == 200, odd.text
        assert odd.json()["genuine"] is False
    page = await w.client.get(f"/t/{slug}/verify/{document['verification_code']}")
    assert page.status_code == 200
    assert number in page.text
    form = await w.client.post(
        f"/t/{slug}/verify", files={"file": ("a.pdf", pdf, "application/pdf")}
    )
    assert form.status_code == 200, form.text
    assert "真实有效" in form.text
    nothing = await w.client.get(f"/t/{slug}/verify/AAAA-BBBB-CCCC-DDDD")
    assert nothing.status_code == 404
    bad = await w.client.get(f"/t/{slug}/documents/verify/not-a-code")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "code"

    # The job run again does nothing: one document, one leaf.
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    assert await issuing.issue(w.runtime, tenant, uuid.UUID(award["id"])) is False
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT count(*) AS n FROM case_document WHERE tenant_id = {} AND case_id = {} "
            "AND award_id IS NOT NULL",  # the notices served are documents of their own
            w.a.id,
            uuid.UUID(case_id),
        )
    assert int(rows[0]["n"]) == 1

    # A clerical error is corrected by a new, linked award; the original stays as it was.
    corrected = await w.client.post(
        f"{AWARDS}/{award['id']}/corrections",
        json={"reason": "裁决地点笔误", "place": "广州市"},
        headers=who["arbitrator"],
    )
    assert corrected.status_code == 201, corrected.text
    correction = corrected.json()
    assert correction["kind"] == "correction"
    assert correction["corrects_id"] == award["id"]
    voted = await w.client.post(
        f"{AWARDS}/{correction['id']}/votes",
        json={"vote": "concur", "content_sha256": correction["content_sha256"]},
        headers=who["arbitrator"],
    )
    assert voted.json()["status"] == "approved"
    correction = await _issued(w, correction["id"], who)
    assert correction["document"]["verification_code"] != document["verification_code"]
    assert await state_of(w, case_id, who["claimant"]) == "awarded"
    original = await w.client.get(f"{AWARDS}/{award['id']}", headers=who["claimant"])
    assert original.json()["document"]["sha256"] == document["sha256"]
    assert original.json()["content"]["place"] == "广州"


async def test_without_a_signing_key_nothing_is_issued(auth_world: World) -> None:
    w = auth_world
    case, who = await ready_case(w)
    award = await _approved(w, case["id"], who["arbitrator"])
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    from arbitral.keys.documents import NoDocumentSignerError

    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE award SET status = 'issuing' WHERE tenant_id = {} AND id = {}",
            w.a.id,
            uuid.UUID(award["id"]),
        )
    with pytest.raises(NoDocumentSignerError, match="issue-document-signer"):
        await issuing.issue(w.runtime, tenant, uuid.UUID(award["id"]))
    got = (await w.client.get(f"{AWARDS}/{award['id']}", headers=who["arbitrator"])).json()
    assert got["status"] == "issuing"
    assert got["document"] is None
    assert await state_of(w, case["id"], who["claimant"]) == "ready_for_award"


async def test_two_runs_at_once_render_and_sign_once(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await ready_case(w)
    award = await _approved(w, case["id"], who["arbitrator"])
    award_id = uuid.UUID(award["id"])
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE award SET status = 'issuing' WHERE tenant_id = {} AND id = {}",
            w.a.id,
            award_id,
        )
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    rendered: list[str] = []
    real = issuing.render_pdf

    def counting(document: Any, templates: Any) -> bytes:
        rendered.append(document.verification_code)
        return real(document, templates)

    monkeypatch.setattr(issuing, "render_pdf", counting)
    first, second = await asyncio.gather(
        issuing.issue(w.runtime, tenant, award_id),
        issuing.issue(w.runtime, tenant, award_id),
        return_exceptions=True,
    )
    outcomes = sorted([first, second], key=repr)
    assert True in outcomes, outcomes
    assert any(isinstance(o, issuing.IssueInProgress) for o in outcomes), outcomes
    assert len(rendered) == 1
    # The retry of the run that waited finds it issued, and renders nothing.
    assert await issuing.issue(w.runtime, tenant, award_id) is False
    assert len(rendered) == 1


async def test_a_failed_run_gives_the_lease_back(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await ready_case(w)
    award = await _approved(w, case["id"], who["arbitrator"])
    award_id = uuid.UUID(award["id"])
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE award SET status = 'issuing' WHERE tenant_id = {} AND id = {}",
            w.a.id,
            award_id,
        )
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    real = issuing.render_pdf

    def broken(document: Any, templates: Any) -> bytes:
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr(issuing, "render_pdf", broken)
    with pytest.raises(RuntimeError, match="the renderer broke"):
        await issuing.issue(w.runtime, tenant, award_id)
    monkeypatch.setattr(issuing, "render_pdf", real)
    assert await issuing.issue(w.runtime, tenant, award_id) is True  # no lease left behind


def _bomb_pdf(decoded_mib: int) -> bytes:
    """A small PDF whose metadata stream decompresses to ``decoded_mib`` MiB of zeros."""
    compressor = zlib.compressobj(9)
    chunk = b"\0" * (16 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(decoded_mib // 16))
    data += compressor.flush()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R/Metadata 3 0 R>>",
        b"<</Type/Pages/Kids[]/Count 0>>",
        b"<</Type/Metadata/Subtype/XML/Filter/FlateDecode/Length %d>>\nstream\n" % len(data)
        + data
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def test_a_decompression_bomb_is_checked_apart_and_found_unreadable(
    auth_world: World,
) -> None:
    """A 200 KB file that decompresses to 200 MiB: checked in a process of its own (the
    server's memory is not the file's to take), and answered, not crashed on."""
    w = auth_world
    bomb = _bomb_pdf(200)
    assert len(bomb) < 1 << 20
    answer = await w.client.post(f"/t/{w.a.slug}/documents/verify", content=bomb)
    assert answer.status_code == 200, answer.text
    assert answer.json()["genuine"] is False
    assert answer.json()["reason"] in ("unsigned", "unreadable")


async def test_an_issue_whose_job_gave_up_is_asked_for_again(auth_world: World) -> None:
    """The job failed every time (or the case was suspended while it was queued): once the
    award has sat in issuing for a while with no run holding it, the secretary asks again."""
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await ready_case(w)
    award = await _approved(w, case["id"], who["arbitrator"])
    stale = w.runtime.clock.now() - timedelta(minutes=10)
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:  # as a dead job leaves it
        await uow.execute(
            "UPDATE award SET status = 'issuing', issue_requested_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            stale,
            w.a.id,
            uuid.UUID(award["id"]),
        )
    issued = await _issued(w, award["id"], who)
    assert issued["document"] is not None
    again = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=who["secretary"])
    assert again.status_code == 409  # issued: nothing to ask for
