"""Document-signing keys and their X.509 chains, as plain values (no I/O).

A commission signs its PDFs (PAdES) with the key of purpose ``documents``:
ECDSA P-256 with SHA-256 (or, for an imported chain, whatever its CA issued:
ECDSA P-256/P-384 or RSA of 2048 bits and more), which PDF validators accept
(poppler/NSS, Adobe, pyHanko). Its certificate comes from

* in development, a certificate authority of the commission made here: a root
  CA (its key of purpose ``document_ca``, sealed like every other key) and a
  signing certificate it issues to the commission, with key usage
  digitalSignature + nonRepudiation and the extended key usages
  id-kp-documentSigning (RFC 9336) and id-kp-emailProtection (NSS, which
  poppler uses, checks a PDF signer as an S/MIME signer and refuses a
  certificate whose extended key usage lacks emailProtection);
* in production, a real chain imported from a PKCS#12 file.

A key id (``kid``) is the RFC 7638 thumbprint of the public key's JWK, as for
the Ed25519 keys; the sealed private key is its PKCS#8 DER.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from arbitral.keys.domain import (
    KeyDecryptionError,
    KeysError,
    b64url,
    open_private_key,
    seal_private_key,
)

DOCUMENTS: Final = "documents"
"""The purpose of the key that signs a commission's PDFs."""

DOCUMENT_CA: Final = "document_ca"
"""The purpose of the development CA's key (never signs a document)."""

DOCUMENT_PURPOSES: Final = (DOCUMENTS, DOCUMENT_CA)

ECDSA_P256: Final = "ES256"
ECDSA_P384: Final = "ES384"
RSA: Final = "RSA"

DOCUMENT_SIGNING_EKU: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336)."""

ORIGIN_DEVELOPMENT: Final = "development"
ORIGIN_IMPORTED: Final = "imported"

CA_VALIDITY: Final = timedelta(days=20 * 365)
SIGNER_VALIDITY: Final = timedelta(days=5 * 365)
_BACKDATE: Final = timedelta(minutes=5)  # clock skew between machines

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class DocumentSignerError(KeysError):
    """A document-signing key or chain that cannot be used (names what is wrong)."""


class NoDocumentSignerError(KeysError):
    """A tenant that has no document signer: never sign nothing, say what to run."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"tenant {slug} has no document signer: run `arbitral keys issue-document-signer "
            f"--tenant {slug}` (a development CA of the commission) or `arbitral keys "
            f"import-document-signer --tenant {slug} --pkcs12 FILE` (a real chain)"
        )
        self.slug = slug


# -- keys ---------------------------------------------------------------------------


def generate_document_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def algorithm_of(key: PrivateKey) -> str:
    """The ``algorithm`` column for ``key`` (or :class:`DocumentSignerError`)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return ECDSA_P256
        if isinstance(key.curve, ec.SECP384R1):
            return ECDSA_P384
        raise DocumentSignerError(f"unsupported elliptic curve {key.curve.name}")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise DocumentSignerError(f"an RSA key of {key.key_size} bits is too short (2048+)")
        return RSA
    raise DocumentSignerError(f"unsupported key type {type(key).__name__}")


def public_jwk_of(key: PrivateKey) -> dict[str, str]:
    """The public JWK of ``key`` with its RFC 7638 thumbprint as ``kid``."""
    public = key.public_key()
    members: dict[str, str]
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        numbers = public.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[public.curve.name]
        members = {
            "crv": crv,
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big")),
        }
    else:
        rsa_numbers = public.public_numbers()
        members = {
            "e": b64url(rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "n": b64url(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
        }
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    kid = b64url(hashlib.sha256(canonical.encode("ascii")).digest())
    return {**members, "kid": kid}


@dataclass(frozen=True, slots=True)
class SealedDocumentKey:
    """A key ready for a ``signing_key`` row: kid, algorithm, public JWK, sealed PKCS#8."""

    kid: str
    purpose: str
    algorithm: str
    public_jwk: dict[str, str]
    private_key_enc: bytes = field(repr=False)


def seal_document_key(
    kek: bytes, key: PrivateKey, *, tenant_id: UUID, purpose: str
) -> SealedDocumentKey:
    """Seal ``key`` (PKCS#8 DER) for the row (tenant, kid, purpose)."""
    if purpose not in DOCUMENT_PURPOSES:
        raise ValueError(f"not a document key purpose: {purpose!r}")
    algorithm = algorithm_of(key)
    jwk = public_jwk_of(key)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sealed = seal_private_key(kek, der, tenant_id=tenant_id, kid=jwk["kid"], purpose=purpose)
    return SealedDocumentKey(jwk["kid"], purpose, algorithm, jwk, sealed)


