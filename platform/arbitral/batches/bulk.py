"""Writing a chunk of a batch: its cases, parties, history, exhibits and refused rows at once.

The ORM inserts ~11,000 rows/s; a batch of 100,000 claims is about a million rows.
Every table here is written with one statement per chunk: on PostgreSQL an
``INSERT … SELECT FROM unnest($1::uuid[], …)`` (the arrays travel in asyncpg's binary
format, and unlike ``COPY FROM`` it keeps the tables' row-level security, which
``COPY`` refuses); on SQLite an ``executemany``. What a case filed one by one gets,
a batch case gets too: a gapless number, both parties (the respondent's portal account
opened or found, as :func:`arbitral.identity.services.ensure_party_account` does), the
``file`` event of its history, its evidence as submitted exhibits, its filing in the
tenant's transparency log (one leaf per chunk over its cases' entries:
:mod:`arbitral.batches.filings`), and its ``loan_contract`` registration. The audit trail
gets one event per chunk naming its cases and the accounts it opened.

The caller runs :func:`write_chunk` in one transaction with the batch's checkpoint,
so a chunk is written whole or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.batches import filings
from arbitral.batches.bundle import find_evidence
from arbitral.batches.validate import CheckedRow
from arbitral.cases.domain import CaseState, Side, exhibit_number
from arbitral.cases.services import reserve_numbers
from arbitral.db.bulk import columns, insert_rows, select_in
from arbitral.identity.domain import normalize_email, normalize_phone
from arbitral.ledger import services as ledger

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.rules.model import EvidenceRequirement
    from arbitral.tenancy.services import TenantInfo

PARTY_ROLES: Final = frozenset({"claimant", "respondent", "agent"})


@dataclass(frozen=True)
class BatchFiler:
    """Who filed the batch, and what every case of it shares."""

    batch_id: UUID
    tenant: TenantInfo
    case_type: str
    rule_set: str
    rule_set_version: str
    filed_by: str
    filer_kind: str
    client_id: str | None
    claimant: Mapping[str, Any]
    claimant_user_id: UUID | None
    evidence: Sequence[EvidenceRequirement]
    locale: str = "zh-CN"

    @property
    def audit_actor(self) -> AuditActor:
        kind = "api_client" if self.filer_kind == "api_client" else "operator"
        return AuditActor(kind, self.filed_by)  # type: ignore[arg-type]


@dataclass
class Timings:
    """Seconds spent per part of the work (logged: where the time of a batch goes)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, value: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + value

    def lap(self, part: str, since: float) -> float:
        """Add the time since ``since`` to ``part``; the time now, for the next lap."""
        now = time.perf_counter()
        self.add(part, now - since)
        return now

    def merge(self, other: Timings) -> None:
        for part, value in other.seconds.items():
            self.add(part, value)

    def rounded(self) -> dict[str, float]:
        return {part: round(value, 3) for part, value in self.seconds.items()}


@dataclass
class ChunkOutcome:
    cases: int = 0
    rejected: int = 0
    duplicate: int = 0
    timings: Timings = field(default_factory=Timings)


CASE_COLUMNS: Final = columns(
    "id:uuid tenant_id:uuid case_type:text rule_set:text rule_set_version:text state:text "
    "claim:json amount_claimed:numeric filed_by:text filer_kind:text filer_user_id:uuid "
    "filed_by_client:text filed_at:timestamptz updated_at:timestamptz version:int4 "
    "number:text number_year:int4 number_seq:int4"
)
PARTY_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid case_id:uuid side:text position:int4 kind:text name:text "
    "id_number:text phone:text email:text address:text user_id:uuid"
)
EVENT_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid case_id:uuid seq:int4 command:text from_state:text to_state:text "
    "actor:text actor_kind:text at:timestamptz reason:text data:json"
)
EXHIBIT_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid case_id:uuid side:text seq:int4 number:text title:text "
    "description:text proves:text kind:text custody_object_id:uuid provenance:text "
    "created_at:timestamptz created_by:text submitted_at:timestamptz submitted_by:text "
    "ruling_reason:text"
)
CONTRACT_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid lender_id_number:text contract_number:text case_id:uuid "
    "batch_id:uuid row_no:int4 client_id:text amount_claimed:numeric interest_claimed:numeric "
    "interest_supported:numeric over_cap:bool created_at:timestamptz"
)
PROBLEM_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid batch_id:uuid row_no:int4 line_no:int4 contract_number:text "
    "state:text problems:json existing_case_id:uuid"
)
USER_COLUMNS: Final = columns(
    "id:uuid tenant_id:uuid display_name:text email:text phone:text status:text "
    "created_at:timestamptz updated_at:timestamptz"
)
MEMBERSHIP_COLUMNS: Final = columns(
    "id:newid tenant_id:uuid user_id:uuid role:text granted_at:timestamptz granted_by:text"
)


