"""Notices and certificates of service as signed PDF documents (issue 7).

A notice served on a party (:func:`arbitral.service.services.start`) is also made as a
formal document: the ``service.make_document`` job, enqueued in the transaction that
starts the notice, renders the notice's document model (``documents/model.py``) from the
data the text notice was rendered from (the case, its parties, the notice's own
variables), signs it with the commission's document key, stores it in custody with its
ledger leaf and records a ``case_document`` of the notice's kind for the request, with
the verification code the notice already told the party. Once the notice is served, the
same job makes its certificate of service (送达回证) from the certificate's record, with
the SHA-256 of the PDF served (the notice's, or the award's for a notice of an award).

One document of each kind per request (a unique index): a job run twice finds the first
and does nothing; two runs at once both render, only one commits. The text notice never
waits for the PDF: without a document signer the job fails with
:class:`~arbitral.keys.x509.NoDocumentSignerError` (retried, then dead) and the notice is
served all the same.

Who may download: the commission's staff and the tribunal every document of the case;
a party's side the documents of the case that are not notices (the awards), and the
notices and certificates served on a party of its own side, not the other side's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import anyio
import structlog

from arbitral.audit.services import record
from arbitral.auth.domain import Principal
from arbitral.awards.issuing import page_count
from arbitral.awards.verification import KINDS_ZH
from arbitral.cases import domain as case_domain
from arbitral.cases.services import LoadedCase, access_case, load_case
from arbitral.custody import services as custody
from arbitral.db.values import as_datetime, as_uuid
from arbitral.documents import model as doc
from arbitral.documents.render import render_pdf
from arbitral.documents.signing import sign_pdf
from arbitral.errors import NotFound
from arbitral.identity.services import actor_of, tenant_of
from arbitral.notify.domain import language_of
from arbitral.rules.calendar import CalendarError
from arbitral.rules.model import UnknownRule
from arbitral.service.domain import CERTIFICATE_KIND, DOCUMENT_KINDS, Notice
from arbitral.service.schemas import CaseDocumentOut
from arbitral.service.services import period_text

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

KINDS: Final = frozenset({*DOCUMENT_KINDS.values(), CERTIFICATE_KIND})
SYSTEM: Final = "service"
_ROLES: Final = {"sole": "sole", "presiding": "presiding", "member": "co"}
_CHANNELS: Final = {
    "zh": {"sms": "短信", "email": "电子邮件", "portal": "平台站内信"},
    "en": {"sms": "SMS", "email": "email", "portal": "portal inbox"},
}
_BASIS: Final = {
    "zh": {
        "delivered": "电子送达，送达信息已到达受送达人特定系统",
        "opened": "电子送达，受送达人已阅读",
        "deemed": "视为送达，已向约定的电子地址发送",
        "staff": "其他方式送达，由秘书记录",
    },
    "en": {
        "delivered": "electronic service: it reached the recipient's system",
        "opened": "electronic service: opened by the recipient",
        "deemed": "deemed served: sent to the agreed electronic address",
        "staff": "served by other means, recorded by the secretary",
    },
}


# The notices' own periods, stated as the text notice states them: a period that runs
# from service has no date until the notice is served (the dates of the base model are
# those it would have if served on the day the notice was issued).


@dataclass(frozen=True, slots=True)
class ArbitrationNotice(doc.NoticeOfArbitration):
    answer_period: str = ""
    evidence_period: str = ""
    arbitrator_choice_period: str = ""


@dataclass(frozen=True, slots=True)
class ConstitutionNotice(doc.NoticeOfConstitution):
    challenge_period: str = ""


class _AlreadyMade(Exception):
    """The request's document of this kind was recorded meanwhile."""


@dataclass(frozen=True)
class _Sources:
    """What a request's document is made from, read in one short transaction."""

    request: Mapping[str, Any]
    case: LoadedCase
    certificate: Mapping[str, Any] | None
    served_sha256: str  # the served document's SHA-256 (for a certificate), or ""


def _party(p: Mapping[str, Any]) -> doc.Party:
    return doc.Party(
        role="claimant" if p["side"] == "claimant" else "respondent",
        name=str(p["name"]),
        kind="company" if p["kind"] == "company" else "person",
        id_number=str(p["id_number"] or ""),
        address=str(p["address"] or ""),
    )


def _variables(request: Mapping[str, Any]) -> dict[str, Any]:
    raw = request.get("variables")
    data = json.loads(raw) if isinstance(raw, str) else raw
    return dict(data or {})


