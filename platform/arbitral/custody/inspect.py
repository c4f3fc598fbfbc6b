"""What an uploaded file really is, decided from its bytes; dangerous or disallowed files refused.

The upload pipeline spools an upload to a temporary file, then calls :func:`inspect_file`
on it before storing it. Nothing here trusts the name the party gave: the type comes from
the bytes (magic numbers, container directories), and the name's extension must agree with
it. Everything is pure apart from reading the given file (and, for archives, a bounded
spool of one nested container at a time); memory stays bounded whatever the file's size:
headers are read, the ends of files are reached by seeking, and content is streamed in
64 KiB chunks.

Decisions:

- **Allow-list.** ``allowed`` holds media types (the rule set's ``allowed_types``). A type
  outside it is refused (``type_not_allowed``) with the type named, even if the name looks
  harmless. Executables (PE, ELF, Mach-O, Java, WebAssembly, shortcuts, installers, app
  packages), scripts (a ``#!`` first line, or plain text named ``.js``, ``.bat``, ``.ps1``,
  ``.vbs``, ``.sh``...) and active web content (HTML, SVG) are recognised so that the
  refusal says what they are; no rule set should list them.
- **Names must agree with the bytes** (``type_mismatch``): ``report.pdf`` holding a PNG is
  refused. A name without an extension is accepted (``Detected.extension`` gives the
  canonical one). Plain text is only accepted under a text extension (``.txt``, ``.csv``,
  ``.log``...): text named ``.ini`` or ``.url`` is refused, since Windows opens files by
  their extension. The ISO-BMFF family (``.mp4``, ``.m4a``, ``.mov``, ``.3gp``) is one
  family: phones write audio-only ``.m4a`` files with video brands.
- **Legacy Office** (OLE2) is reported as ``application/x-ole-storage`` (the rule sets'
  vocabulary) only when its directory shows a Word, Excel or PowerPoint document; the
  extension then says which (``.doc``, ``.xls``, ``.ppt``; WPS Office's ``.wps``, ``.et``,
  ``.dps`` too). Other OLE files are refused: Windows Installer packages as executables,
  Outlook messages as ``application/vnd.ms-outlook``, anything else as unknown. Legacy
  documents with VBA macros are refused, and so are password-protected Office files (an
  OOXML package encrypted inside OLE; rule ``encrypted``): the tribunal could not open them.
- **PDF**: ``%PDF-`` at offset 0 with a known version (1.0-1.7, 2.0) and ``%%EOF`` within
  the last 1 KiB; otherwise ``corrupt`` (an upload cut short). MP4/QuickTime files without a
  ``moov`` box, or whose boxes run past the end, are ``corrupt`` too (unplayable).
- **Text** is UTF-8, GB18030 or UTF-16 with a byte-order mark, with no control characters
  but tab, CR and LF, checked over the whole file (a text head followed by binary is
  ``type_unknown``). Its media type follows the name: ``.csv`` is ``text/csv``...
- **Archives** (ZIP, tar, and gzip/bzip2/xz single-file compression, including ``.tar.gz``)
  are inspected entry by entry: the number of entries, the declared sizes and ratios (per
  entry and overall), the names (``archive_path``: ``..``, absolute paths, drive letters,
  backslashes, NUL or control characters, links and device files, duplicate names),
  encryption (``archive_encrypted``), and every entry is really decompressed in chunks
  under one running byte budget shared by all levels: an entry that yields more than its
  directory declares is refused at once (``corrupt``: the header is forged), and the work
  never exceeds the limits whatever the headers say. Each entry must itself be a file that
  :func:`inspect_file` would accept under its own name and ``allowed`` (an archive is no way
  around the allow-list); empty entries, directories and platform debris (``.DS_Store``,
  ``Thumbs.db``, ``desktop.ini``, macOS AppleDouble ``._`` files) are verified but not typed.
  Entries that need random access (a ZIP, an Office file) are spooled to an anonymous
  temporary file (in memory up to 1 MiB), one at a time, bounded by the budget.
- **Depth.** ``max_depth`` counts how many containers may enclose a container: the
  upload itself is at depth 0, a ZIP inside it at depth 1, and a container deeper than
  ``max_depth`` is refused (``archive_depth``). A ``.tar.gz`` is one container. Office
  documents are ZIPs too: they get the same bomb checks (entries, sizes, ratios, names,
  encryption, streamed decompression) but their parts are not typed and they add no depth.
- **7z, RAR, Zstandard and CAB** cannot be checked for bombs with the standard library:
  they are recognised and refused, with ``archive_uninspectable`` when a rule set allows
  them anyway (so are ZIP entries compressed with methods other than stored, deflate,
  bzip2 and LZMA, and sparse or multi-volume tar members).
- **Ratios** apply once an entry (or an archive) exceeds ``ratio_grace`` uncompressed: a
  40 KiB XML part compressing 150:1 harms no one. A compressed tarball's ratio is measured
  on its members' content: tar's headers and 512-byte padding compress to nothing.
- **File names** (:func:`check_filename`): NFC-normalised and stripped of surrounding
  blanks; refused when empty, longer than 255 bytes of UTF-8, holding ``/`` or ``\\``,
  control or invisible formatting characters (bidi overrides disguise ``exe.pdf``), the
  characters Windows forbids (``<>:"|?*``), starting with a dot (hidden files), ending in
  a dot, or named like a Windows device (``CON``, ``NUL``, ``COM1``...).
"""

from __future__ import annotations

import bz2
import codecs
import hashlib
import itertools
import lzma
import os
import re
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, ClassVar, Final, Literal, Protocol

