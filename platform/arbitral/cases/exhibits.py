"""Exhibits: evidence a side puts before the tribunal, the other side's views, the rulings.

An exhibit cites what is already in custody: a file the party took into
custody (``custody_object``) or a transaction record a platform attested
(``custody_record``). A side drafts its exhibits, then submits them; only
then do the other side, the tribunal and the staff see them, and the
submission is numbered (申1, 申2 … / 被1, 被2 …), written to the case history
and logged in the tenant's transparency log (with the exhibit's SHA-256), so
the due-process record can show what each side put in and when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind
from arbitral.cases import domain
from arbitral.cases.domain import Actor, ExhibitFacts, Opinion, Ruling, Side
from arbitral.cases.schemas import (
    ExhibitCreate,
    ExhibitDownload,
    ExhibitOut,
    RulingIn,
    ViewIn,
    ViewOut,
)
from arbitral.cases.services import (
    LoadedCase,
    TransitionNotAllowed,
    access_case,
    append_event,
    touch,
)
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.rules.model import UnknownRule
from arbitral.safejson import decode_json

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

TITLE_LENGTH: Final = 200
TEXT_LENGTH: Final = 5000
DOWNLOAD_SECONDS: Final = 300
SUBJECT_VALUES: Final = 200  # at most this many values of a record's subject are compared

_SELECT: Final = (
    "SELECT e.*, o.sha256 AS o_sha256, o.media_type AS o_media_type, o.size AS o_size, "
    "o.object_key AS o_key, o.filename AS o_filename, r.jws_sha256 AS r_sha256, "
    "r.object_key AS r_key FROM exhibit e "
    "LEFT JOIN custody_object o ON o.tenant_id = e.tenant_id AND o.id = e.custody_object_id "
    "LEFT JOIN custody_record r ON r.tenant_id = e.tenant_id AND r.id = e.custody_record_id "
)


class StoredExhibitAltered(ProblemError):
    status = 500
    slug = "stored-evidence-altered"
    title = "Stored evidence altered"


def _text(field: str, value: str, *, required: bool, limit: int) -> str:
    text = value.strip()
    if required and not text:
        raise ValidationFailed(
            f"{field} is required", errors=[FieldProblem(f"$.{field}", "required", "is required")]
        )
    if len(text) > limit:
        raise ValidationFailed(
            f"{field} is too long",
            errors=[FieldProblem(f"$.{field}", "max_length", f"at most {limit} characters")],
        )
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise ValidationFailed(
            f"{field} holds control characters",
            errors=[FieldProblem(f"$.{field}", "format", "no control characters")],
        )
    return text


def _facts(row: Mapping[str, Any]) -> ExhibitFacts:
    return ExhibitFacts(side=Side(str(row["side"])), submitted=row["submitted_at"] is not None)


def _my_side(principal: Principal, case: LoadedCase) -> Side:
    side = domain.side_of(principal, case.participation)
    if side is None:
        raise Forbidden(
            "only a party of the case (or its agent) puts in evidence",
            errors=[FieldProblem("$", "party", "you are not a party of this case")],
        )
    return side


def _evidence_open(case: LoadedCase) -> None:
    if case.state not in domain.EVIDENCE_OPEN:
        raise TransitionNotAllowed(
            f"a case that is {case.state.value} takes no more evidence",
            extensions={"state": case.state.value},
        )


# -- what an exhibit cites ------------------------------------------------------------


def _subject_values(subject: Any) -> set[str]:
    """The strings of a record's ``subject`` (who the record is about), normalised, bounded."""
    found: set[str] = set()
    stack = [subject]
    while stack and len(found) < SUBJECT_VALUES:
        value = stack.pop()
        if isinstance(value, str):
            found.add(value.strip().lower())
        elif isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _party_identifiers(case: LoadedCase) -> set[str]:
    found: set[str] = set()
    for party in case.parties:
        for key in ("id_number", "phone", "email"):
            if party[key]:
                found.add(str(party[key]).strip().lower())
    return found


