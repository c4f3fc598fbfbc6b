"""Documents rendered to PDF and read back with poppler (pdffonts, pdftotext, pdfinfo)."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from arbitral.documents import typography
from arbitral.documents.model import (
    KINDS,
    LANGUAGES,
    Document,
    DocumentModelError,
    Fees,
    FeeShare,
    MediationStatement,
    new_verification_code,
    normalize_verification_code,
)
from arbitral.documents.render import (
    ANNEX_THRESHOLD,
    AssetRefused,
    DocumentRenderError,
    FontMissing,
    Renderer,
    SubsetterMissing,
    TemplateFailure,
    check_subsetter,
    render_pdf,
)
from arbitral.documents.samples import (
    AGREEMENT_ID,
    AGREEMENT_SHA256,
    CASE_NUMBER,
    CLAIMANT,
    RESPONDENT,
    sample,
)
from tests.conftest import REPO_ROOT

TEMPLATES = REPO_ROOT / "templates"
CASES = [(k, lang) for lang in LANGUAGES for k in KINDS]


def _squash(text: str) -> str:
    """pdftotext breaks lines (and Chinese text anywhere): compare without whitespace."""
    return re.sub(r"\s+", "", text)


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _poppler(tool: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, *args, str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the default templates, to add a commission's own beside them."""
    shutil.copytree(TEMPLATES / "documents", tmp_path / "templates" / "documents")
    return tmp_path / "templates"


def _own(root: Path, slug: str, name: str, text: str) -> None:
    path = root / "tenants" / slug / "documents" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_every_kind_renders_with_its_text_fonts_and_page_furniture(
    kind: str, lang: str, tmp_path: Path
) -> None:
    document = sample(kind, lang)  # type: ignore[arg-type]
    pdf = render_pdf(document, TEMPLATES)
    assert pdf.startswith(b"%PDF-")

    fonts = _poppler("pdffonts", pdf, tmp_path).splitlines()[2:]
    assert fonts, "no fonts"
    for line in fonts:
        columns = line.split()
        assert "Type 3" not in line, line
        assert "CJK" in columns[0], line  # every face is one of the Noto CJK faces
        assert columns[-5:-2] == ["yes", "yes", "yes"], line  # embedded, subset, unicode

    text = _text(pdf, tmp_path)
    flat = _squash(text)
    assert CASE_NUMBER in flat
    assert document.verification_code in flat
    content = document.content
    for party in getattr(content, "parties", ()):
        assert _squash(party.name) in flat
    for attribute in ("decision", "terms", "claims"):
        for item in getattr(content, attribute, ()):
            assert _squash(item.text) in flat, item.text
            if item.amount is not None:
                assert typography.money(item.amount, lang).replace(" ", "") in flat

    pages = [page for page in text.split("\f") if page.strip()]
    for number, page in enumerate(pages, start=1):
        assert CASE_NUMBER in _squash(page), f"page {number} has no case number"
        expected = (
            f"第{number}页共{len(pages)}页" if lang == "zh" else f"Page{number}of{len(pages)}"
        )
        assert expected in _squash(page), f"page {number}: no {expected}"


def test_award_decision_amounts_fees_dates_and_dissent(tmp_path: Path) -> None:
    flat = _squash(_text(render_pdf(sample("award", dissent=True), TEMPLATES), tmp_path))
    assert "一、被申请人张三向申请人偿还借款本金人民币48,650.00元；" in flat
    assert "二、被申请人张三向申请人支付截至2026年10月31日的利息人民币3,217.45元；" in flat
    assert "四、驳回申请人的其他仲裁请求。" in flat
    assert "本案仲裁费人民币2,350.00元，由被申请人张三承担人民币2,350.00元。" in flat
    assert "2026年12月6日于广州" in flat
    assert "仲裁员周平的不同意见" in flat
    assert "首席仲裁员陈明" in flat
    assert "仲裁员周平的不同意见" not in _squash(
        _text(render_pdf(sample("award"), TEMPLATES), tmp_path)
    )


ENGLISH_HEADINGS = {
    "award": (
        "Award",
        "I. The claimant's claims",
        "The respondent's defence",
        "II. The facts found by the tribunal",
        "III. The tribunal's reasons",
        "IV. Award",
        "the tribunal awards as follows:",
        "This award is final and takes effect on the day it is made.",
        "Dissenting opinion of arbitrator Zhou Ping",
    ),
    "consent_award": (
        "Award on Agreed Terms",
        "I. The claimant's claims",
        "II. The settlement",
        "On 20 October 2026 the parties settled the dispute",
        "Under Article 49 of the Arbitration Law",
        "III. Award",
    ),
    "mediation_statement": (
        "Mediation Statement",
        "I. The claimant's claims",
        "II. The agreement reached in mediation",
        "On 28 October 2026, in mediation conducted by the tribunal",
        "Articles 51 and 52 of the Arbitration Law",
        "takes effect once both parties have signed for it",
    ),
}


