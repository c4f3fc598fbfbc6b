"""The fairness watch: per lender, counted set-based in SQL (both backends), read by staff.

Three queries in one read-only transaction, whatever the number of cases: the figures per
lender (counts by outcome, defaults, award/claim ratios with their median by window
functions, claims over the interest cap), the seats of arbitrators on each lender's
awarded cases, and the number of arbitrators deciding the commission's loan cases. Each
query filters on the principal's tenant, and row-level security enforces the same on
PostgreSQL: the staff of one commission never see another's lenders.

Every read is audited (``fairness.viewed``) in a short transaction of its own after the
read: the read itself is read-only, so that a report over 100,000 cases takes no write
lock on SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from arbitral.audit.services import record
from arbitral.auth.domain import Permission, Principal, PrincipalKind
from arbitral.batches.reconciliation import award_amounts_sql, cents_sql, fen
from arbitral.db.values import as_uuid
from arbitral.errors import NotFound
from arbitral.fairness import domain
from arbitral.fairness.schemas import FlagOut, LenderDetail, LenderList, LenderOut
from arbitral.identity.services import actor_of, tenant_of

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

ACTION: Final = "fairness.viewed"

# The respondent side took part in the case (see domain's "defaulted"): one EXISTS each.
_TOOK_PART: Final = (
    "SELECT 1 FROM case_answer x WHERE x.tenant_id = :tenant AND x.case_id = b.case_id",
    "SELECT 1 FROM case_counterclaim x WHERE x.tenant_id = :tenant AND x.case_id = b.case_id",
    "SELECT 1 FROM exhibit x WHERE x.tenant_id = :tenant AND x.case_id = b.case_id "
    "AND x.side = 'respondent' AND x.submitted_at IS NOT NULL",
    "SELECT 1 FROM exhibit x JOIN exhibit_view v ON v.tenant_id = x.tenant_id "
    "AND v.exhibit_id = x.id WHERE x.tenant_id = :tenant AND x.case_id = b.case_id "
    "AND v.side = 'respondent'",
    "SELECT 1 FROM hearing h JOIN hearing_post x ON x.tenant_id = h.tenant_id "
    "AND x.hearing_id = h.id WHERE h.tenant_id = :tenant AND h.case_id = b.case_id "
    "AND x.speaker = 'respondent'",
    "SELECT 1 FROM hearing h JOIN hearing_session x ON x.tenant_id = h.tenant_id "
    "AND x.hearing_id = h.id WHERE h.tenant_id = :tenant AND h.case_id = b.case_id "
    "AND x.outcome = 'held'",
    "SELECT 1 FROM settlement_offer x WHERE x.tenant_id = :tenant AND x.case_id = b.case_id "
    "AND x.side = 'respondent'",
    "SELECT 1 FROM tribunal_nomination x WHERE x.tenant_id = :tenant "
    "AND x.case_id = b.case_id AND x.side = 'respondent'",
    "SELECT 1 FROM tribunal_challenge x WHERE x.tenant_id = :tenant "
    "AND x.case_id = b.case_id AND x.side = 'respondent'",
)

_CLOSED_SQL: Final = "('rejected', 'awarded', 'settled', 'withdrawn')"


def _base(one_lender: bool) -> str:
    """The CTE ``base``: the tenant's loan cases (one lender's, or all)."""
    return (
        "base AS (SELECT l.lender_id_number AS lender, c.id AS case_id, c.state, "  # noqa: S608 (constant fragments)
        + cents_sql("c.amount_claimed")
        + " AS claimed, CASE WHEN l.over_cap THEN 1 ELSE 0 END AS over_cap,"
        " CASE WHEN l.interest_claimed > l.interest_supported THEN "
        + cents_sql("(l.interest_claimed - l.interest_supported)")
        + " ELSE 0 END AS excess"
        " FROM loan_contract l JOIN arb_case c ON c.tenant_id = l.tenant_id AND c.id = l.case_id"
        " WHERE l.tenant_id = :tenant"
        + (" AND l.lender_id_number = :lender" if one_lender else "")
        + ")"
    )


def _figures_sql(is_postgres: bool, one_lender: bool) -> str:
    default = " AND ".join(f"NOT EXISTS ({q})" for q in _TOOK_PART)
    return (
        "WITH "  # noqa: S608 (constant fragments)
        + _base(one_lender)
        + ", awarded_cases AS (SELECT case_id FROM base WHERE state = 'awarded'), "
        + award_amounts_sql(is_postgres, "awarded_cases").replace("{}", ":tenant")
        + ", decided AS (SELECT b.lender, b.case_id,"  # noqa: S608 (constant fragments)
        " CASE WHEN b.claimed > 0 AND a.cents IS NOT NULL"
        " THEN a.cents * 1.0 / b.claimed END AS ratio,"
        f" CASE WHEN {default} THEN 1 ELSE 0 END AS defaulted"
        " FROM base b LEFT JOIN award_amounts a ON a.case_id = b.case_id"
        " WHERE b.state = 'awarded')"
        ", ranked AS (SELECT lender, ratio,"
        " ROW_NUMBER() OVER (PARTITION BY lender ORDER BY ratio) AS rn,"
        " COUNT(*) OVER (PARTITION BY lender) AS n FROM decided WHERE ratio IS NOT NULL)"
        ", medians AS (SELECT lender, AVG(ratio) AS median FROM ranked"
        " WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY lender)"
        ", award_stats AS (SELECT lender, SUM(defaulted) AS defaulted, AVG(ratio) AS mean"
        " FROM decided GROUP BY lender)"
        ", names AS (SELECT p.id_number AS lender, MAX(p.name) AS name FROM case_party p"
        " JOIN base b ON b.case_id = p.case_id AND b.lender = p.id_number"
        " WHERE p.tenant_id = :tenant AND p.side = 'claimant' GROUP BY p.id_number)"
        ", counts AS (SELECT lender, COUNT(*) AS cases_filed,"
        f" SUM(CASE WHEN state IN {_CLOSED_SQL} THEN 1 ELSE 0 END) AS closed,"
        " SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END) AS rejected,"
        " SUM(CASE WHEN state = 'awarded' THEN 1 ELSE 0 END) AS awarded,"
        " SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END) AS settled,"
        " SUM(CASE WHEN state = 'withdrawn' THEN 1 ELSE 0 END) AS withdrawn,"
        " SUM(over_cap) AS over_cap, SUM(excess) AS excess FROM base GROUP BY lender)"
        " SELECT k.*, s.defaulted, s.mean, m.median, n.name FROM counts k"
        " LEFT JOIN award_stats s ON s.lender = k.lender"
        " LEFT JOIN medians m ON m.lender = k.lender"
        " LEFT JOIN names n ON n.lender = k.lender"
        " ORDER BY k.lender"
    )


def _seats_sql(one_lender: bool) -> str:
    return (
        "WITH "  # noqa: S608 (constant fragments)
        + _base(one_lender)
        + " SELECT b.lender, t.user_id, COUNT(DISTINCT b.case_id) AS n FROM base b"
        " JOIN tribunal_member t ON t.tenant_id = :tenant AND t.case_id = b.case_id"
        " AND t.released_at IS NULL WHERE b.state = 'awarded' GROUP BY b.lender, t.user_id"
    )


ARBITRATORS_SQL: Final = (
    "SELECT COUNT(DISTINCT t.user_id) AS n FROM loan_contract l"
    " JOIN arb_case c ON c.tenant_id = l.tenant_id AND c.id = l.case_id"
    " JOIN tribunal_member t ON t.tenant_id = l.tenant_id AND t.case_id = l.case_id"
    " AND t.released_at IS NULL"
    " WHERE l.tenant_id = :tenant AND c.state = 'awarded'"
)


def bind(sql: str, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Named markers (``:tenant``) to the ``{}`` placeholders, with the arguments in order."""
    args: list[Any] = []

    def take(match: re.Match[str]) -> str:
        args.append(values[match.group(1)])
        return "{}"

    return re.sub(r":(tenant|lender)\b", take, sql), args


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), domain.DIGITS)