async def _source(
    uow: UnitOfWork, principal: Principal, case: LoadedCase, data: ExhibitCreate
) -> tuple[str, UUID, str]:
    """(column, id, provenance) of what the exhibit cites, if this principal may cite it.

    A file: one the principal took into custody itself. A record: one its own
    platform client pushed, or one whose subject names a party of this case
    (the buyer, the seller, the borrower) by identity number, phone or email.
    Anything else is "not found", as if it did not exist.
    """
    tenant_id = case.row["tenant_id"]
    if (data.item_id is None) == (data.record_id is None):
        raise ValidationFailed(
            "name exactly one of item_id and record_id",
            errors=[
                FieldProblem("$.item_id", "one_of", "a file (item_id) or a record (record_id)")
            ],
        )
    if data.item_id is not None:
        rows = await uow.fetch(
            "SELECT submitted_by FROM custody_object WHERE tenant_id = {} AND id = {}",
            tenant_id,
            data.item_id,
        )
        if not rows or str(rows[0]["submitted_by"]) != principal.actor_id:
            raise ValidationFailed(
                "no such item of yours in custody",
                errors=[FieldProblem("$.item_id", "not_found", "upload the file first")],
            )
        return "custody_object_id", data.item_id, "uploaded"
    assert data.record_id is not None
    rows = await uow.fetch(
        "SELECT client_id, payload FROM custody_record WHERE tenant_id = {} AND id = {}",
        tenant_id,
        data.record_id,
    )
    if rows:
        row = rows[0]
        own = principal.kind is PrincipalKind.API_CLIENT and principal.client_id == row["client_id"]
        payload = row["payload"]
        parsed = (
            decode_json(payload.encode() if isinstance(payload, str) else payload)
            if isinstance(payload, str | bytes)
            else payload
        )
        subject = parsed.get("subject") if isinstance(parsed, Mapping) else None
        if own or _subject_values(subject) & _party_identifiers(case):
            return "custody_record_id", data.record_id, "attested"
    raise ValidationFailed(
        "no such record about this case",
        errors=[
            FieldProblem(
                "$.record_id",
                "not_found",
                "a record whose subject names a party of this case, by the platform that sent it",
            )
        ],
    )


def _check_kind(runtime: Runtime, case: LoadedCase, kind: str | None) -> str | None:
    if kind is None:
        return None
    try:
        rules = runtime.rules.get(str(case.row["rule_set"]), str(case.row["rule_set_version"]))
        kinds = [e.kind for e in rules.case_types[str(case.row["case_type"])].evidence]
    except (UnknownRule, KeyError):
        kinds = []
    if kind not in kinds:
        raise ValidationFailed(
            "not a kind of evidence of this case type",
            errors=[FieldProblem("$.kind", "choice", f"one of {', '.join(kinds) or '(none)'}")],
        )
    return kind


# -- reading --------------------------------------------------------------------------


async def _rows(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, exhibit_id: UUID | None = None
) -> list[dict[str, Any]]:
    sql = _SELECT + "WHERE e.tenant_id = {} AND e.case_id = {}"
    args: list[Any] = [tenant_id, case_id]
    if exhibit_id is not None:
        sql += " AND e.id = {}"
        args.append(exhibit_id)
    sql += " ORDER BY e.side, e.seq, e.created_at, e.id"
    return await uow.fetch(sql, *args)


async def _views(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, dict[str, ViewOut]]:
    """Exhibit id -> side -> that side's latest view."""
    rows = await uow.fetch(
        "SELECT * FROM exhibit_view WHERE tenant_id = {} AND case_id = {} ORDER BY recorded_at, id",
        tenant_id,
        case_id,
    )
    found: dict[str, dict[str, ViewOut]] = {}
    for r in rows:
        found.setdefault(str(r["exhibit_id"]), {})[str(r["side"])] = ViewOut(
            side=str(r["side"]),
            authenticity=str(r["authenticity"]),
            legality=str(r["legality"]),
            relevance=str(r["relevance"]),
            comment=str(r["comment"]),
            recorded_by=str(r["recorded_by"]),
            recorded_at=as_datetime(r["recorded_at"]),
        )
    return found


