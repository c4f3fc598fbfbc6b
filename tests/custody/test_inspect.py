"""Upload inspection: types from bytes, names that agree with them, archives without bombs.

Every fixture is built here, in ``tmp_path``: no binary files in the repository.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbitral.custody.inspect import (
    ArchiveLimits,
    Detected,
    InspectionError,
    check_filename,
    inspect_file,
    inspect_stream,
    sniff,
)

MiB = 1024 * 1024

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OLE = "application/x-ole-storage"
# What a rule set typically allows (a subset of arbitral.rules.model.MEDIA_TYPES).
ALLOWED = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/heic",
        DOCX,
        XLSX,
        "application/vnd.oasis.opendocument.text",
        OLE,
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "text/plain",
        "text/csv",
        "message/rfc822",
        "audio/mpeg",
        "audio/mp4",
        "audio/wav",
        "audio/amr",
        "audio/ogg",
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
    }
)


# --- fixture builders ---------------------------------------------------------------------------


def make_pdf(version: bytes = b"1.7", *, eof: bool = True) -> bytes:
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for body in (
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    ):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (len(offsets), body)
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n" % xref
    if eof:
        out += b"%%EOF\n"
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(width: int = 2, height: int = 3) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(120)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00"


def make_zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], **options: int) -> bytes:
    buffer = io.BytesIO()
    with (
        warnings.catch_warnings(),
        zipfile.ZipFile(buffer, "w", compression=options.get("compression", 8)) as archive,
    ):
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def make_docx(extra: Iterable[tuple[str, bytes]] = ()) -> bytes:
    return make_zip(
        [
            ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
            ("_rels/.rels", b'<?xml version="1.0"?><Relationships/>'),
            ("word/document.xml", b'<?xml version="1.0"?><w:document/>'),
            *extra,
        ]
    )


def make_wav() -> bytes:
    data = bytes(800)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def make_mp4(brand: bytes, handlers: Iterable[bytes], *, moov: bool = True) -> bytes:
    ftyp = box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"isomiso2mp41")
    tracks = b"".join(
        box(b"trak", box(b"mdia", box(b"hdlr", bytes(8) + handler + bytes(13))))
        for handler in handlers
    )
    movie = box(b"moov", box(b"mvhd", bytes(100)) + tracks) if moov else b""
    return ftyp + movie + box(b"mdat", bytes(256))


FREE, END_OF_CHAIN, FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def make_ole(streams: Iterable[str], root_class: bytes = bytes(16)) -> bytes:
    """A minimal OLE2 compound file (512-byte sectors): sector 0 the FAT, sector 1 the
    directory (root entry and up to three empty streams)."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, END_OF_CHAIN, 0, END_OF_CHAIN, 0)
    struct.pack_into("<109I", header, 76, 0, *([FREE] * 108))
    fat = struct.pack("<128I", FAT_SECTOR, END_OF_CHAIN, *([FREE] * 126))

    def entry(name: str, kind: int, clsid: bytes = bytes(16)) -> bytes:
        data = bytearray(128)
        encoded = name.encode("utf-16-le")
        data[: len(encoded)] = encoded
        struct.pack_into("<HBB", data, 64, len(encoded) + 2, kind, 1)
        struct.pack_into("<III", data, 68, FREE, FREE, FREE)
        data[80:96] = clsid
        struct.pack_into("<II", data, 116, END_OF_CHAIN, 0)
        return bytes(data)

    names = list(streams)
    assert len(names) <= 3
    directory = entry("Root Entry", 5, root_class) + b"".join(entry(n, 2) for n in names)
    directory += bytes(512 - len(directory))
    return bytes(header) + fat + directory


# --- helpers ------------------------------------------------------------------------------------


def inspect_bytes(
    tmp_path: Path,
    name: str,
    data: bytes,
    *,
    allowed: Iterable[str] = ALLOWED,
    limits: ArchiveLimits | None = None,
) -> Detected:
    """What :func:`inspect_file` says of ``data``, after checking that :func:`inspect_stream`
    says exactly the same (the same type and details, or the same refusal) when the bytes
    come in odd-sized chunks: every test of this module checks both ways of inspecting."""
    path = tmp_path / "spool.bin"
    path.write_bytes(data)
    options: dict[str, Any] = {"allowed": frozenset(allowed), "limits": limits or LIMITS}
    try:
        detected = inspect_file(path, filename=name, **options)
    except InspectionError as refusal:
        _refused_alike(refusal, data, name, tmp_path, options)
        raise
    assert inspect_stream(_odd_chunks(data), filename=name, spool_dir=tmp_path, **options) == (
        detected
    )
    assert [p.name for p in tmp_path.iterdir()] == ["spool.bin"]  # nothing left spooled
    return detected


def _refused_alike(
    refusal: InspectionError, data: bytes, name: str, tmp_path: Path, options: dict[str, Any]
) -> None:
    with pytest.raises(InspectionError) as caught:
        inspect_stream(_odd_chunks(data), filename=name, spool_dir=tmp_path, **options)
    assert caught.value.rule == refusal.rule
    if "within bytes" not in refusal.message:  # which chunk it was found in: chunking's
        assert caught.value.message == refusal.message


def _odd_chunks(data: bytes, size: int = 7001) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def refused(tmp_path: Path, name: str, data: bytes, rule: str, **options: object) -> str:
    with pytest.raises(InspectionError) as caught:
        inspect_bytes(tmp_path, name, data, **options)  # type: ignore[arg-type]
    assert caught.value.rule == rule, caught.value.message
    assert caught.value.field == "file"
    return caught.value.message


