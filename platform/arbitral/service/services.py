"""Use cases of service of process: serve a notice by the ladder, hear outcomes, certify.

:func:`start` runs inside the transaction of the transition that calls for a
notice (the fees paid: the notice of arbitration to each respondent); it
writes the request and its first attempt (a message in the delivery outbox,
or a notice in the party's portal inbox) and the wait deadline of that step.
Outcomes come back by the ``service.message_outcome`` job (the channel
reported), the ``service.wait_expired`` job (the step's wait ran out) and the
portal (the inbox shown, a notice opened); each locks the request's row, so
two outcomes of one request never race. A served request gets its
certificate (送达回证), logged in the tenant's transparency log; once every
respondent is served with the notice of arbitration the case moves to its
answer period (``complete_service``) and the answer deadline starts.

Time is ``runtime.clock``; every record names its channel and a masked address.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind
from arbitral.cases import deadlines
from arbitral.cases import domain as case_domain
from arbitral.cases.domain import CaseState
from arbitral.cases.services import access_case, append_event, system_command
from arbitral.db.values import as_datetime, as_uuid
from arbitral.documents.model import new_verification_code
from arbitral.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from arbitral.identity.domain import mask_destination
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.notify.domain import language_of
from arbitral.notify.services import queue_message
from arbitral.rules.calendar import CalendarError
from arbitral.rules.model import UnknownRule
from arbitral.service import templates
from arbitral.service.domain import (
    CERTIFICATE_KIND,
    DOCUMENT_KINDS,
    Addresses,
    AttemptStatus,
    Basis,
    Decision,
    Notice,
    Outcome,
    RequestStatus,
    Step,
    advances,
    certificate_digest,
    decide,
    on_exhausted,
    plan_from,
    rules_from_json,
    staff_problems,
)
from arbitral.service.schemas import (
    AttemptOut,
    CaseServiceOut,
    CertificateOut,
    InboxItemOut,
    RequestOut,
    StaffServiceIn,
)

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.rules.service import ServiceRules
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

PURPOSE: Final = "service_notice"
# Notices to the party who started the case: sent on every channel at once, no ladder.
BROADCAST: Final = frozenset({Notice.ACCEPTANCE})
WAIT_JOB: Final = "service.wait_expired"
# Makes a notice's signed PDF, or a served notice's certificate of service (a job: the
# rendering takes ~150 ms and the text notice never waits for it).
DOCUMENT_JOB: Final = "service.make_document"
SYSTEM: Final = "service"

TITLES: Final[Mapping[str, tuple[str, str]]] = {
    Notice.ACCEPTANCE: ("受理通知书", "Notice of acceptance"),
    Notice.ARBITRATION: ("仲裁通知书", "Notice of arbitration"),
    Notice.TRIBUNAL: ("组庭通知书", "Notice of the tribunal"),
    Notice.HEARING: ("开庭通知书", "Notice of hearing"),
    Notice.AWARD: ("裁决书送达通知", "Notice of the award"),
}
_CHANNEL_TEXT: Final = {
    "zh": {"sms": "短信", "email": "电子邮件", "portal": "平台站内信"},
    "en": {"sms": "SMS", "email": "email", "portal": "portal inbox"},
}
_STATUS_TEXT: Final = {
    "zh": {
        "skipped": "无地址，跳过",
        "queued": "待发送",
        "sent": "已发送",
        "delivered": "已送达",
        "opened": "已阅读",
        "failed": "失败",
        "timed_out": "等待期满无回执",
    },
    "en": {
        "skipped": "skipped",
        "queued": "queued",
        "sent": "sent",
        "delivered": "delivered",
        "opened": "opened",
        "failed": "failed",
        "timed_out": "no report within the wait",
    },
}
_BASIS_TEXT: Final = {
    "zh": {
        "delivered": "电子送达（送达信息到达受送达人特定系统）",
        "opened": "电子送达（受送达人已阅读）",
        "deemed": "视为送达（已向约定的电子地址发送）",
        "staff": "其他方式送达（由秘书记录）",
    },
    "en": {
        "delivered": "electronic service (reached the recipient's system)",
        "opened": "electronic service (opened by the recipient)",
        "deemed": "deemed served (sent to the agreed electronic address)",
        "staff": "served by other means (recorded by the secretary)",
    },
}


@dataclass(frozen=True)
class Served:
    """A notice counts as served on one party (what :func:`when_served` handlers get)."""

    case_id: UUID
    party_id: UUID
    notice: str
    subject: str
    served_at: datetime


ServedHandler = Callable[["UnitOfWork", "Runtime", "TenantInfo", Served], Awaitable[None]]
# notice -> what its context does, in the same transaction, once it is served on a party.
_WHEN_SERVED: dict[str, ServedHandler] = {}


def when_served(notice: Notice) -> Callable[[ServedHandler], ServedHandler]:
    """Register what follows the service of ``notice`` on a party (one handler a notice).

    The context that asked for the notice runs what the rules start from its service
    (the tribunal: each party's challenge period), in the transaction that served it.
    """

    def register(handler: ServedHandler) -> ServedHandler:
        existing = _WHEN_SERVED.get(notice.value)
        if existing is not None and _name(existing) != _name(handler):
            raise ValueError(f"{notice.value} already has its handler {_name(existing)}")
        _WHEN_SERVED[notice.value] = handler
        return handler

    return register


def _name(handler: ServedHandler) -> str:
    module = getattr(handler, "__module__", "")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


def wait_name(request_id: UUID) -> str:
    """The case deadline of a request's current step (one per request)."""
    return f"svc:{request_id.hex}"


# -- reading ---------------------------------------------------------------------------


async def _case_row(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, Any]:
    rows = await uow.fetch(
        "SELECT * FROM arb_case WHERE tenant_id = {} AND id = {}", tenant_id, case_id
    )
    if not rows:
        raise NotFound("no such case")
    return rows[0]


async def _lock(uow: UnitOfWork, runtime: Runtime, tenant_id: UUID, request_id: UUID) -> Request:
    """The request, its row locked for this transaction (outcomes of one request queue here)."""
    rows = await uow.fetch(
        "UPDATE service_request SET updated_at = {} WHERE tenant_id = {} AND id = {} RETURNING *",
        runtime.clock.now(),
        tenant_id,
        request_id,
    )
    if not rows:
        raise NotFound("no such service request")
    return Request(rows[0])


@dataclass(frozen=True)
class Request:
    row: Mapping[str, Any]

    @property
    def id(self) -> UUID:
        return as_uuid(self.row["id"])

    @property
    def case_id(self) -> UUID:
        return as_uuid(self.row["case_id"])

    @property
    def status(self) -> RequestStatus:
        return RequestStatus(str(self.row["status"]))

    @property
    def step(self) -> int:
        return int(self.row["step"])

    @property
    def notice(self) -> str:
        return str(self.row["notice"])

    @property
    def subject(self) -> str:
        return str(self.row.get("subject") or "")

    @property
    def variables(self) -> dict[str, Any]:
        raw = self.row.get("variables")
        data = json.loads(raw) if isinstance(raw, str) else raw
        return dict(data or {})

    @property
    def rules(self) -> ServiceRules | None:
        raw = self.row["rules"]
        data = json.loads(raw) if isinstance(raw, str) else raw
        return rules_from_json(data) if data else None


def _tz(runtime: Runtime, tenant: TenantInfo, at: datetime | None) -> str:
    if at is None:
        return ""
    return at.astimezone(tenant.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def period_text(period: Any, lang: str) -> str:
    """A period as a notice states it (15日, 15 days)."""
    if lang == "zh":
        unit = {"days": "日", "working_days": "个工作日", "hours": "小时"}[period.unit.value]
        return f"{period.amount}{unit}"
    return str(period)


def _notice_context(
    runtime: Runtime,
    tenant: TenantInfo,
    case: Mapping[str, Any],
    parties: list[dict[str, Any]],
    recipient: str,
    lang: str,
) -> dict[str, Any]:
    rules = runtime.rules.get(str(case["rule_set"]), str(case["rule_set_version"]))
    case_type = rules.case_type(str(case["case_type"]))
    try:
        answer = period_text(case_type.time_limit("answer").period, lang)
    except UnknownRule:
        answer = "—"
    sep = "、" if lang == "zh" else ", "
    return {
        "recipient": recipient,
        "commission": tenant.names.zh if lang == "zh" else tenant.names.en,
        "case_number": case["number"] or "",
        "case_type": case_type.title_zh if lang == "zh" else case_type.title_en,
        "claimants": sep.join(p["name"] for p in parties if p["side"] == "claimant"),
        "respondents": sep.join(p["name"] for p in parties if p["side"] == "respondent"),
        "rule_set": rules.title_zh if lang == "zh" else rules.title_en,
        "rule_set_version": rules.version,
        "amount_claimed": str(case["amount_claimed"]),
        "answer_period": answer,
        "portal_url": f"{runtime.settings.public_url}/t/{tenant.slug}/",
        "issued_on": runtime.clock.now().astimezone(tenant.zone).date().isoformat(),
    }


# -- starting ----------------------------------------------------------------------------


async def start(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    party_id: UUID,
    notice: Notice,
    *,
    subject: str = "",
    variables: Mapping[str, Any] | None = None,
) -> UUID:
    """Serve ``notice`` on a party of the case, in the caller's transaction; the request id.

    ``subject`` tells apart the notices of one kind a case can have several of (the
    tribunal constituted again, a hearing moved); ``variables`` are the notice's own
    template variables besides the case's (kept with the request: every channel and
    every step renders the same notice). Starting the same notice on the same party
    for the same subject again returns the first request: a hook or job that runs
    twice serves once.
    """
    tenant_id = tenant.id
    if len(subject) > 100:
        raise ValueError("a notice's subject has at most 100 characters")
    existing = await uow.fetch(
        "SELECT id FROM service_request WHERE tenant_id = {} AND case_id = {} AND party_id = {} "
        "AND notice = {} AND subject = {}",
        tenant_id,
        case_id,
        party_id,
        notice.value,
        subject,
    )
    if existing:
        return as_uuid(existing[0]["id"])
    case = await _case_row(uow, tenant_id, case_id)
    parties = await uow.fetch(
        "SELECT * FROM case_party WHERE tenant_id = {} AND case_id = {} ORDER BY side, position",
        tenant_id,
        case_id,
    )
    party = next((p for p in parties if as_uuid(p["id"]) == party_id), None)
    if party is None:
        raise NotFound("no such party on the case")
    lang = language_of(tenant.locale)
    own = dict(variables or {})
    document_kind = DOCUMENT_KINDS.get(notice.value)
    if document_kind is not None:
        own |= await _promise_document(uow, runtime, tenant)
    context = {
        **_notice_context(runtime, tenant, case, parties, str(party["name"]), lang),
        **own,
    }
    text = templates.notice_text(
        runtime.settings.templates_dir, tenant.slug, notice.value, "email", lang, context
    )
    # A notice may name itself (the notice of an award says which document it serves).
    named = own.get("notice_title" if lang == "zh" else "notice_title_en")
    title = str(named or TITLES[notice][0 if lang == "zh" else 1])
    rules = runtime.rules.get(str(case["rule_set"]), str(case["rule_set_version"])).service
    now = runtime.clock.now()
    request_id = uuid4()
    await uow.execute(
        "INSERT INTO service_request (id, tenant_id, case_id, party_id, notice, subject, "
        "variables, recipient, title, text, text_sha256, rules, status, step, created_at, "
        "updated_at, note) VALUES "
        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {}, '')",
        request_id,
        tenant_id,
        case_id,
        party_id,
        notice.value,
        subject,
        json.dumps(own, ensure_ascii=False, sort_keys=True, default=str),
        str(party["name"])[:200],
        title,
        text,
        certificate_digest(text),
        json.dumps(rules.as_json() if rules else None),
        RequestStatus.SERVING.value if rules else RequestStatus.REFERRED.value,
        now,
        now,
    )
    request = await _lock(uow, runtime, tenant_id, request_id)
    if document_kind is not None and "document_code" in own:
        # The formal notice as a signed PDF, after commit; service never waits for it.
        # A commission without a document signer gets none (and its notice promises none).
        await uow.enqueue(
            DOCUMENT_JOB,
            {"request_id": str(request_id), "kind": document_kind},
            tenant_id=tenant_id,
        )
    if rules is None:
        await _refer(uow, runtime, tenant, request, "the rule set states no service ladder")
    elif notice in BROADCAST:
        await _broadcast(uow, runtime, tenant, request, rules, (case, parties, lang))
    else:
        await _try_from(uow, runtime, tenant, request, rules, 0, context=(case, parties, lang))
    return request_id


async def _promise_document(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo
) -> dict[str, str]:
    """The verification code of the notice's signed PDF, told in the notice itself.

    Only when the commission has a document signer: without one the document cannot be
    made (its job fails, naming the command that issues a signer), and the notice does
    not promise it.
    """
    if not await runtime.document_keys.has_signer(tenant.id):
        return {}
    code = new_verification_code()
    public = f"{runtime.settings.public_url.rstrip('/')}/t/{tenant.slug}"
    return {"document_code": code, "document_verify_url": f"{public}/verify/{code}"}


async def _broadcast(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    rules: ServiceRules,
    context: tuple[dict[str, Any], list[dict[str, Any]], str],
) -> None:
    """A notice to the party who started the case: every channel of the ladder at once.

    No step waits for another (nothing in the procedure runs from this notice);
    the first delivery serves it, with its certificate. The request's step is
    past the ladder, so a failure moves nothing.
    """
    _, parties, _ = context
    party = next(p for p in parties if as_uuid(p["id"]) == as_uuid(request.row["party_id"]))
    addresses = _addresses(party)
    await _set_step(uow, tenant.id, request.id, len(rules.ladder))
    for index, step in enumerate(rules.ladder):
        destination = addresses.for_channel(step.channel)
        if destination:
            await _send_step(
                uow, runtime, tenant, request, Step(index, step, destination), context, wait=False
            )


def _addresses(party: Mapping[str, Any]) -> Addresses:
    return Addresses(
        sms=party["phone"] or None,
        email=party["email"] or None,
        portal=str(party["user_id"]) if party["user_id"] else None,
    )


async def _try_from(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    rules: ServiceRules,
    start_step: int,
    *,
    context: tuple[dict[str, Any], list[dict[str, Any]], str] | None = None,
) -> None:
    """Try the ladder from ``start_step``: skip steps without an address, send the first
    with one and start its wait; when the ladder is exhausted, decide what follows."""
    tenant_id = tenant.id
    if context is None:
        case = await _case_row(uow, tenant_id, request.case_id)
        parties = await uow.fetch(
            "SELECT * FROM case_party WHERE tenant_id = {} AND case_id = {} "
            "ORDER BY side, position",
            tenant_id,
            request.case_id,
        )
        lang = language_of(tenant.locale)
    else:
        case, parties, lang = context
    party = next(p for p in parties if as_uuid(p["id"]) == as_uuid(request.row["party_id"]))
    plan = plan_from(rules, _addresses(party), start_step)
    now = runtime.clock.now()
    for index, skipped in plan.skipped:
        await _insert_attempt(
            uow,
            tenant_id,
            request,
            index,
            skipped.channel,
            None,
            AttemptStatus.SKIPPED,
            now,
            detail=f"the party gave no {skipped.channel} address",
        )
    if plan.next is None:
        await _set_step(uow, tenant_id, request.id, len(rules.ladder))
        await _exhausted(uow, runtime, tenant, request, rules)
        return
    await _send_step(uow, runtime, tenant, request, plan.next, (case, parties, lang), wait=True)


async def _send_step(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    step: Step,
    context: tuple[dict[str, Any], list[dict[str, Any]], str],
    *,
    wait: bool,
) -> None:
    """Send one step: a message in the delivery outbox, or a notice in the portal inbox;
    with ``wait``, the step becomes the ladder's current one and its wait starts."""
    tenant_id = tenant.id
    case, parties, lang = context
    party = next(p for p in parties if as_uuid(p["id"]) == as_uuid(request.row["party_id"]))
    now = runtime.clock.now()
    wait_until = now + timedelta(hours=step.step.wait_hours) if wait else None
    channel = step.step.channel
    message_id: UUID | None = None
    inbox_id: UUID | None = None
    status = AttemptStatus.QUEUED
    if channel == "portal":
        inbox_id = uuid4()
        await uow.execute(
            "INSERT INTO inbox_item (id, tenant_id, case_id, user_id, request_id, notice, title, "
            "body, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            inbox_id,
            tenant_id,
            request.case_id,
            UUID(step.destination),
            request.id,
            request.notice,
            str(request.row["title"]),
            str(request.row["text"]),
            now,
        )
        status = AttemptStatus.SENT
        masked = "portal"
    else:
        ctx = {
            **_notice_context(runtime, tenant, case, parties, str(party["name"]), lang),
            **request.variables,
        }
        body = templates.notice_text(
            runtime.settings.templates_dir, tenant.slug, request.notice, channel, lang, ctx
        )
        message_id = await queue_message(uow, tenant_id, channel, step.destination, PURPOSE, body)
        masked = mask_destination(step.destination)
    await _insert_attempt(
        uow,
        tenant_id,
        request,
        step.index,
        channel,
        masked,
        status,
        now,
        message_id=message_id,
        inbox_id=inbox_id,
        wait_until=wait_until,
    )
    if wait_until is None:
        return
    await _set_step(uow, tenant_id, request.id, step.index)
    await deadlines.schedule(
        uow,
        tenant_id,
        request.case_id,
        wait_name(request.id),
        wait_until,
        now=now,
        payload={"request_id": str(request.id), "step": step.index},
        job=WAIT_JOB,
    )


async def _insert_attempt(
    uow: UnitOfWork,
    tenant_id: UUID,
    request: Request,
    step: int,
    channel: str,
    destination: str | None,
    status: AttemptStatus,
    now: datetime,
    *,
    detail: str = "",
    message_id: UUID | None = None,
    inbox_id: UUID | None = None,
    wait_until: datetime | None = None,
) -> UUID:
    attempt_id = uuid4()
    await uow.execute(
        "INSERT INTO service_attempt (id, tenant_id, case_id, request_id, step, channel, "
        "destination, status, message_id, inbox_item_id, detail, started_at, wait_until, "
        "sent_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        attempt_id,
        tenant_id,
        request.case_id,
        request.id,
        step,
        channel,
        destination,
        status.value,
        message_id,
        inbox_id,
        detail,
        now,
        wait_until,
        now if status is AttemptStatus.SENT else None,
    )
    return attempt_id


async def _set_step(uow: UnitOfWork, tenant_id: UUID, request_id: UUID, step: int) -> None:
    await uow.execute(
        "UPDATE service_request SET step = {} WHERE tenant_id = {} AND id = {}",
        step,
        tenant_id,
        request_id,
    )


async def _event(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, command: str, data: Mapping[str, Any]
) -> None:
    state = CaseState(str((await _case_row(uow, tenant_id, case_id))["state"]))
    await append_event(
        uow,
        tenant_id,
        case_id,
        None,
        command=command,
        from_state=state,
        to_state=state,
        data=data,
        system=SYSTEM,
    )


# -- outcomes ------------------------------------------------------------------------------


async def message_outcome(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, message_id: UUID
) -> None:
    """What the delivery outbox knows of a notice's message, applied to its attempt."""
    rows = await uow.fetch(
        "SELECT a.id AS attempt_id, a.request_id, m.status, m.provider_ref, m.sent_at, "
        "m.delivered_at, m.failed_at, m.report, m.last_error FROM service_attempt a "
        "JOIN outbound_message m ON m.tenant_id = a.tenant_id AND m.id = a.message_id "
        "WHERE a.tenant_id = {} AND a.message_id = {}",
        tenant.id,
        message_id,
    )
    if not rows:
        return
    row = rows[0]
    status = str(row["status"])
    outcomes: list[tuple[Outcome, datetime | None, str]] = []
    if status in ("sent", "delivered", "failed") and row["sent_at"] is not None:
        outcomes.append((Outcome.SENT, as_datetime(row["sent_at"]), ""))
    if status == "delivered":
        at = row["delivered_at"]
        outcomes.append((Outcome.DELIVERED, as_datetime(at) if at else None, row["report"] or ""))
    elif status == "failed":
        at = row["failed_at"]
        why = row["report"] or row["last_error"] or ""
        outcomes.append((Outcome.FAILED, as_datetime(at) if at else None, str(why)))
    request = await _lock(uow, runtime, tenant.id, as_uuid(row["request_id"]))
    for outcome, at, detail in outcomes:
        await apply_outcome(
            uow,
            runtime,
            tenant,
            request,
            as_uuid(row["attempt_id"]),
            outcome,
            at=at,
            detail=detail,
            provider_ref=row["provider_ref"],
        )
        request = await _lock(uow, runtime, tenant.id, request.id)


async def apply_outcome(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    attempt_id: UUID,
    outcome: Outcome,
    *,
    at: datetime | None = None,
    detail: str = "",
    provider_ref: str | None = None,
) -> Decision:
    """Record ``outcome`` on an attempt (once; never backwards) and act as the rules say."""
    tenant_id = tenant.id
    rows = await uow.fetch(
        "SELECT * FROM service_attempt WHERE tenant_id = {} AND id = {}", tenant_id, attempt_id
    )
    attempt = rows[0]
    current = AttemptStatus(str(attempt["status"]))
    if not advances(current, outcome):
        return Decision.IGNORE
    when = at or runtime.clock.now()
    column = {
        Outcome.SENT: "sent_at",
        Outcome.DELIVERED: "delivered_at",
        Outcome.OPENED: "opened_at",
        Outcome.FAILED: "failed_at",
        Outcome.TIMED_OUT: None,
    }[outcome]
    sets = "status = {}, detail = {}, provider_ref = COALESCE({}, provider_ref)"
    if column:
        sets += f", {column} = {{}}"
    args: list[Any] = [outcome.value, detail[:500], provider_ref]
    if column:
        args.append(when)
    await uow.execute(
        f"UPDATE service_attempt SET {sets} WHERE tenant_id = {{}} AND id = {{}}",  # noqa: S608 (constant fragments)
        *args,
        tenant_id,
        attempt_id,
    )
    rules = request.rules
    if rules is None:
        return Decision.IGNORE
    decision = decide(
        rules,
        outcome=outcome,
        current_step=int(attempt["step"]) == request.step,
        serving=request.status is RequestStatus.SERVING,
    )
    if decision is Decision.COMPLETE:
        basis = Basis.OPENED if outcome is Outcome.OPENED else Basis.DELIVERED
        await _complete(uow, runtime, tenant, request, basis, served_at=when, attempt_id=attempt_id)
    elif decision is Decision.ADVANCE:
        await deadlines.cancel(
            uow, tenant_id, request.case_id, wait_name(request.id), now=runtime.clock.now()
        )
        await _try_from(uow, runtime, tenant, request, rules, request.step + 1)
    return decision


async def wait_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, request_id: UUID, step: int
) -> None:
    """The wait of ``step`` ran out: the attempt timed out, the ladder moves on (once)."""
    request = await _lock(uow, runtime, tenant.id, request_id)
    if request.status is not RequestStatus.SERVING or request.step != step:
        return
    rows = await uow.fetch(
        "SELECT id FROM service_attempt WHERE tenant_id = {} AND request_id = {} AND step = {}",
        tenant.id,
        request_id,
        step,
    )
    if not rows:
        return
    decision = await apply_outcome(
        uow,
        runtime,
        tenant,
        request,
        as_uuid(rows[0]["id"]),
        Outcome.TIMED_OUT,
        detail="no report within the wait",
    )
    if decision is Decision.IGNORE:
        # Delivered but not opened (complete_when = opened): the step's time is up all the same.
        rules = request.rules
        if rules is not None:
            await _try_from(uow, runtime, tenant, request, rules, step + 1)


