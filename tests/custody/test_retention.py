"""Items in custody on S3 with Object Lock: COMPLIANCE retention for the commission's period.

moto's server records retention and refuses to delete a locked version, but it
lets a retention be shortened, which a real S3 endpoint in compliance mode
refuses. ``ARBITRAL_TEST_S3_LOCK_URL`` (an ``ARBITRAL_STORAGE_URL`` for a bucket
with Object Lock enabled, on MinIO, Ceph RGW or AWS) runs the full check there.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from arbitral.auth.domain import Role
from arbitral.settings import parse_storage_url
from arbitral.storage.factory import build_object_store
from arbitral.storage.interfaces import object_key
from arbitral.storage.s3 import S3ObjectStore
from tests.conftest import make_settings
from tests.custody.test_inspect import make_pdf
from tests.support.s3 import bucket_name
from tests.support.world import world

pytestmark = pytest.mark.s3


async def test_uploads_get_compliance_retention_for_the_retention_period(
    s3_server: Any, tmp_path: Path
) -> None:
    bucket = bucket_name()
    s3_server.admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings = make_settings(tmp_path, storage_url=s3_server.storage_url(bucket, prefix="custody"))
    async with world(settings) as w:
        claimant = await w.login(w.a, Role.CLAIMANT)
        response = await w.client.post(
            "/api/v1/custody/items",
            params={"filename": "合同.pdf", "title": "合同"},
            content=make_pdf(),
            headers=claimant,
        )
        assert response.status_code == 201, response.text
        item = response.json()["item"]
        names = [o["Key"] for o in s3_server.admin.list_objects_v2(Bucket=bucket)["Contents"]]
        assert any(n.endswith(item["sha256"]) for n in names), names
        name = next(n for n in names if n.endswith(item["sha256"]))
        head = s3_server.admin.head_object(Bucket=bucket, Key=name)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        expected = datetime.now(UTC) + timedelta(days=365 * 30)
        assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(days=10)
        assert "compliance until" in response.json()["receipt"]["leaf"]
        # What moto enforces: the locked version cannot be deleted.
        version = head["VersionId"]
        with pytest.raises(ClientError):
            s3_server.admin.delete_object(Bucket=bucket, Key=name, VersionId=version)
        # Retention is never shortened by the store, even if asked.
        store = w.runtime.store
        assert isinstance(store, S3ObjectStore)
        key = object_key(str(w.a.id), item["sha256"])
        kept = await store.retain(key, datetime.now(UTC) + timedelta(days=1))
        assert kept.startswith("kept: compliance until")


async def test_a_bucket_without_object_lock_is_reported_not_refused(
    s3_server: Any, tmp_path: Path
) -> None:
    bucket = bucket_name()
    s3_server.create_bucket(bucket)
    settings = make_settings(tmp_path, storage_url=s3_server.storage_url(bucket))
    async with world(settings) as w:
        claimant = await w.login(w.a, Role.CLAIMANT)
        response = await w.client.post(
            "/api/v1/custody/items",
            params={"filename": "合同.pdf", "title": "合同"},
            content=make_pdf(),
            headers=claimant,
        )
        assert response.status_code == 201, response.text
        assert "Object Lock is not enabled" in response.json()["receipt"]["leaf"]


REAL = os.environ.get("ARBITRAL_TEST_S3_LOCK_URL")


@pytest.mark.skipif(not REAL, reason="ARBITRAL_TEST_S3_LOCK_URL names no real S3 endpoint")
async def test_a_real_endpoint_refuses_to_shorten_or_delete(tmp_path: Path) -> None:
    assert REAL is not None
    config = parse_storage_url("ARBITRAL_TEST_S3_LOCK_URL", REAL)
    store = build_object_store(config, public_url="http://127.0.0.1", secret_key=b"x" * 32)
    assert isinstance(store, S3ObjectStore)

    async def chunks() -> Any:
        yield make_pdf() + os.urandom(16)

    stored = await store.put("retention-test", chunks())
    until = datetime.now(UTC) + timedelta(days=1)
    assert (await store.retain(stored.key, until)).startswith("compliance until")
    name = store.name_of(stored.key)
    with pytest.raises(ClientError):
        store.client.put_object_retention(
            Bucket=store.bucket,
            Key=name,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=12)},
        )
    version = store.client.head_object(Bucket=store.bucket, Key=name)["VersionId"]
    with pytest.raises(ClientError):
        store.client.delete_object(Bucket=store.bucket, Key=name, VersionId=version)
    await store.close()
