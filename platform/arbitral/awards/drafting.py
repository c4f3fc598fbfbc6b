"""What the case says, assembled for an award: parties, tribunal, history, claims, fees.

The tribunal writes the facts, the reasoning and the decision; everything else in an
award comes from the case as it stands when the document is made, so that the award and
the case record can never disagree: the parties as the claim names them, the sitting
tribunal, the procedural history from the case history and the due-process record, the
claims, the fees the rule set assesses, and for online-loan cases the loan-claim
assessment, from which a first draft of the decision items is made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from arbitral.awards import domain
from arbitral.cases import due_process
from arbitral.cases import services as cases
from arbitral.cases.domain import COMMANDS
from arbitral.db.values import as_datetime
from arbitral.rules import loans

if TYPE_CHECKING:
    from arbitral.auth.domain import Principal
    from arbitral.rules.model import CaseTypeRules
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

# What the history calls its events, where the command has no label of its own.
EVENT_LABELS: Final[Mapping[str, str]] = {
    "file": "申请人提交仲裁申请",
    "served": "向被申请人送达仲裁通知",
    "service_completed": "送达完成",
    "answer": "被申请人提交答辩",
    "counterclaim": "被申请人提出反请求",
    "waive_period": "当事人放弃期限",
    "tribunal_constituted": "组成仲裁庭",
    "challenge": "当事人申请仲裁员回避",
    "award_drafted": "仲裁庭起草裁决书",
    "award_approved": "仲裁庭合议通过裁决书",
}

LOAN_ITEMS: Final[Mapping[str, str]] = {
    "principal": "借款本金",
    "interest": "利息",
    "default_interest": "逾期利息",
    "fees": "费用",
    "penalty": "违约金",
}


def _claim(row: Mapping[str, Any]) -> dict[str, Any]:
    claim = row["claim"]
    return json.loads(claim) if isinstance(claim, str) else dict(claim)


def case_type_rules(runtime: Runtime, row: Mapping[str, Any]) -> CaseTypeRules:
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    return rules.case_type(str(row["case_type"]))


def fee_total(runtime: Runtime, row: Mapping[str, Any]) -> Decimal:
    """The fees the rule set assesses on the claim (what the claimant was invoiced)."""
    amount = Decimal(str(row["amount_claimed"]))
    return case_type_rules(runtime, row).fees.assess(amount).total


def loan_assessment(runtime: Runtime, row: Mapping[str, Any]) -> loans.LoanAssessment | None:
    """The loan-claim assessment of an online-loan case (None for other types)."""
    rules = case_type_rules(runtime, row)
    claim = _claim(row)
    if rules.loan_assessment is None or "loan" not in claim:
        return None
    book = runtime.rules
    return loans.assess_loan(
        loans.parse_loan(claim["loan"]), rules.loan_assessment, book.lpr_history()
    )


def suggested_content(runtime: Runtime, row: Mapping[str, Any]) -> dict[str, Any]:
    """A first draft of the decision: the claim's amount, or the loan assessment's items."""
    assessment = loan_assessment(runtime, row)
    decision: list[dict[str, Any]] = []
    if assessment is not None:
        for item in assessment.items:
            if item.supported > 0:
                label = LOAN_ITEMS.get(item.name, item.name)
                decision.append(
                    {
                        "text": f"被申请人向申请人支付{label}{item.supported:,.2f}元",
                        "amount": f"{item.supported:.2f}",
                        "payer": "respondent",
                    }
                )
        if assessment.total("unsupported") > 0:
            decision.append({"text": "驳回申请人的其他仲裁请求"})
    else:
        amount = Decimal(str(row["amount_claimed"]))
        decision.append(
            {
                "text": f"被申请人向申请人支付{amount:,.2f}元",
                "amount": f"{amount:.2f}",
                "payer": "respondent",
            }
        )
    return {"facts": "", "reasoning": "", "decision": decision, "place": ""}


def suggested_on_agreement(agreement: Mapping[str, Any]) -> dict[str, Any]:
    """A first draft of a consent award or mediation statement: the agreement's terms as
    decision items (one per numbered line or paragraph), the fees on the respondent as for
    an award, and the agreement itself (id, SHA-256, when both sides had signed)."""
    terms = domain.terms_from_agreement(str(agreement["text"]))
    return {
        "facts": "",
        "reasoning": "",
        "decision": [{"text": term} for term in terms],
        "place": "",
        "agreement": {
            "id": str(agreement["id"]),
            "sha256": str(agreement["sha256"]),
            "signed_at": as_datetime(agreement["signed_at"]).isoformat(),
        },
    }


def _history(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    entries = []
    for event in events:
        command = str(event["command"])
        known = COMMANDS.get(command)
        label = (
            known.label_zh if known is not None and known.label_zh else EVENT_LABELS.get(command)
        )
        if label is None:
            continue  # steps inside a stage (posts, views) are not procedural history
        entries.append(
            {"at": as_datetime(event["at"]).isoformat(), "event": label, "command": command}
        )
    return entries


async def assemble(
    runtime: Runtime, tenant: TenantInfo, principal: Principal, case_id: UUID
) -> dict[str, Any]:
    """Everything the award takes from the case, as plain JSON values (read as ``principal``,
    who must be entitled to see the case)."""
    record = await due_process.record(runtime, principal, case_id)
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        case = await cases.load_case(uow, tenant.id, case_id)
        events = await uow.fetch(
            "SELECT command, at FROM case_event WHERE tenant_id = {} AND case_id = {} ORDER BY seq",
            tenant.id,
            case_id,
        )
        # The counterclaim the tribunal decides with the claim: one whose fee was paid.
        counterclaims = await uow.fetch(
            "SELECT claims, amount FROM case_counterclaim WHERE tenant_id = {} AND case_id = {} "
            "AND status = 'standing'",
            tenant.id,
            case_id,
        )
    row = case.row
    claim = _claim(row)
    rules = case_type_rules(runtime, row)
    assessment = loan_assessment(runtime, row)
    fee = rules.fees.assess(Decimal(str(row["amount_claimed"])))
    return {
        "commission": {"slug": tenant.slug, "name_zh": tenant.names.zh, "name_en": tenant.names.en},
        "case": {
            "id": str(case.id),
            "number": row["number"],
            "case_type": str(row["case_type"]),
            "rule_set": str(row["rule_set"]),
            "rule_set_version": str(row["rule_set_version"]),
            "case_type_title": rules.title_zh,
            "filed_at": as_datetime(row["filed_at"]).isoformat(),
            "amount_claimed": f"{Decimal(str(row['amount_claimed'])):.2f}",
            "claims": str(claim.get("claims", "")),
            "facts_and_reasons": str(claim.get("facts_and_reasons", "")),
        },
        "parties": [
            {
                "side": str(p["side"]),
                "kind": str(p["kind"]),
                "name": str(p["name"]),
                "id_number": str(p["id_number"]),
                "address": p["address"],
            }
            for p in case.parties
        ],
        "tribunal": [
            {"user_id": str(m["user_id"]), "name": str(m["display_name"]), "role": str(m["role"])}
            for m in case.tribunal
        ],
        "history": _history(events),
        "due_process": {
            "respondent_in_default": record.respondent_in_default,
            "respondent_first_opened_at": (
                record.respondent_first_opened_at.isoformat()
                if record.respondent_first_opened_at
                else None
            ),
            "answered_at": record.answered_at.isoformat() if record.answered_at else None,
            "served": [{"at": ref.at.isoformat(), "event": ref.command} for ref in record.service],
        },
        "fees": fee.as_json(),
        "counterclaims": [
            {"claims": str(c["claims"]), "amount": f"{Decimal(str(c['amount'])):.2f}"}
            for c in counterclaims
        ],
        "loan": assessment.as_json() if assessment is not None else None,
    }