async def _exhausted(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, request: Request, rules: ServiceRules
) -> None:
    rows = await uow.fetch(
        "SELECT status FROM service_attempt WHERE tenant_id = {} AND request_id = {}",
        tenant.id,
        request.id,
    )
    basis = on_exhausted(rules, [AttemptStatus(str(r["status"])) for r in rows])
    if basis is Basis.DEEMED:
        await _complete(uow, runtime, tenant, request, basis, served_at=runtime.clock.now())
    else:
        reason = (
            "the ladder ran out without service; the rules refer it to the staff"
            if rules.on_exhausted == "refer_to_staff"
            else "the ladder ran out and no notice was sent to any address"
        )
        await _refer(uow, runtime, tenant, request, reason)


async def _refer(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, request: Request, reason: str
) -> None:
    await uow.execute(
        "UPDATE service_request SET status = {}, referred_at = {}, note = {} "
        "WHERE tenant_id = {} AND id = {}",
        RequestStatus.REFERRED.value,
        runtime.clock.now(),
        reason,
        tenant.id,
        request.id,
    )
    data = {"request": str(request.id), "notice": request.notice, "reason": reason}
    await _event(uow, tenant.id, request.case_id, "service_referred", data)
    await record(
        uow,
        tenant_id=tenant.id,
        actor=AuditActor.system(SYSTEM),
        action="service.referred",
        target_kind="case",
        target_id=request.case_id,
        detail=data,
    )


