"""Use cases of the hearings context: open, rounds, posts, video sessions, close, deliberate.

The tribunal opens the hearing (``open_hearing``: TRIBUNAL_CONSTITUTED → HEARING)
in a mode the rule set allows, closes it (``close_hearing`` → DELIBERATION) once
the mode's steps ran, and concludes its deliberation (``conclude_deliberation``
→ READY_FOR_AWARD). The due-process guards of the cases context refuse each of
these while a period of the respondent still runs. Every step writes a history
event (the due-process record's hearing section is built from them) and an
audit event; times come from ``runtime.clock``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from arbitral.auth.domain import Principal
from arbitral.cases import deadlines
from arbitral.cases import services as cases
from arbitral.cases.domain import Actor, CaseState, Side, actors_of, side_of
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.hearings import domain
from arbitral.hearings.domain import Kind, Mode, Speaker
from arbitral.hearings.schemas import (
    HearingOpenIn,
    HearingOut,
    OutcomeIn,
    PostIn,
    PostOut,
    ReasonIn,
    RescheduleIn,
    RoundCloseIn,
    RoundOut,
    SessionIn,
    SessionOut,
)
from arbitral.identity.services import tenant_of
from arbitral.notify.domain import language_of
from arbitral.rules.model import UnknownRule
from arbitral.service import services as service
from arbitral.service.domain import Notice, RequestStatus

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

SYSTEM: Final = "hearings"
BY_DEADLINE: Final = "deadline"
MAX_REASON: Final = 5000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class NotYourTurn(Conflict):
    slug = "not-your-turn"
    title = "Not your turn"


class HearingNotReady(Conflict):
    slug = "hearing-not-ready"
    title = "The hearing cannot take this step yet"


# -- helpers -------------------------------------------------------------------------


def _require_tribunal(principal: Principal, case: cases.LoadedCase) -> None:
    if Actor.TRIBUNAL not in actors_of(principal, case.participation):
        raise Forbidden(
            "only the tribunal sitting on the case does this",
            errors=[FieldProblem("$", "tribunal", "log in as an arbitrator of this case")],
        )


def _speaker(principal: Principal, case: cases.LoadedCase) -> Speaker | None:
    if Actor.TRIBUNAL in actors_of(principal, case.participation):
        return Speaker.TRIBUNAL
    side = side_of(principal, case.participation)
    if side is Side.CLAIMANT:
        return Speaker.CLAIMANT
    if side is Side.RESPONDENT:
        return Speaker.RESPONDENT
    return None


def _reason(text: str) -> str:
    reason = text.strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "the reason is too long",
            errors=[FieldProblem("$.reason", "max_length", f"at most {MAX_REASON} characters")],
        )
    return reason


def _json_list(value: Any) -> list[Any]:
    return list(json.loads(value) if isinstance(value, str) else value)


async def _hearing(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM hearing WHERE tenant_id = {} AND case_id = {}", tenant_id, case_id
    )
    return rows[0] if rows else None


async def _open_hearing_row(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, Any]:
    hearing = await _hearing(uow, tenant_id, case_id)
    if hearing is None or hearing["closed_at"] is not None:
        raise HearingNotReady(
            "the hearing is not open",
            errors=[FieldProblem("$", "hearing_open", "the tribunal opens the hearing first")],
        )
    return hearing


async def _rounds(uow: UnitOfWork, tenant_id: UUID, hearing_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM hearing_round WHERE tenant_id = {} AND hearing_id = {} ORDER BY position",
        tenant_id,
        hearing_id,
    )


async def _posts(uow: UnitOfWork, tenant_id: UUID, hearing_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM hearing_post WHERE tenant_id = {} AND hearing_id = {} ORDER BY seq",
        tenant_id,
        hearing_id,
    )


async def _sessions(uow: UnitOfWork, tenant_id: UUID, hearing_id: UUID) -> list[dict[str, Any]]:
    return await uow.fetch(
        "SELECT * FROM hearing_session WHERE tenant_id = {} AND hearing_id = {} "
        "ORDER BY starts_at, scheduled_at",
        tenant_id,
        hearing_id,
    )


def _current(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in rounds if r["closed_at"] is None), None)


def _facts(row: Mapping[str, Any]) -> domain.PostFacts:
    to = row["addressed_to"]
    return domain.PostFacts(
        id=as_uuid(row["id"]),
        speaker=Speaker(str(row["speaker"])),
        kind=Kind(str(row["kind"])),
        round=row["round"],
        addressed_to=domain.Addressee(str(to)) if to else None,
    )


async def _event(
    uow: UnitOfWork,
    tenant_id: UUID,
    case: cases.LoadedCase,
    principal: Principal | None,
    command: str,
    data: Mapping[str, Any],
    *,
    reason: str = "",
) -> None:
    """A history event (the case stays where it is) and its audit event."""
    await cases.note_event(
        uow, case, principal, command, data, context="hearing", reason=reason, system=SYSTEM
    )


async def _out(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> HearingOut:
    case = await cases.load_case(uow, tenant_id, case_id)
    hearing = await _hearing(uow, tenant_id, case_id)
    if hearing is None:
        raise NotFound("the case has no hearing yet")
    hearing_id = as_uuid(hearing["id"])
    rounds = await _rounds(uow, tenant_id, hearing_id)
    current = _current(rounds) if hearing["closed_at"] is None else None
    return HearingOut(
        case_id=case_id,
        case_state=case.state.value,
        mode=str(hearing["mode"]),
        opened_at=as_datetime(hearing["opened_at"]),
        closed_at=as_optional_datetime(hearing["closed_at"]),
        rounds=[str(r) for r in _json_list(hearing["rounds"])],
        current_round=str(current["name"]) if current else None,
        round_history=[
            RoundOut(
                name=str(r["name"]),
                position=int(r["position"]),
                opened_at=as_datetime(r["opened_at"]),
                closes_at=as_datetime(r["closes_at"]),
                closed_at=as_optional_datetime(r["closed_at"]),
                closed_by=r["closed_by"],
            )
            for r in rounds
        ],
        posts=[
            PostOut(
                id=as_uuid(p["id"]),
                seq=int(p["seq"]),
                round=p["round"],
                speaker=str(p["speaker"]),
                kind=str(p["kind"]),
                addressed_to=p["addressed_to"],
                reply_to=as_uuid(p["reply_to"]) if p["reply_to"] else None,
                text=str(p["text"]),
                accepts_mediation=(
                    None if p["accepts_mediation"] is None else bool(p["accepts_mediation"])
                ),
                exhibit_ids=[UUID(str(e)) for e in _json_list(p["exhibit_ids"])],
                posted_by=str(p["posted_by"]),
                posted_at=as_datetime(p["posted_at"]),
            )
            for p in await _posts(uow, tenant_id, hearing_id)
        ],
        sessions=[
            SessionOut(
                id=as_uuid(s["id"]),
                starts_at=as_datetime(s["starts_at"]),
                ends_at=as_datetime(s["ends_at"]),
                link=str(s["link"]),
                scheduled_by=str(s["scheduled_by"]),
                scheduled_at=as_datetime(s["scheduled_at"]),
                outcome=s["outcome"],
                notes=str(s["notes"]),
                recording_sha256=s["recording_sha256"],
                recorded_at=as_optional_datetime(s["recorded_at"]),
                notice_subject=subject,
                notice_served_at=max(served)  # type: ignore[type-var]
                if served and all(at is not None for at in served)
                else None,
            )
            for s, (subject, served) in [
                (s, await _session_notice(uow, tenant_id, s))
                for s in await _sessions(uow, tenant_id, hearing_id)
            ]
        ],
    )


# -- reading -------------------------------------------------------------------------


async def get_hearing(runtime: Runtime, principal: Principal, case_id: UUID) -> HearingOut:
    """The hearing as everyone on the case sees it: rounds, every post, video sessions."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await cases.access_case(uow, principal, case_id)
        return await _out(uow, tenant_id, case_id)