LIMITS = ArchiveLimits()


# --- file names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "借款合同（扫描件）.pdf",
        "聊天记录 2024-03-01.png",
        "report.PDF",
        "a.b.c.txt",
        "合同",
        "emoji 👨\u200d👩\u200d👧.jpg",
    ],
)
def test_good_names_pass(name: str) -> None:
    assert check_filename(name) == name


def test_names_are_nfc_normalised_and_stripped() -> None:
    assert check_filename("  Cafe\u0301.pdf\u3000") == "Café.pdf"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("../a.pdf", "path separator"),
        ("a/b.pdf", "path separator"),
        ("a\\b.pdf", "path separator"),
        ("..", "'..'"),
        (".", "'.'"),
        ("a\x00.pdf", "control"),
        ("a\nb.pdf", "control"),
        ("a\x7f.pdf", "control"),
        ("invoice\u202efdp.exe", "RIGHT-TO-LEFT OVERRIDE"),
        ("a\ufeff.pdf", "invisible"),
        ("CON.pdf", "device"),
        ("con", "device"),
        ("nul.tar.gz", "device"),
        ("COM1.txt", "device"),
        ("LPT9", "device"),
        (".htaccess", "dot"),
        ("report.pdf.", "dot"),
        ("a:b.pdf", "Windows"),
        ("what?.pdf", "Windows"),
        ("x" * 252 + ".pdf", "255 bytes"),
        ("合" * 85 + ".pdf", "255 bytes"),
    ],
)
def test_bad_names_are_refused(name: str, says: str) -> None:
    with pytest.raises(InspectionError) as caught:
        check_filename(name)
    assert caught.value.rule == "filename"
    assert says in caught.value.message
    assert caught.value.message.startswith("the file name ")


def test_a_name_of_exactly_255_bytes_passes() -> None:
    name = "合" * 83 + "ab.pdf"
    assert len(name.encode()) == 255
    assert check_filename(name) == name


def test_inspect_file_checks_the_name_too(tmp_path: Path) -> None:
    refused(tmp_path, "../x.pdf", make_pdf(), "filename")


def test_non_text_name_is_refused() -> None:
    with pytest.raises(InspectionError):
        check_filename(b"a.pdf")  # type: ignore[arg-type]


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "media_type", "kind"),
    [
        (make_pdf(), "application/pdf", "pdf"),
        (make_png(), "image/png", "image"),
        (JPEG, "image/jpeg", "image"),
        (b"GIF89a\x01\x00\x01\x00" + bytes(20), "image/gif", "image"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20), "image/webp", "image"),
        (b"II*\x00\x08\x00\x00\x00" + bytes(20), "image/tiff", "image"),
        (b"MM\x00*\x00\x00\x00\x08" + bytes(20), "image/tiff", "image"),
        (
            b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<I", 40) + bytes(40),
            "image/bmp",
            "image",
        ),
        (box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic"), "image/heic", "image"),
        (box(b"ftyp", b"mif1\x00\x00\x00\x00mif1heic"), "image/heic", "image"),
        (box(b"ftyp", b"M4A \x00\x00\x00\x00M4A isom"), "audio/mp4", "audio"),
        (box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2"), "video/mp4", "video"),
        (box(b"ftyp", b"qt  \x00\x00\x00\x00qt  "), "video/quicktime", "video"),
        (box(b"ftyp", b"3gp4\x00\x00\x00\x00isom3gp4"), "video/3gpp", "video"),
        (make_ole(["WordDocument"]), OLE, "office"),
        (make_zip([("a.txt", b"hello")]), "application/zip", "archive"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24), "application/x-7z-compressed", "archive"),
        (b"Rar!\x1a\x07\x00" + bytes(20), "application/vnd.rar", "archive"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(20), "application/vnd.rar", "archive"),
        (gzip.compress(b"hello"), "application/gzip", "archive"),
        (bz2.compress(b"hello"), "application/x-bzip2", "archive"),
        (lzma.compress(b"hello"), "application/x-xz", "archive"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(20), "audio/mpeg", "audio"),
        (b"\xff\xfb\x90\x64" + bytes(413) + b"\xff\xfb\x90\x64" + bytes(20), "audio/mpeg", "audio"),
        (b"#!AMR\n\x3c" + bytes(31), "audio/amr", "audio"),
        (b"#!AMR-WB\n" + bytes(20), "audio/amr-wb", "audio"),
        (b"\x02#!SILK_V3" + bytes(20), "audio/x-silk", "audio"),
        (make_wav(), "audio/wav", "audio"),
        (b"OggS\x00\x02" + bytes(22) + b"\x01vorbis", "audio/ogg", "audio"),
        (b"fLaC\x00\x00\x00\x22" + bytes(34), "audio/flac", "audio"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm", "video"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska", "video"),
        (b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(20), "video/x-msvideo", "video"),
        (ELF, "application/x-executable", "executable"),
        (EXE, "application/x-msdownload", "executable"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(9), "application/x-mach-binary", "executable"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(20), "application/java-vm", "executable"),
        (b"#!/bin/sh\nrm -rf /\n", "text/x-shellscript", "executable"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "text/html", "web"),
        (b"  <html>\n<script>alert(1)</script>", "text/html", "web"),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            "image/svg+xml",
            "web",
        ),
        (b"<svg onload=alert(1)>", "image/svg+xml", "web"),
        (b'<?xml version="1.0"?><order id="1"/>', "application/xml", "text"),
        (b"{\\rtf1\\ansi hello}", "application/rtf", "office"),
        (
            b"From: a@example.com\r\nTo: b@example.com\r\nSubject: loan\r\n"
            b"Date: Mon, 1 Jan 2024 10:00:00 +0800\r\n\r\nbody",
            "message/rfc822",
            "text",
        ),
        ("借款人：张三\n金额：10000元\n".encode(), "text/plain", "text"),
        ("借款人：张三\n金额：10000元\n".encode("gb18030"), "text/plain", "text"),
        ("\ufeff微信聊天记录".encode("utf-16"), "text/plain", "text"),
    ],
)
def test_sniff_recognises_types_by_their_bytes(head: bytes, media_type: str, kind: str) -> None:
    found = sniff(head)
    assert found is not None
    assert (found.media_type, found.kind) == (media_type, kind)


