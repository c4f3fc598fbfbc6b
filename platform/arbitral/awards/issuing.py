"""Issuing an approved award: the document made, signed, kept in custody, logged, once.

The job (``awards.issue``) assembles the award from the case and the tribunal's text,
renders it (WeasyPrint, in a thread), signs it (PAdES, the commission's document key),
stores the signed bytes in custody under their hash and, in the one transaction that
records the custody item and its ledger leaf, records the document, marks the award
issued with the date it takes effect, serves a notice of it on the parties, and moves the
case to ``awarded``. A consent award or a mediation statement goes the same way, rendered
as such; the case was settled when the agreement was recorded, so it stays ``settled``
(the history records ``consent_award_issued`` / ``mediation_statement_issued``), and a
mediation statement gets no date of effect: it binds once the parties sign for it
(Arbitration Law art. 52). The document
row is unique per award: a second run finds it and does nothing. A run holds the award
by a lease (:data:`LEASE`) while it renders and signs, so a second delivery of the job
at the same time does not render it again: it is retried, and then finds it issued. A
run that fails gives the lease back at once; one that dies leaves it to expire.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import anyio
import structlog
from pyhanko.pdf_utils.reader import PdfFileReader

from arbitral.auth.domain import Principal
from arbitral.awards import domain, drafting
from arbitral.awards.domain import AwardKind, AwardStatus
from arbitral.cases import services as cases
from arbitral.custody import services as custody
from arbitral.db.values import as_uuid
from arbitral.documents import model as doc
from arbitral.documents.render import render_pdf
from arbitral.documents.signing import sign_pdf
from arbitral.notify.domain import language_of
from arbitral.service import services as service
from arbitral.service.domain import Notice

if TYPE_CHECKING:
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)


LEASE = timedelta(seconds=45)  # rendering and signing take well under a second


class IssueInProgress(RuntimeError):
    """Another run of the issue job holds the award (this one is retried later)."""


class TemplateNotNamed(ValueError):
    """The case's rule set does not name the template this document is made with."""


ROLES = {"sole": "sole", "presiding": "presiding", "member": "co"}
# The kind of ``case_document`` each kind of award makes.
DOCUMENT_KINDS: Final[Mapping[AwardKind, str]] = {
    AwardKind.AWARD: "award",
    AwardKind.CORRECTION: "award_correction",
    AwardKind.CONSENT_AWARD: "consent_award",
    AwardKind.MEDIATION_STATEMENT: "mediation_statement",
}
PROVES: Final[Mapping[AwardKind, str]] = {
    AwardKind.AWARD: "the award of the tribunal",
    AwardKind.CORRECTION: "the correction of the tribunal's award",
    AwardKind.CONSENT_AWARD: "the award of the tribunal on the parties' settlement agreement",
    AwardKind.MEDIATION_STATEMENT: "the mediation statement of the tribunal",
}
# When the document takes effect, as the notice of it says.
EFFECT_ZH: Final = "依照《中华人民共和国仲裁法》第五十七条，裁决书自作出之日起发生法律效力。"
EFFECT_EN: Final = (
    "Under Article 57 of the Arbitration Law of the People's Republic of China, an award "
    "takes effect on the day it is made."
)
MEDIATION_EFFECT_ZH: Final = (
    "依照《中华人民共和国仲裁法》第五十二条，调解书经双方当事人签收后即发生法律效力。"
)
MEDIATION_EFFECT_EN: Final = (
    "Under Article 52 of the Arbitration Law of the People's Republic of China, a mediation "
    "statement takes effect once both parties have signed for it."
)


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.splitlines() if p.strip())


def _party(p: Mapping[str, Any]) -> doc.Party:
    return doc.Party(
        role="claimant" if p["side"] == "claimant" else "respondent",
        name=str(p["name"]),
        kind="company" if p["kind"] == "company" else "person",
        id_number=str(p["id_number"] or ""),
        address=str(p["address"] or ""),
    )


