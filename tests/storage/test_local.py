"""What only the local directory store does: files, fsync, signed URLs and their route."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from arbitral.settings import parse_storage_url
from arbitral.storage import (
    ObjectStore,
    StorageUnavailable,
    UrlExpired,
    UrlSignatureInvalid,
    build_object_store,
    object_key,
)
from arbitral.storage.controllers import storage_routes
from arbitral.storage.local import INCOMING, LocalObjectStore
from arbitral.storage.signing import UrlSigner, content_disposition
from tests.storage.conftest import PUBLIC_URL, SECRET, VARIABLE, local_config
from tests.storage.streams import stream_of


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    store = build_object_store(
        local_config(tmp_path / "objects"), public_url=PUBLIC_URL, secret_key=SECRET
    )
    assert isinstance(store, LocalObjectStore)
    return store


async def test_objects_are_read_only_files_at_their_key(local: LocalObjectStore) -> None:
    stored = await local.put("tenant-1", stream_of(b"contract"))
    path = local.root / stored.key
    assert path.read_bytes() == b"contract"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((local.root / INCOMING).iterdir()) == []


async def test_a_repeated_put_leaves_the_file_untouched(local: LocalObjectStore) -> None:
    stored = await local.put("t", stream_of(b"original"))
    before = (local.root / stored.key).stat()
    again = await local.put("t", stream_of(b"orig", b"inal"))
    after = (local.root / stored.key).stat()
    assert again.created is False
    assert (after.st_ino, after.st_mtime_ns, after.st_nlink) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_nlink,
    )


async def test_file_and_directories_are_fsynced(
    local: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    stored = await local.put("tenant-9", stream_of(b"durable"))

    final = local.root / stored.key
    incoming = [p for p in synced if p.startswith(str(local.root / INCOMING))]
    assert len(incoming) == 1  # the data, before it got its name
    assert str(final.parent) in synced  # the new directory entry
    assert str(local.root) in synced  # the new namespace directory
    assert str(local.root / "tenant-9" / "sha256") in synced


async def test_cancelled_put_leaves_no_temporary_file(local: LocalObjectStore) -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"first"
        await anyio.sleep(10)
        yield b"never"

    with anyio.move_on_after(0.2) as scope:
        await local.put("t", slow())
    assert scope.cancelled_caught
    assert list((local.root / INCOMING).iterdir()) == []


async def test_unusable_directory_is_reported_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    root = blocker / "objects"
    store = build_object_store(local_config(root), public_url=PUBLIC_URL, secret_key=SECRET)

    with pytest.raises(StorageUnavailable) as caught:
        await store.check()
    assert str(root) in str(caught.value)
    assert "Not a directory" in str(caught.value)
    with pytest.raises(StorageUnavailable, match="Not a directory"):
        await store.put("t", stream_of(b"data"))


async def test_factory_picks_the_adapter(tmp_path: Path) -> None:
    store = build_object_store(
        parse_storage_url(VARIABLE, f"file://{tmp_path}"), public_url=PUBLIC_URL, secret_key=SECRET
    )
    assert store.kind == "file"
    s3 = build_object_store(
        parse_storage_url(VARIABLE, "s3://k:s@bucket?endpoint_url=http://127.0.0.1:9"),
        public_url=PUBLIC_URL,
        secret_key=SECRET,
    )
    assert s3.kind == "s3"
    await s3.close()


# -- signed URLs ---------------------------------------------------------------------------

KEY = object_key("t", hashlib.sha256(b"x").hexdigest())


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_signature_roundtrip_and_expiry() -> None:
    clock = Clock(1_000_000.0)
    signer = UrlSigner(SECRET, clock=clock)
    params = signer.sign(KEY, expires_in=300, filename="award.pdf")
    assert params["expires"] == "1000300"

    signer.verify(KEY, expires=params["expires"], sig=params["sig"], filename="award.pdf")
    clock.now += 300
    signer.verify(KEY, expires=params["expires"], sig=params["sig"], filename="award.pdf")
    clock.now += 1
    with pytest.raises(UrlExpired):
        signer.verify(KEY, expires=params["expires"], sig=params["sig"], filename="award.pdf")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", object_key("t", hashlib.sha256(b"y").hexdigest())),
        ("key", object_key("u", hashlib.sha256(b"x").hexdigest())),
        ("expires", "9999999999"),
        ("expires", "-1"),
        ("expires", "1e9"),
        ("filename", "other.pdf"),
        ("filename", None),
        ("sig", "0" * 64),
        ("sig", ""),
        ("sig", "é"),
    ],
)
def test_tampered_urls_are_refused(field: str, value: str | None) -> None:
    signer = UrlSigner(SECRET, clock=Clock(1_000_000.0))
    params = signer.sign(KEY, expires_in=300, filename="award.pdf")
    claim: dict[str, str | None] = {"key": KEY, "filename": "award.pdf", **params}
    claim[field] = value
    with pytest.raises(UrlSignatureInvalid) as caught:
        signer.verify(
            str(claim["key"]),
            expires=str(claim["expires"]),
            sig=str(claim["sig"]),
            filename=claim["filename"],
        )
    assert not isinstance(caught.value, UrlExpired)


def test_another_secret_does_not_verify() -> None:
    params = UrlSigner(SECRET).sign(KEY, expires_in=300)
    other = UrlSigner(b"another-secret-key-of-enough-length")
    with pytest.raises(UrlSignatureInvalid):
        other.verify(KEY, expires=params["expires"], sig=params["sig"], filename=None)


def test_short_secrets_and_lifetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        UrlSigner(b"short")
    with pytest.raises(ValueError, match="expires_in"):
        UrlSigner(SECRET).sign(KEY, expires_in=8 * 24 * 3600)


def test_content_disposition_has_an_ascii_fallback() -> None:
    header = content_disposition('裁决书 "final";.pdf')
    assert header.isascii()
    assert header.startswith('attachment; filename="___ _final__.pdf"; ')
    assert header.endswith("filename*=UTF-8''%E8%A3%81%E5%86%B3%E4%B9%A6%20%22final%22%3B.pdf")


# -- the download route ----------------------------------------------------------------------


@pytest.fixture
def client(local: LocalObjectStore) -> Iterator[TestClient[Litestar]]:
    app = Litestar(route_handlers=storage_routes())
    app.state.object_store = local
    with TestClient(app) as test_client:
        yield test_client


def path_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_download_streams_the_object(
    local: LocalObjectStore, client: TestClient[Litestar]
) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    stored = await local.put("t", stream_of(data))
    url = await local.presigned_url(stored.key, filename="证据 1.bin")

    response = client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{stored.sha256}"'
    assert response.headers["content-disposition"] == content_disposition("证据 1.bin")

    plain = client.get(await local.presigned_url(stored.key))
    assert plain.status_code == 200
    assert "content-disposition" not in plain.headers


async def test_download_refuses_bad_links(
    local: LocalObjectStore, client: TestClient[Litestar]
) -> None:
    stored = await local.put("t", stream_of(b"secret evidence"))
    path, query = path_and_query(await local.presigned_url(stored.key, filename="a.pdf"))

    assert client.get(path, params=query).status_code == 200
    assert client.get(path).status_code == 403
    assert client.get(path, params={**query, "filename": "b.pdf"}).status_code == 403
    assert client.get(path, params={**query, "sig": "0" * 64}).status_code == 403
    assert client.get(path, params={**query, "expires": "99999999999"}).status_code == 403

    expired = local.signer.sign(stored.key, expires_in=1, filename="a.pdf")
    expired_at = int(expired["expires"]) - 10
    expired["expires"] = str(expired_at)
    expired["sig"] = local.signer.signature(stored.key, expired_at, "a.pdf")
    response = client.get(path, params=expired)
    assert response.status_code == 403
    assert "expired" in response.text


async def test_download_of_a_missing_object_is_404(
    local: LocalObjectStore, client: TestClient[Litestar]
) -> None:
    missing = object_key("t", hashlib.sha256(b"absent").hexdigest())
    assert client.get(await local.presigned_url(missing)).status_code == 404
    assert client.get("/storage/objects/t/sha256/zz/nothing?sig=x&expires=1").status_code == 404
    assert client.get("/storage/objects/../../etc/passwd?sig=x&expires=1").status_code == 404


async def test_download_route_answers_404_when_the_store_is_s3(
    local: LocalObjectStore, client: TestClient[Litestar]
) -> None:
    stored = await local.put("t", stream_of(b"x"))
    url = await local.presigned_url(stored.key)
    s3: ObjectStore = build_object_store(
        parse_storage_url(VARIABLE, "s3://k:s@bucket?endpoint_url=http://127.0.0.1:9"),
        public_url=PUBLIC_URL,
        secret_key=SECRET,
    )
    client.app.state.object_store = s3
    try:
        assert client.get(url).status_code == 404
    finally:
        await s3.close()
