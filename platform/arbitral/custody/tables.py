"""Tables of the custody context: the items a tenant holds in custody.

``custody_object`` is append-only: what was received, from whom, when, what it
is meant to prove, and where its leaf sits in the tenant's transparency log.
The bytes themselves sit in the object store under the tenant's prefix and
their SHA-256; the same bytes received twice are two items and one object.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class CustodyObject(Table, tablename="custody_object"):
    id = UUID(primary_key=True)
    tenant_id = UUID()
    sha256 = Varchar(length=64)
    size = BigInt()
    media_type = Varchar(length=120)
    object_key = Varchar(length=300)
    filename = Varchar(length=255)
    title = Varchar(length=200)
    description = Text(default="")
    proves = Text(default="")
    provenance = Varchar(length=20)
    submitted_by = Varchar(length=200)
    submitter_kind = Varchar(length=20)
    submitter_id = UUID(null=True, default=None)
    leaf_index = BigInt()
    created_at = Timestamptz()


class CustodyRecord(Table, tablename="custody_record"):
    """A transaction record an API client pushed as a JWS, verified and parsed (append-only).

    The raw JWS is in the object store under ``object_key`` (its SHA-256 is
    ``jws_sha256``); ``payload`` is its parsed payload. ``record_id`` is the
    client's own id, unique per client: a resubmission finds the first.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    api_client_id = UUID()
    client_id = Varchar(length=64)
    kid = Varchar(length=64)
    alg = Varchar(length=16)
    record_type = Varchar(length=32)
    record_id = Varchar(length=128)
    occurred_at = Timestamptz()
    payload = JSON()
    payload_sha256 = Varchar(length=64)
    jws_sha256 = Varchar(length=64)
    object_key = Varchar(length=300)
    leaf_index = BigInt()
    received_at = Timestamptz()
