"""PAdES B-T with the stand-in TSA (its own process), and a real chain imported from PKCS#12."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from arbitral.db.engine import Database
from arbitral.documents.signing import SigningError, sign_pdf_async
from arbitral.documents.verify import verify_pdf_async
from arbitral.keys.documents import DocumentKeys, trust_anchors
from arbitral.keys.x509 import DocumentSignerError, check_signer_certificate
from tests.conftest import REPO_ROOT
from tests.documents.conftest import OPERATOR, award_pdf, new_tenant, pdfsig


@dataclass(frozen=True)
class StandInTsa:
    url: str
    ca: list[x509.Certificate]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[StandInTsa]:
    port = free_port()
    keys = tmp_path / "tsa"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbitral",
            "service",
            "tsa",
            "--port",
            str(port),
            "--keys",
            str(keys),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/tsa-ca.pem", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.content == (keys / "tsa-ca.pem").read_bytes()
        yield StandInTsa(
            f"http://127.0.0.1:{port}/", x509.load_pem_x509_certificates(response.content)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_with_a_tsa_the_signature_carries_a_valid_timestamp(
    database: Database, kek: bytes, tsa: StandInTsa, tmp_path: Path
) -> None:
    tenant = await new_tenant(database)
    keys = DocumentKeys(database, kek, tsa_url=tsa.url)
    await keys.issue_development(tenant, actor=OPERATOR)
    signed = await sign_pdf_async(award_pdf(), await keys.signer(tenant))
    anchors = await trust_anchors(database, tenant)

    result = await verify_pdf_async(signed, anchors, tsa_anchors=tsa.ca)
    assert result.genuine, result.detail
    assert result.timestamp == "valid"
    assert result.timestamp_at is not None
    assert abs(result.timestamp_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert result.signed_at == result.timestamp_at

    # Without the TSA's root the timestamp is reported untrusted; the signature still stands.
    untrusted = await verify_pdf_async(signed, anchors)
    assert untrusted.genuine
    assert untrusted.timestamp == "untrusted"

    path = tmp_path / "award.pdf"
    path.write_bytes(signed)
    report = pdfsig(path)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report, report

    # The TSA answers only timestamp queries.
    async with httpx.AsyncClient() as client:
        wrong_type = await client.post(
            tsa.url, content=b"x", headers={"content-type": "text/plain"}
        )
        garbage = await client.post(
            tsa.url,
            content=b"\x30\x03\x02\x01",
            headers={"content-type": "application/timestamp-query"},
        )
    assert wrong_type.status_code == 415
    assert garbage.status_code == 400


async def test_a_tsa_that_does_not_answer_fails_the_signature(
    database: Database, kek: bytes
) -> None:
    tenant = await new_tenant(database)
    keys = DocumentKeys(database, kek, tsa_url=f"http://127.0.0.1:{free_port()}/")
    await keys.issue_development(tenant, actor=OPERATOR)
    with pytest.raises(SigningError, match="timestamp authority"):
        await sign_pdf_async(award_pdf(), await keys.signer(tenant))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def real_chain() -> tuple[rsa.RSAPrivateKey, x509.Certificate, x509.Certificate, x509.Certificate]:
    """A root CA, an intermediate and a signer certificate (RSA 3072), as a real CA would issue."""
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Root CA"))
        .issuer_name(_name("Test Root CA"))
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(root_key, hashes.SHA384())
    )
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Issuing CA"))
        .issuer_name(root.subject)
        .public_key(mid_key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(root_key, hashes.SHA384())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("广州仲裁委员会"))
        .issuer_name(mid.subject)
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(mid_key, hashes.SHA256())
    )
    return key, cert, mid, root


def p12(
    key: rsa.RSAPrivateKey, cert: x509.Certificate, cas: list[x509.Certificate], passphrase: bytes
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"signer", key, cert, cas, serialization.BestAvailableEncryption(passphrase)
    )


async def test_a_pkcs12_chain_is_imported_and_signs(
    document_keys: DocumentKeys, database: Database, tmp_path: Path
) -> None:
    tenant = await new_tenant(database)
    await document_keys.issue_development(tenant, actor=OPERATOR)
    development = await sign_pdf_async(award_pdf(), await document_keys.signer(tenant))
    key, cert, mid, root = real_chain()

    with pytest.raises(DocumentSignerError, match="does not open"):
        await document_keys.import_pkcs12(
            tenant, p12(key, cert, [mid, root], b"right"), b"wrong", actor=OPERATOR
        )
    with pytest.raises(DocumentSignerError, match="whole chain"):
        await document_keys.import_pkcs12(
            tenant, p12(key, cert, [mid], b"pw"), b"pw", actor=OPERATOR
        )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    with pytest.raises(DocumentSignerError, match="does not certify"):
        check_signer_certificate(other_key, cert)

    info = await document_keys.import_pkcs12(
        tenant, p12(key, cert, [root, mid], b"pw"), b"pw", actor=OPERATOR
    )
    assert info.origin == "imported"
    assert info.algorithm == "RSA"
    assert info.issuer == "CN=Test Issuing CA"
    assert info.retired_kid is not None
    signer = await document_keys.signer(tenant)
    assert [c.subject.rfc4514_string() for c in signer.chain] == [
        "CN=广州仲裁委员会",
        "CN=Test Issuing CA",
        "CN=Test Root CA",
    ]
    signed = await sign_pdf_async(award_pdf(), signer)

    anchors = await trust_anchors(database, tenant)
    assert root in anchors
    assert len(anchors) == 2  # the development CA stays: what it signed still verifies
    for pdf in (signed, development):
        result = await verify_pdf_async(pdf, anchors)
        assert result.genuine, result.detail
    result = await verify_pdf_async(signed, [root])
    assert result.signer_subject == "CN=广州仲裁委员会"
    assert not (await verify_pdf_async(development, [root])).genuine

    path = tmp_path / "award.pdf"
    path.write_bytes(signed)
    report = pdfsig(path)
    assert "Signature Validation: Signature is Valid." in report, report

    with pytest.raises(DocumentSignerError, match="imported chain"):
        await document_keys.rotate(tenant, actor=OPERATOR)
    with pytest.raises(DocumentSignerError, match="installed before"):
        await document_keys.import_pkcs12(
            tenant, p12(key, cert, [mid, root], b"pw"), b"pw", actor=OPERATOR
        )
