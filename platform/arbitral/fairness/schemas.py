"""What the fairness watch answers (see :mod:`arbitral.fairness.domain` for the definitions)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec


class FlagOut(msgspec.Struct):
    code: str
    message: str
    figures: dict[str, Any]


class LenderOut(msgspec.Struct):
    id_number: str
    name: str
    cases_filed: int
    closed: int
    rejected: int
    awarded: int
    settled: int
    withdrawn: int
    defaulted: int
    share_defaulted: float | None
    share_settled: float | None
    share_awarded: float | None
    share_withdrawn: float | None
    award_ratio_mean: float | None
    award_ratio_median: float | None
    over_cap: int
    share_over_cap: float | None
    interest_over_supported: str
    top_arbitrator_id: UUID | None
    top_arbitrator_share: float | None
    arbitrator_hhi: float | None
    # The codes of the flags raised (the detail route gives their messages and figures).
    flags: list[str]


class LenderList(msgspec.Struct):
    # Arbitrators who decided the commission's online-loan cases (any lender).
    arbitrators_deciding: int
    items: list[LenderOut]


class LenderDetail(msgspec.Struct):
    lender: LenderOut
    arbitrators_deciding: int
    flags: list[FlagOut]
    # The thresholds the flags were judged by.
    thresholds: dict[str, float]
