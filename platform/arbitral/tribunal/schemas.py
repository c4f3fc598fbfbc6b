"""Request and response types of the tribunal context."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
Text = Annotated[str, msgspec.Meta(max_length=5000)]


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    """An arbitrator put on the commission's panel."""

    user_id: UUID
    specialities: Annotated[list[Tag], msgspec.Meta(max_length=30)] = []
    languages: Annotated[list[Tag], msgspec.Meta(min_length=1, max_length=10)] = msgspec.field(
        default_factory=lambda: ["zh"]
    )
    accepting: bool = True
    max_concurrent: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 50
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    bio: Text = ""


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """What changes (absent: unchanged; ``id_number: ""`` clears it)."""

    specialities: Annotated[list[Tag], msgspec.Meta(max_length=30)] | None = None
    languages: Annotated[list[Tag], msgspec.Meta(min_length=1, max_length=10)] | None = None
    accepting: bool | None = None
    max_concurrent: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    bio: Text | None = None


class ProfileOut(msgspec.Struct):
    user_id: UUID
    display_name: str
    specialities: list[str]
    languages: list[str]
    accepting: bool
    max_concurrent: int
    # Cases where the arbitrator sits now (not closed).
    load: int
    bio: str
    updated_at: datetime
    # The commission's staff only.
    id_number: str | None = None


class ConflictOut(msgspec.Struct):
    kind: str
    detail: str
    other_case: UUID | None = None


class CandidateOut(msgspec.Struct):
    """A panel arbitrator as the rules see them for one case (staff only)."""

    user_id: UUID
    display_name: str
    eligible: bool
    refusals: list[str]
    reasons: list[str]
    load: int
    max_concurrent: int
    repeat_count: int
    specialities: list[str]
    conflicts: list[ConflictOut]


class RelationIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["party", "agent", "lender", "other"]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    user_id: UUID | None = None
    client_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class DisclosureIn(msgspec.Struct, forbid_unknown_fields=True):
    """The arbitrator's statement of independence and every relation to disclose."""

    statement: Annotated[str, msgspec.Meta(max_length=10000)]
    relations: Annotated[list[RelationIn], msgspec.Meta(max_length=50)] = []


class DisclosureOut(msgspec.Struct):
    statement: str
    relations: list[RelationIn]
    filed_at: datetime


class SeatOut(msgspec.Struct):
    user_id: UUID
    display_name: str
    role: str
    chosen_by: str
    appointed_at: datetime
    released_at: datetime | None
    disclosure: DisclosureOut | None
    # The commission's staff only (they may name other cases).
    conflicts: list[ConflictOut] | None = None


class AppointmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """The commission appoints: ``user_id`` picked by staff, or none for the automatic choice."""

    user_id: UUID | None = None
    # The seat (default: the first vacant one).
    role: Literal["sole", "presiding", "member"] | None = None


class NominationIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UUID
    role: Literal["sole", "presiding", "member"] = "sole"


class NominationOut(msgspec.Struct):
    side: str
    role: str
    user_id: UUID
    nominated_at: datetime


class ChallengeIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UUID
    grounds: Annotated[str, msgspec.Meta(max_length=10000)]
    # The day the challenger learned the grounds, when they are new facts: a challenge
    # after the challenge period stands if brought within the rules' days of that day.
    grounds_known_on: date | None = None


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Literal["upheld", "rejected"]
    reason: Annotated[str, msgspec.Meta(max_length=10000)]


class ChallengeOut(msgspec.Struct):
    id: UUID
    user_id: UUID
    side: str
    grounds: str
    filed_at: datetime
    status: str
    decided_at: datetime | None
    decision_reason: str


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """An arbitrator leaves the tribunal (withdraws, or the commission removes them)."""

    reason: Annotated[str, msgspec.Meta(max_length=5000)]


class ConstituteIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=5000)] = ""


class ChallengePeriodOut(msgspec.Struct):
    """One party's challenge period: from its own service of the notice of constitution."""

    party_id: UUID
    side: str
    name: str
    notice_status: str | None  # serving, served, referred (to the staff), stopped
    served_at: datetime | None
    until: datetime | None  # None until the notice is served on the party


class TribunalOut(msgspec.Struct):
    case_id: UUID
    state: str
    tribunal_size: int
    arbitrator_selection: str
    # When the parties' time to choose ends (while it runs).
    selection_until: datetime | None
    # When the challenge period of the sitting members ends (once constituted).
    challenge_until: datetime | None
    seats: list[SeatOut]
    released: list[SeatOut]
    nominations: list[NominationOut]
    challenges: list[ChallengeOut]
    # What still stands in the way of constituting the tribunal.
    constitution_problems: list[str]
    # Each party's challenge period, from its service of the notice of constitution of the
    # sitting tribunal; the case's (challenge_until) is the latest of them.
    challenge_periods: list[ChallengePeriodOut] = []