# -- opening and closing -------------------------------------------------------------


async def open_hearing(
    runtime: Runtime, principal: Principal, case_id: UUID, data: HearingOpenIn
) -> HearingOut:
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _require_tribunal(principal, case)
        row = case.row
        try:
            rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
            procedure = rules.case_type(str(row["case_type"])).procedure
        except UnknownRule:
            raise HearingNotReady("the case's rules are not available") from None
        mode = data.mode or procedure.default_hearing_mode
        if mode not in procedure.hearing_modes:
            raise ValidationFailed(
                f"the rules of this case allow no {mode} hearing",
                errors=[
                    FieldProblem("$.mode", "choice", f"one of {', '.join(procedure.hearing_modes)}")
                ],
            )
        rounds = list(procedure.asynchronous_rounds) if mode == Mode.ASYNCHRONOUS else []
        if mode == Mode.ASYNCHRONOUS and (problem := domain.rounds_problem(rounds)):
            raise HearingNotReady(problem, errors=[FieldProblem("$.mode", "rounds", problem)])
        if await _hearing(uow, tenant.id, case_id) is not None:
            raise HearingNotReady(
                "the case has had its hearing",
                errors=[FieldProblem("$", "once", "a case is heard once")],
            )
        await cases.issue_command(
            uow,
            runtime,
            tenant,
            principal,
            case_id,
            "open_hearing",
            reason=_reason(data.reason),
            data={"mode": mode},
        )
        hearing_id = uuid4()
        await uow.execute(
            "INSERT INTO hearing (id, tenant_id, case_id, mode, rounds, opened_at, opened_by) "
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            hearing_id,
            tenant.id,
            case_id,
            mode,
            json.dumps(rounds),
            now,
            principal.actor_id,
        )
        if rounds:
            case = await cases.load_case(uow, tenant.id, case_id)
            await _open_round(uow, runtime, tenant, case, hearing_id, rounds[0], 1, now=now)
        return await _out(uow, tenant.id, case_id)


