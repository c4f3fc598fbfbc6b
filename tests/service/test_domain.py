"""The ladder, pure: next steps, skips, decisions, exhaustion; the SMS signature."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.notify.aliyun import out_id, parse_out_id, parse_reports, percent_encode, sign
from arbitral.rules.service import ServiceRules, ServiceStep
from arbitral.service.domain import (
    Addresses,
    AttemptStatus,
    Basis,
    Decision,
    Outcome,
    advances,
    decide,
    on_exhausted,
    plan_from,
    rules_from_json,
    staff_problems,
)

RULES = ServiceRules(
    ladder=(ServiceStep("sms", 24), ServiceStep("email", 48), ServiceStep("portal", 72)),
    complete_when="delivered",
    on_exhausted="refer_to_staff",
)


def test_the_first_step_with_an_address_is_tried_and_the_others_skipped() -> None:
    plan = plan_from(RULES, Addresses(sms=None, email="a@b.cn", portal="u1"), 0)
    assert plan.next is not None
    assert (plan.next.index, plan.next.step.channel, plan.next.destination) == (
        1,
        "email",
        "a@b.cn",
    )
    assert [i for i, _ in plan.skipped] == [0]
    # From the step after email: the portal.
    after = plan_from(RULES, Addresses(email="a@b.cn", portal="u1"), 2)
    assert after.next is not None
    assert after.next.step.channel == "portal"
    # No address at all: exhausted, every step skipped.
    none = plan_from(RULES, Addresses(), 0)
    assert none.next is None
    assert [i for i, _ in none.skipped] == [0, 1, 2]
    assert plan_from(RULES, Addresses(sms="+86139"), 3).next is None


def test_decisions() -> None:
    def run(outcome: Outcome, rules: ServiceRules = RULES, **kw: bool) -> Decision:
        return decide(rules, outcome=outcome, **{"current_step": True, "serving": True, **kw})

    assert run(Outcome.DELIVERED) is Decision.COMPLETE
    assert run(Outcome.OPENED) is Decision.COMPLETE
    assert run(Outcome.FAILED) is Decision.ADVANCE
    assert run(Outcome.TIMED_OUT) is Decision.ADVANCE
    assert run(Outcome.SENT) is Decision.WAIT
    # A late failure of a step the ladder has left changes nothing; a late delivery serves.
    assert run(Outcome.FAILED, current_step=False) is Decision.IGNORE
    assert run(Outcome.DELIVERED, current_step=False) is Decision.COMPLETE
    # Once served or referred, reports are only recorded.
    assert run(Outcome.DELIVERED, serving=False) is Decision.IGNORE
    opened = ServiceRules(RULES.ladder, "opened", "refer_to_staff")
    assert run(Outcome.DELIVERED, opened) is Decision.WAIT
    assert run(Outcome.OPENED, opened) is Decision.COMPLETE


def test_outcomes_never_move_an_attempt_back() -> None:
    assert advances(AttemptStatus.QUEUED, Outcome.SENT)
    assert advances(AttemptStatus.SENT, Outcome.DELIVERED)
    assert advances(AttemptStatus.TIMED_OUT, Outcome.DELIVERED)  # late, but delivered
    assert advances(AttemptStatus.DELIVERED, Outcome.OPENED)
    assert not advances(AttemptStatus.DELIVERED, Outcome.FAILED)
    assert not advances(AttemptStatus.DELIVERED, Outcome.DELIVERED)  # a report twice
    assert not advances(AttemptStatus.FAILED, Outcome.FAILED)
    assert not advances(AttemptStatus.FAILED, Outcome.SENT)
    assert not advances(AttemptStatus.SKIPPED, Outcome.DELIVERED)


@given(st.lists(st.sampled_from(list(Outcome)), max_size=12))
def test_an_attempt_settles_whatever_order_reports_come_in(outcomes: list[Outcome]) -> None:
    status = AttemptStatus.QUEUED
    for outcome in outcomes:
        if advances(status, outcome):
            status = AttemptStatus(outcome.value)
    if Outcome.OPENED in outcomes:
        assert status is AttemptStatus.OPENED
    elif Outcome.DELIVERED in outcomes:
        assert status is AttemptStatus.DELIVERED


def test_exhaustion() -> None:
    assert on_exhausted(RULES, [AttemptStatus.TIMED_OUT]) is None  # refer_to_staff
    deemed = ServiceRules(RULES.ladder, "delivered", "deemed_served")
    assert on_exhausted(deemed, [AttemptStatus.FAILED, AttemptStatus.TIMED_OUT]) is Basis.DEEMED
    # Nothing sent, or everything refused: no agreement makes that service.
    assert on_exhausted(deemed, [AttemptStatus.SKIPPED] * 3) is None
    assert on_exhausted(deemed, [AttemptStatus.FAILED, AttemptStatus.FAILED]) is None
    assert rules_from_json(RULES.as_json()) == RULES


def test_staff_service_needs_a_method_and_a_reason() -> None:
    assert staff_problems("post", "EMS 1234 signed for on 1 March") == []
    assert {p[0] for p in staff_problems("fax", " ")} == {"$.method", "$.reason"}


# -- Alibaba Cloud's RPC signature (version 1.0) -----------------------------------------


def test_percent_encoding_is_rfc_3986() -> None:
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"


def test_the_signature_of_alibaba_clouds_documented_example() -> None:
    """The worked example of Alibaba Cloud's RPC signature document (ECS DescribeRegions,
    AccessKeySecret ``testsecret``): the signature is ``OLeaidS1JvxuMvnyHOwuJ+uX5qY=``."""
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert sign("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    # Any change of a parameter, the method or the secret changes it.
    assert sign("POST", params, "testsecret") != "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert sign("GET", {**params, "Format": "JSON"}, "testsecret") != sign("GET", params, "x")


def test_reports_name_their_tenant_and_message() -> None:
    import uuid

    tenant, message = uuid.uuid4(), uuid.uuid4()
    reference = out_id(tenant, str(message))
    assert parse_out_id(reference) == (tenant, message)
    reports, strangers = parse_reports(
        [
            {"out_id": reference, "biz_id": "1^0", "success": False, "err_code": "UNDELIV"},
            {"out_id": "someone-else", "biz_id": "2^0", "success": True},
            "junk",
        ]
    )
    assert [(r.tenant_id, r.message_id, r.success, r.code) for r in reports] == [
        (tenant, message, False, "UNDELIV")
    ]
    assert strangers == 2
    with pytest.raises(ValueError, match="array"):
        parse_reports({"not": "a list"})
