"""Tables of the audit context (both append-only)."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Timestamptz, Varchar
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_event"):
    """An event within one tenant: a login, a failure, a token, a change."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    at = Timestamptz()
    actor_kind = Varchar(length=20)
    actor_id = Varchar(length=100, null=True, default=None)
    action = Varchar(length=100)
    target_kind = Varchar(length=50, null=True, default=None)
    target_id = Varchar(length=100, null=True, default=None)
    outcome = Varchar(length=20)
    ip = Varchar(length=64, null=True, default=None)
    request_id = Varchar(length=128, null=True, default=None)
    detail = JSON()


class PlatformAuditEvent(Table, tablename="platform_audit_event"):
    """An event above the tenants: alliance administration, tenant syncs."""

    id = UUID(primary_key=True)
    at = Timestamptz()
    actor_kind = Varchar(length=20)
    actor_id = Varchar(length=100, null=True, default=None)
    action = Varchar(length=100)
    target_kind = Varchar(length=50, null=True, default=None)
    target_id = Varchar(length=100, null=True, default=None)
    outcome = Varchar(length=20)
    ip = Varchar(length=64, null=True, default=None)
    request_id = Varchar(length=128, null=True, default=None)
    detail = JSON()
