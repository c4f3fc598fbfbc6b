"""PAdES signatures on the commission's PDFs (pyHanko).

:func:`sign_pdf` adds one signature to a finished PDF as an incremental
update: PAdES baseline B-B (``/SubFilter /ETSI.CAdES.detached``, SHA-256, the
signing-certificate-v2 attribute, the whole certificate chain embedded), or
B-T when a timestamp authority is configured (``ARBITRAL_TSA_URL``: an RFC 3161
timestamp on the signature value, from pyHanko's ``HTTPTimeStamper``). The
signature field is invisible; reason, location and contact come from the
commission. Nothing here touches the network unless a TSA is configured.

The rendered PDF is PDF/A-3b, and signing keeps it so:

* pyHanko's writer normally rewrites the metadata in the update: the Info
  dictionary's ``/Producer`` becomes ``WeasyPrint …; pyHanko …`` while the XMP
  packet (which it re-serialises) gets ``pdf:Producer="pyHanko …"``, and PDF/A
  requires the two to agree (ISO 19005-3, 6.6.2.3.1). :class:`_MetadataKeepingWriter`
  leaves both as WeasyPrint wrote them, together and consistent: the update holds
  the signature only (its time is in the signature, not in ``/ModDate``).
* With an ECDSA key pyHanko declares ISO/TS 32002 (ECDSA in PDF), an extension of
  PDF 2.0, and so raises the catalog's ``/Version`` to 2.0: the file would no longer
  be the PDF 1.7 that PDF/A-3 is based on. :class:`_Pdf17Signer` declares only the
  ESIC extension of PDF 1.7 (PAdES, ETSI EN 319 142-1, whose algorithms include
  ECDSA); PDF 1.7 readers (poppler, Acrobat) verify ECDSA PAdES signatures as before.

A :class:`DocumentSigner` is built once per tenant key (see
:class:`arbitral.keys.documents.DocumentKeys`, which caches them): building
one parses the key and the chain, signing only hashes and signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Final

import anyio.to_thread
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import constants
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

SIGNATURE_FIELD: Final = "ArbitralSignature"
TSA_TIMEOUT_S: Final = 10


class SigningError(Exception):
    """A PDF that cannot be signed (not a PDF, already holds our field, TSA down, ...)."""


@dataclass(frozen=True, slots=True)
class DocumentSigner:
    """A commission's key and chain, ready to sign (build with :func:`build_signer`)."""

    kid: str
    subject: str
    reason: str
    location: str
    contact: str
    chain: tuple[x509.Certificate, ...]
    cms_signer: signers.SimpleSigner = field(repr=False)
    timestamper: TimeStamper | None = field(default=None, repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def build_signer(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    kid: str,
    reason: str,
    location: str,
    contact: str,
    tsa_url: str | None = None,
    timestamper: TimeStamper | None = None,
) -> DocumentSigner:
    """A signer for ``key`` whose certificate is ``chain[0]`` (issuers after it).

    ``tsa_url`` (or an explicit ``timestamper``) makes signatures PAdES B-T.
    """
    if not chain:
        raise ValueError("a document signer needs its certificate")
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    asn1_chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain
    ]
    cms_signer = signers.SimpleSigner(
        signing_cert=asn1_chain[0],
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs(asn1_chain),
    )
    if timestamper is None and tsa_url:
        timestamper = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_S)
    return DocumentSigner(
        kid=kid,
        subject=chain[0].subject.rfc4514_string(),
        reason=reason,
        location=location,
        contact=contact,
        chain=tuple(chain),
        cms_signer=cms_signer,
        timestamper=timestamper,
    )


class _MetadataKeepingWriter(IncrementalPdfFileWriter):
    """An incremental writer that leaves the document's Info dictionary and XMP alone.

    pyHanko's ``_update_meta`` (internal, overriding it is the way its maintainer
    gives to turn the update off) would make Info and XMP disagree on the producer;
    ``tests/documents/test_pdfa.py`` fails if a pyHanko upgrade writes them again.
    """

    def _update_meta(self) -> None:
        return None


class _Pdf17Signer(signers.PdfSigner):
    """A PAdES signer that keeps the document PDF 1.7 (no ISO 32002, no ``/Version 2.0``)."""

    def register_extensions(self, pdf_out: BasePdfFileWriter, *, md_algorithm: str) -> None:
        pdf_out.ensure_output_version(version=(1, 7))
        if pdf_out.output_version < (2, 0):
            pdf_out.register_extension(constants.ESIC_EXTENSION_1)


def sign_pdf(pdf: bytes, signer: DocumentSigner) -> bytes:
    """``pdf`` with ``signer``'s PAdES signature covering all of it (CPU-bound).

    Raises :class:`SigningError` for input that is not a signable PDF, and
    for a timestamp authority that does not answer (the PDF is never
    returned unsigned or without the timestamp it was configured to carry).
    """
    if not pdf.startswith(b"%PDF-"):
        raise SigningError("not a PDF (it does not start with %PDF-)")
    try:
        writer = _MetadataKeepingWriter(BytesIO(pdf), strict=False)
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        raise SigningError(f"the PDF does not parse: {exc}") from exc
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=signer.reason or None,
        location=signer.location or None,
        contact_info=signer.contact or None,
        embed_validation_info=False,
        use_pades_lta=False,
    )
    pdf_signer = _Pdf17Signer(metadata, signer=signer.cms_signer, timestamper=signer.timestamper)
    try:
        out = pdf_signer.sign_pdf(writer, in_place=False)
    except (PdfError, SigningError) as exc:
        raise SigningError(f"the PDF cannot be signed: {exc}") from exc
    except Exception as exc:
        if signer.timestamper is not None and _is_timestamp_failure(exc):
            raise SigningError(f"the timestamp authority failed: {exc}") from exc
        raise
    assert isinstance(out, BytesIO)
    return out.getvalue()


def _is_timestamp_failure(exc: BaseException) -> bool:
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimestampRequestError | OSError | TimeoutError):
            return True
        name = type(seen).__module__
        if name.startswith("aiohttp"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def sign_pdf_async(pdf: bytes, signer: DocumentSigner) -> bytes:
    """:func:`sign_pdf` in a worker thread (the event loop keeps serving)."""
    return await anyio.to_thread.run_sync(sign_pdf, pdf, signer)
