"""Public verification of a commission's documents: by verification code, or by the file.

Anyone holding a document (a court, a bank, the other party) can check it without an
account: the code printed on it (and in its QR code) finds the record of the document the
commission issued; an uploaded PDF is checked against the commission's document CA
(intact, signed by the commission, the signature covering the whole file) and against
the record of what was issued (its SHA-256). Nothing is said beyond what the document
itself shows: the commission, the kind of document, the case number, the date, and the
file's hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from arbitral.db.values import as_datetime
from arbitral.documents.model import DocumentModelError, normalize_verification_code
from arbitral.documents.verify import verify_pdf_isolated
from arbitral.errors import FieldProblem, ValidationFailed
from arbitral.keys.documents import trust_anchors

if TYPE_CHECKING:
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

MAX_PDF: Final = 50 << 20
KINDS_ZH: Final = {
    "award": "裁决书",
    "award_correction": "补正裁决书",
    "consent_award": "裁决书（根据和解协议作出）",
    "mediation_statement": "调解书",
    "notice_of_acceptance": "受理通知书",
    "notice_of_arbitration": "仲裁通知书",
    "notice_of_constitution": "组庭通知书",
    "notice_of_hearing": "开庭通知书",
    "certificate_of_service": "送达回证",
}


@dataclass(frozen=True)
class IssuedDocument:
    """What the record of an issued document says (and the document shows)."""

    commission: str
    kind: str
    kind_zh: str
    case_number: str
    issued_on: date
    verification_code: str
    sha256: str
    size: int
    pages: int
    signed_at: datetime = field(default=datetime.min.replace(tzinfo=UTC), compare=False)
    """When the commission signed it (what its certificate is checked at; not shown)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "commission": self.commission,
            "kind": self.kind,
            "kind_zh": self.kind_zh,
            "case_number": self.case_number,
            "issued_on": self.issued_on.isoformat(),
            "verification_code": self.verification_code,
            "sha256": self.sha256,
            "size": self.size,
            "pages": self.pages,
        }


@dataclass(frozen=True)
class Verdict:
    genuine: bool
    reason: str | None  # why not: altered, unsigned, unknown_signer, not_on_record, ...
    detail: str
    document: IssuedDocument | None
    signer: str | None = None
    signed_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "genuine": self.genuine,
            "reason": self.reason,
            "detail": self.detail,
            "document": self.document.as_json() if self.document else None,
            "signer": self.signer,
            "signed_at": self.signed_at,
        }


def parse_code(text: str) -> str:
    try:
        return normalize_verification_code(text)
    except DocumentModelError:
        raise ValidationFailed(
            "not a verification code",
            errors=[
                FieldProblem(
                    "code", "format", "16 letters A-Z and digits 2-7, e.g. ABCD-EFGH-IJKL-MNOP"
                )
            ],
        ) from None


async def _issued(
    runtime: Runtime, tenant: TenantInfo, column: str, value: str
) -> IssuedDocument | None:
    assert column in ("verification_code", "sha256")
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT d.kind, d.verification_code, d.sha256, d.size, d.pages, d.issued_at, "  # noqa: S608 (column is one of two constants)
            "d.signed_at, c.number "
            "FROM case_document d JOIN arb_case c "
            "ON c.tenant_id = d.tenant_id AND c.id = d.case_id "
            f"WHERE d.tenant_id = {{}} AND d.{column} = {{}}",
            tenant.id,
            value,
        )
    if not rows:
        return None
    row = rows[0]
    kind = str(row["kind"])
    return IssuedDocument(
        commission=tenant.names.zh,
        kind=kind,
        kind_zh=KINDS_ZH.get(kind, kind),
        case_number=str(row["number"]),
        issued_on=as_datetime(row["issued_at"]).astimezone(tenant.zone).date(),
        verification_code=str(row["verification_code"]),
        sha256=str(row["sha256"]),
        size=int(row["size"]),
        pages=int(row["pages"]),
        signed_at=as_datetime(row["signed_at"]),
    )


async def by_code(runtime: Runtime, tenant: TenantInfo, code: str) -> IssuedDocument | None:
    """The document issued under ``code`` (None: the commission issued no such document)."""
    found = await _issued(runtime, tenant, "verification_code", parse_code(code))
    log.info("documents.verified_by_code", tenant=tenant.slug, found=found is not None)
    return found


async def check_pdf(runtime: Runtime, tenant: TenantInfo, pdf: bytes) -> Verdict:
    """Whether ``pdf`` is, byte for byte, a document this commission signed and issued."""
    if not pdf:
        raise ValidationFailed(
            "no file", errors=[FieldProblem("file", "required", "send the PDF to check")]
        )
    if len(pdf) > MAX_PDF:
        raise ValidationFailed(
            "the file is too large",
            errors=[FieldProblem("file", "max_size", f"at most {MAX_PDF >> 20} MiB")],
        )
    anchors = await trust_anchors(runtime.db, tenant.id)
    record = await _issued(runtime, tenant, "sha256", hashlib.sha256(pdf).hexdigest())
    # A document the commission issued is checked as of when it signed it: its
    # certificate may have expired since, the document stays genuine.
    checked = await verify_pdf_isolated(
        pdf, anchors, moment=record.signed_at if record is not None else None
    )
    claimed = None
    if record is None and checked.verification_code:
        try:
            claimed = await _issued(
                runtime, tenant, "verification_code", parse_code(checked.verification_code)
            )
        except ValidationFailed:
            claimed = None
    signer = checked.signer_subject
    signed_at = checked.signed_at.isoformat() if checked.signed_at else None
    log.info("documents.verified_by_file", tenant=tenant.slug, genuine=checked.genuine)
    if not checked.genuine:
        return Verdict(False, checked.reason, checked.detail, claimed, signer, signed_at)
    if record is None:
        return Verdict(
            False,
            "not_on_record",
            "the signature is the commission's, but this file is not a document it issued"
            + (
                " (a document with its code was issued: this file differs from it)"
                if claimed
                else ""
            ),
            claimed,
            signer,
            signed_at,
        )
    return Verdict(
        True, None, "a genuine, unaltered document of the commission", record, signer, signed_at
    )