async def _fetch(uow: UnitOfWork, sql: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    query, args = bind(sql, values)
    return await uow.fetch(query, *args)


async def compute(
    uow: UnitOfWork, tenant_id: UUID, lender: str | None = None
) -> tuple[list[domain.Figures], int]:
    """Every lender's figures (or one lender's) and the arbitrators deciding loan cases."""
    values = {"tenant": tenant_id, "lender": lender}
    one = lender is not None
    rows = await _fetch(uow, _figures_sql(uow.is_postgres, one), values)
    seats: dict[str, dict[UUID, int]] = {}
    for r in await _fetch(uow, _seats_sql(one), values):
        seats.setdefault(str(r["lender"]), {})[as_uuid(r["user_id"])] = int(r["n"])
    deciding = int((await _fetch(uow, ARBITRATORS_SQL, values))[0]["n"] or 0)
    found = [
        domain.figures(
            domain.Counts(
                id_number=str(r["lender"]),
                name=str(r["name"] or ""),
                cases_filed=int(r["cases_filed"]),
                closed=fen(r["closed"]),
                rejected=fen(r["rejected"]),
                awarded=fen(r["awarded"]),
                settled=fen(r["settled"]),
                withdrawn=fen(r["withdrawn"]),
                defaulted=fen(r["defaulted"]),
                over_cap=fen(r["over_cap"]),
                interest_over_supported=fen(r["excess"]),
                ratio_mean=_number(r["mean"]),
                ratio_median=_number(r["median"]),
                seats=seats.get(str(r["lender"]), {}),
            ),
            arbitrators_deciding=deciding,
        )
        for r in rows
    ]
    return domain.ordered(found), deciding


def lender_out(f: domain.Figures) -> LenderOut:
    c = f.counts
    return LenderOut(
        id_number=c.id_number,
        name=c.name,
        cases_filed=c.cases_filed,
        closed=c.closed,
        rejected=c.rejected,
        awarded=c.awarded,
        settled=c.settled,
        withdrawn=c.withdrawn,
        defaulted=c.defaulted,
        share_defaulted=f.share_defaulted,
        share_settled=f.share_settled,
        share_awarded=f.share_awarded,
        share_withdrawn=f.share_withdrawn,
        award_ratio_mean=c.ratio_mean,
        award_ratio_median=c.ratio_median,
        over_cap=c.over_cap,
        share_over_cap=f.share_over_cap,
        interest_over_supported=f.interest_over_supported,
        top_arbitrator_id=f.top_arbitrator,
        top_arbitrator_share=f.top_arbitrator_share,
        arbitrator_hhi=f.arbitrator_hhi,
        flags=[flag.code for flag in f.flags],
    )


THRESHOLDS: Final[Mapping[str, float]] = {
    "min_awards": domain.MIN_AWARDS,
    "concentration_share": domain.CONCENTRATION_SHARE,
    "min_arbitrators": domain.MIN_ARBITRATORS,
    "award_ratio_median": domain.AWARD_RATIO_MEDIAN,
    "default_share": domain.DEFAULT_SHARE,
    "over_cap_share": domain.OVER_CAP_SHARE,
}


def _staff(principal: Principal) -> UUID:
    """The principal's commission; the route already required cases:manage (staff only)."""
    if principal.kind not in (PrincipalKind.USER, PrincipalKind.OPERATOR) or not principal.can(
        Permission.CASES_MANAGE
    ):
        raise NotFound("no such object")
    return tenant_of(principal)


async def _audit(
    runtime: Runtime, principal: Principal, tenant_id: UUID, detail: dict[str, Any]
) -> None:
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action=ACTION,
            target_kind="lender" if detail.get("lender") else "lenders",
            target_id=detail.get("lender"),
            detail=detail,
        )


