"""Consent awards and mediation statements: made on a settlement agreement signed by both
sides, voted on and issued like an award, verified by anyone."""

from __future__ import annotations

import hashlib
import re
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.audit.services import Actor
from arbitral.awards import domain, issuing
from arbitral.documents.verify import verify_pdf_async
from arbitral.keys.documents import trust_anchors
from arbitral.settlement.domain import MAX_TERMS
from tests.awards.helpers import (
    AWARDS,
    arbitrator_login,
    awards_url,
    record_settlement,
    signed_agreement,
)
from tests.hearings.helpers import Who, constituted_case, history, state_of, wait_for
from tests.support.world import World

OPERATOR = Actor(kind="operator", id="tests")
TERMS = (
    "经仲裁庭主持调解，双方当事人自愿达成如下协议：\n"
    "一、被申请人于2026年12月31日前向申请人退还货款1,999.90元；\n"
    "二、被申请人另行赔偿申请人运费及损失500元，\n"
    "    与上项款项一并支付；\n"
    "三、申请人放弃其他仲裁请求。"
)
EXPECTED_ITEMS = [
    "被申请人于2026年12月31日前向申请人退还货款1,999.90元",
    "被申请人另行赔偿申请人运费及损失500元，与上项款项一并支付",
    "申请人放弃其他仲裁请求",
]


def _run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


async def _draft(w: World, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await w.client.post(awards_url(case_id), json=body, headers=headers)


async def _three_member(w: World, case_id: str) -> list[dict[str, str]]:
    """The world's arbitrator presiding, two new members beside: their logins."""
    members = [await arbitrator_login(w, w.a, name) for name in ("李仲裁", "王仲裁")]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE tribunal_member SET role = 'presiding' WHERE tenant_id = {} AND case_id = {}",
            w.a.id,
            uuid.UUID(case_id),
        )
        for user_id, _ in members:
            await uow.execute(
                "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, "
                "appointed_at, appointed_by, chosen_by) VALUES ({}, {}, {}, {}, 'member', {}, "
                "'tests', 'commission')",
                uuid.uuid4(),
                w.a.id,
                uuid.UUID(case_id),
                user_id,
                w.runtime.clock.now(),
            )
    return [headers for _, headers in members]


async def _issued(w: World, award_id: str, who: Who) -> dict[str, Any]:
    asked = await w.client.post(f"{AWARDS}/{award_id}/issue", headers=who["secretary"])
    assert asked.status_code == 202, asked.text
    found: dict[str, Any] = {}

    async def done() -> bool:
        got = await w.client.get(f"{AWARDS}/{award_id}", headers=who["arbitrator"])
        found.update(got.json())
        return bool(got.json()["status"] == "issued")

    await wait_for(done, seconds=60)
    return found


