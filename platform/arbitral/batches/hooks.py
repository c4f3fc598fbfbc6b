"""What a claim filed one by one means to the batches context: its loan contract is claimed.

A lender's online-loan claim filed through ``POST /api/v1/cases`` registers its contract
in ``loan_contract`` like a batch row does, under the same per-lender lock: the same
contract claimed again, one by one or in a batch, is refused with the existing case
(409 here, a ``duplicate`` row in a batch's report).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arbitral.batches.bulk import CONTRACT_COLUMNS, claimed_contracts, insert_rows, lock_lender
from arbitral.batches.validate import interest_figures
from arbitral.cases import hooks
from arbitral.cases.hooks import Transitioned
from arbitral.errors import Conflict, FieldProblem
from arbitral.rules import loans

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime


@hooks.after("file")
async def register_loan_contract(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    claim: dict[str, Any] = event.data["claim"]
    loan, claimant = claim.get("loan"), claim.get("claimant")
    if not isinstance(loan, dict) or not isinstance(claimant, dict):
        return
    tenant_id = event.tenant.id
    lender = str(claimant["id_number"])
    number = str(loan["contract_number"])
    await lock_lender(uow, tenant_id, lender)
    existing = (await claimed_contracts(uow, tenant_id, lender, [number])).get(number)
    if existing is not None:
        raise Conflict(
            f"contract {number} is already claimed (case {existing})",
            errors=[FieldProblem("$.claim.loan.contract_number", "duplicate", str(existing))],
            extensions={"case_id": str(existing)},
        )
    claimed = supported = Decimal(0)
    over_cap = False
    rules = runtime.rules.get(event.tenant.rule_set, event.tenant.rule_set_version)
    loan_rules = rules.case_type(str(event.data["case_type"])).loan_assessment
    if loan_rules is not None:
        try:
            assessment = loans.assess_loan(
                loans.parse_loan(loan), loan_rules, runtime.rules.lpr_history()
            )
        except (loans.LoanInputError, loans.LprUnknown):
            assessment = None  # the tribunal's assessment will say why; nothing to flag here
        if assessment is not None:
            claimed, supported = interest_figures(assessment)
            over_cap = claimed > supported
    principal = event.data["filed_by"]
    await insert_rows(
        uow,
        "loan_contract",
        CONTRACT_COLUMNS,
        [
            (
                None,  # a new id (NEW_ID)
                tenant_id,
                lender,
                number,
                event.case_id,
                None,
                None,
                principal.client_id,
                Decimal(str(claim["amount_claimed"])),
                claimed,
                supported,
                over_cap,
                uow.now(),
            )
        ],
    )
