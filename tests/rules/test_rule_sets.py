"""Rule sets read from files: the example alliance's versions, immutability, precise errors."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from arbitral.rules.checker import InvalidRuleFiles
from arbitral.rules.loader import RuleBook, load_rule_book
from arbitral.rules.model import REQUIRED_TIME_LIMITS, UnknownRule
from arbitral.runtime import build_runtime
from arbitral.settings import ConfigError
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]
RULE_SET = "gba-alliance/online-arbitration"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rule_book(REPO / "rules")


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(REPO / "rules", root)
    return root


def test_the_example_alliance_has_two_published_versions(book: RuleBook) -> None:
    assert book.versions(RULE_SET) == ["1.0", "1.1", "1.2"]
    for version in ("1.0", "1.1", "1.2"):
        rule_set = book.get(RULE_SET, version)
        assert book.is_published(rule_set)
        assert sorted(rule_set.case_types) == ["online-loan", "online-purchase"]
        for case_type in rule_set.case_types.values():
            assert set(REQUIRED_TIME_LIMITS) <= set(case_type.time_limits)
            assert case_type.procedure.default_hearing_mode in case_type.procedure.hearing_modes
            assert case_type.templates
            assert any(e.required for e in case_type.evidence)
    assert book.get(RULE_SET, "1.1").supersedes == "1.0"


def test_1_0_charges_the_1995_table_at_the_upper_rate_of_each_band(book: RuleBook) -> None:
    rule_set = book.get(RULE_SET, "1.0")
    # acceptance: 100 + 49,000 x 5% (2,450) + 50,000 x 4% (2,000) + 23,456.78 x 3% (703.7034)
    #   = 5,253.7034 -> 5,253.70; handling: 1% = 1,234.5678 -> 1,234.57 (half up)
    fees = rule_set.assess_fee("online-loan", Decimal("123456.78"))
    assert [(line.name, line.due) for line in fees.lines] == [
        ("acceptance", Decimal("5253.70")),
        ("handling", Decimal("1234.57")),
    ]
    assert fees.total == Decimal("6488.27")
    json = fees.as_json()
    assert json["total"] == "6488.27"
    assert all(isinstance(line["due"], str) for line in json["lines"])
    # Below 1,000 the acceptance fee is the band's fixed 100; handling's minimum is 200.
    assert rule_set.assess_fee("online-loan", Decimal("500")).total == Decimal("300.00")
    # Online purchases: half the acceptance fee. 5,000: (100 + 4,000 x 5%) / 2 = 150, + 200.
    assert rule_set.assess_fee("online-purchase", Decimal("5000")).total == Decimal("350.00")
    # Above 1,000,000 at 0.5%: 2,000,000 -> 100 + 2,450 + 2,000 + 3,000 + 6,000 + 5,000
    #   + 5,000 = 23,550, + handling capped at 10,000.
    assert rule_set.assess_fee("online-loan", Decimal("2000000")).total == Decimal("33550.00")


def test_1_1_changes_one_fee_band_and_one_time_limit(book: RuleBook) -> None:
    old, new = book.get(RULE_SET, "1.0"), book.get(RULE_SET, "1.1")
    for case_type in ("online-loan", "online-purchase"):
        changed = {
            name
            for name, limit in old.case_type(case_type).time_limits.items()
            if new.case_type(case_type).time_limits[name] != limit
        }
        assert changed == {"answer"}
    assert old.case_type("online-loan").time_limit("answer").period.amount == 10
    assert new.case_type("online-loan").time_limit("answer").period.amount == 15
    # Below 50,000 and the parts above 100,000 are charged alike; the 50,000-100,000 band
    # is 4% in 1.0 and 3.5% in 1.1: 50,000 x 0.5% = 250 less for anything above 100,000.
    for amount, difference in (("40000", "0"), ("70000", "100"), ("500000", "250")):
        a = old.assess_fee("online-loan", Decimal(amount)).total
        b = new.assess_fee("online-loan", Decimal(amount)).total
        assert a - b == Decimal(difference), amount


def test_deadlines_of_a_rule_set_count_in_its_calendar(book: RuleBook) -> None:
    rule_set = book.get(RULE_SET, "1.0")
    calendar = book.calendar("cn")
    # Served on 5 February 2026: 10 days end on 15 February, in the Spring Festival
    # holiday (15-23 February), so the period runs to the next working day, 24 February.
    served = datetime(2026, 2, 5, 10, 0, tzinfo=SHANGHAI)
    answer = rule_set.deadline(
        "online-purchase", "answer", served, zone=SHANGHAI, calendar=calendar
    )
    assert answer.last_day == date(2026, 2, 24)
    assert answer.ends_at.isoformat() == "2026-02-24T16:00:00+00:00"
    # A 24-hour hearing round runs in clock time, holiday or not.
    opened = datetime(2026, 2, 14, 20, 0, tzinfo=SHANGHAI)
    round_ = rule_set.deadline(
        "online-purchase", "hearing_questioning", opened, zone=SHANGHAI, calendar=calendar
    )
    assert round_.ends_at.isoformat() == "2026-02-15T12:00:00+00:00"
    # The loan cases' own award period overrides the shared one.
    assert rule_set.case_type("online-loan").time_limit("award").period.amount == 20
    assert rule_set.case_type("online-purchase").time_limit("award").period.amount == 30
    with pytest.raises(UnknownRule, match="no time limit named 'replies'"):
        rule_set.deadline("online-loan", "replies", served, zone=SHANGHAI, calendar=calendar)


def test_unknown_rule_sets_versions_and_case_types_are_named(book: RuleBook) -> None:
    with pytest.raises(UnknownRule, match=r"no rule set 'nobody/rules' \(known: gba-alliance"):
        book.get("nobody/rules", "1.0")
    with pytest.raises(UnknownRule, match=r"has no version '2.0' \(known: 1.0, 1.1, 1.2\)"):
        book.resolve(f"{RULE_SET}@2.0")
    with pytest.raises(UnknownRule, match="write the rule set as ID@VERSION"):
        book.resolve(RULE_SET)
    with pytest.raises(UnknownRule, match=r"has no case type 'car-hire'"):
        book.get(RULE_SET, "1.0").case_type("car-hire")


def test_a_published_version_cannot_change(rules_copy: Path) -> None:
    path = rules_copy / "gba-alliance/online-arbitration/1.0.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# an innocent comment\n", "utf-8")
    with pytest.raises(InvalidRuleFiles) as caught:
        load_rule_book(rules_copy)
    assert caught.value.lines == [
        "gba-alliance/online-arbitration/1.0.toml: changed after it was published "
        f"(published.toml records sha256 {_digest(rules_copy, '1.0')[:12]}…, the file is "
        f"{_sha256(path)[:12]}…): a published version is immutable; publish the change as a "
        "new version"
    ]


def test_a_published_version_cannot_disappear(rules_copy: Path) -> None:
    (rules_copy / "gba-alliance/online-arbitration/1.2.toml").unlink()
    with pytest.raises(InvalidRuleFiles) as caught:
        load_rule_book(rules_copy)
    assert caught.value.lines == [
        f"published.toml: {RULE_SET}@1.2: is published but its file is missing"
    ]


def test_a_draft_loads_but_cannot_be_adopted(rules_copy: Path) -> None:
    source = rules_copy / "gba-alliance/online-arbitration/1.2.toml"
    draft = source.read_text(encoding="utf-8").replace('version = "1.2"', 'version = "1.3"', 1)
    (source.parent / "1.3.toml").write_text(
        draft.replace('supersedes = "1.1"', 'supersedes = "1.2"')
    )
    book = load_rule_book(rules_copy)
    assert book.versions(RULE_SET) == ["1.0", "1.1", "1.2", "1.3"]
    assert not book.is_published(book.get(RULE_SET, "1.3"))
    with pytest.raises(UnknownRule, match="is a draft: publish it"):
        book.check_adoptable(RULE_SET, "1.3")
    assert book.check_adoptable(RULE_SET, "1.2").version == "1.2"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(root: Path, version: str) -> str:
    import tomllib

    versions = tomllib.loads((root / "published.toml").read_text())["versions"]
    return str(versions[f"{RULE_SET}@{version}"])


def _broken(rules_copy: Path, old: str, new: str, *, version: str = "1.0") -> list[str]:
    """The errors of the rule book after replacing ``old`` by ``new`` in a version file.

    published.toml is removed first: the version becomes a draft, so the only
    errors are those of the change.
    """
    (rules_copy / "published.toml").unlink()
    path = rules_copy / f"gba-alliance/online-arbitration/{version}.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InvalidRuleFiles) as caught:
        load_rule_book(rules_copy)
    return caught.value.lines


F = "gba-alliance/online-arbitration/1.0.toml"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '{ upto = "50000", rate = "0.05" }',
            '{ upto = "50000", rate = 0.05 }',
            f"{F}: fee_schedules.standard.components[0].bands[1].rate: must be written as a "
            'string, not a float: write "0.05"',
        ),
        (
            'version = "1.0"\ntitle_zh',
            'version = "1.3"\ntitle_zh',
            f"{F}: rule_set.version: is '1.3' but the file is named 1.0.toml",
        ),
        (
            'calendar = "cn"',
            'calendar = "hk"',
            f"{F}: rule_set.calendar: no calendar named 'hk' (known: cn)",
        ),
        (
            'tribunal_size = 1\narbitrator_selection = "commission_appoints"',
            'tribunal_size = 2\narbitrator_selection = "commission_appoints"',
            f"{F}: case_types.online-loan.procedure.tribunal_size: must be 1 or 3, not 2",
        ),
        (
            'default_hearing_mode = "documents"\nasynchronous_rounds = ["questioning", '
            '"answering", "debating", "closing"]\n\n[case_types.online-loan.time_limits]',
            'default_hearing_mode = "video"\nasynchronous_rounds = ["questioning", '
            '"answering", "debating", "closing"]\n\n[case_types.online-loan.time_limits]',
            f"{F}: case_types.online-loan.procedure.default_hearing_mode: video is not among "
            "hearing_modes",
        ),
        (
            'evidence = { days = 10, from = "notice_served"',
            'evidence = { weeks = 2, from = "notice_served"',
            None,  # checked below: the unknown key and the missing period
        ),
        (
            'title_en = "online loan dispute"',
            'title_en = "online loan dispute"\ntittle_zh = "x"',
            f"{F}: case_types.online-loan.tittle_zh: unknown key (did you mean title_zh?)",
        ),
        (
            'fees = { schedule = "standard" }',
            'fees = { schedule = "premium" }',
            None,
        ),
        (
            'from = "tribunal_constituted", label_zh = "裁决期限", label_en = "award" }\n\n'
            "# -- evidence and contract files",
            'from = "award_day", label_zh = "裁决期限", label_en = "award" }\n\n'
            "# -- evidence and contract files",
            None,
        ),
    ],
)
def test_malformed_rule_files_are_reported_precisely(
    rules_copy: Path, old: str, new: str, expected: str | None
) -> None:
    lines = _broken(rules_copy, old, new)
    if expected is not None:
        assert lines == [expected]
        return
    text = "\n".join(lines)
    assert text.startswith(F)
    if "weeks" in new:
        assert "time_limits.evidence.weeks: unknown key" in text
        assert "time_limits.evidence" in text
        assert "no time limit 'evidence'" in text
    elif "premium" in new:
        assert "case_types.online-loan.fees.schedule" in text
        assert "premium" in text
    else:
        assert "time_limits.award.from: must be one of filed, accepted" in text


def test_a_missing_time_limit_names_the_case_type(rules_copy: Path) -> None:
    lines = _broken(
        rules_copy,
        'challenge = { days = 5, from = "tribunal_constitution_notified", '
        'label_zh = "申请回避期限", label_en = "challenge of an arbitrator" }\n',
        "",
    )
    assert lines == [
        f"{F}: case_types.online-purchase.time_limits: no time limit 'challenge' (state it here "
        "or in the shared [time_limits])",
        f"{F}: case_types.online-loan.time_limits: no time limit 'challenge' (state it here or "
        "in the shared [time_limits])",
    ]


def test_invalid_toml_and_wrong_paths(rules_copy: Path) -> None:
    (rules_copy / "published.toml").unlink()
    (rules_copy / "gba-alliance/online-arbitration/1.2.toml").write_text("[rule_set\n")
    (rules_copy / "gba-alliance/online-arbitration/v2.toml").write_text("")
    with pytest.raises(InvalidRuleFiles) as caught:
        load_rule_book(rules_copy)
    lines = caught.value.lines
    assert len(lines) == 2
    assert lines[0].startswith("gba-alliance/online-arbitration/1.2.toml: is not valid TOML:")
    assert lines[1] == (
        "gba-alliance/online-arbitration/v2.toml: the path must be "
        '<alliance>/<rule-set>/<MAJOR.MINOR>.toml: must be MAJOR.MINOR, e.g. "1.0"'
    )


def test_the_server_refuses_to_start_on_invalid_rules(tmp_path: Path, rules_copy: Path) -> None:
    (rules_copy / "gba-alliance/online-arbitration/1.1.toml").write_text("[rule_set\n")
    settings = make_settings(tmp_path, rules_dir=str(rules_copy))
    with pytest.raises(ConfigError) as caught:
        build_runtime(settings)
    assert caught.value.variable == "ARBITRAL_RULES_DIR"
    assert "1.1.toml: is not valid TOML" in caught.value.problem
    missing = make_settings(tmp_path, rules_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="no such directory"):
        build_runtime(missing)


def test_evidence_files_limits_are_read_and_checked(book: RuleBook, rules_copy: Path) -> None:
    files = book.get(RULE_SET, "1.0").evidence_files
    assert files.max_size == 2048 << 20
    assert "application/pdf" in files.allowed_types
    assert "application/x-msdownload" not in files.allowed_types
    assert (files.archive_max_entries, files.archive_max_ratio, files.archive_max_depth) == (
        10000,
        100,
        1,
    )
    lines = _broken(rules_copy, '"image/bmp", "image/heic"', '"image/bmp", "text/html"')
    assert len(lines) == 1
    assert lines[0].startswith(f"{F}: evidence_files.allowed_types: unknown text/html (one of ")
