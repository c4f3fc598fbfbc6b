"""What a claim filed one by one means to the batches context: its loan contract is claimed.

A lender's online-loan claim filed through ``POST /api/v1/cases`` registers its contract
in ``loan_contract`` like a batch row does, under the same per-lender lock: the same
contract claimed again, one by one or in a batch, is refused with the existing case
(409 here, a ``duplicate`` row in a batch's report). A claim amended after being
returned for correction moves its registration with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arbitral.batches.bulk import CONTRACT_COLUMNS, claimed_contracts, lock_lender
from arbitral.batches.validate import interest_figures
from arbitral.cases import hooks
from arbitral.cases.hooks import Transitioned
from arbitral.db.bulk import insert_rows
from arbitral.errors import Conflict, FieldProblem
from arbitral.rules import loans

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime


@hooks.after("file")
async def register_loan_contract(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    await _register(uow, runtime, event)


@hooks.after("amend")
async def reregister_loan_contract(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    """A claim returned for correction and amended: the registration follows the new claim
    (another contract number is claimed afresh, and refused if another case has it)."""
    await _register(uow, runtime, event)


async def _register(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    claim: dict[str, Any] = event.data["claim"]
    loan, claimant = claim.get("loan"), claim.get("claimant")
    tenant_id = event.tenant.id
    if not isinstance(loan, dict) or not isinstance(claimant, dict):
        # Amended into a claim without a loan: the case claims no contract any more.
        await uow.execute(
            "DELETE FROM loan_contract WHERE tenant_id = {} AND case_id = {}",
            tenant_id,
            event.case_id,
        )
        return
    lender = str(claimant["id_number"])
    number = str(loan["contract_number"])
    await lock_lender(uow, tenant_id, lender)
    existing = (await claimed_contracts(uow, tenant_id, lender, [number])).get(number)
    if existing is not None and existing != event.case_id:
        raise Conflict(
            f"contract {number} is already claimed (case {existing})",
            errors=[FieldProblem("$.claim.loan.contract_number", "duplicate", str(existing))],
            extensions={"case_id": str(existing)},
        )
    claimed, supported, over_cap = _interest(runtime, event, loan)
    amount = Decimal(str(claim["amount_claimed"]))
    if event.command != "file":
        updated = await uow.fetch(
            "UPDATE loan_contract SET lender_id_number = {}, contract_number = {}, "
            "amount_claimed = {}, interest_claimed = {}, interest_supported = {}, "
            "over_cap = {} WHERE tenant_id = {} AND case_id = {} RETURNING id",
            lender,
            number,
            amount,
            claimed,
            supported,
            over_cap,
            tenant_id,
            event.case_id,
        )
        if updated:
            return
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
                amount,
                claimed,
                supported,
                over_cap,
                uow.now(),
            )
        ],
    )


def _interest(
    runtime: Runtime, event: Transitioned, loan: dict[str, Any]
) -> tuple[Decimal, Decimal, bool]:
    """The interest claimed and what the ceiling supports (zeros when not assessable)."""
    rules = runtime.rules.get(event.tenant.rule_set, event.tenant.rule_set_version)
    loan_rules = rules.case_type(str(event.data["case_type"])).loan_assessment
    if loan_rules is None:
        return Decimal(0), Decimal(0), False
    try:
        assessment = loans.assess_loan(
            loans.parse_loan(loan), loan_rules, runtime.rules.lpr_history()
        )
    except (loans.LoanInputError, loans.LprUnknown):
        # The tribunal's assessment will say why; nothing to flag here.
        return Decimal(0), Decimal(0), False
    claimed, supported = interest_figures(assessment)
    return claimed, supported, claimed > supported
