"""Use cases of the awards context: draft, revise, vote, ask for issue, correct, read.

Each action is one transaction that also writes the case's history event and the audit
event. Drafts and votes are the tribunal's deliberation: the parties see an award only
once it is issued (and then as the document), the staff and the tribunal see it all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import msgspec

from arbitral.audit.services import record
from arbitral.auth.domain import Principal
from arbitral.awards import domain, drafting
from arbitral.awards.domain import AwardKind, AwardStatus, Vote
from arbitral.awards.schemas import (
    AwardDraftIn,
    AwardOut,
    AwardUpdateIn,
    CorrectionIn,
    DocumentOut,
    ProblemOut,
    VoteIn,
    VoteOut,
)
from arbitral.cases import services as cases
from arbitral.cases.domain import Actor, CaseState, actors_of, is_staff
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.settlement import domain as settlement_rules
from arbitral.settlement import services as settlement
from arbitral.tribunal.domain import PRESIDING, SOLE

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

ISSUE_JOB: Final = "awards.issue"
# An issue request may be made again once this long has passed with no document (the
# job gave up: a failure every time, or the case suspended while it was queued).
REISSUE_AFTER: Final = timedelta(minutes=5)

# The deliberation stays the tribunal's: the parties see the award once issued, not its
# drafts, revisions and votes (nor who voted how) in the case history.
cases.tribunal_only(
    *(f"{kind.value}_drafted" for kind in AwardKind),
    "award_correction_drafted",
    "award_revised",
    "award_vote",
    "award_approved",
    "award_issue_requested",
)
MAX_REASON: Final = 5000
# Where an award may be drafted (deliberation) and asked to be issued (ready for award).
DRAFTING: Final = frozenset({CaseState.DELIBERATION, CaseState.READY_FOR_AWARD})
# Where a consent award or mediation statement may be drafted: while the case can still
# settle (the agreement signed, not yet recorded) and once it is settled.
DRAFTING_ON_SETTLEMENT: Final = settlement_rules.OPEN_STATES | {CaseState.SETTLED}
DRAFTED_KINDS: Final = (AwardKind.AWARD, AwardKind.CONSENT_AWARD, AwardKind.MEDIATION_STATEMENT)


class AwardRefused(Conflict):
    slug = "award-refused"
    title = "Award step refused"


def _refused(message: str, rule: str, **extensions: Any) -> AwardRefused:
    return AwardRefused(message, errors=[FieldProblem("$", rule, message)], extensions=extensions)


def _seat(principal: Principal, case: cases.LoadedCase) -> str | None:
    """The principal's seat on the case's tribunal (sole, presiding, member), if any."""
    for member in case.tribunal:
        if principal.subject_id is not None and as_uuid(member["user_id"]) == principal.subject_id:
            return str(member["role"])
    return None


def _writer(principal: Principal, case: cases.LoadedCase) -> None:
    """Only the sole or presiding arbitrator holds the pen."""
    if _seat(principal, case) not in (SOLE, PRESIDING):
        raise Forbidden(
            "only the sole or presiding arbitrator drafts the award",
            errors=[FieldProblem("$", "tribunal", "log in as the sole or presiding arbitrator")],
        )


def _may_see_drafts(principal: Principal, case: cases.LoadedCase) -> bool:
    return is_staff(principal) or Actor.TRIBUNAL in actors_of(principal, case.participation)


def _content_json(row: Mapping[str, Any]) -> dict[str, Any]:
    content = row["content"]
    return json.loads(content) if isinstance(content, str) else dict(content)


def _raw(data: AwardDraftIn | AwardUpdateIn | CorrectionIn) -> dict[str, Any]:
    """The fields given, as the JSON the domain parses."""
    raw: dict[str, Any] = {}
    for name in ("facts", "reasoning", "place"):
        value = getattr(data, name)
        if value is not None:
            raw[name] = value
    if data.decision is not None:
        raw["decision"] = [
            {"text": d.text, "amount": d.amount, "payer": d.payer} for d in data.decision
        ]
    if data.fees is not None:
        raw["fees"] = {"claimant": data.fees.claimant, "respondent": data.fees.respondent}
    return raw


def _checked(runtime: Runtime, case: cases.LoadedCase, raw: Mapping[str, Any]) -> domain.Content:
    """The content, or 422 with every problem that is not merely something still missing."""
    content, problems = domain.parse_content(raw, drafting.fee_total(runtime, case.row))
    wrong = [p for p in problems if p.rule != "required" or p.field.startswith("$.decision[")]
    if wrong:
        raise ValidationFailed("the award's text is not valid", errors=wrong)
    return content


async def _row(uow: UnitOfWork, tenant_id: UUID, award_id: UUID) -> dict[str, Any]:
    rows = await uow.fetch(
        "SELECT * FROM award WHERE tenant_id = {} AND id = {}", tenant_id, award_id
    )
    if not rows:
        raise NotFound("no such award")
    return rows[0]


async def _award_and_case(
    uow: UnitOfWork, principal: Principal, award_id: UUID, *, lock: bool = False
) -> tuple[dict[str, Any], cases.LoadedCase]:
    tenant_id = tenant_of(principal)
    row = await _row(uow, tenant_id, award_id)
    if lock:
        await cases.lock_case(uow, tenant_id, as_uuid(row["case_id"]))
        row = await _row(uow, tenant_id, award_id)
    case = await cases.access_case(uow, principal, as_uuid(row["case_id"]))
    if row["status"] != AwardStatus.ISSUED and not _may_see_drafts(principal, case):
        raise NotFound("no such award")  # the tribunal's deliberation is not the parties'
    return row, case


async def _votes(uow: UnitOfWork, tenant_id: UUID, award_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT v.*, u.display_name FROM award_vote v JOIN tenant_user u "
        "ON u.tenant_id = v.tenant_id AND u.id = v.arbitrator_id "
        "WHERE v.tenant_id = {} AND v.award_id = {} ORDER BY v.voted_at, v.id",
        tenant_id,
        award_id,
    )


async def _document(uow: UnitOfWork, tenant_id: UUID, award_id: UUID) -> DocumentOut | None:
    rows = await uow.fetch(
        "SELECT * FROM case_document WHERE tenant_id = {} AND award_id = {}", tenant_id, award_id
    )
    if not rows:
        return None
    d = rows[0]
    return DocumentOut(
        id=as_uuid(d["id"]),
        kind=str(d["kind"]),
        verification_code=str(d["verification_code"]),
        sha256=str(d["sha256"]),
        size=int(d["size"]),
        pages=int(d["pages"]),
        signed_at=as_datetime(d["signed_at"]),
        issued_at=as_datetime(d["issued_at"]),
        leaf_index=None if d["leaf_index"] is None else int(d["leaf_index"]),
        custody_item_id=None if d["custody_item_id"] is None else as_uuid(d["custody_item_id"]),
    )


async def _out(
    uow: UnitOfWork, runtime: Runtime, case: cases.LoadedCase, row: Mapping[str, Any]
) -> AwardOut:
    tenant_id = as_uuid(row["tenant_id"])
    award_id = as_uuid(row["id"])
    content_raw = _content_json(row)
    content, problems = domain.parse_content(content_raw, drafting.fee_total(runtime, case.row))
    missing = [p for p in problems if p.rule == "required"] + content.missing_for_approval()
    votes = await _votes(uow, tenant_id, award_id)
    effective = row["effective_on"]
    return AwardOut(
        id=award_id,
        case_id=as_uuid(row["case_id"]),
        kind=str(row["kind"]),
        corrects_id=None if row["corrects_id"] is None else as_uuid(row["corrects_id"]),
        status=str(row["status"]),
        version=int(row["version"]),
        content=content.as_json(),
        content_sha256=content.sha256,
        missing=[ProblemOut(p.field, p.rule, p.message) for p in _unique(missing)],
        votes=[
            VoteOut(
                arbitrator_id=as_uuid(v["arbitrator_id"]),
                name=str(v["display_name"]),
                vote=str(v["vote"]),
                opinion=str(v["opinion"]),
                voted_at=as_datetime(v["voted_at"]),
            )
            for v in votes
        ],
        drafted_by=str(row["drafted_by"]),
        drafted_at=as_datetime(row["drafted_at"]),
        updated_at=as_datetime(row["updated_at"]),
        approved_at=as_optional_datetime(row["approved_at"]),
        issued_at=as_optional_datetime(row["issued_at"]),
        effective_on=(
            None
            if effective is None
            else effective
            if isinstance(effective, date)
            else date.fromisoformat(str(effective))
        ),
        document=await _document(uow, tenant_id, award_id),
    )


async def _note(
    uow: UnitOfWork,
    case: cases.LoadedCase,
    principal: Principal,
    command: str,
    data: Mapping[str, Any],
    *,
    reason: str = "",
) -> None:
    await cases.note_event(uow, case, principal, command, data, context="awards", reason=reason)


def _unique(problems: list[FieldProblem]) -> list[FieldProblem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.field, p.rule) not in seen:
            seen.add((p.field, p.rule))
            out.append(p)
    return out


async def _open_award(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT id, status FROM award WHERE tenant_id = {} AND case_id = {} AND status <> 'issued'",
        tenant_id,
        case_id,
    )
    return rows[0] if rows else None


async def _insert(
    uow: UnitOfWork,
    principal: Principal,
    case: cases.LoadedCase,
    kind: AwardKind,
    content: domain.Content,
    corrects: UUID | None,
) -> UUID:
    tenant_id = as_uuid(case.row["tenant_id"])
    already = await _open_award(uow, tenant_id, case.id)
    if already is not None:
        raise _refused(
            "the case already has an award in the making",
            "award_open",
            award_id=str(already["id"]),
            status=str(already["status"]),
        )
    award_id = uuid4()
    now = uow.now()
    await uow.execute(
        "INSERT INTO award (id, tenant_id, case_id, kind, corrects_id, status, content, "
        "version, drafted_by, drafted_at, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, 'draft', {}, 1, {}, {}, {})",
        award_id,
        tenant_id,
        case.id,
        kind.value,
        corrects,
        json.dumps(content.as_json(), ensure_ascii=False),
        principal.actor_id,
        now,
        now,
    )
    return award_id


def _drafted_kind(value: str) -> AwardKind:
    try:
        kind = AwardKind(value)
    except ValueError:
        kind = None
    if kind not in DRAFTED_KINDS:
        raise ValidationFailed(
            "unknown kind of award",
            errors=[
                FieldProblem(
                    "$.kind",
                    "choice",
                    "award, consent_award or mediation_statement (a correction is drafted "
                    "from the award it corrects)",
                )
            ],
        )
    assert kind is not None
    return kind


async def _on_settlement(
    uow: UnitOfWork, case: cases.LoadedCase, kind: AwardKind
) -> dict[str, Any]:
    """The suggested content of a consent award or mediation statement, or 409 with why
    none can be made: no agreement signed by both sides, one asking for another outcome,
    a document of this kind already made or in the making, a case closed otherwise."""
    tenant_id = as_uuid(case.row["tenant_id"])
    if case.state not in DRAFTING_ON_SETTLEMENT:
        raise _refused(
            f"a case that is {case.state.value} is not concluded by its settlement",
            "case_state",
            state=case.state.value,
        )
    agreement = await settlement.agreement_for_document(uow, tenant_id, case.id)
    if agreement is None:
        raise _refused(
            f"a {kind.value} is made on a settlement agreement signed by both sides; "
            "this case has none",
            "signed_agreement",
        )
    if agreement["outcome"] != kind.value:
        raise _refused(
            f"the settlement agreement signed by both sides asks for "
            f"{agreement['outcome']}, not {kind.value}",
            "outcome",
            agreement_id=str(agreement["id"]),
            outcome=str(agreement["outcome"]),
        )
    existing = await uow.fetch(
        "SELECT id, status FROM award WHERE tenant_id = {} AND case_id = {} AND kind = {}",
        tenant_id,
        case.id,
        kind.value,
    )
    if existing:
        raise _refused(
            f"the case already has a {kind.value} ({existing[0]['status']})",
            "document_exists",
            award_id=str(existing[0]["id"]),
            status=str(existing[0]["status"]),
        )
    return drafting.suggested_on_agreement(agreement)


# -- use cases ---------------------------------------------------------------------------


async def draft_award(
    runtime: Runtime, principal: Principal, case_id: UUID, data: AwardDraftIn
) -> AwardOut:
    """A new draft by the sole or presiding arbitrator: an award once the hearing is
    closed; a consent award or mediation statement on the settlement agreement signed by
    both sides that asks for it."""
    kind = _drafted_kind(data.kind)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _writer(principal, case)
        if kind in domain.ON_SETTLEMENT:
            suggested = await _on_settlement(uow, case, kind)
        elif case.state not in DRAFTING:
            raise _refused(
                f"an award is drafted once the hearing is closed; the case is {case.state.value}",
                "case_state",
                state=case.state.value,
            )
        else:
            suggested = drafting.suggested_content(runtime, case.row)
        content = _checked(runtime, case, {**suggested, **_raw(data)})
        award_id = await _insert(uow, principal, case, kind, content, None)
        detail = {"award_id": str(award_id)}
        if content.agreement is not None:
            detail |= {"agreement": str(content.agreement.id), "sha256": content.agreement.sha256}
        await _note(uow, case, principal, f"{kind.value}_drafted", detail)
        return await _out(uow, runtime, case, await _row(uow, tenant.id, award_id))


async def revise_award(
    runtime: Runtime, principal: Principal, award_id: UUID, data: AwardUpdateIn
) -> AwardOut:
    """The writer revises the draft; every vote on the previous text is cleared."""
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        row, case = await _award_and_case(uow, principal, award_id, lock=True)
        _writer(principal, case)
        if row["status"] not in (AwardStatus.DRAFT, AwardStatus.APPROVED):
            raise _refused(f"an award that is {row['status']} is not revised", "award_status")
        if int(row["version"]) != data.if_version:
            raise Conflict(
                "the award changed since you read it; read it again",
                errors=[
                    FieldProblem(
                        "$.if_version", "stale", f"the award is at version {row['version']}"
                    )
                ],
            )
        content = _checked(runtime, case, {**_content_json(row), **_raw(data)})
        await uow.execute(
            "UPDATE award SET content = {}, version = version + 1, status = 'draft', "
            "approved_at = NULL, updated_at = {} WHERE tenant_id = {} AND id = {}",
            json.dumps(content.as_json(), ensure_ascii=False),
            uow.now(),
            tenant.id,
            award_id,
        )
        await uow.execute(
            "DELETE FROM award_vote WHERE tenant_id = {} AND award_id = {}", tenant.id, award_id
        )
        await _note(
            uow,
            case,
            principal,
            "award_revised",
            {"award_id": str(award_id), "sha256": content.sha256},
        )
        return await _out(uow, runtime, case, await _row(uow, tenant.id, award_id))


async def vote(runtime: Runtime, principal: Principal, award_id: UUID, data: VoteIn) -> AwardOut:
    """A sitting arbitrator's vote on the current text; a majority concurring approves it."""
    tenant = await cases.tenant_or_404(runtime, principal)
    try:
        choice = Vote(data.vote)
    except ValueError:
        raise ValidationFailed(
            "unknown vote", errors=[FieldProblem("$.vote", "choice", "concur or dissent")]
        ) from None
    opinion = data.opinion.strip()
    if len(opinion) > domain.MAX_OPINION:
        raise ValidationFailed(
            "the opinion is too long",
            errors=[
                FieldProblem("$.opinion", "max_length", f"at most {domain.MAX_OPINION} characters")
            ],
        )
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        row, case = await _award_and_case(uow, principal, award_id, lock=True)
        if _seat(principal, case) is None:
            raise Forbidden(
                "only the arbitrators of the case vote on its award",
                errors=[FieldProblem("$", "tribunal", "log in as an arbitrator of the case")],
            )
        if row["status"] not in (AwardStatus.DRAFT, AwardStatus.APPROVED):
            raise _refused(
                f"an award that is {row['status']} is no longer voted on", "award_status"
            )
        content, _ = domain.parse_content(_content_json(row), drafting.fee_total(runtime, case.row))
        missing = content.missing_for_approval()
        if missing:
            raise ValidationFailed("the draft is not complete yet", errors=missing)
        if data.content_sha256 != content.sha256:
            raise Conflict(
                "the award's text changed since you read it; read it again",
                errors=[
                    FieldProblem("$.content_sha256", "stale", f"the text is now {content.sha256}")
                ],
            )
        me = principal.subject_id
        assert me is not None
        await uow.execute(
            "DELETE FROM award_vote WHERE tenant_id = {} AND award_id = {} AND arbitrator_id = {}",
            tenant.id,
            award_id,
            me,
        )
        await uow.execute(
            "INSERT INTO award_vote (id, tenant_id, case_id, award_id, arbitrator_id, vote, "
            "opinion, content_sha256, voted_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant.id,
            case.id,
            award_id,
            me,
            choice.value,
            opinion,
            content.sha256,
            uow.now(),
        )
        votes = {
            as_uuid(v["arbitrator_id"]): Vote(str(v["vote"]))
            for v in await _votes(uow, tenant.id, award_id)
        }
        members = [as_uuid(m["user_id"]) for m in case.tribunal]
        approved = domain.decided(votes, members)
        was_approved = row["status"] == AwardStatus.APPROVED
        await uow.execute(
            "UPDATE award SET status = {}, approved_at = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            (AwardStatus.APPROVED if approved else AwardStatus.DRAFT).value,
            (row["approved_at"] or uow.now()) if approved else None,
            uow.now(),
            tenant.id,
            award_id,
        )
        await _note(
            uow, case, principal, "award_vote", {"award_id": str(award_id), "vote": choice.value}
        )
        if approved and not was_approved:
            await _note(
                uow,
                case,
                principal,
                "award_approved",
                {"award_id": str(award_id), "sha256": content.sha256, "votes": len(votes)},
            )
        return await _out(uow, runtime, case, await _row(uow, tenant.id, award_id))


