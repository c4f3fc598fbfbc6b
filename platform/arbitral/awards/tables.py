"""Tables of the awards context: drafts and their versions, the tribunal's votes, and the
documents issued for a case (signed PDFs, found again by their verification code).

``case_document`` is append-only: an issued document is never changed; a correction
(补正) is a new award and a new document that names the one it corrects.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Award(Table, tablename="award"):
    """An award of a case, drafted by the tribunal, voted on, then issued once.

    ``kind`` is ``award``, ``correction`` (of ``corrects_id``), ``consent_award`` or
    ``mediation_statement``. ``content`` holds what the tribunal writes (facts, reasoning,
    decision items, fees, place; for a document on a settlement, the agreement's id and
    SHA-256); what the case says (parties, tribunal, history) is assembled from the case
    when the document is made. ``effective_on`` stays empty for a mediation statement: it
    takes effect when the parties sign for it.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    kind = Varchar(length=32)
    corrects_id = UUID(null=True, default=None)
    status = Varchar(length=16, default="draft")
    content = JSON()
    version = Integer(default=1)
    drafted_by = Varchar(length=200)
    drafted_at = Timestamptz()
    updated_at = Timestamptz()
    approved_at = Timestamptz(null=True, default=None)
    issue_requested_by = Varchar(length=200, null=True, default=None)
    issue_requested_at = Timestamptz(null=True, default=None)
    # Until when one run of the issue job holds the award (renders, signs, records it).
    issue_lease_until = Timestamptz(null=True, default=None)
    issued_at = Timestamptz(null=True, default=None)
    effective_on = Date(null=True, default=None)
    document_id = UUID(null=True, default=None)


class AwardVote(Table, tablename="award_vote"):
    """One arbitrator's vote on the award's current text (by its SHA-256)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    award_id = UUID()
    arbitrator_id = UUID()
    vote = Varchar(length=16)
    opinion = Text(default="")
    content_sha256 = Varchar(length=64)
    voted_at = Timestamptz()


class CaseDocument(Table, tablename="case_document"):
    """A signed document issued for a case: where its bytes are, and how it is found again."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    award_id = UUID(null=True, default=None)
    # The service request a notice's document or certificate of service was made for.
    service_request_id = UUID(null=True, default=None)
    kind = Varchar(length=32)
    verification_code = Varchar(length=32)
    sha256 = Varchar(length=64)
    size = Integer()
    pages = Integer()
    custody_item_id = UUID(null=True, default=None)
    leaf_index = Integer(null=True, default=None)
    signed_at = Timestamptz()
    issued_at = Timestamptz()
