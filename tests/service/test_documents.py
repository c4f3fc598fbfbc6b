"""Notices and certificates of service as signed PDF documents.

The notice of arbitration served on the respondent is also made as a signed PDF (a job,
after the notice is sent), told in the notice with its verification code, downloadable by
the respondent's side and the staff, not by the claimant's; once served, its certificate
of service (送达回证) is made the same way, naming the served PDF's SHA-256. One document
of each kind per request however often the job runs; without a document signer the text
notice is served all the same and the job fails naming the command that issues one.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from arbitral.audit.services import Actor
from arbitral.auth.domain import Role
from arbitral.keys.x509 import NoDocumentSignerError
from arbitral.service import documents
from arbitral.service import services as service
from arbitral.service.domain import CERTIFICATE_KIND, DOCUMENT_KINDS, Notice
from tests.cases.helpers import URL
from tests.service.helpers import serve_by_staff
from tests.service.test_notices import ROUND, TRIBUNAL, VIDEO
from tests.service.test_service import filed_and_paid, notice_of_arbitration, service_of, until
from tests.support.world import World

OPERATOR = Actor(kind="operator", id="tests")
RESPONDENT_NAME = "某某电子商务有限公司"


def _run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


async def documents_of(w: World, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    got = await w.client.get(f"{URL}/{case_id}/documents", headers=headers)
    assert got.status_code == 200, got.text
    found: list[dict[str, Any]] = got.json()
    return found


async def one_of(
    w: World, case_id: str, headers: dict[str, str], kind: str, request_id: str
) -> dict[str, Any]:
    """The request's document of ``kind``, once its job has made it."""
    found: list[dict[str, Any]] = []

    async def made() -> bool:
        found[:] = [
            d
            for d in await documents_of(w, case_id, headers)
            if d["kind"] == kind and d["service_request_id"] == request_id
        ]
        return bool(found)

    await until(made, seconds=60)
    (document,) = found
    return document


async def pdf_text(tmp_path: Path, pdf: bytes, name: str) -> tuple[str, str]:
    path = tmp_path / name
    path.write_bytes(pdf)
    return _run("pdfsig", "-nocert", str(path)), _run("pdftotext", "-layout", str(path), "-")


async def text_of(w: World, request_id: str) -> str:
    """The notice as served (email text, portal inbox body)."""
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT text FROM service_request WHERE tenant_id = {} AND id = {}",
            w.a.id,
            uuid.UUID(request_id),
        )
    return str(rows[0]["text"])


async def count_documents(w: World, request_id: str) -> dict[str, int]:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT kind, count(*) AS n FROM case_document WHERE tenant_id = {} "
            "AND service_request_id = {} GROUP BY kind",
            w.a.id,
            uuid.UUID(request_id),
        )
    return {str(r["kind"]): int(r["n"]) for r in rows}