# -- completion and the certificate ---------------------------------------------------------


async def _complete(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    basis: Basis,
    *,
    served_at: datetime,
    attempt_id: UUID | None = None,
    reason: str = "",
    by: Principal | None = None,
) -> None:
    tenant_id = tenant.id
    now = runtime.clock.now()
    await uow.execute(
        "UPDATE service_request SET status = {}, basis = {}, served_at = {}, "
        "served_attempt_id = {}, note = CASE WHEN {} = '' THEN note ELSE {} END "
        "WHERE tenant_id = {} AND id = {}",
        RequestStatus.SERVED.value,
        basis.value,
        served_at,
        attempt_id,
        reason,
        reason,
        tenant_id,
        request.id,
    )
    await deadlines.cancel(uow, tenant_id, request.case_id, wait_name(request.id), now=now)
    certificate = await _certify(
        uow, runtime, tenant, request, basis, served_at, attempt_id, reason, by
    )
    await _keep_in_inbox(uow, tenant_id, request, now)
    if await runtime.document_keys.has_signer(tenant_id):
        await uow.enqueue(
            DOCUMENT_JOB,
            {"request_id": str(request.id), "kind": CERTIFICATE_KIND},
            tenant_id=tenant_id,
        )
    data = {
        "request": str(request.id),
        "notice": request.notice,
        "party": str(request.row["party_id"]),
        "basis": basis.value,
        "served_at": served_at.isoformat(),
        "certificate_sha256": certificate,
    }
    if request.subject:
        data["subject"] = request.subject
    if by is None:
        await _event(uow, tenant_id, request.case_id, "notice_served", data)
    else:
        state = CaseState(str((await _case_row(uow, tenant_id, request.case_id))["state"]))
        await append_event(
            uow,
            tenant_id,
            request.case_id,
            by,
            command="notice_served",
            from_state=state,
            to_state=state,
            reason=reason,
            data=data,
        )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(by) if by else AuditActor.system(SYSTEM),
        action="service.served",
        target_kind="case",
        target_id=request.case_id,
        detail=data,
    )
    if request.notice == Notice.ARBITRATION.value:
        await _maybe_complete_service(uow, runtime, tenant, request.case_id)
    handler = _WHEN_SERVED.get(request.notice)
    if handler is not None:
        await handler(
            uow,
            runtime,
            tenant,
            Served(
                case_id=request.case_id,
                party_id=as_uuid(request.row["party_id"]),
                notice=request.notice,
                subject=request.subject,
                served_at=served_at,
            ),
        )