async def list_lenders(runtime: Runtime, principal: Principal) -> LenderList:
    """Every lender of the commission with its figures and flag codes (most flags first)."""
    tenant_id = _staff(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        found, deciding = await compute(uow, tenant_id)
    await _audit(
        runtime,
        principal,
        tenant_id,
        {"lenders": len(found), "flagged": sum(1 for f in found if f.flags)},
    )
    return LenderList(arbitrators_deciding=deciding, items=[lender_out(f) for f in found])


async def show_lender(runtime: Runtime, principal: Principal, id_number: str) -> LenderDetail:
    """One lender (by its identity number) with its flags and the figures behind them."""
    tenant_id = _staff(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        found, deciding = await compute(uow, tenant_id, id_number)
    if not found:
        raise NotFound("no such lender")
    figures = found[0]
    await _audit(
        runtime,
        principal,
        tenant_id,
        {"lender": id_number, "flags": [f.code for f in figures.flags]},
    )
    return LenderDetail(
        lender=lender_out(figures),
        arbitrators_deciding=deciding,
        flags=[FlagOut(code=f.code, message=f.message, figures=f.figures) for f in figures.flags],
        thresholds=dict(THRESHOLDS),
    )


def table(items: Sequence[LenderOut]) -> list[list[str]]:
    """The lenders as rows of text (header first), for the command line."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [
        [
            "id_number",
            "name",
            "filed",
            "closed",
            "awarded",
            "defaulted",
            "settled",
            "withdrawn",
            "ratio_mean",
            "ratio_median",
            "over_cap",
            "interest_over",
            "top_arb",
            "hhi",
            "flags",
        ]
    ]
    for i in items:
        rows.append(
            [
                i.id_number,
                i.name,
                str(i.cases_filed),
                str(i.closed),
                pct(i.share_awarded),
                pct(i.share_defaulted),
                pct(i.share_settled),
                pct(i.share_withdrawn),
                num(i.award_ratio_mean),
                num(i.award_ratio_median),
                pct(i.share_over_cap),
                i.interest_over_supported,
                pct(i.top_arbitrator_share),
                num(i.arbitrator_hhi),
                ",".join(i.flags) or "-",
            ]
        )
    return rows
