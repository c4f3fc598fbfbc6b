"""Tables of the service context: requests, attempts, the portal inbox, certificates.

``service_request`` is one notice to serve on one party of a case (unique per
case, party, notice and subject: starting twice serves once); ``service_attempt`` one
try on one channel (a step of the ladder), with what became of it;
``inbox_item`` a notice in a party's portal inbox; ``service_certificate``
the certificate of service (送达回证) once the notice counts as served, its
text hashed and logged in the tenant's transparency log.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class ServiceRequest(Table, tablename="service_request"):
    """One notice to serve on one party, by the ladder the case's rule set gives."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    party_id = UUID()
    notice = Varchar(length=40)
    # What the notice is about when a case can have several of it: the tribunal it
    # announces, the hearing slot or round ("" for notices served once per case).
    subject = Varchar(length=100, default="")
    # The notice's own variables (its subject's details) besides the case's, as rendered.
    variables = JSON(default="{}")
    recipient = Varchar(length=200)
    # The notice as served (its full text: the portal shows it, the certificate hashes it).
    title = Varchar(length=200, default="")
    text = Text(default="")
    text_sha256 = Varchar(length=64, default="")
    # The [service] rules of the case's pinned rule set, as they were when serving began
    # (null: the rule set states none, and the commission's staff serve by hand).
    rules = JSON()
    # serving, served, referred (to staff)
    status = Varchar(length=16)
    step = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # How it counts as served: delivered, opened, deemed, staff.
    basis = Varchar(length=16, null=True, default=None)
    served_at = Timestamptz(null=True, default=None)
    served_attempt_id = UUID(null=True, default=None)
    referred_at = Timestamptz(null=True, default=None)
    note = Text(default="")


class ServiceAttempt(Table, tablename="service_attempt"):
    """One step of the ladder tried on a request: channel, where to, what became of it."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    request_id = UUID()
    step = Integer()
    channel = Varchar(length=10)
    # Masked (a receipt shows where the notice went without giving the address away).
    destination = Varchar(length=254, null=True, default=None)
    # skipped, queued, sent, delivered, opened, failed, timed_out
    status = Varchar(length=16)
    message_id = UUID(null=True, default=None)
    inbox_item_id = UUID(null=True, default=None)
    provider_ref = Varchar(length=200, null=True, default=None)
    detail = Text(default="")
    started_at = Timestamptz()
    wait_until = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)


class InboxItem(Table, tablename="inbox_item"):
    """A notice in a party's portal inbox (shown: listed to them; opened: read by them)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    user_id = UUID()
    request_id = UUID(null=True, default=None)
    notice = Varchar(length=40)
    title = Varchar(length=200)
    body = Text()
    created_at = Timestamptz()
    shown_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)


class ServiceCertificate(Table, tablename="service_certificate"):
    """The certificate of service (送达回证) of a request: record, text, hash, ledger leaf."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    request_id = UUID()
    record = JSON()
    text = Text()
    sha256 = Varchar(length=64)
    leaf_index = BigInt()
    issued_at = Timestamptz()