@pytest.mark.parametrize(
    ("kind", "title", "effect"),
    [
        ("consent_award", "裁决书", "第五十七条"),
        ("mediation_statement", "调解书", "第五十二条"),
    ],
)
async def test_a_settlement_signed_by_both_becomes_a_signed_document(
    auth_world: World, tmp_path: Path, kind: str, title: str, effect: str
) -> None:
    w = auth_world
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await constituted_case(w)
    case_id, writer = case["id"], who["arbitrator"]
    # The consent award before a three-member tribunal (a majority decides), the mediation
    # statement before a sole arbitrator.
    members = await _three_member(w, case_id) if kind == "consent_award" else []
    other = "mediation_statement" if kind == "consent_award" else "consent_award"

    # Nothing signed yet: nothing to make a document of.
    unsigned = await _draft(w, case_id, writer, kind=kind)
    assert unsigned.status_code == 409, unsigned.text
    assert unsigned.json()["errors"][0]["rule"] == "signed_agreement"

    agreement = await signed_agreement(w, case_id, who, outcome=kind, text=TERMS, record=False)
    digest = hashlib.sha256(TERMS.encode()).hexdigest()
    assert agreement["sha256"] == digest

    # Only the sole or presiding arbitrator writes it; the agreement decides its kind.
    for someone in ("secretary", "claimant"):
        forbidden = await _draft(w, case_id, who[someone], kind=kind)
        assert forbidden.status_code in (403, 404), forbidden.text  # no cases:decide
    member = members[0] if members else None
    if member is not None:
        not_writer = await _draft(w, case_id, member, kind=kind)
        assert not_writer.status_code == 403, not_writer.text
        assert not_writer.json()["errors"][0]["rule"] == "tribunal"
    wrong = await _draft(w, case_id, writer, kind=other)
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["errors"][0]["rule"] == "outcome"
    unknown = await _draft(w, case_id, writer, kind="correction")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "$.kind"

    # Drafted on the signed agreement: its terms as the decision items, the agreement kept.
    drafted = await _draft(w, case_id, writer, kind=kind)
    assert drafted.status_code == 201, drafted.text
    award = drafted.json()
    assert award["kind"] == kind
    assert [item["text"] for item in award["content"]["decision"]] == EXPECTED_ITEMS
    assert award["content"]["agreement"]["id"] == agreement["id"]
    assert award["content"]["agreement"]["sha256"] == digest
    fees = award["content"]["fees"]
    assert fees["respondent"] == fees["total"]
    assert [m["field"] for m in award["missing"]] == ["$.place"]  # no facts nor reasoning
    again = await _draft(w, case_id, writer, kind=kind)
    assert again.status_code == 409
    assert again.json()["errors"][0]["rule"] == "document_exists"
    for party in ("claimant", "respondent"):
        hidden = await w.client.get(f"{AWARDS}/{award['id']}", headers=who[party])
        assert hidden.status_code == 404

    revised = await w.client.patch(
        f"{AWARDS}/{award['id']}",
        json={"if_version": 1, "place": "广州", "fees": {"claimant": fees["respondent"]}},
        headers=writer,
    )
    assert revised.status_code == 200, revised.text
    award = revised.json()
    assert award["missing"] == []
    assert award["content"]["agreement"]["sha256"] == digest  # a revision keeps it
    assert award["content"]["fees"]["respondent"] == "0.00"
    voted = await w.client.post(
        f"{AWARDS}/{award['id']}/votes",
        json={"vote": "concur", "content_sha256": award["content_sha256"]},
        headers=writer,
    )
    assert voted.status_code == 200, voted.text
    if members:
        assert voted.json()["status"] == "draft"  # one of three: no majority yet
        voted = await w.client.post(
            f"{AWARDS}/{award['id']}/votes",
            json={"vote": "concur", "content_sha256": award["content_sha256"]},
            headers=members[1],
        )
        assert voted.status_code == 200, voted.text
    assert voted.json()["status"] == "approved"

    # Issued once the settlement is recorded: the case is settled by that agreement.
    early = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=who["secretary"])
    assert early.status_code == 409, early.text
    assert early.json()["errors"][0]["rule"] == "case_state"
    await record_settlement(w, case_id, who, agreement["id"])
    not_staff = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=writer)
    assert not_staff.status_code in (403, 404)
    award = await _issued(w, award["id"], who)
    document = award["document"]
    assert document["kind"] == kind
    if kind == "consent_award":
        assert award["effective_on"] is not None
    else:
        assert award["effective_on"] is None  # binding once the parties sign for it
    assert await state_of(w, case_id, who["claimant"]) == "settled"
    events = await history(w, case_id, who["claimant"])
    issued = next(e for e in events if e["command"] == f"{kind}_issued")
    assert issued["from_state"] == issued["to_state"] == "settled"
    assert issued["data"]["agreement"] == agreement["id"]
    assert "issue_award" not in [e["command"] for e in events]

    # Served on both parties, under its own title.
    served = await w.client.get(f"/api/v1/cases/{case_id}/service", headers=who["secretary"])
    notices = [r for r in served.json()["requests"] if r["notice"] == "notice-of-award"]
    assert len(notices) == 2, served.text
    assert {r["title"] for r in notices} == {f"{title}送达通知"}
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        texts = await uow.fetch(
            "SELECT text FROM service_request WHERE tenant_id = {} AND case_id = {} "
            "AND notice = 'notice-of-award'",
            w.a.id,
            uuid.UUID(case_id),
        )
    for row in texts:
        assert f"Subject: {title}送达通知" in row["text"], row["text"]
        assert effect in row["text"]
        assert document["verification_code"] in row["text"]

    # The parties read the signed PDF; independent tools accept it.
    got = await w.client.get(f"{AWARDS}/{award['id']}/document", headers=who["respondent"])
    assert got.status_code == 200, got.text
    assert kind.replace("_", "-") in got.headers["content-disposition"]
    pdf = got.content
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"]
    checked = await verify_pdf_async(pdf, await trust_anchors(w.runtime.db, w.a.id))
    assert checked.genuine, checked.detail
    path = tmp_path / f"{kind}.pdf"
    path.write_bytes(pdf)
    report = _run("pdfsig", "-nocert", str(path))
    assert "Signature is Valid." in report, report
    assert "Total document signed" in report, report
    text = _run("pdftotext", str(path), "-")
    flat = re.sub(r"\s+", "", text)
    number = (await w.client.get(f"/api/v1/cases/{case_id}", headers=who["claimant"])).json()[
        "number"
    ]
    for expected in (number, "张三", "某某电子商务有限公司", title, "广州", *EXPECTED_ITEMS):
        assert re.sub(r"\s+", "", expected) in flat, (expected, text[:3000])
    if kind == "consent_award":
        assert "根据双方当事人的和解协议裁决如下" in flat
        assert digest in flat  # the agreement signed, in the procedural history
        # (pdftotext drops a hyphen where a line breaks after it)
        assert agreement["id"].replace("-", "") in flat.replace("-", ""), text
    else:
        assert "经双方当事人签收后即发生法律效力" in flat
        # The agreement it records: reached in mediation on the day both had signed, its
        # reference and the SHA-256 of the text both sides signed; the case's history.
        assert "经仲裁庭主持调解，双方当事人自愿达成如下协议" in flat
        assert digest in flat, text
        assert agreement["id"].replace("-", "") in flat.replace("-", ""), text
        assert "本案程序经过如下" in flat

    # Anyone checks it by its code.
    slug = w.a.slug
    by_code = await w.client.get(f"/t/{slug}/documents/verify/{document['verification_code']}")
    assert by_code.status_code == 200, by_code.text
    assert by_code.json()["kind"] == kind
    assert by_code.json()["kind_zh"].startswith(title)
    assert by_code.json()["case_number"] == number
    assert by_code.json()["sha256"] == document["sha256"]
    genuine = await w.client.post(f"/t/{slug}/documents/verify", content=pdf)
    assert genuine.json()["genuine"] is True, genuine.text

    # One document of its kind per case; it is not corrected as an award is; the job run
    # again issues nothing.
    second = await _draft(w, case_id, writer, kind=kind)
    assert second.status_code == 409
    assert second.json()["errors"][0]["rule"] == "document_exists"
    corrected = await w.client.post(
        f"{AWARDS}/{award['id']}/corrections", json={"reason": "笔误"}, headers=writer
    )
    assert corrected.status_code == 409
    an_award = await _draft(w, case_id, writer)
    assert an_award.status_code == 409
    assert an_award.json()["errors"][0]["rule"] == "case_state"
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    assert await issuing.issue(w.runtime, tenant, uuid.UUID(award["id"])) is False
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT kind FROM case_document WHERE tenant_id = {} AND case_id = {} "
            "AND kind IN ('award', 'award_correction', 'consent_award', 'mediation_statement')",
            w.a.id,
            uuid.UUID(case_id),
        )
    assert [r["kind"] for r in rows] == [kind]  # (notices are documents of the case too)