async def _keep_in_inbox(uow: UnitOfWork, tenant_id: UUID, request: Request, now: datetime) -> None:
    """Every notice served on a party with an account is in its portal inbox, whatever the
    channel that served it (once: the portal step may have put it there already)."""
    rows = await uow.fetch(
        "SELECT p.user_id FROM case_party p WHERE p.tenant_id = {} AND p.id = {} "
        "AND p.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM inbox_item i "
        "WHERE i.tenant_id = p.tenant_id AND i.request_id = {})",
        tenant_id,
        as_uuid(request.row["party_id"]),
        request.id,
    )
    if not rows:
        return
    await uow.execute(
        "INSERT INTO inbox_item (id, tenant_id, case_id, user_id, request_id, notice, title, "
        "body, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        uuid4(),
        tenant_id,
        request.case_id,
        as_uuid(rows[0]["user_id"]),
        request.id,
        request.notice,
        str(request.row["title"]),
        str(request.row["text"]),
        now,
    )


async def _certify(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    request: Request,
    basis: Basis,
    served_at: datetime,
    attempt_id: UUID | None,
    reason: str,
    by: Principal | None,
) -> str:
    """The certificate of service: a record, its text, the text's SHA-256, a ledger leaf."""
    tenant_id = tenant.id
    lang = language_of(tenant.locale)
    case = await _case_row(uow, tenant_id, request.case_id)
    party = (
        await uow.fetch(
            "SELECT side FROM case_party WHERE tenant_id = {} AND id = {}",
            tenant_id,
            as_uuid(request.row["party_id"]),
        )
    )[0]
    attempts = await uow.fetch(
        "SELECT * FROM service_attempt WHERE tenant_id = {} AND request_id = {} ORDER BY step",
        tenant_id,
        request.id,
    )
    served_by = next((a for a in attempts if attempt_id and as_uuid(a["id"]) == attempt_id), None)
    issued_at = runtime.clock.now()
    record_json: dict[str, Any] = {
        "case_id": str(request.case_id),
        "case_number": case["number"],
        "request_id": str(request.id),
        "notice": request.notice,
        "subject": request.subject,
        "notice_sha256": str(request.row["text_sha256"]),
        "recipient": str(request.row["recipient"]),
        "side": str(party["side"]),
        "basis": basis.value,
        "channel": served_by["channel"] if served_by else None,
        "destination": served_by["destination"] if served_by else None,
        "served_at": served_at.isoformat(),
        "reason": reason,
        "recorded_by": by.actor_id if by else SYSTEM,
        "rule_set": str(case["rule_set"]),
        "rule_set_version": str(case["rule_set_version"]),
        "attempts": [
            {
                "step": int(a["step"]),
                "channel": str(a["channel"]),
                "destination": a["destination"],
                "status": str(a["status"]),
                "started_at": as_datetime(a["started_at"]).isoformat(),
            }
            for a in attempts
        ],
        "issued_at": issued_at.isoformat(),
    }
    channels = _CHANNEL_TEXT[lang]
    statuses = _STATUS_TEXT[lang]
    text = templates.certificate_text(
        runtime.settings.templates_dir,
        tenant.slug,
        lang,
        {
            "commission": tenant.names.zh if lang == "zh" else tenant.names.en,
            "case_number": case["number"] or "",
            "notice_title": str(request.row["title"]),
            "notice_sha256": str(request.row["text_sha256"]),
            "recipient": str(request.row["recipient"]),
            "side": ("申请人" if party["side"] == "claimant" else "被申请人")
            if lang == "zh"
            else str(party["side"]),
            "basis_text": _BASIS_TEXT[lang][basis.value],
            "channel": served_by["channel"] if served_by else None,
            "channel_text": channels.get(str(served_by["channel"]), "") if served_by else "",
            "destination": (served_by["destination"] or "") if served_by else "",
            "served_at": _tz(runtime, tenant, served_at),
            "reason": reason,
            "attempts": [
                {
                    "channel_text": channels.get(str(a["channel"]), str(a["channel"])),
                    "destination": a["destination"],
                    "status_text": statuses.get(str(a["status"]), str(a["status"])),
                    "at": _tz(
                        runtime,
                        tenant,
                        as_datetime(a["opened_at"] or a["delivered_at"] or a["failed_at"])
                        if (a["opened_at"] or a["delivered_at"] or a["failed_at"])
                        else None,
                    ),
                }
                for a in attempts
            ],
            "rule_set": str(case["rule_set"]),
            "rule_set_version": str(case["rule_set_version"]),
            "issued_at": _tz(runtime, tenant, issued_at),
        },
    )
    digest = certificate_digest(text)
    appended = await ledger.append(
        uow,
        tenant_id,
        "case.service_certificate",
        {
            "case_id": str(request.case_id),
            "request_id": str(request.id),
            "notice": request.notice,
            "notice_sha256": str(request.row["text_sha256"]),
            "basis": basis.value,
            "served_at": served_at.isoformat(),
            "certificate_sha256": digest,
        },
    )
    await uow.execute(
        "INSERT INTO service_certificate (id, tenant_id, case_id, request_id, record, text, "
        "sha256, leaf_index, issued_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        uuid4(),
        tenant_id,
        request.case_id,
        request.id,
        json.dumps(record_json, ensure_ascii=False, sort_keys=True),
        text,
        digest,
        appended.leaf_index,
        issued_at,
    )
    return digest