def _out(row: Mapping[str, Any], views: Mapping[str, ViewOut]) -> ExhibitOut:
    is_file = row["custody_object_id"] is not None
    return ExhibitOut(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        side=str(row["side"]),
        number=row["number"],
        title=str(row["title"]),
        description=str(row["description"]),
        proves=str(row["proves"]),
        kind=row["kind"],
        provenance=str(row["provenance"]),
        sha256=str(row["o_sha256"] if is_file else row["r_sha256"]),
        media_type=str(row["o_media_type"]) if is_file else "application/jose",
        size=int(row["o_size"]) if is_file else None,
        item_id=as_uuid(row["custody_object_id"]) if is_file else None,
        record_id=None if is_file else as_uuid(row["custody_record_id"]),
        created_at=as_datetime(row["created_at"]),
        submitted_at=as_optional_datetime(row["submitted_at"]),
        ruling=row["ruling"],
        ruling_reason=str(row["ruling_reason"]),
        ruled_at=as_optional_datetime(row["ruled_at"]),
        views=[views[s] for s in ("claimant", "respondent") if s in views],
        altered_at=as_optional_datetime(row["altered_at"]),
    )


async def _access(
    uow: UnitOfWork, principal: Principal, case_id: UUID, exhibit_id: UUID
) -> tuple[LoadedCase, dict[str, Any]]:
    case = await access_case(uow, principal, case_id)
    rows = await _rows(uow, case.row["tenant_id"], case_id, exhibit_id)
    if not rows or not domain.may_see_exhibit(principal, case.participation, _facts(rows[0])):
        raise NotFound("no such exhibit")
    return case, rows[0]


async def list_exhibits(runtime: Runtime, principal: Principal, case_id: UUID) -> list[ExhibitOut]:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await access_case(uow, principal, case_id)
        rows = await _rows(uow, tenant_id, case_id)
        views = await _views(uow, tenant_id, case_id)
    return [
        _out(r, views.get(str(r["id"]), {}))
        for r in rows
        if domain.may_see_exhibit(principal, case.participation, _facts(r))
    ]


async def get_exhibit(
    runtime: Runtime, principal: Principal, case_id: UUID, exhibit_id: UUID
) -> ExhibitOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        _, row = await _access(uow, principal, case_id, exhibit_id)
        views = await _views(uow, tenant_id, case_id)
    return _out(row, views.get(str(exhibit_id), {}))


# -- writing --------------------------------------------------------------------------


async def create_exhibit(
    runtime: Runtime, principal: Principal, case_id: UUID, data: ExhibitCreate
) -> ExhibitOut:
    """A draft exhibit of the caller's side (submitted at once when ``submit`` is set)."""
    tenant_id = tenant_of(principal)
    title = _text("title", data.title, required=True, limit=TITLE_LENGTH)
    description = _text("description", data.description, required=False, limit=TEXT_LENGTH)
    proves = _text("proves", data.proves, required=False, limit=TEXT_LENGTH)
    exhibit_id = uuid4()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        side = _my_side(principal, case)
        _evidence_open(case)
        kind = _check_kind(runtime, case, data.kind)
        column, source_id, provenance = await _source(uow, principal, case, data)
        await touch(uow, case)
        already = await uow.fetch(
            f"SELECT id, number FROM exhibit WHERE tenant_id = {{}} AND case_id = {{}} "  # noqa: S608
            f"AND {column} = {{}}",
            tenant_id,
            case_id,
            source_id,
        )
        if already:
            raise Conflict(
                "this evidence is already an exhibit of the case",
                errors=[FieldProblem(f"$.{column[8:]}", "unique", "cited already")],
                extensions={"exhibit_id": str(already[0]["id"]), "number": already[0]["number"]},
            )
        now = uow.now()
        await uow.execute(
            "INSERT INTO exhibit (id, tenant_id, case_id, side, title, description, proves, kind, "  # noqa: S608 (column is one of two constants)
            f"{column}, provenance, created_at, created_by, ruling_reason) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '')",
            exhibit_id,
            tenant_id,
            case_id,
            side.value,
            title,
            description,
            proves,
            kind,
            source_id,
            provenance,
            now,
            principal.actor_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="exhibit.created",
            target_kind="exhibit",
            target_id=exhibit_id,
            detail={"case": str(case_id), "side": side.value, column: str(source_id)},
        )
        if data.submit:
            await _submit(uow, principal, case, exhibit_id, side, bump=False)
        [row] = await _rows(uow, tenant_id, case_id, exhibit_id)
    return _out(row, {})


