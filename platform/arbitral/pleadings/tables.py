"""Tables of the pleadings context: the respondent's answer (append-only), its counterclaim."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Numeric, Text, Timestamptz, Varchar
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


class CaseCounterclaim(Table, tablename="case_counterclaim"):
    """The respondent's counterclaim (反请求): one per case, its text never changed.

    ``status`` follows its fee: ``pending_fee`` until paid (``standing``) or until the
    fee's time limit runs out (``deemed_withdrawn``). The fee's invoice is in the
    payments context (``payment_invoice`` of kind ``counterclaim``).
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    claims = Text()
    amount = Numeric(digits=(16, 2))
    facts_and_reasons = Text(default="")
    # SHA-256 (hex) of the canonical JSON of claims, amount and facts: logged in the ledger.
    sha256 = Varchar(length=64)
    status = Varchar(length=20, default="pending_fee")
    filed_by = Varchar(length=200)
    filed_at = Timestamptz()
    paid_at = Timestamptz(null=True, default=None)
    withdrawn_at = Timestamptz(null=True, default=None)
    # The claimant's answer to the counterclaim, within its period (once, never changed).
    answer_text = Text(null=True, default=None)
    answer_sha256 = Varchar(length=64, null=True, default=None)
    answered_by = Varchar(length=200, null=True, default=None)
    answered_at = Timestamptz(null=True, default=None)