async def request_issue(runtime: Runtime, principal: Principal, award_id: UUID) -> AwardOut:
    """The secretary asks for an approved award to be issued: a job makes the document.

    Asked again for an award still ``issuing`` whose job gave up (a failure every time,
    the case suspended meanwhile) and that no run holds now, the job is queued again.
    """
    tenant = await cases.tenant_or_404(runtime, principal)
    signer = await runtime.document_keys.has_signer(tenant.id)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        row, case = await _award_and_case(uow, principal, award_id, lock=True)
        if not is_staff(principal):
            raise Forbidden(
                "the commission's secretary issues awards",
                errors=[FieldProblem("$", "staff", "log in as a secretary of the commission")],
            )
        if not signer:
            raise _refused(
                "the commission has no document signer: run arbitral keys "
                f"issue-document-signer (development) or import-document-signer --tenant "
                f"{tenant.slug} first",
                "document_signer",
            )
        now = datetime.now(UTC)
        lease = as_optional_datetime(row["issue_lease_until"])
        asked = as_optional_datetime(row["issue_requested_at"])
        again = (
            row["status"] == AwardStatus.ISSUING
            and (lease is None or lease < now)
            and (asked is None or asked < runtime.clock.now() - REISSUE_AFTER)
        )
        if row["status"] != AwardStatus.APPROVED and not again:
            raise _refused(
                f"only an approved award is issued; this one is {row['status']}",
                "award_status",
                status=str(row["status"]),
            )
        kind = AwardKind(str(row["kind"]))
        if kind in domain.ON_SETTLEMENT:
            await _settlement_recorded(uow, case, row)
        rules = drafting.case_type_rules(runtime, case.row)
        missing = domain.template_missing(
            kind, rules.templates, f"the rule set's case type {rules.case_type}"
        )
        if missing is not None:
            raise _refused(missing, "template")
        needed = {
            AwardKind.AWARD: CaseState.READY_FOR_AWARD,
            AwardKind.CORRECTION: CaseState.AWARDED,
        }.get(kind, CaseState.SETTLED)
        if case.state is not needed:
            raise _refused(
                f"the case must be {needed.value} for this award to be issued; it is "
                f"{case.state.value}",
                "case_state",
                state=case.state.value,
            )
        await uow.execute(
            "UPDATE award SET status = 'issuing', issue_requested_by = {}, "
            "issue_requested_at = {}, updated_at = {} WHERE tenant_id = {} AND id = {}",
            principal.actor_id,
            uow.now(),
            uow.now(),
            tenant.id,
            award_id,
        )
        await uow.enqueue(ISSUE_JOB, {"award_id": str(award_id)})
        await _note(uow, case, principal, "award_issue_requested", {"award_id": str(award_id)})
        return await _out(uow, runtime, case, await _row(uow, tenant.id, award_id))


