"""Signing PDFs with a commission's key (PAdES) and verifying them offline, on both backends."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from arbitral.db.engine import Database
from arbitral.documents.signing import SigningError, sign_pdf, sign_pdf_async
from arbitral.documents.verify import verify_pdf_async
from arbitral.keys.documents import DocumentKeys, trust_anchors
from arbitral.keys.services import KeyRing
from arbitral.keys.x509 import (
    DocumentSignerError,
    NoDocumentSignerError,
    to_pem,
)
from tests.conftest import REPO_ROOT
from tests.documents.conftest import (
    OPERATOR,
    award_pdf,
    new_tenant,
    nss_database_trusting,
    pdfsig,
)


def verify_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arbitral", "document", "verify", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def byte_range(pdf: bytes) -> list[int]:
    start = pdf.rindex(b"/ByteRange")
    inside = pdf[pdf.index(b"[", start) + 1 : pdf.index(b"]", start)]
    return [int(n) for n in inside.split()]


async def signed_award(keys: DocumentKeys, tenant_id: uuid.UUID) -> bytes:
    return await sign_pdf_async(award_pdf(), await keys.signer(tenant_id))


async def test_a_signed_award_is_genuine_for_us_and_for_pdfsig(
    document_keys: DocumentKeys, database: Database, tmp_path: Path
) -> None:
    tenant = await new_tenant(database)
    info = await document_keys.issue_development(tenant, actor=OPERATOR)
    assert info.origin == "development"
    assert info.algorithm == "ES256"
    signed = await signed_award(document_keys, tenant)
    assert signed.startswith(award_pdf())  # an incremental update: the rendered bytes are kept

    anchors = await trust_anchors(database, tenant)
    assert len(anchors) == 1
    result = await verify_pdf_async(signed, anchors)
    assert result.genuine, result.detail
    assert result.reason is None
    assert result.signatures == 1
    assert result.signer_subject == "CN=广州仲裁委员会,O=广州仲裁委员会,C=CN"
    assert result.timestamp == "absent"
    assert result.signed_at is not None
    assert abs(result.signed_at - datetime.now(UTC)) < timedelta(minutes=5)

    # The signer certificate: the commission's, for signatures and non-repudiation.
    signer = await document_keys.signer(tenant)
    usage = signer.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    eku = signer.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36") in eku  # id-kp-documentSigning
    assert signer.reason.startswith("广州仲裁委员会")
    assert signer.contact == "gz.arbitral.example"

    path = tmp_path / "award.pdf"
    path.write_bytes(signed)
    report = pdfsig(path)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report, report
    assert "Signer Certificate Common Name: 广州仲裁委员会" in report, report
    ca = tmp_path / "ca.pem"
    ca.write_text(to_pem(anchors))
    nss = nss_database_trusting(tmp_path / "nss", ca)
    if nss is not None:  # certutil (libnss3-tools) present: NSS checks the chain as well
        report = pdfsig(path, nssdir=nss)
        assert "Certificate Validation: Certificate is Trusted." in report, report

    done = verify_cli(str(path), "--trust", str(ca))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GENUINE" in done.stdout
    assert "NOT GENUINE" not in done.stdout


async def test_one_byte_changed_or_bytes_appended_is_not_genuine(
    document_keys: DocumentKeys, database: Database, tmp_path: Path
) -> None:
    tenant = await new_tenant(database)
    await document_keys.issue_development(tenant, actor=OPERATOR)
    signed = await signed_award(document_keys, tenant)
    anchors = await trust_anchors(database, tenant)
    ca = tmp_path / "ca.pem"
    ca.write_text(to_pem(anchors))

    start, first, second, rest = byte_range(signed)
    assert start == 0
    assert second + rest == len(signed)
    altered_files = []
    for offset in (first // 2, second + rest // 2):  # one byte in each signed range
        altered = bytearray(signed)
        altered[offset] ^= 0x01
        altered_files.append(bytes(altered))
    for altered in altered_files:
        result = await verify_pdf_async(altered, anchors)
        assert not result.genuine
        assert result.reason == "altered", result.detail
        path = tmp_path / "altered.pdf"
        path.write_bytes(altered)
        report = pdfsig(path)
        assert "Signature is Valid." not in report, report
        done = verify_cli(str(path), "--trust", str(ca), "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        assert '"genuine": false' in done.stdout

    appended = signed + b"\n% a line added after the signature\n"
    result = await verify_pdf_async(appended, anchors)
    assert not result.genuine
    assert result.reason == "not_whole_document", result.detail
    path = tmp_path / "appended.pdf"
    path.write_bytes(appended)
    report = pdfsig(path)
    assert "Not total document signed" in report, report
    assert "Total document signed" not in report.replace("Not total document signed", "")
    done = verify_cli(str(path), "--trust", str(ca))
    assert done.returncode == 1
    assert "NOT GENUINE" in done.stdout

    unsigned = await verify_pdf_async(award_pdf(), anchors)
    assert (unsigned.genuine, unsigned.reason) == (False, "unsigned")
    assert (await verify_pdf_async(b"not a pdf at all", anchors)).reason == "unreadable"
    assert verify_cli(str(path)).returncode == 2  # no --trust: a usage error
    assert verify_cli(str(tmp_path / "missing.pdf"), "--trust", str(ca)).returncode == 2


async def test_a_document_of_another_commission_is_refused(
    document_keys: DocumentKeys, database: Database
) -> None:
    a = await new_tenant(database)
    b = await new_tenant(database, "深圳国际仲裁院")
    await document_keys.issue_development(a, actor=OPERATOR)
    await document_keys.issue_development(b, actor=OPERATOR)
    by_b = await signed_award(document_keys, b)
    result = await verify_pdf_async(by_b, await trust_anchors(database, a))
    assert not result.genuine
    assert result.reason == "unknown_signer"
    assert "深圳国际仲裁院" in result.detail
    assert (await verify_pdf_async(by_b, await trust_anchors(database, b))).genuine
    assert (await verify_pdf_async(by_b, [])).reason == "unknown_signer"


async def test_no_signer_is_a_typed_error_naming_the_tenant_and_the_command(
    document_keys: DocumentKeys, database: Database
) -> None:
    tenant = await new_tenant(database)
    async with database.transaction() as uow:
        slug = (await uow.fetch("SELECT slug FROM tenant WHERE id = {}", tenant))[0]["slug"]
    with pytest.raises(NoDocumentSignerError) as caught:
        await document_keys.signer(tenant)
    assert caught.value.slug == slug
    assert f"arbitral keys issue-document-signer --tenant {slug}" in str(caught.value)
    assert "import-document-signer" in str(caught.value)
    assert await trust_anchors(database, tenant) == []
    assert await document_keys.info(tenant) is None


async def test_rotation_keeps_old_documents_verifying(
    document_keys: DocumentKeys, database: Database, kek: bytes
) -> None:
    tenant = await new_tenant(database)
    first = await document_keys.issue_development(tenant, actor=OPERATOR)
    before = await signed_award(document_keys, tenant)
    second = await document_keys.rotate(tenant, actor=OPERATOR)
    assert second.retired_kid == first.kid
    assert second.kid != first.kid
    assert second.issuer == first.issuer  # the same development CA issued both
    signer = await document_keys.signer(tenant)
    assert signer.kid == second.kid  # the cache follows the rotation
    after = await sign_pdf_async(award_pdf(), signer)
    anchors = await trust_anchors(database, tenant)
    assert len(anchors) == 1
    for pdf in (before, after):
        assert (await verify_pdf_async(pdf, anchors)).genuine

    # Another process (a fresh DocumentKeys) sees the rotation; listed as keys, sealed.
    other = DocumentKeys(database, kek)
    assert (await other.signer(tenant)).kid == second.kid
    listed = await KeyRing(database, kek).keys(tenant)
    states = sorted((info.purpose, info.active) for info in listed)
    assert states == [("document_ca", True), ("documents", False), ("documents", True)]
    async with database.transaction(tenant_id=tenant) as uow:
        events = await uow.fetch(
            "SELECT action FROM audit_event WHERE tenant_id = {} ORDER BY at", tenant
        )
    actions = [e["action"] for e in events]
    assert actions.count("key.document_signer_installed") == 2
    assert actions.count("key.document_ca_created") == 1

    # A wrong key-encryption key cannot open the sealed key.
    stranger = DocumentKeys(database, bytes(32))
    with pytest.raises(Exception, match="does not decrypt"):
        await stranger.signer(tenant)


async def test_signing_refuses_what_is_not_a_pdf(
    document_keys: DocumentKeys, database: Database
) -> None:
    tenant = await new_tenant(database)
    await document_keys.issue_development(tenant, actor=OPERATOR)
    signer = await document_keys.signer(tenant)
    with pytest.raises(SigningError, match="not a PDF"):
        sign_pdf(b"<html>not a pdf</html>", signer)
    with pytest.raises(SigningError):
        sign_pdf(b"%PDF-1.7\ngarbage without objects", signer)
    with pytest.raises(DocumentSignerError, match="no tenant"):
        await document_keys.issue_development(uuid.uuid4(), actor=OPERATOR)