def unseal_document_key(
    kek: bytes, sealed: bytes, *, tenant_id: UUID, kid: str, purpose: str
) -> PrivateKey:
    """The private key of a stored document row, checked against its kid."""
    der = open_private_key(kek, sealed, tenant_id=tenant_id, kid=kid, purpose=purpose)
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyDecryptionError(kid, f"decrypts to an unsupported {type(key).__name__}")
    if public_jwk_of(key)["kid"] != kid:
        raise KeyDecryptionError(kid, "decrypts to a key whose thumbprint is not its kid")
    return key


# -- certificates -------------------------------------------------------------------


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


def issue_ca_certificate(
    key: PrivateKey, *, commission: str, now: datetime | None = None
) -> x509.Certificate:
    """A self-signed root CA certificate for the commission's development CA."""
    now = now or datetime.now(UTC)
    name = _name(f"{commission} 文书签名 CA (development)", commission)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _hash_for(key))
    )


def issue_signer_certificate(
    ca_key: PrivateKey,
    ca_certificate: x509.Certificate,
    key: PrivateKey,
    *,
    commission: str,
    now: datetime | None = None,
) -> x509.Certificate:
    """The commission's document-signing certificate, issued by its development CA."""
    now = now or datetime.now(UTC)
    public = key.public_key()
    not_after = min(now + SIGNER_VALIDITY, ca_certificate.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(commission, commission))
        .issuer_name(ca_certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, _hash_for(ca_key))
    )


def is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint of a certificate, lower-case hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def subject_of(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def to_pem(certificates: Sequence[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates)


def order_chain(
    certificate: x509.Certificate, others: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """``certificate`` and its issuers up to a self-signed root, in order.

    :class:`DocumentSignerError` when a link is missing or a signature does not
    verify: the chain must be whole, root included, to be a trust anchor.
    """
    chain = [certificate]
    pool = [c for c in others if c != certificate]
    while not is_self_signed(chain[-1]):
        current = chain[-1]
        issuer = None
        for candidate in pool:
            if candidate.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            issuer = candidate
            break
        if issuer is None:
            raise DocumentSignerError(
                f"the chain of {subject_of(current)} stops at its issuer "
                f"{current.issuer.rfc4514_string()}: give the whole chain, up to the root CA"
            )
        if len(chain) > 8:
            raise DocumentSignerError("the certificate chain is longer than 8 certificates")
        chain.append(issuer)
        pool.remove(issuer)
    return chain


def check_signer_certificate(
    key: PrivateKey, certificate: x509.Certificate, *, now: datetime | None = None
) -> None:
    """The certificate is the key's, valid now, and allows document signatures."""
    now = now or datetime.now(UTC)
    own = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    certified = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if own != certified:
        raise DocumentSignerError("the certificate does not certify the private key it came with")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise DocumentSignerError(
            f"the certificate is not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d}"
            f" to {certificate.not_valid_after_utc:%Y-%m-%d})"
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise DocumentSignerError(
            "the certificate's key usage allows neither digitalSignature nor nonRepudiation"
        )


@dataclass(frozen=True, slots=True)
class ImportedSigner:
    """What a PKCS#12 file holds, checked: the key and its chain up to the root."""

    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]


def load_pkcs12(data: bytes, passphrase: bytes | None) -> ImportedSigner:
    """Read and check a PKCS#12 file (:class:`DocumentSignerError` saying what is wrong)."""
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, passphrase or None)
    except ValueError as exc:
        raise DocumentSignerError(
            f"the PKCS#12 file does not open ({exc}): wrong passphrase or not PKCS#12"
        ) from None
    if key is None or certificate is None:
        raise DocumentSignerError("the PKCS#12 file must hold a private key and its certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DocumentSignerError(f"unsupported key type {type(key).__name__} (ECDSA or RSA)")
    algorithm_of(key)
    check_signer_certificate(key, certificate)
    chain = order_chain(certificate, list(others))
    return ImportedSigner(key=key, chain=tuple(chain))


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file (:class:`ValueError` if there is none)."""
    certificates = x509.load_pem_x509_certificates(data)
    if not certificates:
        raise ValueError("no certificate in the PEM data")
    return certificates
