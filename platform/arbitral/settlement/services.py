"""Use cases of the settlement context: offers, mediation, agreement, signatures, conclusion.

Each action is one transaction that also writes the case's history event and
the audit event; signatures and the concluded agreement go to the transparency
log (a court confirming the settlement checks the text by its hash).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from arbitral.auth.domain import Principal, Role
from arbitral.cases import services as cases
from arbitral.cases.domain import Actor, Side, actors_of, side_of
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.identity.services import tenant_of
from arbitral.ledger import services as ledger
from arbitral.settlement import domain
from arbitral.settlement.domain import AgreementStatus, Decision, OfferStatus, Outcome
from arbitral.settlement.schemas import (
    AgreementIn,
    AgreementOut,
    ConcludeIn,
    DecisionIn,
    MediationEndIn,
    MediationIn,
    MediationOut,
    OfferIn,
    OfferOut,
    SettlementOut,
    SignatureIn,
    SignatureOut,
)

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

MAX_REASON: Final = 5000


class SettlementRefused(Conflict):
    slug = "settlement-refused"
    title = "Settlement step refused"


# -- helpers -------------------------------------------------------------------------


def _choice(value: str, enum: type[Any], field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ValidationFailed(
            f"unknown {field[2:]}", errors=[FieldProblem(field, "choice", f"one of {choices}")]
        ) from None


def _text(value: str, field: str, *, maximum: int, required: bool = True) -> str:
    text = value.strip()
    if (required and not text) or len(text) > maximum:
        raise ValidationFailed(
            f"{field[2:]} is required (at most {maximum} characters)",
            errors=[FieldProblem(field, "length", f"from 1 to {maximum} characters")],
        )
    return text


def _party(principal: Principal, case: cases.LoadedCase) -> Side:
    side = side_of(principal, case.participation)
    if side is None:
        raise Forbidden(
            "only the parties negotiate a settlement",
            errors=[FieldProblem("$", "party", "log in as a party (or its agent)")],
        )
    return side


def _may_settle(case: cases.LoadedCase) -> None:
    if not domain.may_settle(case.state):
        raise SettlementRefused(
            f"a case that is {case.state.value} can no longer settle",
            errors=[FieldProblem("$", "case_state", f"the case is {case.state.value}")],
            extensions={"state": case.state.value},
        )


async def _event(
    uow: UnitOfWork,
    case: cases.LoadedCase,
    principal: Principal,
    command: str,
    data: Mapping[str, Any],
    *,
    reason: str = "",
) -> None:
    await cases.note_event(uow, case, principal, command, data, context="settlement", reason=reason)


async def _offers(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM settlement_offer WHERE tenant_id = {} AND case_id = {} ORDER BY seq",
        tenant_id,
        case_id,
    )


async def _mediations(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM settlement_mediation WHERE tenant_id = {} AND case_id = {} "
        "ORDER BY assigned_at",
        tenant_id,
        case_id,
    )


async def _agreements(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM settlement_agreement WHERE tenant_id = {} AND case_id = {} "
        "ORDER BY proposed_at, id",
        tenant_id,
        case_id,
    )


async def _signatures(uow: UnitOfWork, tenant_id: UUID, agreement_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM settlement_signature WHERE tenant_id = {} AND agreement_id = {} "
        "ORDER BY signed_at, side",
        tenant_id,
        agreement_id,
    )


def _running(mediations: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((m for m in mediations if m["ended_at"] is None), None)


async def _out(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> SettlementOut:
    case = await cases.load_case(uow, tenant_id, case_id)
    agreements = []
    for a in await _agreements(uow, tenant_id, case_id):
        signatures = await _signatures(uow, tenant_id, as_uuid(a["id"]))
        agreements.append(
            AgreementOut(
                id=as_uuid(a["id"]),
                text=str(a["text"]),
                sha256=str(a["sha256"]),
                outcome=str(a["outcome"]),
                offer_id=as_uuid(a["offer_id"]) if a["offer_id"] else None,
                mediation_id=as_uuid(a["mediation_id"]) if a["mediation_id"] else None,
                status=str(a["status"]),
                proposed_by=str(a["proposed_by"]),
                proposed_at=as_datetime(a["proposed_at"]),
                signatures=[
                    SignatureOut(
                        side=str(s["side"]),
                        sha256=str(s["sha256"]),
                        signed_by=str(s["signed_by"]),
                        signed_at=as_datetime(s["signed_at"]),
                    )
                    for s in signatures
                ],
                concluded_at=as_optional_datetime(a["concluded_at"]),
                document_requested=a["document_requested"],
            )
        )
    return SettlementOut(
        case_id=case_id,
        case_state=case.state.value,
        offers=[
            OfferOut(
                id=as_uuid(o["id"]),
                seq=int(o["seq"]),
                side=str(o["side"]),
                amount=None if o["amount"] is None else f"{Decimal(str(o['amount'])):.2f}",
                terms=str(o["terms"]),
                reply_to=as_uuid(o["reply_to"]) if o["reply_to"] else None,
                status=str(o["status"]),
                made_by=str(o["made_by"]),
                made_at=as_datetime(o["made_at"]),
                decided_by=o["decided_by"],
                decided_at=as_optional_datetime(o["decided_at"]),
                reason=str(o["reason"]),
            )
            for o in await _offers(uow, tenant_id, case_id)
        ],
        mediations=[
            MediationOut(
                id=as_uuid(m["id"]),
                mediator_user_id=as_uuid(m["mediator_user_id"]),
                mediator_kind=str(m["mediator_kind"]),
                assigned_by=str(m["assigned_by"]),
                assigned_at=as_datetime(m["assigned_at"]),
                ended_at=as_optional_datetime(m["ended_at"]),
                result=m["result"],
            )
            for m in await _mediations(uow, tenant_id, case_id)
        ],
        agreements=agreements,
    )


# -- reading -------------------------------------------------------------------------


async def get_settlement(runtime: Runtime, principal: Principal, case_id: UUID) -> SettlementOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await cases.access_case(uow, principal, case_id)
        return await _out(uow, tenant_id, case_id)


# -- offers --------------------------------------------------------------------------


async def make_offer(
    runtime: Runtime, principal: Principal, case_id: UUID, data: OfferIn
) -> SettlementOut:
    """An offer of the caller's side; with ``reply_to``, a counter-offer to the other side's."""
    terms = _text(data.terms, "$.terms", maximum=domain.MAX_TERMS)
    if problem := domain.amount_problem(data.amount):
        raise ValidationFailed("not an amount", errors=[FieldProblem("$.amount", "money", problem)])
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        side = _party(principal, case)
        _may_settle(case)
        offers = await _offers(uow, tenant.id, case_id)
        if data.reply_to is not None:
            replied = next((o for o in offers if as_uuid(o["id"]) == data.reply_to), None)
            if replied is None:
                raise ValidationFailed(
                    "no such offer on this case",
                    errors=[FieldProblem("$.reply_to", "exists", "an offer of this case")],
                )
            refusal = domain.counter_refusal(
                side, Side(str(replied["side"])), OfferStatus(str(replied["status"]))
            )
            if refusal:
                raise SettlementRefused(
                    refusal, errors=[FieldProblem("$.reply_to", "counter", refusal)]
                )
            await uow.execute(
                "UPDATE settlement_offer SET status = {}, decided_by = {}, decided_at = {} "
                "WHERE tenant_id = {} AND id = {}",
                OfferStatus.COUNTERED.value,
                principal.actor_id,
                now,
                tenant.id,
                data.reply_to,
            )
        await cases.touch(uow, case)
        offer_id = uuid4()
        await uow.execute(
            "INSERT INTO settlement_offer (id, tenant_id, case_id, seq, side, amount, terms, "
            "reply_to, status, made_by, made_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
            "{}, {})",
            offer_id,
            tenant.id,
            case_id,
            len(offers) + 1,
            side.value,
            Decimal(data.amount) if data.amount is not None else None,
            terms,
            data.reply_to,
            OfferStatus.OPEN.value,
            principal.actor_id,
            now,
        )
        await _event(
            uow,
            case,
            principal,
            "settlement_counter_offer" if data.reply_to else "settlement_offer",
            {
                "offer": str(offer_id),
                "side": side.value,
                "amount": data.amount,
                "reply_to": str(data.reply_to) if data.reply_to else None,
            },
        )
        return await _out(uow, tenant.id, case_id)


async def decide_offer(
    runtime: Runtime, principal: Principal, case_id: UUID, offer_id: UUID, data: DecisionIn
) -> SettlementOut:
    """The other side accepts or rejects an open offer; the offering side withdraws it."""
    decision: Decision = _choice(data.decision, Decision, "$.decision")
    reason = _text(data.reason, "$.reason", maximum=MAX_REASON, required=False)
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        rows = await uow.fetch(
            "SELECT * FROM settlement_offer WHERE tenant_id = {} AND case_id = {} AND id = {}",
            tenant.id,
            case_id,
            offer_id,
        )
        if not rows:
            raise NotFound("no such offer")
        side = _party(principal, case)
        _may_settle(case)
        offer = rows[0]
        refusal = domain.decision_refusal(
            decision, side, Side(str(offer["side"])), OfferStatus(str(offer["status"]))
        )
        if refusal:
            raise SettlementRefused(refusal, errors=[FieldProblem("$.decision", "offer", refusal)])
        status = {
            Decision.ACCEPT: OfferStatus.ACCEPTED,
            Decision.REJECT: OfferStatus.REJECTED,
            Decision.WITHDRAW: OfferStatus.WITHDRAWN,
        }[decision]
        await cases.touch(uow, case)
        await uow.execute(
            "UPDATE settlement_offer SET status = {}, decided_by = {}, decided_at = {}, "
            "reason = {} WHERE tenant_id = {} AND id = {}",
            status.value,
            principal.actor_id,
            now,
            reason,
            tenant.id,
            offer_id,
        )
        await _event(
            uow,
            case,
            principal,
            f"settlement_offer_{status.value}",
            {"offer": str(offer_id), "side": side.value},
            reason=reason,
        )
        return await _out(uow, tenant.id, case_id)


# -- mediation -----------------------------------------------------------------------


async def assign_mediator(
    runtime: Runtime, principal: Principal, case_id: UUID, data: MediationIn
) -> SettlementOut:
    """The commission's staff assign a mediator: a staff member or an arbitrator on the case."""
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        if Actor.STAFF not in actors_of(principal, case.participation):
            raise Forbidden(
                "the commission's staff assign mediators",
                errors=[FieldProblem("$", "staff", "log in as a secretary")],
            )
        _may_settle(case)
        if data.mediator_user_id in case.participation.arbitrators:
            kind = "arbitrator"
        else:
            staff = await uow.fetch(
                "SELECT 1 AS found FROM membership m JOIN tenant_user u "
                "ON u.tenant_id = m.tenant_id AND u.id = m.user_id WHERE m.tenant_id = {} "
                "AND m.user_id = {} AND m.role IN ({}, {}) AND m.revoked_at IS NULL "
                "AND u.status = 'active'",
                tenant.id,
                data.mediator_user_id,
                Role.SECRETARY.value,
                Role.COMMISSION_ADMIN.value,
            )
            if not staff:
                raise ValidationFailed(
                    "a mediator is a member of the commission's staff or an arbitrator of the case",
                    errors=[
                        FieldProblem("$.mediator_user_id", "mediator", "not staff or tribunal")
                    ],
                )
            kind = "staff"
        if _running(await _mediations(uow, tenant.id, case_id)) is not None:
            raise SettlementRefused(
                "a mediation is running already",
                errors=[FieldProblem("$", "mediation_running", "end it first")],
            )
        await cases.touch(uow, case)
        mediation_id = uuid4()
        await uow.execute(
            "INSERT INTO settlement_mediation (id, tenant_id, case_id, mediator_user_id, "
            "mediator_kind, assigned_by, assigned_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
            mediation_id,
            tenant.id,
            case_id,
            data.mediator_user_id,
            kind,
            principal.actor_id,
            now,
        )
        await _event(
            uow,
            case,
            principal,
            "mediation_started",
            {"mediation": str(mediation_id), "mediator": str(data.mediator_user_id), "kind": kind},
        )
        return await _out(uow, tenant.id, case_id)


