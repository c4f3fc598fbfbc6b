"""Drafting, revising and voting on an award; who sees what; asking for it to be issued."""

from __future__ import annotations

from typing import Any

from arbitral.audit.services import Actor
from tests.awards.helpers import AWARDS, COMPLETE, awards_url, ready_case, three_member_case
from tests.hearings.helpers import constituted_case, history
from tests.support.world import World


async def _draft(w: World, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await w.client.post(awards_url(case_id), json=body, headers=headers)


async def _vote(
    w: World, award: dict[str, Any], headers: dict[str, str], vote: str, opinion: str = ""
) -> Any:
    return await w.client.post(
        f"{AWARDS}/{award['id']}/votes",
        json={"vote": vote, "content_sha256": award["content_sha256"], "opinion": opinion},
        headers=headers,
    )


async def test_the_sole_arbitrator_drafts_completes_approves_and_the_secretary_issues(
    auth_world: World,
) -> None:
    w = auth_world
    case, who = await ready_case(w)
    case_id, tribunal = case["id"], who["arbitrator"]
    drafted = await _draft(w, case_id, tribunal)
    assert drafted.status_code == 201, drafted.text
    award = drafted.json()
    assert award["status"] == "draft"
    assert award["kind"] == "award"
    # Suggested from the case: the claimed amount from the respondent, the fees on it.
    assert award["content"]["decision"] == [
        {"text": "被申请人向申请人支付2,500.00元", "amount": "2500.00", "payer": "respondent"}
    ]
    fees = award["content"]["fees"]
    assert fees["claimant"] == "0.00"
    assert fees["respondent"] == fees["total"]
    assert {m["field"] for m in award["missing"]} == {"$.facts", "$.reasoning", "$.place"}

    incomplete = await _vote(w, award, tribunal, "concur")
    assert incomplete.status_code == 422, incomplete.text
    assert {e["field"] for e in incomplete.json()["errors"]} == {
        "$.facts",
        "$.reasoning",
        "$.place",
    }

    revised = await w.client.patch(
        f"{AWARDS}/{award['id']}", json={"if_version": 1, **COMPLETE}, headers=tribunal
    )
    assert revised.status_code == 200, revised.text
    award = revised.json()
    assert award["missing"] == []
    assert award["version"] == 2
    stale = await w.client.patch(
        f"{AWARDS}/{award['id']}", json={"if_version": 1, "place": "深圳"}, headers=tribunal
    )
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "$.if_version"

    # The parties do not see the tribunal's draft.
    for party in ("claimant", "respondent"):
        assert (
            await w.client.get(f"{AWARDS}/{award['id']}", headers=who[party])
        ).status_code == 404
        listed = await w.client.get(awards_url(case_id), headers=who[party])
        assert listed.status_code == 200
        assert listed.json() == []
    # Nobody but the tribunal votes; a vote is for the text as read.
    assert (await _vote(w, award, who["secretary"], "concur")).status_code in (403, 404)
    old = {**award, "content_sha256": "0" * 64}
    assert (await _vote(w, old, tribunal, "concur")).status_code == 409
    voted = await _vote(w, award, tribunal, "concur")
    assert voted.status_code == 200, voted.text
    award = voted.json()
    assert award["status"] == "approved"
    assert award["approved_at"] is not None
    assert [v["vote"] for v in award["votes"]] == ["concur"]

    # The tribunal does not issue; the secretary does, and a job makes the document.
    refused = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=tribunal)
    assert refused.status_code in (403, 404)
    unsigned = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=who["secretary"])
    assert unsigned.status_code == 409, unsigned.text  # no document signer yet
    assert unsigned.json()["errors"][0]["rule"] == "document_signer"
    assert "issue-document-signer" in unsigned.json()["detail"]
    await w.runtime.document_keys.issue_development(
        w.a.id, actor=Actor(kind="operator", id="tests")
    )
    issuing = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=who["secretary"])
    assert issuing.status_code == 202, issuing.text
    assert issuing.json()["status"] in ("issuing", "issued")
    again = await w.client.post(f"{AWARDS}/{award['id']}/issue", headers=who["secretary"])
    assert again.status_code == 409
    commands = [e["command"] for e in await history(w, case_id, tribunal)]
    deliberation = {
        "award_drafted",
        "award_revised",
        "award_vote",
        "award_approved",
        "award_issue_requested",
    }
    assert deliberation <= set(commands)
    assert deliberation <= {e["command"] for e in await history(w, case_id, who["secretary"])}
    # The parties do not follow the deliberation in the case history either.
    for party in ("claimant", "respondent"):
        seen = {e["command"] for e in await history(w, case_id, who[party])}
        assert not seen & deliberation, seen


