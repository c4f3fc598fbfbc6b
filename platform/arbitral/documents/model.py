"""Formal documents as typed data: what an award, a mediation statement or a notice says.

Plain Python, no I/O: the rendering (``render.py``) turns a :class:`Document`
into HTML and PDF; drafting from a case (later) builds these structures.
Amounts are :class:`~decimal.Decimal` yuan, dates are :class:`~datetime.date`.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypeAlias

Kind: TypeAlias = Literal[
    "award",
    "consent_award",
    "mediation_statement",
    "notice_of_acceptance",
    "notice_of_arbitration",
    "notice_of_constitution",
    "notice_of_hearing",
    "certificate_of_service",
]
Language: TypeAlias = Literal["zh", "en"]
KINDS: tuple[Kind, ...] = (
    "award",
    "consent_award",
    "mediation_statement",
    "notice_of_acceptance",
    "notice_of_arbitration",
    "notice_of_constitution",
    "notice_of_hearing",
    "certificate_of_service",
)
NOTICE_KINDS: frozenset[Kind] = frozenset(
    {
        "notice_of_acceptance",
        "notice_of_arbitration",
        "notice_of_constitution",
        "notice_of_hearing",
        "certificate_of_service",
    }
)
LANGUAGES: tuple[Language, ...] = ("zh", "en")


class DocumentModelError(ValueError):
    """A document's data breaks a rule of the model (named field, named rule)."""


# -- verification codes ------------------------------------------------------------------

_CODE_BYTES = 10  # 80 bits: 16 base32 characters
_CODE_RE = re.compile(r"^[A-Z2-7]{16}$")


def new_verification_code() -> str:
    """A random, unguessable code short enough to type: ``XXXX-XXXX-XXXX-XXXX`` (base32)."""
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_verification_code(text: str) -> str:
    """The 16 characters of a code as typed (any case, spaces or dashes), grouped by four.

    Digits that people type for look-alike letters (0 for O, 1 for I, 8 for B)
    are read as those letters. Raises :class:`DocumentModelError` for anything
    that cannot be a code.
    """
    compact = re.sub(r"[\s-]", "", text).upper().translate(str.maketrans("018", "OIB"))
    if not _CODE_RE.match(compact):
        raise DocumentModelError(
            f"verification code {text!r}: expected 16 characters A-Z and 2-7, in groups of four"
        )
    return "-".join(compact[i : i + 4] for i in range(0, 16, 4))


# -- who ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commission:
    name: str
    seal_text: str
    address: str
    public_url: str
    phone: str = ""

    def __post_init__(self) -> None:
        if not self.public_url.startswith(("https://", "http://")):
            raise DocumentModelError(
                f"commission.public_url {self.public_url!r}: must be an absolute http(s) URL"
            )


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    capacity: str  # e.g. 律师 / lawyer, 公司员工 / employee
    firm: str = ""


@dataclass(frozen=True, slots=True)
class Party:
    role: Literal["claimant", "respondent"]
    name: str
    kind: Literal["person", "company"] = "person"
    id_number: str = ""  # shown as given (mask before if the document is public)
    address: str = ""
    representative: str = ""  # legal representative of a company
    agents: tuple[Agent, ...] = ()


@dataclass(frozen=True, slots=True)
class Arbitrator:
    name: str
    role: Literal["presiding", "co", "sole"] = "sole"


@dataclass(frozen=True, slots=True)
class ProceduralStep:
    on: date
    text: str


@dataclass(frozen=True, slots=True)
class Claim:
    text: str
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DecisionItem:
    """One numbered item of a decision (or of a settlement's terms)."""

    text: str
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FeeShare:
    party: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Fees:
    """The arbitration fee and who bears how much of it."""

    total: Decimal
    shares: tuple[FeeShare, ...]

    def __post_init__(self) -> None:
        if sum((s.amount for s in self.shares), Decimal(0)) != self.total:
            raise DocumentModelError("fees.shares: the shares must add up to fees.total")


@dataclass(frozen=True, slots=True)
class Dissent:
    arbitrator: str
    text: str


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    period: int
    due_on: date
    principal: Decimal
    interest: Decimal
    outstanding: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


# -- content per kind ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Award:
    parties: tuple[Party, ...]
    tribunal: tuple[Arbitrator, ...]
    procedural_history: tuple[ProceduralStep, ...]
    claims: tuple[Claim, ...]
    facts: tuple[str, ...]
    reasoning: tuple[str, ...]
    decision: tuple[DecisionItem, ...]
    fees: Fees
    place: str
    made_on: date
    secretary: str = ""
    counterclaims: tuple[Claim, ...] = ()
    respondent_answer: tuple[str, ...] = ()
    dissent: Dissent | None = None
    schedule: tuple[ScheduleRow, ...] = ()
    kind: Literal["award"] = "award"


