"""Tables of the tenancy context."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Timestamptz, Varchar
from piccolo.table import Table


class Tenant(Table, tablename="tenant"):
    """An arbitration commission, as last synced from ``tenants/<slug>.toml``.

    A platform table (it is the tenant): readable by the application role so
    that hosts and slugs resolve before any tenant is known.
    """

    id = UUID(primary_key=True)
    slug = Varchar(length=63, unique=True)
    name_zh = Varchar(length=200)
    name_en = Varchar(length=200)
    hosts = JSON()
    time_zone = Varchar(length=64)
    locale = Varchar(length=16)
    rule_set = Varchar(length=120)
    rule_set_version = Varchar(length=32)
    case_number_format = Varchar(length=200)
    branding = JSON()
    retention_years = Integer()
    key_refs = JSON()
    oidc = JSON(null=True, default=None)
    # [batches] automatic_acceptance: batch cases are accepted without a secretary's review.
    batch_automatic_acceptance = Boolean(default=False)
    revision = Integer(default=1)
    document_sha256 = Varchar(length=64)
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TenantRevision(Table, tablename="tenant_revision"):
    """Every version of a tenant's definition that was ever synced (append-only)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    revision = Integer()
    document = JSON()
    document_sha256 = Varchar(length=64)
    source = Varchar(length=500)
    synced_at = Timestamptz()
    synced_by = Varchar(length=200)
