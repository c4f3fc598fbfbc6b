"""Tables of the notify context."""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class OutboundMessage(Table, tablename="outbound_message"):
    """A message to deliver on a channel; written in the transaction that causes it."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    channel = Varchar(length=10)
    destination = Varchar(length=254)
    purpose = Varchar(length=50)
    body = Text()
    status = Varchar(length=10, default="pending")
    attempts = Integer(default=0)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    provider_ref = Varchar(length=200, null=True, default=None)
    last_error = Text(null=True, default=None)
    # What the channel reported after sending (an SMS delivery report, the mail server's
    # acceptance): status moves sent -> delivered or failed, once.
    delivered_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)
    report = Text(null=True, default=None)
