"""Loading the rules directory into a :class:`RuleBook`.

Layout (``ARBITRAL_RULES_DIR``, default ``./rules``)::

    rules/
      <alliance>/<rule-set>/<version>.toml   rule sets (id = "<alliance>/<rule-set>")
      calendars/<name>/<year>.toml           public holidays and adjusted working days
      rates/lpr-1y.toml                      the one-year loan prime rate history
      published.toml                         the SHA-256 of every published version

A version listed in ``published.toml`` is immutable: if its file's bytes no longer
match the recorded digest, loading fails (publish a new version instead). A version
not listed is a draft: it validates and the CLI can compute with it, but no tenant
may adopt it. Every problem of every file is reported at once, ``file: path:
problem``, and nothing is loaded unless all files are valid.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from arbitral.rules import calendar as cal
from arbitral.rules import loans
from arbitral.rules.checker import Checker, InvalidRuleFiles, RuleFileError
from arbitral.rules.model import (
    RuleSet,
    UnknownRule,
    check_rule_set_id,
    check_version,
    parse_rule_set,
    version_key,
)

RESERVED: Final = ("calendars", "rates", "examples")
PUBLISHED: Final = "published.toml"
LPR_FILE: Final = "rates/lpr-1y.toml"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_YEAR = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class RuleBook:
    """Every rule set version, calendar and rate table, validated together."""

    root: Path
    rule_sets: Mapping[tuple[str, str], RuleSet]
    published: Mapping[tuple[str, str], str]
    calendars: Mapping[str, cal.Calendar]
    lpr: loans.LprHistory | None

    def get(self, rule_set_id: str, version: str) -> RuleSet:
        """The rule set ``rule_set_id`` at ``version``; :class:`UnknownRule` if none."""
        found = self.rule_sets.get((rule_set_id, version))
        if found is not None:
            return found
        versions = self.versions(rule_set_id)
        if not versions:
            known = ", ".join(sorted({i for i, _ in self.rule_sets})) or "none"
            raise UnknownRule(f"no rule set {rule_set_id!r} (known: {known})")
        raise UnknownRule(
            f"rule set {rule_set_id} has no version {version!r} (known: {', '.join(versions)})"
        )

    def resolve(self, ref: str) -> RuleSet:
        """``ID@VERSION`` (as the CLI takes it)."""
        rule_set_id, at, version = ref.partition("@")
        if not at or not rule_set_id or not version:
            raise UnknownRule(
                f"{ref!r}: write the rule set as ID@VERSION, "
                "e.g. gba-alliance/online-arbitration@1.0"
            )
        return self.get(rule_set_id, version)

    def versions(self, rule_set_id: str) -> list[str]:
        return sorted((v for i, v in self.rule_sets if i == rule_set_id), key=version_key)

    def is_published(self, rule_set: RuleSet) -> bool:
        return (rule_set.id, rule_set.version) in self.published

    def calendar(self, name: str) -> cal.Calendar:
        try:
            return self.calendars[name]
        except KeyError:
            raise UnknownRule(
                f"no calendar named {name!r} (known: {', '.join(sorted(self.calendars))})"
            ) from None

    def lpr_history(self) -> loans.LprHistory:
        if self.lpr is None:
            raise UnknownRule(f"no loan prime rate history: add {self.root / LPR_FILE}")
        return self.lpr

    def check_adoptable(self, rule_set_id: str, version: str) -> RuleSet:
        """The version a tenant may adopt: it exists and is published (not a draft)."""
        rule_set = self.get(rule_set_id, version)
        if not self.is_published(rule_set):
            raise UnknownRule(
                f"{rule_set.ref} is a draft: publish it (arbitral rules publish {rule_set.ref}) "
                "before a commission adopts it"
            )
        return rule_set


def _read_toml(
    path: Path, root: Path, errors: list[RuleFileError]
) -> tuple[str, dict[str, Any] | None, bytes]:
    source = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        errors.append(RuleFileError(source, "", f"cannot read: {exc.strerror}"))
        return source, None, b""
    try:
        return source, tomllib.loads(raw.decode("utf-8")), raw
    except UnicodeDecodeError:
        errors.append(RuleFileError(source, "", "is not UTF-8 text"))
    except tomllib.TOMLDecodeError as exc:
        errors.append(RuleFileError(source, "", f"is not valid TOML: {exc}"))
    return source, None, raw


def load_rule_book(root: Path) -> RuleBook:
    """Read and validate everything under ``root``.

    Raises :class:`InvalidRuleFiles` listing every problem of every file.
    """
    root = root.resolve()
    if not root.is_dir():
        raise InvalidRuleFiles(
            [RuleFileError(str(root), "", "no such directory (ARBITRAL_RULES_DIR)")]
        )
    errors: list[RuleFileError] = []

    calendars = _calendars(root, errors)
    lpr = None
    lpr_path = root / LPR_FILE
    if lpr_path.exists():
        source, document, _ = _read_toml(lpr_path, root, errors)
        if document is not None:
            try:
                lpr = loans.parse_lpr_history(document, source=source)
            except InvalidRuleFiles as exc:
                errors.extend(exc.errors)

    published = _published(root, errors)
    rule_sets: dict[tuple[str, str], RuleSet] = {}
    digests: dict[tuple[str, str], str] = {}
    for path in sorted(root.glob("*/*/*.toml")):
        alliance, name = path.parent.parent.name, path.parent.name
        if alliance in RESERVED:
            continue
        rule_set_id, version = f"{alliance}/{name}", path.stem
        source, document, raw = _read_toml(path, root, errors)
        problem = check_rule_set_id(rule_set_id) or check_version(version)
        if problem:
            errors.append(
                RuleFileError(
                    source,
                    "",
                    f"the path must be <alliance>/<rule-set>/<MAJOR.MINOR>.toml: {problem}",
                )
            )
            continue
        if document is None:
            continue
        digest = hashlib.sha256(raw).hexdigest()
        digests[(rule_set_id, version)] = digest
        recorded = published.get((rule_set_id, version))
        if recorded is not None and recorded != digest:
            errors.append(
                RuleFileError(
                    source,
                    "",
                    "changed after it was published "
                    f"(published.toml records sha256 {recorded[:12]}…, "
                    f"the file is {digest[:12]}…): a published version is immutable; "
                    "publish the change as a new version",
                )
            )
        try:
            rule_set = parse_rule_set(
                document,
                source=source,
                rule_set_id=rule_set_id,
                version=version,
                calendars=frozenset(calendars),
            )
        except InvalidRuleFiles as exc:
            errors.extend(exc.errors)
            continue
        rule_sets[(rule_set_id, version)] = replace(rule_set, digest=digest)
    for rule_set_id, version in published:
        if (rule_set_id, version) not in digests:
            errors.append(
                RuleFileError(
                    PUBLISHED, f"{rule_set_id}@{version}", "is published but its file is missing"
                )
            )
    for rule_set in rule_sets.values():
        if rule_set.supersedes and (rule_set.id, rule_set.supersedes) not in digests:
            errors.append(
                RuleFileError(
                    rule_set.source,
                    "rule_set.supersedes",
                    f"no version {rule_set.supersedes} of {rule_set.id}",
                )
            )
    if errors:
        raise InvalidRuleFiles(errors)
    return RuleBook(
        root=root,
        rule_sets=MappingProxyType(rule_sets),
        published=MappingProxyType(published),
        calendars=MappingProxyType(calendars),
        lpr=lpr,
    )


def _calendars(root: Path, errors: list[RuleFileError]) -> dict[str, cal.Calendar]:
    out: dict[str, cal.Calendar] = {}
    base = root / "calendars"
    if not base.is_dir():
        return out
    for directory in sorted(p for p in base.iterdir() if p.is_dir()):
        years: list[cal.CalendarYear] = []
        failed = False
        for path in sorted(directory.glob("*.toml")):
            source, document, _ = _read_toml(path, root, errors)
            if not _YEAR.match(path.stem):
                errors.append(RuleFileError(source, "", "a calendar file is named <year>.toml"))
                failed = True
                continue
            if document is None:
                failed = True
                continue
            try:
                years.append(
                    cal.parse_calendar_year(
                        document, source=source, name=directory.name, year=int(path.stem)
                    )
                )
            except InvalidRuleFiles as exc:
                errors.extend(exc.errors)
                failed = True
        if not failed and years:
            out[directory.name] = cal.build_calendar(directory.name, years)
    return out


def _published(root: Path, errors: list[RuleFileError]) -> dict[tuple[str, str], str]:
    path = root / PUBLISHED
    if not path.exists():
        return {}
    source, document, _ = _read_toml(path, root, errors)
    if document is None:
        return {}
    c = Checker(source)
    c.unknown(document, "", ("versions",))
    table = c.table(document, "", "versions") or {}
    out: dict[tuple[str, str], str] = {}
    for ref, digest in table.items():
        key = f"versions.{ref}"
        rule_set_id, at, version = ref.partition("@")
        problem = (
            check_rule_set_id(rule_set_id) or check_version(version) if at else "must be ID@VERSION"
        )
        if problem:
            c.error(key, problem)
        elif not isinstance(digest, str) or not _SHA256.match(digest):
            c.error(key, "must be the file's SHA-256 as 64 lower-case hex digits")
        else:
            out[(rule_set_id, version)] = digest
    errors.extend(c.errors)
    return out


def publish(root: Path, ref: str) -> tuple[RuleSet, bool]:
    """Record ``ID@VERSION``'s digest in published.toml; (rule set, newly published?).

    The whole book must be valid first. Refuses nothing already published (that
    would be a no-op) and never rewrites a recorded digest.
    """
    book = load_rule_book(root)
    rule_set = book.resolve(ref)
    if book.is_published(rule_set):
        return rule_set, False
    entries = dict(book.published)
    entries[(rule_set.id, rule_set.version)] = rule_set.digest
    _write_published(book.root / PUBLISHED, entries)
    return rule_set, True


def _write_published(path: Path, entries: Mapping[tuple[str, str], str]) -> None:
    lines = [
        "# Published rule-set versions and the SHA-256 of their files.",
        "# A published version is immutable: loading fails if its file changes.",
        "# Written by `arbitral rules publish ID@VERSION`; never edit a digest by hand.",
        "",
        "[versions]",
    ]
    for (rule_set_id, version), digest in sorted(
        entries.items(), key=lambda e: (e[0][0], version_key(e[0][1]))
    ):
        lines.append(f'"{rule_set_id}@{version}" = "{digest}"')
    temporary = path.with_suffix(".toml.tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    temporary.replace(path)
