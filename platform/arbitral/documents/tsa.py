"""A stand-in RFC 3161 timestamp authority, served over HTTP (``arbitral service tsa``).

It speaks the protocol of a real TSA: ``POST /`` with a DER
``TimeStampReq`` (``Content-Type: application/timestamp-query``) answers a DER
``TimeStampResp`` (``application/timestamp-reply``) whose token is signed by
the TSA's certificate (RSA, extended key usage id-kp-timeStamping, critical),
issued by the stand-in's own root CA. The signing is pyHanko's
``DummyTimeStamper``; the platform's client is the real adapter
(``HTTPTimeStamper`` pointed at ``ARBITRAL_TSA_URL``), so the same code talks
to this stand-in in tests and to a commercial TSA in production.

Its keys live in a directory (made on first start): ``tsa-ca.pem`` is the
root a verifier trusts for timestamps (``arbitral document verify
--tsa-trust``). ``GET /tsa-ca.pem`` serves it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from litestar import Litestar, Request, Response, get, post
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
MAX_REQUEST_BYTES: Final = 64 * 1024

CA_FILE: Final = "tsa-ca.pem"
CERT_FILE: Final = "tsa.pem"
KEY_FILE: Final = "tsa-key.pem"


@dataclass(frozen=True, slots=True)
class TsaKeys:
    """The stand-in TSA's root, its timestamping certificate and key."""

    ca: x509.Certificate
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey = field(repr=False)

    def timestamper(self) -> DummyTimeStamper:
        der_key = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return DummyTimeStamper(
            tsa_cert=_asn1(self.certificate),
            tsa_key=asn1_keys.PrivateKeyInfo.load(der_key),
            certs_to_embed=[_asn1(self.ca)],  # type: ignore[arg-type]
        )


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Arbitral stand-in TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_tsa_keys(now: datetime | None = None) -> TsaKeys:
    """A new root CA and a timestamping certificate issued by it (RSA 3072)."""
    now = now or datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = _name("Arbitral stand-in TSA root")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Arbitral stand-in TSA"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TsaKeys(ca=ca, certificate=certificate, key=key)


def load_or_create_tsa_keys(directory: Path) -> TsaKeys:
    """The keys kept in ``directory``, made (and written, key mode 0600) on first use."""
    paths = [directory / name for name in (CA_FILE, CERT_FILE, KEY_FILE)]
    if all(path.exists() for path in paths):
        ca, certificate = (x509.load_pem_x509_certificate(p.read_bytes()) for p in paths[:2])
        key = serialization.load_pem_private_key(paths[2].read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{paths[2]}: not an RSA key")
        return TsaKeys(ca=ca, certificate=certificate, key=key)
    directory.mkdir(parents=True, exist_ok=True)
    keys = generate_tsa_keys()
    paths[0].write_bytes(keys.ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(keys.certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            keys.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return keys


def create_tsa_app(keys: TsaKeys) -> Litestar:
    """The stand-in TSA as an ASGI app."""
    stamper = keys.timestamper()
    ca_pem = keys.ca.public_bytes(serialization.Encoding.PEM)

    @post("/", status_code=200)
    async def timestamp(request: Request[Any, Any, Any]) -> Response[bytes]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != QUERY_TYPE:
            return Response(
                f"expected Content-Type {QUERY_TYPE}".encode(),
                status_code=415,
                media_type="text/plain",
            )
        body = await request.body()
        if not body or len(body) > MAX_REQUEST_BYTES:
            return Response(b"empty or oversized request", status_code=400, media_type="text/plain")
        try:
            query = tsp.TimeStampReq.load(body)
            query.native  # noqa: B018 (parses every field now: a bad request is a 400, not a 500)
            reply = stamper.request_tsa_response(query)
        except (ValueError, TypeError, KeyError) as exc:
            return Response(
                f"not a TimeStampReq: {exc}".encode(), status_code=400, media_type="text/plain"
            )
        return Response(reply.dump(), media_type=REPLY_TYPE)

    @get("/tsa-ca.pem", sync_to_thread=False)
    def ca() -> Response[bytes]:
        return Response(ca_pem, media_type="application/x-pem-file")

    return Litestar(route_handlers=[timestamp, ca], debug=False)
