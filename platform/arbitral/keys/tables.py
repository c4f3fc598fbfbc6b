"""Tables of the keys context."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Bytea, Timestamptz, Varchar
from piccolo.table import Table


class SigningKey(Table, tablename="signing_key"):
    """A tenant's key for one purpose ("jws", "ledger", ...).

    The private key is encrypted (AES-256-GCM) under the key-encryption key of
    the settings, bound to the tenant and the key id. The one key of a purpose
    without ``retired_at`` signs; retired keys still verify.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    kid = Varchar(length=64)
    purpose = Varchar(length=20)
    algorithm = Varchar(length=20)
    public_jwk = JSON()
    private_key_enc = Bytea()
    created_at = Timestamptz()
    retired_at = Timestamptz(null=True, default=None)
