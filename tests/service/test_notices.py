"""The notices of tribunal constitution and of hearing: templates, and service by the ladder.

Templates render in zh and en with every variable (an undefined one is an error); the
notice of constitution reaches both parties through real channels (the stand-in SMS
gateway, an SMTP server), each with a certificate of service, and served twice once.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from pathlib import Path
from typing import Any

import jinja2
import pytest

from arbitral.auth.domain import Role
from arbitral.service import services as service
from arbitral.service import templates
from arbitral.service.domain import Notice
from tests.cases.helpers import URL
from tests.conftest import REPO_ROOT
from tests.service.conftest import FAILING_NUMBER, ChannelsWorld
from tests.service.test_service import filed_and_paid, service_of, state_of, until
from tests.support.clock import FakeClock
from tests.tribunal.helpers import panel, seat_by_agreement, tribunal_url
from tests.tribunal.test_tribunal import disclose

ROOT = REPO_ROOT / "templates"
COMMON = {
    "recipient": "某某电子商务有限公司",
    "commission": "测试仲裁委员会",
    "case_number": "(2026)测仲网字第000001号",
    "case_type": "网络购物合同纠纷",
    "claimants": "张三",
    "respondents": "某某电子商务有限公司",
    "rule_set": "网络仲裁规则",
    "rule_set_version": "1.2",
    "portal_url": "https://arbitral.example.cn/t/test/",
    "issued_on": "2026-12-06",
}
TRIBUNAL = {
    "members": [
        {"name": "李仲裁", "role_text": "首席仲裁员", "chosen_by_text": "仲裁委员会主任指定"},
        {"name": "王仲裁", "role_text": "仲裁员", "chosen_by_text": "申请人选定"},
    ],
    "challenge_period": "5日",
    "new_facts_period": "7日",
    "constituted_on": "2026-12-05",
}
VIDEO = {
    "kind": "video",
    "starts_at": "2026-12-20 09:30",
    "ends_at": "2026-12-20 10:30",
    "time_zone": "Asia/Shanghai",
    "link": "https://meet.example.cn/r/room-42",
}
ROUND = {
    "kind": "asynchronous",
    "round_name": "异步审理：提问",
    "round_text": "本环节由仲裁庭和双方当事人发问。",
    "who_may_post": "仲裁庭、申请人、被申请人",
    "opens_at": "2026-12-06 10:00",
    "closes_at": "2026-12-07 10:00",
    "time_zone": "Asia/Shanghai",
}
CASES = [
    ("notice-of-tribunal", TRIBUNAL),
    ("notice-of-hearing", VIDEO),
    ("notice-of-hearing", ROUND),
]


def _strings(context: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for value in context.values():
        if isinstance(value, list):
            found += [str(v) for item in value for v in item.values()]
        elif value not in ("video", "asynchronous"):
            found.append(str(value))
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize(("notice", "own"), CASES)
def test_templates_render_every_variable(
    notice: str, own: dict[str, Any], channel: str, lang: str
) -> None:
    context = {**COMMON, **own}
    text = templates.notice_text(ROOT, "no-such-commission", notice, channel, lang, context)
    if channel == "email":
        assert text.startswith("Subject: ")
        # Every variable of the notice's own is in its text, with the case's and the party's.
        shown = {"recipient", "commission", "case_number", "claimants", "respondents"}
        mine = {k: v for k, v in context.items() if k in shown or k in own}
        missing = [v for v in _strings(mine) if v not in text]
        assert missing == []
    else:
        assert len(text) < 300
        assert context["case_number"] in text
    if notice == "notice-of-tribunal":
        assert ("回避" if lang == "zh" else "challenge") in text
        assert "李仲裁" in text
    elif context["kind"] == "video":
        assert context["link"] in text
    else:
        assert context["closes_at"] in text
    # An undefined variable is an error, never a blank.
    for name in (
        "case_number",
        "challenge_period" if notice == "notice-of-tribunal" else "time_zone",
    ):
        broken = {k: v for k, v in context.items() if k != name}
        with pytest.raises(jinja2.UndefinedError):
            templates.notice_text(ROOT, "no-such-commission", notice, channel, lang, broken)


def test_a_commission_overrides_a_notice(tmp_path: Path) -> None:
    for source in (ROOT / "notices").glob("notice-of-tribunal.*"):
        (tmp_path / "notices").mkdir(exist_ok=True)
        (tmp_path / "notices" / source.name).write_text(source.read_text("utf-8"), "utf-8")
    own = tmp_path / "tenants" / "gz" / "notices"
    own.mkdir(parents=True)
    (own / "notice-of-tribunal.email.zh.txt").write_text(
        "Subject: 组庭通知（{{ case_number }}）\n\n本会自定义文本：{{ challenge_period }}\n",
        "utf-8",
    )
    context = {**COMMON, **TRIBUNAL}
    mine = templates.notice_text(tmp_path, "gz", "notice-of-tribunal", "email", "zh", context)
    assert "本会自定义文本：5日" in mine
    other = templates.notice_text(tmp_path, "sz", "notice-of-tribunal", "email", "zh", context)
    assert "本会自定义文本" not in other


async def test_the_notice_of_constitution_reaches_both_parties_through_the_ladder(
    channels_world: ChannelsWorld,
) -> None:
    cw = channels_world
    w = cw.w
    w.runtime.clock = FakeClock()
    case_id, who = await filed_and_paid(w, respondent_phone=FAILING_NUMBER)
    secretary = who["secretary"]

    async def in_answer_period() -> bool:
        return await state_of(w, case_id, secretary) == "answer_period"

    await until(in_answer_period)
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    [arbitrator] = await panel(w, admin, 1)
    await seat_by_agreement(w, who, case_id, arbitrator)
    await disclose(w, arbitrator, case_id)
    done = await w.client.post(tribunal_url(case_id, "/constitute"), json={}, headers=secretary)
    assert done.status_code == 200, done.text

    async def both_served() -> bool:
        found = await service_of(w, case_id, secretary)
        notices = [r for r in found["requests"] if r["notice"] == "notice-of-tribunal"]
        return len(notices) == 2 and all(r["status"] == "served" for r in notices)

    await until(both_served)
    found = await service_of(w, case_id, secretary)
    notices = {r["recipient"]: r for r in found["requests"] if r["notice"] == "notice-of-tribunal"}
    respondent = notices["某某电子商务有限公司"]
    # The respondent's SMS failed; the email served it. The claimant's SMS served it.
    assert [(a["channel"], a["status"]) for a in respondent["attempts"]] == [
        ("sms", "failed"),
        ("email", "delivered"),
    ]
    assert [(a["channel"], a["status"]) for a in notices["张三"]["attempts"]][-1] == (
        "sms",
        "delivered",
    )
    assert len({r["subject"] for r in notices.values()}) == 1
    for request in notices.values():
        (certificate,) = [c for c in found["certificates"] if c["request_id"] == request["id"]]
        assert certificate["record"]["notice"] == "notice-of-tribunal"
        assert "组庭通知书" in certificate["text"]
    mails = [
        email.message_from_bytes(m, policy=email.policy.default)
        for m in cw.mailbox.to(w.a.emails[Role.RESPONDENT])
    ]
    bodies = [m.get_body().get_content() for m in mails]  # type: ignore[union-attr]
    assert any("回避" in b and "5日" in b for b in bodies)

    tribunal = (await w.client.get(tribunal_url(case_id), headers=secretary)).json()
    assert tribunal["challenge_until"] == max(p["until"] for p in tribunal["challenge_periods"])
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=secretary)).json()
    assert (
        len([e for e in record["service"] if e["data"].get("notice") == "notice-of-tribunal"]) == 2
    )
    inbox = (await w.client.get("/api/v1/inbox", headers=who["respondent"])).json()
    assert "notice-of-tribunal" in [i["notice"] for i in inbox]

    # Served again (a hook or job run twice): the same requests, nothing new.
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    subject = respondent["subject"]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        again = await service.serve_parties(
            uow, w.runtime, tenant, uuid.UUID(case_id), Notice.TRIBUNAL, subject=subject,
            variables={},
        )  # fmt: skip
    assert {str(i) for i in again} == {r["id"] for r in notices.values()}
    after = await service_of(w, case_id, secretary)
    assert len(after["certificates"]) == len(found["certificates"])
    assert len(after["requests"]) == len(found["requests"])