async def submit_exhibit(
    runtime: Runtime, principal: Principal, case_id: UUID, exhibit_id: UUID
) -> ExhibitOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case, row = await _access(uow, principal, case_id, exhibit_id)
        side = _my_side(principal, case)
        if Side(str(row["side"])) is not side:
            raise NotFound("no such exhibit")
        if row["submitted_at"] is not None:
            raise Conflict(
                "the exhibit is submitted already",
                extensions={"number": row["number"]},
            )
        _evidence_open(case)
        await _submit(uow, principal, case, exhibit_id, side, bump=True)
        [row] = await _rows(uow, tenant_id, case_id, exhibit_id)
        views = await _views(uow, tenant_id, case_id)
    return _out(row, views.get(str(exhibit_id), {}))


async def _submit(
    uow: UnitOfWork,
    principal: Principal,
    case: LoadedCase,
    exhibit_id: UUID,
    side: Side,
    *,
    bump: bool,
) -> None:
    tenant_id = as_uuid(case.row["tenant_id"])
    if bump:
        await touch(uow, case)
    rows = await uow.fetch(
        "SELECT COALESCE(MAX(seq), 0) AS n FROM exhibit "
        "WHERE tenant_id = {} AND case_id = {} AND side = {}",
        tenant_id,
        case.id,
        side.value,
    )
    seq = int(rows[0]["n"]) + 1
    number = domain.exhibit_number(side, seq)
    now = uow.now()
    await uow.execute(
        "UPDATE exhibit SET seq = {}, number = {}, submitted_at = {}, submitted_by = {} "
        "WHERE tenant_id = {} AND id = {} AND submitted_at IS NULL",
        seq,
        number,
        now,
        principal.actor_id,
        tenant_id,
        exhibit_id,
    )
    [row] = await _rows(uow, tenant_id, case.id, exhibit_id)
    sha256 = str(row["o_sha256"] if row["custody_object_id"] else row["r_sha256"])
    await append_event(
        uow,
        tenant_id,
        case.id,
        principal,
        command="submit_exhibit",
        from_state=case.state,
        to_state=case.state,
        data={"exhibit": str(exhibit_id), "number": number, "side": side.value, "sha256": sha256},
    )
    await ledger.append(
        uow,
        tenant_id,
        "case.exhibit",
        {
            "case_id": str(case.id),
            "exhibit_id": str(exhibit_id),
            "number": number,
            "side": side.value,
            "title": str(row["title"]),
            "sha256": sha256,
            "provenance": str(row["provenance"]),
            "submitted_at": now.isoformat(),
            "submitted_by": principal.actor_id,
        },
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal),
        action="exhibit.submitted",
        target_kind="exhibit",
        target_id=exhibit_id,
        detail={"case": str(case.id), "number": number, "sha256": sha256},
    )


async def record_view(
    runtime: Runtime, principal: Principal, case_id: UUID, exhibit_id: UUID, data: ViewIn
) -> ExhibitOut:
    """The caller's side's view of an exhibit of the other side (the latest one counts)."""
    comment = _text("comment", data.comment, required=False, limit=TEXT_LENGTH)
    problems = domain.view_problems(data.authenticity, data.legality, data.relevance, comment)
    if problems:
        raise ValidationFailed(
            "the view cannot be recorded as given",
            errors=[FieldProblem(f, r, m) for f, r, m in problems],
        )
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case, row = await _access(uow, principal, case_id, exhibit_id)
        side = _my_side(principal, case)
        if Side(str(row["side"])) is side or row["submitted_at"] is None:
            raise Forbidden(
                "a side gives its view of the other side's submitted exhibits",
                errors=[FieldProblem("$", "other_side", "this exhibit is your side's own")],
            )
        _evidence_open(case)
        await touch(uow, case)
        await uow.execute(
            "INSERT INTO exhibit_view (id, tenant_id, case_id, exhibit_id, side, authenticity, "
            "legality, relevance, comment, recorded_by, recorded_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            case_id,
            exhibit_id,
            side.value,
            Opinion(data.authenticity).value,
            Opinion(data.legality).value,
            Opinion(data.relevance).value,
            comment,
            principal.actor_id,
            uow.now(),
        )
        opinions = {
            "authenticity": data.authenticity,
            "legality": data.legality,
            "relevance": data.relevance,
        }
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="view_exhibit",
            from_state=case.state,
            to_state=case.state,
            data={"exhibit": str(exhibit_id), "number": row["number"], **opinions},
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="exhibit.view_recorded",
            target_kind="exhibit",
            target_id=exhibit_id,
            detail={"case": str(case_id), "side": side.value, **opinions},
        )
        views = await _views(uow, tenant_id, case_id)
    return _out(row, views.get(str(exhibit_id), {}))


