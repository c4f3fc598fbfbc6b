"""Case routes: filing, reading, commands of the state machine, tribunal, exhibits."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.cases import due_process, exhibits, services
from arbitral.cases.due_process import DueProcessRecord
from arbitral.cases.schemas import (
    Amendment,
    CaseFiling,
    CaseOut,
    CasePage,
    CommandIn,
    EventOut,
    ExhibitCreate,
    ExhibitDownload,
    ExhibitOut,
    RulingIn,
    ViewIn,
    WaiverIn,
    WaiverOut,
)

AnyRequest = Request[Any, Any, Any]


class CaseController(Controller):
    path = "/api/v1/cases"
    tags = ("cases",)

    @post(
        "/",
        opt=require(Permission.CASES_FILE),
        summary="File a claim",
        description=(
            "The claim is checked against the claim form of `case_type` in the rule set the "
            "commission adopts (every problem at once, each with its JSON path and rule); the "
            "rule-set version is pinned to the case. The case starts `filed`, awaiting review."
        ),
        status_code=201,
    )
    async def file(self, request: AnyRequest, data: JSONBody[CaseFiling]) -> CaseOut:
        return await services.file_case(request.app.state.runtime, current_principal(request), data)

    @get("/", opt=require(Permission.CASES_READ), summary="The cases you may see, newest first")
    async def index(
        self,
        request: AnyRequest,
        case_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: FromQuery[int] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> CasePage:
        return await services.list_cases(
            request.app.state.runtime,
            current_principal(request),
            state=case_state,
            limit=limit,
            cursor=cursor,
        )

    @get("/{case_id:uuid}", opt=require(Permission.CASES_READ), summary="One case")
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> CaseOut:
        return await services.get_case(
            request.app.state.runtime, current_principal(request), case_id
        )

    @get(
        "/{case_id:uuid}/history",
        opt=require(Permission.CASES_READ),
        summary="The case's history: every command it received (append-only)",
    )
    async def history(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[EventOut]:
        return await services.history(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/{case_id:uuid}/commands",
        opt=require(Permission.CASES_READ),
        summary="Issue a command of the case's state machine",
        description=(
            "`accept`, `return_for_correction` (reason required), `reject` (reason required) "
            "by the commission's staff; `withdraw` by the claimant side; `suspend` (reason "
            "required) and `resume` by staff or the tribunal. A command not allowed now "
            "answers 409 with `allowed_commands`; `if_version` guards against a case changed "
            "since it was read."
        ),
        status_code=200,
    )
    async def command(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[CommandIn]
    ) -> CaseOut:
        return await services.command(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @post(
        "/{case_id:uuid}/amendment",
        opt=require(Permission.CASES_FILE),
        summary="The corrected claim of a case returned for correction",
        status_code=200,
    )
    async def amend(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[Amendment]
    ) -> CaseOut:
        return await services.amend(
            request.app.state.runtime, current_principal(request), case_id, data
        )


class DueProcessController(Controller):
    path = "/api/v1/cases/{case_id:uuid}"
    tags = ("cases",)

    @get(
        "/due-process",
        opt=require(Permission.CASES_READ),
        summary="The case's due-process record",
        description=(
            "What every award and court package carries: filing, service, every period given "
            "to the respondent and how it ended (ran, met, waived), when the respondent first "
            "opened the file, the evidence each side put in, and every transition with its actor."
        ),
    )
    async def record(self, request: AnyRequest, case_id: FromPath[UUID]) -> DueProcessRecord:
        return await due_process.record(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/waivers",
        opt=require(Permission.CASES_READ),
        summary="The respondent personally gives up the rest of one of its periods",
        status_code=200,
    )
    async def waive(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[WaiverIn]
    ) -> WaiverOut:
        running = await due_process.waive(
            request.app.state.runtime, current_principal(request), case_id, data.period
        )
        return WaiverOut(waived=data.period, still_running=running)


class ExhibitController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/exhibits"
    tags = ("exhibits",)

    @get("/", opt=require(Permission.CASES_READ), summary="The exhibits of the case you may see")
    async def index(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[ExhibitOut]:
        return await exhibits.list_exhibits(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Cite a file in custody or an attested record as an exhibit of your side",
        description=(
            "`item_id`: a file you took into custody (`POST /api/v1/custody/items`); or "
            "`record_id`: a transaction record a platform attested whose subject names a "
            "party of this case. The exhibit is a draft, seen by your side only, until it is "
            "submitted (`submit: true` here, or `POST …/submit`)."
        ),
        status_code=201,
    )
    async def create(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[ExhibitCreate]
    ) -> ExhibitOut:
        return await exhibits.create_exhibit(
            request.app.state.runtime, current_principal(request), case_id, data
        )

    @get("/{exhibit_id:uuid}", opt=require(Permission.CASES_READ), summary="One exhibit")
    async def show(
        self, request: AnyRequest, case_id: FromPath[UUID], exhibit_id: FromPath[UUID]
    ) -> ExhibitOut:
        return await exhibits.get_exhibit(
            request.app.state.runtime, current_principal(request), case_id, exhibit_id
        )

    @post(
        "/{exhibit_id:uuid}/submit",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Submit a draft exhibit: numbered, shown to the other side, logged",
        status_code=200,
    )
    async def submit(
        self, request: AnyRequest, case_id: FromPath[UUID], exhibit_id: FromPath[UUID]
    ) -> ExhibitOut:
        return await exhibits.submit_exhibit(
            request.app.state.runtime, current_principal(request), case_id, exhibit_id
        )

    @post(
        "/{exhibit_id:uuid}/views",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Your side's view of an exhibit of the other side",
        description=(
            "`authenticity`, `legality`, `relevance`: each `admits` or `disputes`; a "
            "`comment` is required when anything is disputed. The latest view of a side counts; "
            "earlier ones stay in the history."
        ),
        status_code=200,
    )
    async def view(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        exhibit_id: FromPath[UUID],
        data: JSONBody[ViewIn],
    ) -> ExhibitOut:
        return await exhibits.record_view(
            request.app.state.runtime, current_principal(request), case_id, exhibit_id, data
        )

    @post(
        "/{exhibit_id:uuid}/ruling",
        opt=require(Permission.CASES_DECIDE),
        summary="The tribunal admits the exhibit, or not (a reason is required for not)",
        status_code=200,
    )
    async def ruling(
        self,
        request: AnyRequest,
        case_id: FromPath[UUID],
        exhibit_id: FromPath[UUID],
        data: JSONBody[RulingIn],
    ) -> ExhibitOut:
        return await exhibits.rule(
            request.app.state.runtime, current_principal(request), case_id, exhibit_id, data
        )

    @get(
        "/{exhibit_id:uuid}/download",
        opt=require(Permission.CASES_READ),
        summary="A short-lived link to the exhibit's file, or the record's JWS (recorded)",
    )
    async def download(
        self, request: AnyRequest, case_id: FromPath[UUID], exhibit_id: FromPath[UUID]
    ) -> ExhibitDownload:
        return await exhibits.download(
            request.app.state.runtime, current_principal(request), case_id, exhibit_id
        )