async def test_a_withdrawal_or_an_awarded_case_gives_no_settlement_document(
    auth_world: World,
) -> None:
    w = auth_world
    case, who = await constituted_case(w)
    await signed_agreement(
        w,
        case["id"],
        who,
        outcome="withdrawal",
        text="被申请人已退款，申请人撤回申请。",
        record=False,
    )
    for kind in ("consent_award", "mediation_statement"):
        refused = await _draft(w, case["id"], who["arbitrator"], kind=kind)
        assert refused.status_code == 409, refused.text
        assert refused.json()["errors"][0]["rule"] == "outcome"
    other = await w.login(w.b, next(iter(w.b.users)))
    assert (await _draft(w, case["id"], other, kind="consent_award")).status_code in (403, 404)


def test_terms_from_an_agreement() -> None:
    assert domain.terms_from_agreement(TERMS) == EXPECTED_ITEMS
    assert domain.terms_from_agreement("1. Pay 1.5 yuan\nwithin a week.\n2) Waive the rest.") == [
        "Pay 1.5 yuan within a week",
        "Waive the rest",
    ]
    assert domain.terms_from_agreement("（1）退款\n（2）撤回其他请求") == ["退款", "撤回其他请求"]
    assert domain.terms_from_agreement("第一条 退款。\n第二条 放弃。") == ["退款", "放弃"]
    # No numbers: one item per paragraph (blank-line separated, else per line).
    assert domain.terms_from_agreement("退款1500元\n\n放弃其余\n请求。") == [
        "退款1500元",
        "放弃其余请求",
    ]
    assert domain.terms_from_agreement("退款。\n放弃。") == ["退款", "放弃"]
    # An introduction not ending in a colon is a term of its own.
    assert domain.terms_from_agreement("双方确认债务2000元\n1、分两期支付") == [
        "双方确认债务2000元",
        "分两期支付",
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "1. ", "二、", "（3）", "\n", "第4条 "]),
            st.text(alphabet="退款元。；，ab 12\n", max_size=3000),
        ),
        max_size=80,
    )
)
def test_suggested_terms_always_fit_a_draft(parts: list[tuple[str, str]]) -> None:
    text = "\n".join(number + body for number, body in parts)[:MAX_TERMS]
    items = domain.terms_from_agreement(text)
    assert len(items) <= domain.MAX_ITEMS
    assert all(0 < len(item) <= domain.MAX_ITEM for item in items)
    content, problems = domain.parse_content(
        {"decision": [{"text": item} for item in items]}, Decimal("100.00")
    )
    assert [p for p in problems if p.field.startswith("$.decision")] == []
    assert len(content.decision) == len(items)