@pytest.mark.parametrize(
    "head",
    [b"", bytes(64), b"\x00\x01\x02\x03garbage", b"RIFF\x10\x00\x00\x00XXXX", b"BM not a bitmap"],
)
def test_sniff_returns_none_for_the_unknown(head: bytes) -> None:
    found = sniff(head)
    assert found is None or found.media_type == "text/plain"  # "BM not a bitmap" is text
    if head != b"BM not a bitmap":
        assert found is None


@pytest.mark.parametrize(
    "text",
    [b"ID3 tag notes\n", b"MZ-1 model contract\n", b"G" * 400, b"BM contract\n" + b" " * 40],
)
def test_text_that_starts_like_a_weak_magic_number_is_text(text: bytes) -> None:
    found = sniff(text)
    assert found is not None
    assert found.media_type == "text/plain"


def test_sniff_reads_versions_and_sizes() -> None:
    pdf = sniff(make_pdf(b"2.0"))
    assert pdf is not None
    assert pdf.details["version"] == "2.0"
    png = sniff(make_png(640, 480))
    assert png is not None
    assert (png.details["width"], png.details["height"]) == (640, 480)
    assert png.extension == ".png"
    text = sniff("金额".encode("gb18030"))
    assert text is not None
    assert text.details["encoding"] == "gb18030"


def test_sniff_reads_the_odf_mimetype_entry() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", b"<office:document-content/>")
    found = sniff(buffer.getvalue())
    assert found is not None
    assert found.media_type == "application/vnd.oasis.opendocument.text"


# --- single files -------------------------------------------------------------------------------


def test_a_pdf_is_accepted(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "借款合同（扫描件）.pdf", make_pdf())
    assert found == Detected("application/pdf", "pdf", ".pdf")
    assert found.details["version"] == "1.7"


def test_a_pdf_without_eof_is_corrupt(tmp_path: Path) -> None:
    message = refused(tmp_path, "a.pdf", make_pdf(eof=False), "corrupt")
    assert "%%EOF" in message


def test_a_pdf_with_eof_far_from_the_end_is_corrupt(tmp_path: Path) -> None:
    refused(tmp_path, "a.pdf", make_pdf() + b" " * 2048, "corrupt")


def test_a_pdf_with_an_unknown_version_is_corrupt(tmp_path: Path) -> None:
    message = refused(tmp_path, "a.pdf", make_pdf(b"9.9"), "corrupt")
    assert "version" in message


def test_a_png_is_accepted_and_measured(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "照片.PNG", make_png(4, 5))
    assert (found.media_type, found.extension) == ("image/png", ".png")
    assert found.details == {"width": 4, "height": 5}


def test_a_png_named_pdf_is_a_mismatch(tmp_path: Path) -> None:
    message = refused(tmp_path, "report.pdf", make_png(), "type_mismatch")
    assert message == (
        "the file is named 'report.pdf' but is a PNG image (image/png): its name should end "
        "in '.png'"
    )


def test_a_name_without_extension_takes_the_canonical_one(tmp_path: Path) -> None:
    assert inspect_bytes(tmp_path, "scan", JPEG).extension == ".jpg"


def test_jpeg_extensions_are_one_family(tmp_path: Path) -> None:
    assert inspect_bytes(tmp_path, "a.jpeg", JPEG).media_type == "image/jpeg"


def test_a_type_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "a.png", make_png(), "type_not_allowed", allowed={"application/pdf"}
    )
    assert message == (
        "the file is a PNG image (image/png), which is not accepted as evidence; accepted: .pdf"
    )


@pytest.mark.parametrize(
    ("name", "data", "media_type"),
    [
        ("setup.exe", EXE, "application/x-msdownload"),
        ("合同.pdf", EXE, "application/x-msdownload"),
        ("a.bin", ELF, "application/x-executable"),
        ("run.txt", b"#!/bin/bash\necho hi\n", "text/x-shellscript"),
        ("page.html", b"<!doctype html><p>hi", "text/html"),
        ("notes.txt", b"<html><script>steal()</script></html>", "text/html"),
        ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "image/svg+xml"),
        ("x.js", b"alert(document.cookie)\n", "text/javascript"),
        ("x.bat", b"del /q C:\\*\r\n", "application/x-bat"),
        ("x.ps1", b"Invoke-WebRequest http://x\n", "application/x-powershell"),
        ("x.vbs", b"MsgBox 1\n", "text/vbscript"),
        ("link.url", b"[InternetShortcut]\nURL=file:///C:/x.exe\n", "application/x-mswinurl"),
        ("a.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24), "application/x-7z-compressed"),
        ("a.rar", b"Rar!\x1a\x07\x01\x00" + bytes(24), "application/vnd.rar"),
    ],
)
def test_executables_scripts_and_web_content_are_refused(
    tmp_path: Path, name: str, data: bytes, media_type: str
) -> None:
    message = refused(tmp_path, name, data, "type_not_allowed")
    assert f"({media_type}), which is not accepted as evidence" in message


