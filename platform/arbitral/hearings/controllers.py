"""Hearing routes: open and close, rounds and posts, video sessions, deliberation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.hearings import services
from arbitral.hearings.schemas import (
    HearingOpenIn,
    HearingOut,
    OutcomeIn,
    PostIn,
    ReasonIn,
    RescheduleIn,
    RoundCloseIn,
    SessionIn,
)

AnyRequest = Request[Any, Any, Any]


class HearingController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/hearing"
    tags = ("hearings",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The hearing: its mode, rounds, every post and video session",
    )
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> HearingOut:
        return await services.get_hearing(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal opens the hearing",
        description=(
            "`mode`: `documents`, `asynchronous` or `video`, as the case's rules allow "
            "(default: the rules' default). An asynchronous hearing opens its first round at "
            "once; each round stays open for the hours the rules give it (`hearing_<round>`). "
            "Refused (409) before service or while the case is not constituted."
        ),
        status_code=201,
    )
    async def open(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[HearingOpenIn]
    ) -> HearingOut:
        return await services.open_hearing(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/posts",
        opt=require(Permission.CASES_READ),
        summary="A post in the asynchronous hearing (append-only, seen by everyone on the case)",
        description=(
            "`kind`: `question` (the tribunal at any time, addressed to `claimant`, `respondent` "
            "or `both`; a party in the questioning round, to the other side), `answer` (the "
            "asked side in the answering round, `reply_to` the question), `argument` (both "
            "sides in the debating round), `closing` (each side once in the closing round, "
            "with `accepts_mediation`). Out of turn: 409 naming the rule."
        ),
        status_code=201,
    )
    async def add_post(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[PostIn]
    ) -> HearingOut:
        return await services.post(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/rounds/close",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal closes the open round before its time; the next one opens",
        description=(
            "`round` names the round meant (409 if another is open). The answering round "
            "closes early only once every asked side answered; the closing round once both "
            "sides made their closing statements."
        ),
        status_code=200,
    )
    async def close_round(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[RoundCloseIn]
    ) -> HearingOut:
        return await services.close_round(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/sessions",
        opt=require(Permission.CASES_READ),
        summary="Schedule a video session (slot and link), by the tribunal or staff",
        status_code=201,
    )
    async def schedule(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[SessionIn]
    ) -> HearingOut:
        return await services.schedule_session(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/sessions/{session_id:uuid}/reschedule",
        opt=require(Permission.CASES_READ),
        summary="Move a video session to another slot or link, by the tribunal or staff",
        description=(
            "Before its outcome is recorded; the parties are served the notice of hearing of "
            "the new slot (the former slot's notice stops)."
        ),
        status_code=200,
    )
    async def reschedule(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        session_id: FromPath[UUID],
        data: JSONBody[RescheduleIn],
    ) -> HearingOut:
        return await services.reschedule_session(
            request.app.state.runtime, current_principal(request), case_id, session_id, data
        )

    @post(
        "/sessions/{session_id:uuid}/outcome",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal records a video session's outcome",
        description="`outcome`: `held`, `held_in_absence` or `adjourned`; once per session.",
        status_code=200,
    )
    async def outcome(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        session_id: FromPath[UUID],
        data: JSONBody[OutcomeIn],
    ) -> HearingOut:
        return await services.record_outcome(
            request.app.state.runtime, current_principal(request), case_id, session_id, data
        )

    @post(
        "/close",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal closes the hearing: the case goes to deliberation",
        description=(
            "Once the mode's steps ran (every asynchronous round; a video session held) and "
            "the evidence period ended; 409 with the reason otherwise."
        ),
        status_code=200,
    )
    async def close(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[ReasonIn]
    ) -> HearingOut:
        return await services.close_hearing(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/deliberation",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal concludes its deliberation: the case is ready for the award",
        description="Refused (409) while any period given to the respondent still runs.",
        status_code=200,
    )
    async def deliberation(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[ReasonIn]
    ) -> HearingOut:
        return await services.conclude_deliberation(
            request.app.state.runtime, current_principal(request), case_id, data
        )