@pytest.mark.parametrize("kind", sorted(ENGLISH_HEADINGS))
def test_english_awards_and_statements_read_back_in_english(kind: str, tmp_path: Path) -> None:
    document = sample(kind, "en", dissent=True)  # type: ignore[arg-type]
    pdf = render_pdf(document, TEMPLATES)
    text = _text(pdf, tmp_path)
    flat = _squash(text)
    assert "Guangzhou Arbitration Commission" in text
    for heading in ENGLISH_HEADINGS[kind]:
        assert _squash(heading) in flat, heading
    assert "Claimant: Shenzhen Example Online Microcredit Co., Ltd." in " ".join(text.split())
    assert "Respondent: Zhang San, ID no. 440306199001011234" in " ".join(text.split())
    assert "The arbitration fee of CNY 2,350.00 is borne by the respondent Zhang San" in (
        " ".join(text.split())
    )
    assert "Scantoverify" in flat
    # No Chinese but the case number (which the commission keeps as numbered).
    chinese = {ch for ch in text.replace(CASE_NUMBER, "") if "\u4e00" <= ch <= "\u9fff"}
    assert chinese == set(), "".join(sorted(chinese))
    info = _poppler("pdfinfo", pdf, tmp_path)
    title = ENGLISH_HEADINGS[kind][0]
    assert re.search(rf"^Title:\s+{title} \(2026\)穗仲网字第000123号$", info, re.M), info
    assert re.search(r"^Author:\s+Guangzhou Arbitration Commission$", info, re.M), info


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_mediation_statement_states_the_agreement_it_records(lang: str, tmp_path: Path) -> None:
    document = sample("mediation_statement", lang)
    content = document.content
    assert isinstance(content, MediationStatement)
    flat = _squash(_text(render_pdf(document, TEMPLATES), tmp_path))
    assert AGREEMENT_SHA256 in flat
    assert AGREEMENT_ID.replace("-", "") in flat.replace("-", "")
    for step in content.procedural_history:
        assert _squash(step.text) in flat
    if lang == "zh":
        assert "2026年10月28日，经仲裁庭主持调解，双方当事人自愿达成如下协议" in flat
        assert "本案程序经过如下" in flat
    else:
        assert "Theproceedingswereasfollows" in flat

    # Without the agreement's details (a caller of before): the statement as it was.
    bare = replace(
        document,
        content=replace(
            content, procedural_history=(), agreed_on=None, agreement_id="", agreement_sha256=""
        ),
    )
    flat = _squash(_text(render_pdf(bare, TEMPLATES), tmp_path))
    assert AGREEMENT_SHA256 not in flat
    if lang == "zh":
        assert "本案审理过程中，经仲裁庭主持调解" in flat
        assert "本案程序经过如下" not in flat


def test_a_mediation_statements_agreement_is_checked() -> None:
    content = sample("mediation_statement").content
    assert isinstance(content, MediationStatement)
    with pytest.raises(DocumentModelError, match="agreement_sha256"):
        replace(content, agreement_sha256="ABC")
    with pytest.raises(DocumentModelError, match="agreement_sha256"):
        replace(content, agreement_sha256=AGREEMENT_SHA256.upper())
    with pytest.raises(DocumentModelError, match="agreed_on"):
        replace(content, agreed_on=None)
    with pytest.raises(DocumentModelError, match="agreed_on"):
        replace(content, agreed_on=content.made_on.replace(year=2027))


def test_metadata_carries_the_commission_case_and_verification_code(tmp_path: Path) -> None:
    document = sample("award", verification_code=new_verification_code())
    pdf = render_pdf(document, TEMPLATES)
    info = _poppler("pdfinfo", pdf, tmp_path, "-custom")
    assert re.search(r"^Author:\s+广州仲裁委员会$", info, re.M)
    assert re.search(r"^Title:\s+裁决书 \(2026\)穗仲网字第000123号$", info, re.M)
    assert f"verification:{document.verification_code}" in info
    assert re.search(rf"^arbitralverificationcode:\s*{document.verification_code}$", info, re.M)
    assert re.search(r"^arbitralcasenumber:\s*\(2026\)穗仲网字第000123号$", info, re.M)
    plain = _poppler("pdfinfo", pdf, tmp_path)
    assert re.search(r"^Page size:\s+595.\d+ x 841.\d+ pts \(A4\)$", plain, re.M)
    xmp = _poppler("pdfinfo", pdf, tmp_path, "-meta")
    assert 'pdfaid:part="3"' in xmp
    assert 'pdfaid:conformance="B"' in xmp
    assert document.verification_code in xmp  # keywords, in the XMP too


