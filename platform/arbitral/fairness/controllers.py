"""The fairness watch over HTTP: the commission's staff only (cases:manage)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.fairness import services
from arbitral.fairness.schemas import LenderDetail, LenderList

AnyRequest = Request[Any, Any, Any]

_DEFINITIONS = (
    "Per lender (grouped by the claimant's identity number): cases filed and closed; the "
    "shares of the closed cases settled, awarded, withdrawn; the share of the awarded cases "
    "decided in default (the respondent side never took part: no answer, counterclaim, "
    "exhibit, view on an exhibit, hearing post, video session held with both sides, "
    "settlement offer, nomination or challenge); the mean and median award/claim ratio; the "
    "share of claims above the interest cap and the interest claimed above what the "
    "assessment supports; the share of the awarded cases decided by the top arbitrator and "
    "the Herfindahl index of the seats. Every read is audited (fairness.viewed)."
)


class FairnessController(Controller):
    path = "/api/v1/fairness/lenders"
    tags = ("fairness",)

    @get(
        "/",
        opt=require(Permission.CASES_MANAGE),
        summary="The fairness watch: every lender's outcomes, defaults, ratios and flags",
        description=_DEFINITIONS,
    )
    async def index(self, request: AnyRequest) -> LenderList:
        return await services.list_lenders(request.app.state.runtime, current_principal(request))

    @get(
        "/{id_number:str}",
        opt=require(Permission.CASES_MANAGE),
        summary="One lender's figures, with each flag's message, figures and threshold",
        description=_DEFINITIONS,
    )
    async def show(self, request: AnyRequest, id_number: FromPath[str]) -> LenderDetail:
        return await services.show_lender(
            request.app.state.runtime, current_principal(request), id_number
        )
