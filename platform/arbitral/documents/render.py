"""Documents to HTML (Jinja2) and to PDF (WeasyPrint), with Chinese fonts embedded.

Templates are ``templates/documents/<kind>.<lang>.html`` (a commission's own in
``templates/tenants/<slug>/documents/`` comes first), sharing ``document.css``;
a commission's ``document.css`` is layered on top of the default one.

Everything that can be done once is done once per process and thread: the
Jinja environment (templates parsed once), the font check, the WeasyPrint
font configuration and the parsed stylesheets. Per document: the template,
the QR code, the layout and the PDF.

WeasyPrint fetches nothing from the network: the URL fetcher serves files under
the template directories and ``data:`` URIs, and refuses everything else,
which stops the rendering with :class:`AssetRefused`. Every failure is a
:class:`DocumentRenderError` with a message; ``render_pdf`` returns the whole
PDF or raises, it never writes anything.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import mimetypes
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import jinja2
import segno
from weasyprint import CSS, HTML
from weasyprint.css import ColorProfile
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from arbitral.documents import typography
from arbitral.documents.model import NOTICE_KINDS, Document, ScheduleRow
from arbitral.templating import environment, search_path

# The fonts the stylesheet names: both must be installed (Debian: fonts-noto-cjk).
REQUIRED_FONTS = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Noto Sans Mono CJK SC")
# PDF/A-3b: archival, fonts embedded, and it may carry attachments (the due-process
# record, a schedule as CSV); a signature appended later as an incremental update
# keeps it PDF/A (ISO 19005-3 allows incremental updates and signature fields).
PDF_VARIANT = "pdf/a-3b"
# Schedules longer than this go to an annex of preformatted blocks.
ANNEX_THRESHOLD = 30
ANNEX_ROWS_PER_BLOCK = 50
FOLDER = "documents"
OUTPUT_INTENT = "arbitral-srgb"
STYLESHEET = "document.css"


class DocumentRenderError(Exception):
    """A document could not be rendered; nothing was produced."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateFailure(DocumentRenderError):
    """The template is missing, does not parse, or uses an undefined variable."""


class FontMissing(DocumentRenderError):
    """A font the documents need is not installed (fontconfig does not have it)."""


class SubsetterMissing(DocumentRenderError):
    """HarfBuzz's subsetter is missing: fonts would be subset by fontTools, ~35x slower."""


class AssetRefused(DocumentRenderError):
    """A template referenced something outside the template assets (network, other files)."""