async def _open_round(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case: cases.LoadedCase,
    hearing_id: UUID,
    name: str,
    position: int,
    *,
    now: datetime,
) -> None:
    """Open a round for the hours the rule set gives it; its deadline closes it."""
    row = case.row
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    limit = domain.deadline_name(name)
    closes_at = rules.deadline(
        str(row["case_type"]),
        limit,
        now,
        zone=tenant.zone,
        calendar=runtime.rules.calendar(rules.calendar),
    ).ends_at
    round_id = uuid4()
    await uow.execute(
        "INSERT INTO hearing_round (id, tenant_id, case_id, hearing_id, name, position, "
        "opened_at, closes_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        round_id,
        tenant.id,
        case.id,
        hearing_id,
        name,
        position,
        now,
        closes_at,
    )
    await deadlines.schedule(
        uow,
        tenant.id,
        case.id,
        limit,
        closes_at,
        now=now,
        payload={"hearing_id": str(hearing_id), "round": name},
    )
    await _event(
        uow,
        tenant.id,
        case,
        None,
        "hearing_round_opened",
        {"round": name, "closes_at": closes_at.isoformat()},
    )
    # The parties are told of the round: what it is, when it closes, who may post.
    lang = language_of(tenant.locale)
    label = rules.case_type(str(row["case_type"])).time_limit(limit)
    text, who = domain.ROUND_TEXT[lang].get(domain.Round(name), ("", ""))
    await service.serve_parties(
        uow,
        runtime,
        tenant,
        case.id,
        Notice.HEARING,
        subject=domain.round_subject(round_id),
        variables={
            "kind": "asynchronous",
            "round_name": label.label_zh if lang == "zh" else label.label_en,
            "round_text": text,
            "who_may_post": who,
            "opens_at": _local(tenant, now),
            "closes_at": _local(tenant, closes_at),
            "time_zone": tenant.zone.key,
        },
    )


