"""Verify a signed PDF offline against a commission's trust anchors (pyHanko).

A document is *genuine* when

* it holds at least one signature, and every signature is intact (the bytes
  it signs hash to the signed digest) and cryptographically valid;
* every signer's certificate chains to one of the anchors (the commission's
  CA certificates, from ``/t/{slug}/documents/ca.pem`` or ``arbitral keys
  document-ca``), with key usage digitalSignature or nonRepudiation;
* the last signature covers the whole file: no byte after it, so nothing was
  appended; earlier signatures may only be followed by validation data
  (DSS, document timestamps), never by changes to content;
* a signature timestamp, if there is one, is intact (an untrusted TSA is
  reported, it does not make the document false: the commission's signature
  is what makes it genuine).

Nothing is fetched: no CRL, no OCSP, no AIA (``allow_fetching=False``).

:func:`verify_pdf` returns a :class:`Verification`, with why it is not genuine
(``reason``), the signer's subject, the signing time and the metadata the
document carries (Info dictionary and XMP properties, read generically). The
metadata are what the file *claims*: trust them only when ``genuine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any, Final, Literal

import anyio
import anyio.to_thread
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

Reason = Literal[
    "unreadable",  # not a PDF, or one that does not parse
    "unsigned",  # no signature
    "altered",  # a signed byte changed, or a signature or timestamp does not verify
    "unknown_signer",  # intact, but the signer does not chain to the anchors
    "not_whole_document",  # bytes or content added after the last signature
]

TimestampState = Literal["absent", "valid", "untrusted", "invalid"]

REASON_TEXT: Final[dict[str, str]] = {
    "unreadable": "not a readable PDF",
    "unsigned": "the PDF carries no signature",
    "altered": "the document was altered after it was signed (a signature does not verify)",
    "unknown_signer": "the signature is intact but not by a signer of this commission",
    "not_whole_document": "something was added after the signature (it does not cover all)",
}

_NAMES_OF_CASE_NUMBER = ("arbitralcasenumber", "casenumber", "caseno", "case")
_NAMES_OF_CODE = ("arbitralverificationcode", "verificationcode", "verifycode", "verification")


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify_pdf` found."""

    genuine: bool
    reason: Reason | None
    detail: str
    signatures: int = 0
    signer_subject: str | None = None
    signer_fingerprint_sha256: str | None = None
    signed_at: datetime | None = None
    timestamp: TimestampState = "absent"
    timestamp_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def case_number(self) -> str | None:
        """The case number the document's metadata name (whatever the key's spelling)."""
        return _find(self.metadata, _NAMES_OF_CASE_NUMBER)

    @property
    def verification_code(self) -> str | None:
        return _find(self.metadata, _NAMES_OF_CODE)

    def as_dict(self) -> dict[str, Any]:
        return {
            "genuine": self.genuine,
            "reason": self.reason,
            "detail": self.detail,
            "signatures": self.signatures,
            "signer_subject": self.signer_subject,
            "signer_fingerprint_sha256": self.signer_fingerprint_sha256,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamp": self.timestamp,
            "timestamp_at": self.timestamp_at.isoformat() if self.timestamp_at else None,
            "case_number": self.case_number,
            "verification_code": self.verification_code,
            "metadata": dict(self.metadata),
        }


def _find(metadata: dict[str, str], names: Sequence[str]) -> str | None:
    normalised = {_normalise(key): value for key, value in metadata.items()}
    for name in names:
        if name in normalised:
            return normalised[name]
    return None