# -- lookups, one query per chunk ----------------------------------------------------------


async def claimed_contracts(
    uow: UnitOfWork, tenant_id: UUID, lender: str, numbers: Sequence[str]
) -> dict[str, UUID]:
    """Contract number -> the case it already is, for this lender."""
    rows = await select_in(
        uow,
        "SELECT contract_number, case_id FROM loan_contract "
        "WHERE tenant_id = {} AND lender_id_number = {} AND contract_number {in}",
        sorted(set(numbers)),
        tenant_id,
        lender,
    )
    return {str(r["contract_number"]): UUID(str(r["case_id"])) for r in rows}


async def lock_lender(uow: UnitOfWork, tenant_id: UUID, lender: str) -> None:
    """Serialise the registrations of one lender's contracts (batches and single filings):
    the duplicate check and the insert then see one another (SQLite has one writer)."""
    if uow.is_postgres:
        await uow.fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", f"loan:{tenant_id}:{lender}"
        )


# -- respondents' accounts ------------------------------------------------------------------


async def respondent_accounts(
    uow: UnitOfWork,
    filer: BatchFiler,
    rows: Sequence[CheckedRow],
    now: datetime,
    timings: Timings,
) -> tuple[list[UUID | None], int]:
    """The portal account of each row's respondent, opened where none exists.

    The rule of :func:`arbitral.identity.services.ensure_party_account`, for a chunk at
    once: an account found by the email address or phone number is used (given the
    respondent role if it lacks it), unless the details lead to two accounts or to
    someone who is not a party (staff, an arbitrator): the case then names the
    respondent without an account and service reaches it by address. Rows of the
    chunk with the same details share one new account.
    """
    tenant_id = filer.tenant.id
    contacts: list[tuple[str | None, str | None]] = []
    for row in rows:
        assert row.claim is not None
        party = row.claim["respondent"]
        email = normalize_email(party["email"]) if party.get("email") else None
        phone = normalize_phone(party["phone"]) if party.get("phone") else None
        contacts.append((email, phone))
    t = time.perf_counter()
    emails = sorted({e for e, _ in contacts if e})
    phones = sorted({p for _, p in contacts if p})
    by_email: dict[str, set[UUID]] = {}
    by_phone: dict[str, set[UUID]] = {}
    for r in await select_in(
        uow,
        "SELECT id, lower(email) AS email FROM tenant_user "
        "WHERE tenant_id = {} AND lower(email) {in}",
        emails,
        tenant_id,
    ):
        by_email.setdefault(str(r["email"]), set()).add(UUID(str(r["id"])))
    for r in await select_in(
        uow,
        "SELECT id, phone FROM tenant_user WHERE tenant_id = {} AND phone {in}",
        phones,
        tenant_id,
    ):
        by_phone.setdefault(str(r["phone"]), set()).add(UUID(str(r["id"])))
    existing = sorted({u for s in (*by_email.values(), *by_phone.values()) for u in s})
    roles: dict[UUID, set[str]] = {}
    for r in await select_in(
        uow,
        "SELECT user_id, role FROM membership WHERE tenant_id = {} AND revoked_at IS NULL "
        "AND user_id {in}",
        existing,
        tenant_id,
        pg_type="uuid",
    ):
        roles.setdefault(UUID(str(r["user_id"])), set()).add(str(r["role"]))
    t = timings.lap("accounts: lookups", t)
    new_users: list[tuple[Any, ...]] = []
    memberships: list[tuple[Any, ...]] = []
    granted: set[UUID] = set()
    made: dict[str, UUID] = {}
    out: list[UUID | None] = []
    for row, (email, phone) in zip(rows, contacts, strict=True):
        assert row.claim is not None
        found = set(by_email.get(email, ())) if email else set()
        if phone:
            found |= by_phone.get(phone, set())
        mine = {made[k] for k in (f"e:{email}", f"p:{phone}") if k in made}
        if (found and mine) or len(found) > 1 or len(mine) > 1:
            out.append(None)
            continue
        if found:
            user = next(iter(found))
            held = roles.get(user, set())
            if held - PARTY_ROLES:
                out.append(None)
                continue
            if "respondent" not in held and user not in granted:
                memberships.append((None, tenant_id, user, "respondent", now, filer.filed_by))
                granted.add(user)
            out.append(user)
            continue
        if mine:
            out.append(next(iter(mine)))
            continue
        if not email and not phone:
            out.append(None)
            continue
        user = uuid4()
        name = str(row.claim["respondent"]["name"])
        new_users.append((user, tenant_id, name, email, phone, "active", now, now))
        memberships.append((None, tenant_id, user, "respondent", now, filer.filed_by))
        if email:
            made[f"e:{email}"] = user
        if phone:
            made[f"p:{phone}"] = user
        out.append(user)
    t = timings.lap("accounts: matching", t)
    await insert_rows(uow, "tenant_user", USER_COLUMNS, new_users)
    t = timings.lap("accounts: users", t)
    await insert_rows(uow, "membership", MEMBERSHIP_COLUMNS, memberships)
    timings.lap("accounts: memberships", t)
    return out, len(new_users)


