"""A document signed while its certificate was valid stays genuine once it has expired,
when checked as of the time the commission records it signed it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from arbitral.documents.signing import build_signer, sign_pdf
from arbitral.documents.verify import verify_pdf
from arbitral.keys.x509 import (
    SIGNER_VALIDITY,
    generate_document_key,
    issue_ca_certificate,
    issue_signer_certificate,
)
from tests.documents.conftest import award_pdf


def test_a_certificate_that_expired_after_signing() -> None:
    ca_key, key = generate_document_key(), generate_document_key()
    ca = issue_ca_certificate(ca_key, commission="测试仲裁委员会")
    # Issued so that it expires three seconds from now.
    started = datetime.now(UTC)
    certificate = issue_signer_certificate(
        ca_key,
        ca,
        key,
        commission="测试仲裁委员会",
        now=started - SIGNER_VALIDITY + timedelta(seconds=3),
    )
    signer = build_signer(
        key, [certificate, ca], kid="short", reason="签发", location="广州", contact="x"
    )
    signed = sign_pdf(award_pdf(1), signer)
    signed_at = datetime.now(UTC)
    assert verify_pdf(signed, [ca]).genuine
    time.sleep(max(0.0, (certificate.not_valid_after_utc - datetime.now(UTC)).total_seconds()) + 1)
    expired = verify_pdf(signed, [ca])
    assert not expired.genuine
    assert expired.reason == "unknown_signer"
    on_record = verify_pdf(signed, [ca], moment=signed_at)
    assert on_record.genuine, on_record.detail