def _normalise(key: str) -> str:
    local = key.rsplit(":", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", local.lower())


def verify_pdf(
    pdf: bytes,
    anchors: Iterable[x509.Certificate],
    *,
    tsa_anchors: Iterable[x509.Certificate] = (),
    moment: datetime | None = None,
) -> Verification:
    """Verify ``pdf`` against the commission's ``anchors`` (CPU-bound; no network).

    ``moment``: when the certificates must have been valid (default: now, or the
    signature's trusted timestamp). The commission's record of when it signed a
    document it issued is such a moment: its certificate may have expired since.

    Not from a running event loop (pyHanko's validation is a coroutine run
    here): there, await :func:`verify_pdf_async`.
    """
    return asyncio.run(_verify(pdf, list(anchors), list(tsa_anchors), moment))


async def verify_pdf_async(
    pdf: bytes,
    anchors: Iterable[x509.Certificate],
    *,
    tsa_anchors: Iterable[x509.Certificate] = (),
) -> Verification:
    """:func:`verify_pdf` in a worker thread (the event loop keeps serving)."""
    return await anyio.to_thread.run_sync(
        functools.partial(verify_pdf, pdf, list(anchors), tsa_anchors=list(tsa_anchors))
    )


# Checking a file from anyone (the public verification): in a process of its own, with
# bounded memory and time, since a PDF can hold streams that decompress a thousandfold.
ISOLATED_MEMORY: Final = 1 << 30
ISOLATED_SECONDS: Final = 30.0
ISOLATED_AT_ONCE: Final = 2
_isolated_limiter: anyio.CapacityLimiter | None = None


def _isolated_child(
    connection: Any, pdf: bytes, anchors: list[bytes], memory: int, moment: datetime | None
) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        certificates = [x509.load_der_x509_certificate(der) for der in anchors]
        result = verify_pdf(pdf, certificates, moment=moment)
    except BaseException as exc:  # MemoryError above all: the verdict is "unreadable"
        result = Verification(False, "unreadable", f"{REASON_TEXT['unreadable']}: {exc!r}")
    connection.send(result)
    connection.close()


def _verify_isolated(pdf: bytes, anchors: list[bytes], moment: datetime | None) -> Verification:
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(
        target=_isolated_child,
        args=(sending, pdf, anchors, ISOLATED_MEMORY, moment),
        daemon=True,
    )
    process.start()
    sending.close()
    try:
        if receiving.poll(ISOLATED_SECONDS):
            with contextlib.suppress(EOFError):
                found: Verification = receiving.recv()
                return found
        return Verification(
            False,
            "unreadable",
            f"{REASON_TEXT['unreadable']}: it could not be read within "
            f"{ISOLATED_MEMORY >> 20} MiB and {ISOLATED_SECONDS:.0f} s",
        )
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiving.close()


async def verify_pdf_isolated(
    pdf: bytes, anchors: Iterable[x509.Certificate], *, moment: datetime | None = None
) -> Verification:
    """:func:`verify_pdf` for a file from anyone: in its own process, memory and time bounded
    (a decompression bomb is "unreadable", not the server's memory), two at a time."""
    global _isolated_limiter
    if _isolated_limiter is None:
        _isolated_limiter = anyio.CapacityLimiter(ISOLATED_AT_ONCE)
    ders = [c.public_bytes(serialization.Encoding.DER) for c in anchors]
    async with _isolated_limiter:
        return await anyio.to_thread.run_sync(_verify_isolated, pdf, ders, moment)


async def _verify(
    pdf: bytes,
    anchors: list[x509.Certificate],
    tsa_anchors: list[x509.Certificate],
    moment: datetime | None = None,
) -> Verification:
    roots = [_asn1(c) for c in anchors]
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        metadata = read_metadata(reader)
        signatures = reader.embedded_signatures
    except Exception as exc:  # a malformed file is a verdict, never a crash
        return Verification(False, "unreadable", f"{REASON_TEXT['unreadable']}: {exc!r}")
    if not signatures:
        return Verification(False, "unsigned", REASON_TEXT["unsigned"], metadata=metadata)

    def context(extra: Sequence[asn1_x509.Certificate] = ()) -> ValidationContext:
        return ValidationContext(
            trust_roots=[*roots, *extra],
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=moment,
        )

    ts_roots = [_asn1(c) for c in tsa_anchors]
    usage = KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
    )
    found = Verification(False, None, "", signatures=len(signatures), metadata=metadata)
    last = len(signatures) - 1
    for index, embedded in enumerate(signatures):
        is_doc_timestamp = embedded.sig_object_type == "/DocTimeStamp"
        try:
            if is_doc_timestamp:
                status: Any = await async_validate_pdf_timestamp(
                    embedded, validation_context=context(ts_roots)
                )
            else:
                status = await async_validate_pdf_signature(
                    embedded,
                    signer_validation_context=context(),
                    ts_validation_context=context(ts_roots),
                    key_usage_settings=usage,
                )
        except Exception as exc:  # a malformed signature is not a genuine one
            return _not(found, "altered", f"signature {index + 1}: {exc!r}")
        if not (status.intact and status.valid):
            return _not(found, "altered", f"signature {index + 1} does not verify")
        if not is_doc_timestamp and not status.trusted:
            return _not(
                found,
                "unknown_signer",
                f"signature {index + 1} is by {status.signing_cert.subject.human_friendly}, "
                "whose certificate does not chain to this commission's CA",
            )
        if index == last:
            if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
                return _not(found, "not_whole_document", _coverage_detail(status.coverage))
        elif status.modification_level not in (
            ModificationLevel.NONE,
            ModificationLevel.LTA_UPDATES,
        ):
            return _not(
                found,
                "not_whole_document",
                f"content was changed after signature {index + 1} "
                f"({status.modification_level.name.lower()})",
            )
        if is_doc_timestamp:
            continue
        found = _signer_of(found, status)
        if found.timestamp == "invalid":
            return _not(found, "altered", "the signature's timestamp does not verify")
    return _genuine(found)