def _tribunal(case: LoadedCase) -> tuple[doc.Arbitrator, ...]:
    return tuple(
        doc.Arbitrator(name=str(m["display_name"]), role=_ROLES.get(str(m["role"]), "co"))  # type: ignore[arg-type]
        for m in case.tribunal
    )


class _Builder:
    """The content of a request's document, from the case, the notice and the rules."""

    def __init__(
        self, runtime: Runtime, tenant: TenantInfo, sources: _Sources, issued_at: datetime
    ) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.sources = sources
        self.case = sources.case.row
        self.lang = language_of(tenant.locale)
        self.rules = runtime.rules.get(
            str(self.case["rule_set"]), str(self.case["rule_set_version"])
        )
        self.case_type = self.rules.case_type(str(self.case["case_type"]))
        self.issued_at = issued_at
        self.issued_on = issued_at.astimezone(tenant.zone).date()
        self.variables = _variables(sources.request)
        self.parties = tuple(_party(p) for p in sources.case.parties)
        self.portal_url = f"{runtime.settings.public_url}/t/{tenant.slug}/"

    @property
    def zh(self) -> bool:
        return self.lang == "zh"

    def text(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    def period(self, name: str) -> str:
        try:
            return period_text(self.case_type.time_limit(name).period, self.lang)
        except UnknownRule:
            return ""

    def due_if_served_today(self, name: str) -> date | None:
        try:
            return (
                self.rules.deadline(
                    str(self.case["case_type"]),
                    name,
                    self.issued_at,
                    zone=self.tenant.zone,
                    calendar=self.runtime.rules.calendar(self.rules.calendar),
                )
                .ends_at.astimezone(self.tenant.zone)
                .date()
            )
        except (UnknownRule, CalendarError):
            return None

    def claims(self) -> str:
        """The claims as the claimant stated them in the filed claim."""
        raw = self.case["claim"]
        claim = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        return str(claim.get("claims") or "").strip() or self.text("见仲裁申请书", "see the claim")

    @property
    def recipient(self) -> str:
        return str(self.sources.request["recipient"])

    def acceptance(self) -> doc.Content:
        amount = Decimal(str(self.case["amount_claimed"]))
        return doc.NoticeOfAcceptance(
            recipient=self.recipient,
            parties=self.parties,
            case_type=self.text(self.case_type.title_zh, self.case_type.title_en),
            amount_claimed=amount,
            accepted_on=self.issued_on,
            rule_set=self.text(self.rules.title_zh, self.rules.title_en),
            fee_due=self.case_type.fees.assess(amount).total,
            portal_url=self.portal_url,
        )

    def arbitration(self) -> doc.Content:
        amount = Decimal(str(self.case["amount_claimed"]))
        return ArbitrationNotice(
            recipient=self.recipient,
            parties=self.parties,
            case_type=self.text(self.case_type.title_zh, self.case_type.title_en),
            claims=(doc.Claim(text=self.claims(), amount=amount),),
            amount_claimed=amount,
            rule_set=self.text(self.rules.title_zh, self.rules.title_en),
            answer_due_on=self.due_if_served_today("answer") or self.issued_on,
            evidence_due_on=self.due_if_served_today("evidence") or self.issued_on,
            arbitrator_choice_due_on=self.due_if_served_today("arbitrator_selection"),
            portal_url=self.portal_url,
            answer_period=self.period("answer"),
            evidence_period=self.period("evidence"),
            arbitrator_choice_period=self.period("arbitrator_selection"),
        )

    def constitution(self) -> doc.Content:
        members = self.variables.get("members") or []
        how = "；".join(
            f"{m.get('role_text', '')}{m.get('name', '')}由{m.get('chosen_by_text', '')}"
            if self.zh
            else f"{m.get('name', '')} ({m.get('role_text', '')}): {m.get('chosen_by_text', '')}"
            for m in members
        )
        constituted = str(self.variables.get("constituted_on") or self.issued_on.isoformat())
        return ConstitutionNotice(
            recipient=self.recipient,
            parties=self.parties,
            tribunal=_tribunal(self.sources.case),
            constituted_on=date.fromisoformat(constituted),
            how=how or self.text("依照仲裁规则", "under the rules"),
            challenge_due_on=self.due_if_served_today("challenge") or self.issued_on,
            challenge_period=str(
                self.variables.get("challenge_period") or self.period("challenge")
            ),
        )

    def hearing(self) -> doc.Content:
        v = self.variables
        zone = self.tenant.zone

        def local(text: str) -> datetime:
            return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)

        if v.get("kind") == "video":
            return doc.NoticeOfHearing(
                recipient=self.recipient,
                parties=self.parties,
                tribunal=_tribunal(self.sources.case),
                mode="video",
                starts_at=local(str(v["starts_at"])),
                place=str(v.get("link") or self.portal_url),
            )
        closes = local(str(v["closes_at"]))
        return doc.NoticeOfHearing(
            recipient=self.recipient,
            parties=self.parties,
            tribunal=_tribunal(self.sources.case),
            mode="asynchronous",
            starts_at=local(str(v["opens_at"])),
            place=self.portal_url,
            rounds=(
                doc.ProceduralStep(
                    on=closes.date(),
                    text=self.text(
                        f"{v.get('round_name', '')}：{v['closes_at']}截止",
                        f"{v.get('round_name', '')}: closes {v['closes_at']}",
                    ),
                ),
            ),
        )

    def certificate(self) -> doc.Content:
        certificate = self.sources.certificate
        assert certificate is not None
        raw = certificate["record"]
        data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw)
        request = self.sources.request
        title = str(request["title"])
        if request["notice"] == Notice.AWARD.value:
            title = str(
                self.variables.get("document_title" if self.zh else "document_title_en") or title
            )
        basis = str(data.get("basis") or "")
        channel = data.get("channel")
        method = _BASIS[self.lang].get(basis, basis)
        if channel:
            method = (
                f"{_CHANNELS[self.lang].get(str(channel), str(channel))}（{method}）"
                if self.zh
                else f"{_CHANNELS[self.lang].get(str(channel), str(channel))} ({method})"
            )
        reason = str(data.get("reason") or "")
        receipt = self.text(
            f"送达记录 SHA-256 {certificate['sha256']}，"
            f"登记于本会透明日志第 {certificate['leaf_index']} 号叶",
            f"service record SHA-256 {certificate['sha256']}, leaf {certificate['leaf_index']} "
            "of the commission's transparency log",
        )
        if reason:
            receipt = f"{reason}；{receipt}" if self.zh else f"{reason}; {receipt}"
        return doc.CertificateOfService(
            recipient=self.recipient,
            document=title,
            method=method,
            address=str(data.get("destination") or self.text("—", "—")),
            served_at=as_datetime(request["served_at"]).astimezone(self.tenant.zone),
            receipt=receipt,
            document_sha256=self.sources.served_sha256,
        )

    def content(self, kind: str) -> doc.Content:
        makers: dict[str, Callable[[], doc.Content]] = {
            "notice_of_acceptance": self.acceptance,
            "notice_of_arbitration": self.arbitration,
            "notice_of_constitution": self.constitution,
            "notice_of_hearing": self.hearing,
            CERTIFICATE_KIND: self.certificate,
        }
        return makers[kind]()