# -- the chunk ---------------------------------------------------------------------------


def _problem_json(problems: Sequence[tuple[str, str, str]]) -> str:
    return json.dumps(
        [{"field": f, "rule": r, "message": m} for f, r, m in problems], ensure_ascii=False
    )


async def write_chunk(
    uow: UnitOfWork, filer: BatchFiler, checked: Sequence[CheckedRow]
) -> ChunkOutcome:
    """Cases for the valid rows of ``checked``, problem rows for the others (see the module)."""
    tenant = filer.tenant
    tenant_id = tenant.id
    now = uow.now()
    outcome = ChunkOutcome()
    t = time.perf_counter()
    problems: list[tuple[Any, ...]] = []
    valid = [row for row in checked if row.valid]
    # The evidence: items the filer itself holds in custody.
    hashes = [sha for row in valid for sha in row.evidence.values()]
    held = await find_evidence(uow, tenant_id, hashes, submitted_by=filer.filed_by)
    t = outcome.timings.lap("evidence", t)
    for row in valid:
        for kind, sha in row.evidence.items():
            if sha not in held:
                row.problems.append(
                    (
                        f"$.evidence.{kind}",
                        "not_in_custody",
                        f"no file with SHA-256 {sha} uploaded by you: upload the bundle first",
                    )
                )
    # Duplicates: the same contract claimed before (any batch, or one by one) or earlier here.
    lender = str(filer.claimant["id_number"])
    await lock_lender(uow, tenant_id, lender)
    numbers = [row.contract_number for row in valid if row.valid and row.contract_number]
    before = await claimed_contracts(uow, tenant_id, lender, [n for n in numbers if n])
    t = outcome.timings.lap("duplicates", t)
    creating: list[CheckedRow] = []
    case_ids: list[UUID] = []
    here: dict[str, UUID] = {}

    def refused(row: CheckedRow, state: str, existing: UUID | None = None) -> None:
        problems.append(
            (
                None,  # a new id (NEW_ID)
                tenant_id,
                filer.batch_id,
                row.row_no,
                row.line_no,
                row.contract_number,
                state,
                _problem_json(row.problems),
                existing,
            )
        )

    for row in checked:
        if not row.valid:
            outcome.rejected += 1
            refused(row, "rejected")
            continue
        assert row.contract_number is not None
        existing = before.get(row.contract_number) or here.get(row.contract_number)
        if existing is not None:
            outcome.duplicate += 1
            row.problems.append(
                (
                    "$.loan.contract_number",
                    "duplicate",
                    f"contract {row.contract_number} is already claimed (case {existing})",
                )
            )
            refused(row, "duplicate", existing)
            continue
        case_id = uuid4()
        here[row.contract_number] = case_id
        creating.append(row)
        case_ids.append(case_id)
    await insert_rows(uow, "batch_problem", PROBLEM_COLUMNS, problems)
    outcome.timings.lap("problems", t)
    if creating:
        await _create_cases(uow, filer, creating, case_ids, held, now, outcome)
    outcome.cases = len(creating)
    return outcome