async def _end_mediation(
    uow: UnitOfWork,
    tenant_id: UUID,
    case: cases.LoadedCase,
    principal: Principal,
    mediation: Mapping[str, Any],
    result: domain.MediationResult,
    *,
    now: datetime,
    reason: str = "",
) -> None:
    await uow.execute(
        "UPDATE settlement_mediation SET ended_at = {}, ended_by = {}, result = {} "
        "WHERE tenant_id = {} AND id = {}",
        now,
        principal.actor_id,
        result.value,
        tenant_id,
        as_uuid(mediation["id"]),
    )
    await _event(
        uow,
        case,
        principal,
        "mediation_ended",
        {"mediation": str(mediation["id"]), "result": result.value},
        reason=reason,
    )


async def end_mediation(
    runtime: Runtime, principal: Principal, case_id: UUID, data: MediationEndIn
) -> SettlementOut:
    """The mediator (or staff) ends the mediation: settled, or failed."""
    result: domain.MediationResult = _choice(data.result, domain.MediationResult, "$.result")
    reason = _text(data.reason, "$.reason", maximum=MAX_REASON, required=False)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        mediation = _running(await _mediations(uow, tenant.id, case_id))
        if mediation is None:
            raise SettlementRefused(
                "no mediation is running", errors=[FieldProblem("$", "mediation", "none runs")]
            )
        is_mediator = as_uuid(mediation["mediator_user_id"]) == principal.subject_id
        if not is_mediator and Actor.STAFF not in actors_of(principal, case.participation):
            raise Forbidden(
                "the mediator or the commission's staff end a mediation",
                errors=[FieldProblem("$", "mediator", "log in as the mediator")],
            )
        await cases.touch(uow, case)
        await _end_mediation(
            uow,
            tenant.id,
            case,
            principal,
            mediation,
            result,
            now=runtime.clock.now(),
            reason=reason,
        )
        return await _out(uow, tenant.id, case_id)


