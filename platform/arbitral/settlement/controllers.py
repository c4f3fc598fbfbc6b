"""Settlement routes: offers, mediation, the agreement, signatures, conclusion."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.settlement import services
from arbitral.settlement.schemas import (
    AgreementIn,
    ConcludeIn,
    DecisionIn,
    MediationEndIn,
    MediationIn,
    OfferIn,
    SettlementOut,
    SignatureIn,
)

AnyRequest = Request[Any, Any, Any]


class SettlementController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/settlement"
    tags = ("settlement",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="Offers, mediations and agreements of the case (everyone on the case)",
    )
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> SettlementOut:
        return await services.get_settlement(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/offers",
        opt=require(Permission.CASES_READ),
        summary="An offer of your side (`reply_to`: counter the other side's open offer)",
        description="`terms` (required) and `amount` (yuan, optional). Parties only.",
        status_code=201,
    )
    async def offer(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[OfferIn]
    ) -> SettlementOut:
        return await services.make_offer(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/offers/{offer_id:uuid}/decision",
        opt=require(Permission.CASES_READ),
        summary="Accept or reject the other side's open offer, or withdraw your own",
        status_code=200,
    )
    async def decide(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        offer_id: FromPath[UUID],
        data: JSONBody[DecisionIn],
    ) -> SettlementOut:
        return await services.decide_offer(
            request.app.state.runtime, current_principal(request), case_id, offer_id, data
        )

    @post(
        "/mediation",
        opt=require(Permission.CASES_MANAGE),
        summary="Assign a mediator: a member of the staff or an arbitrator of the case",
        status_code=201,
    )
    async def mediation(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[MediationIn]
    ) -> SettlementOut:
        return await services.assign_mediator(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/mediation/end",
        opt=require(Permission.CASES_READ),
        summary="The mediator (or staff) ends the mediation: settled or failed",
        status_code=200,
    )
    async def end_mediation(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[MediationEndIn]
    ) -> SettlementOut:
        return await services.end_mediation(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/agreements",
        opt=require(Permission.CASES_READ),
        summary="Propose the settlement agreement's text (supersedes an unsigned one)",
        description=(
            "`outcome`: `consent_award`, `mediation_statement` or `withdrawal`. Once terms "
            "were agreed: an accepted offer, or a mediation running."
        ),
        status_code=201,
    )
    async def agreement(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[AgreementIn]
    ) -> SettlementOut:
        return await services.propose_agreement(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/agreements/{agreement_id:uuid}/signatures",
        opt=require(Permission.CASES_READ),
        summary="Your side confirms the agreement's text by its SHA-256",
        description=(
            "`side`: your own side (403 for the other one); `sha256`: the hash of the text you "
            "read (422 if it is not this agreement's). Logged in the transparency log."
        ),
        status_code=201,
    )
    async def sign(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        agreement_id: FromPath[UUID],
        data: JSONBody[SignatureIn],
    ) -> SettlementOut:
        return await services.sign(
            request.app.state.runtime, current_principal(request), case_id, agreement_id, data
        )

    @post(
        "/agreements/{agreement_id:uuid}/record",
        opt=require(Permission.CASES_READ),
        summary="Staff or tribunal record the signed agreement: the case is settled",
        description=(
            "The consent award or mediation statement the agreement asks for is requested "
            "(the document itself comes with the awards)."
        ),
        status_code=200,
    )
    async def record(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        agreement_id: FromPath[UUID],
        data: JSONBody[ConcludeIn],
    ) -> SettlementOut:
        return await services.record_settlement(
            request.app.state.runtime, current_principal(request), case_id, agreement_id, data
        )

    @post(
        "/agreements/{agreement_id:uuid}/withdraw",
        opt=require(Permission.CASES_READ),
        summary="The claimant withdraws as the signed agreement says",
        status_code=200,
    )
    async def withdraw(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        agreement_id: FromPath[UUID],
        data: JSONBody[ConcludeIn],
    ) -> SettlementOut:
        return await services.withdraw(
            request.app.state.runtime, current_principal(request), case_id, agreement_id, data
        )
