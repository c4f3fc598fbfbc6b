"""Tables of the hearings context: the hearing, its rounds, posts and video sessions.

``hearing_post`` is append-only (the database refuses updates and deletes): what
was said in an asynchronous hearing stays as it was said.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Hearing(Table, tablename="hearing"):
    """The hearing of a case (one per case), in the mode the tribunal chose."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    mode = Varchar(length=16)
    # The rounds of an asynchronous hearing, as the rule set gave them when it opened.
    rounds = JSON()
    opened_at = Timestamptz()
    opened_by = Varchar(length=200)
    closed_at = Timestamptz(null=True, default=None)
    closed_by = Varchar(length=200, null=True, default=None)


class HearingRound(Table, tablename="hearing_round"):
    """One round of an asynchronous hearing: open until its time runs out or the tribunal
    closes it."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    hearing_id = UUID()
    name = Varchar(length=32)
    position = Integer()
    opened_at = Timestamptz()
    closes_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    # "deadline", or who closed it early.
    closed_by = Varchar(length=200, null=True, default=None)


class HearingPost(Table, tablename="hearing_post"):
    """A question, answer, argument or closing statement (append-only)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    hearing_id = UUID()
    seq = Integer()
    round = Varchar(length=32, null=True, default=None)
    speaker = Varchar(length=16)
    kind = Varchar(length=16)
    addressed_to = Varchar(length=16, null=True, default=None)
    reply_to = UUID(null=True, default=None)
    text = Text()
    accepts_mediation = Boolean(null=True, default=None)
    exhibit_ids = JSON()
    posted_by = Varchar(length=200)
    posted_at = Timestamptz()


class HearingSession(Table, tablename="hearing_session"):
    """A video session: its slot and link on the external video system, then its outcome."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    hearing_id = UUID()
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    link = Varchar(length=2000)
    scheduled_by = Varchar(length=200)
    scheduled_at = Timestamptz()
    outcome = Varchar(length=20, null=True, default=None)
    notes = Text(default="")
    # SHA-256 of the session's recording, when the video system delivered one.
    recording_sha256 = Varchar(length=64, null=True, default=None)
    recorded_by = Varchar(length=200, null=True, default=None)
    recorded_at = Timestamptz(null=True, default=None)