def build_document(
    runtime: Runtime,
    tenant: TenantInfo,
    assembled: Mapping[str, Any],
    content: domain.Content,
    votes: list[dict[str, Any]],
    *,
    kind: AwardKind,
    made_on: date,
    code: str,
) -> doc.Document:
    """The award as the document model the templates render, in the commission's language.

    The texts the case and the tribunal wrote (history, decision) are kept as written;
    the templates and the steps written here are in the commission's language.
    """
    lang: doc.Language = "zh" if language_of(tenant.locale) == "zh" else "en"
    parties = tuple(_party(p) for p in assembled["parties"])
    first = {p.role: p.name for p in reversed(parties)}
    dissents = [v for v in votes if v["vote"] == domain.Vote.DISSENT]
    case = assembled["case"]
    loan = assembled.get("loan")
    schedule = (
        tuple(
            doc.ScheduleRow(
                period=i,
                due_on=date.fromisoformat(p["to"]),
                principal=Decimal(p["principal"]),
                interest=Decimal(p["accrued"]),
                outstanding=Decimal(p["principal"]),
            )
            for i, p in enumerate(loan["periods"], start=1)
        )
        if loan
        else ()
    )
    steps = [(datetime.fromisoformat(h["at"]), str(h["event"])) for h in assembled["history"]]
    agreement = content.agreement
    # A mediation statement states the agreement in its own paragraph, not as a step.
    if agreement is not None and kind is not AwardKind.MEDIATION_STATEMENT:
        steps.append(
            (
                agreement.signed_at,
                f"双方当事人签署和解协议（协议编号 {agreement.id}，"
                f"协议文本 SHA-256：{agreement.sha256}）"
                if lang == "zh"
                else f"the parties signed a settlement agreement (no. {agreement.id}, "
                f"SHA-256 of its text {agreement.sha256})",
            )
        )
        steps.sort(key=lambda step: step[0])
    history = [
        doc.ProceduralStep(on=at.astimezone(tenant.zone).date(), text=text) for at, text in steps
    ]
    if kind is AwardKind.CORRECTION:
        history.append(
            doc.ProceduralStep(
                on=made_on,
                text="仲裁庭对裁决书中的笔误作出补正"
                if lang == "zh"
                else "the tribunal corrected a clerical error in its award",
            )
        )
    tribunal = tuple(
        doc.Arbitrator(name=str(m["name"]), role=ROLES.get(str(m["role"]), "co"))  # type: ignore[arg-type]
        for m in assembled["tribunal"]
    )
    claims = (doc.Claim(text=str(case["claims"]), amount=Decimal(case["amount_claimed"])),)
    counterclaims = tuple(
        doc.Claim(text=str(c["claims"]), amount=Decimal(c["amount"]))
        for c in assembled.get("counterclaims", ())
    )
    decision = tuple(doc.DecisionItem(text=i.text, amount=i.amount) for i in content.decision)
    fees = doc.Fees(
        total=content.fees.total,
        shares=(
            doc.FeeShare(
                first.get("claimant", "申请人" if lang == "zh" else "the claimant"),
                content.fees.claimant,
            ),
            doc.FeeShare(
                first.get("respondent", "被申请人" if lang == "zh" else "the respondent"),
                content.fees.respondent,
            ),
        ),
    )
    made: doc.Content
    if kind in domain.ON_SETTLEMENT and agreement is None:
        raise ValueError(f"a {kind.value} names the settlement agreement it is made on")
    if kind is AwardKind.CONSENT_AWARD:
        assert agreement is not None
        made = doc.ConsentAward(
            parties=parties,
            tribunal=tribunal,
            procedural_history=tuple(history),
            claims=claims,
            settled_on=agreement.signed_at.astimezone(tenant.zone).date(),
            terms=decision,
            fees=fees,
            place=content.place,
            made_on=made_on,
        )
    elif kind is AwardKind.MEDIATION_STATEMENT:
        assert agreement is not None
        made = doc.MediationStatement(
            parties=parties,
            tribunal=tribunal,
            claims=claims,
            terms=decision,
            fees=fees,
            place=content.place,
            made_on=made_on,
            procedural_history=tuple(history),
            agreed_on=agreement.signed_at.astimezone(tenant.zone).date(),
            agreement_id=str(agreement.id),
            agreement_sha256=agreement.sha256,
        )
    else:
        made = doc.Award(
            parties=parties,
            tribunal=tribunal,
            procedural_history=tuple(history),
            claims=claims,
            counterclaims=counterclaims,
            facts=_paragraphs(content.facts),
            reasoning=_paragraphs(content.reasoning),
            decision=decision,
            fees=fees,
            place=content.place,
            made_on=made_on,
            dissent=(
                doc.Dissent(
                    arbitrator=str(dissents[0]["display_name"]), text=str(dissents[0]["opinion"])
                )
                if dissents and str(dissents[0]["opinion"]).strip()
                else None
            ),
            schedule=schedule,
        )
    public = f"{runtime.settings.public_url.rstrip('/')}/t/{tenant.slug}"
    name = tenant.names.zh if lang == "zh" else tenant.names.en
    return doc.Document(
        commission=doc.Commission(name=name, seal_text=name, address="", public_url=public),
        case_number=str(case["number"]),
        content=made,
        issued_on=made_on,
        language=lang,
        verification_code=code,
        tenant=tenant.slug,
    )