async def _existing(
    uow: UnitOfWork, tenant_id: UUID, request_id: UUID, kind: str
) -> Mapping[str, Any] | None:
    rows = await uow.fetch(
        "SELECT id, sha256 FROM case_document WHERE tenant_id = {} AND service_request_id = {} "
        "AND kind = {}",
        tenant_id,
        request_id,
        kind,
    )
    return rows[0] if rows else None


async def _sources(
    runtime: Runtime, tenant: TenantInfo, request_id: UUID, kind: str
) -> _Sources | UUID | None:
    """What to make the document from; its id when it is made already; None: nothing to make."""
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        done = await _existing(uow, tenant.id, request_id, kind)
        if done is not None:
            return as_uuid(done["id"])
        rows = await uow.fetch(
            "SELECT * FROM service_request WHERE tenant_id = {} AND id = {}", tenant.id, request_id
        )
        if not rows:
            log.warning("service.document_request_unknown", request_id=str(request_id))
            return None
        request = rows[0]
        if kind != CERTIFICATE_KIND and DOCUMENT_KINDS.get(str(request["notice"])) != kind:
            raise ValueError(f"a {request['notice']} is not made as a {kind}")
        certificate = None
        served = ""
        if kind == CERTIFICATE_KIND:
            found = await uow.fetch(
                "SELECT * FROM service_certificate WHERE tenant_id = {} AND request_id = {}",
                tenant.id,
                request_id,
            )
            if not found:
                log.warning("service.certificate_missing", request_id=str(request_id))
                return None
            certificate = found[0]
            served = await _served_sha256(uow, tenant.id, request)
        case = await load_case(uow, tenant.id, as_uuid(request["case_id"]))
    return _Sources(request=request, case=case, certificate=certificate, served_sha256=served)


