"""Reconciliation of a lender's batch: what became of every row it sent.

A lender's back office books each loan it claimed against what the commission did with
it; this is the statement it books against. Per batch: the rows read, the cases created,
the rows refused (the batch's counters, and ``batch_problem`` by state), and the outcome
of every case, with the amounts claimed against the amounts awarded. The per-case lines
(row, contract, case, number, state, amount claimed, amount awarded) come as CSV or JSON
Lines, streamed.

Every figure is one set-based query over ``loan_contract`` (the registry every batch case
has a row in) joined to its cases and their issued awards, never a query per case: a batch
is tens of thousands of rows. The lines are read in chunks by keyset (``row_no``, then the
case id) on the ``loan_contract_batch`` index, each chunk in a short read-only transaction
of its own, so that a slow download holds no connection and no snapshot; a case that moves
while the file is being read shows the state of its chunk's moment.

The amount awarded of a case is what its issued award orders the respondent to pay: the
sum of the decision items with an amount and ``payer`` ``respondent`` (the structure of
:class:`arbitral.awards.domain.Content`), of the case's latest issued award of kind
``award`` or ``correction`` (a correction restates the whole award it corrects). Fees the
respondent bears are not in it (they are ``fees``, not decision items). Consent awards and
mediation statements record what the parties agreed, not what the tribunal ordered: a
settled case has no amount awarded.

Amounts are summed in integer fen (cents) on both backends: PostgreSQL's numeric would be
exact anyway, but SQLite keeps ``Numeric`` columns and JSON strings as floating point, and
a sum of 100,000 floats must still come out to the fen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal
from uuid import UUID

import msgspec

from arbitral.auth.domain import ClientKind, Permission, Principal, PrincipalKind, Role
from arbitral.cases.domain import CLOSED, CaseState
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import FieldProblem, NotFound, ValidationFailed
from arbitral.identity.services import tenant_of

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

# Lines per query of a download: big enough that 100,000 cases take 50 queries, small
# enough that a chunk's rows (and its awards' JSON) stay a few megabytes.
CHUNK: Final = 2_000

Format = Literal["csv", "jsonl"]
FORMATS: Final[Mapping[str, tuple[str, str]]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/jsonl; charset=utf-8", "jsonl"),
}
LINE_FIELDS: Final = (
    "row_no",
    "contract_number",
    "case_id",
    "number",
    "state",
    "amount_claimed",
    "amount_awarded",
)
# The commission's staff: they see every batch of their commission.
STAFF_ROLES: Final = frozenset({Role.COMMISSION_ADMIN, Role.SECRETARY})


class Outcomes(msgspec.Struct):
    """What became of the batch's cases.

    ``in_progress`` counts the open cases (``in_progress_by_state`` per state: filed,
    returned, accepted, ..., suspended); ``accepted`` every case that passed the acceptance
    review (its history has a move to ``accepted``), whatever became of it since; the rest
    count the closed cases by how they closed. ``enforced`` is always 0 for now: court
    enforcement of awards arrives with a later issue; the column is kept so that a lender's
    import does not change shape when it does.
    """

    in_progress: int
    in_progress_by_state: dict[str, int]
    accepted: int
    rejected: int
    settled: int
    awarded: int
    enforced: int
    withdrawn: int


class BatchReconciliation(msgspec.Struct):
    batch_id: UUID
    state: str
    client_id: str | None
    declared_rows: int
    # The batch's counters, as its processing job committed them.
    rows_read: int
    cases_created: int
    rows_rejected: int
    rows_duplicate: int
    # The refused rows kept in batch_problem, per state (rejected, duplicate).
    problems: dict[str, int]
    # Cases found in the registry for this batch (equals cases_created once it is done).
    cases: int
    outcomes: Outcomes
    # The amount claimed by all the batch's cases.
    amount_claimed: str
    # Of the awarded cases: what they claimed, what the awards order paid, and the ratio.
    amount_claimed_awarded: str
    amount_awarded: str
    award_ratio: float | None
    created_at: Any
    finished_at: Any


def fen(value: Any) -> int:
    """An integer count of fen from a driver value (None: 0)."""
    return 0 if value is None else int(value)


def yuan(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def cents_sql(expression: str) -> str:
    """SQL for ``expression`` (yuan) as an integer count of fen, on both backends."""
    return f"CAST(ROUND({expression} * 100) AS BIGINT)"


def award_amounts_sql(is_postgres: bool, cases: str) -> str:
    """Two CTEs, ``latest_award`` and ``award_amounts (case_id, cents)``: for every case of
    the CTE ``cases`` (a column ``case_id``) with an issued award or correction, what its
    latest one orders the respondent to pay, in fen. Takes one argument: the tenant id.

    The decision items are expanded in SQL (``jsonb_array_elements`` on PostgreSQL,
    ``json_each`` on SQLite), so that the sum is set-based on both backends.
    """
    if is_postgres:
        items = (
            "LEFT JOIN LATERAL jsonb_array_elements("
            "CAST(x.content AS jsonb) -> 'decision') AS d(value) ON true"
        )
        payer = "d.value ->> 'payer'"
        amount = "d.value ->> 'amount'"
        amount_cents = cents_sql(f"CAST({amount} AS NUMERIC)")
    else:
        items = "LEFT JOIN json_each(x.content, '$.decision') AS d"
        payer = "json_extract(d.value, '$.payer')"
        amount = "json_extract(d.value, '$.amount')"
        amount_cents = cents_sql(f"CAST({amount} AS REAL)")
    return (
        "latest_award AS ("  # noqa: S608 (constant fragments)
        " SELECT r.case_id, r.content FROM ("
        "  SELECT w.case_id, w.content, ROW_NUMBER() OVER "
        "  (PARTITION BY w.case_id ORDER BY w.issued_at DESC, w.id DESC) AS rn"
        f"  FROM award w JOIN {cases} k ON k.case_id = w.case_id"
        "  WHERE w.tenant_id = {} AND w.status = 'issued' AND w.kind IN ('award', 'correction')"
        " ) r WHERE r.rn = 1"
        "), award_amounts AS ("
        " SELECT x.case_id,"
        f" SUM(CASE WHEN {payer} = 'respondent' AND {amount} IS NOT NULL"
        f" THEN {amount_cents} ELSE 0 END) AS cents"
        f" FROM latest_award x {items} GROUP BY x.case_id"
        ")"
    )


# -- access ----------------------------------------------------------------------------


def _may_see(principal: Principal, batch: Mapping[str, Any]) -> bool:
    """The lender client that submitted the batch, the commission's staff, the operator."""
    if principal.kind is PrincipalKind.OPERATOR:
        return True
    if principal.kind is PrincipalKind.API_CLIENT:
        return (
            principal.client_kind is ClientKind.LENDER
            and principal.can(Permission.BATCHES_SUBMIT)
            and principal.client_id is not None
            and principal.client_id == batch["client_id"]
        )
    if principal.kind is PrincipalKind.USER:
        return bool(principal.roles & STAFF_ROLES) and (
            principal.can(Permission.CASES_READ) or principal.can(Permission.CASES_MANAGE)
        )
    return False


