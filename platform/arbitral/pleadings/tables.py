"""Tables of the pleadings context: the respondent's answer (append-only)."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Text, Timestamptz, Varchar
from piccolo.table import Table


class CaseAnswer(Table, tablename="case_answer"):
    """The respondent's answer to the claim (答辩书): one per case, never changed."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    text = Text()
    # SHA-256 (hex) of the text as UTF-8: logged in the transparency log.
    sha256 = Varchar(length=64)
    # The exhibits of the respondent's side the answer relies on (ids, in order).
    exhibit_ids = JSON()
    submitted_by = Varchar(length=200)
    submitted_at = Timestamptz()
