"""Tribunal routes: the commission's panel, and the tribunal of each case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.tribunal import services
from arbitral.tribunal.schemas import (
    AppointmentIn,
    CandidateOut,
    ChallengeIn,
    ChallengeOut,
    ConstituteIn,
    DecisionIn,
    DisclosureIn,
    NominationIn,
    ProfileIn,
    ProfileOut,
    ProfileUpdate,
    ReleaseIn,
    TribunalOut,
)

AnyRequest = Request[Any, Any, Any]


class ArbitratorController(Controller):
    path = "/api/v1/arbitrators"
    tags = ("tribunal",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The commission's panel of arbitrators, with each one's current load",
    )
    async def index(self, request: AnyRequest) -> list[ProfileOut]:
        return await services.list_profiles(request.app.state.runtime, current_principal(request))

    @post(
        "/",
        opt=require(Permission.CASES_MANAGE),
        summary="Put an arbitrator on the panel (staff)",
        description=(
            "`user_id` holds the arbitrator role; `specialities` (e.g. the case types), "
            "`languages`, `accepting` (new cases at all) and `max_concurrent` decide whom the "
            "commission's automatic appointment may choose; `id_number` feeds the conflict check."
        ),
        status_code=201,
    )
    async def create(self, request: AnyRequest, data: JSONBody[ProfileIn]) -> ProfileOut:
        return await services.create_profile(
            request.app.state.runtime, current_principal(request), data
        )

    @get("/{user_id:uuid}", opt=require(Permission.CASES_READ), summary="One arbitrator")
    async def show(self, request: AnyRequest, user_id: FromPath[UUID]) -> ProfileOut:
        return await services.get_profile(
            request.app.state.runtime, current_principal(request), user_id
        )

    @patch(
        "/{user_id:uuid}",
        opt=require(Permission.CASES_MANAGE),
        summary="Change an arbitrator's profile or availability (staff)",
    )
    async def update(
        self, request: AnyRequest, user_id: FromPath[UUID], data: JSONBody[ProfileUpdate]
    ) -> ProfileOut:
        return await services.update_profile(
            request.app.state.runtime, current_principal(request), user_id, data
        )

    @delete(
        "/{user_id:uuid}",
        opt=require(Permission.CASES_MANAGE),
        summary="Take an arbitrator off the panel (refused while they sit on an open case)",
        status_code=204,
    )
    async def remove(self, request: AnyRequest, user_id: FromPath[UUID]) -> None:
        await services.remove_profile(
            request.app.state.runtime, current_principal(request), user_id
        )


class TribunalController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/tribunal"
    tags = ("tribunal",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The case's tribunal: seats, disclosures, nominations, challenges, periods",
        description=(
            "Conflicts found by the conflict check are shown to the commission's staff only; "
            "`constitution_problems` says what still stands in the way of constituting it."
        ),
    )
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> TribunalOut:
        return await services.get_tribunal(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/",
        opt=require(Permission.CASES_MANAGE),
        summary="The commission appoints an arbitrator (a pick checked by the rules, or automatic)",
        description=(
            "With `user_id`: that arbitrator, if the rules allow (on the panel, accepting, below "
            "their limit, below the repeat-claimant cap, no conflict); refused with the reasons "
            "otherwise. Without: every vacant seat is filled by the automatic choice (lowest "
            "load). Refused while the parties' time to choose runs."
        ),
        status_code=200,
    )
    async def appoint(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[AppointmentIn]
    ) -> TribunalOut:
        return await services.appoint(
            request.app.state.runtime, current_principal(request), case_id, data.user_id, data.role
        )

    @get(
        "/candidates",
        opt=require(Permission.CASES_MANAGE),
        summary="The panel as the rules see it for this case (eligibility, reasons, conflicts)",
    )
    async def candidates(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[CandidateOut]:
        return await services.candidates(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/nominations",
        opt=require(Permission.CASES_READ),
        summary="Your side names an arbitrator of the panel (while the time to choose runs)",
        description=(
            "A sole (or presiding) arbitrator is appointed when both sides name the same one; "
            "on a tribunal of three each side's `member` is appointed as named."
        ),
        status_code=200,
    )
    async def nominate(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[NominationIn]
    ) -> TribunalOut:
        return await services.nominate(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/disclosure",
        opt=require(Permission.CASES_DECIDE),
        summary="A sitting arbitrator's disclosure (statement and relations)",
        status_code=200,
    )
    async def disclose(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[DisclosureIn]
    ) -> TribunalOut:
        return await services.disclose(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/constitute",
        opt=require(Permission.CASES_MANAGE),
        summary="Constitute the tribunal (complete, disclosures in, no challenge pending)",
        description="The case becomes `tribunal_constituted`; the challenge period starts.",
        status_code=200,
    )
    async def constitute(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[ConstituteIn]
    ) -> TribunalOut:
        return await services.constitute(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/challenges",
        opt=require(Permission.CASES_READ),
        summary="Challenge a sitting arbitrator (回避), with grounds, within the period",
        description="A challenge after the challenge period ended answers 409 with the reason.",
        status_code=201,
    )
    async def challenge(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[ChallengeIn]
    ) -> ChallengeOut:
        return await services.challenge(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/challenges/{challenge_id:uuid}/decision",
        opt=require(Permission.CASES_MANAGE),
        summary="The chair decides a challenge (commission admins)",
        description=(
            "`upheld`: the arbitrator leaves and is replaced the way the seat was filled (the "
            "parties choose again, or the commission appoints at once); a constituted tribunal "
            "is constituted again. `rejected`: recorded with the reasons."
        ),
        status_code=200,
    )
    async def decide(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        challenge_id: FromPath[UUID],
        data: JSONBody[DecisionIn],
    ) -> TribunalOut:
        return await services.decide(
            request.app.state.runtime, current_principal(request), case_id, challenge_id, data
        )

    @post(
        "/members/{user_id:uuid}/release",
        opt=require(Permission.CASES_MANAGE),
        summary="An arbitrator leaves the tribunal (withdrawal, or a conflict found): replaced",
        status_code=200,
    )
    async def release(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        user_id: FromPath[UUID],
        data: JSONBody[ReleaseIn],
    ) -> TribunalOut:
        return await services.release(
            request.app.state.runtime, current_principal(request), case_id, user_id, data
        )
