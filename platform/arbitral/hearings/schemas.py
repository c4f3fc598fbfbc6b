"""Request and response types of the hearings API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class HearingOpenIn(msgspec.Struct, forbid_unknown_fields=True):
    """``mode``: documents, asynchronous or video (default: the rule set's default)."""

    mode: str | None = None
    reason: str = ""


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class RoundCloseIn(msgspec.Struct, forbid_unknown_fields=True):
    """The round the tribunal means to close (refused if another one is open by now)."""

    round: str
    reason: str = ""


class PostIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str  # question, answer, argument, closing
    text: str
    addressed_to: str | None = None  # questions: claimant, respondent or both
    reply_to: UUID | None = None  # answers: the question answered
    accepts_mediation: bool | None = None  # closing statements
    exhibit_ids: list[UUID] = msgspec.field(default_factory=list)


class SessionIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: datetime
    ends_at: datetime
    link: str


class RescheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    """A video session moved to another slot (or link): the parties are notified anew."""

    starts_at: datetime
    ends_at: datetime
    link: str
    reason: str


class OutcomeIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: str  # held, held_in_absence, adjourned
    notes: str = ""
    recording_sha256: str | None = None


class RoundOut(msgspec.Struct):
    name: str
    position: int
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    closed_by: str | None


class PostOut(msgspec.Struct):
    id: UUID
    seq: int
    round: str | None
    speaker: str
    kind: str
    addressed_to: str | None
    reply_to: UUID | None
    text: str
    accepts_mediation: bool | None
    exhibit_ids: list[UUID]
    posted_by: str
    posted_at: datetime


class SessionOut(msgspec.Struct):
    id: UUID
    starts_at: datetime
    ends_at: datetime
    link: str
    scheduled_by: str
    scheduled_at: datetime
    outcome: str | None
    notes: str
    recording_sha256: str | None
    recorded_at: datetime | None
    # The notice of hearing of the current slot (served on every party at notice_served_at).
    notice_subject: str = ""
    notice_served_at: datetime | None = None


class HearingOut(msgspec.Struct):
    case_id: UUID
    case_state: str
    mode: str
    opened_at: datetime
    closed_at: datetime | None
    rounds: list[str]
    current_round: str | None
    round_history: list[RoundOut]
    posts: list[PostOut]
    sessions: list[SessionOut]