# -- the agreement -------------------------------------------------------------------


async def propose_agreement(
    runtime: Runtime, principal: Principal, case_id: UUID, data: AgreementIn
) -> SettlementOut:
    """The text of the settlement agreement, once terms were agreed (or in mediation).

    A party, the mediator, the staff or the tribunal proposes it; an earlier text not
    yet signed by both sides is superseded.
    """
    text = _text(data.text, "$.text", maximum=domain.MAX_TERMS)
    outcome: Outcome = _choice(data.outcome, Outcome, "$.outcome")
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        mediation = _running(await _mediations(uow, tenant.id, case_id))
        is_mediator = (
            mediation is not None and as_uuid(mediation["mediator_user_id"]) == principal.subject_id
        )
        actors = actors_of(principal, case.participation)
        if not is_mediator and not actors & {
            Actor.FILER,
            Actor.RESPONDENT_SIDE,
            Actor.STAFF,
            Actor.TRIBUNAL,
        }:
            raise Forbidden(
                "only the parties, the mediator, the staff or the tribunal propose the text",
                errors=[FieldProblem("$", "participant", "you take no part in this case")],
            )
        _may_settle(case)
        offers = await _offers(uow, tenant.id, case_id)
        if data.offer_id is not None:
            offer = next((o for o in offers if as_uuid(o["id"]) == data.offer_id), None)
            if offer is None or offer["status"] != OfferStatus.ACCEPTED:
                raise ValidationFailed(
                    "not an accepted offer of this case",
                    errors=[FieldProblem("$.offer_id", "accepted_offer", "an accepted offer")],
                )
        agreed = any(o["status"] == OfferStatus.ACCEPTED for o in offers)
        if not agreed and mediation is None:
            raise SettlementRefused(
                "no terms are agreed: accept an offer, or settle in mediation",
                errors=[FieldProblem("$", "terms_agreed", "an accepted offer or a mediation")],
            )
        await cases.touch(uow, case)
        await uow.execute(
            "UPDATE settlement_agreement SET status = {} WHERE tenant_id = {} AND case_id = {} "
            "AND status = {}",
            AgreementStatus.SUPERSEDED.value,
            tenant.id,
            case_id,
            AgreementStatus.PROPOSED.value,
        )
        agreement_id = uuid4()
        digest = domain.sha256_of(text)
        await uow.execute(
            "INSERT INTO settlement_agreement (id, tenant_id, case_id, text, sha256, outcome, "
            "offer_id, mediation_id, status, proposed_by, proposed_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            agreement_id,
            tenant.id,
            case_id,
            text,
            digest,
            outcome.value,
            data.offer_id,
            as_uuid(mediation["id"]) if mediation else None,
            AgreementStatus.PROPOSED.value,
            principal.actor_id,
            now,
        )
        await _event(
            uow,
            case,
            principal,
            "settlement_agreement_proposed",
            {"agreement": str(agreement_id), "sha256": digest, "outcome": outcome.value},
        )
        return await _out(uow, tenant.id, case_id)


