"""``arbitral rules``: listing, validating and computing, with precise errors and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from arbitral.cli import main

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
V10 = "gba-alliance/online-arbitration@1.0"


def run(*args: str, rules: Path = RULES) -> Result:
    runner = CliRunner()
    return runner.invoke(main, ["rules", *args], env={"ARBITRAL_RULES_DIR": str(rules)})


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_and_validate() -> None:
    listed = run_json("list")
    assert [(r["id"], r["version"], r["status"]) for r in listed["rule_sets"]] == [
        ("gba-alliance/online-arbitration", "1.0", "published"),
        ("gba-alliance/online-arbitration", "1.1", "published"),
        ("gba-alliance/online-arbitration", "1.2", "published"),
    ]
    assert listed["calendars"] == {"cn": {"years": [2025, 2026]}}
    text = run("list")
    assert text.exit_code == 0
    assert f"{V10}  published" in text.stdout
    valid = run("validate", str(RULES))
    assert valid.exit_code == 0
    assert "valid (3 rule-set versions" in valid.stdout


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    (root / "published.toml").unlink()
    path = root / "gba-alliance/online-arbitration/1.0.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("tribunal_size = 1", "tribunal_size = 5", 1)
    path.write_text(text.replace('{ rate = "0.005" }', '{ rate = "half a percent" }'), "utf-8")
    result = run("validate", str(root))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: gba-alliance/online-arbitration/1.0.toml: "
        "fee_schedules.standard.components[0].bands[6].rate: is not a number: 'half a percent'",
        "error: gba-alliance/online-arbitration/1.0.toml: "
        "case_types.online-purchase.procedure.tribunal_size: must be 1 or 3, not 5",
    ]
    assert run("validate", str(tmp_path / "nowhere")).exit_code == 2


def test_fee() -> None:
    fee = run_json("fee", "--rule-set", V10, "--case-type", "online-loan", "--amount", "123456.78")
    assert fee["rule_set"] == V10
    assert [(line["name"], line["due"]) for line in fee["lines"]] == [
        ("acceptance", "5253.70"),
        ("handling", "1234.57"),
    ]
    assert fee["total"] == "6488.27"
    counter = run_json(
        "fee",
        "--rule-set",
        "gba-alliance/online-arbitration@1.1",
        "--case-type",
        "online-loan",
        "--amount",
        "80000",
        "--counterclaim",
    )
    assert counter["counterclaim"] is True
    assert counter["total"] == "4400.00"
    text = run("fee", "--rule-set", V10, "--case-type", "online-loan", "--amount", "500")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1].split() == ["total", "300.00"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--amount", "-5"), 2, "error: --amount: must not be negative"),
        (("--amount", "abc"), 2, "error: --amount: "),
        (("--amount", "1e5"), 2, "error: --amount: "),
        (("--amount", "12.345"), 2, "error: --amount: "),
        (("--amount", "NaN"), 2, "error: --amount: "),
    ],
)
def test_fee_refuses_bad_amounts(args: tuple[str, ...], code: int, message: str) -> None:
    result = run("fee", "--rule-set", V10, "--case-type", "online-loan", *args)
    assert result.exit_code == code
    assert result.stderr.startswith(message)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("ref", "case_type", "message"),
    [
        ("nobody/rules@1.0", "online-loan", "no rule set 'nobody/rules'"),
        ("gba-alliance/online-arbitration@3.0", "online-loan", "has no version '3.0'"),
        ("gba-alliance/online-arbitration", "online-loan", "write the rule set as ID@VERSION"),
        (V10, "car-hire", "has no case type 'car-hire'"),
    ],
)
def test_unknown_rule_sets_exit_1(ref: str, case_type: str, message: str) -> None:
    result = run("fee", "--rule-set", ref, "--case-type", case_type, "--amount", "100")
    assert result.exit_code == 1
    assert message in result.stderr


def test_deadline_from_a_rule_set_and_from_a_calendar() -> None:
    answer = run_json(
        "deadline", "--rule-set", V10, "--limit", "answer", "--from", "2026-02-05T10:00:00+08:00"
    )
    assert answer["last_day"] == "2026-02-24"
    assert answer["ends_at"] == "2026-02-24T16:00:00Z"
    assert answer["limit"]["amount"] == 10
    # 5 working days from 30 September 2026: National Day (1-7 October) is skipped and
    # Saturday 10 October is worked: 8, 9, 10, 12, 13 October.
    working = run_json(
        "deadline", "--calendar", "cn", "--from", "2026-09-30", "--days", "5", "--working-days"
    )
    assert working["last_day"] == "2026-10-13"
    hours = run_json(
        "deadline", "--calendar", "cn", "--from", "2026-02-14T20:00+08:00", "--hours", "24"
    )
    assert hours["ends_at"] == "2026-02-15T12:00:00Z"
    text = run("deadline", "--calendar", "cn", "--from", "2026-03-02", "--days", "10")
    assert text.stdout.splitlines() == ["last_day 2026-03-12", "ends_at  2026-03-12T16:00:00Z"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--calendar", "cn", "--from", "2026-12-25", "--days", "15"), "has no data for 2027"),
        (("--calendar", "cn", "--from", "2024-12-31", "--days", "3"), "has no data for 2024"),
        (("--calendar", "cn", "--from", "2026-02-30", "--days", "3"), "is not an ISO 8601"),
        (("--calendar", "cn", "--from", "2026-02-03T10:00", "--days", "3"), "has no UTC offset"),
        (("--calendar", "cn", "--from", "2026-02-03", "--hours", "3"), "needs a time"),
        (("--calendar", "cn", "--from", "2026-02-03"), "exactly one of --days N and --hours N"),
        (
            ("--calendar", "cn", "--from", "2026-02-03", "--days", "2", "--zone", "Mars/Base"),
            "unknown time zone",
        ),
        (("--from", "2026-02-03", "--days", "2"), "give --rule-set"),
    ],
)
def test_deadline_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run("deadline", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_deadline_unknown_limit_or_calendar_exit_1() -> None:
    result = run("deadline", "--rule-set", V10, "--limit", "appeal", "--from", "2026-02-03")
    assert result.exit_code == 1
    assert "no time limit named 'appeal'" in result.stderr
    result = run("deadline", "--calendar", "hk", "--from", "2026-02-03", "--days", "3")
    assert result.exit_code == 1
    assert "no calendar named 'hk'" in result.stderr


def test_assess_loan(tmp_path: Path) -> None:
    example = str(RULES / "examples/loan-private.json")
    assessed = run_json("assess-loan", example, "--rule-set", V10)
    items = {item["name"]: item for item in assessed["items"]}
    assert set(items) >= {"principal", "interest", "default_interest", "fees", "penalty"}
    for item in items.values():
        claimed, supported, unsupported = (
            float(item[k]) for k in ("claimed", "supported", "unsupported")
        )
        assert abs(claimed - supported - unsupported) < 0.005
    assert assessed["ceiling"].startswith("4 × LPR")
    text = run("assess-loan", example)
    assert text.exit_code == 0
    assert "principal" in text.stdout

    broken = tmp_path / "loan.json"
    document = json.loads(Path(example).read_text(encoding="utf-8"))
    document["repayments"][0]["amount"] = 12.5
    broken.write_text(json.dumps(document))
    result = run("assess-loan", str(broken))
    assert result.exit_code == 2
    assert f"error: {broken}: repayments[0].amount:" in result.stderr
    (tmp_path / "not.json").write_text("{")
    assert run("assess-loan", str(tmp_path / "not.json")).exit_code == 2
    assert run("assess-loan", str(tmp_path / "missing.json")).exit_code == 1