async def _settlement_recorded(
    uow: UnitOfWork, case: cases.LoadedCase, row: Mapping[str, Any]
) -> None:
    """A consent award or mediation statement is issued once the settlement it is made on
    was recorded (the case settled by that very agreement)."""
    if case.state is not CaseState.SETTLED:
        raise _refused(
            f"the staff or the tribunal record the settlement first (the case is "
            f"{case.state.value}, not settled)",
            "case_state",
            state=case.state.value,
        )
    agreement = _content_json(row).get("agreement") or {}
    concluded = await settlement.agreement_for_document(
        uow, as_uuid(case.row["tenant_id"]), case.id
    )
    if concluded is None or str(concluded["id"]) != agreement.get("id"):
        raise _refused(
            "the case was settled by another agreement than the one this document is made on",
            "agreement",
            agreement_id=None if concluded is None else str(concluded["id"]),
        )


async def correct_award(
    runtime: Runtime, principal: Principal, award_id: UUID, data: CorrectionIn
) -> AwardOut:
    """A correction (补正) of an issued award: a new award naming the one it corrects."""
    tenant = await cases.tenant_or_404(runtime, principal)
    reason = data.reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(
            "say what the correction corrects",
            errors=[FieldProblem("$.reason", "length", f"from 1 to {MAX_REASON} characters")],
        )
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        row, case = await _award_and_case(uow, principal, award_id, lock=True)
        _writer(principal, case)
        if row["kind"] in domain.ON_SETTLEMENT:
            raise _refused(
                f"a {row['kind']} states what the parties agreed: it is not corrected here",
                "kind",
            )
        if row["status"] != AwardStatus.ISSUED:
            raise _refused(
                "only an issued award is corrected; revise the draft instead", "award_status"
            )
        content = _checked(runtime, case, {**_content_json(row), **_raw(data)})
        new_id = await _insert(uow, principal, case, AwardKind.CORRECTION, content, award_id)
        await _note(
            uow,
            case,
            principal,
            "award_correction_drafted",
            {"award_id": str(new_id), "corrects": str(award_id)},
            reason=reason,
        )
        return await _out(uow, runtime, case, await _row(uow, tenant.id, new_id))