async def _close_round(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case: cases.LoadedCase,
    hearing: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    principal: Principal | None,
    reason: str = "",
    now: datetime,
) -> str | None:
    """Close the open round (by its deadline, or by the tribunal) and open the next one."""
    name = str(current["name"])
    by = principal.actor_id if principal else BY_DEADLINE
    await uow.execute(
        "UPDATE hearing_round SET closed_at = {}, closed_by = {} WHERE tenant_id = {} AND id = {}",
        now,
        by,
        tenant.id,
        as_uuid(current["id"]),
    )
    if principal is not None:
        await deadlines.cancel(
            uow, tenant.id, case.id, domain.deadline_name(name), now=now, status="cancelled"
        )
    await _event(
        uow,
        tenant.id,
        case,
        principal,
        "hearing_round_closed",
        {"round": name, "by": by if principal is None else "tribunal"},
        reason=reason,
    )
    following = domain.next_round([str(r) for r in _json_list(hearing["rounds"])], name)
    if following is not None:
        await _open_round(
            uow,
            runtime,
            tenant,
            case,
            as_uuid(hearing["id"]),
            following,
            int(current["position"]) + 1,
            now=now,
        )
    return following


async def close_round(
    runtime: Runtime, principal: Principal, case_id: UUID, data: RoundCloseIn
) -> HearingOut:
    """The tribunal closes the open round before its time (never taking a side's turn)."""
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _require_tribunal(principal, case)
        hearing = await _open_hearing_row(uow, tenant.id, case_id)
        hearing_id = as_uuid(hearing["id"])
        current = _current(await _rounds(uow, tenant.id, hearing_id))
        if current is None or current["name"] != data.round:
            open_now = str(current["name"]) if current else "none"
            raise HearingNotReady(
                f"the {data.round} round is not open (open: {open_now})",
                errors=[FieldProblem("$.round", "open_round", f"the open round is {open_now}")],
            )
        posts = [_facts(p) for p in await _posts(uow, tenant.id, hearing_id)]
        refusal = domain.early_close_refusal(data.round, posts)
        if refusal is not None:
            raise NotYourTurn(
                refusal.message, errors=[FieldProblem(refusal.field, refusal.rule, refusal.message)]
            )
        await cases.touch(uow, case)
        await _close_round(
            uow,
            runtime,
            tenant,
            case,
            hearing,
            current,
            principal=principal,
            reason=_reason(data.reason),
            now=now,
        )
        return await _out(uow, tenant.id, case_id)


async def round_expired(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    payload: Mapping[str, Any],
) -> None:
    """A round's hours ran out: it closes and the next one opens (once: idempotent)."""
    await cases.lock_case(uow, tenant.id, case_id)
    hearing = await _hearing(uow, tenant.id, case_id)
    if hearing is None or hearing["closed_at"] is not None:
        return
    if str(hearing["id"]) != str(payload.get("hearing_id")):
        return
    current = _current(await _rounds(uow, tenant.id, as_uuid(hearing["id"])))
    if current is None or current["name"] != payload.get("round"):
        return  # closed by the tribunal in the meantime
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state is not CaseState.HEARING:
        return  # suspended: the round resumes with the case
    await cases.touch(uow, case)
    await _close_round(
        uow, runtime, tenant, case, hearing, current, principal=None, now=runtime.clock.now()
    )