def test_the_executable_message_says_what_it_is(tmp_path: Path) -> None:
    message = refused(tmp_path, "invoice.exe", EXE, "type_not_allowed")
    assert message.startswith(
        "the file is a Windows executable (application/x-msdownload), which is not accepted"
    )


def test_7z_and_rar_stay_refused_even_when_allowed(tmp_path: Path) -> None:
    seven = b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24)
    message = refused(
        tmp_path,
        "a.7z",
        seven,
        "archive_uninspectable",
        allowed={*ALLOWED, "application/x-7z-compressed"},
    )
    assert "cannot be checked" in message
    refused(
        tmp_path,
        "a.rar",
        b"Rar!\x1a\x07\x00" + bytes(24),
        "archive_uninspectable",
        allowed={*ALLOWED, "application/vnd.rar"},
    )


def test_the_empty_file_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "a.pdf", b"", "empty") == "the file is empty (0 bytes)"


def test_unknown_bytes_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "a.pdf", b"\x00\x01\x02\x03" + bytes(100), "type_unknown")
    assert "00 01 02 03" in message


# --- text ---------------------------------------------------------------------------------------


def test_utf8_text_is_accepted(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "聊天记录.txt", "借款人：张三\r\n\t金额：10000元\n".encode())
    assert (found.media_type, found.kind, found.details["encoding"]) == (
        "text/plain",
        "text",
        "utf-8",
    )


def test_gb18030_csv_is_accepted(tmp_path: Path) -> None:
    data = "姓名,金额\n张三,10000\n李四,2000\n".encode("gb18030")
    found = inspect_bytes(tmp_path, "还款明细.csv", data)
    assert (found.media_type, found.extension, found.details["encoding"]) == (
        "text/csv",
        ".csv",
        "gb18030",
    )


def test_utf16_text_with_a_bom_is_accepted(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "a.txt", "微信聊天记录\r\n".encode("utf-16"))
    assert found.details["encoding"] == "utf-16"


def test_text_that_turns_gb18030_after_the_head_is_still_text(tmp_path: Path) -> None:
    data = b"header line\n" * 2000 + "借款合同\n".encode("gb18030")
    assert inspect_bytes(tmp_path, "a.txt", data).details["encoding"] == "gb18030"


def test_text_that_turns_binary_after_the_head_is_refused(tmp_path: Path) -> None:
    data = b"harmless text\n" * 1000 + ELF
    assert "binary data" in refused(tmp_path, "a.txt", data, "type_unknown")


def test_text_needs_a_text_extension(tmp_path: Path) -> None:
    message = refused(tmp_path, "config.ini", b"[a]\nb=c\n", "type_mismatch")
    assert "plain text (text/plain)" in message
    assert "'.txt'" in message


def test_text_with_control_characters_is_not_text(tmp_path: Path) -> None:
    refused(tmp_path, "a.txt", b"hello\x1b[31mworld\x07", "type_unknown")


def test_mail_is_recognised(tmp_path: Path) -> None:
    mail = (
        b"Received: from mx.example.com\r\nFrom: lender@example.com\r\nTo: x@example.com\r\n"
        b"Subject: =?utf-8?b?5YCf5qy+?=\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n"
    )
    assert inspect_bytes(tmp_path, "notice.eml", mail).media_type == "message/rfc822"
    assert inspect_bytes(tmp_path, "notice", mail).media_type == "message/rfc822"
    assert inspect_bytes(tmp_path, "notice.txt", mail).media_type == "text/plain"
    refused(tmp_path, "notice.eml", b"just some text\n", "type_mismatch")


# --- audio and video ----------------------------------------------------------------------------


def test_amr_and_wav_are_recognised(tmp_path: Path) -> None:
    amr = b"#!AMR\n" + b"\x3c" + bytes(31)
    assert inspect_bytes(tmp_path, "通话录音.amr", amr).media_type == "audio/amr"
    found = inspect_bytes(tmp_path, "录音.wav", make_wav())
    assert (found.media_type, found.kind) == ("audio/wav", "audio")


def test_mp4_tracks_decide_between_audio_and_video(tmp_path: Path) -> None:
    audio = inspect_bytes(tmp_path, "录音.m4a", make_mp4(b"mp42", [b"soun"]))
    assert (audio.media_type, audio.details["tracks"]) == ("audio/mp4", ["soun"])
    video = inspect_bytes(tmp_path, "video.mp4", make_mp4(b"isom", [b"vide", b"soun"]))
    assert video.media_type == "video/mp4"
    movie = inspect_bytes(tmp_path, "IMG_0001.MOV", make_mp4(b"qt  ", [b"vide"]))
    assert movie.media_type == "video/quicktime"


def test_an_unfinished_mp4_is_corrupt(tmp_path: Path) -> None:
    assert "moov" in refused(tmp_path, "a.mp4", make_mp4(b"isom", [b"vide"], moov=False), "corrupt")
    truncated = make_mp4(b"isom", [b"vide"])[:-100]
    assert "truncated" in refused(tmp_path, "a.mp4", truncated, "corrupt")


# --- legacy Office ------------------------------------------------------------------------------