async def test_the_notice_of_arbitration_and_its_certificate_are_signed_documents(
    auth_world: World, tmp_path: Path
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case_id, who = await filed_and_paid(w, respondent_phone=None)
    number = (await w.client.get(f"{URL}/{case_id}", headers=who["claimant"])).json()["number"]
    request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))

    # The respondent's side downloads its notice as a signed PDF.
    notice = await one_of(w, case_id, who["respondent"], "notice_of_arbitration", request["id"])
    assert notice["kind_zh"] == "仲裁通知书"
    assert notice["party_id"] == request["party_id"]
    got = await w.client.get(f"{URL}/{case_id}/documents/{notice['id']}", headers=who["respondent"])
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/pdf")
    pdf = got.content
    assert hashlib.sha256(pdf).hexdigest() == notice["sha256"]
    signature, text = await pdf_text(tmp_path, pdf, "notice.pdf")
    assert "Signature is Valid." in signature, signature
    assert "Total document signed" in signature, signature
    flat = "".join(text.split())  # pdftotext spaces out headings
    for expected in (number, RESPONDENT_NAME, "仲裁通知书", "本通知送达之日起15日内"):
        assert expected in flat, (expected, text[:2000])

    # The text notice (email, portal) told the party where it is and its code.
    code = notice["verification_code"]
    served_text = await text_of(w, request["id"])
    assert code in served_text
    assert f"/verify/{code}" in served_text

    # Anyone checks it by its code, or by the file, on the commission's public pages.
    slug = w.a.slug
    by_code = await w.client.get(f"/t/{slug}/documents/verify/{code}")
    assert by_code.status_code == 200, by_code.text
    assert by_code.json()["kind"] == "notice_of_arbitration"
    assert by_code.json()["kind_zh"] == "仲裁通知书"
    assert by_code.json()["case_number"] == number
    genuine = await w.client.post(f"/t/{slug}/documents/verify", content=pdf)
    assert genuine.json()["genuine"] is True, genuine.text
    page = await w.client.get(f"/t/{slug}/verify/{code}")
    assert page.status_code == 200
    assert "仲裁通知书" in page.text

    # The other side sees its own notices only; another commission nothing.
    claimants = await documents_of(w, case_id, who["claimant"])
    assert notice["id"] not in [d["id"] for d in claimants]
    assert {d["kind"] for d in claimants} <= {"notice_of_acceptance", CERTIFICATE_KIND}
    denied = await w.client.get(
        f"{URL}/{case_id}/documents/{notice['id']}", headers=who["claimant"]
    )
    assert denied.status_code == 404
    other = await w.login(w.b, next(iter(w.b.users)))
    assert (
        await w.client.get(f"{URL}/{case_id}/documents/{notice['id']}", headers=other)
    ).status_code == 404
    staff = await documents_of(w, case_id, who["secretary"])
    assert notice["id"] in [d["id"] for d in staff]
    assert (
        await w.client.get(f"{URL}/{case_id}/documents/{notice['id']}", headers=who["secretary"])
    ).status_code == 200
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        audited = await uow.fetch(
            "SELECT count(*) AS n FROM audit_event WHERE tenant_id = {} AND action = {} "
            "AND target_id = {}",
            w.a.id,
            "service.document.downloaded",
            notice["id"],
        )
    assert int(audited[0]["n"]) == 2

    # Served (here by post, recorded by the secretary): the certificate of service.
    await serve_by_staff(w, case_id, who["secretary"], "notice-of-arbitration")
    certificate = await one_of(w, case_id, who["respondent"], CERTIFICATE_KIND, request["id"])
    got = await w.client.get(
        f"{URL}/{case_id}/documents/{certificate['id']}", headers=who["respondent"]
    )
    assert got.status_code == 200, got.text
    signature, text = await pdf_text(tmp_path, got.content, "certificate.pdf")
    assert "Signature is Valid." in signature, signature
    flat = "".join(text.split())
    for expected in ("送达回证", number, RESPONDENT_NAME, "仲裁通知书", notice["sha256"]):
        assert expected in flat, (expected, text[:2000])
    by_code = await w.client.get(f"/t/{slug}/documents/verify/{certificate['verification_code']}")
    assert by_code.json()["kind_zh"] == "送达回证"

    # The respondent's inbox item carries the document.
    inbox = (await w.client.get("/api/v1/inbox", headers=who["respondent"])).json()
    (item,) = [i for i in inbox if i["notice"] == "notice-of-arbitration"]
    assert item["document_id"] == notice["id"]
    assert code in item["body"]

    # The job run again (twice at once) makes nothing more.
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    request_id = uuid.UUID(request["id"])
    again = await asyncio.gather(
        documents.make(w.runtime, tenant, request_id, "notice_of_arbitration"),
        documents.make(w.runtime, tenant, request_id, CERTIFICATE_KIND),
        documents.make(w.runtime, tenant, request_id, CERTIFICATE_KIND),
    )
    assert [str(d) for d in again] == [notice["id"], certificate["id"], certificate["id"]]
    assert await count_documents(w, request["id"]) == {
        "notice_of_arbitration": 1,
        CERTIFICATE_KIND: 1,
    }


