"""Award routes: draft, revise, vote, issue, correct, read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.awards import services
from arbitral.awards.schemas import AwardDraftIn, AwardOut, AwardUpdateIn, CorrectionIn, VoteIn

AnyRequest = Request[Any, Any, Any]


class CaseAwardsController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/awards"
    tags = ("awards",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The case's awards (the parties see issued ones; drafts are the tribunal's)",
    )
    async def index(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[AwardOut]:
        return await services.list_awards(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/",
        opt=require(Permission.CASES_DECIDE),
        summary=(
            "Draft the award, or a consent award or mediation statement on a settlement "
            "(the sole or presiding arbitrator)"
        ),
        description=(
            "kind award (the default), once the hearing closed: fields left out are suggested "
            "from the case: the decision from the claim, or for an online-loan case from the "
            "loan-claim assessment; the fees assessed by the rule set, borne by the "
            "respondent. kind consent_award (裁决书 according to the settlement) or "
            "mediation_statement (调解书): made on the settlement agreement signed by both "
            "sides whose outcome asks for it (409 otherwise, or when the case already has "
            "one); the decision items are suggested from the agreement's text, one per "
            "numbered line or paragraph, facts and reasoning are not needed, and the "
            "agreement's id and SHA-256 are kept with the text voted on and shown in the "
            "document. It is voted on and issued like an award, once the settlement is "
            "recorded (the case settled); the case stays settled. A consent award takes "
            "effect the day it is made (effective_on); a mediation statement takes effect "
            "only when the parties sign for it (Arbitration Law art. 52), so its "
            "effective_on stays empty. The answer lists what is still missing before the "
            "tribunal can vote."
        ),
        status_code=201,
    )
    async def draft(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[AwardDraftIn]
    ) -> AwardOut:
        return await services.draft_award(
            request.app.state.runtime, current_principal(request), case_id, data
        )


class AwardController(Controller):
    path = "/api/v1/awards"
    tags = ("awards",)

    @get("/{award_id:uuid}", opt=require(Permission.CASES_READ), summary="One award")
    async def show(self, request: AnyRequest, award_id: FromPath[UUID]) -> AwardOut:
        return await services.get_award(
            request.app.state.runtime, current_principal(request), award_id
        )

    @get(
        "/{award_id:uuid}/document",
        opt=require(Permission.CASES_READ),
        summary="The issued award's signed PDF (everyone on the case; every download audited)",
        media_type="application/pdf",
    )
    async def document(self, request: AnyRequest, award_id: FromPath[UUID]) -> Stream:
        runtime = request.app.state.runtime
        key, name, size = await services.document_of(runtime, current_principal(request), award_id)
        return Stream(
            runtime.store.open(key),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(size),
                "Cache-Control": "private, no-store",
            },
        )

    @get(
        "/{award_id:uuid}/receipt",
        opt=require(Permission.CASES_READ),
        summary="The issued award's receipt: its leaf in the log, a signed head, the proof",
        description=(
            "Check it offline with the signed PDF and the commission's log keys: "
            "`arbitral evidence verify award.pdf receipt.json --keys ledger-keys.json`."
        ),
    )
    async def receipt(self, request: AnyRequest, award_id: FromPath[UUID]) -> dict[str, Any]:
        return await services.document_receipt(
            request.app.state.runtime, current_principal(request), award_id
        )

    @patch(
        "/{award_id:uuid}",
        opt=require(Permission.CASES_DECIDE),
        summary="Revise the draft (the fields given replace theirs; the votes are cleared)",
    )
    async def revise(
        self, request: AnyRequest, award_id: FromPath[UUID], data: JSONBody[AwardUpdateIn]
    ) -> AwardOut:
        return await services.revise_award(
            request.app.state.runtime, current_principal(request), award_id, data
        )

    @post(
        "/{award_id:uuid}/votes",
        opt=require(Permission.CASES_DECIDE),
        summary="Vote on the award's current text (a majority concurring approves it)",
        description="A dissent may carry an opinion, recorded with the award.",
        status_code=200,
    )
    async def vote(
        self, request: AnyRequest, award_id: FromPath[UUID], data: JSONBody[VoteIn]
    ) -> AwardOut:
        return await services.vote(
            request.app.state.runtime, current_principal(request), award_id, data
        )

    @post(
        "/{award_id:uuid}/issue",
        opt=require(Permission.CASES_MANAGE),
        summary="Issue an approved award: it is rendered, signed, logged and served by a job",
        status_code=202,
    )
    async def issue(self, request: AnyRequest, award_id: FromPath[UUID]) -> AwardOut:
        return await services.request_issue(
            request.app.state.runtime, current_principal(request), award_id
        )

    @post(
        "/{award_id:uuid}/corrections",
        opt=require(Permission.CASES_DECIDE),
        summary="Correct a clerical error of an issued award (补正): a new award naming it",
        status_code=201,
    )
    async def correct(
        self, request: AnyRequest, award_id: FromPath[UUID], data: JSONBody[CorrectionIn]
    ) -> AwardOut:
        return await services.correct_award(
            request.app.state.runtime, current_principal(request), award_id, data
        )
