"""The service ladder and refunds on withdrawal, as rule set 1.2 states them (pure)."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import pytest

from arbitral.rules.checker import Checker
from arbitral.rules.loader import load_rule_book
from arbitral.rules.refunds import parse_refunds
from arbitral.rules.service import parse_service
from tests.conftest import REPO_ROOT

RULE_SET = "gba-alliance/online-arbitration"


def test_version_1_2_states_the_ladder_and_the_refunds() -> None:
    book = load_rule_book(REPO_ROOT / "rules")
    rules = book.get(RULE_SET, "1.2")
    assert rules.service is not None
    assert [(s.channel, s.wait_hours) for s in rules.service.ladder] == [
        ("sms", 24),
        ("email", 48),
        ("portal", 72),
    ]
    assert rules.service.step(3) is None
    assert rules.refunds is not None
    paid = {"acceptance": Decimal("1950.00"), "handling": Decimal("200.00")}
    assert rules.refunds.withdrawal_refund("accepted", paid) == {
        "acceptance": Decimal("1560.00"),
        "handling": Decimal("200.00"),
    }
    assert rules.refunds.withdrawal_refund("evidence_exchange", paid) == {
        "acceptance": Decimal("975.00"),
        "handling": Decimal("160.00"),
    }
    assert rules.refunds.withdrawal_refund("hearing", paid) == {
        "acceptance": Decimal("0.00"),
        "handling": Decimal("0.00"),
    }
    # Earlier versions say nothing about either: their cases are handled by staff.
    assert book.get(RULE_SET, "1.1").service is None
    assert book.get(RULE_SET, "1.0").refunds is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'ladder = []\ncomplete_when = "delivered"\non_exhausted = "refer_to_staff"',
            "service.ladder: must have at least 1 item",
        ),
        (
            'ladder = [{ channel = "fax", wait_hours = 1 }]\ncomplete_when = "delivered"\n'
            'on_exhausted = "refer_to_staff"',
            "service.ladder[0].channel: must be one of sms, email, portal, not 'fax'",
        ),
        (
            'ladder = [{ channel = "sms", wait_hours = 1 }, { channel = "sms", wait_hours = 2 }]\n'
            'complete_when = "delivered"\non_exhausted = "refer_to_staff"',
            "service.ladder[1].channel: sms is already a step of the ladder",
        ),
        (
            'ladder = [{ channel = "sms", wait_hours = 0 }]\ncomplete_when = "delivered"\n'
            'on_exhausted = "refer_to_staff"',
            "service.ladder[0].wait_hours: must be at least 1, not 0",
        ),
        (
            'ladder = [{ channel = "sms", wait_hours = 1 }]\ncomplete_when = "read"\n'
            'on_exhausted = "refer_to_staff"',
            "service.complete_when: must be one of delivered, opened, not 'read'",
        ),
    ],
)
def test_bad_ladders_are_named(text: str, problem: str) -> None:
    c = Checker("1.2.toml")
    assert parse_service(c, tomllib.loads(text), "service") is None
    assert problem in [f"{e.path}: {e.problem}" for e in c.errors]


def test_bad_refund_bands_are_named() -> None:
    c = Checker("1.2.toml")
    table = tomllib.loads(
        'withdrawal = [{ before = "hearing", acceptance = "0.5" },'
        ' { before = "accepted", acceptance = "1.5" }]'
    )
    assert parse_refunds(c, table, "refunds") is None
    shown = [f"{e.path}: {e.problem}" for e in c.errors]
    assert any(s.startswith("refunds.withdrawal[1].acceptance: must be at most 1") for s in shown)
    assert "refunds.withdrawal[1].before: bands must follow the lifecycle's order, each later" in (
        shown
    )