async def test_bad_drafts_are_refused_precisely(auth_world: World) -> None:
    w = auth_world
    early, who = await constituted_case(w)
    tribunal = who["arbitrator"]
    too_early = await _draft(w, early["id"], tribunal, **COMPLETE)
    assert too_early.status_code == 409
    assert too_early.json()["errors"][0]["rule"] == "case_state"

    case, who = await ready_case(w)
    case_id = case["id"]
    assert (await _draft(w, case_id, who["secretary"])).status_code in (403, 404)
    assert (await _draft(w, case_id, who["claimant"])).status_code in (403, 404)
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"fees": {"claimant": "1.00", "respondent": "1.00"}}, "$.fees", "sum"),
        (
            {"decision": [{"text": "支付", "amount": "1.005", "payer": "respondent"}]},
            "$.decision[0].amount",
            "precision",
        ),
        ({"decision": [{"text": "支付", "amount": "10"}]}, "$.decision[0].payer", "required"),
        (
            {"decision": [{"text": "支付", "amount": "10", "payer": "court"}]},
            "$.decision[0].payer",
            "choice",
        ),
        ({"decision": [{"text": "  "}]}, "$.decision[0].text", "required"),
        (
            {"decision": [{"text": "x", "amount": "-1", "payer": "respondent"}]},
            "$.decision[0].amount",
            "range",
        ),
        ({"facts": "x" * 50_001}, "$.facts", "max_length"),
    ]
    for body, field, rule in bad:
        response = await _draft(w, case_id, who["arbitrator"], **body)
        assert response.status_code == 422, (body, response.text)
        assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}, (
            body,
            response.text,
        )
    unknown = await _draft(w, case_id, who["arbitrator"], verdict="guilty")
    assert unknown.status_code == 400
    assert (await w.client.get(awards_url(case_id), headers=who["arbitrator"])).json() == []

    first = await _draft(w, case_id, who["arbitrator"], **COMPLETE)
    assert first.status_code == 201, first.text
    second = await _draft(w, case_id, who["arbitrator"], **COMPLETE)
    assert second.status_code == 409
    assert second.json()["errors"][0]["rule"] == "award_open"


async def test_a_three_member_tribunal_decides_by_majority_with_a_dissent(
    auth_world: World,
) -> None:
    w = auth_world
    case, who, (member_1, member_2) = await three_member_case(w)
    presiding = who["arbitrator"]
    assert (await _draft(w, case["id"], member_1, **COMPLETE)).status_code == 403
    drafted = await _draft(w, case["id"], presiding, **COMPLETE)
    assert drafted.status_code == 201, drafted.text
    award = drafted.json()

    award = (await _vote(w, award, presiding, "concur")).json()
    assert award["status"] == "draft"  # one of three
    dissent = await _vote(w, award, member_1, "dissent", "应驳回赔偿损失的请求。")
    assert dissent.status_code == 200, dissent.text
    assert dissent.json()["status"] == "draft"
    award = (await _vote(w, award, member_2, "concur")).json()
    assert award["status"] == "approved"  # two of three
    assert sorted((v["vote"], v["opinion"]) for v in award["votes"]) == [
        ("concur", ""),
        ("concur", ""),
        ("dissent", "应驳回赔偿损失的请求。"),
    ]
    # A member changing its mind takes the majority away.
    award = (await _vote(w, award, member_2, "dissent")).json()
    assert award["status"] == "draft"
    award = (await _vote(w, award, member_2, "concur")).json()
    assert award["status"] == "approved"
    # A revision is a new text: the votes on the old one are gone.
    revised = await w.client.patch(
        f"{AWARDS}/{award['id']}",
        json={"if_version": award["version"], "place": "深圳"},
        headers=presiding,
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["status"] == "draft"
    assert revised.json()["votes"] == []
    assert (await _vote(w, award, member_1, "concur")).status_code == 409  # the old text


def test_a_document_is_made_only_with_a_template_its_rule_set_names() -> None:
    from arbitral.awards.domain import AwardKind, template_missing

    named = ("award", "consent-award")
    assert template_missing(AwardKind.AWARD, named, "x") is None
    assert template_missing(AwardKind.CORRECTION, named, "x") is None
    missing = template_missing(AwardKind.MEDIATION_STATEMENT, named, "the case type")
    assert missing is not None
    assert "'mediation-statement'" in missing


async def test_issuing_is_refused_when_the_rule_set_names_no_award_template(
    auth_world: World, monkeypatch: Any
) -> None:
    from dataclasses import replace

    from arbitral.awards import drafting

    w = auth_world
    await w.runtime.document_keys.issue_development(
        w.a.id, actor=Actor(kind="operator", id="tests")
    )
    case, who = await ready_case(w)
    drafted = (await _draft(w, case["id"], who["arbitrator"], **COMPLETE)).json()
    approved = (await _vote(w, drafted, who["arbitrator"], "concur")).json()
    assert approved["status"] == "approved"
    real = drafting.case_type_rules

    def without_award(runtime: Any, row: Any) -> Any:
        rules = real(runtime, row)
        return replace(rules, templates=tuple(t for t in rules.templates if t != "award"))

    monkeypatch.setattr(drafting, "case_type_rules", without_award)
    refused = await w.client.post(f"{AWARDS}/{approved['id']}/issue", headers=who["secretary"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"][0]["rule"] == "template"
    assert "'award'" in refused.json()["detail"]
