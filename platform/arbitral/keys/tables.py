"""Tables of the keys context."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Bytea, Integer, Text, Timestamptz, Varchar
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


class DocumentCertificate(Table, tablename="document_certificate"):
    """One certificate of the chain of a tenant's document key (purpose documents/document_ca).

    ``kid`` is the ``signing_key`` the chain belongs to; ``position`` 0 is that
    key's own certificate, then its issuers up to the root (``role`` "root"),
    which is what verifiers trust. The rows of a key are written once, with it.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    kid = Varchar(length=64)
    position = Integer()
    role = Varchar(length=16)
    origin = Varchar(length=16)
    certificate_der = Bytea()
    subject = Text()
    fingerprint_sha256 = Varchar(length=64)
    not_before = Timestamptz()
    not_after = Timestamptz()
    created_at = Timestamptz()