def test_legacy_word_excel_and_powerpoint_are_told_apart(tmp_path: Path) -> None:
    word = inspect_bytes(tmp_path, "合同.doc", make_ole(["WordDocument", "1Table"]))
    assert (word.media_type, word.extension, word.details["application"]) == (OLE, ".doc", "word")
    excel = inspect_bytes(tmp_path, "a.xls", make_ole(["Workbook"]))
    assert excel.extension == ".xls"
    wps = inspect_bytes(tmp_path, "a.wps", make_ole(["WordDocument"]))
    assert wps.extension == ".doc"
    powerpoint = inspect_bytes(tmp_path, "a", make_ole(["PowerPoint Document"]))
    assert powerpoint.extension == ".ppt"
    refused(tmp_path, "a.doc", make_ole(["Workbook"]), "type_mismatch")


def test_other_ole_files_are_refused(tmp_path: Path) -> None:
    msi = make_ole(["x"], root_class=bytes.fromhex("84100c000000000000c0000000000046"))
    assert "installer" in refused(tmp_path, "a.doc", msi, "type_not_allowed")
    refused(tmp_path, "Thumbs.db", make_ole(["Catalog"]), "type_unknown")
    refused(tmp_path, "a.msg", make_ole(["__properties_version1.0"]), "type_not_allowed")


def test_legacy_documents_with_macros_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "a.doc", make_ole(["WordDocument", "Macros"]), "type_not_allowed")
    assert "macros" in message


def test_password_protected_office_files_are_refused(tmp_path: Path) -> None:
    data = make_ole(["EncryptionInfo", "EncryptedPackage"])
    assert "password" in refused(tmp_path, "a.docx", data, "encrypted")


def test_a_damaged_ole_file_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_ole(["WordDocument"]))
    data[48:52] = struct.pack("<I", 500)  # directory sector past the end
    refused(tmp_path, "a.doc", bytes(data), "corrupt")


# --- ZIP-based documents ------------------------------------------------------------------------


def test_a_docx_is_recognised_from_its_directory(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "借款合同.docx", make_docx())
    assert (found.media_type, found.kind, found.extension) == (DOCX, "office", ".docx")
    assert found.details["entries"] == 3


def test_a_docx_named_zip_or_pdf_is_a_mismatch(tmp_path: Path) -> None:
    refused(tmp_path, "a.pdf", make_docx(), "type_mismatch")
    refused(tmp_path, "a.zip", make_docx(), "type_mismatch")


def test_macro_enabled_documents_are_refused(tmp_path: Path) -> None:
    data = make_docx([("word/vbaProject.bin", b"\xd0\xcf\x11\xe0")])
    message = refused(tmp_path, "a.docx", data, "type_not_allowed")
    assert "application/vnd.ms-word.document.macroEnabled.12" in message


def test_an_xlsx_is_an_xlsx(tmp_path: Path) -> None:
    data = make_zip([("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>")])
    assert inspect_bytes(tmp_path, "还款计划.xlsx", data).media_type == XLSX


def test_an_odt_is_recognised(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    found = inspect_bytes(tmp_path, "a.odt", buffer.getvalue())
    assert found.media_type == "application/vnd.oasis.opendocument.text"


def test_office_parts_get_the_bomb_checks(tmp_path: Path) -> None:
    data = make_docx([("word/media/huge.xml", bytes(5 * MiB))])
    assert "expands more than 100:1" in refused(tmp_path, "a.docx", data, "archive_ratio")


# --- ZIP archives -------------------------------------------------------------------------------


def test_a_zip_of_evidence_is_accepted(tmp_path: Path) -> None:
    data = make_zip(
        [
            ("证据/借款合同.pdf", make_pdf()),
            ("证据/转账截图.png", make_png()),
            ("证据/", b""),
            ("说明.txt", "共两份证据".encode()),
            ("借款合同.docx", make_docx()),
        ]
    )
    found = inspect_bytes(tmp_path, "证据.zip", data)
    assert (found.media_type, found.kind) == ("application/zip", "archive")
    assert found.details["entries"] == 4


def test_entries_must_be_allowed_and_named_truly(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "a.zip",
        make_zip([("docs/ok.pdf", make_pdf()), ("docs/run.exe", EXE)]),
        "type_not_allowed",
    )
    assert message.startswith("the entry 'docs/run.exe' of the archive is a Windows executable")
    message = refused(tmp_path, "a.zip", make_zip([("scan.pdf", make_png())]), "type_mismatch")
    assert "'scan.pdf'" in message
    refused(
        tmp_path,
        "a.zip",
        make_zip([("a.png", make_png())]),
        "type_not_allowed",
        allowed={"application/zip", "application/pdf"},
    )


def test_the_error_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(InspectionError) as caught:
        inspect_bytes(tmp_path, "a.zip", make_zip([("dir/x.html", b"<html>")]))
    assert caught.value.entry == ("dir/x.html",)


def test_platform_debris_is_tolerated(tmp_path: Path) -> None:
    data = make_zip(
        [
            ("a.pdf", make_pdf()),
            ("__MACOSX/._a.pdf", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "),
            (".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(20)),
            ("Thumbs.db", make_ole(["Catalog"])),
        ]
    )
    assert inspect_bytes(tmp_path, "a.zip", data).details["entries"] == 4
    # A '._' name is debris only when it holds AppleDouble bytes.
    refused(tmp_path, "a.zip", make_zip([("._evil.exe", EXE)]), "type_not_allowed")


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.data += data
        return len(data)


def test_zips_written_as_streams_or_with_zip64_extras_are_read(tmp_path: Path) -> None:
    stream = _Unseekable()  # sizes after the data (data descriptors), as phones and servers write
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.pdf", make_pdf())
        archive.writestr("说明.txt", "你好".encode())
    assert inspect_bytes(tmp_path, "a.zip", bytes(stream.data)).details["entries"] == 2
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("a.txt", "w", force_zip64=True) as entry,
    ):
        entry.write(b"hello " * 100)
    assert inspect_bytes(tmp_path, "a.zip", buffer.getvalue()).details["uncompressed"] == 600


def test_bzip2_and_lzma_entries_are_decompressed(tmp_path: Path) -> None:
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_STORED):
        data = make_zip([("a.pdf", make_pdf()), ("b.txt", b"text " * 1000)], compression=method)
        assert inspect_bytes(tmp_path, "a.zip", data).details["entries"] == 2


def test_gbk_entry_names_are_read_as_chinese(tmp_path: Path) -> None:
    # Windows' zip writes names in the local code page without the UTF-8 flag. '乗' ends in
    # byte 0x5C in GBK, which is not a backslash there.
    name = "乗车记录.txt".encode("gbk")
    placeholder = b"Q" * (len(name) - 4) + b".txt"
    data = make_zip([(placeholder.decode(), b"hello")]).replace(placeholder, name)
    assert inspect_bytes(tmp_path, "a.zip", data).details["entries"] == 1
    data = make_zip([(placeholder.decode(), make_png())]).replace(placeholder, name)
    assert "is named '乗车记录.txt'" in refused(tmp_path, "a.zip", data, "type_mismatch")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("../../etc/cron.d/x.txt", "'..'"),
        ("docs/../../x.txt", "'..'"),
        ("/etc/passwd.txt", "absolute"),
        ("C:/Windows/x.txt", "drive"),
        ("a\\..\\x.txt", "backslash"),
        ("a\u202etxt.exe", "invisible"),
        ("a\x01.txt", "control"),
    ],
)
def test_unsafe_entry_names_are_refused(tmp_path: Path, entry: str, says: str) -> None:
    message = refused(tmp_path, "a.zip", make_zip([(entry, b"x")]), "archive_path")
    assert says in message


