"""Tables of the settlement context: offers, mediations, agreements and their signatures.

``settlement_signature`` is append-only: a side's confirmation of an agreement's
text (by its SHA-256) is never changed or taken back.
"""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Numeric, Text, Timestamptz, Varchar
from piccolo.table import Table


class SettlementOffer(Table, tablename="settlement_offer"):
    """An offer of one side (a counter-offer answers an offer of the other side)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    seq = Integer()
    side = Varchar(length=16)
    amount = Numeric(digits=(16, 2), null=True, default=None)
    terms = Text()
    reply_to = UUID(null=True, default=None)
    status = Varchar(length=16, default="open")
    made_by = Varchar(length=200)
    made_at = Timestamptz()
    decided_by = Varchar(length=200, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")


class SettlementMediation(Table, tablename="settlement_mediation"):
    """A mediator assigned to a case (a staff member or a sitting arbitrator)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    mediator_user_id = UUID()
    mediator_kind = Varchar(length=16)
    assigned_by = Varchar(length=200)
    assigned_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)
    ended_by = Varchar(length=200, null=True, default=None)
    result = Varchar(length=16, null=True, default=None)


class SettlementAgreement(Table, tablename="settlement_agreement"):
    """The text both sides sign; what it is to become (consent award, mediation statement,
    withdrawal) and, once the case ended by it, which document was asked for."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    text = Text()
    sha256 = Varchar(length=64)
    outcome = Varchar(length=24)
    offer_id = UUID(null=True, default=None)
    mediation_id = UUID(null=True, default=None)
    status = Varchar(length=16, default="proposed")
    proposed_by = Varchar(length=200)
    proposed_at = Timestamptz()
    concluded_by = Varchar(length=200, null=True, default=None)
    concluded_at = Timestamptz(null=True, default=None)
    # consent_award or mediation_statement: the document issue 7's awards render.
    document_requested = Varchar(length=24, null=True, default=None)


class SettlementSignature(Table, tablename="settlement_signature"):
    """One side's confirmation of an agreement's exact text (append-only)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    agreement_id = UUID()
    side = Varchar(length=16)
    sha256 = Varchar(length=64)
    signed_by = Varchar(length=200)
    signed_at = Timestamptz()