def _signer_of(found: Verification, status: Any) -> Verification:
    from arbitral.keys.x509 import fingerprint

    certificate = x509.load_der_x509_certificate(status.signing_cert.dump())
    timestamp: TimestampState = "absent"
    timestamp_at = None
    tst = status.timestamp_validity
    if tst is not None:
        timestamp_at = tst.timestamp
        if not (tst.intact and tst.valid):
            timestamp = "invalid"
        elif tst.trusted:
            timestamp = "valid"
        else:
            timestamp = "untrusted"
    return Verification(
        genuine=False,
        reason=None,
        detail="",
        signatures=found.signatures,
        signer_subject=certificate.subject.rfc4514_string(),
        signer_fingerprint_sha256=fingerprint(certificate),
        signed_at=timestamp_at if timestamp == "valid" else status.signer_reported_dt,
        timestamp=timestamp,
        timestamp_at=timestamp_at,
        metadata=found.metadata,
    )


def _genuine(found: Verification) -> Verification:
    return Verification(
        genuine=True,
        reason=None,
        detail=f"genuine: signed by {found.signer_subject}, unaltered",
        signatures=found.signatures,
        signer_subject=found.signer_subject,
        signer_fingerprint_sha256=found.signer_fingerprint_sha256,
        signed_at=found.signed_at,
        timestamp=found.timestamp,
        timestamp_at=found.timestamp_at,
        metadata=found.metadata,
    )


def _not(found: Verification, reason: Reason, detail: str) -> Verification:
    return Verification(
        genuine=False,
        reason=reason,
        detail=f"{REASON_TEXT[reason]}: {detail}",
        signatures=found.signatures,
        signer_subject=found.signer_subject,
        signer_fingerprint_sha256=found.signer_fingerprint_sha256,
        signed_at=found.signed_at,
        timestamp=found.timestamp,
        timestamp_at=found.timestamp_at,
        metadata=found.metadata,
    )


def _coverage_detail(coverage: SignatureCoverageLevel) -> str:
    if coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        return "the file continues after the last signed revision"
    return f"the last signature covers only part of the file ({coverage.name.lower()})"


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# -- metadata -----------------------------------------------------------------------


def read_metadata(reader: PdfFileReader) -> dict[str, str]:
    """The document's Info entries (``Title``, custom keys) and XMP simple properties.

    Info keys lose their slash; XMP properties are ``prefix:name`` by the
    namespace prefix the packet declares (or the namespace URI in braces).
    """
    found: dict[str, str] = {}
    info = None
    if "/Info" in reader.trailer:  # a TrailerDictionary has no .get
        info = reader.trailer["/Info"]
    if info is not None:
        info = info.get_object()
        if isinstance(info, generic.DictionaryObject):
            for key, value in info.items():
                text = _text(value.get_object() if hasattr(value, "get_object") else value)
                if text is not None:
                    found[str(key).lstrip("/")] = text
    stream = reader.root.get("/Metadata")
    if stream is not None:
        stream = stream.get_object()
        if isinstance(stream, generic.StreamObject):
            found.update(_xmp_properties(stream.data))
    return found


def _text(value: object) -> str | None:
    if isinstance(value, generic.TextStringObject | str):
        return str(value)
    if isinstance(value, generic.ByteStringObject | bytes):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, generic.NameObject):
        return str(value).lstrip("/")
    if isinstance(value, int | float):
        return str(value)
    return None


_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _xmp_properties(packet: bytes) -> dict[str, str]:
    """Simple XMP properties (element text or rdf:Description attributes); arrays joined."""
    prefixes = {
        uri.decode("utf-8", "replace"): prefix.decode("utf-8", "replace")
        for prefix, uri in re.findall(rb'xmlns:([A-Za-z0-9_.-]+)\s*=\s*"([^"]*)"', packet)
    }
    try:
        # Python's expat (2.4.1+) refuses entity expansion attacks; no external entities.
        root = ET.fromstring(packet)  # noqa: S314
    except ET.ParseError:
        return {}

    def name(tag: str) -> str:
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            return f"{prefixes.get(uri, '{' + uri + '}')}:{local}"
        return tag

    found: dict[str, str] = {}
    for description in root.iter(f"{{{_RDF}}}Description"):
        for attribute, value in description.attrib.items():
            if not attribute.startswith(f"{{{_RDF}}}"):
                found[name(attribute)] = value
        for child in description:
            items = [li.text or "" for li in child.iter(f"{{{_RDF}}}li")]
            text = "; ".join(items) if items else (child.text or "").strip()
            if text:
                found[name(child.tag)] = text
    return found