async def issue(runtime: Runtime, tenant: TenantInfo, award_id: UUID) -> bool:
    """Make, sign and record the award's document; False when it was issued already."""
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT * FROM award WHERE tenant_id = {} AND id = {}", tenant.id, award_id
        )
        if not rows:
            log.warning("awards.issue_unknown", award_id=str(award_id))
            return False
        row = rows[0]
        if row["status"] == AwardStatus.ISSUED:
            return False
        if row["status"] != AwardStatus.ISSUING:
            raise RuntimeError(f"award {award_id} is {row['status']}, not being issued")
        votes = await uow.fetch(
            "SELECT v.vote, v.opinion, u.display_name FROM award_vote v JOIN tenant_user u "
            "ON u.tenant_id = v.tenant_id AND u.id = v.arbitrator_id "
            "WHERE v.tenant_id = {} AND v.award_id = {} ORDER BY v.voted_at, v.id",
            tenant.id,
            award_id,
        )
    if not await _take_lease(runtime, tenant, award_id):
        return await _held(runtime, tenant, award_id)
    try:
        return await _issue(runtime, tenant, award_id, row, votes)
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await _release_lease(runtime, tenant, award_id)
        raise


async def _take_lease(runtime: Runtime, tenant: TenantInfo, award_id: UUID) -> bool:
    """This run holds the award for :data:`LEASE` (real time), unless another run does."""
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        taken = await uow.fetch(
            "UPDATE award SET issue_lease_until = {} WHERE tenant_id = {} AND id = {} "
            "AND status = 'issuing' AND (issue_lease_until IS NULL OR issue_lease_until < {}) "
            "RETURNING id",
            now + LEASE,
            tenant.id,
            award_id,
            now,
        )
    return bool(taken)


async def _release_lease(runtime: Runtime, tenant: TenantInfo, award_id: UUID) -> None:
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await uow.execute(
            "UPDATE award SET issue_lease_until = NULL WHERE tenant_id = {} AND id = {} "
            "AND status = 'issuing'",
            tenant.id,
            award_id,
        )


async def _held(runtime: Runtime, tenant: TenantInfo, award_id: UUID) -> bool:
    """No lease: issued meanwhile (False), or another run is at it (retry later)."""
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT status FROM award WHERE tenant_id = {} AND id = {}", tenant.id, award_id
        )
    if rows and rows[0]["status"] == AwardStatus.ISSUED:
        return False
    raise IssueInProgress(f"award {award_id} is being issued by another run of the job")


