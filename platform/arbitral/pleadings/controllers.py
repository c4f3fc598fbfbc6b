"""Pleadings routes: the respondent's answer and counterclaim."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.pleadings import services
from arbitral.pleadings.schemas import (
    AnswerIn,
    AnswerOut,
    CounterclaimAnswerIn,
    CounterclaimIn,
    CounterclaimOut,
)

AnyRequest = Request[Any, Any, Any]


class AnswerController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/answer"
    tags = ("pleadings",)

    @post(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The respondent's answer to the claim",
        description=(
            "By the respondent side (the respondent or its agent), within the answer period: "
            "`text` and optionally `exhibit_ids`, submitted exhibits of the respondent's side. "
            "The answer period is thereby met. Outside the period (not yet started, ended, or "
            "answered already) 409; anyone else 403. Logged in the transparency log."
        ),
        status_code=201,
    )
    async def answer(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[AnswerIn]
    ) -> AnswerOut:
        return await services.submit_answer(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @get("/", opt=require(Permission.CASES_READ), summary="The respondent's answer (404: none)")
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> AnswerOut:
        return await services.get_answer(
            request.app.state.runtime, current_principal(request), case_id
        )


class CounterclaimController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/counterclaims"
    tags = ("pleadings",)

    @post(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The respondent's counterclaim, with its own fee",
        description=(
            "By the respondent side (the respondent or its agent), within the counterclaim "
            "period: `claims`, `amount` (yuan as a string) and `facts_and_reasons`, checked "
            "like the claim's `claims`, `amount_claimed` and `facts_and_reasons` in the case "
            "type's claim form (422 naming the field and the rule). One counterclaim per "
            "case, not amendable; the counterclaim period is thereby met. Its fee is "
            "assessed as a counterclaim on its amount and invoiced to the respondent "
            "(`GET /cases/{id}/invoice?subject=counterclaim`, paid through the same "
            "checkout with `subject=counterclaim`), due within the rule set's fee time "
            "limit: unpaid by then, the counterclaim (not the case) is deemed withdrawn. "
            "Paid, it stands and the claimant gets its period to answer it; the pleadings "
            "stay open meanwhile. Outside the period, in a case not in its answer period, "
            "or filed already 409; anyone else 403. Logged in the transparency log."
        ),
        status_code=201,
    )
    async def file(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[CounterclaimIn]
    ) -> CounterclaimOut:
        return await services.file_counterclaim(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/answer",
        opt=require(Permission.CASES_READ),
        summary="The claimant's answer to the counterclaim",
        description=(
            "By the claimant side (the claimant, its agent or its lender system), within "
            "the period the claimant was given once the counterclaim's fee was paid: "
            "`text`. The period is thereby met. Without a standing counterclaim, outside "
            "the period or answered already 409; anyone else 403. Logged in the "
            "transparency log."
        ),
        status_code=201,
    )
    async def answer(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[CounterclaimAnswerIn]
    ) -> CounterclaimOut:
        return await services.answer_counterclaim(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The case's counterclaim (none or one), with its fee and the claimant's period",
        description=(
            "Everyone on the case: the counterclaim as filed, its status (`pending_fee`, "
            "`standing`, `deemed_withdrawn`), its fee (invoice, total, time limit, payment) "
            "and, once paid, when the claimant's period to answer it ends and its answer."
        ),
    )
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[CounterclaimOut]:
        return await services.list_counterclaims(
            request.app.state.runtime, current_principal(request), case_id
        )