class _Warnings(logging.Handler):
    """WeasyPrint's warnings of this thread (a CSS rule it drops, an image it cannot read)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def _weasyprint_warnings_are_errors(what: str) -> Iterator[None]:
    """A warning WeasyPrint logs while rendering (it goes on, leaving something out) fails."""
    handler = _Warnings()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        raise DocumentRenderError(f"{what}: " + "; ".join(handler.messages))


# -- fonts -------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def font_file(family: str) -> str:
    """The file fontconfig uses for ``family``; :class:`FontMissing` when it has none.

    fontconfig always answers with *some* font: the match counts only if its
    family is the one asked for (a missing CJK font would otherwise become a
    Latin fallback and every Chinese character a missing glyph).
    """
    from weasyprint.text.ffi import ffi, fontconfig

    pattern = fontconfig.FcPatternCreate()
    try:
        fontconfig.FcPatternAddString(pattern, b"family", family.encode())
        fontconfig.FcConfigSubstitute(ffi.NULL, pattern, fontconfig.FcMatchPattern)
        fontconfig.FcDefaultSubstitute(pattern)
        result = ffi.new("FcResult *")
        match = fontconfig.FcFontMatch(ffi.NULL, pattern, result)
        if match == ffi.NULL:
            raise FontMissing(f"font {family!r} is not installed (fontconfig has no match)")
        try:
            value = ffi.new("FcChar8 **")
            families = []
            index = 0
            while fontconfig.FcPatternGetString(match, b"family", index, value) == 0:
                families.append(ffi.string(value[0]).decode())
                index += 1
            if family not in families:
                raise FontMissing(
                    f"font {family!r} is not installed: fontconfig offers "
                    f"{', '.join(families) or 'nothing'} instead (install fonts-noto-cjk)"
                )
            fontconfig.FcPatternGetString(match, b"file", 0, value)
            return str(ffi.string(value[0]).decode())
        finally:
            fontconfig.FcPatternDestroy(match)
    finally:
        fontconfig.FcPatternDestroy(pattern)


def check_fonts(families: Sequence[str] = REQUIRED_FONTS) -> None:
    for family in families:
        font_file(family)


def check_subsetter() -> None:
    """Refuse to run without HarfBuzz's subsetter (WeasyPrint's condition, same test)."""
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset

    if not (harfbuzz_subset and harfbuzz.hb_version_atleast(4, 1, 0)):
        raise SubsetterMissing(
            "libharfbuzz-subset (>= 4.1) is not installed: WeasyPrint would subset the "
            "Chinese fonts with fontTools, about 35 times slower (install libharfbuzz-subset0)"
        )


# -- assets ------------------------------------------------------------------------------


class AssetFetcher(URLFetcher):  # type: ignore[misc]
    """Serves files under the template directories and ``data:`` URIs; refuses the rest."""

    def __init__(self, roots: Sequence[Path]) -> None:
        super().__init__(
            timeout=1,
            allowed_protocols=("file", "data"),
            allow_redirects=False,
            fail_on_errors=True,
        )
        self.roots = tuple(root.resolve() for root in roots)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return _data_uri(url)
        if scheme == "file":
            path = Path(unquote(urlsplit(url).path)).resolve()
            if path.is_file() and any(path.is_relative_to(root) for root in self.roots):
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, body=path.read_bytes(), headers={"Content-Type": mime}
                )
        raise AssetRefused(
            f"refused to fetch {url}: documents may use only files under "
            f"{', '.join(str(r) for r in self.roots)} and data: URIs"
        )


def _data_uri(url: str) -> URLFetcherResponse:
    header, _, payload = url[5:].partition(",")
    params = header.split(";")
    mime = params[0] or "text/plain"
    body = base64.b64decode(payload) if "base64" in params[1:] else unquote_to_bytes(payload)
    return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})


# -- the annex ---------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _right(text: str, width: int) -> str:
    return " " * max(0, width - _width(text)) + text


ANNEX_COLUMNS = {
    "zh": ("期数", "应还日期", "本金（元）", "利息（元）", "合计（元）", "剩余本金（元）"),
    "en": ("No.", "Due on", "Principal", "Interest", "Total", "Outstanding"),
}


def annex_blocks(rows: Sequence[ScheduleRow], lang: str) -> list[str]:
    """The schedule as blocks of preformatted, right-aligned columns, one header each.

    WeasyPrint lays out a 2,000-row table in ~9.5 s; the same rows as
    preformatted text in page-sized blocks take about a tenth of that.
    """
    cells = [
        (
            str(r.period),
            r.due_on.isoformat(),
            typography.number(r.principal),
            typography.number(r.interest),
            typography.number(r.total),
            typography.number(r.outstanding),
        )
        for r in rows
    ]
    header = ANNEX_COLUMNS["zh" if lang == "zh" else "en"]
    widths = [max(_width(header[i]), *(len(c[i]) for c in cells)) + 2 for i in range(len(header))]
    head = "".join(_right(h, w) for h, w in zip(header, widths, strict=True))
    blocks = []
    for start in range(0, len(cells), ANNEX_ROWS_PER_BLOCK):
        lines = [
            "".join(_right(c, w) for c, w in zip(row, widths, strict=True))
            for row in cells[start : start + ANNEX_ROWS_PER_BLOCK]
        ]
        blocks.append("\n".join([head, *lines]))
    return blocks


# -- rendering ---------------------------------------------------------------------------


def qr_data_uri(url: str) -> str:
    """The verification URL as a QR code (SVG data URI, error correction M)."""
    return str(segno.make(url, error="m", micro=False).svg_data_uri(border=0, dark="#000"))


def _parties(document: Document, role: str) -> list[Any]:
    return [p for p in getattr(document.content, "parties", ()) if p.role == role]


@dataclass
class Renderer:
    """Renders documents from one template root; build once, use for many documents.

    Not shared between threads (WeasyPrint's font configuration is not
    thread-safe): :func:`renderer` keeps one per thread.
    """

    root: Path
    pdf_variant: str | None = PDF_VARIANT
    fonts: tuple[str, ...] = REQUIRED_FONTS

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        check_subsetter()
        check_fonts(self.fonts)
        self.font_config = FontConfiguration()
        self._stylesheets: dict[str, list[CSS]] = {}
        self._fetchers: dict[str, AssetFetcher] = {}
        self._image_cache: dict[str, Any] = {}
        # PDF/A's output intent, read once: WeasyPrint would open (and never close) its
        # sRGB profile for every document, a ResourceWarning and a file handle each time.
        icc = (files("weasyprint.pdf") / "sRGB2014.icc").read_bytes()
        self._color_profiles = {
            OUTPUT_INTENT: ColorProfile(
                io.BytesIO(icc), "sRGB2014.icc", "relative-colorimetric", (["r"], ["g"], ["b"])
            )
        }

    # Per tenant, once.
    def _environment(self, slug: str) -> jinja2.Environment:
        env = environment(str(self.root), slug, FOLDER, html=True)
        if "money" not in env.filters:
            env.filters.update(
                money=typography.money,
                number=typography.number,
                day=typography.day,
                moment=typography.moment,
                ordinal=typography.ordinal,
            )
        return env

    def _fetcher(self, slug: str) -> AssetFetcher:
        if slug not in self._fetchers:
            self._fetchers[slug] = AssetFetcher(search_path(self.root, slug, FOLDER))
        return self._fetchers[slug]

    def stylesheets(self, slug: str) -> list[CSS]:
        if slug not in self._stylesheets:
            default = self.root / FOLDER / STYLESHEET
            own = self.root / "tenants" / slug / FOLDER / STYLESHEET
            paths = [default] + ([own] if slug and own.is_file() else [])
            try:
                with _weasyprint_warnings_are_errors(f"stylesheets {', '.join(map(str, paths))}"):
                    self._stylesheets[slug] = [
                        CSS(
                            filename=str(path),
                            font_config=self.font_config,
                            url_fetcher=self._fetcher(slug),
                        )
                        for path in paths
                    ]
            except FatalURLFetchingError as exc:
                raise _unwrap(exc) from None
            except OSError as exc:
                raise TemplateFailure(f"stylesheet {default}: {exc}") from exc
        return self._stylesheets[slug]

    def template_name(self, document: Document) -> str:
        return f"{document.kind}.{document.language}.html"

    def html(self, document: Document) -> str:
        """The document as HTML (the template rendered with the document's data)."""
        name = self.template_name(document)
        slug = document.tenant
        schedule = document.schedule
        long_schedule = len(schedule) > ANNEX_THRESHOLD
        context = {
            "doc": document,
            "c": document.content,
            "lang": document.language,
            "kind": document.kind,
            "is_notice": document.kind in NOTICE_KINDS,
            "commission": document.commission,
            "case_number": document.case_number,
            "issued_on": document.issued_on,
            "verification_code": document.verification_code,
            "verification_url": document.verification_url,
            "qr_code": qr_data_uri(document.verification_url),
            "claimants": _parties(document, "claimant"),
            "respondents": _parties(document, "respondent"),
            "schedule": () if long_schedule else schedule,
            "annex": annex_blocks(schedule, document.language) if long_schedule else [],
            "annex_rows": len(schedule) if long_schedule else 0,
        }
        try:
            template = self._environment(slug).get_template(name)
            return template.render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateFailure(
                f"no template {exc.name} for {document.kind} in {document.language} "
                f"(looked in {', '.join(str(p) for p in search_path(self.root, slug, FOLDER))})"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateFailure(
                f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}"
            ) from None
        except jinja2.UndefinedError as exc:
            raise TemplateFailure(f"template {name} for {document.kind}: {exc.message}") from None
        except DocumentRenderError:
            raise
        except Exception as exc:
            raise TemplateFailure(
                f"template {name} for {document.kind} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def pdf_from_html(self, html: str, slug: str = "") -> bytes:
        """WeasyPrint on ``html`` with the cached stylesheets, fonts and fetcher."""
        stylesheets = self.stylesheets(slug)
        try:
            with _weasyprint_warnings_are_errors("WeasyPrint"):
                pdf = HTML(
                    string=html,
                    base_url=(self.root / FOLDER).as_uri() + "/",
                    url_fetcher=self._fetcher(slug),
                ).write_pdf(
                    stylesheets=stylesheets,
                    font_config=self.font_config,
                    pdf_variant=self.pdf_variant,
                    custom_metadata=True,
                    cache=self._image_cache,
                    color_profiles=dict(self._color_profiles),
                    output_intent=OUTPUT_INTENT if self.pdf_variant else None,
                )
        except FatalURLFetchingError as exc:
            raise _unwrap(exc) from None
        except DocumentRenderError:
            raise
        except Exception as exc:
            raise DocumentRenderError(f"WeasyPrint failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF-"):
            raise DocumentRenderError("WeasyPrint produced no PDF")
        return pdf

    def pdf(self, document: Document) -> bytes:
        return self.pdf_from_html(self.html(document), document.tenant)


def _unwrap(exc: FatalURLFetchingError) -> DocumentRenderError:
    cause = exc.__cause__
    if isinstance(cause, DocumentRenderError):
        return cause
    return AssetRefused(f"{exc}: {cause}" if cause else str(exc))


_local = threading.local()


def renderer(root: Path, pdf_variant: str | None = PDF_VARIANT) -> Renderer:
    """This thread's renderer for ``root`` (built on first use)."""
    cache: dict[tuple[str, str | None], Renderer] = _local.__dict__.setdefault("renderers", {})
    key = (str(root), pdf_variant)
    if key not in cache:
        cache[key] = Renderer(root, pdf_variant=pdf_variant)
    return cache[key]


def render_html(document: Document, templates_dir: Path) -> str:
    return renderer(templates_dir).html(document)


def render_pdf(
    document: Document, templates_dir: Path, *, pdf_variant: str | None = PDF_VARIANT
) -> bytes:
    """The document as a whole PDF (A4, fonts embedded, PDF/A-3b by default), or an error."""
    return renderer(templates_dir, pdf_variant).pdf(document)