async def _agreement(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, agreement_id: UUID
) -> dict[str, Any]:
    rows = await uow.fetch(
        "SELECT * FROM settlement_agreement WHERE tenant_id = {} AND case_id = {} AND id = {}",
        tenant_id,
        case_id,
        agreement_id,
    )
    if not rows:
        raise NotFound("no such agreement")
    return rows[0]


async def sign(
    runtime: Runtime, principal: Principal, case_id: UUID, agreement_id: UUID, data: SignatureIn
) -> SettlementOut:
    """A party confirms the agreement's exact text (its SHA-256) for its own side."""
    claimed: Side = _choice(data.side, Side, "$.side")
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        agreement = await _agreement(uow, tenant.id, case_id, agreement_id)
        _may_settle(case)
        signatures = await _signatures(uow, tenant.id, agreement_id)
        signed = [Side(str(s["side"])) for s in signatures]
        refusal = domain.signature_refusal(
            signer=side_of(principal, case.participation),
            side=claimed,
            sha256=data.sha256.strip().lower(),
            agreement_sha256=str(agreement["sha256"]),
            status=AgreementStatus(str(agreement["status"])),
            signed=signed,
        )
        if refusal is not None:
            field, rule, message = refusal
            if rule in ("party", "own_side"):
                raise Forbidden(message, errors=[FieldProblem(field, rule, message)])
            if rule == "same_text":
                raise ValidationFailed(message, errors=[FieldProblem(field, rule, message)])
            raise SettlementRefused(message, errors=[FieldProblem(field, rule, message)])
        await cases.touch(uow, case)
        await uow.execute(
            "INSERT INTO settlement_signature (id, tenant_id, case_id, agreement_id, side, "
            "sha256, signed_by, signed_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant.id,
            case_id,
            agreement_id,
            claimed.value,
            str(agreement["sha256"]),
            principal.actor_id,
            now,
        )
        detail = {
            "agreement": str(agreement_id),
            "side": claimed.value,
            "sha256": agreement["sha256"],
        }
        await _event(uow, case, principal, "settlement_signed", detail)
        await ledger.append(
            uow,
            tenant.id,
            "case.settlement_signed",
            {"case_id": str(case_id), "at": now.isoformat(), "by": principal.actor_id, **detail},
        )
        if domain.fully_signed([*signed, claimed]):
            await uow.execute(
                "UPDATE settlement_agreement SET status = {} WHERE tenant_id = {} AND id = {}",
                AgreementStatus.SIGNED.value,
                tenant.id,
                agreement_id,
            )
        return await _out(uow, tenant.id, case_id)