async def get_award(runtime: Runtime, principal: Principal, award_id: UUID) -> AwardOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        row, case = await _award_and_case(uow, principal, award_id)
        return _as_seen_by(principal, case, await _out(uow, runtime, case, row))


def _as_seen_by(principal: Principal, case: cases.LoadedCase, award: AwardOut) -> AwardOut:
    """The parties see an issued award as its document shows it: not the votes (nor the
    concurring opinions, nor the drafts' bookkeeping)."""
    if _may_see_drafts(principal, case):
        return award
    return msgspec.structs.replace(award, votes=[], missing=[], drafted_by="", version=0)


async def list_awards(runtime: Runtime, principal: Principal, case_id: UUID) -> list[AwardOut]:
    """The case's awards: all of them for the tribunal and the staff, the issued ones for
    the parties."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await cases.access_case(uow, principal, case_id)
        rows = await uow.fetch(
            "SELECT * FROM award WHERE tenant_id = {} AND case_id = {} ORDER BY drafted_at, id",
            tenant_id,
            case_id,
        )
        visible = [
            r for r in rows if r["status"] == AwardStatus.ISSUED or _may_see_drafts(principal, case)
        ]
        return [_as_seen_by(principal, case, await _out(uow, runtime, case, r)) for r in visible]


async def document_of(
    runtime: Runtime, principal: Principal, award_id: UUID
) -> tuple[str, str, int]:
    """The issued award's signed PDF for everyone on the case: (object key, file name, size).

    Every download is audited (who, when, which document).
    """
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row, case = await _award_and_case(uow, principal, award_id)
        rows = await uow.fetch(
            "SELECT d.id, d.sha256, d.size, d.verification_code, o.object_key "
            "FROM case_document d JOIN custody_object o "
            "ON o.tenant_id = d.tenant_id AND o.id = d.custody_item_id "
            "WHERE d.tenant_id = {} AND d.award_id = {}",
            tenant_id,
            award_id,
        )
        if row["status"] != AwardStatus.ISSUED or not rows:
            raise NotFound("the award has no document yet")
        document = rows[0]
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="awards.document.downloaded",
            target_kind="case_document",
            target_id=as_uuid(document["id"]),
            detail={"case_id": str(case.id), "sha256": str(document["sha256"])},
        )
    name = f"{str(row['kind']).replace('_', '-')}-{document['verification_code']}.pdf"
    return str(document["object_key"]), name, int(document["size"])


async def document_receipt(
    runtime: Runtime, principal: Principal, award_id: UUID
) -> dict[str, Any]:
    """The issued award's receipt: its leaf in the commission's log, a signed tree head and
    the inclusion proof (checked offline with ``arbitral evidence verify``)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        row, _ = await _award_and_case(uow, principal, award_id)
        rows = await uow.fetch(
            "SELECT leaf_index FROM case_document WHERE tenant_id = {} AND award_id = {}",
            tenant_id,
            award_id,
        )
    if row["status"] != AwardStatus.ISSUED or not rows or rows[0]["leaf_index"] is None:
        raise NotFound("the award has no document yet")
    return await ledger.receipt(runtime, tenant_id, int(rows[0]["leaf_index"]))
