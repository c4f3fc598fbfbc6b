"""Tables of the cases context: cases, their parties, tribunal, history and exhibits.

``case_event`` and ``exhibit_view`` are append-only (the database refuses
updates and deletes); a case's current state and an exhibit's current ruling
are kept on their rows for queries, and every change of them is an event.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Integer, Numeric, Text, Timestamptz, Varchar
from piccolo.table import Table


class Case(Table, tablename="arb_case"):
    """One arbitration case ("case" is an SQL keyword, hence the table name)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_type = Varchar(length=40)
    rule_set = Varchar(length=100)
    rule_set_version = Varchar(length=20)
    state = Varchar(length=32)
    # The state a suspended case resumes to.
    resumes_to = Varchar(length=32, null=True, default=None)
    # Given at filing: gapless per tenant and year, in the tenant's format.
    number = Varchar(length=100, null=True, default=None)
    number_year = Integer(null=True, default=None)
    number_seq = Integer(null=True, default=None)
    claim = JSON()
    amount_claimed = Numeric(digits=(16, 2))
    filed_by = Varchar(length=200)
    filer_kind = Varchar(length=20)
    filer_user_id = UUID(null=True, default=None)
    filed_by_client = Varchar(length=64, null=True, default=None)
    filed_at = Timestamptz()
    updated_at = Timestamptz()
    # When the respondent side first opened the file (the due-process record shows it).
    respondent_opened_at = Timestamptz(null=True, default=None)
    # Bumped by every command; two racing commands cannot both apply.
    version = Integer(default=1)


class CaseParty(Table, tablename="case_party"):
    """A claimant or respondent as the claim names them, linked to their account."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    side = Varchar(length=16)
    position = Integer()
    kind = Varchar(length=16)
    name = Varchar(length=200)
    id_number = Varchar(length=32)
    phone = Varchar(length=32, null=True, default=None)
    email = Varchar(length=254, null=True, default=None)
    address = Text(null=True, default=None)
    user_id = UUID(null=True, default=None)


class CaseNumberCounter(Table, tablename="case_number_counter"):
    """The last case number given out per tenant and year (gapless, never reused)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    year = Integer()
    last_seq = Integer(default=0)


class TribunalMember(Table, tablename="tribunal_member"):
    """An arbitrator sitting on a case (released members stay, for the record)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    user_id = UUID()
    role = Varchar(length=16)
    appointed_at = Timestamptz()
    appointed_by = Varchar(length=200)
    # How the seat was filled: claimant | respondent | agreement | commission.
    chosen_by = Varchar(length=20, default="commission")
    released_at = Timestamptz(null=True, default=None)
    released_by = Varchar(length=200, null=True, default=None)


class CaseEvent(Table, tablename="case_event"):
    """The history of a case: every command it received (append-only)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    seq = Integer()
    command = Varchar(length=40)
    from_state = Varchar(length=32, null=True, default=None)
    to_state = Varchar(length=32)
    actor = Varchar(length=200)
    actor_kind = Varchar(length=20)
    at = Timestamptz()
    reason = Text(default="")
    data = JSON()


class Exhibit(Table, tablename="exhibit"):
    """A piece of evidence one side puts before the tribunal.

    Exactly one of ``custody_object_id`` (an uploaded file) and
    ``custody_record_id`` (a record a platform attested) is set. ``number`` and
    ``seq`` are given on submission, in the order of submission per side.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    side = Varchar(length=16)
    seq = Integer(null=True, default=None)
    number = Varchar(length=16, null=True, default=None)
    title = Varchar(length=200)
    description = Text(default="")
    proves = Text(default="")
    kind = Varchar(length=40, null=True, default=None)
    custody_object_id = UUID(null=True, default=None)
    custody_record_id = UUID(null=True, default=None)
    provenance = Varchar(length=20)
    created_at = Timestamptz()
    created_by = Varchar(length=200)
    submitted_at = Timestamptz(null=True, default=None)
    submitted_by = Varchar(length=200, null=True, default=None)
    ruling = Varchar(length=16, null=True, default=None)
    ruling_reason = Text(default="")
    ruled_by = Varchar(length=200, null=True, default=None)
    ruled_at = Timestamptz(null=True, default=None)
    # When the scrub found the cited bytes altered or gone (never repaired, only flagged).
    altered_at = Timestamptz(null=True, default=None)


class ExhibitView(Table, tablename="exhibit_view"):
    """One side's view of an exhibit (append-only: the latest of a side counts)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    exhibit_id = UUID()
    side = Varchar(length=16)
    authenticity = Varchar(length=16)
    legality = Varchar(length=16)
    relevance = Varchar(length=16)
    comment = Text(default="")
    recorded_by = Varchar(length=200)
    recorded_at = Timestamptz()


class CaseDeadline(Table, tablename="case_deadline"):
    """A time limit running on a case: when it expires, its job moves the case.

    At most one pending deadline of a name per case (a partial unique index).
    Met or superseded deadlines are cancelled, expired ones fired: the row stays.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    name = Varchar(length=40)
    due_at = Timestamptz()
    job = Varchar(length=100)
    payload = JSON()
    status = Varchar(length=16, default="pending")
    created_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)