SERVED_PERIODS: Final = ("counterclaim", "evidence")


async def _maybe_complete_service(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """Every respondent served with the notice of arbitration: the answer period starts."""
    tenant_id = tenant.id
    case = await _case_row(uow, tenant_id, case_id)
    if CaseState(str(case["state"])) is not CaseState.FEE_PAID:
        return
    rows = await uow.fetch(
        "SELECT p.id, r.status, r.served_at, r.basis FROM case_party p "
        "LEFT JOIN service_request r ON r.tenant_id = p.tenant_id AND r.case_id = p.case_id "
        "AND r.party_id = p.id AND r.notice = {} "
        "WHERE p.tenant_id = {} AND p.case_id = {} AND p.side = 'respondent'",
        Notice.ARBITRATION.value,
        tenant_id,
        case_id,
    )
    if not rows or any(r["status"] != RequestStatus.SERVED.value for r in rows):
        return
    served_at = max(as_datetime(r["served_at"]) for r in rows)
    answer_due: datetime | None = None
    rules = runtime.rules.get(str(case["rule_set"]), str(case["rule_set_version"]))
    try:
        answer_due = rules.deadline(
            str(case["case_type"]),
            "answer",
            served_at,
            zone=tenant.zone,
            calendar=runtime.rules.calendar(rules.calendar),
        ).ends_at
    except (UnknownRule, CalendarError) as exc:
        # The period cannot be counted (a calendar year not published yet): the case moves
        # on, and the staff sets the deadline; never a guess.
        log.warning("service.answer_deadline_unknown", case_id=str(case_id), error=str(exc))
    await system_command(
        uow,
        runtime,
        tenant,
        case_id,
        "complete_service",
        by=SYSTEM,
        data={
            "served": [
                {"party": str(r["id"]), "basis": r["basis"], "served_at": str(r["served_at"])}
                for r in rows
            ],
            "answer_due": answer_due.isoformat() if answer_due else None,
        },
    )
    if answer_due is not None:
        await deadlines.schedule(
            uow,
            tenant_id,
            case_id,
            "answer",
            answer_due,
            now=runtime.clock.now(),
            payload={"served_at": served_at.isoformat()},
        )
    # The respondent's other periods that run from service (counterclaim, evidence): each
    # its own deadline, so that none can be cut short (arbitral.cases.due_process). The
    # choice of arbitrators is the tribunal context's.
    limits = rules.case_type(str(case["case_type"])).time_limits
    for name in SERVED_PERIODS:
        limit = limits.get(name)
        if limit is None or limit.starts_from != "notice_served":
            continue
        try:
            due = rules.deadline(
                str(case["case_type"]),
                name,
                served_at,
                zone=tenant.zone,
                calendar=runtime.rules.calendar(rules.calendar),
            ).ends_at
        except (UnknownRule, CalendarError) as exc:
            log.warning("service.period_unknown", case_id=str(case_id), period=name, error=str(exc))
            continue
        await deadlines.schedule(
            uow,
            tenant_id,
            case_id,
            name,
            due,
            now=runtime.clock.now(),
            payload={"served_at": served_at.isoformat()},
        )


# -- the portal inbox -------------------------------------------------------------------------


async def _notice_documents(
    uow: UnitOfWork, tenant_id: UUID, rows: list[dict[str, Any]]
) -> dict[str, UUID]:
    """The signed PDF of each inbox item's notice, by request id (those made so far)."""
    requests = sorted({str(r["request_id"]) for r in rows if r["request_id"] is not None})
    if not requests:
        return {}
    marks = ", ".join("{}" for _ in requests)
    found = await uow.fetch(
        "SELECT id, service_request_id FROM case_document WHERE tenant_id = {} "  # noqa: S608 (placeholders only)
        f"AND kind <> {{}} AND service_request_id IN ({marks})",
        tenant_id,
        CERTIFICATE_KIND,
        *[UUID(r) for r in requests],
    )
    return {str(d["service_request_id"]): as_uuid(d["id"]) for d in found}


def _inbox_out(row: Mapping[str, Any], documents: Mapping[str, UUID]) -> InboxItemOut:
    return InboxItemOut(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        notice=str(row["notice"]),
        title=str(row["title"]),
        body=str(row["body"]),
        created_at=as_datetime(row["created_at"]),
        shown_at=as_datetime(row["shown_at"]) if row["shown_at"] else None,
        opened_at=as_datetime(row["opened_at"]) if row["opened_at"] else None,
        document_id=documents.get(str(row["request_id"])),
    )


async def _portal_outcome(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    item: Mapping[str, Any],
    outcome: Outcome,
) -> None:
    if item["request_id"] is None:
        return
    rows = await uow.fetch(
        "SELECT id FROM service_attempt WHERE tenant_id = {} AND inbox_item_id = {}",
        tenant.id,
        as_uuid(item["id"]),
    )
    if not rows:
        return
    request = await _lock(uow, runtime, tenant.id, as_uuid(item["request_id"]))
    await apply_outcome(uow, runtime, tenant, request, as_uuid(rows[0]["id"]), outcome)


async def list_inbox(runtime: Runtime, principal: Principal) -> list[InboxItemOut]:
    """The logged-in party's notices, newest first; listing them shows them (delivered)."""
    if principal.kind is not PrincipalKind.USER:
        return []
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT * FROM inbox_item WHERE tenant_id = {} AND user_id = {} "
            "ORDER BY created_at DESC, id DESC LIMIT 200",
            tenant_id,
            principal.subject_id,
        )
        now = runtime.clock.now()
        for row in rows:
            if row["shown_at"] is None:
                await uow.execute(
                    "UPDATE inbox_item SET shown_at = {} WHERE tenant_id = {} AND id = {} "
                    "AND shown_at IS NULL",
                    now,
                    tenant_id,
                    as_uuid(row["id"]),
                )
                row["shown_at"] = now
                await _portal_outcome(uow, runtime, tenant, row, Outcome.DELIVERED)
        documents = await _notice_documents(uow, tenant_id, rows)
    return [_inbox_out(r, documents) for r in rows]