async def _conclude(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    principal: Principal,
    case: cases.LoadedCase,
    agreement: Mapping[str, Any],
    command: str,
    reason: str,
) -> None:
    agreement_id = as_uuid(agreement["id"])
    outcome = Outcome(str(agreement["outcome"]))
    now = runtime.clock.now()
    document = outcome.value if outcome in domain.DOCUMENTS else None
    data = {
        "agreement": str(agreement_id),
        "sha256": str(agreement["sha256"]),
        "outcome": outcome.value,
        "document_requested": document,
    }
    mediation = _running(await _mediations(uow, tenant.id, case.id))
    if mediation is not None:
        await _end_mediation(
            uow,
            tenant.id,
            case,
            principal,
            mediation,
            domain.MediationResult.SETTLED,
            now=now,
        )
    await cases.issue_command(
        uow, runtime, tenant, principal, case.id, command, reason=reason, data=data
    )
    await uow.execute(
        "UPDATE settlement_agreement SET status = {}, concluded_by = {}, concluded_at = {}, "
        "document_requested = {} WHERE tenant_id = {} AND id = {}",
        AgreementStatus.CONCLUDED.value,
        principal.actor_id,
        now,
        document,
        tenant.id,
        agreement_id,
    )


def _signed(agreement: Mapping[str, Any]) -> None:
    if agreement["status"] != AgreementStatus.SIGNED:
        raise SettlementRefused(
            f"the agreement is {agreement['status']}: both sides sign it first",
            errors=[FieldProblem("$", "signed_by_both", "both sides sign the same text first")],
        )