async def _served_sha256(uow: UnitOfWork, tenant_id: UUID, request: Mapping[str, Any]) -> str:
    """The SHA-256 of the signed PDF a request served (its notice's, or the award's)."""
    notice_kind = DOCUMENT_KINDS.get(str(request["notice"]))
    if notice_kind is not None:
        done = await _existing(uow, tenant_id, as_uuid(request["id"]), notice_kind)
        return str(done["sha256"]) if done else ""
    subject = str(request["subject"] or "")
    if request["notice"] == Notice.AWARD.value and subject.startswith("document:"):
        try:
            document_id = UUID(subject.removeprefix("document:"))
        except ValueError:
            return ""
        rows = await uow.fetch(
            "SELECT sha256 FROM case_document WHERE tenant_id = {} AND id = {}",
            tenant_id,
            document_id,
        )
        return str(rows[0]["sha256"]) if rows else ""
    return ""


async def make(runtime: Runtime, tenant: TenantInfo, request_id: UUID, kind: str) -> UUID | None:
    """Make, sign and record a request's document of ``kind``, once; its id.

    None when there is nothing to make (no such request, or its certificate not written).
    The certificate of a notice that is itself a document comes after that document (made
    here first if its own job has not run yet), so that it names the PDF served.
    """
    if kind not in KINDS:
        raise ValueError(f"no document kind {kind!r} for a notice")
    sources = await _sources(runtime, tenant, request_id, kind)
    if sources is None or isinstance(sources, UUID):
        return sources
    notice_kind = DOCUMENT_KINDS.get(str(sources.request["notice"]))
    if kind == CERTIFICATE_KIND and notice_kind is not None and not sources.served_sha256:
        await make(runtime, tenant, request_id, notice_kind)
        sources = await _sources(runtime, tenant, request_id, kind)
        if sources is None or isinstance(sources, UUID):
            return sources
    signer = await runtime.document_keys.signer(tenant.id)  # none: NoDocumentSignerError
    now = runtime.clock.now()
    builder = _Builder(runtime, tenant, sources, now)
    promised = builder.variables.get("document_code") if kind != CERTIFICATE_KIND else None
    code = str(promised) if promised else doc.new_verification_code()
    number = str(sources.case.row["number"] or "")
    public = f"{runtime.settings.public_url.rstrip('/')}/t/{tenant.slug}"
    document = doc.Document(
        commission=doc.Commission(
            name=builder.text(tenant.names.zh, tenant.names.en),
            seal_text=tenant.names.zh,
            address="",
            public_url=public,
        ),
        case_number=number,
        content=builder.content(kind),
        issued_on=builder.issued_on,
        language=builder.lang,  # type: ignore[arg-type]
        verification_code=code,
        tenant=tenant.slug,
    )
    templates = runtime.settings.templates_dir

    def render_and_sign() -> tuple[bytes, int]:
        signed = sign_pdf(render_pdf(document, templates), signer)
        return signed, page_count(signed)

    signed, pages = await anyio.to_thread.run_sync(render_and_sign)
    stored = await runtime.store.put(str(tenant.id), _one(signed))
    case_id = sources.case.id
    title = KINDS_ZH.get(kind, kind)
    meta = custody.UploadMeta(
        filename=f"{kind.replace('_', '-')}-{number}-{document.verification_code}.pdf".replace(
            "/", "-"
        ),
        title=f"{title} {number}",
        description=f"verification code {document.verification_code}",
        proves=(
            f"the certificate of service of {sources.request['notice']} on "
            f"{sources.request['recipient']}"
            if kind == CERTIFICATE_KIND
            else f"the {kind.replace('_', ' ')} served on {sources.request['recipient']}"
        ),
    )
    document_id = uuid4()

    async def record_document(uow: Any, item: custody.CustodyItem) -> None:
        if await _existing(uow, tenant.id, request_id, kind) is not None:
            raise _AlreadyMade
        await uow.execute(
            "INSERT INTO case_document (id, tenant_id, case_id, award_id, service_request_id, "
            "kind, verification_code, sha256, size, pages, custody_item_id, leaf_index, "
            "signed_at, issued_at) "
            "VALUES ({}, {}, {}, NULL, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            document_id,
            tenant.id,
            case_id,
            request_id,
            kind,
            document.verification_code,
            stored.sha256,
            stored.size,
            pages,
            item.id,
            item.leaf_index,
            now,
            now,
        )
        await record(
            uow,
            tenant_id=tenant.id,
            actor=actor_of(Principal.operator(tenant.id, SYSTEM)),
            action="service.document_made",
            target_kind="case_document",
            target_id=document_id,
            detail={
                "case_id": str(case_id),
                "request_id": str(request_id),
                "kind": kind,
                "sha256": stored.sha256,
                "verification_code": document.verification_code,
            },
        )

    try:
        await custody.record_item(
            runtime,
            Principal.operator(tenant.id, SYSTEM),
            tenant,
            meta,
            custody.Intake(stored, "application/pdf"),
            also=record_document,
            lock_case=case_id,
        )
    except _AlreadyMade:
        log.info("service.document_made_meanwhile", request_id=str(request_id), kind=kind)
        return None
    log.info(
        "service.document_made",
        request_id=str(request_id),
        kind=kind,
        sha256=stored.sha256,
        pages=pages,
    )
    return document_id