async def open_item(runtime: Runtime, principal: Principal, item_id: UUID) -> InboxItemOut:
    """The party opens a notice of its inbox (recorded once; it serves the notice)."""
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None or principal.kind is not PrincipalKind.USER:
        raise NotFound("no such notice")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT * FROM inbox_item WHERE tenant_id = {} AND id = {} AND user_id = {}",
            tenant_id,
            item_id,
            principal.subject_id,
        )
        if not rows:
            raise NotFound("no such notice")
        row = rows[0]
        if row["opened_at"] is None:
            now = runtime.clock.now()
            await uow.execute(
                "UPDATE inbox_item SET opened_at = {}, shown_at = COALESCE(shown_at, {}) "
                "WHERE tenant_id = {} AND id = {}",
                now,
                now,
                tenant_id,
                item_id,
            )
            row["opened_at"] = now
            row["shown_at"] = row["shown_at"] or now
            await _portal_outcome(uow, runtime, tenant, row, Outcome.OPENED)
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="service.notice_opened",
                target_kind="case",
                target_id=as_uuid(row["case_id"]),
                detail={"notice": str(row["notice"]), "item": str(item_id)},
            )
        return _inbox_out(row, await _notice_documents(uow, tenant_id, [row]))


# -- the service record of a case, and service by other means ---------------------------------