Rule = Literal[
    "filename",
    "empty",
    "type_unknown",
    "type_not_allowed",
    "type_mismatch",
    "corrupt",
    "encrypted",
    "archive_entries",
    "archive_size",
    "archive_ratio",
    "archive_depth",
    "archive_path",
    "archive_encrypted",
    "archive_uninspectable",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB

HEAD_SIZE: Final = 8 * KiB  # what sniff() looks at
CHUNK: Final = 64 * KiB  # reads and decompression outputs
PDF_TAIL: Final = 1 * KiB
SPOOL_IN_MEMORY: Final = 1 * MiB
MAX_NAME_BYTES: Final = 255
MAX_TAR_HEADER: Final = 1 * MiB  # pax / GNU long-name data
MAX_BMFF_BOXES: Final = 20_000
MAX_OLE_DIRECTORY_SECTORS: Final = 16_384


class InspectionError(ValueError):
    """An upload refused; ``rule`` is a short code, ``message`` precise English for the
    problem body (field ``file``), ``entry`` the path inside an archive (outermost
    first), empty when the problem is the uploaded file itself."""

    field: ClassVar[str] = "file"

    def __init__(self, rule: Rule, message: str, *, entry: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.rule: Rule = rule
        self.message = message
        self.entry = entry


@dataclass(frozen=True)
class Detected:
    """What a file is: its media type, family and canonical extension, and facts found on
    the way (PDF version, image size, text encoding, archive entry count...)."""

    media_type: str
    kind: str  # pdf, image, office, archive, audio, video, text, web, executable
    extension: str
    details: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False
    )


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits on archives (and on the ZIP containers of Office documents)."""

    max_entries: int = 10_000  # entries at every level together
    max_total_uncompressed: int = 2 * GiB  # bytes decompressed at every level together
    max_ratio: int = 100  # uncompressed / compressed, per entry and per archive
    max_depth: int = 2  # containers that may enclose a container (see the module notes)
    ratio_grace: int = 1 * MiB  # entries (and archives) smaller than this skip ratio checks


# --- the types we know ------------------------------------------------------------------


@dataclass(frozen=True)
class _Type:
    media_type: str
    kind: str
    extensions: tuple[str, ...]  # the first is canonical
    description: str
    text: bool = False  # plain text named with one of these extensions gets this type


_TYPES: list[_Type] = []


def _type(
    media_type: str, kind: str, extensions: tuple[str, ...], description: str, *, text: bool = False
) -> _Type:
    found = _Type(media_type, kind, extensions, description, text)
    _TYPES.append(found)
    return found


_BMFF: Final = (".mp4", ".m4a", ".m4v", ".m4b", ".mov", ".qt", ".3gp", ".3gpp", ".3g2")


def _bmff(canonical: str) -> tuple[str, ...]:
    return (canonical, *(ext for ext in _BMFF if ext != canonical))


PDF = _type("application/pdf", "pdf", (".pdf",), "a PDF document")
PNG = _type("image/png", "image", (".png",), "a PNG image")
JPEG = _type("image/jpeg", "image", (".jpg", ".jpeg", ".jpe", ".jfif"), "a JPEG image")
GIF = _type("image/gif", "image", (".gif",), "a GIF image")
WEBP = _type("image/webp", "image", (".webp",), "a WebP image")
TIFF = _type("image/tiff", "image", (".tif", ".tiff"), "a TIFF image")
BMP = _type("image/bmp", "image", (".bmp", ".dib"), "a BMP image")
HEIC = _type("image/heic", "image", (".heic", ".heif", ".hif"), "a HEIC image")
HEIF = _type("image/heif", "image", (".heif", ".heic", ".hif"), "a HEIF image")
AVIF = _type("image/avif", "image", (".avif",), "an AVIF image")

DOCX = _type(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "office",
    (".docx",),
    "a Word document",
)
XLSX = _type(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "office",
    (".xlsx",),
    "an Excel workbook",
)
PPTX = _type(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "office",
    (".pptx",),
    "a PowerPoint presentation",
)
DOCM = _type(
    "application/vnd.ms-word.document.macroEnabled.12",
    "office",
    (".docm",),
    "a Word document with macros",
)
XLSM = _type(
    "application/vnd.ms-excel.sheet.macroEnabled.12",
    "office",
    (".xlsm",),
    "an Excel workbook with macros",
)
PPTM = _type(
    "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    "office",
    (".pptm",),
    "a PowerPoint presentation with macros",
)
ODT = _type("application/vnd.oasis.opendocument.text", "office", (".odt",), "an ODF text document")
ODS = _type(
    "application/vnd.oasis.opendocument.spreadsheet", "office", (".ods",), "an ODF spreadsheet"
)
ODP = _type(
    "application/vnd.oasis.opendocument.presentation", "office", (".odp",), "an ODF presentation"
)
ODG = _type("application/vnd.oasis.opendocument.graphics", "office", (".odg",), "an ODF drawing")
EPUB = _type("application/epub+zip", "office", (".epub",), "an EPUB e-book")
OFD = _type("application/ofd", "office", (".ofd",), "an OFD document (GB/T 33190)")
OLE = _type(
    "application/x-ole-storage",
    "office",
    (".doc", ".xls", ".ppt"),
    "an Office 97-2003 document (OLE2)",
)
OLE_WORD = _Type(
    OLE.media_type, "office", (".doc", ".dot", ".wps"), "a Word 97-2003 document (OLE2)"
)
OLE_EXCEL = _Type(
    OLE.media_type, "office", (".xls", ".xlt", ".et"), "an Excel 97-2003 workbook (OLE2)"
)
OLE_POWERPOINT = _Type(
    OLE.media_type,
    "office",
    (".ppt", ".pps", ".pot", ".dps"),
    "a PowerPoint 97-2003 presentation (OLE2)",
)
OUTLOOK = _type("application/vnd.ms-outlook", "office", (".msg",), "an Outlook message")
RTF = _type("application/rtf", "office", (".rtf",), "an RTF document")

ZIP = _type("application/zip", "archive", (".zip",), "a ZIP archive")
TAR = _type("application/x-tar", "archive", (".tar",), "a tar archive")
GZIP = _type("application/gzip", "archive", (".gz", ".tgz"), "a gzip-compressed file")
BZIP2 = _type("application/x-bzip2", "archive", (".bz2", ".tbz2", ".tbz"), "a bzip2 file")
XZ = _type("application/x-xz", "archive", (".xz", ".txz"), "an xz-compressed file")
SEVEN_ZIP = _type("application/x-7z-compressed", "archive", (".7z",), "a 7-Zip archive")
RAR = _type("application/vnd.rar", "archive", (".rar",), "a RAR archive")
ZSTD = _type("application/zstd", "archive", (".zst", ".tzst"), "a Zstandard-compressed file")
CAB = _type("application/vnd.ms-cab-compressed", "archive", (".cab",), "a Windows cabinet")

MP3 = _type("audio/mpeg", "audio", (".mp3",), "an MP3 recording")
AAC = _type("audio/aac", "audio", (".aac",), "an AAC recording")
M4A = _type("audio/mp4", "audio", _bmff(".m4a"), "an MPEG-4 audio recording")
AUDIO_3GP = _type("audio/3gpp", "audio", _bmff(".3gp"), "a 3GPP audio recording")
WAV = _type("audio/wav", "audio", (".wav",), "a WAV recording")
AMR = _type("audio/amr", "audio", (".amr",), "an AMR recording")
AMR_WB = _type("audio/amr-wb", "audio", (".awb", ".amr"), "an AMR-WB recording")
SILK = _type("audio/x-silk", "audio", (".silk", ".slk", ".amr"), "a SILK voice message")
OGG = _type("audio/ogg", "audio", (".ogg", ".oga", ".opus"), "an Ogg recording")
FLAC = _type("audio/flac", "audio", (".flac",), "a FLAC recording")
MP4 = _type("video/mp4", "video", _bmff(".mp4"), "an MP4 video")
MOV = _type("video/quicktime", "video", _bmff(".mov"), "a QuickTime video")
VIDEO_3GP = _type("video/3gpp", "video", _bmff(".3gp"), "a 3GPP video")
WEBM = _type("video/webm", "video", (".webm", ".mkv", ".mka"), "a WebM video")
MKV = _type("video/x-matroska", "video", (".mkv", ".mka", ".webm"), "a Matroska video")
OGV = _type("video/ogg", "video", (".ogv", ".ogg"), "an Ogg video")
AVI = _type("video/x-msvideo", "video", (".avi",), "an AVI video")
ASF = _type("video/x-ms-asf", "video", (".wmv", ".wma", ".asf"), "a Windows Media file")
FLV = _type("video/x-flv", "video", (".flv",), "a Flash video")
MPEG = _type("video/mpeg", "video", (".mpg", ".mpeg", ".vob"), "an MPEG video")
MPEG_TS = _type("video/mp2t", "video", (".ts", ".m2ts", ".mts"), "an MPEG transport stream")

PLAIN = _type("text/plain", "text", (".txt", ".text", ".log"), "plain text", text=True)
CSV = _type("text/csv", "text", (".csv",), "a CSV table", text=True)
TSV = _type("text/tab-separated-values", "text", (".tsv",), "a TSV table", text=True)
MARKDOWN = _type("text/markdown", "text", (".md", ".markdown"), "Markdown text", text=True)
JSON = _type("application/json", "text", (".json",), "JSON data", text=True)
XML = _type("application/xml", "text", (".xml",), "an XML document", text=True)
MAIL = _type("message/rfc822", "text", (".eml",), "an e-mail message", text=True)
HTML = _type(
    "text/html",
    "web",
    (".html", ".htm", ".xhtml", ".shtml", ".mht", ".mhtml"),
    "a web page (HTML, which can carry scripts)",
    text=True,
)
SVG = _type("image/svg+xml", "web", (".svg",), "an SVG image (which can carry scripts)", text=True)

EXE = _type(
    "application/x-msdownload",
    "executable",
    (".exe", ".dll", ".scr", ".com", ".sys", ".cpl", ".ocx", ".efi"),
    "a Windows executable",
)
ELF = _type("application/x-executable", "executable", (".elf", ".so"), "a Linux executable (ELF)")
MACHO = _type("application/x-mach-binary", "executable", (".dylib",), "a macOS executable (Mach-O)")
JAVA_CLASS = _type("application/java-vm", "executable", (".class",), "a Java class file")
WASM = _type("application/wasm", "executable", (".wasm",), "a WebAssembly module")
LNK = _type("application/x-ms-shortcut", "executable", (".lnk",), "a Windows shortcut")
MSI = _type("application/x-msi", "executable", (".msi", ".msp", ".mst"), "a Windows installer")
JAR = _type("application/java-archive", "executable", (".jar",), "a Java program (JAR)")
APK = _type("application/vnd.android.package-archive", "executable", (".apk",), "an Android app")
IPA = _type("application/x-ios-app", "executable", (".ipa",), "an iOS app")
DEB = _type("application/vnd.debian.binary-package", "executable", (".deb",), "a Debian package")
RPM = _type("application/x-rpm", "executable", (".rpm",), "an RPM package")
SHELL = _type(
    "text/x-shellscript",
    "executable",
    (".sh", ".bash", ".zsh", ".ksh", ".command"),
    "a script",
    text=True,
)
JAVASCRIPT = _type(
    "text/javascript",
    "executable",
    (".js", ".mjs", ".cjs", ".jse"),
    "a JavaScript script",
    text=True,
)
VBSCRIPT = _type(
    "text/vbscript", "executable", (".vbs", ".vbe", ".wsf", ".wsh"), "a VBScript script", text=True
)
BATCH = _type(
    "application/x-bat", "executable", (".bat", ".cmd"), "a Windows batch file", text=True
)
POWERSHELL = _type(
    "application/x-powershell",
    "executable",
    (".ps1", ".psm1", ".psd1"),
    "a PowerShell script",
    text=True,
)
PYTHON = _type("text/x-python", "executable", (".py", ".pyw"), "a Python script", text=True)
PHP = _type("application/x-httpd-php", "executable", (".php", ".phtml"), "a PHP script", text=True)
HTA = _type("application/hta", "executable", (".hta",), "an HTML application", text=True)
URL_SHORTCUT = _type(
    "application/x-mswinurl", "executable", (".url",), "an Internet shortcut", text=True
)
REGISTRY = _type("text/x-ms-regedit", "executable", (".reg",), "a Windows registry file", text=True)

_TEXT_BY_EXTENSION: Final = {ext: t for t in _TYPES if t.text for ext in t.extensions}
_CANONICAL_EXTENSION: Final = {
    t.media_type: t.extensions[0] for t in reversed(_TYPES)
}  # first registered wins
_ZIP_BASED: Final = frozenset(
    {ZIP, DOCX, XLSX, PPTX, DOCM, XLSM, PPTM, ODT, ODS, ODP, ODG, EPUB, OFD, JAR, APK, IPA}
)
_COMPRESSED: Final = {GZIP: b"\x1f\x8b", BZIP2: b"BZh", XZ: b"\xfd7zXZ\x00"}
_UNINSPECTABLE: Final = frozenset({SEVEN_ZIP, RAR, ZSTD, CAB})
_ODF: Final = {
    "application/vnd.oasis.opendocument.text": ODT,
    "application/vnd.oasis.opendocument.spreadsheet": ODS,
    "application/vnd.oasis.opendocument.presentation": ODP,
    "application/vnd.oasis.opendocument.graphics": ODG,
    "application/epub+zip": EPUB,
}
_OOXML: Final = (("word/", DOCX, DOCM), ("xl/", XLSX, XLSM), ("ppt/", PPTX, PPTM))
_PDF_VERSIONS: Final = frozenset({"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.0"})


def _detected(t: _Type, details: Mapping[str, Any]) -> Detected:
    return Detected(t.media_type, t.kind, t.extensions[0], MappingProxyType(dict(details)))


# --- file names -----------------------------------------------------------------------------

_WINDOWS_FORBIDDEN: Final = '<>:"|?*'
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")}
)
_JOINERS: Final = frozenset("\u200c\u200d")  # needed in some scripts and in emoji


def _invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in ("Cf", "Zl", "Zp", "Cs") and ch not in _JOINERS


def _codepoint(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _filename_error(message: str) -> InspectionError:
    return InspectionError("filename", f"the file name {message}")


def check_filename(name: str) -> str:
    """The display name a party gave, NFC-normalised and stripped of surrounding blanks;
    :class:`InspectionError` (rule ``filename``) when it cannot serve as a file's name on
    the usual systems. Chinese names such as ``借款合同（扫描件）.pdf`` pass."""
    if not isinstance(name, str):
        raise _filename_error("must be text")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise _filename_error("must not be empty")
    for ch in name:
        if ch in "/\\":
            raise _filename_error(
                f"must not contain a path separator ({ch!r}): give the file's own name only"
            )
        if unicodedata.category(ch) == "Cc":
            raise _filename_error(f"must not contain control characters ({_codepoint(ch)})")
        if _invisible(ch):
            raise _filename_error(
                f"must not contain invisible formatting characters ({_codepoint(ch)})"
            )
        if ch in _WINDOWS_FORBIDDEN:
            raise _filename_error(f"must not contain {ch!r}, which Windows does not allow")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise _filename_error(f"must be at most {MAX_NAME_BYTES} bytes in UTF-8, not {size}")
    if set(name) == {"."}:
        raise _filename_error(f"must not be {name!r}")
    if name.startswith("."):
        raise _filename_error("must not start with a dot (hidden files are not accepted)")
    if name.endswith("."):
        raise _filename_error("must not end with a dot, which Windows drops")
    device = name.split(".", 1)[0].rstrip(" ").upper()
    if device in _WINDOWS_DEVICES:
        raise _filename_error(f"must not be {device!r}, a device name on Windows")
    return name


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


def _basename(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


# --- messages ---------------------------------------------------------------------------------


def _path(trail: tuple[str, ...]) -> str:
    return " › ".join(repr(part) for part in trail)


def _subject(trail: tuple[str, ...]) -> str:
    return f"the entry {_path(trail)} of the archive" if trail else "the file"


def _container(trail: tuple[str, ...]) -> str:
    return f"the archive {_path(trail)} inside the upload" if trail else "the archive"


def _human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes" if n != 1 else "1 byte"


def _corrupt(trail: tuple[str, ...], message: str) -> InspectionError:
    return InspectionError("corrupt", f"{_subject(trail)} {message}", entry=trail)


# --- sniffing ---------------------------------------------------------------------------------

_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_STARTS: Final = (
    "<!doctype html",
    "<html",
    "<head",
    "<script",
    "<iframe",
    "<h1",
    "<div",
    "<font",
    "<table",
    "<a",
    "<style",
    "<title",
    "<b",
    "<body",
    "<br",
    "<p",
    "<meta",
    "<link",
    "<object",
    "<embed",
    "<form",
    "<img",
)
_MAIL_HEADERS: Final = frozenset(
    {"from", "to", "cc", "subject", "date", "message-id", "received", "return-path"}
    | {"mime-version", "delivered-to", "reply-to", "sender"}
)
_MAIL_HEADER: Final = re.compile(r"[!-9;-~]+:")
_OLE_SIGNATURE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_LNK_SIGNATURE: Final = bytes.fromhex("4c0000000114020000000000c000000000000046")
_ASF_SIGNATURE: Final = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MACHO: Final = frozenset(
    bytes.fromhex(h) for h in ("feedface", "feedfacf", "cefaedfe", "cffaedfe")
)
_BMP_HEADERS: Final = frozenset({12, 40, 52, 56, 64, 108, 124})
_BZIP2_MAGIC: Final = (b"1AY&SY", b"\x17rE8P\x90")  # a block, or the end of an empty stream
_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_M4A_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P "})
_MP4_BRANDS: Final = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9"}
    | {b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"MSNV"}
    | {b"F4V ", b"f4v ", b"NDAS", b"XAVC", b"mmp4", b"iso "}
)
# MPEG audio: kbit/s by (MPEG-1?, layer) and sample rates by version (MPEG-1, 2, 2.5).
_MPEG_BITRATES: Final = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _u16le(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32le(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _u32be(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def _decode_head(head: bytes) -> tuple[str, str] | None:
    """(encoding, text) when ``head`` reads as text with no control characters but tab,
    CR and LF; a multi-byte character cut at the end of the head is fine."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = codecs.getincrementaldecoder(encoding)("strict").decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if not _CONTROL.search(text):
            return encoding, text
    return None


def _binary(head: bytes) -> bool:
    return _decode_head(head) is None


def _is_html(lead: str) -> bool:
    for start in _HTML_STARTS:
        if lead.startswith(start):
            rest = lead[len(start) : len(start) + 1]
            if start == "<!doctype html" or rest in ("", " ", ">", "\t", "\n", "\r", "/"):
                return True
    return lead.startswith("<!--")


def _looks_like_mail(text: str) -> bool:
    names: set[str] = set()
    for line in text.splitlines()[:200]:
        if not line.strip():
            break
        if line[0] in " \t":
            continue
        match = _MAIL_HEADER.match(line)
        if match is None:
            return False
        names.add(match.group()[:-1].lower())
    found = names & _MAIL_HEADERS
    return len(found) >= 3 and bool(found & {"from", "received", "message-id"})


def _sniff_text(head: bytes) -> tuple[_Type, dict[str, Any]] | None:
    decoded = _decode_head(head)
    if decoded is None:
        return None
    encoding, text = decoded
    details: dict[str, Any] = {"encoding": encoding}
    body = text.lstrip("\ufeff")
    if body.startswith("#!"):
        return SHELL, details
    lowered = body.lstrip().lower()
    if _is_html(lowered[:64]):
        return HTML, details
    if lowered.startswith("<svg"):
        return SVG, details
    if lowered.startswith(("<?xml", "<!doctype")):
        if "<svg" in lowered:
            return SVG, details
        if "<html" in lowered or "<!doctype html" in lowered:
            return HTML, details
        return XML, details
    if _looks_like_mail(body):
        return MAIL, details
    return PLAIN, details


def _mpeg_audio(head: bytes) -> _Type | None:
    """MP3 (MPEG audio frames) or AAC (ADTS), from frame headers."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    if layer == 0:  # ADTS: 12 sync bits, then layer 00
        return AAC if head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13 else None
    if version == 1:
        return None
    bitrate_index, rate_index, padding = head[2] >> 4, (head[2] >> 2) & 3, (head[2] >> 1) & 1
    if bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1, layer_number = version == 3, 4 - layer
    bitrate = _MPEG_BITRATES[(mpeg1, layer_number)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer_number == 1:
        length = (12 * bitrate // rate + padding) * 4
    elif layer_number == 3 and not mpeg1:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    if length + 2 <= len(head) and (head[length] != 0xFF or head[length + 1] & 0xE0 != 0xE0):
        return None  # a second frame must follow the first
    return MP3


def _sniff_ftyp(head: bytes) -> tuple[_Type, dict[str, Any]] | None:
    size = min(_u32be(head, 0), len(head))
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, size - 3, 4)}
    details = {"brand": major.decode("latin-1").strip()}
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and compatible & _AVIF_BRANDS):
        return AVIF, details
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and compatible & _HEIC_BRANDS):
        return HEIC, details
    if major in _HEIF_BRANDS:
        return HEIF, details
    if major in _M4A_BRANDS:
        return M4A, details
    if major == b"qt  ":
        return MOV, details
    if major[:3] in (b"3gp", b"3g2"):
        return VIDEO_3GP, details
    if major in _MP4_BRANDS or compatible & _MP4_BRANDS:
        return MP4, details
    return None


def _sniff_zip(head: bytes) -> _Type:
    """ZIP, or the ODF/EPUB type named by a stored ``mimetype`` first entry."""
    if head[30:38] == b"mimetype" and _u16le(head, 8) == 0:
        start = 30 + _u16le(head, 26) + _u16le(head, 28)
        declared = head[start : start + _u32le(head, 18)].decode("ascii", "replace").strip()
        return _ODF.get(declared, ZIP)
    return ZIP


def _sniff(head: bytes) -> tuple[_Type, dict[str, Any]] | None:
    if not head:
        return None
    if head.startswith(b"%PDF-"):
        match = re.match(rb"%PDF-(\d\.\d)(?!\d)", head)
        return PDF, {"version": match.group(1).decode() if match else None}
    if head.startswith(_PNG_SIGNATURE):
        details = {}
        if head[12:16] == b"IHDR" and len(head) >= 24:
            details = {"width": _u32be(head, 16), "height": _u32be(head, 20)}
        return PNG, details
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG, {}
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return GIF, {"width": _u16le(head, 6), "height": _u16le(head, 8)}
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}.get(head[8:12])
        return (form, {}) if form else None
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF, {}
    bmp_header = len(head) >= 26 and _u32le(head, 14) in _BMP_HEADERS
    if head.startswith(b"BM") and bmp_header and head[6:10] == b"\x00\x00\x00\x00":
        return BMP, {}
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if head.startswith(_OLE_SIGNATURE):
        return OLE, {}
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _sniff_zip(head), {}
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVEN_ZIP, {}
    if head.startswith(b"Rar!\x1a\x07\x00"):
        return RAR, {"version": 4}
    if head.startswith(b"Rar!\x1a\x07\x01\x00"):
        return RAR, {"version": 5}
    if head.startswith(b"\x1f\x8b\x08"):
        return GZIP, {}
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in _BZIP2_MAGIC:
        return BZIP2, {}
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ, {}
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ZSTD, {}
    if head.startswith(b"MSCF\x00\x00\x00\x00"):
        return CAB, {}
    if len(head) >= 263 and head[257:262] == b"ustar":
        return TAR, {}
    if head.startswith(b"\x7fELF"):
        return ELF, {}
    if head[:4] in _MACHO:
        return MACHO, {}
    if head.startswith(b"\xca\xfe\xba\xbe") and len(head) >= 8:
        # A fat Mach-O binary counts its architectures; a Java class gives its version (>= 45).
        return (MACHO if _u32be(head, 4) < 45 else JAVA_CLASS), {}
    if head.startswith(b"\x00asm"):
        return WASM, {}
    if head.startswith(_LNK_SIGNATURE):
        return LNK, {}
    if head.startswith(b"!<arch>\ndebian-binary"):
        return DEB, {}
    if head.startswith(b"\xed\xab\xee\xdb"):
        return RPM, {}
    if head.startswith(b"MZ") and _binary(head):
        return EXE, {}
    if head.startswith(b"#!AMR-WB\n"):
        return AMR_WB, {}
    if head.startswith(b"#!AMR\n"):
        return AMR, {}
    if head.startswith((b"#!SILK_V3", b"\x02#!SILK_V3")):
        return SILK, {}
    if head.startswith(b"OggS"):
        return (OGV if b"\x80theora" in head[:512] else OGG), {}
    if head.startswith(b"fLaC"):
        return FLAC, {}
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return (WEBM if b"webm" in head[:64] else MKV), {}
    if head.startswith(_ASF_SIGNATURE):
        return ASF, {}
    if head.startswith(b"FLV\x01"):
        return FLV, {}
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return MPEG, {}
    # 'G' every 188 bytes, or 'ID3': only in binary heads (text could start so).
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47 and _binary(head):
        return MPEG_TS, {}
    if head.startswith(b"ID3") and head[3:4] in (b"\x02", b"\x03", b"\x04") and _binary(head):
        return MP3, {}
    audio = _mpeg_audio(head)
    if audio is not None:
        return audio, {}
    if head.startswith(b"{\\rtf"):
        return RTF, {}
    return _sniff_text(head)


def sniff(head: bytes) -> Detected | None:
    """What the first bytes of a file (4-8 KiB) say it is, or ``None``. ZIP-based Office
    documents other than ODF, and legacy Office files, are reported as their container
    (``application/zip``, ``application/x-ole-storage``): telling them apart needs the
    directory at the end of the file, which :func:`inspect_file` reads."""
    found = _sniff(head[:HEAD_SIZE])
    return None if found is None else _detected(*found)


# --- sources: the uploaded file, a spool, or a stream of decompressed bytes --------------------


class _FileSource:
    """A seekable file and its size."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f = f
        self.size = size
        f.seek(0)
        self.head = f.read(HEAD_SIZE)

    def read_at(self, offset: int, n: int) -> bytes:
        self.f.seek(offset)
        return self.f.read(n)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        position, end = start, self.size if end is None else end
        while position < end:
            self.f.seek(position)
            chunk = self.f.read(min(CHUNK, end - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def rest(self) -> Iterator[bytes]:
        return self.chunks(len(self.head))


class _StreamSource:
    """A one-pass stream of chunks (an archive entry being decompressed)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        buffer = bytearray()
        for chunk in chunks:
            buffer += chunk
            if len(buffer) >= HEAD_SIZE:
                break
        self.head = bytes(buffer[:HEAD_SIZE])
        self._pending = bytes(buffer[HEAD_SIZE:])

    def rest(self) -> Iterator[bytes]:
        pending, self._pending = self._pending, b""
        if pending:
            yield pending
        yield from self._chunks

    def drain(self) -> None:
        self._pending = b""
        for _ in self._chunks:
            pass


_Source = _FileSource | _StreamSource


def _all_chunks(source: _Source) -> Iterator[bytes]:
    if source.head:
        yield source.head
    yield from source.rest()


@contextmanager
def _spooled(source: _StreamSource, directory: Path | None) -> Iterator[_FileSource]:
    where = str(directory) if directory is not None else None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=where) as spool:
        for chunk in _all_chunks(source):
            spool.write(chunk)
        yield _FileSource(spool, spool.tell())


class _Reader:
    """Exact reads over a stream of chunks (for tar)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._at = 0  # what of the buffer has been read
        self.offset = 0  # what of the stream has been read

    def _fill(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._buffer, self._at = self._buffer[self._at :] + chunk, 0
        return True

    def read(self, n: int) -> bytes:
        while len(self._buffer) - self._at < n and self._fill():
            pass
        out = self._buffer[self._at : self._at + n]
        self._at += len(out)
        self.offset += len(out)
        return out

    def stream(self, n: int) -> Iterator[bytes]:
        remaining = n
        while remaining > 0:
            if self._at >= len(self._buffer) and not self._fill():
                return
            piece = self._buffer[self._at : self._at + remaining]
            self._at += len(piece)
            remaining -= len(piece)
            self.offset += len(piece)
            yield piece

    def drain(self) -> None:
        self._buffer, self._at = b"", 0
        for _ in self._chunks:
            pass


# --- the inspection ---------------------------------------------------------------------------


@dataclass
class _Context:
    limits: ArchiveLimits
    allowed: frozenset[str]
    spool_dir: Path | None = None  # where what must be read at random is spooled
    expanded: int = 0  # bytes decompressed so far, at every level
    entries: int = 0  # archive entries seen so far, at every level

    def expand(self, n: int, trail: tuple[str, ...]) -> None:
        self.expanded += n
        limit = self.limits.max_total_uncompressed
        if self.expanded > limit:
            raise InspectionError(
                "archive_size",
                f"the archive expands to more than {_human(limit)} when decompressed, the "
                f"limit (stopped in {_path(trail)})",
                entry=trail,
            )

    def count_entries(self, n: int, trail: tuple[str, ...]) -> None:
        self.entries += n
        limit = self.limits.max_entries
        if self.entries > limit:
            raise InspectionError(
                "archive_entries",
                f"{_container(trail)} holds more than {limit:,} entries (counting nested "
                "archives), the limit",
                entry=trail,
            )

    def open_container(self, level: int, trail: tuple[str, ...]) -> None:
        most = self.limits.max_depth
        if level > most:
            raise InspectionError(
                "archive_depth",
                f"{_container(trail)} is nested {level} levels deep; archives may be nested "
                f"at most {self.limits.max_depth} level{'' if most == 1 else 's'} deep",
                entry=trail,
            )

    def check_ratio(
        self, expanded: int, compressed: int, trail: tuple[str, ...], *, so_far: bool = False
    ) -> None:
        limits = self.limits
        if expanded > limits.ratio_grace and expanded > limits.max_ratio * max(compressed, 1):
            progress = " so far" if so_far else ""
            raise InspectionError(
                "archive_ratio",
                f"{_subject(trail)} expands more than {limits.max_ratio}:1 when decompressed "
                f"({_human(expanded)} from {_human(compressed)}{progress}): refused as a "
                "decompression bomb",
                entry=trail,
            )


def inspect_file(
    path: Path,
    *,
    filename: str,
    allowed: Collection[str],
    limits: ArchiveLimits = ArchiveLimits(),
) -> Detected:
    """What the file at ``path`` really is, or :class:`InspectionError` when it is refused:
    its name (see :func:`check_filename`), its type (unknown, not in ``allowed``, or not the
    one its name says), its structure, and for archives their entries and sizes."""
    name = check_filename(filename)
    context = _Context(limits=limits, allowed=frozenset(allowed))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise InspectionError("empty", "the file is empty (0 bytes)")
        return _inspect(_FileSource(f, size), name, (), 0, context)


def inspect_stream(
    chunks: Iterator[bytes],
    *,
    filename: str,
    allowed: Collection[str],
    limits: ArchiveLimits = ArchiveLimits(),
    spool_dir: Path | None = None,
) -> Detected:
    """:func:`inspect_file` in one pass over the bytes as they arrive, with the same rules.

    The types read at random (ZIP and the formats built on it, OLE, the MP4 family) are
    spooled to a temporary file in ``spool_dir`` first (in memory while small); the rest
    are checked as they stream by, and what the check does not need is not kept: a WAV
    recording is decided by its header, a PDF by its header and its last 1 KiB. The
    inspection may return before ``chunks`` is exhausted; the caller drops the rest.
    """
    name = check_filename(filename)
    context = _Context(limits=limits, allowed=frozenset(allowed), spool_dir=spool_dir)
    source = _StreamSource(chunks)
    if not source.head:
        raise InspectionError("empty", "the file is empty (0 bytes)")
    return _inspect(source, name, (), 0, context)


def _inspect(
    source: _Source, name: str, trail: tuple[str, ...], level: int, context: _Context
) -> Detected:
    found = _sniff(source.head)
    if found is None:
        raise InspectionError(
            "type_unknown",
            f"{_subject(trail)} is not of any type accepted as evidence (it begins with the "
            f"bytes {source.head[:8].hex(' ')})",
            entry=trail,
        )
    kind, details = found
    if isinstance(source, _StreamSource) and (
        kind in _ZIP_BASED or kind is OLE or _is_bmff(kind, details)
    ):
        with _spooled(source, context.spool_dir) as spooled:
            return _inspect(spooled, name, trail, level, context)

    directory: _ZipDirectory | None = None
    if kind in _ZIP_BASED:
        assert isinstance(source, _FileSource)
        directory = _zip_directory(source, trail, context)
        kind, details = _zip_classify(source, directory, trail), {}
    elif kind is OLE:
        assert isinstance(source, _FileSource)
        kind, details = _ole_classify(source, trail)
    elif _is_bmff(kind, details):
        assert isinstance(source, _FileSource)
        kind, details = _bmff_refine(source, kind, details, trail)
    elif kind in (PLAIN, MAIL, XML):
        kind = _text_by_name(kind, name)

    _check_policy(kind, name, trail, context)

    if kind is PDF:
        _verify_pdf(source, details, trail)
    elif kind.text:
        details["encoding"] = _scan_text(source, details["encoding"], trail)
    elif directory is not None:
        assert isinstance(source, _FileSource)
        details.update(_verify_zip(source, directory, kind, trail, level, context))
    elif kind is TAR:
        context.open_container(level, trail)
        details.update(_walk_tar(_Reader(_all_chunks(source)), trail, level, context))
    elif kind in _COMPRESSED:
        details.update(_decompress(source, kind, name, trail, level, context))
    elif kind in _UNINSPECTABLE:
        raise InspectionError(
            "archive_uninspectable",
            f"{_subject(trail)} is {kind.description} ({kind.media_type}), which cannot be "
            "checked for decompression bombs and unsafe entries: send a ZIP file instead",
            entry=trail,
        )
    return _detected(kind, details)


def _is_bmff(kind: _Type, details: Mapping[str, Any]) -> bool:
    """The ISO-BMFF family (MP4, M4A, MOV, 3GP), whose boxes are checked by seeking."""
    return kind.media_type.startswith(("audio/", "video/")) and "brand" in details


def _accepted(allowed: frozenset[str]) -> str:
    extensions = sorted({_CANONICAL_EXTENSION.get(t, t) for t in allowed})
    return f"; accepted: {', '.join(extensions)}" if extensions else ""


def _check_policy(kind: _Type, name: str, trail: tuple[str, ...], context: _Context) -> None:
    if kind.media_type not in context.allowed:
        raise InspectionError(
            "type_not_allowed",
            f"{_subject(trail)} is {kind.description} ({kind.media_type}), which is not "
            f"accepted as evidence{_accepted(context.allowed)}",
            entry=trail,
        )
    extension = _extension(name)
    if extension and extension not in kind.extensions:
        raise InspectionError(
            "type_mismatch",
            f"{_subject(trail)} is named {_basename(name)!r} but is {kind.description} "
            f"({kind.media_type}): its name should end in {kind.extensions[0]!r}",
            entry=trail,
        )


def _text_by_name(content: _Type, name: str) -> _Type:
    """Plain text (or mail, or XML) takes the type its extension names, if the content can
    be that; otherwise it keeps its own type and the policy check reports the mismatch."""
    extension = _extension(name)
    if not extension:
        return content
    named = _TEXT_BY_EXTENSION.get(extension)
    if named is None or (named in (MAIL, XML) and named is not content):
        return content
    return named


def _verify_pdf(source: _Source, details: Mapping[str, Any], trail: tuple[str, ...]) -> None:
    if details.get("version") not in _PDF_VERSIONS:
        raise _corrupt(trail, "starts like a PDF but its header names no known PDF version")
    if isinstance(source, _FileSource):
        tail = source.read_at(max(0, source.size - PDF_TAIL), PDF_TAIL)
    else:
        tail = source.head[-PDF_TAIL:]
        for chunk in source.rest():
            tail = (tail + chunk)[-PDF_TAIL:]
    if b"%%EOF" not in tail:
        raise _corrupt(
            trail,
            f"is an incomplete or damaged PDF: there is no %%EOF marker in its last "
            f"{_human(PDF_TAIL)} (was the upload cut short?)",
        )


def _scan_text(source: _Source, encoding: str, trail: tuple[str, ...]) -> str:
    """The whole file must be text: the encoding that survives (UTF-8 before GB18030; a
    file that has shown non-ASCII UTF-8 must stay UTF-8)."""
    candidates = ["utf-16"] if encoding == "utf-16" else ["utf-8", "gb18030"]
    if encoding == "gb18030":
        candidates = ["gb18030"]
    decoders = {e: codecs.getincrementaldecoder(e)("strict") for e in candidates}
    offset = 0

    def feed(data: bytes, final: bool) -> None:
        for name, decoder in list(decoders.items()):
            if name not in decoders:
                continue
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError:
                del decoders[name]
                continue
            if _CONTROL.search(text):
                del decoders[name]
            elif name == "utf-8" and not text.isascii():
                decoders.pop("gb18030", None)  # proven UTF-8: no need to try GB18030 further
        if not decoders:
            raise InspectionError(
                "type_unknown",
                f"{_subject(trail)} starts as text but holds binary data or invalid characters "
                f"within bytes {offset:,}-{offset + len(data):,}",
                entry=trail,
            )

    for chunk in _all_chunks(source):
        feed(chunk, final=False)
        offset += len(chunk)
    feed(b"", final=True)
    return next(iter(decoders))


# --- media containers ---------------------------------------------------------------------------


def _boxes(
    source: _FileSource, start: int, end: int, trail: tuple[str, ...], budget: list[int]
) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes between ``start`` and ``end``: (type, payload start, box end)."""
    position = start
    while end - position >= 8:
        budget[0] -= 1
        if budget[0] < 0:
            raise _corrupt(trail, f"holds more than {MAX_BMFF_BOXES:,} MP4 boxes")
        header = source.read_at(position, 16)
        size, kind, length = _u32be(header, 0), header[4:8], 8
        if size == 1 and len(header) == 16:
            size, length = int.from_bytes(header[8:16], "big"), 16
        elif size == 0:
            size = end - position
        if size < length:
            raise _corrupt(trail, f"is a damaged MP4/QuickTime file (a box of {size} bytes)")
        if position + size > end:
            box = kind.decode("latin-1")
            raise _corrupt(
                trail,
                f"is a truncated MP4/QuickTime file: its {box!r} box runs "
                f"{position + size - end:,} bytes past its end",
            )
        yield kind, position + length, position + size
        position += size


def _bmff_refine(
    source: _FileSource, kind: _Type, details: dict[str, Any], trail: tuple[str, ...]
) -> tuple[_Type, dict[str, Any]]:
    """Audio or video, from the handlers of the tracks in the ``moov`` box."""
    budget = [MAX_BMFF_BOXES]
    handlers: set[str] = set()
    movie = False
    for box, start, end in _boxes(source, 0, source.size, trail, budget):
        if box != b"moov":
            continue
        movie = True
        for track, track_start, track_end in _boxes(source, start, end, trail, budget):
            if track != b"trak":
                continue
            for media, media_start, media_end in _boxes(
                source, track_start, track_end, trail, budget
            ):
                if media != b"mdia":
                    continue
                for part, part_start, part_end in _boxes(
                    source, media_start, media_end, trail, budget
                ):
                    if part == b"hdlr" and part_end - part_start >= 12:
                        handler = source.read_at(part_start + 8, 4)
                        handlers.add(handler.decode("latin-1"))
    if not movie:
        raise _corrupt(
            trail,
            "is an incomplete MP4/QuickTime file: it has no 'moov' box, so it cannot be "
            "played (a recording that was never finished?)",
        )
    details = {**details, "tracks": sorted(handlers)}
    if "vide" in handlers:
        return (MP4 if kind is M4A or kind is AUDIO_3GP else kind), details
    if "soun" in handlers:
        return {MP4: M4A, VIDEO_3GP: AUDIO_3GP}.get(kind, kind), details
    return kind, details


_MSI_CLASS_PREFIXES: Final = (b"\x84\x10\x0c\x00", b"\x86\x10\x0c\x00", b"\x82\x10\x0c\x00")
_OLE_END: Final = 0xFFFFFFFE
_OLE_MAX_SECTOR: Final = 0xFFFFFFFA


def _ole_directory(source: _FileSource, trail: tuple[str, ...]) -> tuple[set[str], bytes]:
    """The names in an OLE2 compound file's directory, and the root entry's class id."""
    damaged = "is a damaged OLE2 (Office 97-2003) file"
    header = source.read_at(0, 512)
    if len(header) < 512 or header[28:30] != b"\xfe\xff":
        raise _corrupt(trail, damaged)
    shift = _u16le(header, 30)
    if (_u16le(header, 26), shift) not in ((3, 9), (4, 12)):
        raise _corrupt(trail, damaged)
    sector_size = 1 << shift
    per_sector = sector_size // 4
    fat_count = _u32le(header, 44)
    sectors = source.size // sector_size + 1
    if fat_count > sectors:
        raise _corrupt(trail, damaged)

    def sector(number: int) -> bytes:
        if number > _OLE_MAX_SECTOR:
            raise _corrupt(trail, damaged)
        data = source.read_at((number + 1) * sector_size, sector_size)
        if len(data) < sector_size:
            raise _corrupt(trail, damaged)
        return data

    fat = list(struct.unpack("<109L", header[76:512]))[: min(fat_count, 109)]
    difat, hops = _u32le(header, 68), 0
    while len(fat) < fat_count:
        hops += 1
        if hops > sectors:
            raise _corrupt(trail, damaged)
        values = struct.unpack(f"<{per_sector}L", sector(difat))
        fat.extend(values[:-1][: fat_count - len(fat)])
        difat = values[-1]

    def following(number: int) -> int:
        index, position = divmod(number, per_sector)
        if index >= len(fat):
            raise _corrupt(trail, damaged)
        data = source.read_at((fat[index] + 1) * sector_size + position * 4, 4)
        if len(data) < 4:
            raise _corrupt(trail, damaged)
        return _u32le(data, 0)

    names: set[str] = set()
    root_class = b""
    number, seen = _u32le(header, 48), set[int]()
    while number != _OLE_END:
        if number in seen or len(seen) >= MAX_OLE_DIRECTORY_SECTORS:
            raise _corrupt(trail, damaged)
        seen.add(number)
        data = sector(number)
        for at in range(0, sector_size, 128):
            entry = data[at : at + 128]
            length, object_type = _u16le(entry, 64), entry[66]
            if object_type in (1, 2, 5) and 2 <= length <= 64 and length % 2 == 0:
                names.add(entry[: length - 2].decode("utf-16-le", "replace"))
                if object_type == 5:
                    root_class = entry[80:96]
        number = following(number)
    return names, root_class


def _ole_classify(source: _FileSource, trail: tuple[str, ...]) -> tuple[_Type, dict[str, Any]]:
    names, root_class = _ole_directory(source, trail)
    if root_class.startswith(_MSI_CLASS_PREFIXES):
        return MSI, {}
    if "EncryptedPackage" in names:
        raise InspectionError(
            "encrypted",
            f"{_subject(trail)} is a password-protected Office document, which the tribunal "
            "could not open: remove the password and upload it again",
            entry=trail,
        )
    applications = (
        ("WordDocument", OLE_WORD, "word"),
        ("Workbook", OLE_EXCEL, "excel"),
        ("Book", OLE_EXCEL, "excel"),
        ("PowerPoint Document", OLE_POWERPOINT, "powerpoint"),
    )
    for stream, kind, application in applications:
        if stream in names:
            if names & {"Macros", "_VBA_PROJECT_CUR", "_VBA_PROJECT", "VBA"}:
                raise InspectionError(
                    "type_not_allowed",
                    f"{_subject(trail)} is {kind.description} with macros, which is not "
                    "accepted as evidence: save it without macros (as .docx, .xlsx, .pptx or "
                    "PDF)",
                    entry=trail,
                )
            return kind, {"application": application}
    if "__properties_version1.0" in names or any(n.startswith("__substg1.0_") for n in names):
        return OUTLOOK, {}
    raise InspectionError(
        "type_unknown",
        f"{_subject(trail)} is an OLE2 compound file but not a Word, Excel or PowerPoint document",
        entry=trail,
    )


# --- ZIP ------------------------------------------------------------------------------------

_LOCAL_HEADER: Final = struct.Struct("<4s5H3L2H")
_STORED, _DEFLATED, _BZIP2, _LZMA = 0, 8, 12, 14
_METHODS: Final = {_STORED: "stored", _DEFLATED: "deflate", _BZIP2: "bzip2", _LZMA: "LZMA"}
_DEBRIS: Final = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_APPLE_DOUBLE: Final = b"\x00\x05\x16\x07"


@dataclass(frozen=True)
class _ZipEntry:
    info: zipfile.ZipInfo
    name: str  # decoded for people: UTF-8, else GB18030, else CP437
    raw_name: bytes


@dataclass(frozen=True)
class _ZipDirectory:
    entries: list[_ZipEntry]
    directory_offset: int


def _decode_name(raw: bytes) -> str:
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("cp437")


def _zip_end(source: _FileSource, trail: tuple[str, ...]) -> tuple[int, int, int]:
    """(entry count, directory size, directory offset) from the end records, checked."""
    size = source.size
    span = min(size, 22 + 0xFFFF)
    tail = source.read_at(size - span, span)
    found = tail.rfind(b"PK\x05\x06")
    while found >= 0 and found + 22 > len(tail):
        found = tail.rfind(b"PK\x05\x06", 0, found)
    if found < 0:
        raise _corrupt(
            trail, "is a damaged ZIP file: it has no end-of-directory record (cut short?)"
        )
    end_at = size - span + found
    disk, directory_disk, on_disk, count, directory_size, directory_offset, comment = struct.unpack(
        "<4H2LH", tail[found + 4 : found + 22]
    )
    if end_at + 22 + comment > size:
        raise _corrupt(trail, "is a damaged ZIP file: its end record is cut short")
    if disk or directory_disk or on_disk != count:
        raise _corrupt(trail, "is one part of a split (multi-volume) ZIP archive")
    directory_end = end_at
    locator = source.read_at(end_at - 20, 20) if end_at >= 20 else b""
    if locator[:4] == b"PK\x06\x07":
        record_at = int.from_bytes(locator[8:16], "little")
        record = source.read_at(record_at, 56)
        if record[:4] != b"PK\x06\x06" or record_at + 56 + 20 != end_at:
            raise _corrupt(trail, "is a damaged ZIP64 file: its end records disagree")
        _, count, directory_size, directory_offset = struct.unpack("<4Q", record[24:56])
        directory_end = record_at
    if directory_offset + directory_size != directory_end:
        raise _corrupt(
            trail,
            "is a damaged ZIP file: its directory is not where its end record says (data "
            "prepended to the archive, or cut short?)",
        )
    return count, directory_size, directory_offset


def _zip_directory(source: _FileSource, trail: tuple[str, ...], context: _Context) -> _ZipDirectory:
    count, directory_size, directory_offset = _zip_end(source, trail)
    if count == 0:
        raise InspectionError("empty", f"{_container(trail)} holds no files", entry=trail)
    context.count_entries(count, trail)
    most = MiB + context.limits.max_entries * KiB
    if directory_size > most:
        raise InspectionError(
            "archive_entries",
            f"{_container(trail)} has a directory of {_human(directory_size)}; at most "
            f"{_human(most)} is read (too many entries, or names too long)",
            entry=trail,
        )
    try:
        with zipfile.ZipFile(source.f) as archive:
            infos = archive.infolist()
    except (
        zipfile.BadZipFile,
        EOFError,
        struct.error,
        UnicodeDecodeError,
        NotImplementedError,
        OverflowError,
    ) as exc:
        raise _corrupt(trail, f"is a damaged ZIP file ({exc})") from None
    if len(infos) != count:
        raise _corrupt(
            trail,
            f"is a damaged ZIP file: its directory lists {len(infos):,} entries, its end "
            f"record {count:,}",
        )
    entries = []
    for info in infos:
        if info.flag_bits & 0x800:
            raw, name = info.orig_filename.encode("utf-8"), info.orig_filename
        else:
            raw = info.orig_filename.encode("cp437")
            name = _decode_name(raw)
        entries.append(_ZipEntry(info, name, raw))
    return _ZipDirectory(entries, directory_offset)


def _local_header(
    source: _FileSource, entry: _ZipEntry, trail: tuple[str, ...]
) -> tuple[int, int, int, int, int, int, bytes, int]:
    offset = entry.info.header_offset
    header = source.read_at(offset, _LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _corrupt(trail, "is damaged: its local header is missing")
    _, _, flags, method, _, _, crc, compressed, size, name_length, extra_length = (
        _LOCAL_HEADER.unpack(header)
    )
    name = source.read_at(offset + _LOCAL_HEADER.size, name_length)
    data_at = offset + _LOCAL_HEADER.size + name_length + extra_length
    return flags, method, crc, compressed, size, name_length, name, data_at


def _zip_classify(source: _FileSource, directory: _ZipDirectory, trail: tuple[str, ...]) -> _Type:
    entries = directory.entries
    names = {entry.name for entry in entries}
    first = min(entries, key=lambda e: e.info.header_offset)
    if first.name == "mimetype" and first.info.compress_type == _STORED:
        *_, data_at = _local_header(source, first, (*trail, first.name))
        declared = source.read_at(data_at, min(first.info.file_size, 256))
        kind = _ODF.get(declared.decode("ascii", "replace").strip())
        if kind is not None:
            return kind
    if "[Content_Types].xml" in names:
        for prefix, plain, with_macros in _OOXML:
            if any(name.startswith(prefix) for name in names):
                macros = any(name.lower().endswith("vbaproject.bin") for name in names)
                return with_macros if macros else plain
    if "OFD.xml" in names or "/OFD.xml" in names:
        return OFD
    if "AndroidManifest.xml" in names and "classes.dex" in names:
        return APK
    if "META-INF/MANIFEST.MF" in names and any(name.endswith(".class") for name in names):
        return JAR
    if any(name.startswith("Payload/") and ".app/" in name for name in names):
        return IPA
    return ZIP


_DRIVE: Final = re.compile(r"[A-Za-z]:")


def _check_entry_name(name: str, trail: tuple[str, ...]) -> None:
    def unsafe(why: str) -> InspectionError:
        return InspectionError(
            "archive_path", f"{_subject(trail)} has an unsafe name: {why}", entry=trail
        )

    if not name.strip("/"):
        raise unsafe("it is empty")
    if "\x00" in name:
        raise unsafe("it contains a NUL character")
    if "\\" in name:
        raise unsafe("it contains a backslash, a path separator on Windows")
    if name.startswith("/"):
        raise unsafe("it is an absolute path")
    for ch in name:
        if unicodedata.category(ch) == "Cc":
            raise unsafe(f"it contains a control character ({_codepoint(ch)})")
        if _invisible(ch):
            raise unsafe(f"it contains an invisible formatting character ({_codepoint(ch)})")
    for part in name.rstrip("/").split("/"):
        if part == "..":
            raise unsafe("it climbs out of the archive with '..'")
        if _DRIVE.match(part):
            raise unsafe("it names a drive")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise unsafe(f"a part of it is longer than {MAX_NAME_BYTES} bytes")


class _Names:
    """Refuses two entries that would land on the same file when extracted."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def add(self, name: str, trail: tuple[str, ...]) -> None:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        key = unicodedata.normalize("NFC", "/".join(parts)).casefold()
        earlier = self._seen.get(key)
        if earlier is not None:
            raise InspectionError(
                "archive_path",
                f"{_container(trail[:-1])} holds two entries named {earlier!r} and {name!r}, "
                "which would overwrite each other when extracted",
                entry=trail,
            )
        self._seen[key] = name


def _is_debris(name: str, head: bytes) -> bool:
    """Files that operating systems leave in archives: verified, but not typed."""
    base = _basename(name)
    if base.lower() in _DEBRIS:
        return True
    return base.startswith("._") and head.startswith(_APPLE_DOUBLE)


def _verify_zip(
    source: _FileSource,
    directory: _ZipDirectory,
    kind: _Type,
    trail: tuple[str, ...],
    level: int,
    context: _Context,
    collect: Callable[[BundleEntry], None] | None = None,
) -> dict[str, Any]:
    """Checks every entry from the directory, then decompresses each in turn; an archive's
    files are inspected as files, an Office document's parts only decompressed. With
    ``collect`` (a bundle), each file's verdict is handed to it instead of its refusal
    being raised (see :func:`inspect_bundle`)."""
    limits = context.limits
    archive = kind is ZIP
    if archive:
        context.open_container(level, trail)
    names = _Names()
    total = files = 0
    for entry in directory.entries:
        info, path = entry.info, (*trail, entry.name)
        _check_entry_name(entry.name, path)
        names.add(entry.name, path)
        if info.flag_bits & 0x41:
            raise InspectionError(
                "archive_encrypted",
                f"{_subject(path)} is encrypted, so it cannot be checked or read: send the "
                "files without a password",
                entry=path,
            )
        if info.create_system == 3 and (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise InspectionError(
                "archive_path", f"{_subject(path)} is a symbolic link", entry=path
            )
        if info.compress_type not in _METHODS:
            raise InspectionError(
                "archive_uninspectable",
                f"{_subject(path)} is compressed with method {info.compress_type}, which "
                "cannot be checked (only stored, deflate, bzip2 and LZMA can)",
                entry=path,
            )
        context.check_ratio(info.file_size, info.compress_size, path)
        total += info.file_size
        files += not info.is_dir()
        if context.expanded + total > limits.max_total_uncompressed:
            raise InspectionError(
                "archive_size",
                f"{_container(trail)} declares {_human(total)} or more of uncompressed "
                f"content; at most {_human(limits.max_total_uncompressed)} is accepted",
                entry=trail,
            )
    if total > limits.ratio_grace and total > limits.max_ratio * source.size:
        raise InspectionError(
            "archive_ratio",
            f"{_container(trail)} expands more than {limits.max_ratio}:1 "
            f"({_human(total)} from {_human(source.size)}): refused as a decompression bomb",
            entry=trail,
        )

    previous_end = 0
    for entry in sorted(directory.entries, key=lambda e: e.info.header_offset):
        info, path = entry.info, (*trail, entry.name)
        if info.header_offset < previous_end:
            raise _corrupt(path, "overlaps another entry (a zip-bomb construction)")
        flags, method, crc, compressed, size, _, name, data_at = _local_header(source, entry, path)
        if name != entry.raw_name:
            raise _corrupt(path, "has a different name in its local header (a forged archive)")
        if flags & 0x41:
            raise InspectionError("archive_encrypted", f"{_subject(path)} is encrypted", entry=path)
        if method != info.compress_type:
            raise _corrupt(path, "has a local header that disagrees with the directory")
        local = (compressed, size, crc)
        declared = (info.compress_size, info.file_size, info.CRC)
        if not flags & 0x08 and 0xFFFFFFFF not in local[:2] and local != declared:
            raise _corrupt(path, "has sizes in its local header that disagree with the directory")
        previous_end = data_at + info.compress_size
        if previous_end > directory.directory_offset:
            raise _corrupt(path, "runs into the archive's directory")
        output = _zip_entry_output(source, data_at, entry, path, context)
        if not archive or info.is_dir():
            for _ in output:
                pass
            continue
        if collect is not None:
            collect(_bundle_entry(output, entry, path, level, context))
            continue
        stream = _StreamSource(output)
        if stream.head and not _is_debris(entry.name, stream.head):
            _inspect(stream, entry.name, path, level + 1, context)
        stream.drain()
    return {"entries": files, "uncompressed": total}


@dataclass(frozen=True)
class BundleEntry:
    """One file of a bundle: its path in the archive, its size and SHA-256 (of all its
    bytes, hashed while they were inspected), and what it is (``detected``) or why it is
    refused on its own (``error``); ``skipped`` for platform debris (``.DS_Store``...)."""

    name: str
    info: zipfile.ZipInfo = field(hash=False, compare=False)
    size: int
    sha256: str
    detected: Detected | None = None
    error: InspectionError | None = None
    skipped: bool = False


class _Hashed:
    """An entry's decompressed chunks, hashed and counted as they pass. A refusal raised
    by the chunks themselves (the container's: a forged size, a bad CRC, the budget) is
    marked, so that it is not mistaken for one about the entry's content."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.digest = hashlib.sha256()
        self.size = 0
        self.failed = False

    def __iter__(self) -> _Hashed:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except InspectionError:
            self.failed = True
            raise
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def _bundle_entry(
    output: Iterator[bytes],
    entry: _ZipEntry,
    path: tuple[str, ...],
    level: int,
    context: _Context,
) -> BundleEntry:
    """Inspect one file of a bundle as a single upload of it would be (one level deeper,
    under the bundle's budget). A refusal about its content is the entry's own; one about
    the archive (its structure, its limits, an ``archive_*`` rule at any depth) is raised."""
    hashed = _Hashed(output)
    stream = _StreamSource(hashed)
    detected: Detected | None = None
    error: InspectionError | None = None
    skipped = False
    try:
        if not stream.head:
            error = InspectionError("empty", f"{_subject(path)} is empty (0 bytes)", entry=path)
        elif _is_debris(entry.name, stream.head):
            skipped = True
        else:
            detected = _inspect(stream, entry.name, path, level + 1, context)
    except InspectionError as exc:
        if hashed.failed or exc.rule.startswith("archive_"):
            raise
        error = exc
    stream.drain()
    return BundleEntry(
        name=entry.name,
        info=entry.info,
        size=hashed.size,
        sha256=hashed.digest.hexdigest(),
        detected=detected,
        error=error,
        skipped=skipped,
    )


def inspect_bundle(
    path: Path,
    *,
    allowed: Collection[str],
    limits: ArchiveLimits = ArchiveLimits(),
    spool_dir: Path | None = None,
) -> list[BundleEntry]:
    """The files of a bundle (a ZIP archive sent to be taken in file by file), each with
    its verdict, or :class:`InspectionError` when the bundle as a whole is refused.

    The archive gets every check an uploaded ZIP gets (its directory, entry names and
    duplicates, encryption, links, methods, declared sizes and ratios, the entry count,
    the byte budget, nesting), and every file is really decompressed under the budget and
    inspected as an upload of it would be. What breaks those (rule ``corrupt`` for the
    archive's own structure, or any ``archive_*`` rule) refuses the bundle; what is wrong
    with one file's content (``type_*``, ``corrupt``, ``encrypted``, ``empty``) is that
    entry's ``error``, and the others stand. Directories are not listed. The bundle itself
    need not be an allowed type: it is a way of sending files, not evidence.
    """
    context = _Context(limits=limits, allowed=frozenset(allowed), spool_dir=spool_dir)
    entries: list[BundleEntry] = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise InspectionError("empty", "the bundle is empty (0 bytes)")
        source = _FileSource(f, size)
        found = _sniff(source.head)
        kind = found[0] if found is not None else None
        directory: _ZipDirectory | None = None
        if kind in _ZIP_BASED:
            directory = _zip_directory(source, (), context)
            kind = _zip_classify(source, directory, ())
        if kind is None:
            raise InspectionError(
                "type_unknown",
                "a bundle must be a ZIP archive; this is of no known type (it begins with "
                f"the bytes {source.head[:8].hex(' ')})",
            )
        if kind is not ZIP or directory is None:
            raise InspectionError(
                "type_not_allowed",
                f"a bundle must be a ZIP archive; this is {kind.description} ({kind.media_type})",
            )
        _verify_zip(source, directory, ZIP, (), 0, context, collect=entries.append)
    return entries


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """zlib's decompressobj with the interface of bz2's and lzma's decompressors."""

    def __init__(self, wbits: int) -> None:
        self._inflate = zlib.decompressobj(wbits)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._inflate.eof

    @property
    def unused_data(self) -> bytes:
        return self._inflate.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        data = self._inflate.unconsumed_tail + data
        out = self._inflate.decompress(data, max(max_length, 0))
        self.needs_input = not self._inflate.unconsumed_tail and (
            max_length <= 0 or len(out) < max_length
        )
        return out


def _run(decompressor: _Decompressor, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decompress until the stream's end, at most CHUNK bytes at a time."""
    for chunk in chunks:
        out = decompressor.decompress(chunk, CHUNK)
        if out:
            yield out
        while not decompressor.eof and not decompressor.needs_input:
            out = decompressor.decompress(b"", CHUNK)
            if out:
                yield out
        if decompressor.eof:
            return


class _Counted:
    """An iterator of chunks that counts the bytes it hands out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self.count += len(chunk)
        return chunk


def _zip_lzma(chunks: Iterator[bytes], trail: tuple[str, ...]) -> tuple[Any, Iterator[bytes]]:
    """ZIP's LZMA: a 4-byte header (version, properties size), LZMA1 properties, raw data."""
    buffer = b""
    while len(buffer) < 4 or len(buffer) < 4 + _u16le(buffer, 2):
        chunk = next(chunks, None)
        if chunk is None:
            raise _corrupt(trail, "has a damaged LZMA header")
        buffer += chunk
    size = _u16le(buffer, 2)
    properties = buffer[4 : 4 + size]
    if size != 5 or properties[0] >= 9 * 5 * 5:
        raise _corrupt(trail, "has a damaged LZMA header")
    lc, rest = properties[0] % 9, properties[0] // 9
    lzma_filter = {
        "id": lzma.FILTER_LZMA1,
        "dict_size": _u32le(properties, 1),
        "lc": lc,
        "lp": rest % 5,
        "pb": rest // 5,
    }
    try:
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
    except (lzma.LZMAError, ValueError):
        raise _corrupt(trail, "has damaged LZMA properties") from None
    return decompressor, itertools.chain([buffer[4 + size :]], chunks)


def _zip_entry_output(
    source: _FileSource,
    data_at: int,
    entry: _ZipEntry,
    trail: tuple[str, ...],
    context: _Context,
) -> Iterator[bytes]:
    """The entry's bytes, decompressed independently of what its header declares, under
    the budget; forged sizes and checksums are refused."""
    info = entry.info
    raw = _Counted(source.chunks(data_at, data_at + info.compress_size))
    decompressor: _Decompressor | None = None
    if info.compress_type == _STORED:
        output: Iterator[bytes] = raw
    elif info.compress_type == _DEFLATED:
        decompressor = _Zlib(-15)
        output = _run(decompressor, raw)
    elif info.compress_type == _BZIP2:
        decompressor = bz2.BZ2Decompressor()
        output = _run(decompressor, raw)
    else:
        lzma_decompressor, rest = _zip_lzma(raw, trail)
        output = _run(lzma_decompressor, rest)
    size = crc = 0
    try:
        for piece in output:
            size += len(piece)
            if size > info.file_size:
                raise _corrupt(
                    trail,
                    f"holds more than the {info.file_size:,} bytes its directory entry "
                    "declares (a forged size)",
                )
            context.expand(len(piece), trail)
            context.check_ratio(size, raw.count, trail, so_far=True)
            crc = zlib.crc32(piece, crc)
            yield piece
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise _corrupt(trail, f"has damaged compressed data ({exc})") from None
    if decompressor is not None and not decompressor.eof:
        raise _corrupt(trail, "has compressed data that ends early (the archive is damaged)")
    if size != info.file_size:
        raise _corrupt(
            trail, f"holds {size:,} bytes but its directory entry declares {info.file_size:,}"
        )
    if crc != info.CRC:
        raise _corrupt(trail, "fails its CRC-32 check (the archive is damaged)")


# --- tar and single-file compression -----------------------------------------------------------

_ZERO_BLOCK: Final = bytes(512)


def _tar_number(field_bytes: bytes, trail: tuple[str, ...]) -> int:
    if field_bytes[:1] and field_bytes[0] & 0x80:
        if field_bytes[0] == 0xFF:
            raise _corrupt(trail, "is a damaged tar archive (a negative number)")
        return int.from_bytes(bytes([field_bytes[0] & 0x7F]) + field_bytes[1:], "big")
    digits = field_bytes.replace(b"\x00", b" ").strip()
    if not digits:
        return 0
    if digits.strip(b"01234567"):
        raise _corrupt(trail, "is a damaged tar archive (a header number is not octal)")
    return int(digits, 8)


def _tar_checksum(block: bytes, trail: tuple[str, ...]) -> None:
    stored = _tar_number(block[148:156], trail)
    data = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(data)
    signed = unsigned - 256 * sum(1 for b in data if b > 127)
    if stored not in (unsigned, signed):
        raise _corrupt(trail, "is a damaged tar archive (a header fails its checksum)")


def _pax(data: bytes, trail: tuple[str, ...]) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
            key, _, value = data[space + 1 : position + length - 1].partition(b"=")
            records[key.decode("utf-8")] = value.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise _corrupt(trail, "is a damaged tar archive (a bad pax header)") from None
        if length <= 0 or space < 0:
            raise _corrupt(trail, "is a damaged tar archive (a bad pax header)")
        position += length
    return records


def _walk_tar(
    reader: _Reader,
    trail: tuple[str, ...],
    level: int,
    context: _Context,
    overhead: list[int] | None = None,
) -> dict[str, Any]:
    """Every member of a tar stream, in one pass: names, kinds, sizes and contents. The
    bytes of headers and padding are added to ``overhead`` (tar's 512-byte blocks compress
    to almost nothing, so a compressed tarball's ratio is measured on member content)."""
    limits = context.limits
    overhead = [0] if overhead is None else overhead
    names = _Names()
    pax: dict[str, str] = {}
    long_name: bytes | None = None
    files = total = 0
    while True:
        block = reader.read(512)
        if not block or block == _ZERO_BLOCK:
            break
        if len(block) < 512:
            raise _corrupt(trail, "is a truncated tar archive")
        _tar_checksum(block, trail)
        overhead[0] += 512
        flag, size = block[156:157], _tar_number(block[124:136], trail)
        padded = -(-size // 512) * 512
        if flag in (b"x", b"g", b"L", b"K"):
            overhead[0] += padded
            if size > MAX_TAR_HEADER:
                raise _corrupt(
                    trail, f"is a damaged tar archive (an extended header of {size:,} bytes)"
                )
            data = reader.read(padded)[:size]
            if len(data) < size:
                raise _corrupt(trail, "is a truncated tar archive")
            if flag == b"x":
                pax = _pax(data, trail)
            elif flag == b"L":
                long_name = data.rstrip(b"\x00")
            continue
        raw_name = long_name or block[:100].split(b"\x00", 1)[0]
        prefix = block[345:500].split(b"\x00", 1)[0]
        if long_name is None and block[257:263] == b"ustar\x0000" and prefix:
            raw_name = prefix + b"/" + raw_name
        name = pax.get("path") or _decode_name(raw_name)
        if "size" in pax:
            if not pax["size"].isdigit():
                raise _corrupt(trail, "is a damaged tar archive (a bad pax size)")
            size = int(pax["size"])
            padded = -(-size // 512) * 512
        pax, long_name = {}, None
        path = (*trail, name)
        context.count_entries(1, path)
        _check_entry_name(name, path)
        names.add(name, path)
        if flag in (b"1", b"2"):
            raise InspectionError(
                "archive_path", f"{_subject(path)} is a link to another file", entry=path
            )
        if flag in (b"3", b"4", b"6"):
            raise InspectionError(
                "archive_path", f"{_subject(path)} is a device or pipe", entry=path
            )
        if flag in (b"S", b"M", b"V"):
            raise InspectionError(
                "archive_uninspectable",
                f"{_subject(path)} is a sparse or multi-volume tar member, which cannot be checked",
                entry=path,
            )
        total += size
        if total > limits.max_total_uncompressed:
            raise InspectionError(
                "archive_size",
                f"{_container(trail)} holds more than "
                f"{_human(limits.max_total_uncompressed)} of files, the limit",
                entry=trail,
            )
        start = reader.offset
        data_stream = reader.stream(size)
        if flag in (b"5", b"D") or size == 0:
            for _ in data_stream:
                pass
        else:
            files += 1
            stream = _StreamSource(data_stream)
            if not _is_debris(name, stream.head):
                _inspect(stream, name, path, level + 1, context)
            stream.drain()
        if reader.offset - start != size or len(reader.read(padded - size)) != padded - size:
            raise _corrupt(path, "is cut short (the tar archive is truncated)")
        overhead[0] += padded - size
    reader.drain()
    if files == 0:
        raise InspectionError("empty", f"{_container(trail)} holds no files", entry=trail)
    return {"entries": files, "uncompressed": total}


def _inner_name(name: str, kind: _Type) -> str:
    extension = _extension(name)
    stem = name[: -len(extension)] if extension else name
    if extension in (".tgz", ".tbz2", ".tbz", ".txz"):
        return stem + ".tar"
    return stem if extension in kind.extensions else name


def _decompress(
    source: _Source, kind: _Type, name: str, trail: tuple[str, ...], level: int, context: _Context
) -> dict[str, Any]:
    """A gzip, bzip2 or xz file: streamed through the budget; a tar inside is walked as
    part of the same container, any other content inspected as the file it is."""
    context.open_container(level, trail)
    magic = _COMPRESSED[kind]
    compressed = _Counted(_all_chunks(source))
    inner_name = _inner_name(name, kind)
    inner_trail = (*trail, inner_name)
    expanded = 0
    overhead = [0]  # tar headers and padding, not held against the ratio

    def make() -> _Decompressor:
        if kind is GZIP:
            return _Zlib(31)
        if kind is BZIP2:
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)

    def output() -> Iterator[bytes]:
        nonlocal expanded
        chunks: Iterator[bytes] = compressed
        while True:
            decompressor = make()
            try:
                for piece in _run(decompressor, chunks):
                    expanded += len(piece)
                    context.expand(len(piece), inner_trail)
                    content = expanded - overhead[0]
                    context.check_ratio(content, compressed.count, trail, so_far=True)
                    yield piece
            except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                raise _corrupt(trail, f"has damaged compressed data ({exc})") from None
            if not decompressor.eof:
                raise _corrupt(trail, "is truncated: its compressed data ends early")
            leftover = decompressor.unused_data
            while len(leftover) < len(magic):
                chunk = next(chunks, None)
                if chunk is None:
                    break
                leftover += chunk
            if leftover.startswith(magic):  # another member (concatenated streams)
                chunks = itertools.chain([leftover], chunks)
                continue
            for chunk in itertools.chain([leftover], chunks):
                if chunk.strip(b"\x00"):
                    raise _corrupt(trail, "has unexpected data after its compressed stream")
            return

    inner = _StreamSource(output())
    if not inner.head:
        inner.drain()
        raise InspectionError(
            "empty", f"{_subject(trail)} decompresses to nothing (0 bytes)", entry=trail
        )
    details: dict[str, Any]
    if len(inner.head) >= 263 and inner.head[257:262] == b"ustar":
        details = {"contains": TAR.media_type}
        reader = _Reader(_all_chunks(inner))
        details.update(_walk_tar(reader, trail, level, context, overhead))
    else:
        found = _inspect(inner, inner_name, inner_trail, level + 1, context)
        details = {"contains": found.media_type}
    inner.drain()
    details["uncompressed"] = expanded
    return details
