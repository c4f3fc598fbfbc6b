"""Signed documents stay PDF/A-3b: Info and XMP agree, PDF 1.7, the identification kept.

No PDF/A validator is installed (veraPDF is Java and not in Debian): these tests check
what signing changes, the rules of ISO 19005-3 it could break (6.6.2.3.1, Info entries
equivalent to their XMP properties; 6.1.2, a PDF 1.x file; 6.6.4, the pdfaid schema),
against the rendered file as the baseline. With ``verapdf`` on the PATH the opt-in test
runs the full validation of a signed award.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from arbitral.documents.render import render_pdf
from arbitral.documents.samples import sample
from arbitral.documents.signing import DocumentSigner, build_signer, sign_pdf
from tests.conftest import REPO_ROOT
from tests.documents.conftest import pdfsig

TEMPLATES = REPO_ROOT / "templates"
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
}
# Info entries and the XMP property each must equal (ISO 19005-3, 6.6.2.3.1, table 1).
SIMPLE = {"/Producer": ("pdf", "Producer"), "/Keywords": ("pdf", "Keywords")}
DATES = {"/CreationDate": ("xmp", "CreateDate"), "/ModDate": ("xmp", "ModifyDate")}
ALT = {"/Title": ("dc", "title"), "/Subject": ("dc", "description")}


def _signer(algorithm: str) -> DocumentSigner:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ecdsa"
        else rsa.generate_private_key(65537, 2048)
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "广州仲裁委员会")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .sign(key, hashes.SHA256())
    )
    return build_signer(
        key, [cert], kid="test", reason="广州仲裁委员会 签发", location="广州", contact="gz"
    )


def _xmp_values(packet: bytes) -> dict[tuple[str, str], str]:
    """Every simple or x-default property of the packet, whether attribute or element."""
    root = ET.fromstring(packet[packet.index(b"<x:xmpmeta") : packet.rindex(b"</x:xmpmeta>") + 12])
    prefixes = {uri: prefix for prefix, uri in NS.items()}
    values: dict[tuple[str, str], str] = {}

    def key(tag: str) -> tuple[str, str] | None:
        uri, _, local = tag[1:].partition("}")
        return (prefixes[uri], local) if uri in prefixes else None

    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        for attribute, value in description.attrib.items():
            if (k := key(attribute)) is not None and k[0] != "rdf":
                values[k] = value
        for child in description:
            k = key(child.tag)
            if k is None:
                continue
            items = list(child.iter(f"{{{NS['rdf']}}}li"))
            values[k] = (items[0].text or "") if items else (child.text or "")
    return values


def _info_and_xmp(pdf: bytes) -> tuple[dict[str, object], dict[tuple[str, str], str], object]:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    info = reader.trailer_view["/Info"]
    assert isinstance(info, generic.DictionaryObject)
    metadata = reader.root["/Metadata"]
    assert isinstance(metadata, generic.StreamObject)
    return dict(info), _xmp_values(metadata.data), reader.root


def _check_pdfa(pdf: bytes) -> dict[tuple[str, str], str]:
    """What signing could break, checked on ``pdf``; its XMP values for more checks."""
    info, xmp, root = _info_and_xmp(pdf)
    assert xmp[("pdfaid", "part")] == "3"
    assert xmp[("pdfaid", "conformance")] == "B"
    for entry, prop in {**SIMPLE, **ALT}.items():
        if entry in info:
            assert str(info[entry]) == xmp.get(prop), f"Info {entry} is not XMP {prop}"
    for entry, prop in DATES.items():
        if entry in info:
            value = info[entry]
            assert isinstance(value, generic.TextStringObject)
            assert prop in xmp, f"Info {entry} without XMP {prop}"
            assert generic.parse_pdf_date(str(value)) == datetime.fromisoformat(xmp[prop])
    assert "/Creator" not in info or str(info["/Creator"]) == xmp.get(("xmp", "CreatorTool"))
    # PDF/A-3 is PDF 1.7: a 1.x header and no catalog /Version raising it to 2.0.
    assert pdf.startswith(b"%PDF-1.")
    assert isinstance(root, generic.DictionaryObject)
    assert str(root.get("/Version", "/1.7")) <= "/1.7"
    return xmp


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_a_signed_award_keeps_its_pdfa_identification_and_metadata(
    algorithm: str, tmp_path: Path
) -> None:
    rendered = render_pdf(sample("award"), TEMPLATES)
    before = _check_pdfa(rendered)
    signed = sign_pdf(rendered, _signer(algorithm))
    assert signed.startswith(rendered)  # an incremental update: the rendered bytes kept

    after = _check_pdfa(signed)
    info, _, root = _info_and_xmp(signed)
    assert str(info["/Producer"]) == after[("pdf", "Producer")]
    assert after == before  # the XMP is the one WeasyPrint wrote, untouched
    assert str(info["/Producer"]).startswith("WeasyPrint")

    # Only PAdES's PDF 1.7 extension (ESIC); ISO/TS 32002 would need PDF 2.0.
    assert isinstance(root, generic.DictionaryObject)
    extensions = root.get("/Extensions")
    assert isinstance(extensions, generic.DictionaryObject)
    assert set(extensions.keys()) == {"/ESIC"}
    assert str(extensions["/ESIC"]["/BaseVersion"]) == "/1.7"

    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    report = pdfsig(path)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report, report
    info_text = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^PDF version:\s+1\.7$", info_text, re.M), info_text


@pytest.mark.parametrize("kind", ["consent_award", "mediation_statement"])
def test_english_documents_signed_stay_pdfa_too(kind: str) -> None:
    signed = sign_pdf(render_pdf(sample(kind, "en"), TEMPLATES), _signer("ecdsa"))  # type: ignore[arg-type]
    _check_pdfa(signed)


def test_the_checks_catch_what_pyhankos_own_metadata_update_did(tmp_path: Path) -> None:
    """The check above fails on the file pyHanko writes when it updates the metadata."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    rendered = render_pdf(sample("award"), TEMPLATES)
    signer = _signer("ecdsa")
    writer = IncrementalPdfFileWriter(BytesIO(rendered), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name="Other", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = signers.PdfSigner(meta, signer=signer.cms_signer).sign_pdf(writer, in_place=False)
    assert isinstance(out, BytesIO)
    with pytest.raises(AssertionError, match=r"Producer|Version"):
        _check_pdfa(out.getvalue())


@pytest.mark.skipif(shutil.which("verapdf") is None, reason="veraPDF is not installed")
def test_verapdf_finds_a_signed_award_pdfa_3b_compliant(tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(sign_pdf(render_pdf(sample("award"), TEMPLATES), _signer("ecdsa")))
    done = subprocess.run(
        ["verapdf", "--flavour", "3b", "--format", "text", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.startswith("PASS"), done.stdout + done.stderr