async def close_hearing(
    runtime: Runtime, principal: Principal, case_id: UUID, data: ReasonIn
) -> HearingOut:
    """The tribunal closes the hearing once its mode's steps ran: the case goes to deliberation."""
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _require_tribunal(principal, case)
        hearing = await _open_hearing_row(uow, tenant.id, case_id)
        hearing_id = as_uuid(hearing["id"])
        rounds = await _rounds(uow, tenant.id, hearing_id)
        sessions = await _sessions(uow, tenant.id, hearing_id)
        problem = domain.close_refusal(
            Mode(str(hearing["mode"])),
            [str(r) for r in _json_list(hearing["rounds"])],
            [
                domain.RoundFacts(str(r["name"]), as_optional_datetime(r["closed_at"]))
                for r in rounds
            ],
            [
                domain.SessionFacts(domain.Outcome(s["outcome"]) if s["outcome"] else None)
                for s in sessions
            ],
        )
        if problem is not None:
            raise HearingNotReady(problem, errors=[FieldProblem("$", "hearing_steps", problem)])
        await cases.issue_command(
            uow,
            runtime,
            tenant,
            principal,
            case_id,
            "close_hearing",
            reason=_reason(data.reason),
            data={"mode": str(hearing["mode"])},
        )
        await uow.execute(
            "UPDATE hearing SET closed_at = {}, closed_by = {} WHERE tenant_id = {} AND id = {}",
            now,
            principal.actor_id,
            tenant.id,
            hearing_id,
        )
        return await _out(uow, tenant.id, case_id)


async def conclude_deliberation(
    runtime: Runtime, principal: Principal, case_id: UUID, data: ReasonIn
) -> HearingOut:
    """The tribunal has deliberated: the case is ready for the award (due process permitting)."""
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _require_tribunal(principal, case)
        await cases.issue_command(
            uow,
            runtime,
            tenant,
            principal,
            case_id,
            "conclude_deliberation",
            reason=_reason(data.reason),
        )
        return await _out(uow, tenant.id, case_id)


# -- posts ---------------------------------------------------------------------------


def _choice(value: str | None, enum: type[Any], field: str) -> Any:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ValidationFailed(
            f"unknown {field[2:]}", errors=[FieldProblem(field, "choice", f"one of {choices}")]
        ) from None


async def post(runtime: Runtime, principal: Principal, case_id: UUID, data: PostIn) -> HearingOut:
    """A post in the asynchronous hearing, if it is the poster's turn (409 otherwise)."""
    kind: Kind = _choice(data.kind, Kind, "$.kind")
    addressed_to = _choice(data.addressed_to, domain.Addressee, "$.addressed_to")
    text = data.text.strip()
    if not text or len(text) > domain.MAX_TEXT:
        raise ValidationFailed(
            "the post needs a text",
            errors=[FieldProblem("$.text", "length", f"from 1 to {domain.MAX_TEXT} characters")],
        )
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        speaker = _speaker(principal, case)
        if speaker is None:
            raise Forbidden(
                "only the parties and the tribunal take part in the hearing",
                errors=[FieldProblem("$", "participant", "you are not a party or arbitrator")],
            )
        hearing = await _open_hearing_row(uow, tenant.id, case_id)
        if hearing["mode"] != Mode.ASYNCHRONOUS or case.state is not CaseState.HEARING:
            raise NotYourTurn(
                "posts are taken while an asynchronous hearing runs",
                errors=[FieldProblem("$", "asynchronous", "this hearing takes no posts now")],
            )
        hearing_id = as_uuid(hearing["id"])
        current = _current(await _rounds(uow, tenant.id, hearing_id))
        rows = await _posts(uow, tenant.id, hearing_id)
        earlier = [_facts(p) for p in rows]
        reply_to = None
        if data.reply_to is not None:
            reply_to = next((p for p in earlier if p.id == data.reply_to), None)
            if reply_to is None:
                raise ValidationFailed(
                    "no such question in this hearing",
                    errors=[FieldProblem("$.reply_to", "exists", "a post of this hearing")],
                )
        if speaker is Speaker.TRIBUNAL and addressed_to is None and kind is Kind.QUESTION:
            addressed_to = domain.Addressee.BOTH
        if speaker is not Speaker.TRIBUNAL and kind is Kind.QUESTION and addressed_to is None:
            addressed_to = domain.Addressee(speaker.other.value)
        refusal = domain.post_refusal(
            speaker=speaker,
            kind=kind,
            current_round=str(current["name"]) if current else None,
            addressed_to=addressed_to,
            reply_to=reply_to,
            accepts_mediation=data.accepts_mediation,
            earlier=earlier,
        )
        if refusal is not None:
            error = NotYourTurn if refusal.status == "conflict" else ValidationFailed
            raise error(
                refusal.message,
                errors=[FieldProblem(refusal.field, refusal.rule, refusal.message)],
                extensions={"current_round": str(current["name"]) if current else None},
            )
        await _check_exhibits(uow, tenant.id, case_id, data.exhibit_ids)
        await cases.touch(uow, case)
        post_id = uuid4()
        seq = len(rows) + 1
        round_name = str(current["name"]) if current else None
        await uow.execute(
            "INSERT INTO hearing_post (id, tenant_id, case_id, hearing_id, seq, round, speaker, "
            "kind, addressed_to, reply_to, text, accepts_mediation, exhibit_ids, posted_by, "
            "posted_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            post_id,
            tenant.id,
            case_id,
            hearing_id,
            seq,
            round_name,
            speaker.value,
            kind.value,
            addressed_to.value if addressed_to else None,
            data.reply_to,
            text,
            data.accepts_mediation,
            json.dumps([str(e) for e in data.exhibit_ids]),
            principal.actor_id,
            now,
        )
        detail: dict[str, Any] = {
            "post": str(post_id),
            "round": round_name,
            "speaker": speaker.value,
            "kind": kind.value,
        }
        if kind is Kind.CLOSING:
            detail["accepts_mediation"] = bool(data.accepts_mediation)
        await _event(uow, tenant.id, case, principal, "hearing_post", detail)
        return await _out(uow, tenant.id, case_id)


