"""Tables of the webhooks context: where an API client's webhooks go, and each event sent.

``webhook_endpoint`` is one per API client (unique per tenant and client id): the URL,
the signing secret sealed under the key-encryption key (and, for a day after a
rotation, the one it replaced), and whether it is active. ``webhook_delivery`` is one
event for one client: its payload, and how its delivery went (attempts, the last
answer, when it was delivered). ``lease_until`` holds the one run of the delivery job
that may post it now.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Bytea, Integer, Timestamptz, Varchar
from piccolo.table import Table


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    id = UUID(primary_key=True)
    tenant_id = UUID()
    api_client_id = UUID()
    client_id = Varchar(length=64)
    url = Varchar(length=2000)
    secret_enc = Bytea()
    # The secret a rotation replaced, still signed with until previous_until.
    previous_secret_enc = Bytea(null=True, default=None)
    previous_until = Timestamptz(null=True, default=None)
    # active | disabled
    status = Varchar(length=16, default="active")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    secret_rotated_at = Timestamptz()


class WebhookDelivery(Table, tablename="webhook_delivery"):
    """One event for one API client (its id is the ``webhook-id`` header)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    endpoint_id = UUID()
    client_id = Varchar(length=64)
    event_type = Varchar(length=64)
    # The caller's key for this event (e.g. the batch id): the same key is one event.
    event_key = Varchar(length=200, null=True, default=None)
    payload = JSON()
    # pending | delivered | failed
    status = Varchar(length=12, default="pending")
    attempts = Integer(default=0)
    next_at = Timestamptz(null=True, default=None)
    last_status_code = Integer(null=True, default=None)
    last_error = Varchar(length=500, null=True, default=None)
    created_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
