"""Tables of the identity context."""

from __future__ import annotations

from piccolo.columns import UUID, Bytea, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="tenant_user"):
    """A person known to one commission: staff, arbitrator, party or agent.

    A person active in two commissions has an account in each: nothing of one
    tenant points into another.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    display_name = Varchar(length=200)
    email = Varchar(length=254, null=True, default=None)
    phone = Varchar(length=32, null=True, default=None)
    email_verified_at = Timestamptz(null=True, default=None)
    phone_verified_at = Timestamptz(null=True, default=None)
    status = Varchar(length=16, default="active")
    password_hash = Text(null=True, default=None)
    totp_secret_enc = Bytea(null=True, default=None)
    totp_confirmed_at = Timestamptz(null=True, default=None)
    # The last TOTP time step accepted: a code is good once (RFC 6238 §5.2).
    totp_last_step = Integer(null=True, default=None)
    oidc_issuer = Varchar(length=500, null=True, default=None)
    oidc_subject = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Membership(Table, tablename="membership"):
    """A role a user holds in the commission (revoked memberships stay, for the record)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    role = Varchar(length=32)
    granted_at = Timestamptz()
    granted_by = Varchar(length=100, null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = Varchar(length=100, null=True, default=None)


class PowerOfAttorney(Table, tablename="power_of_attorney"):
    """An agent's authority to act for a party, with the signed document on file."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    agent_user_id = UUID()
    principal_user_id = UUID()
    scope = Varchar(length=100)
    document_key = Varchar(length=200)
    document_sha256 = Varchar(length=64)
    valid_from = Timestamptz()
    valid_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    created_by = Varchar(length=100, null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = Varchar(length=100, null=True, default=None)


class PlatformAdmin(Table, tablename="platform_admin"):
    """An alliance administrator: above the tenants, sees no tenant's data."""

    id = UUID(primary_key=True)
    email = Varchar(length=254, unique=True)
    display_name = Varchar(length=200)
    status = Varchar(length=16, default="active")
    password_hash = Text()
    totp_secret_enc = Bytea(null=True, default=None)
    totp_confirmed_at = Timestamptz(null=True, default=None)
    totp_last_step = Integer(null=True, default=None)
    created_at = Timestamptz()