async def _check_exhibits(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, exhibit_ids: list[UUID]
) -> None:
    """A post cites submitted exhibits of this case only."""
    for i, exhibit_id in enumerate(exhibit_ids):
        rows = await uow.fetch(
            "SELECT 1 AS found FROM exhibit WHERE tenant_id = {} AND case_id = {} AND id = {} "
            "AND submitted_at IS NOT NULL",
            tenant_id,
            case_id,
            exhibit_id,
        )
        if not rows:
            raise ValidationFailed(
                "the post cites an exhibit it cannot",
                errors=[
                    FieldProblem(
                        f"$.exhibit_ids[{i}]", "exhibit", "a submitted exhibit of this case"
                    )
                ],
            )


# -- video sessions ------------------------------------------------------------------


def _local(tenant: TenantInfo, at: datetime) -> str:
    return at.astimezone(tenant.zone).strftime("%Y-%m-%d %H:%M")


async def _serve_session_notice(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    session_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    link: str,
) -> str:
    """The notice of hearing of a session's slot, on every party (a former slot's stops)."""
    subject = domain.session_subject(session_id, starts_at, ends_at, link)
    await service.stop_notices(
        uow,
        runtime,
        tenant,
        case_id,
        Notice.HEARING,
        note="the session was moved: the notice of its new slot is served instead",
        keep_subject=subject,
        prefix=f"session:{session_id.hex}:",
    )
    await service.serve_parties(
        uow,
        runtime,
        tenant,
        case_id,
        Notice.HEARING,
        subject=subject,
        variables={
            "kind": "video",
            "starts_at": _local(tenant, starts_at),
            "ends_at": _local(tenant, ends_at),
            "time_zone": tenant.zone.key,
            "link": link,
        },
    )
    return subject


async def _session_notice(
    uow: UnitOfWork, tenant_id: UUID, session: Mapping[str, Any]
) -> tuple[str, list[datetime | None]]:
    """The subject of a session's notice and when each party was served with it."""
    subject = domain.session_subject(
        as_uuid(session["id"]),
        as_datetime(session["starts_at"]),
        as_datetime(session["ends_at"]),
        str(session["link"]),
    )
    found = await service.parties_served(
        uow, tenant_id, as_uuid(session["case_id"]), Notice.HEARING, subject
    )
    return subject, [p.served_at if p.status == RequestStatus.SERVED.value else None for p in found]


