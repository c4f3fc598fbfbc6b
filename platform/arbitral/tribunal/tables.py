"""Tables of the tribunal context: the panel, nominations, disclosures, challenges.

The seats themselves are ``tribunal_member`` rows of the cases context.
Nominations and disclosures are append-only (the latest of a side, or of an
arbitrator on a case, counts); a challenge is decided once.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class ArbitratorProfile(Table, tablename="arbitrator_profile"):
    """An arbitrator on the commission's panel (one per user)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    specialities = JSON()
    languages = JSON()
    # Taking new cases at all, and how many at once.
    accepting = Boolean(default=True)
    max_concurrent = Integer(default=50)
    # The arbitrator's own identity number, for the conflict check (optional).
    id_number = Varchar(length=32, null=True, default=None)
    bio = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    updated_by = Varchar(length=200)


class TribunalNomination(Table, tablename="tribunal_nomination"):
    """A side names an arbitrator for a seat (append-only: the latest of a side counts)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    side = Varchar(length=16)
    role = Varchar(length=16)
    user_id = UUID()
    nominated_by = Varchar(length=200)
    nominated_at = Timestamptz()


class ArbitratorDisclosure(Table, tablename="arbitrator_disclosure"):
    """An arbitrator's disclosure on a case (append-only: later ones supplement)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    user_id = UUID()
    statement = Text()
    relations = JSON()
    filed_at = Timestamptz()


class TribunalChallenge(Table, tablename="tribunal_challenge"):
    """A party's challenge of an arbitrator (回避) and the commission's decision."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    user_id = UUID()
    side = Varchar(length=16)
    grounds = Text()
    filed_by = Varchar(length=200)
    filed_at = Timestamptz()
    status = Varchar(length=16, default="pending")
    decided_by = Varchar(length=200, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")