def test_no_fonttools_fallback_when_rendering_chinese(
    caplog: pytest.LogCaptureFixture, root: Path
) -> None:
    """WeasyPrint falls back to fontTools (35x slower) with only a warning: fail on it."""
    check_subsetter()
    with caplog.at_level(logging.DEBUG, logger="weasyprint"):
        Renderer(root).pdf(sample("award", schedule_rows=40))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert not [r for r in caplog.records if "fontTools" in r.getMessage()]


def test_without_harfbuzz_subset_the_renderer_refuses_to_start(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weasyprint.text.ffi

    monkeypatch.setattr(weasyprint.text.ffi, "harfbuzz_subset", None)
    with pytest.raises(SubsetterMissing, match="libharfbuzz-subset0"):
        Renderer(root)


def test_a_missing_font_is_a_clear_error(root: Path) -> None:
    with pytest.raises(FontMissing, match="'Noto Serif CJK XX' is not installed"):
        Renderer(root, fonts=("Noto Serif CJK XX",))


def test_an_undefined_variable_is_an_error_not_a_blank(root: Path) -> None:
    _own(
        root,
        "typo",
        "award.zh.html",
        '{% extends "_base.html" %}{% block title %}'
        "裁决书{% endblock %}{% block body %}{{ c.decison }}{% endblock %}",
    )
    with pytest.raises(TemplateFailure, match="decison"):
        Renderer(root).pdf(replace(sample("award"), tenant="typo"))


def test_a_template_that_does_not_parse_is_an_error(root: Path) -> None:
    _own(root, "broken", "award.zh.html", "<p>{% for x in c.decision %}{{ x.text }}</p>\n")
    with pytest.raises(TemplateFailure, match=r"award\.zh\.html, line 1"):
        Renderer(root).pdf(replace(sample("award"), tenant="broken"))


def test_a_missing_template_is_an_error(root: Path) -> None:
    (root / "documents" / "award.en.html").unlink()
    with pytest.raises(TemplateFailure, match=r"no template award\.en\.html"):
        Renderer(root).pdf(sample("award", "en"))


def test_a_bad_stylesheet_is_an_error(root: Path) -> None:
    _own(root, "css", "document.css", "p { color: red; \n h1 } } @page { size: A4")
    with pytest.raises(DocumentRenderError, match="stylesheets"):
        Renderer(root).pdf(replace(sample("notice_of_acceptance"), tenant="css"))


@pytest.mark.parametrize(
    "url",
    ["http://example.com/x.png", "file:///etc/passwd", "https://example.com/a.css", "../x.png"],
)
def test_the_fetcher_refuses_anything_but_template_assets(
    url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the renderer opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    (root / "x.png").write_bytes(b"not in the assets")
    own = root / "tenants" / "fetch" / "documents" / "notice_of_acceptance.zh.html"
    own.parent.mkdir(parents=True)
    own.write_text(
        (root / "documents" / "notice_of_acceptance.zh.html")
        .read_text()
        .replace('<p class="party">', f'<img src="{url}"><p class="party">', 1)
    )
    with pytest.raises(AssetRefused, match="refused to fetch"):
        Renderer(root).pdf(replace(sample("notice_of_acceptance"), tenant="fetch"))


def test_a_commissions_own_template_and_assets_are_for_that_commission_only(
    root: Path, tmp_path: Path
) -> None:
    text = (root / "documents" / "notice_of_acceptance.zh.html").read_text()
    _own(
        root,
        "alpha",
        "logo.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        '<rect width="10" height="10" fill="red"/></svg>',
    )
    _own(
        root,
        "alpha",
        "notice_of_acceptance.zh.html",
        text.replace(
            '<p class="party">',
            '<img src="../tenants/alpha/documents/logo.svg">'
            '<p>甲仲裁委专用格式</p><p class="party">',
            1,
        ),
    )
    _own(root, "alpha", "document.css", ".party { color: #123456; }")
    renderer = Renderer(root)
    alpha = _squash(
        _text(renderer.pdf(replace(sample("notice_of_acceptance"), tenant="alpha")), tmp_path)
    )
    beta = _squash(
        _text(renderer.pdf(replace(sample("notice_of_acceptance"), tenant="beta")), tmp_path)
    )
    default = _squash(_text(renderer.pdf(sample("notice_of_acceptance")), tmp_path))
    assert "甲仲裁委专用格式" in alpha
    assert "甲仲裁委专用格式" not in beta
    assert "甲仲裁委专用格式" not in default
    assert len(renderer.stylesheets("alpha")) == 2
    assert len(renderer.stylesheets("beta")) == 1


def test_a_short_schedule_is_a_table_a_long_one_an_annex(tmp_path: Path) -> None:
    short = _squash(
        _text(render_pdf(sample("award", schedule_rows=ANNEX_THRESHOLD), TEMPLATES), tmp_path)
    )
    assert "附件" not in short
    assert "2025-04-01" in short
    long = _text(
        render_pdf(sample("award", schedule_rows=ANNEX_THRESHOLD + 1), TEMPLATES), tmp_path
    )
    assert "还款计划详见附件（共31期）" in _squash(long)
    annex = long[long.index("附件：还款计划表") :]
    assert re.search(r"^\s+31\s+2027-09-18\s+1,613.00\s+16.13\s+1,629.13\s+0.00$", annex, re.M)


def test_an_annex_of_500_rows_renders_fast(tmp_path: Path) -> None:
    """The bound is one table's time, not the annex's: measured (arbitral bench documents),
    an award with 500 rows in the annex ~0.6 s quiet / 1.2 s on a loaded machine, the same
    rows as one table 5-7 s; 2,000 rows: annex 2.3-3.6 s, one table 12-19 s."""
    render_pdf(sample("award"), TEMPLATES)  # warm: fonts, stylesheets
    document = sample("award", schedule_rows=500)
    started = time.perf_counter()
    pdf = render_pdf(document, TEMPLATES)
    elapsed = time.perf_counter() - started
    text = _text(pdf, tmp_path)
    assert re.search(r"^\s+500\s+2066-", text, re.M)
    assert elapsed < 4.0, f"500-row annex took {elapsed:.2f} s"


def test_rendering_writes_nothing_and_fails_whole(root: Path) -> None:
    _own(root, "typo", "award.zh.html", "{{ nothing }}")
    before = sorted(p for p in root.rglob("*"))
    with pytest.raises(TemplateFailure):
        Renderer(root).pdf(replace(sample("award"), tenant="typo"))
    assert sorted(p for p in root.rglob("*")) == before


def test_verification_codes() -> None:
    codes = {new_verification_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", c) for c in codes)
    assert normalize_verification_code("abcd efgh-jklm npqr") == "ABCD-EFGH-JKLM-NPQR"
    assert normalize_verification_code("0bcd1fgh8klmnpqr") == "OBCD-IFGH-BKLM-NPQR"
    with pytest.raises(DocumentModelError, match="verification code"):
        normalize_verification_code("ABCD-EFGH-JKLM-NPQ9")
    document = sample("award")
    assert document.verification_url == (
        "https://arbitral.example.cn/t/gzac/verify/ABCD-EFGH-JKLM-NPQR"
    )


def test_typography() -> None:
    assert typography.money(Decimal("1234567.5"), "zh") == "1,234,567.50元"
    assert typography.money(Decimal("0.005"), "en") == "CNY 0.01"
    assert typography.day(sample("award").issued_on, "zh") == "2026年12月6日"
    assert typography.day(sample("award").issued_on, "en") == "6 December 2026"
    assert [typography.ordinal(i, "zh") for i in (1, 10, 11, 20, 23)] == [
        "一、",
        "十、",
        "十一、",
        "二十、",
        "二十三、",
    ]


def test_the_model_refuses_inconsistent_documents() -> None:
    with pytest.raises(DocumentModelError, match=r"fees\.shares"):
        Fees(Decimal(100), (FeeShare("张三", Decimal(99)),))
    award = sample("award")
    with pytest.raises(DocumentModelError, match="claimant and a respondent"):
        replace(award, content=replace(award.content, parties=(CLAIMANT,)))  # type: ignore[type-var]
    assert isinstance(
        replace(award, content=replace(award.content, parties=(CLAIMANT, RESPONDENT))),  # type: ignore[type-var]
        Document,
    )