def test_nul_in_an_entry_name_is_refused(tmp_path: Path) -> None:
    data = make_zip([("a.pdfXb.exe", b"x")]).replace(b"a.pdfXb.exe", b"a.pdf\x00b.exe")
    assert "NUL" in refused(tmp_path, "a.zip", data, "archive_path")


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    data = make_zip([("a.txt", b"one"), ("A.TXT", b"two")])
    assert "overwrite" in refused(tmp_path, "a.zip", data, "archive_path")


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link.txt")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    message = refused(tmp_path, "a.zip", make_zip([(link, b"/etc/passwd")]), "archive_path")
    assert "symbolic link" in message


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    # zipfile cannot encrypt: set the "encrypted" flag in both headers, as a tool would.
    data = bytearray(make_zip([("secret.pdf", make_pdf())]))
    data[6] |= 0x1  # local header flags
    data[data.rfind(b"PK\x01\x02") + 8] |= 0x1  # directory entry flags
    data = bytes(data)
    assert "encrypted" in refused(tmp_path, "a.zip", data, "archive_encrypted")


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    data = make_zip([(f"{i}.txt", b"x") for i in range(11)])
    message = refused(
        tmp_path, "a.zip", data, "archive_entries", limits=ArchiveLimits(max_entries=10)
    )
    assert "more than 10 entries" in message
    assert inspect_bytes(tmp_path, "a.zip", data, limits=ArchiveLimits(max_entries=11))


def test_an_empty_zip_is_empty(tmp_path: Path) -> None:
    refused(tmp_path, "a.zip", make_zip([]), "empty")


def test_a_zip_with_a_broken_directory_is_corrupt(tmp_path: Path) -> None:
    data = make_zip([("a.txt", b"hello" * 100)])
    refused(tmp_path, "a.zip", data[:-30], "corrupt")  # end record cut
    directory = data.rfind(b"PK\x01\x02")
    broken = data[:directory] + b"XX" + data[directory + 2 :]
    refused(tmp_path, "a.zip", broken, "corrupt")


def test_a_zip_with_a_forged_local_name_is_corrupt(tmp_path: Path) -> None:
    data = make_zip([("a.txt", b"hello")])
    forged = data.replace(b"a.txt", b"b.exe", 1)  # the local header only
    assert "local header" in refused(tmp_path, "a.zip", forged, "corrupt")


def test_a_damaged_entry_fails_its_crc(tmp_path: Path) -> None:
    data = make_zip([("a.txt", b"hello world " * 10)], compression=zipfile.ZIP_STORED)
    damaged = data.replace(b"hello world", b"HELLO world", 1)
    assert "CRC" in refused(tmp_path, "a.zip", damaged, "corrupt")