def _slot_problems(
    starts_at: datetime, ends_at: datetime, link: str, now: datetime
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if starts_at.tzinfo is None:
        problems.append(FieldProblem("$.starts_at", "timezone", "give the time with its offset"))
    elif starts_at <= now:
        problems.append(FieldProblem("$.starts_at", "future", "a session starts in the future"))
    if ends_at.tzinfo is None or (starts_at.tzinfo is not None and ends_at <= starts_at):
        problems.append(FieldProblem("$.ends_at", "after_start", "ends after it starts"))
    if not re.match(r"^https://[^\s]{1,1990}$", link):
        problems.append(FieldProblem("$.link", "https_url", "an https:// link"))
    return problems


def _may_schedule(principal: Principal, case: cases.LoadedCase) -> None:
    if not {Actor.TRIBUNAL, Actor.STAFF} & actors_of(principal, case.participation):
        raise Forbidden(
            "the tribunal or the commission's staff schedule video sessions",
            errors=[FieldProblem("$", "tribunal_or_staff", "log in as the tribunal or staff")],
        )


async def schedule_session(
    runtime: Runtime, principal: Principal, case_id: UUID, data: SessionIn
) -> HearingOut:
    """A video session: its slot and the link to the external video system."""
    now = runtime.clock.now()
    problems = _slot_problems(data.starts_at, data.ends_at, data.link, now)
    if problems:
        raise ValidationFailed("the session cannot be scheduled as given", errors=problems)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        _may_schedule(principal, case)
        hearing = await _open_hearing_row(uow, tenant.id, case_id)
        if hearing["mode"] != Mode.VIDEO:
            raise HearingNotReady(
                "this hearing is not held by video",
                errors=[FieldProblem("$", "video", f"the hearing is {hearing['mode']}")],
            )
        await cases.touch(uow, case)
        session_id = uuid4()
        await uow.execute(
            "INSERT INTO hearing_session (id, tenant_id, case_id, hearing_id, starts_at, ends_at, "
            "link, scheduled_by, scheduled_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            session_id,
            tenant.id,
            case_id,
            as_uuid(hearing["id"]),
            data.starts_at,
            data.ends_at,
            data.link,
            principal.actor_id,
            now,
        )
        await _event(
            uow,
            tenant.id,
            case,
            principal,
            "video_hearing_scheduled",
            {
                "session": str(session_id),
                "starts_at": data.starts_at.isoformat(),
                "ends_at": data.ends_at.isoformat(),
            },
        )
        await _serve_session_notice(
            uow, runtime, tenant, case_id, session_id, data.starts_at, data.ends_at, data.link
        )
        return await _out(uow, tenant.id, case_id)


async def reschedule_session(
    runtime: Runtime, principal: Principal, case_id: UUID, session_id: UUID, data: RescheduleIn
) -> HearingOut:
    """A session moves to another slot (or link) before it is held: notified anew."""
    now = runtime.clock.now()
    problems = _slot_problems(data.starts_at, data.ends_at, data.link, now)
    if not data.reason.strip():
        problems.append(FieldProblem("$.reason", "required", "say why the session moves"))
    elif len(data.reason) > MAX_REASON:
        problems.append(FieldProblem("$.reason", "max_length", f"at most {MAX_REASON}"))
    if problems:
        raise ValidationFailed("the session cannot be moved as given", errors=problems)
    tenant = await cases.tenant_or_404(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        rows = await uow.fetch(
            "SELECT * FROM hearing_session WHERE tenant_id = {} AND case_id = {} AND id = {}",
            tenant.id,
            case_id,
            session_id,
        )
        if not rows:
            raise NotFound("no such session")
        _may_schedule(principal, case)
        await _open_hearing_row(uow, tenant.id, case_id)
        session = rows[0]
        if session["outcome"] is not None:
            raise HearingNotReady(
                "the session's outcome is recorded: it cannot move",
                errors=[FieldProblem("$", "outcome_recorded", f"it was {session['outcome']}")],
            )
        await cases.touch(uow, case)
        await uow.execute(
            "UPDATE hearing_session SET starts_at = {}, ends_at = {}, link = {} "
            "WHERE tenant_id = {} AND id = {}",
            data.starts_at,
            data.ends_at,
            data.link,
            tenant.id,
            session_id,
        )
        await _event(
            uow,
            tenant.id,
            case,
            principal,
            "video_hearing_rescheduled",
            {
                "session": str(session_id),
                "starts_at": data.starts_at.isoformat(),
                "ends_at": data.ends_at.isoformat(),
                "was_starts_at": as_datetime(session["starts_at"]).isoformat(),
            },
            reason=data.reason.strip(),
        )
        await _serve_session_notice(
            uow, runtime, tenant, case_id, session_id, data.starts_at, data.ends_at, data.link
        )
        return await _out(uow, tenant.id, case_id)


async def record_outcome(
    runtime: Runtime, principal: Principal, case_id: UUID, session_id: UUID, data: OutcomeIn
) -> HearingOut:
    """The tribunal records what became of a video session (once; not before it starts)."""
    outcome: domain.Outcome = _choice(data.outcome, domain.Outcome, "$.outcome")
    if data.recording_sha256 is not None and not _SHA256.match(data.recording_sha256):
        raise ValidationFailed(
            "not a SHA-256",
            errors=[FieldProblem("$.recording_sha256", "sha256", "64 lowercase hex digits")],
        )
    tenant = await cases.tenant_or_404(runtime, principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await cases.lock_case(uow, tenant.id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        rows = await uow.fetch(
            "SELECT * FROM hearing_session WHERE tenant_id = {} AND case_id = {} AND id = {}",
            tenant.id,
            case_id,
            session_id,
        )
        if not rows:
            raise NotFound("no such session")
        _require_tribunal(principal, case)
        await _open_hearing_row(uow, tenant.id, case_id)
        session = rows[0]
        if session["outcome"] is not None:
            raise HearingNotReady(
                "the session's outcome is recorded already",
                errors=[FieldProblem("$.outcome", "once", "recorded once")],
            )
        if outcome in domain.HEARD and now < as_datetime(session["starts_at"]):
            raise HearingNotReady(
                "the session has not started yet",
                errors=[FieldProblem("$.outcome", "not_started", "record it once it was held")],
            )
        if outcome in domain.HEARD:
            # Held only if every party had the notice of this slot the rules' days before it.
            try:
                procedure = (
                    runtime.rules.get(str(case.row["rule_set"]), str(case.row["rule_set_version"]))
                    .case_type(str(case.row["case_type"]))
                    .procedure
                )
            except UnknownRule:
                raise HearingNotReady("the case's rules are not available") from None
            _, served = await _session_notice(uow, tenant.id, session)
            refusal = domain.notice_refusal(
                as_datetime(session["starts_at"]), procedure.hearing_notice_days, served
            )
            if refusal is not None:
                raise HearingNotReady(
                    refusal,
                    errors=[FieldProblem("$.outcome", "hearing_notice", refusal)],
                    extensions={"hearing_notice_days": procedure.hearing_notice_days},
                )
        await cases.touch(uow, case)
        await uow.execute(
            "UPDATE hearing_session SET outcome = {}, notes = {}, recording_sha256 = {}, "
            "recorded_by = {}, recorded_at = {} WHERE tenant_id = {} AND id = {}",
            outcome.value,
            data.notes.strip(),
            data.recording_sha256,
            principal.actor_id,
            now,
            tenant.id,
            session_id,
        )
        await _event(
            uow,
            tenant.id,
            case,
            principal,
            "video_hearing_outcome",
            {"session": str(session_id), "outcome": outcome.value},
        )
        return await _out(uow, tenant.id, case_id)
