"""Request and response types of the cases API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class CaseFiling(msgspec.Struct, forbid_unknown_fields=True):
    """A claim as the rule set's claim form for ``case_type`` describes it."""

    case_type: str
    claim: dict[str, Any]


class Amendment(msgspec.Struct, forbid_unknown_fields=True):
    """The corrected claim of a case returned for correction (the whole claim again)."""

    claim: dict[str, Any]
    reason: str = ""


class CommandIn(msgspec.Struct, forbid_unknown_fields=True):
    command: str
    reason: str = ""
    # The case version the caller saw; a case changed since answers 409.
    if_version: int | None = None


class PartyOut(msgspec.Struct):
    id: UUID
    side: str
    position: int
    kind: str
    name: str
    id_number: str
    phone: str | None
    email: str | None
    address: str | None
    has_account: bool


class TribunalMemberOut(msgspec.Struct):
    user_id: UUID
    display_name: str
    role: str
    appointed_at: datetime


class DeadlineOut(msgspec.Struct):
    name: str
    due_at: datetime


class CaseOut(msgspec.Struct):
    id: UUID
    number: str | None
    case_type: str
    rule_set: str
    rule_set_version: str
    state: str
    claim: dict[str, Any]
    amount_claimed: str
    filed_by: str
    filed_at: datetime
    updated_at: datetime
    version: int
    parties: list[PartyOut]
    tribunal: list[TribunalMemberOut]
    # What the caller may do to the case now (commands of the state machine).
    allowed_commands: list[str]
    my_side: str | None
    # The time limits running on the case now, soonest first.
    deadlines: list[DeadlineOut] = []


class CaseSummary(msgspec.Struct):
    id: UUID
    number: str | None
    case_type: str
    state: str
    amount_claimed: str
    claimants: list[str]
    respondents: list[str]
    filed_at: datetime


class CasePage(msgspec.Struct):
    items: list[CaseSummary]
    next_cursor: str | None


class EventOut(msgspec.Struct):
    seq: int
    command: str
    from_state: str | None
    to_state: str
    actor: str
    actor_kind: str
    at: datetime
    reason: str
    data: dict[str, Any]


class ExhibitCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An exhibit from a file in custody (``item_id``) or an attested record (``record_id``)."""

    title: str
    item_id: UUID | None = None
    record_id: UUID | None = None
    description: str = ""
    proves: str = ""
    kind: str | None = None
    submit: bool = False


class ViewIn(msgspec.Struct, forbid_unknown_fields=True):
    authenticity: str
    legality: str
    relevance: str
    comment: str = ""


class RulingIn(msgspec.Struct, forbid_unknown_fields=True):
    ruling: str
    reason: str = ""


class ViewOut(msgspec.Struct):
    side: str
    authenticity: str
    legality: str
    relevance: str
    comment: str
    recorded_by: str
    recorded_at: datetime


class ExhibitOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    side: str
    number: str | None
    title: str
    description: str
    proves: str
    kind: str | None
    provenance: str
    sha256: str
    media_type: str
    size: int | None
    item_id: UUID | None
    record_id: UUID | None
    created_at: datetime
    submitted_at: datetime | None
    ruling: str | None
    ruling_reason: str
    ruled_at: datetime | None
    views: list[ViewOut]
    # Set when the scrub found the stored bytes altered or gone (the exhibit is not repaired).
    altered_at: datetime | None = None


class ExhibitDownload(msgspec.Struct):
    url: str | None
    expires_in: int | None
    sha256: str
    # For an attested record: the JWS as the platform signed it.
    jws: str | None = None


class WaiverIn(msgspec.Struct, forbid_unknown_fields=True):
    period: str


class WaiverOut(msgspec.Struct):
    waived: str
    still_running: list[str]
