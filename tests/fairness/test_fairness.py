"""The fairness watch over HTTP, counted by SQL on both backends, on fixtures whose answer
is known: a lender that shows every sign, one that shows none, one with an odd number of
awards, and another commission's lender that nobody here may see."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from arbitral.auth.domain import ClientKind, Role
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.conftest import make_env
from tests.fairness.builder import Book
from tests.support.world import World
from tests.test_cli import run

__all__ = ["auth_world", "cheap_password_hashing"]

URL = "/api/v1/fairness/lenders"
X = "91440101MA5CXXXX1X"  # shows every sign
Y = "91440101MA5CYYYY1Y"  # shows none
Z = "91440101MA5CZZZZ1Z"  # three awards: too few to judge


async def fixture(w: World) -> dict[str, Any]:
    book = Book(w.runtime, w.a.id)
    a1, a2, a3, a4 = await book.arbitrators(4)
    x: dict[str, Any] = {"lender": X, "lender_name": "甲小额贷款公司"}
    # X: 20 awards. 19 grant the whole claim, one half of it; 17 went by default (one of
    # them with a video session held in the respondent's absence, one where the respondent
    # only opened the file); the respondent answered in one, posted in one, and appeared
    # at a video session in one. a1 sat on 11, a2 on 5, a3 on 4 (a4 was released from one
    # of a1's cases before the award).
    sitting = [(a1,)] * 10 + [(a4, a1)] + [(a2,)] * 5 + [(a3,)] * 4
    part: list[dict[str, Any]] = [{"answered": True}, {"posted": True}, {"session": "held"}]
    part += [{"session": "held_in_absence"}, {"opened": True}] + [{}] * 15
    for i in range(20):
        await book.awarded(
            "0.5" if i == 0 else "1",
            arbitrators=sitting[i],
            released=(a4,),
            **part[i],
            **x,
        )
    # Its other claims: 3 over the interest cap (500.00 above what is supported each), one
    # below what the assessment supports (no negative excess).
    over = {"over_cap": True, "interest": ("1500.00", "1000.00")}
    await book.case(state="answer_period", **over, **x)
    await book.case(state="hearing", **over, **x)
    await book.case(state="withdrawn", **over, **x)
    await book.case(state="settled", interest=("800.00", "1000.00"), **x)
    # Y: 20 awards, 10 granting 60% and 10 granting 80% of the claim, all answered, four
    # arbitrators five times each; its claimant name comes from the case parties.
    arbs = (a1, a2, a3, a4)
    for i in range(20):
        await book.awarded(
            "0.6" if i < 10 else "0.8",
            claimed="5000.00",
            arbitrators=(arbs[i % 4],),
            answered=True,
            lender=Y,
            lender_name="乙消费金融公司",
        )
    await book.case(state="rejected", lender=Y, lender_name="乙消费金融公司")
    # Z: three awards, ratios 0.2, 0.5 and 0.9 (the median is the middle one); one of them
    # by a correction that raised 0.4 to 0.5.
    z: dict[str, Any] = {"lender": Z, "lender_name": "丙网络小贷"}
    await book.awarded("0.2", arbitrators=(a2,), **z)
    await book.case(
        state="awarded",
        awarded=[("4000.00", "respondent")],
        correction=[("5000.00", "respondent")],
        arbitrators=(a2,),
        **z,
    )
    await book.awarded("0.9", arbitrators=(a2,), **z)
    # Another commission's lender (same id number as X: its cases are not X's here).
    other = Book(w.runtime, w.b.id)
    (b1,) = await other.arbitrators(1)
    await other.awarded("1", arbitrators=(b1,), lender=X, lender_name="甲小额贷款公司")
    await other.awarded("1", arbitrators=(b1,), lender="B-ONLY", lender_name="别家")
    return {"arbitrators": (a1, a2, a3, a4)}


async def test_the_figures_and_flags_of_each_lender(auth_world: World) -> None:
    w = auth_world
    known = await fixture(w)
    a1 = known["arbitrators"][0]
    secretary = await w.login(w.a, Role.SECRETARY)
    response = await w.client.get(URL, headers=secretary)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["arbitrators_deciding"] == 4
    items = {i["id_number"]: i for i in body["items"]}
    assert set(items) == {X, Y, Z}
    assert body["items"][0]["id_number"] == X  # the most flags first

    x = items[X]
    assert x["name"] == "甲小额贷款公司"
    assert (x["cases_filed"], x["closed"], x["awarded"]) == (24, 22, 20)
    assert (x["settled"], x["withdrawn"], x["rejected"], x["defaulted"]) == (1, 1, 0, 17)
    assert x["share_awarded"] == 0.9091
    assert x["share_settled"] == 0.0455
    assert x["share_withdrawn"] == 0.0455
    assert x["share_defaulted"] == 0.85
    assert x["award_ratio_median"] == 1.0
    assert x["award_ratio_mean"] == 0.975
    assert x["over_cap"] == 3
    assert x["share_over_cap"] == 0.125
    assert x["interest_over_supported"] == "1500.00"
    assert x["top_arbitrator_id"] == str(a1)
    assert x["top_arbitrator_share"] == 0.55
    assert x["arbitrator_hhi"] == 0.405  # (11² + 5² + 4²) / 20²
    assert x["flags"] == [
        "arbitrator_concentration",
        "award_ratio_high",
        "default_rate_high",
        "over_cap_claims",
    ]

    y = items[Y]
    assert y["name"] == "乙消费金融公司"
    assert (y["cases_filed"], y["closed"], y["rejected"], y["defaulted"]) == (21, 21, 1, 0)
    assert y["share_defaulted"] == 0.0
    assert y["award_ratio_median"] == 0.7
    assert y["award_ratio_mean"] == 0.7
    assert (y["top_arbitrator_share"], y["arbitrator_hhi"]) == (0.25, 0.25)
    assert (y["over_cap"], y["share_over_cap"], y["interest_over_supported"]) == (0, 0.0, "0.00")
    assert y["flags"] == []

    z = items[Z]
    assert z["award_ratio_median"] == 0.5
    assert z["award_ratio_mean"] == 0.5333
    assert z["top_arbitrator_share"] == 1.0
    assert z["flags"] == []  # 3 awards say nothing

    # One lender, with each flag's message and figures.
    response = await w.client.get(f"{URL}/{X}", headers=secretary)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["lender"] == x
    flags = {f["code"]: f for f in detail["flags"]}
    assert flags["default_rate_high"]["figures"]["defaulted"] == 17
    assert flags["arbitrator_concentration"]["figures"]["arbitrators_deciding"] == 4
    assert flags["award_ratio_high"]["figures"]["ratio_median"] == 1.0
    assert flags["over_cap_claims"]["figures"]["interest_over_supported"] == "1500.00"
    assert all(f["message"] for f in detail["flags"])
    assert detail["thresholds"]["default_share"] == 0.8

    # Every read is audited.
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        events = await uow.fetch(
            "SELECT actor_id, target_id FROM audit_event WHERE tenant_id = {} AND action = {} "
            "ORDER BY at",
            w.a.id,
            "fairness.viewed",
        )
    assert [e["target_id"] for e in events] == [None, X]
    assert {e["actor_id"] for e in events} == {str(w.a.users[Role.SECRETARY])}


async def test_another_commission_sees_only_its_own(auth_world: World) -> None:
    w = auth_world
    await fixture(w)
    b_admin = await w.login(w.b, Role.COMMISSION_ADMIN)
    body = (await w.client.get(URL, headers=b_admin)).json()
    assert {i["id_number"] for i in body["items"]} == {X, "B-ONLY"}
    x = next(i for i in body["items"] if i["id_number"] == X)
    assert (x["cases_filed"], x["awarded"], x["flags"]) == (1, 1, [])
    assert body["arbitrators_deciding"] == 1
    assert (await w.client.get(f"{URL}/{Y}", headers=b_admin)).status_code == 404
    a_admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    assert (await w.client.get(f"{URL}/B-ONLY", headers=a_admin)).status_code == 404
    assert (await w.client.get(f"{URL}/{uuid.uuid4()}", headers=a_admin)).status_code == 404


async def test_only_the_staff_watch(auth_world: World) -> None:
    w = auth_world
    await Book(w.runtime, w.a.id).awarded("1", lender=X)
    for role in (Role.ARBITRATOR, Role.CLAIMANT, Role.RESPONDENT, Role.AGENT):
        headers = await w.login(w.a, role)
        assert (await w.client.get(URL, headers=headers)).status_code == 403, role
        assert (await w.client.get(f"{URL}/{X}", headers=headers)).status_code == 404, role
    for kind in ClientKind:
        headers = {"authorization": f"Bearer {await w.token(w.a, kind)}"}
        assert (await w.client.get(URL, headers=headers)).status_code == 403, kind
        assert (await w.client.get(f"{URL}/{X}", headers=headers)).status_code == 404, kind
    for role in (Role.SECRETARY, Role.COMMISSION_ADMIN):
        response = await w.client.get(f"{URL}/{X}", headers=await w.login(w.a, role))
        assert response.status_code == 200, response.text


async def test_the_report_on_the_command_line(auth_world: World) -> None:
    w = auth_world
    book = Book(w.runtime, w.a.id)
    for _ in range(2):
        await book.case(lender=X, lender_name="甲小额贷款公司", over_cap=True)
    await book.awarded("0.5", lender=Y, lender_name="乙消费金融公司")
    env = {
        **make_env(Path(w.settings.data_dir).parent),
        "ARBITRAL_DATABASE_URL": w.settings.database.url,
    }
    result = await asyncio.to_thread(run, "fairness", "report", "--tenant", w.a.slug, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["id_number", "name", "filed"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {X, Y}
    assert rows[X][-1] == "over_cap_claims"
    assert rows[Y][-1] == "-"
    flagged = await asyncio.to_thread(
        run, "fairness", "report", "--tenant", w.a.slug, "--flagged", env=env
    )
    assert [line.split()[0] for line in flagged.stdout.splitlines()[1:]] == [X]