async def record_settlement(
    runtime: Runtime, principal: Principal, case_id: UUID, agreement_id: UUID, data: ConcludeIn
) -> SettlementOut:
    """The staff or the tribunal record the signed agreement: the case is settled, and the
    consent award or mediation statement it asks for is requested (issue 7 renders it)."""
    reason = _text(data.reason, "$.reason", maximum=MAX_REASON, required=False)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        agreement = await _agreement(uow, tenant.id, case_id, agreement_id)
        if not {Actor.STAFF, Actor.TRIBUNAL} & actors_of(principal, case.participation):
            raise Forbidden(
                "the commission's staff or the tribunal record a settlement",
                errors=[FieldProblem("$", "staff_or_tribunal", "log in as staff or tribunal")],
            )
        _signed(agreement)
        if agreement["outcome"] == Outcome.WITHDRAWAL:
            raise SettlementRefused(
                "this agreement ends the case by the claimant's withdrawal",
                errors=[FieldProblem("$", "outcome", "the claimant withdraws")],
            )
        text = reason or f"settled: both sides signed the agreement ({agreement['outcome']})"
        await _conclude(uow, runtime, tenant, principal, case, agreement, "record_settlement", text)
        return await _out(uow, tenant.id, case_id)


async def withdraw(
    runtime: Runtime, principal: Principal, case_id: UUID, agreement_id: UUID, data: ConcludeIn
) -> SettlementOut:
    """The claimant withdraws its claim as the signed agreement says."""
    reason = _text(data.reason, "$.reason", maximum=MAX_REASON, required=False)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        agreement = await _agreement(uow, tenant.id, case_id, agreement_id)
        if side_of(principal, case.participation) is not Side.CLAIMANT:
            raise Forbidden(
                "the claimant withdraws its claim",
                errors=[FieldProblem("$", "claimant", "log in as the claimant")],
            )
        _signed(agreement)
        if agreement["outcome"] != Outcome.WITHDRAWAL:
            raise SettlementRefused(
                f"this agreement asks for a {agreement['outcome']}, not a withdrawal",
                errors=[FieldProblem("$", "outcome", "the staff or tribunal record it")],
            )
        text = reason or "withdrawn as the settlement agreement says"
        await _conclude(uow, runtime, tenant, principal, case, agreement, "withdraw", text)
        return await _out(uow, tenant.id, case_id)


# -- for the documents issue 7 makes of an agreement -----------------------------------


async def agreement_for_document(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID
) -> dict[str, Any] | None:
    """The agreement of the case signed by both sides that a consent award or mediation
    statement would be made on, with ``signed_at`` (when the second side signed): the one
    the case was concluded by, else the latest signed one; None when none is signed.
    """
    rows = await uow.fetch(
        "SELECT a.*, (SELECT max(s.signed_at) FROM settlement_signature s "
        "WHERE s.tenant_id = a.tenant_id AND s.agreement_id = a.id) AS signed_at "
        "FROM settlement_agreement a WHERE a.tenant_id = {} AND a.case_id = {} "
        "AND a.status IN ({}, {})",
        tenant_id,
        case_id,
        AgreementStatus.SIGNED.value,
        AgreementStatus.CONCLUDED.value,
    )
    if not rows:
        return None
    concluded = [r for r in rows if r["status"] == AgreementStatus.CONCLUDED]
    if concluded:
        return concluded[0]
    return max(rows, key=lambda r: as_datetime(r["signed_at"]))