async def _create_cases(
    uow: UnitOfWork,
    filer: BatchFiler,
    rows: Sequence[CheckedRow],
    case_ids: Sequence[UUID],
    held: Mapping[str, UUID],
    now: datetime,
    outcome: ChunkOutcome,
) -> None:
    tenant = filer.tenant
    tenant_id = tenant.id
    year = now.astimezone(tenant.zone).year
    t = time.perf_counter()
    first = await reserve_numbers(uow, tenant, year, len(rows))
    numbers = tenant.format_case_numbers(year, first, len(rows))
    t = outcome.timings.lap("numbers", t)
    respondents, opened = await respondent_accounts(uow, filer, rows, now, outcome.timings)
    t = time.perf_counter()
    claimant = filer.claimant
    cases: list[tuple[Any, ...]] = []
    parties: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    exhibits: list[tuple[Any, ...]] = []
    contracts: list[tuple[Any, ...]] = []
    # Each case's `file` event; the chunk is one leaf of the log over the filing entries
    # those events give (see filings), and each event names that leaf.
    filed = [
        {
            "case_type": filer.case_type,
            "rule_set": filer.rule_set,
            "rule_set_version": filer.rule_set_version,
            "number": number,
            "batch": str(filer.batch_id),
            "row": row.row_no,
            "claim_sha256": row.claim_sha256,
        }
        for row, number in zip(rows, numbers, strict=True)
    ]
    entries = [
        filings.entry(case_id, now, filer.filed_by, data)
        for case_id, data in zip(case_ids, filed, strict=True)
    ]
    [logged] = await ledger.append_many(
        uow,
        tenant_id,
        filings.KIND,
        [filings.chunk_leaf(filer.batch_id, [r.row_no for r in rows], numbers, entries)],
    )
    t = outcome.timings.lap("ledger", t)
    for index, (row, case_id, respondent_user) in enumerate(
        zip(rows, case_ids, respondents, strict=True)
    ):
        assert row.claim is not None
        assert row.contract_number is not None
        seq = first + index
        number = numbers[index]
        claim_json = row.claim_json
        cases.append(
            (
                case_id,
                tenant_id,
                filer.case_type,
                filer.rule_set,
                filer.rule_set_version,
                CaseState.FILED.value,
                claim_json,
                row.amount_claimed,
                filer.filed_by,
                filer.filer_kind,
                None,
                filer.client_id,
                now,
                now,
                1,
                number,
                year,
                seq,
            )
        )
        respondent = row.claim["respondent"]
        for side, party, user in (
            (Side.CLAIMANT, claimant, filer.claimant_user_id),
            (Side.RESPONDENT, respondent, respondent_user),
        ):
            parties.append(
                (
                    None,  # a new id (NEW_ID)
                    tenant_id,
                    case_id,
                    side.value,
                    1,
                    party["kind"],
                    party["name"],
                    party["id_number"],
                    party.get("phone"),
                    party.get("email"),
                    party.get("address"),
                    user,
                )
            )
        events.append(
            (
                None,  # a new id (NEW_ID)
                tenant_id,
                case_id,
                1,
                "file",
                None,
                CaseState.FILED.value,
                filer.filed_by,
                filer.filer_kind,
                now,
                "",
                json.dumps(
                    {**filed[index], "filing_leaf": logged.leaf_index},
                    ensure_ascii=False,
                    sort_keys=True,
                ),
            )
        )
        exhibit_seq = 0
        for requirement in filer.evidence:
            sha = row.evidence.get(requirement.kind)
            if sha is None:
                continue
            exhibit_seq += 1
            title = requirement.label_en if filer.locale.startswith("en") else requirement.label_zh
            exhibits.append(
                (
                    None,  # a new id (NEW_ID)
                    tenant_id,
                    case_id,
                    Side.CLAIMANT.value,
                    exhibit_seq,
                    exhibit_number(Side.CLAIMANT, exhibit_seq),
                    title[:200],
                    "",
                    requirement.proves,
                    requirement.kind,
                    held[sha],
                    "uploaded",
                    now,
                    filer.filed_by,
                    now,
                    filer.filed_by,
                    "",
                )
            )
        contracts.append(
            (
                None,  # a new id (NEW_ID)
                tenant_id,
                str(claimant["id_number"]),
                row.contract_number,
                case_id,
                filer.batch_id,
                row.row_no,
                filer.client_id,
                row.amount_claimed,
                row.interest_claimed,
                row.interest_supported,
                row.over_cap,
                now,
            )
        )
    t = outcome.timings.lap("build", t)
    await insert_rows(uow, "arb_case", CASE_COLUMNS, cases)
    t = outcome.timings.lap("cases", t)
    await insert_rows(uow, "case_party", PARTY_COLUMNS, parties)
    t = outcome.timings.lap("parties", t)
    await insert_rows(uow, "case_event", EVENT_COLUMNS, events)
    t = outcome.timings.lap("history", t)
    await insert_rows(uow, "exhibit", EXHIBIT_COLUMNS, exhibits)
    t = outcome.timings.lap("exhibits", t)
    await insert_rows(uow, "loan_contract", CONTRACT_COLUMNS, contracts)
    t = outcome.timings.lap("registry", t)
    await record(
        uow,
        tenant_id=tenant_id,
        actor=filer.audit_actor,
        action="batch.cases_filed",
        target_kind="batch",
        target_id=filer.batch_id,
        detail={
            "cases": len(rows),
            "rows": [rows[0].row_no, rows[-1].row_no],
            "numbers": [cases[0][15], cases[-1][15]],
            "accounts_opened": opened,
            "amount_claimed": str(sum((r.amount_claimed for r in rows), Decimal(0))),
        },
    )
    outcome.timings.lap("audit", t)