async def test_a_commission_working_in_english_issues_its_documents_in_english(
    auth_world: World, tmp_path: Path
) -> None:
    w = auth_world
    async with w.runtime.db.transaction() as uow:
        await uow.execute("UPDATE tenant SET locale = 'en' WHERE id = {}", w.a.id)
    w.runtime.tenants.invalidate()
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    assert tenant.locale == "en"
    await w.runtime.document_keys.issue_development(w.a.id, actor=OPERATOR)
    case, who = await constituted_case(w)
    case_id, writer = case["id"], who["arbitrator"]
    agreement = await signed_agreement(
        w, case_id, who, outcome="mediation_statement", text=TERMS, record=False
    )
    digest = hashlib.sha256(TERMS.encode()).hexdigest()
    drafted = await _draft(w, case_id, writer, kind="mediation_statement")
    assert drafted.status_code == 201, drafted.text
    award = drafted.json()
    revised = await w.client.patch(
        f"{AWARDS}/{award['id']}", json={"if_version": 1, "place": "Guangzhou"}, headers=writer
    )
    assert revised.status_code == 200, revised.text
    voted = await w.client.post(
        f"{AWARDS}/{award['id']}/votes",
        json={"vote": "concur", "content_sha256": revised.json()["content_sha256"]},
        headers=writer,
    )
    assert voted.json()["status"] == "approved", voted.text
    await record_settlement(w, case_id, who, agreement["id"])
    award = await _issued(w, award["id"], who)

    got = await w.client.get(f"{AWARDS}/{award['id']}/document", headers=who["respondent"])
    assert got.status_code == 200, got.text
    checked = await verify_pdf_async(got.content, await trust_anchors(w.runtime.db, w.a.id))
    assert checked.genuine, checked.detail
    path = tmp_path / "statement.pdf"
    path.write_bytes(got.content)
    text = _run("pdftotext", str(path), "-")
    words = " ".join(text.split())
    flat = re.sub(r"\s+", "", text)
    # The commission's English name, the English wording; the parties' texts as written.
    for expected in (
        f"{w.a.slug} Arbitration Commission",
        "Mediation Statement",
        "I. The claimant's claims",
        "II. The agreement reached in mediation",
        "in mediation conducted by the tribunal, the parties reached of their own free will",
        "Articles 51 and 52 of the Arbitration Law",
        "takes effect once both parties have signed for it",
        "Page 1 of",
        "Scan to verify",
        "Guangzhou",
    ):
        assert expected in words, (expected, words[:3000])
    for expected in ("张三", *EXPECTED_ITEMS):
        assert re.sub(r"\s+", "", expected) in flat, expected
    assert digest in flat, text
    assert agreement["id"].replace("-", "") in flat.replace("-", ""), text
    assert "调解书" not in flat  # no Chinese title or fixed wording
    info = _run("pdfinfo", str(path))
    assert re.search(r"^Title:\s+Mediation Statement ", info, re.M), info
    fonts = _run("pdffonts", str(path)).splitlines()[2:]
    assert fonts
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts), fonts
