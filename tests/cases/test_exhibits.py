"""Exhibits: drafted and submitted by a side, seen by the other, viewed, ruled on, logged."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from arbitral.auth.domain import Principal, Role
from arbitral.custody.actors import record_scrub
from arbitral.identity.schemas import PowerOfAttorneyCreate
from arbitral.identity.services import create_power
from arbitral.ledger.services import verify_log
from tests.cases.helpers import URL, accepted_case, command
from tests.custody.test_inspect import make_pdf, make_png
from tests.custody.test_records import payload_of, platform, push, registered_key, sign
from tests.support.world import World
from tests.tribunal.helpers import nominate, on_panel, seat_by_agreement, serve

ITEMS = "/api/v1/custody/items"


async def upload(w: World, headers: dict[str, str], body: bytes, title: str = "订单截图") -> str:
    response = await w.client.post(
        ITEMS,
        params={
            "filename": "evidence.pdf" if body.startswith(b"%PDF") else "shot.png",
            "title": title,
        },
        content=body,
        headers={**headers, "content-type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    item_id: str = response.json()["item"]["id"]
    return item_id


def exhibits_url(case_id: str) -> str:
    return f"{URL}/{case_id}/exhibits"


async def cite(w: World, headers: dict[str, str], case_id: str, **body: Any) -> Any:
    return await w.client.post(
        exhibits_url(case_id), json={"title": "订单记录", **body}, headers=headers
    )


async def visible(w: World, headers: dict[str, str], case_id: str) -> list[dict[str, Any]]:
    response = await w.client.get(exhibits_url(case_id), headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_drafts_stay_with_their_side_until_submitted(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    body = make_pdf()
    item = await upload(w, who["claimant"], body)
    draft = await cite(
        w,
        who["claimant"],
        case["id"],
        item_id=item,
        kind="order_record",
        proves="the contract of sale",
    )
    assert draft.status_code == 201, draft.text
    exhibit = draft.json()
    assert exhibit["number"] is None
    assert exhibit["side"] == "claimant"
    assert exhibit["sha256"] == hashlib.sha256(body).hexdigest()
    assert exhibit["provenance"] == "uploaded"
    # The other side, the secretary and an arbitrator see nothing of a draft.
    assert await visible(w, who["respondent"], case["id"]) == []
    assert await visible(w, who["secretary"], case["id"]) == []
    hidden = await w.client.get(
        f"{exhibits_url(case['id'])}/{exhibit['id']}", headers=who["respondent"]
    )
    assert hidden.status_code == 404
    # The respondent cannot submit the claimant's draft.
    theirs = await w.client.post(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/submit", headers=who["respondent"]
    )
    assert theirs.status_code == 404

    submitted = await w.client.post(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/submit", headers=who["claimant"]
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["number"] == "申1"
    twice = await w.client.post(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/submit", headers=who["claimant"]
    )
    assert twice.status_code == 409
    seen = await visible(w, who["respondent"], case["id"])
    assert [e["number"] for e in seen] == ["申1"]
    assert [e["number"] for e in await visible(w, who["secretary"], case["id"])] == ["申1"]
    # The next one is 申2; submission is logged with the file's hash, and in the history.
    second = await cite(
        w,
        who["claimant"],
        case["id"],
        item_id=await upload(w, who["claimant"], make_png()),
        submit=True,
    )
    assert second.json()["number"] == "申2"
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        leaves = await uow.fetch(
            "SELECT leaf FROM ledger_leaf WHERE tenant_id = {} AND kind = 'case.exhibit' "
            "ORDER BY leaf_index",
            w.a.id,
        )
    assert len(leaves) == 2
    assert hashlib.sha256(body).hexdigest() in leaves[0]["leaf"]
    history = await w.client.get(f"{URL}/{case['id']}/history", headers=who["respondent"])
    submissions = [e for e in history.json() if e["command"] == "submit_exhibit"]
    assert [e["data"]["number"] for e in submissions] == ["申1", "申2"]


async def test_what_an_exhibit_may_cite(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    # Someone else's upload is as good as unknown.
    others_item = await upload(w, who["respondent"], make_png())
    foreign = await cite(w, who["claimant"], case["id"], item_id=others_item)
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0] == {
        "field": "$.item_id",
        "rule": "not_found",
        "message": "upload the file first",
    }
    neither = await cite(w, who["claimant"], case["id"])
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["rule"] == "one_of"
    kind = await cite(w, who["claimant"], case["id"], item_id=others_item, kind="selfie")
    assert kind.status_code == 422
    assert kind.json()["errors"][0]["field"] == "$.kind"
    item = await upload(w, who["claimant"], make_pdf())
    assert (await cite(w, who["claimant"], case["id"], item_id=item)).status_code == 201
    again = await cite(w, who["claimant"], case["id"], item_id=item)
    assert again.status_code == 409
    # Staff are no side: they do not put in evidence (they lack evidence:submit).
    staff = await cite(w, who["secretary"], case["id"], item_id=item)
    assert staff.status_code == 404
    # A closed case takes no evidence.
    await command(w, who["claimant"], case["id"], "withdraw")
    closed = await cite(
        w, who["claimant"], case["id"], item_id=await upload(w, who["claimant"], make_png())
    )
    assert closed.status_code == 409


async def test_views_of_the_other_side_and_the_tribunals_ruling(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    item = await upload(w, who["claimant"], make_pdf())
    exhibit = (await cite(w, who["claimant"], case["id"], item_id=item, submit=True)).json()
    views = f"{exhibits_url(case['id'])}/{exhibit['id']}/views"
    admits = {"authenticity": "admits", "legality": "admits", "relevance": "admits"}
    own = await w.client.post(views, json=admits, headers=who["claimant"])
    assert own.status_code == 403
    unexplained = await w.client.post(
        views, json={**admits, "relevance": "disputes"}, headers=who["respondent"]
    )
    assert unexplained.status_code == 422
    assert unexplained.json()["errors"][0]["field"] == "$.comment"
    first = await w.client.post(views, json=admits, headers=who["respondent"])
    assert first.status_code == 200, first.text
    second = await w.client.post(
        views,
        json={**admits, "authenticity": "disputes", "comment": "截图经过编辑"},
        headers=who["respondent"],
    )
    assert second.status_code == 200
    [view] = second.json()["views"]
    assert view["side"] == "respondent"
    assert view["authenticity"] == "disputes"
    assert view["comment"] == "截图经过编辑"

    # The tribunal rules; an arbitrator not on the case sees no case at all.
    ruling = f"{exhibits_url(case['id'])}/{exhibit['id']}/ruling"
    outsider = await w.client.post(ruling, json={"ruling": "admitted"}, headers=who["arbitrator"])
    assert outsider.status_code == 404
    # The parties choose the arbitrator from the panel once the respondent is served.
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    await on_panel(w, admin, w.a.users[Role.ARBITRATOR])
    await serve(w, case["id"])
    not_on_panel = await nominate(w, who["claimant"], case["id"], w.a.users[Role.CLAIMANT])
    assert not_on_panel.status_code == 409
    assert not_on_panel.json()["errors"][0]["rule"] == "not_on_panel"
    appointed = await seat_by_agreement(w, who, case["id"], w.a.users[Role.ARBITRATOR])
    assert [m["role"] for m in appointed["seats"]] == ["sole"]
    unexplained_no = await w.client.post(
        ruling, json={"ruling": "not_admitted"}, headers=who["arbitrator"]
    )
    assert unexplained_no.status_code == 422
    assert unexplained_no.json()["errors"][0]["field"] == "$.reason"
    ruled = await w.client.post(
        ruling,
        json={"ruling": "admitted", "reason": "与订单记录相互印证"},
        headers=who["arbitrator"],
    )
    assert ruled.status_code == 200, ruled.text
    assert ruled.json()["ruling"] == "admitted"
    parties_cannot = await w.client.post(
        ruling, json={"ruling": "admitted"}, headers=who["claimant"]
    )
    assert parties_cannot.status_code == 404  # no cases:decide permission
    history = await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])
    commands = [e["command"] for e in history.json()]
    assert commands[-4:] == [
        "nominate_arbitrator",
        "nominate_arbitrator",
        "appoint_arbitrator",
        "rule_on_exhibit",
    ]
    assert commands.count("view_exhibit") == 2


async def test_an_agent_acts_for_its_party(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    exhibit = (
        await cite(
            w,
            who["claimant"],
            case["id"],
            item_id=await upload(w, who["claimant"], make_pdf()),
            submit=True,
        )
    ).json()
    # Without a power of attorney the agent sees nothing of the case.
    assert (await w.client.get(f"{URL}/{case['id']}", headers=who["agent"])).status_code == 404
    operator = Principal.operator(w.a.id, "tests")

    async def document() -> Any:
        yield b"%PDF-1.7 power of attorney"

    stored = await w.runtime.store.put(str(w.a.id), document())
    await create_power(
        w.runtime,
        operator,
        PowerOfAttorneyCreate(
            agent_user_id=w.a.users[Role.AGENT],
            principal_user_id=w.a.users[Role.RESPONDENT],
            document_key=stored.key,
            scope=f"case:{case['id']}",
        ),
    )
    shown = await w.client.get(f"{URL}/{case['id']}", headers=who["agent"])
    assert shown.status_code == 200
    assert shown.json()["my_side"] == "respondent"
    view = await w.client.post(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/views",
        json={"authenticity": "admits", "legality": "admits", "relevance": "admits"},
        headers=who["agent"],
    )
    assert view.status_code == 200, view.text
    assert view.json()["views"][0]["side"] == "respondent"


async def test_attested_records_as_exhibits(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    about = payload_of(
        "ORD-CASE-1",
        subject={"buyer": {"name": "张三", "email": w.a.emails[Role.CLAIMANT]}, "seller": "店"},
    )
    pushed = await push(w, headers, sign(private_key, kid, about))
    assert pushed.status_code == 201, pushed.text
    record_id = pushed.json()["record"]["id"]
    stranger = await push(w, headers, sign(private_key, kid, payload_of("ORD-OTHER-1")))
    assert stranger.status_code == 201

    attached = await cite(w, who["claimant"], case["id"], record_id=record_id, submit=True)
    assert attached.status_code == 201, attached.text
    exhibit = attached.json()
    assert exhibit["provenance"] == "attested"
    assert exhibit["media_type"] == "application/jose"
    not_about_us = await cite(
        w, who["claimant"], case["id"], record_id=stranger.json()["record"]["id"]
    )
    assert not_about_us.status_code == 422
    assert not_about_us.json()["errors"][0]["field"] == "$.record_id"
    # The respondent gets the record as the platform signed it; the access is recorded.
    download = await w.client.get(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/download", headers=who["respondent"]
    )
    assert download.status_code == 200, download.text
    jws = download.json()["jws"]
    assert hashlib.sha256(jws.encode()).hexdigest() == exhibit["sha256"]
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        events = await uow.fetch(
            "SELECT actor_id, detail FROM audit_event WHERE tenant_id = {} "
            "AND action = 'exhibit.downloaded'",
            w.a.id,
        )
    assert len(events) == 1
    assert events[0]["actor_id"] == str(w.a.users[Role.RESPONDENT])
    assert json.loads(events[0]["detail"])["sha256"] == exhibit["sha256"]


async def test_file_exhibits_download_by_link(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    body = make_pdf()
    exhibit = (
        await cite(
            w,
            who["claimant"],
            case["id"],
            item_id=await upload(w, who["claimant"], body),
            submit=True,
        )
    ).json()
    link = await w.client.get(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/download", headers=who["respondent"]
    )
    assert link.status_code == 200
    fetched = await w.client.get(link.json()["url"])
    assert fetched.status_code == 200
    assert fetched.content == body
    # Tenant B's staff know nothing of it.
    other = await w.client.get(
        f"{exhibits_url(case['id'])}/{exhibit['id']}/download",
        headers=await w.login(w.b, Role.SECRETARY),
    )
    assert other.status_code == 404


async def test_the_scrub_flags_altered_evidence_on_its_case(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    body = make_pdf()
    exhibit = (
        await cite(
            w,
            who["claimant"],
            case["id"],
            item_id=await upload(w, who["claimant"], body),
            submit=True,
        )
    ).json()
    path = next((w.runtime.settings.data_dir / "objects").rglob(exhibit["sha256"]))
    os.chmod(path, 0o600)
    damaged = bytearray(path.read_bytes())
    damaged[30] ^= 0x01
    path.write_bytes(bytes(damaged))

    for _ in range(2):  # a second run flags nothing twice
        report = await verify_log(w.runtime, w.a.id, store=w.runtime.store)
        assert len(report.altered_objects) == 1
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await record_scrub(uow, w.a.id, report)

    shown = await w.client.get(
        f"{exhibits_url(case['id'])}/{exhibit['id']}", headers=who["respondent"]
    )
    assert shown.json()["altered_at"] is not None
    history = await w.client.get(f"{URL}/{case['id']}/history", headers=who["respondent"])
    flags = [e for e in history.json() if e["command"] == "flag_evidence_altered"]
    assert len(flags) == 1
    assert flags[0]["actor_kind"] == "system"
    assert flags[0]["data"]["number"] == "申1"
    assert path.read_bytes() == bytes(damaged)  # flagged, never repaired