def _zeros_zip(path: Path, size: int, name: str = "zeros.txt") -> None:
    """A zip of one deflated entry of ``size`` spaces, written in 1 MiB chunks."""
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w") as entry,
    ):
        for _ in range(size // MiB):
            entry.write(b" " * MiB)


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    _zeros_zip(path, 50 * MiB)
    limits = ArchiveLimits(max_total_uncompressed=10 * MiB)
    with pytest.raises(InspectionError) as caught:
        inspect_file(path, filename="bomb.zip", allowed=ALLOWED, limits=limits)
    assert caught.value.rule == "archive_ratio"
    assert "50 MiB" in caught.value.message
    lenient = ArchiveLimits(max_total_uncompressed=10 * MiB, max_ratio=100_000)
    with pytest.raises(InspectionError) as caught:
        inspect_file(path, filename="bomb.zip", allowed=ALLOWED, limits=lenient)
    assert caught.value.rule == "archive_size"
    assert "10 MiB" in caught.value.message


def _patch_sizes(data: bytes, declared: int) -> bytes:
    """Rewrite the (single) entry's uncompressed size in its local and directory headers."""
    out = bytearray(data)
    struct.pack_into("<I", out, 22, declared)  # local header
    directory = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", out, directory + 24, declared)
    return bytes(out)


def test_a_zip_that_lies_about_its_sizes_is_caught_while_decompressing(tmp_path: Path) -> None:
    path = tmp_path / "liar.zip"
    _zeros_zip(path, 20 * MiB)
    path.write_bytes(_patch_sizes(path.read_bytes(), 1000))
    tracemalloc.start()
    try:
        with pytest.raises(InspectionError) as caught:
            inspect_file(path, filename="liar.zip", allowed=ALLOWED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.rule == "corrupt"
    assert "more than the 1,000 bytes its directory entry declares" in caught.value.message
    assert caught.value.entry == ("zeros.txt",)
    assert peak < 4 * MiB


def test_streaming_a_large_entry_takes_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    _zeros_zip(path, 40 * MiB, "log.txt")
    limits = ArchiveLimits(max_ratio=100_000)
    tracemalloc.start()
    try:
        found = inspect_file(path, filename="big.zip", allowed=ALLOWED, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.details["uncompressed"] == 40 * MiB
    assert peak < 16 * MiB, peak


def test_a_gzip_bomb_is_caught_by_the_running_budget(tmp_path: Path) -> None:
    path = tmp_path / "bomb.txt.gz"
    with gzip.open(path, "wb") as out:
        for _ in range(50):
            out.write(b" " * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(InspectionError) as caught:
            inspect_file(path, filename="bomb.txt.gz", allowed=ALLOWED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.rule == "archive_ratio"
    assert peak < 16 * MiB
    lenient = ArchiveLimits(max_total_uncompressed=10 * MiB, max_ratio=100_000)
    with pytest.raises(InspectionError) as caught:
        inspect_file(path, filename="bomb.txt.gz", allowed=ALLOWED, limits=lenient)
    assert caught.value.rule == "archive_size"


def test_the_budget_spans_nested_levels(tmp_path: Path) -> None:
    inner = gzip.compress(b" " * (6 * MiB))
    data = make_zip([("a.txt.gz", inner), ("b.txt.gz", inner)], compression=0)
    limits = ArchiveLimits(max_total_uncompressed=10 * MiB, max_ratio=100_000)
    refused(tmp_path, "a.zip", data, "archive_size", limits=limits)
    roomy = ArchiveLimits(max_total_uncompressed=20 * MiB, max_ratio=100_000)
    assert inspect_bytes(tmp_path, "a.zip", data, limits=roomy).details["entries"] == 2


def test_nesting_is_limited(tmp_path: Path) -> None:
    level2 = make_zip([("deep.pdf", make_pdf())])
    level1 = make_zip([("inner.zip", level2)])
    outer = make_zip([("middle.zip", level1)])
    assert inspect_bytes(tmp_path, "a.zip", outer).kind == "archive"  # depths 0, 1, 2
    message = refused(tmp_path, "a.zip", outer, "archive_depth", limits=ArchiveLimits(max_depth=1))
    assert "'middle.zip' › 'inner.zip'" in message
    deeper = make_zip([("outer.zip", outer)])
    refused(tmp_path, "a.zip", deeper, "archive_depth")


def test_nested_entries_are_inspected_too(tmp_path: Path) -> None:
    data = make_zip([("inner.zip", make_zip([("x.pdf", EXE)]))])
    with pytest.raises(InspectionError) as caught:
        inspect_bytes(tmp_path, "a.zip", data)
    assert caught.value.rule == "type_not_allowed"
    assert caught.value.entry == ("inner.zip", "x.pdf")


# --- tar and gzip -------------------------------------------------------------------------------


def make_tar(entries: Iterable[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for info, data in entries:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_tar_and_tar_gz_are_walked(tmp_path: Path) -> None:
    entries = [
        (tarfile.TarInfo("证据/a.pdf"), make_pdf()),
        (tarfile.TarInfo("证据/" + "长" * 60 + ".txt"), "长文件名".encode()),
    ]
    found = inspect_bytes(tmp_path, "a.tar", make_tar(entries))
    assert (found.media_type, found.details["entries"]) == ("application/x-tar", 2)
    found = inspect_bytes(tmp_path, "a.tar.gz", make_tar(entries, "w:gz"))
    assert found.media_type == "application/gzip"
    assert (found.details["contains"], found.details["entries"]) == ("application/x-tar", 2)
    found = inspect_bytes(tmp_path, "a.tgz", make_tar(entries, "w:gz"))
    assert found.details["entries"] == 2


def test_tar_members_are_inspected(tmp_path: Path) -> None:
    data = make_tar([(tarfile.TarInfo("./a.pdf"), EXE)], "w:gz")
    assert refused(tmp_path, "a.tar.gz", data, "type_not_allowed").startswith(
        "the entry './a.pdf' of the archive is a Windows executable"
    )


def test_tar_links_and_climbing_names_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("a.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    assert "link" in refused(tmp_path, "a.tar", make_tar([(link, b"")]), "archive_path")
    climbing = make_tar([(tarfile.TarInfo("../x.txt"), b"x")])
    refused(tmp_path, "a.tar", climbing, "archive_path")


def test_a_damaged_tar_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_tar([(tarfile.TarInfo("a.txt"), b"hello")]))
    data[0] = ord("b")  # breaks the header checksum
    refused(tmp_path, "a.tar", bytes(data), "corrupt")
    truncated = make_tar([(tarfile.TarInfo("a.txt"), b"x" * 5000)])[:2048]
    refused(tmp_path, "a.tar", truncated, "corrupt")


def test_many_small_tar_members(tmp_path: Path) -> None:
    entries = [(tarfile.TarInfo(f"d/{i}.txt"), b"%d\n" % i) for i in range(3000)]
    data = make_tar(entries, "w:gz")
    assert inspect_bytes(tmp_path, "a.tar.gz", data).details["entries"] == 3000
    refused(tmp_path, "a.tar.gz", data, "archive_entries", limits=ArchiveLimits(max_entries=2999))


def test_a_tarball_padded_with_zeros_is_still_a_bomb(tmp_path: Path) -> None:
    # tar's own headers and padding do not count against the ratio, but zeros after the
    # end of the archive do.
    path = tmp_path / "a.tar.gz"
    with gzip.open(path, "wb") as out:
        out.write(make_tar([(tarfile.TarInfo("a.txt"), b"hello")]))
        for _ in range(20):
            out.write(bytes(MiB))
    with pytest.raises(InspectionError) as caught:
        inspect_file(path, filename="a.tar.gz", allowed=ALLOWED)
    assert caught.value.rule == "archive_ratio"


def test_xz_and_bzip2_tarballs_when_allowed(tmp_path: Path) -> None:
    entries = [(tarfile.TarInfo("a.txt"), b"hello")]
    refused(tmp_path, "a.tar.xz", make_tar(entries, "w:xz"), "type_not_allowed")
    allowed = ALLOWED | {"application/x-xz", "application/x-bzip2"}
    found = inspect_bytes(tmp_path, "a.tar.xz", make_tar(entries, "w:xz"), allowed=allowed)
    assert found.details["contains"] == "application/x-tar"
    found = inspect_bytes(tmp_path, "a.tbz2", make_tar(entries, "w:bz2"), allowed=allowed)
    assert found.media_type == "application/x-bzip2"


def test_gzip_members_padding_and_junk(tmp_path: Path) -> None:
    joined = gzip.compress(b"one\n") + gzip.compress(b"two\n") + bytes(512)
    assert inspect_bytes(tmp_path, "a.txt.gz", joined).details["uncompressed"] == 8
    assert "after" in refused(tmp_path, "a.gz", gzip.compress(b"a") + b"junk", "corrupt")
    refused(tmp_path, "a.gz", gzip.compress(b""), "empty")


def test_a_single_gzipped_file_is_inspected_under_its_inner_name(tmp_path: Path) -> None:
    found = inspect_bytes(tmp_path, "合同.pdf.gz", gzip.compress(make_pdf()))
    assert (found.media_type, found.details["contains"]) == ("application/gzip", "application/pdf")
    refused(tmp_path, "合同.pdf.gz", gzip.compress(make_png()), "type_mismatch")
    refused(tmp_path, "a.gz", gzip.compress(make_pdf())[:-20], "corrupt")


def test_an_archive_type_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    data = make_zip([("a.pdf", make_pdf())])
    message = refused(tmp_path, "a.zip", data, "type_not_allowed", allowed={"application/pdf"})
    assert "a ZIP archive (application/zip)" in message


def test_the_default_limits_are_the_documented_ones() -> None:
    limits = ArchiveLimits()
    assert (
        limits.max_entries,
        limits.max_total_uncompressed,
        limits.max_ratio,
        limits.max_depth,
    ) == (10_000, 2 * 1024 * MiB, 100, 2)


# --- damaged input is refused, never a crash ----------------------------------------------------


def _seeds() -> dict[str, bytes]:
    return {
        "a.zip": make_zip(
            [
                ("证据/a.pdf", make_pdf()),
                ("b.txt", b"hello " * 50),
                ("c.docx", make_docx()),
                ("d.png.gz", gzip.compress(make_png())),
            ]
        ),
        "lzma.zip": make_zip([("a.txt", b"x" * 5000)], compression=zipfile.ZIP_LZMA),
        "a.tar.gz": make_tar(
            [
                (tarfile.TarInfo("a/" + "长" * 60 + ".txt"), b"x" * 600),
                (tarfile.TarInfo("b.pdf"), make_pdf()),
            ],
            "w:gz",
        ),
        "a.doc": make_ole(["WordDocument", "1Table"]),
        "a.mp4": make_mp4(b"isom", [b"vide", b"soun"]),
        "a.pdf": make_pdf(),
        "a.txt": "借款合同".encode("gb18030") * 50,
    }


SEEDS = _seeds()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=4)),
        min_size=1,
        max_size=6,
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_damaged_files_are_refused_never_crash(
    name: str, edits: list[tuple[float, bytes]], cut: float | None
) -> None:
    data = bytearray(SEEDS[name])
    for at, replacement in edits:
        position = int(at * len(data))
        data[position : position + len(replacement)] = replacement
    if cut is not None:
        del data[int(cut * len(data)) :]
    limits = ArchiveLimits(max_total_uncompressed=64 * MiB)
    with tempfile.TemporaryDirectory() as directory:
        try:
            inspect_bytes(Path(directory), name, bytes(data), limits=limits)
        except InspectionError as exc:
            refusal: InspectionError | None = exc
        else:
            refusal = None
    assert refusal is None or refusal.message
