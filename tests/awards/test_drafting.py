"""The first draft of an online-loan award comes from the loan-claim assessment."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from arbitral.awards import domain, drafting
from arbitral.rules.loader import load_rule_book
from tests.conftest import REPO_ROOT, rules_for_tests


def _loan_case_row() -> dict[str, Any]:
    loan = json.loads((REPO_ROOT / "rules" / "examples" / "loan-private.json").read_text())
    return {
        "rule_set": "gba-alliance/online-arbitration",
        "rule_set_version": "1.2",
        "case_type": "online-loan",
        "amount_claimed": "10781.00",
        "claim": json.dumps({"loan": loan, "claims": "偿还借款本息"}),
    }


def test_an_online_loan_decision_is_drafted_from_the_assessment() -> None:
    runtime: Any = SimpleNamespace(rules=load_rule_book(rules_for_tests()))
    row = _loan_case_row()
    suggested = drafting.suggested_content(runtime, row)
    # Supported amounts only (arbitral rules assess-loan on the example: principal
    # 8731.01 and interest 345.03; default interest and penalty beyond the 15.40% ceiling).
    assert suggested["decision"] == [
        {
            "text": "被申请人向申请人支付借款本金8,731.01元",
            "amount": "8731.01",
            "payer": "respondent",
        },
        {"text": "被申请人向申请人支付利息345.03元", "amount": "345.03", "payer": "respondent"},
        {"text": "驳回申请人的其他仲裁请求"},
    ]
    content, problems = domain.parse_content(
        {**suggested, "facts": "借款事实", "reasoning": "理由", "place": "广州"},
        drafting.fee_total(runtime, row),
    )
    assert problems == []
    assert content.fees.respondent == content.fees.total > Decimal(0)
    assert sum(i.amount or 0 for i in content.decision) == Decimal("9076.04")


def test_a_purchase_decision_is_drafted_from_the_claimed_amount() -> None:
    runtime: Any = SimpleNamespace(rules=load_rule_book(rules_for_tests()))
    row = {
        "rule_set": "gba-alliance/online-arbitration",
        "rule_set_version": "1.2",
        "case_type": "online-purchase",
        "amount_claimed": "2500.00",
        "claim": {"claims": "退还货款"},
    }
    assert drafting.loan_assessment(runtime, row) is None
    assert drafting.suggested_content(runtime, row)["decision"] == [
        {"text": "被申请人向申请人支付2,500.00元", "amount": "2500.00", "payer": "respondent"}
    ]