async def _issue(
    runtime: Runtime,
    tenant: TenantInfo,
    award_id: UUID,
    row: Mapping[str, Any],
    votes: list[dict[str, Any]],
) -> bool:
    case_id = as_uuid(row["case_id"])
    system = Principal.operator(tenant.id, "awards")
    assembled = await drafting.assemble(runtime, tenant, system, case_id)
    raw = row["content"]
    content, problems = domain.parse_content(
        json.loads(raw) if isinstance(raw, str) else dict(raw),
        Decimal(assembled["fees"]["total"]),
    )
    if problems:
        raise ValueError(f"award {award_id}: its text no longer parses: {problems[0].message}")
    kind = AwardKind(str(row["kind"]))
    case_of = assembled["case"]
    case_type = runtime.rules.get(case_of["rule_set"], case_of["rule_set_version"]).case_type(
        case_of["case_type"]
    )
    missing = domain.template_missing(
        kind, case_type.templates, f"{case_of['rule_set']}@{case_of['rule_set_version']}"
    )
    if missing is not None:
        raise TemplateNotNamed(missing)
    now = runtime.clock.now()
    made_on = now.astimezone(tenant.zone).date()
    code = doc.new_verification_code()
    document = build_document(
        runtime, tenant, assembled, content, votes, kind=kind, made_on=made_on, code=code
    )
    signer = await runtime.document_keys.signer(tenant.id)  # a missing key: a clear error
    templates = runtime.settings.templates_dir

    def make() -> tuple[bytes, int]:
        signed = sign_pdf(render_pdf(document, templates), signer)
        return signed, page_count(signed)

    signed, pages = await anyio.to_thread.run_sync(make)
    stored = await runtime.store.put(str(tenant.id), _one(signed))
    number = str(assembled["case"]["number"])
    document_kind = DOCUMENT_KINDS[kind]
    meta = custody.UploadMeta(
        filename=f"{document_kind.replace('_', '-')}-{number}-{code}.pdf".replace("/", "-"),
        title=f"{domain.TITLES_ZH[kind]} {number}",
        description=f"verification code {code}",
        proves=PROVES[kind],
    )
    # A mediation statement binds once the parties sign for it (art. 52): no date here.
    effective_on = None if kind is AwardKind.MEDIATION_STATEMENT else made_on
    document_id = uuid4()

    async def record_document(uow: Any, item: custody.CustodyItem) -> None:
        await uow.execute(
            "INSERT INTO case_document (id, tenant_id, case_id, award_id, kind, verification_code, "
            "sha256, size, pages, custody_item_id, leaf_index, signed_at, issued_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            document_id,
            tenant.id,
            case_id,
            award_id,
            document_kind,
            code,
            stored.sha256,
            stored.size,
            pages,
            item.id,
            item.leaf_index,
            now,
            now,
        )
        updated = await uow.fetch(
            "UPDATE award SET status = 'issued', issued_at = {}, effective_on = {}, "
            "document_id = {}, updated_at = {} WHERE tenant_id = {} AND id = {} "
            "AND status = 'issuing' RETURNING id",
            now,
            effective_on,
            document_id,
            now,
            tenant.id,
            award_id,
        )
        if not updated:
            raise RuntimeError(f"award {award_id} was issued meanwhile")
        data: dict[str, str | None] = {
            "award_id": str(award_id),
            "document_id": str(document_id),
            "verification_code": code,
            "sha256": stored.sha256,
            "effective_on": None if effective_on is None else effective_on.isoformat(),
        }
        if content.agreement is not None:
            data |= {
                "agreement": str(content.agreement.id),
                "sha256_agreement": content.agreement.sha256,
            }
        public = f"{runtime.settings.public_url.rstrip('/')}/t/{tenant.slug}"
        mediation = kind is AwardKind.MEDIATION_STATEMENT
        await service.serve_parties(
            uow,
            runtime,
            tenant,
            case_id,
            Notice.AWARD,
            subject=f"document:{document_id}",
            variables={
                "document_title": domain.TITLES_ZH[kind],
                "document_title_en": domain.TITLES_EN[kind],
                "notice_title": f"{domain.TITLES_ZH[kind]}送达通知",
                "notice_title_en": f"Notice of the {domain.TITLES_EN[kind]}",
                "effect": MEDIATION_EFFECT_ZH if mediation else EFFECT_ZH,
                "effect_en": MEDIATION_EFFECT_EN if mediation else EFFECT_EN,
                "made_on": made_on.isoformat(),
                "verification_code": code,
                "verify_url": f"{public}/verify/{code}",
            },
        )
        if kind is AwardKind.AWARD:
            await cases.system_command(
                uow, runtime, tenant, case_id, "issue_award", by="awards", data=data
            )
        else:
            # A correction leaves the case awarded; a consent award or mediation statement
            # is issued in the settled case (its settlement was recorded before).
            case = await cases.load_case(uow, tenant.id, case_id)
            correction = kind is AwardKind.CORRECTION
            await cases.append_event(
                uow,
                tenant.id,
                case_id,
                None,
                command="award_correction_issued" if correction else f"{kind.value}_issued",
                from_state=case.state,
                to_state=case.state,
                data={**data, "corrects": str(row["corrects_id"])} if correction else data,
                system="awards",
            )

    await custody.record_item(
        runtime,
        system,
        tenant,
        meta,
        custody.Intake(stored, "application/pdf"),
        also=record_document,
        lock_case=case_id,
    )
    log.info("awards.issued", award_id=str(award_id), sha256=stored.sha256, pages=pages)
    return True


async def _one(data: bytes) -> Any:
    yield data


def page_count(pdf: bytes) -> int:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return int(reader.root["/Pages"]["/Count"])