async def _one(data: bytes) -> Any:
    yield data


# -- reading and downloading ---------------------------------------------------------------


_DOCUMENTS_SQL: Final = (
    "SELECT d.*, r.notice, r.party_id, p.side AS party_side, o.object_key "
    "FROM case_document d "
    "LEFT JOIN service_request r ON r.tenant_id = d.tenant_id AND r.id = d.service_request_id "
    "LEFT JOIN case_party p ON p.tenant_id = r.tenant_id AND p.id = r.party_id "
    "LEFT JOIN custody_object o ON o.tenant_id = d.tenant_id AND o.id = d.custody_item_id "
    "WHERE d.tenant_id = {} AND d.case_id = {}"
)


def _may_see(principal: Principal, case: LoadedCase, row: Mapping[str, Any]) -> bool:
    actors = case_domain.actors_of(principal, case.participation)
    if actors & {case_domain.Actor.STAFF, case_domain.Actor.TRIBUNAL}:
        return True
    if row["service_request_id"] is None:
        return True  # an award: everyone on the case
    side = case_domain.side_of(principal, case.participation)
    return side is not None and side.value == str(row["party_side"])


def _document_out(row: Mapping[str, Any]) -> CaseDocumentOut:
    kind = str(row["kind"])
    return CaseDocumentOut(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        kind=kind,
        kind_zh=KINDS_ZH.get(kind, kind),
        verification_code=str(row["verification_code"]),
        sha256=str(row["sha256"]),
        size=int(row["size"]),
        pages=int(row["pages"]),
        issued_at=as_datetime(row["issued_at"]),
        leaf_index=None if row["leaf_index"] is None else int(row["leaf_index"]),
        award_id=None if row["award_id"] is None else as_uuid(row["award_id"]),
        service_request_id=(
            None if row["service_request_id"] is None else as_uuid(row["service_request_id"])
        ),
        notice=None if row["notice"] is None else str(row["notice"]),
        party_id=None if row["party_id"] is None else as_uuid(row["party_id"]),
    )


async def list_documents(
    runtime: Runtime, principal: Principal, case_id: UUID
) -> list[CaseDocumentOut]:
    """The signed documents of the case this principal may see, oldest first."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await access_case(uow, principal, case_id)
        rows = await uow.fetch(_DOCUMENTS_SQL + " ORDER BY d.issued_at, d.id", tenant_id, case_id)
    return [_document_out(r) for r in rows if _may_see(principal, case, r)]


async def open_document(
    runtime: Runtime, principal: Principal, case_id: UUID, document_id: UUID
) -> tuple[str, str, int]:
    """A document of the case to download: (object key, file name, size); audited."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        rows = await uow.fetch(_DOCUMENTS_SQL + " AND d.id = {}", tenant_id, case_id, document_id)
        if not rows or not _may_see(principal, case, rows[0]) or rows[0]["object_key"] is None:
            raise NotFound("no such document")
        row = rows[0]
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="service.document.downloaded",
            target_kind="case_document",
            target_id=document_id,
            detail={
                "case_id": str(case_id),
                "kind": str(row["kind"]),
                "sha256": str(row["sha256"]),
            },
        )
    name = f"{str(row['kind']).replace('_', '-')}-{row['verification_code']}.pdf"
    return str(row["object_key"]), name, int(row["size"])