async def test_without_a_signer_the_text_notice_is_served_and_no_document_made(
    auth_world: World,
) -> None:
    w = auth_world
    case_id, who = await filed_and_paid(w, respondent_phone=None)
    request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
    # No document is promised in the notice.
    served_text = await text_of(w, request["id"])
    assert "仲裁通知书" in served_text
    assert "核验码" not in served_text
    assert "verification code" not in served_text
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    request_id = uuid.UUID(request["id"])
    with pytest.raises(NoDocumentSignerError, match="arbitral keys issue-document-signer"):
        await documents.make(w.runtime, tenant, request_id, "notice_of_arbitration")

    # Service goes on: served, with its certificate (the text one), and no PDF.
    (served,) = await serve_by_staff(w, case_id, who["secretary"], "notice-of-arbitration")
    assert served["status"] == "served"
    certificates = (await service_of(w, case_id, who["secretary"]))["certificates"]
    assert request["id"] in [c["request_id"] for c in certificates]
    with pytest.raises(NoDocumentSignerError, match="issue-document-signer"):
        await documents.make(w.runtime, tenant, request_id, CERTIFICATE_KIND)
    assert await documents_of(w, case_id, who["secretary"]) == []
    assert await count_documents(w, request["id"]) == {}

    # Once the commission has a signer, the jobs (run twice at once here) make each once;
    # the certificate names the notice's PDF, made first.
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    await asyncio.gather(
        documents.make(w.runtime, tenant, request_id, CERTIFICATE_KIND),
        documents.make(w.runtime, tenant, request_id, "notice_of_arbitration"),
        documents.make(w.runtime, tenant, request_id, "notice_of_arbitration"),
    )
    assert await count_documents(w, request["id"]) == {
        "notice_of_arbitration": 1,
        CERTIFICATE_KIND: 1,
    }


@pytest.mark.parametrize(
    ("notice", "own", "expected"),
    [
        (Notice.TRIBUNAL, TRIBUNAL, ("组庭通知书", "本通知送达之日起5日内", "仲裁委员会主任指定")),
        (Notice.HEARING, VIDEO, ("开庭通知书", "视频开庭", VIDEO["link"], "2026年12月20日")),
        (
            Notice.HEARING,
            ROUND,
            ("开庭通知书", "网络异步审理", "异步审理：提问", "2026-12-0710:00"),
        ),
    ],
    ids=["constitution", "video", "round"],
)
async def test_notices_of_constitution_and_hearing_are_made_from_their_variables(
    auth_world: World,
    tmp_path: Path,
    notice: Notice,
    own: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case_id, who = await filed_and_paid(w, respondent_phone=None)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    arbitrator = w.a.users[Role.ARBITRATOR]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, appointed_at, "
            "appointed_by, chosen_by) VALUES ({}, {}, {}, {}, 'sole', {}, 'tests', 'commission')",
            uuid.uuid4(),
            w.a.id,
            uuid.UUID(case_id),
            arbitrator,
            w.runtime.clock.now(),
        )
        (party,) = await uow.fetch(
            "SELECT id FROM case_party WHERE tenant_id = {} AND case_id = {} "
            "AND side = 'respondent'",
            w.a.id,
            uuid.UUID(case_id),
        )
        (user,) = await uow.fetch(
            "SELECT display_name FROM tenant_user WHERE tenant_id = {} AND id = {}",
            w.a.id,
            arbitrator,
        )
        request_id = await service.start(
            uow,
            w.runtime,
            tenant,
            uuid.UUID(case_id),
            party["id"],
            notice,
            subject="t",
            variables=own,
        )
    kind = DOCUMENT_KINDS[notice.value]
    await documents.make(w.runtime, tenant, request_id, kind)
    document = await one_of(w, case_id, who["respondent"], kind, str(request_id))
    got = await w.client.get(
        f"{URL}/{case_id}/documents/{document['id']}", headers=who["respondent"]
    )
    assert got.status_code == 200, got.text
    signature, text = await pdf_text(tmp_path, got.content, "notice.pdf")
    assert "Signature is Valid." in signature, signature
    flat = "".join(text.split())
    for word in (*expected, RESPONDENT_NAME, "".join(str(user["display_name"]).split())):
        assert word in flat, (word, text[:2000])
    assert document["verification_code"] in await text_of(w, str(request_id))
