"""Pleadings routes: the respondent's answer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.pleadings import services
from arbitral.pleadings.schemas import AnswerIn, AnswerOut

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
