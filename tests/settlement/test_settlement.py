"""Settlement through the API: offers, counter-offers, mediation, the agreement signed by both."""

from __future__ import annotations

import hashlib
from typing import Any

from arbitral.auth.domain import Role
from arbitral.cases.domain import Side
from arbitral.settlement import domain
from arbitral.settlement.domain import AgreementStatus, Decision, OfferStatus
from tests.cases.helpers import URL, accepted_case
from tests.hearings.helpers import history, state_of
from tests.support.clock import FakeClock
from tests.support.world import World


async def test_offer_counter_offer_mediation_agreement_signed_by_both_settled(
    auth_world: World,
) -> None:
    w = auth_world
    w.runtime.clock = FakeClock()
    case, who = await accepted_case(w)
    base = f"{URL}/{case['id']}/settlement"
    claimant, respondent, secretary = who["claimant"], who["respondent"], who["secretary"]

    async def call(path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        return await w.client.post(f"{base}{path}", json=body, headers=headers)

    bad = await call("/offers", claimant, {"terms": "退款", "amount": "12.345"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "$.amount"
    not_party = await call("/offers", secretary, {"terms": "退款"})
    assert not_party.status_code == 403
    offered = await call("/offers", claimant, {"terms": "全额退款并赔偿运费", "amount": "2500.00"})
    assert offered.status_code == 201, offered.text
    first = offered.json()["offers"][0]
    own = await call(f"/offers/{first['id']}/decision", claimant, {"decision": "accept"})
    assert own.status_code == 409  # the other side accepts an offer
    countered = await call(
        "/offers", respondent, {"terms": "退款 1500 元", "amount": "1500", "reply_to": first["id"]}
    )
    assert countered.status_code == 201, countered.text
    offers = countered.json()["offers"]
    assert [o["status"] for o in offers] == ["countered", "open"]
    assert offers[1]["amount"] == "1500.00"
    stale = await call(f"/offers/{first['id']}/decision", respondent, {"decision": "accept"})
    assert stale.status_code == 409  # countered: no longer open
    accepted = await call(f"/offers/{offers[1]['id']}/decision", claimant, {"decision": "accept"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["offers"][1]["status"] == "accepted"

    # Mediation by a member of the staff.
    mediator = str(w.a.users[Role.SECRETARY])
    by_party = await call("/mediation", claimant, {"mediator_user_id": mediator})
    assert by_party.status_code in (403, 404)  # parties hold no cases:manage
    not_staff = await call(
        "/mediation", secretary, {"mediator_user_id": str(w.a.users[Role.CLAIMANT])}
    )
    assert not_staff.status_code == 422
    started = await call("/mediation", secretary, {"mediator_user_id": mediator})
    assert started.status_code == 201, started.text
    assert started.json()["mediations"][0]["mediator_kind"] == "staff"

    text = "被申请人于七日内向申请人退款 1500 元，申请人放弃其余请求，仲裁费由双方各半负担。"
    proposed = await call(
        "/agreements",
        secretary,
        {"text": text, "outcome": "mediation_statement", "offer_id": offers[1]["id"]},
    )
    assert proposed.status_code == 201, proposed.text
    agreement = proposed.json()["agreements"][0]
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert agreement["sha256"] == digest
    signatures = f"/agreements/{agreement['id']}/signatures"

    # Each side signs for itself only, the very text it read.
    other_side = await call(signatures, claimant, {"side": "respondent", "sha256": digest})
    assert other_side.status_code == 403
    assert other_side.json()["errors"][0]["rule"] == "own_side"
    wrong_text = await call(signatures, claimant, {"side": "claimant", "sha256": "0" * 64})
    assert wrong_text.status_code == 422
    assert wrong_text.json()["errors"][0]["field"] == "$.sha256"
    staff_sign = await call(signatures, secretary, {"side": "claimant", "sha256": digest})
    assert staff_sign.status_code == 403
    signed = await call(signatures, claimant, {"side": "claimant", "sha256": digest})
    assert signed.status_code == 201, signed.text
    twice = await call(signatures, claimant, {"side": "claimant", "sha256": digest})
    assert twice.status_code == 409
    early = await call(f"/agreements/{agreement['id']}/record", secretary, {})
    assert early.status_code == 409  # the respondent has not signed
    signed = await call(signatures, respondent, {"side": "respondent", "sha256": digest.upper()})
    assert signed.status_code == 201, signed.text
    assert signed.json()["agreements"][0]["status"] == "signed"

    by_claimant = await call(f"/agreements/{agreement['id']}/record", claimant, {})
    assert by_claimant.status_code == 403
    recorded = await call(f"/agreements/{agreement['id']}/record", secretary, {})
    assert recorded.status_code == 200, recorded.text
    final = recorded.json()
    assert final["case_state"] == "settled"
    assert final["agreements"][0]["status"] == "concluded"
    assert final["agreements"][0]["document_requested"] == "mediation_statement"
    assert final["mediations"][0]["result"] == "settled"
    assert await state_of(w, case["id"], respondent) == "settled"
    events = await history(w, case["id"], respondent)
    settled = next(e for e in events if e["command"] == "record_settlement")
    assert settled["data"]["sha256"] == digest
    assert settled["data"]["document_requested"] == "mediation_statement"
    assert [e["command"] for e in events].count("settlement_signed") == 2
    after = await call("/offers", claimant, {"terms": "再谈"})
    assert after.status_code == 409
    other = await w.client.get(base, headers=await w.login(w.b, Role.CLAIMANT))
    assert other.status_code == 404


async def test_a_settlement_by_withdrawal(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    base = f"{URL}/{case['id']}/settlement"
    claimant, respondent, secretary = who["claimant"], who["respondent"], who["secretary"]

    async def call(path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        return await w.client.post(f"{base}{path}", json=body, headers=headers)

    nothing_agreed = await call(
        "/agreements", respondent, {"text": "撤回", "outcome": "withdrawal"}
    )
    assert nothing_agreed.status_code == 409
    offer = (await call("/offers", respondent, {"terms": "已退款，请撤回", "amount": "0"})).json()
    offer_id = offer["offers"][0]["id"]
    withdrawn = await call(f"/offers/{offer_id}/decision", respondent, {"decision": "withdraw"})
    assert withdrawn.json()["offers"][0]["status"] == "withdrawn"
    offer = (await call("/offers", respondent, {"terms": "退款 2500 元后撤回"})).json()
    offer_id = offer["offers"][1]["id"]
    await call(f"/offers/{offer_id}/decision", claimant, {"decision": "accept"})
    text = "被申请人已退款 2500 元，申请人撤回仲裁申请。"
    agreement = (
        await call("/agreements", respondent, {"text": text, "outcome": "withdrawal"})
    ).json()["agreements"][0]
    for side, headers in (("claimant", claimant), ("respondent", respondent)):
        response = await call(
            f"/agreements/{agreement['id']}/signatures",
            headers,
            {"side": side, "sha256": agreement["sha256"]},
        )
        assert response.status_code == 201, response.text
    not_a_document = await call(f"/agreements/{agreement['id']}/record", secretary, {})
    assert not_a_document.status_code == 409
    by_respondent = await call(f"/agreements/{agreement['id']}/withdraw", respondent, {})
    assert by_respondent.status_code == 403
    done = await call(f"/agreements/{agreement['id']}/withdraw", claimant, {})
    assert done.status_code == 200, done.text
    assert done.json()["case_state"] == "withdrawn"
    assert done.json()["agreements"][0]["document_requested"] is None


def test_settlement_rules() -> None:
    c, r = Side.CLAIMANT, Side.RESPONDENT
    assert domain.decision_refusal(Decision.ACCEPT, r, c, OfferStatus.OPEN) is None
    assert domain.decision_refusal(Decision.ACCEPT, c, c, OfferStatus.OPEN) is not None
    assert domain.decision_refusal(Decision.WITHDRAW, c, c, OfferStatus.OPEN) is None
    assert domain.decision_refusal(Decision.WITHDRAW, r, c, OfferStatus.OPEN) is not None
    assert domain.decision_refusal(Decision.REJECT, r, c, OfferStatus.ACCEPTED) is not None
    assert domain.counter_refusal(r, c, OfferStatus.OPEN) is None
    assert domain.counter_refusal(c, c, OfferStatus.OPEN) is not None
    digest = domain.sha256_of("协议")

    def refusal(signer: Side | None, side: Side, sha: str = digest) -> str | None:
        found = domain.signature_refusal(
            signer=signer,
            side=side,
            sha256=sha,
            agreement_sha256=digest,
            status=AgreementStatus.PROPOSED,
            signed=[c],
        )
        return found[1] if found else None

    assert refusal(None, c) == "party"
    assert refusal(c, r) == "own_side"
    assert refusal(r, r, "0" * 64) == "same_text"
    assert refusal(c, c) == "once"
    assert refusal(r, r) is None
    assert domain.fully_signed([c, r])
    assert not domain.fully_signed([c, c])
    assert domain.amount_problem("1e3") is None
    assert domain.amount_problem("-1") is not None
    assert domain.amount_problem("NaN") is not None
    assert domain.amount_problem("abc") is not None