async def case_service(runtime: Runtime, principal: Principal, case_id: UUID) -> CaseServiceOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_case(uow, principal, case_id)
        requests = await uow.fetch(
            "SELECT * FROM service_request WHERE tenant_id = {} AND case_id = {} "
            "ORDER BY created_at, id",
            tenant_id,
            case_id,
        )
        attempts = await uow.fetch(
            "SELECT * FROM service_attempt WHERE tenant_id = {} AND case_id = {} "
            "ORDER BY request_id, step",
            tenant_id,
            case_id,
        )
        certificates = await uow.fetch(
            "SELECT * FROM service_certificate WHERE tenant_id = {} AND case_id = {} "
            "ORDER BY issued_at, id",
            tenant_id,
            case_id,
        )

    def when(value: Any) -> datetime | None:
        return as_datetime(value) if value else None

    def loads(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    return CaseServiceOut(
        case_id=case_id,
        requests=[
            RequestOut(
                id=as_uuid(r["id"]),
                notice=str(r["notice"]),
                title=str(r["title"]),
                party_id=as_uuid(r["party_id"]),
                recipient=str(r["recipient"]),
                status=str(r["status"]),
                step=int(r["step"]),
                basis=r["basis"],
                served_at=when(r["served_at"]),
                referred_at=when(r["referred_at"]),
                note=str(r["note"]),
                rules=loads(r["rules"]),
                text_sha256=str(r["text_sha256"]),
                subject=str(r["subject"] or ""),
                attempts=[
                    AttemptOut(
                        step=int(a["step"]),
                        channel=str(a["channel"]),
                        destination=a["destination"],
                        status=str(a["status"]),
                        started_at=as_datetime(a["started_at"]),
                        wait_until=when(a["wait_until"]),
                        sent_at=when(a["sent_at"]),
                        delivered_at=when(a["delivered_at"]),
                        opened_at=when(a["opened_at"]),
                        failed_at=when(a["failed_at"]),
                        detail=str(a["detail"]),
                    )
                    for a in attempts
                    if str(a["request_id"]) == str(r["id"])
                ],
            )
            for r in requests
        ],
        certificates=[
            CertificateOut(
                id=as_uuid(c["id"]),
                request_id=as_uuid(c["request_id"]),
                sha256=str(c["sha256"]),
                leaf_index=int(c["leaf_index"]),
                issued_at=as_datetime(c["issued_at"]),
                record=loads(c["record"]),
                text=str(c["text"]),
            )
            for c in certificates
        ],
    )


async def record_by_staff(
    runtime: Runtime, principal: Principal, case_id: UUID, data: StaffServiceIn
) -> CaseServiceOut:
    """A secretary records service by other means (post, in person, public notice)."""
    problems = staff_problems(data.method, data.reason)
    if problems:
        raise ValidationFailed(
            "the service cannot be recorded as given",
            errors=[FieldProblem(f, r, m) for f, r, m in problems],
        )
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such case")
    now = runtime.clock.now()
    served_at = data.served_at or now
    if served_at.tzinfo is None or served_at > now:
        raise ValidationFailed(
            "the time of service is not valid",
            errors=[
                FieldProblem("$.served_at", "past", "an instant with its offset, not in the future")
            ],
        )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        if case_domain.Actor.STAFF not in case_domain.actors_of(principal, case.participation):
            raise NotFound("no such case")
        rows = await uow.fetch(
            "SELECT id FROM service_request WHERE tenant_id = {} AND case_id = {} AND id = {}",
            tenant_id,
            case_id,
            data.request_id,
        )
        if not rows:
            raise ValidationFailed(
                "no such service request on this case",
                errors=[FieldProblem("$.request_id", "exists", "a request of this case")],
            )
        request = await _lock(uow, runtime, tenant_id, data.request_id)
        if request.status is RequestStatus.SERVED:
            raise Conflict(
                "the notice is served already",
                errors=[FieldProblem("$.request_id", "state", "served already")],
            )
        reason = f"{data.method}: {data.reason.strip()}"
        await _complete(
            uow,
            runtime,
            tenant,
            request,
            Basis.STAFF,
            served_at=served_at,
            reason=reason,
            by=principal,
        )
    return await case_service(runtime, principal, case_id)


async def stop_ladders(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, by: str
) -> int:
    """The case's service was completed by other hands (staff): stop the ladders still running.

    Their pending waits are cancelled and the requests say why; nothing is certified.
    """
    return await stop_notices(
        uow,
        runtime,
        tenant,
        case_id,
        Notice.ARBITRATION,
        note=f"service of the case was recorded complete by {by}; the ladder stopped",
    )


async def stop_notices(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    notice: Notice,
    *,
    note: str,
    keep_subject: str | None = None,
    prefix: str = "",
) -> int:
    """Stop serving ``notice`` on the case (the subjects starting with ``prefix`` but
    ``keep_subject``): the ladders still running or referred stop, their waits are
    cancelled, the requests say why."""
    rows = await uow.fetch(
        "SELECT id, subject FROM service_request WHERE tenant_id = {} AND case_id = {} "
        "AND notice = {} AND status IN ({}, {})",
        tenant.id,
        case_id,
        notice.value,
        RequestStatus.SERVING.value,
        RequestStatus.REFERRED.value,
    )
    rows = [
        r
        for r in rows
        if str(r["subject"]).startswith(prefix)
        and (keep_subject is None or str(r["subject"]) != keep_subject)
    ]
    now = runtime.clock.now()
    for row in rows:
        request_id = as_uuid(row["id"])
        await deadlines.cancel(uow, tenant.id, case_id, wait_name(request_id), now=now)
        await uow.execute(
            "UPDATE service_request SET status = {}, note = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            RequestStatus.STOPPED.value,
            note[:2000],
            now,
            tenant.id,
            request_id,
        )
    return len(rows)


# -- for the contexts that ask for notices ------------------------------------------------


@dataclass(frozen=True)
class PartyService:
    """Where the service of one notice on one party stands."""

    party_id: UUID
    side: str
    name: str
    status: str | None  # None: never started on this party
    served_at: datetime | None


async def serve_parties(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    notice: Notice,
    *,
    subject: str,
    variables: Mapping[str, Any],
) -> list[UUID]:
    """Serve ``notice`` on every party of the case, both sides (in the caller's transaction).

    Idempotent per party and subject, like :func:`start`.
    """
    rows = await uow.fetch(
        "SELECT id FROM case_party WHERE tenant_id = {} AND case_id = {} "
        "ORDER BY side, position, id",
        tenant.id,
        case_id,
    )
    return [
        await start(
            uow,
            runtime,
            tenant,
            case_id,
            as_uuid(row["id"]),
            notice,
            subject=subject,
            variables=variables,
        )
        for row in rows
    ]


async def parties_served(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, notice: Notice, subject: str
) -> list[PartyService]:
    """Each party of the case and where ``notice`` on ``subject`` stands for it."""
    rows = await uow.fetch(
        "SELECT p.id, p.side, p.name, r.status, r.served_at FROM case_party p "
        "LEFT JOIN service_request r ON r.tenant_id = p.tenant_id AND r.case_id = p.case_id "
        "AND r.party_id = p.id AND r.notice = {} AND r.subject = {} "
        "WHERE p.tenant_id = {} AND p.case_id = {} ORDER BY p.side, p.position, p.id",
        notice.value,
        subject,
        tenant_id,
        case_id,
    )
    return [
        PartyService(
            party_id=as_uuid(r["id"]),
            side=str(r["side"]),
            name=str(r["name"]),
            status=str(r["status"]) if r["status"] is not None else None,
            served_at=as_datetime(r["served_at"]) if r["served_at"] is not None else None,
        )
        for r in rows
    ]


async def unserved(uow: UnitOfWork, tenant_id: UUID, case_id: UUID, notice: Notice) -> list[str]:
    """Subjects of ``notice`` still being served (or referred to the staff) on the case."""
    rows = await uow.fetch(
        "SELECT DISTINCT subject FROM service_request WHERE tenant_id = {} AND case_id = {} "
        "AND notice = {} AND status IN ({}, {})",
        tenant_id,
        case_id,
        notice.value,
        RequestStatus.SERVING.value,
        RequestStatus.REFERRED.value,
    )
    return sorted(str(r["subject"]) for r in rows)
