"""Tables of the custody context: the items a tenant holds in custody, and uploads in parts.

``custody_object`` is append-only: what was received, from whom, when, what it
is meant to prove, and where its leaf sits in the tenant's transparency log.
The bytes themselves sit in the object store under the tenant's prefix and
their SHA-256; the same bytes received twice are two items and one object.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Integer, Text, Timestamptz, Varchar
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


class CustodyUpload(Table, tablename="custody_upload"):
    """A resumable upload: a file announced (size, SHA-256) and sent in parts.

    The parts are staging objects in the object store (named after the upload
    and the part's number); ``state`` is open, completed (``item_id`` names the
    item it became), aborted or expired. Nothing about it lives in one web
    process: any process can take the next part or complete it.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    created_by = Varchar(length=200)
    filename = Varchar(length=255)
    title = Varchar(length=200)
    description = Text(default="")
    proves = Text(default="")
    size = BigInt()
    sha256 = Varchar(length=64)
    part_size = BigInt()
    parts = Integer()
    state = Varchar(length=20)
    item_id = UUID(null=True, default=None)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)


class CustodyUploadPart(Table, tablename="custody_upload_part"):
    """A part received for an upload: its number, size and SHA-256 (one row per number)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    upload_id = UUID()
    number = Integer()
    size = BigInt()
    sha256 = Varchar(length=64)
    received_at = Timestamptz()