async def access_batch(uow: UnitOfWork, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """The batch, if this principal may reconcile it; 404 otherwise (unknown and forbidden
    alike: another lender must not learn that a batch id exists)."""
    rows = await uow.fetch(
        "SELECT * FROM claim_batch WHERE tenant_id = {} AND id = {}",
        tenant_of(principal),
        batch_id,
    )
    if not rows or not _may_see(principal, rows[0]):
        raise NotFound("no such batch")
    return rows[0]


# -- the summary -----------------------------------------------------------------------


def _summary_sql(is_postgres: bool) -> str:
    return (
        "WITH batch_cases AS ("  # noqa: S608 (constant fragments)
        " SELECT c.id AS case_id, c.state, "
        + cents_sql("c.amount_claimed")
        + " AS claimed FROM loan_contract l JOIN arb_case c"
        " ON c.tenant_id = l.tenant_id AND c.id = l.case_id"
        " WHERE l.tenant_id = {} AND l.batch_id = {}"
        "), "
        + award_amounts_sql(is_postgres, "batch_cases")
        + " SELECT b.state, COUNT(*) AS n, SUM(b.claimed) AS claimed,"
        " SUM(a.cents) AS awarded,"
        " SUM(CASE WHEN EXISTS (SELECT 1 FROM case_event e WHERE e.tenant_id = {}"
        " AND e.case_id = b.case_id AND e.to_state = 'accepted') THEN 1 ELSE 0 END) AS accepted"
        " FROM batch_cases b LEFT JOIN award_amounts a ON a.case_id = b.case_id"
        " GROUP BY b.state"
    )


def reconcile(
    batch: Mapping[str, Any], states: Sequence[Mapping[str, Any]], problems: Mapping[str, int]
) -> BatchReconciliation:
    """The reconciliation from the batch row and the per-state aggregates (no I/O)."""
    by_state = {str(r["state"]): r for r in states}

    def count(state: CaseState) -> int:
        row = by_state.get(state.value)
        return 0 if row is None else int(row["n"])

    open_states = {
        s: int(r["n"]) for s, r in sorted(by_state.items()) if CaseState(s) not in CLOSED
    }
    awarded = by_state.get(CaseState.AWARDED.value)
    claimed_awarded = fen(awarded["claimed"]) if awarded else 0
    amount_awarded = fen(awarded["awarded"]) if awarded else 0
    return BatchReconciliation(
        batch_id=as_uuid(batch["id"]),
        state=str(batch["state"]),
        client_id=batch["client_id"],
        declared_rows=int(batch["declared_rows"]),
        rows_read=int(batch["rows_read"]),
        cases_created=int(batch["cases_created"]),
        rows_rejected=int(batch["rows_rejected"]),
        rows_duplicate=int(batch["rows_duplicate"]),
        problems=dict(problems),
        cases=sum(int(r["n"]) for r in states),
        outcomes=Outcomes(
            in_progress=sum(open_states.values()),
            in_progress_by_state=open_states,
            accepted=sum(fen(r["accepted"]) for r in states),
            rejected=count(CaseState.REJECTED),
            settled=count(CaseState.SETTLED),
            awarded=count(CaseState.AWARDED),
            enforced=0,
            withdrawn=count(CaseState.WITHDRAWN),
        ),
        amount_claimed=yuan(sum(fen(r["claimed"]) for r in states)),
        amount_claimed_awarded=yuan(claimed_awarded),
        amount_awarded=yuan(amount_awarded),
        award_ratio=round(amount_awarded / claimed_awarded, 4) if claimed_awarded else None,
        created_at=as_datetime(batch["created_at"]),
        finished_at=as_optional_datetime(batch["finished_at"]),
    )


async def reconciliation(
    runtime: Runtime, principal: Principal, batch_id: UUID
) -> BatchReconciliation:
    """The batch's reconciliation: its counters and its cases' outcomes and amounts."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        batch = await access_batch(uow, principal, batch_id)
        states = await uow.fetch(
            _summary_sql(uow.is_postgres), tenant_id, batch_id, tenant_id, tenant_id
        )
        problems = await uow.fetch(
            "SELECT state, COUNT(*) AS n FROM batch_problem WHERE tenant_id = {} "
            "AND batch_id = {} GROUP BY state",
            tenant_id,
            batch_id,
        )
    return reconcile(batch, states, {str(r["state"]): int(r["n"]) for r in problems})


# -- the per-case lines ----------------------------------------------------------------


class CaseLine(msgspec.Struct):
    row_no: int | None
    contract_number: str
    case_id: UUID
    number: str | None
    state: str
    amount_claimed: str
    amount_awarded: str | None


def _lines_sql(is_postgres: bool) -> str:
    return (
        "WITH chunk AS ("  # noqa: S608 (constant fragments)
        " SELECT l.row_no, l.contract_number, l.case_id FROM loan_contract l"
        " WHERE l.tenant_id = {} AND l.batch_id = {}"
        " AND (l.row_no > {} OR (l.row_no = {} AND l.case_id > {}))"
        " ORDER BY l.row_no, l.case_id LIMIT {}"
        "), "
        + award_amounts_sql(is_postgres, "chunk")
        + " SELECT k.row_no, k.contract_number, k.case_id, c.number, c.state, "
        + cents_sql("c.amount_claimed")
        + " AS claimed, a.cents AS awarded"
        " FROM chunk k JOIN arb_case c ON c.tenant_id = {} AND c.id = k.case_id"
        " LEFT JOIN award_amounts a ON a.case_id = k.case_id"
        " ORDER BY k.row_no, k.case_id"
    )


def line_of(row: Mapping[str, Any]) -> CaseLine:
    """A case's line. ``amount_awarded`` is set for an awarded case only (0.00 when its
    award dismissed every claim), empty otherwise."""
    awarded = row["state"] == CaseState.AWARDED and row["awarded"] is not None
    return CaseLine(
        row_no=None if row["row_no"] is None else int(row["row_no"]),
        contract_number=str(row["contract_number"]),
        case_id=as_uuid(row["case_id"]),
        number=row["number"],
        state=str(row["state"]),
        amount_claimed=yuan(fen(row["claimed"])),
        amount_awarded=yuan(fen(row["awarded"])) if awarded else None,
    )


async def _chunks(
    runtime: Runtime, tenant_id: UUID, batch_id: UUID, chunk: int
) -> AsyncIterator[list[CaseLine]]:
    after_row, after_case = -1, UUID(int=0)
    while True:
        # One short transaction per chunk, closed before the chunk is handed on.
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            rows = await uow.fetch(
                _lines_sql(uow.is_postgres),
                tenant_id,
                batch_id,
                after_row,
                after_row,
                after_case,
                chunk,
                tenant_id,
                tenant_id,
            )
        if not rows:
            return
        lines = [line_of(r) for r in rows]
        yield lines
        if len(rows) < chunk:
            return
        last = lines[-1]
        after_row, after_case = (last.row_no if last.row_no is not None else -1), last.case_id


def _csv(values: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(values)
    return out.getvalue().encode()


def _csv_row(line: CaseLine) -> list[Any]:
    return [
        "" if line.row_no is None else line.row_no,
        line.contract_number,
        str(line.case_id),
        line.number or "",
        line.state,
        line.amount_claimed,
        line.amount_awarded or "",
    ]


async def lines(
    runtime: Runtime, principal: Principal, batch_id: UUID, fmt: str, *, chunk: int = CHUNK
) -> tuple[AsyncIterator[bytes], str, str]:
    """The batch's per-case lines as (byte stream, media type, file name).

    Access is checked here, before anything is streamed (a 404 is an answer, not a
    truncated file); the stream then reads the lines chunk by chunk.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(
            "unknown format",
            errors=[FieldProblem("query:format", "enum", "json, csv or jsonl")],
        )
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_batch(uow, principal, batch_id)
    media_type, extension = FORMATS[fmt]

    async def stream() -> AsyncIterator[bytes]:
        if fmt == "csv":
            yield _csv([list(LINE_FIELDS)])
        async for part in _chunks(runtime, tenant_id, batch_id, chunk):
            if fmt == "csv":
                yield _csv([_csv_row(line) for line in part])
            else:
                yield b"".join(msgspec.json.encode(line) + b"\n" for line in part)

    return stream(), media_type, f"batch-{batch_id}-cases.{extension}"


__all__ = [
    "BatchReconciliation",
    "CaseLine",
    "Outcomes",
    "access_batch",
    "award_amounts_sql",
    "cents_sql",
    "lines",
    "reconciliation",
]