async def rule(
    runtime: Runtime, principal: Principal, case_id: UUID, exhibit_id: UUID, data: RulingIn
) -> ExhibitOut:
    """The tribunal admits a submitted exhibit, or not (with its reason)."""
    try:
        ruling = Ruling(data.ruling)
    except ValueError:
        raise ValidationFailed(
            "unknown ruling",
            errors=[FieldProblem("$.ruling", "choice", "admitted or not_admitted")],
        ) from None
    reason = _text("reason", data.reason, required=ruling is Ruling.NOT_ADMITTED, limit=TEXT_LENGTH)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case, row = await _access(uow, principal, case_id, exhibit_id)
        if Actor.TRIBUNAL not in domain.actors_of(principal, case.participation):
            raise Forbidden(
                "only the tribunal of the case rules on its evidence",
                errors=[FieldProblem("$", "tribunal", "you do not sit on this case")],
            )
        if row["submitted_at"] is None:
            raise NotFound("no such exhibit")
        if case.state not in domain.RULING_OPEN:
            raise TransitionNotAllowed(
                f"a case that is {case.state.value} takes no ruling on evidence",
                extensions={"state": case.state.value},
            )
        await touch(uow, case)
        now = uow.now()
        await uow.execute(
            "UPDATE exhibit SET ruling = {}, ruling_reason = {}, ruled_by = {}, ruled_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            ruling.value,
            reason,
            principal.actor_id,
            now,
            tenant_id,
            exhibit_id,
        )
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="rule_on_exhibit",
            from_state=case.state,
            to_state=case.state,
            reason=reason,
            data={"exhibit": str(exhibit_id), "number": row["number"], "ruling": ruling.value},
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="exhibit.ruled",
            target_kind="exhibit",
            target_id=exhibit_id,
            detail={"case": str(case_id), "ruling": ruling.value},
        )
        [row] = await _rows(uow, tenant_id, case_id, exhibit_id)
        views = await _views(uow, tenant_id, case_id)
    return _out(row, views.get(str(exhibit_id), {}))


async def download(
    runtime: Runtime, principal: Principal, case_id: UUID, exhibit_id: UUID
) -> ExhibitDownload:
    """A short-lived link to an exhibit's file, or an attested record's JWS; recorded first."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        _, row = await _access(uow, principal, case_id, exhibit_id)
        is_file = row["custody_object_id"] is not None
        sha256 = str(row["o_sha256"] if is_file else row["r_sha256"])
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="exhibit.downloaded",
            target_kind="exhibit",
            target_id=exhibit_id,
            detail={"case": str(case_id), "number": row["number"], "sha256": sha256},
        )
    if is_file:
        url = await runtime.store.presigned_url(
            str(row["o_key"]), expires_in=DOWNLOAD_SECONDS, filename=str(row["o_filename"])
        )
        return ExhibitDownload(url=url, expires_in=DOWNLOAD_SECONDS, sha256=sha256)
    raw = bytearray()
    async for chunk in runtime.store.open(str(row["r_key"])):
        raw += chunk
    if hashlib.sha256(raw).hexdigest() != sha256:
        log.error("cases.exhibit_altered", exhibit=str(exhibit_id), key=str(row["r_key"]))
        raise StoredExhibitAltered(
            "the stored record no longer matches its digest; the commission has been alerted"
        )
    return ExhibitDownload(url=None, expires_in=None, sha256=sha256, jws=raw.decode("ascii"))