@dataclass(frozen=True, slots=True)
class ConsentAward:
    """An award on the terms the parties settled on (裁决书 according to a settlement)."""

    parties: tuple[Party, ...]
    tribunal: tuple[Arbitrator, ...]
    procedural_history: tuple[ProceduralStep, ...]
    claims: tuple[Claim, ...]
    settled_on: date
    terms: tuple[DecisionItem, ...]
    fees: Fees
    place: str
    made_on: date
    secretary: str = ""
    schedule: tuple[ScheduleRow, ...] = ()
    kind: Literal["consent_award"] = "consent_award"


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class MediationStatement:
    """调解书: the agreement reached in mediation, binding once signed for by the parties.

    Besides the claims and the terms, a mediation statement says how the case went
    (``procedural_history``) and which agreement it records: the day it was reached
    in mediation (``agreed_on``, when both sides had signed it), its reference and the
    SHA-256 of the text both sides signed, so that anyone holding the agreement can
    check it is the one the statement confirms. All optional (a statement drawn up
    without an agreement on the platform leaves them out).
    """

    parties: tuple[Party, ...]
    tribunal: tuple[Arbitrator, ...]
    claims: tuple[Claim, ...]
    terms: tuple[DecisionItem, ...]
    fees: Fees
    place: str
    made_on: date
    secretary: str = ""
    schedule: tuple[ScheduleRow, ...] = ()
    procedural_history: tuple[ProceduralStep, ...] = ()
    agreed_on: date | None = None
    agreement_id: str = ""
    agreement_sha256: str = ""
    kind: Literal["mediation_statement"] = "mediation_statement"

    def __post_init__(self) -> None:
        if self.agreement_sha256 and not _SHA256_RE.match(self.agreement_sha256):
            raise DocumentModelError(
                "agreement_sha256: 64 lower-case hexadecimal digits (a SHA-256)"
            )
        if (self.agreement_id or self.agreement_sha256) and self.agreed_on is None:
            raise DocumentModelError("agreed_on: required when the agreement is named")
        if self.agreed_on is not None and self.agreed_on > self.made_on:
            raise DocumentModelError("agreed_on: the agreement comes before the statement")


@dataclass(frozen=True, slots=True)
class NoticeOfAcceptance:
    recipient: str
    parties: tuple[Party, ...]
    case_type: str
    amount_claimed: Decimal
    accepted_on: date
    rule_set: str
    fee_due: Decimal
    portal_url: str
    kind: Literal["notice_of_acceptance"] = "notice_of_acceptance"


@dataclass(frozen=True, slots=True)
class NoticeOfArbitration:
    recipient: str
    parties: tuple[Party, ...]
    case_type: str
    claims: tuple[Claim, ...]
    amount_claimed: Decimal
    rule_set: str
    answer_due_on: date
    evidence_due_on: date
    arbitrator_choice_due_on: date | None
    portal_url: str
    kind: Literal["notice_of_arbitration"] = "notice_of_arbitration"


@dataclass(frozen=True, slots=True)
class NoticeOfConstitution:
    recipient: str
    parties: tuple[Party, ...]
    tribunal: tuple[Arbitrator, ...]
    constituted_on: date
    how: str  # e.g. "由仲裁委员会主任指定" / "appointed by the chairman of the commission"
    challenge_due_on: date
    kind: Literal["notice_of_constitution"] = "notice_of_constitution"


@dataclass(frozen=True, slots=True)
class NoticeOfHearing:
    recipient: str
    parties: tuple[Party, ...]
    tribunal: tuple[Arbitrator, ...]
    mode: Literal["documents_only", "asynchronous", "video", "in_person"]
    starts_at: datetime  # in the commission's time zone
    place: str  # a room, or the portal/video address
    rounds: tuple[ProceduralStep, ...] = ()  # asynchronous rounds: when each closes
    kind: Literal["notice_of_hearing"] = "notice_of_hearing"


@dataclass(frozen=True, slots=True)
class CertificateOfService:
    """送达回证: what was served on whom, how, where and when."""

    recipient: str
    document: str
    method: str  # e.g. 电子邮件 / email
    address: str
    served_at: datetime
    receipt: str  # delivery record (gateway message id, read receipt …)
    document_sha256: str = ""
    kind: Literal["certificate_of_service"] = "certificate_of_service"


Content: TypeAlias = (
    Award
    | ConsentAward
    | MediationStatement
    | NoticeOfAcceptance
    | NoticeOfArbitration
    | NoticeOfConstitution
    | NoticeOfHearing
    | CertificateOfService
)


@dataclass(frozen=True, slots=True)
class Document:
    """A formal document of a case, ready to render."""

    commission: Commission
    case_number: str
    content: Content
    issued_on: date
    language: Language = "zh"
    verification_code: str = field(default_factory=new_verification_code)
    tenant: str = ""  # the commission's slug: picks its template overrides

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise DocumentModelError(f"language {self.language!r}: one of {', '.join(LANGUAGES)}")
        if not self.case_number.strip():
            raise DocumentModelError("case_number: required")
        object.__setattr__(
            self, "verification_code", normalize_verification_code(self.verification_code)
        )
        parties = getattr(self.content, "parties", None)
        if parties is not None and not (
            any(p.role == "claimant" for p in parties)
            and any(p.role == "respondent" for p in parties)
        ):
            raise DocumentModelError("content.parties: needs a claimant and a respondent")

    @property
    def kind(self) -> Kind:
        return self.content.kind

    @property
    def verification_url(self) -> str:
        return f"{self.commission.public_url.rstrip('/')}/verify/{self.verification_code}"

    @property
    def schedule(self) -> tuple[ScheduleRow, ...]:
        return getattr(self.content, "schedule", ())
