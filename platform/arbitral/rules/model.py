"""A rule set: what an alliance's rules say, per case type, read from one TOML document.

The shape of a rule-set file (``rules/<alliance>/<name>/<version>.toml``)::

    [rule_set]                 id, version, title_zh, title_en, effective_from,
                               calendar ("cn"), supersedes (optional), changes (optional)
    [fee_schedules.<name>]     band tables (arbitral.rules.fees)
    [time_limits]              limits shared by every case type:
                               <name> = { days | working_days | hours = N, from = EVENT,
                                          label_zh = "...", label_en = "..." }
    [service]                  the service ladder (arbitral.rules.service; from 1.2)
    [refunds]                  refunds on withdrawal (arbitral.rules.refunds; from 1.2)
    [case_types.<type>]        title_zh, title_en, templates = [...]
      fees                     { schedule = "<name>", discount = ..., counterclaim = ... }
      procedure                tribunal size, arbitrator selection, hearing modes, rounds;
                               optional repeat_claimant_cap / repeat_claimant_window_days
                               (platform defaults: 30 cases within 365 days) and
                               hearing_notice_days (the least notice of a video hearing,
                               default 3 days)
      time_limits              limits of this case type (override the shared ones)
      claim_form               fields and checks (arbitral.rules.claims)
      [[evidence]]             what each claim must come with
      loan_assessment          the interest ceiling and method (online-loan only)

Every case type must state every limit in :data:`REQUIRED_TIME_LIMITS` plus one
``hearing_<round>`` per asynchronous hearing round. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from arbitral.rules import calendar as cal
from arbitral.rules import fees as fee_rules
from arbitral.rules import loans
from arbitral.rules.checker import Checker, join
from arbitral.rules.claims import ClaimForm, parse_claim_form
from arbitral.rules.refunds import RefundRules, parse_refunds
from arbitral.rules.service import ServiceRules, parse_service

CASE_TYPES: Final = ("online-purchase", "online-loan")
HEARING_MODES: Final = ("documents", "asynchronous", "video")
ARBITRATOR_SELECTION: Final = (
    "commission_appoints",  # the chair of the commission appoints (sole arbitrator)
    "parties_agree_else_commission",  # the parties agree on one within the limit, else appointed
    "each_party_one_presiding_by_agreement_else_commission",  # three members
)
EVENTS: Final = (
    "filed",
    "accepted",
    "fee_notice_served",
    "notice_served",  # the notice of arbitration served on the respondent
    "answer_period_ended",
    "tribunal_constitution_notified",
    "tribunal_constituted",
    "challenge_ground_known",
    "round_opened",
    "hearing_closed",
)
REQUIRED_TIME_LIMITS: Final = (
    "acceptance_review",
    "fee_payment",
    "answer",
    "counterclaim",
    "evidence",
    "arbitrator_selection",
    "challenge",
    "award",
)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}/[a-z0-9][a-z0-9-]{0,59}$")
_VERSION = re.compile(r"^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEMPLATE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def check_rule_set_id(value: str) -> str | None:
    if not _ID.match(value):
        return "must be <alliance>/<rule-set>, lower-case letters, digits and hyphens"
    return None


def check_version(value: str) -> str | None:
    if not _VERSION.match(value):
        return 'must be MAJOR.MINOR, e.g. "1.0"'
    return None


def version_key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


class UnknownRule(LookupError):
    """A rule set, version, case type or time limit that does not exist (message says which)."""


@dataclass(frozen=True)
class TimeLimit:
    name: str
    period: cal.Period
    starts_from: str
    label_zh: str
    label_en: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "amount": self.period.amount,
            "unit": str(self.period.unit),
            "from": self.starts_from,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
        }


# The platform's defaults for a rule set that does not state the repeat-claimant cap
# (1.0 to 1.2 do not): an arbitrator sits on at most this many cases of one repeat
# claimant (the same identity number, or the same lender) within the window.
DEFAULT_REPEAT_CLAIMANT_CAP: Final = 30
DEFAULT_REPEAT_CLAIMANT_WINDOW_DAYS: Final = 365
# A video hearing is held only if the notice of hearing was served on every party at least
# this many days before its slot (optional procedure key hearing_notice_days; 1.0 to 1.2
# do not state it).
DEFAULT_HEARING_NOTICE_DAYS: Final = 3


@dataclass(frozen=True)
class Procedure:
    tribunal_size: int
    arbitrator_selection: str
    hearing_modes: tuple[str, ...]
    default_hearing_mode: str
    asynchronous_rounds: tuple[str, ...]
    # Optional keys (platform defaults above when a rule set is silent).
    repeat_claimant_cap: int = DEFAULT_REPEAT_CLAIMANT_CAP
    repeat_claimant_window_days: int = DEFAULT_REPEAT_CLAIMANT_WINDOW_DAYS
    hearing_notice_days: int = DEFAULT_HEARING_NOTICE_DAYS


@dataclass(frozen=True)
class EvidenceRequirement:
    kind: str
    label_zh: str
    label_en: str
    required: bool
    proves: str


@dataclass(frozen=True)
class CaseTypeRules:
    case_type: str
    title_zh: str
    title_en: str
    claim_form: ClaimForm
    evidence: tuple[EvidenceRequirement, ...]
    procedure: Procedure
    time_limits: Mapping[str, TimeLimit]
    fees: fee_rules.CaseFees
    templates: tuple[str, ...]
    loan_assessment: loans.LoanRules | None = None

    def time_limit(self, name: str) -> TimeLimit:
        try:
            return self.time_limits[name]
        except KeyError:
            known = ", ".join(sorted(self.time_limits))
            raise UnknownRule(
                f"{self.case_type} has no time limit named {name!r} (known: {known})"
            ) from None


@dataclass(frozen=True)
class RuleSet:
    id: str
    version: str
    title_zh: str
    title_en: str
    effective_from: date
    calendar: str
    supersedes: str | None
    changes: str | None
    case_types: Mapping[str, CaseTypeRules]
    evidence_files: EvidenceFiles
    digest: str = ""
    source: str = ""
    # Stated from version 1.2 on; a case under an earlier version is served and refunded
    # by the commission's staff, not by the platform's rules.
    service: ServiceRules | None = None
    refunds: RefundRules | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def case_type(self, name: str) -> CaseTypeRules:
        try:
            return self.case_types[name]
        except KeyError:
            known = ", ".join(sorted(self.case_types))
            raise UnknownRule(f"{self.ref} has no case type {name!r} (known: {known})") from None

    def assess_fee(
        self, case_type: str, amount: Decimal, *, counterclaim: bool = False
    ) -> fee_rules.FeeAssessment:
        return self.case_type(case_type).fees.assess(amount, counterclaim=counterclaim)

    def deadline(
        self,
        case_type: str,
        limit: str,
        trigger: datetime,
        *,
        zone: ZoneInfo,
        calendar: cal.Calendar,
    ) -> cal.Deadline:
        if calendar.name != self.calendar:
            raise UnknownRule(f"{self.ref} counts in calendar {self.calendar}, not {calendar.name}")
        period = self.case_type(case_type).time_limit(limit).period
        return cal.compute_deadline(period, trigger, zone=zone, calendar=calendar)


# -- reading ---------------------------------------------------------------------------

_TOP: Final = (
    "rule_set",
    "fee_schedules",
    "time_limits",
    "evidence_files",
    "service",
    "refunds",
    "case_types",
)
MEDIA_TYPES: Final = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/tiff",
    "image/bmp",
    "image/heic",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/x-ole-storage",
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
)


@dataclass(frozen=True)
class EvidenceFiles:
    """What files a rule set accepts as evidence and contracts."""

    max_size: int  # bytes
    allowed_types: tuple[str, ...]
    archive_max_entries: int
    archive_max_ratio: int
    archive_max_total: int  # bytes
    archive_max_depth: int


def _evidence_files(
    c: Checker, table: Mapping[str, Any] | None, prefix: str
) -> EvidenceFiles | None:
    if table is None:
        return None
    c.unknown(table, prefix, ("max_size_mb", "allowed_types", "archive"))
    size = c.integer(table, prefix, "max_size_mb", minimum=1, maximum=1024 * 1024)
    types = c.strings(table, prefix, "allowed_types", min_items=1, choices=MEDIA_TYPES)
    archive = c.table(
        table, prefix, "archive", ("max_entries", "max_ratio", "max_total_mb", "max_depth")
    )
    path = join(prefix, "archive")
    entries = c.integer(archive, path, "max_entries", minimum=1, maximum=1_000_000)
    ratio = c.integer(archive, path, "max_ratio", minimum=1, maximum=10_000)
    total = c.integer(archive, path, "max_total_mb", minimum=1, maximum=1024 * 1024)
    depth = c.integer(archive, path, "max_depth", minimum=0, maximum=5)
    if size is None or types is None or entries is None:
        return None
    if ratio is None or total is None or depth is None:
        return None
    return EvidenceFiles(size << 20, types, entries, ratio, total << 20, depth)


_META: Final = (
    "id",
    "version",
    "title_zh",
    "title_en",
    "effective_from",
    "calendar",
    "supersedes",
    "changes",
)
_CASE_TYPE: Final = (
    "title_zh",
    "title_en",
    "fees",
    "procedure",
    "time_limits",
    "claim_form",
    "evidence",
    "templates",
    "loan_assessment",
)


def parse_rule_set(
    document: Mapping[str, Any],
    *,
    source: str,
    rule_set_id: str,
    version: str,
    calendars: frozenset[str] | None = None,
) -> RuleSet:
    """The rule set in ``document``; ``rule_set_id`` and ``version`` are what its path says.

    Raises :class:`InvalidRuleFiles` with every problem found. ``calendars`` are the
    calendar names that exist (None: not checked).
    """
    c = Checker(source)
    c.unknown(document, "", _TOP)
    meta = c.table(document, "", "rule_set", _META)
    got_id = c.string(meta, "rule_set", "id", max_length=121)
    if got_id is not None and got_id != rule_set_id:
        c.error("rule_set.id", f"is {got_id!r} but the file's path says {rule_set_id!r}")
    got_version = c.string(meta, "rule_set", "version", max_length=9)
    if got_version is not None:
        problem = check_version(got_version)
        if problem:
            c.error("rule_set.version", problem)
        elif got_version != version:
            c.error("rule_set.version", f"is {got_version!r} but the file is named {version}.toml")
    title_zh = c.string(meta, "rule_set", "title_zh")
    title_en = c.string(meta, "rule_set", "title_en")
    effective_from = c.date(meta, "rule_set", "effective_from")
    calendar_name = c.string(meta, "rule_set", "calendar", max_length=40)
    if calendar_name is not None and calendars is not None and calendar_name not in calendars:
        shown = ", ".join(sorted(calendars)) or "none"
        c.error("rule_set.calendar", f"no calendar named {calendar_name!r} (known: {shown})")
    supersedes = c.string(meta, "rule_set", "supersedes", required=False, max_length=9)
    if supersedes is not None:
        problem = check_version(supersedes)
        if problem:
            c.error("rule_set.supersedes", problem)
        elif check_version(version) is None and version_key(supersedes) >= version_key(version):
            c.error("rule_set.supersedes", f"must be an earlier version than {version}")
    changes = c.string(meta, "rule_set", "changes", required=False, max_length=4000)

    schedules = fee_rules.parse_fee_schedules(
        c, c.table(document, "", "fee_schedules"), "fee_schedules"
    )
    shared_limits = _time_limits(
        c, c.table(document, "", "time_limits", required=False), "time_limits"
    )
    types_table = c.table(document, "", "case_types", CASE_TYPES)
    case_types: dict[str, CaseTypeRules] = {}
    if types_table is not None and not types_table:
        c.error("case_types", f"must define at least one of {', '.join(CASE_TYPES)}")
    for name in CASE_TYPES:
        table = c.table(types_table, "case_types", name, _CASE_TYPE, required=False)
        if table is None:
            continue
        rules = _case_type(
            c,
            table,
            f"case_types.{name}",
            name,
            schedules if schedules is not None else {},
            shared_limits,
        )
        if rules is not None:
            case_types[name] = rules
    evidence_files = _evidence_files(c, c.table(document, "", "evidence_files"), "evidence_files")
    service = parse_service(c, c.table(document, "", "service", required=False), "service")
    refunds = parse_refunds(c, c.table(document, "", "refunds", required=False), "refunds")
    if refunds is not None and schedules is not None:
        components = {k.name for schedule in schedules.values() for k in schedule.components}
        for index, band in enumerate(refunds.withdrawal):
            for name in band.rates:
                if name not in components:
                    c.error(
                        f"refunds.withdrawal[{index}].{name}",
                        f"no fee component named {name!r} (known: {', '.join(sorted(components))})",
                    )
    c.raise_if_any()
    assert evidence_files is not None
    assert got_id
    assert got_version
    assert title_zh
    assert title_en
    assert effective_from
    assert calendar_name
    return RuleSet(
        id=got_id,
        version=got_version,
        title_zh=title_zh,
        title_en=title_en,
        effective_from=effective_from,
        calendar=calendar_name,
        supersedes=supersedes,
        changes=changes,
        evidence_files=evidence_files,
        case_types=MappingProxyType(case_types),
        source=source,
        service=service,
        refunds=refunds,
    )


def _time_limits(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> dict[str, TimeLimit]:
    out: dict[str, TimeLimit] = {}
    if table is None:
        return out
    for name in table:
        path = join(prefix, name)
        if not _NAME.match(name):
            c.error(path, "a time limit's name is lower_snake_case ASCII")
            continue
        entry = c.table(table, prefix, name)
        if entry is None:
            continue
        c.unknown(entry, path, ("days", "working_days", "hours", "from", "label_zh", "label_en"))
        period = cal.parse_period(c, entry, path)
        starts_from = c.choice(entry, path, "from", EVENTS)
        label_zh = c.string(entry, path, "label_zh")
        label_en = c.string(entry, path, "label_en")
        if period and starts_from and label_zh and label_en:
            out[name] = TimeLimit(name, period, starts_from, label_zh, label_en)
    return out


def _case_type(
    c: Checker,
    table: Mapping[str, Any],
    prefix: str,
    name: str,
    schedules: Mapping[str, fee_rules.FeeSchedule],
    shared_limits: Mapping[str, TimeLimit],
) -> CaseTypeRules | None:
    before = len(c.errors)
    title_zh = c.string(table, prefix, "title_zh")
    title_en = c.string(table, prefix, "title_en")
    case_fees = fee_rules.parse_case_fees(
        c, c.table(table, prefix, "fees"), join(prefix, "fees"), schedules
    )
    procedure = _procedure(c, c.table(table, prefix, "procedure"), join(prefix, "procedure"))
    own_limits = _time_limits(
        c, c.table(table, prefix, "time_limits", required=False), join(prefix, "time_limits")
    )
    limits = {**shared_limits, **own_limits}
    needed = list(REQUIRED_TIME_LIMITS)
    if procedure is not None:
        needed += [f"hearing_{r}" for r in procedure.asynchronous_rounds]
    for limit in needed:
        if limit not in limits:
            c.error(
                join(prefix, "time_limits"),
                f"no time limit {limit!r} (state it here or in the shared [time_limits])",
            )
    claim_form = parse_claim_form(
        c, c.table(table, prefix, "claim_form"), join(prefix, "claim_form")
    )
    if (
        claim_form is not None
        and name == "online-loan"
        and not any(f.type == "loan" for f in claim_form.fields)
    ):
        c.error(
            join(prefix, "claim_form.fields"),
            "an online-loan claim form needs a field of type loan",
        )
    evidence = _evidence(c, table, prefix)
    templates = c.strings(table, prefix, "templates", min_items=1)
    for template in templates or ():
        if not _TEMPLATE.match(template):
            c.error(
                join(prefix, "templates"),
                f"{template!r}: a template name is lower-case-with-hyphens",
            )
    loan_rules = None
    if name == "online-loan":
        loan_rules = loans.parse_loan_rules(
            c, c.table(table, prefix, "loan_assessment"), join(prefix, "loan_assessment")
        )
    elif "loan_assessment" in table:
        c.error(join(prefix, "loan_assessment"), "only online-loan cases have a loan assessment")
    if len(c.errors) > before or None in (title_zh, title_en, case_fees, procedure, claim_form):
        return None  # every problem is in c.errors (an invalid fee schedule reports once)
    assert title_zh is not None
    assert title_en is not None
    assert case_fees is not None
    assert procedure is not None
    assert claim_form is not None
    assert templates is not None
    return CaseTypeRules(
        case_type=name,
        title_zh=title_zh,
        title_en=title_en,
        claim_form=claim_form,
        evidence=evidence,
        procedure=procedure,
        time_limits=MappingProxyType(limits),
        fees=case_fees,
        templates=templates,
        loan_assessment=loan_rules,
    )


def _procedure(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> Procedure | None:
    if table is None:
        return None
    c.unknown(
        table,
        prefix,
        (
            "tribunal_size",
            "arbitrator_selection",
            "hearing_modes",
            "default_hearing_mode",
            "asynchronous_rounds",
            "repeat_claimant_cap",
            "repeat_claimant_window_days",
            "hearing_notice_days",
        ),
    )
    before = len(c.errors)
    size = c.integer(table, prefix, "tribunal_size")
    if size is not None and size not in (1, 3):
        c.error(join(prefix, "tribunal_size"), f"must be 1 or 3, not {size}")
    selection = c.choice(table, prefix, "arbitrator_selection", ARBITRATOR_SELECTION)
    if selection is not None and size is not None:
        three = selection.startswith("each_party")
        if three and size != 3:
            c.error(join(prefix, "arbitrator_selection"), f"{selection} needs a tribunal of 3")
        elif not three and size == 3:
            c.error(
                join(prefix, "arbitrator_selection"),
                "a tribunal of 3 is chosen by "
                "each_party_one_presiding_by_agreement_else_commission",
            )
    modes = c.strings(table, prefix, "hearing_modes", min_items=1, choices=HEARING_MODES)
    default = c.choice(table, prefix, "default_hearing_mode", HEARING_MODES)
    if modes is not None and default is not None and default not in modes:
        c.error(join(prefix, "default_hearing_mode"), f"{default} is not among hearing_modes")
    rounds: tuple[str, ...] = ()
    if modes is not None and "asynchronous" in modes:
        rounds = c.strings(table, prefix, "asynchronous_rounds", min_items=1) or ()
        for name in rounds:
            if not _NAME.match(name):
                c.error(join(prefix, "asynchronous_rounds"), f"{name!r}: lower_snake_case ASCII")
    elif "asynchronous_rounds" in table:
        c.error(join(prefix, "asynchronous_rounds"), "only asynchronous hearings have rounds")
    cap = DEFAULT_REPEAT_CLAIMANT_CAP
    if "repeat_claimant_cap" in table:
        cap = c.integer(table, prefix, "repeat_claimant_cap", minimum=1, maximum=100_000) or cap
    window = DEFAULT_REPEAT_CLAIMANT_WINDOW_DAYS
    if "repeat_claimant_window_days" in table:
        window = (
            c.integer(table, prefix, "repeat_claimant_window_days", minimum=1, maximum=3660)
            or window
        )
    notice_days = DEFAULT_HEARING_NOTICE_DAYS
    if "hearing_notice_days" in table:
        found = c.integer(table, prefix, "hearing_notice_days", minimum=0, maximum=90)
        notice_days = notice_days if found is None else found
    if (
        len(c.errors) > before
        or size is None
        or selection is None
        or modes is None
        or default is None
    ):
        return None
    return Procedure(size, selection, modes, default, rounds, cap, window, notice_days)


def _evidence(c: Checker, table: Mapping[str, Any], prefix: str) -> tuple[EvidenceRequirement, ...]:
    out: list[EvidenceRequirement] = []
    for path, item in c.tables(table, prefix, "evidence", min_items=1) or []:
        c.unknown(item, path, ("kind", "label_zh", "label_en", "required", "proves"))
        kind = c.string(item, path, "kind", max_length=63)
        if kind is not None and not _NAME.match(kind):
            c.error(join(path, "kind"), "must be lower_snake_case ASCII")
            kind = None
        elif kind is not None and any(e.kind == kind for e in out):
            c.error(join(path, "kind"), f"the evidence kind {kind} is listed twice")
            kind = None
        label_zh = c.string(item, path, "label_zh")
        label_en = c.string(item, path, "label_en")
        required = c.boolean(item, path, "required")
        proves = c.string(item, path, "proves", max_length=500)
        if kind and label_zh and label_en and required is not None and proves:
            out.append(EvidenceRequirement(kind, label_zh, label_en, required, proves))
    return tuple(out)
