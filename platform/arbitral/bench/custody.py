"""``arbitral bench custody``: uploads through the API, and the transparency log.

* Upload: a file of ``--upload-mib`` random MiB taken into custody through the
  API (streamed over HTTP into the app, spooled, inspected, stored on S3, logged),
  beside a plain boto3 ``upload_file`` of the same bytes to the same S3 endpoint
  in the same run; the ratio of their throughputs, and the process's peak
  resident memory above what it was when the upload started (sampled every
  10 ms; the client streams from disk in the same process, so this bounds the
  server's share from above).

* Appends: N leaves logged in batches (one transaction per batch: the leaves,
  their new subtree hashes and the state row), as leaves per second, beside the
  same leaf rows inserted into a plain table with the same batches (the floor
  any log in this database pays).
* Inclusion proofs at N leaves, each planned, read (one query) and computed, as
  the median and p99 of 1,000 random leaves, beside recomputing the root from
  the N leaf hashes in memory (what a log that stores only its leaves pays).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click


@dataclass
class UploadFigures:
    size_mib: int
    endpoint: str
    boto3_s: float
    api_s: float
    boto3_mib_s: float
    api_mib_s: float
    ratio: float
    rss_before_mib: float
    peak_rss_mib: float
    peak_delta_mib: float


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Sampler:
    """The highest resident set size seen while it runs (a thread sampling /proc)."""

    def __init__(self) -> None:
        import threading

        self.peak = _rss_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kib())

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_kib())


async def _measure_upload(size_mib: int) -> UploadFigures:
    import hashlib

    import anyio
    import boto3
    from boto3.s3.transfer import TransferConfig

    from arbitral.app import create_app
    from arbitral.asgi import serve_in_process
    from arbitral.auth.clients import ApiClientCreate, create_client
    from arbitral.auth.domain import ClientKind, Principal
    from arbitral.bench._moto import MotoServer
    from arbitral.bench.auth import _tenant
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.settings import Settings, parse_storage_url

    server = MotoServer()
    server.start()
    try:
        bucket = f"arbitral-bench-{random.getrandbits(32):08x}"
        server.create_bucket(bucket)
        storage_url = server.storage_url(bucket)
        endpoint = f"moto {server.endpoint_url}"
        with tempfile.TemporaryDirectory(prefix="arbitral-bench-upload-") as data:
            source = Path(data) / "evidence.wav"
            digest = hashlib.sha256()
            with source.open("wb") as handle:
                handle.write(_wav_header(size_mib << 20))
                digest.update(_wav_header(size_mib << 20))
                for _ in range(size_mib):
                    block = os.urandom(1 << 20)
                    handle.write(block)
                    digest.update(block)
            config = parse_storage_url("bench", storage_url)
            client = boto3.client(
                "s3",
                endpoint_url=config.endpoint_url,
                region_name=config.region,
                aws_access_key_id=server.access_key_id,
                aws_secret_access_key=server.secret_access_key,
            )
            started = time.perf_counter()
            await anyio.to_thread.run_sync(
                lambda: client.upload_file(
                    str(source),
                    bucket,
                    "baseline/evidence.wav",
                    Config=TransferConfig(multipart_chunksize=config.part_size, max_concurrency=4),
                )
            )
            boto3_s = time.perf_counter() - started

            env = {
                "ARBITRAL_DATA_DIR": data,
                "ARBITRAL_LOG_LEVEL": "WARNING",
                "ARBITRAL_STORAGE_URL": storage_url,
                "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
            }
            settings = Settings.from_env(env)
            owner = Database(settings.migration_database)
            await owner.open()
            await migrate(owner)
            await owner.close()
            app = create_app(settings)
            async with serve_in_process(app) as http:
                runtime = app.state.runtime
                suffix = f"{random.getrandbits(32):08x}"
                tenant_id = await _tenant(runtime, f"up{suffix}", f"up{suffix}.invalid")
                created = await create_client(
                    runtime,
                    Principal.operator(tenant_id, "bench"),
                    ApiClientCreate(
                        name="bench", kind=ClientKind.TRADING_PLATFORM, scopes=["evidence:submit"]
                    ),
                )
                runtime.tenants.invalidate()
                token = (
                    await http.post(
                        f"/t/up{suffix}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(created.client.client_id, created.client_secret),
                    )
                ).json()["access_token"]

                async def body() -> Any:
                    async with await anyio.open_file(source, "rb") as handle:
                        while chunk := await handle.read(1 << 20):
                            yield chunk

                rss_before = _rss_kib()
                with _Sampler() as sampler:
                    started = time.perf_counter()
                    response = await http.post(
                        "/api/v1/custody/items",
                        params={"filename": "通话录音.wav", "title": "通话录音"},
                        content=body(),
                        headers={
                            "authorization": f"Bearer {token}",
                            "content-length": str(source.stat().st_size),
                            "x-content-sha256": digest.hexdigest(),
                        },
                        timeout=None,
                    )
                    api_s = time.perf_counter() - started
                if response.status_code != 201:
                    raise click.ClickException(f"the upload failed: {response.text[:300]}")
    finally:
        server.stop()
    total_mib = (size_mib << 20) / (1 << 20)
    return UploadFigures(
        size_mib=size_mib,
        endpoint=endpoint,
        boto3_s=boto3_s,
        api_s=api_s,
        boto3_mib_s=total_mib / boto3_s,
        api_mib_s=total_mib / api_s,
        ratio=boto3_s / api_s,
        rss_before_mib=rss_before / 1024,
        peak_rss_mib=sampler.peak / 1024,
        peak_delta_mib=(sampler.peak - rss_before) / 1024,
    )


def _wav_header(data_size: int) -> bytes:
    """A PCM WAV header (16 kHz mono): the bytes after it are the recording's samples."""
    import struct

    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


@dataclass
class CustodyFigures:
    backend: str
    leaves: int
    batch: int
    plain_insert_per_s: float
    append_per_s: float
    proofs: int
    proof_median_ms: float
    proof_p99_ms: float
    recompute_from_leaves_ms: float


async def _measure(
    leaves: int, batch: int, database_url: str | None, owner_url: str | None
) -> CustodyFigures:
    from arbitral.bench.auth import _tenant
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.ledger import merkle, services
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    with tempfile.TemporaryDirectory(prefix="arbitral-bench-") as data:
        env = {
            "ARBITRAL_DATA_DIR": data,
            "ARBITRAL_LOG_LEVEL": "WARNING",
            "ARBITRAL_MESSAGE_SENDER": "console",
            "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
        }
        if database_url:
            env["ARBITRAL_DATABASE_URL"] = database_url
            env["ARBITRAL_MIGRATION_DATABASE_URL"] = owner_url or database_url
            env["ARBITRAL_KEY_ENCRYPTION_KEY"] = "00" * 32
        settings = Settings.from_env(env)
        owner = Database(settings.migration_database)
        await owner.open()
        await migrate(owner)
        await owner.close()
        runtime = build_runtime(settings)
        await runtime.open()
        try:
            suffix = f"{random.getrandbits(32):08x}"
            tenant = await _tenant(runtime, f"bench{suffix}", f"bench{suffix}.invalid")
            entries = [
                {"object_key": f"t/{i:064x}", "sha256": f"{i:064x}", "size": i}
                for i in range(batch)
            ]

            # Baseline: the same leaf rows into a plain table, same batches.
            async with runtime.db.transaction() as uow:
                await uow.execute(
                    "CREATE TABLE IF NOT EXISTS bench_plain_leaf (tenant_id TEXT, leaf_index "
                    "BIGINT, kind TEXT, leaf TEXT, leaf_hash BYTEA, recorded_at TEXT)"
                    if not uow.is_postgres
                    else "CREATE TEMP TABLE IF NOT EXISTS bench_plain_leaf (tenant_id UUID, "
                    "leaf_index BIGINT, kind TEXT, leaf TEXT, leaf_hash BYTEA, recorded_at TEXT)"
                )
            plain_rows = 0
            started = time.perf_counter()
            while plain_rows < leaves:
                count = min(batch, leaves - plain_rows)
                async with runtime.db.transaction() as uow:
                    rows = [
                        (
                            str(tenant) if not uow.is_postgres else tenant,
                            plain_rows + i,
                            "bench",
                            json.dumps(entries[i], sort_keys=True),
                            merkle.leaf_hash(json.dumps(entries[i]).encode()),
                            "now",
                        )
                        for i in range(count)
                    ]
                    await services._insert_rows(
                        uow,
                        "bench_plain_leaf",
                        ("tenant_id", "leaf_index", "kind", "leaf", "leaf_hash", "recorded_at"),
                        rows,
                    )
                plain_rows += count
            plain_s = time.perf_counter() - started
            async with runtime.db.transaction() as uow:
                await uow.execute("DROP TABLE bench_plain_leaf")

            appended = 0
            started = time.perf_counter()
            while appended < leaves:
                count = min(batch, leaves - appended)
                async with runtime.db.transaction(tenant_id=tenant) as uow:
                    await services.append_many(uow, tenant, "bench", entries[:count])
                appended += count
            append_s = time.perf_counter() - started

            timings: list[float] = []
            rng = random.Random(7)  # noqa: S311 (which leaves to prove, not a secret)
            for _ in range(1000):
                index = rng.randrange(leaves)
                t0 = time.perf_counter()
                async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
                    await services.inclusion(uow, tenant, index, leaves)
                timings.append((time.perf_counter() - t0) * 1000)
            timings.sort()

            async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
                stored = await uow.fetch(
                    "SELECT leaf_hash FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index",
                    tenant,
                )
            hashes = [bytes(r["leaf_hash"]) for r in stored]
            t0 = time.perf_counter()
            tree = merkle.MemoryTree()
            for digest in hashes:
                tree.append_hash(digest)
            tree.root()
            recompute_ms = (time.perf_counter() - t0) * 1000
        finally:
            await runtime.close()
    return CustodyFigures(
        backend="postgresql" if database_url else "sqlite",
        leaves=leaves,
        batch=batch,
        plain_insert_per_s=leaves / plain_s,
        append_per_s=leaves / append_s,
        proofs=len(timings),
        proof_median_ms=timings[len(timings) // 2],
        proof_p99_ms=timings[int(len(timings) * 0.99) - 1],
        recompute_from_leaves_ms=recompute_ms,
    )


@click.command("custody")
@click.option("--upload-mib", default=1024, show_default=True, help="Size of the upload (0: skip).")
@click.option("--leaves", default=1_000_000, show_default=True, help="Leaves to log (0: skip).")
@click.option("--batch", default=10_000, show_default=True, help="Leaves per transaction.")
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    upload_mib: int,
    leaves: int,
    batch: int,
    database_url: str | None,
    migration_database_url: str | None,
    as_json: bool,
) -> None:
    """Upload throughput and memory through the API, log appends and proof time."""
    from arbitral.cli import reports_config_errors
    from arbitral.logs import configure_logging

    configure_logging("WARNING", "console")
    run = reports_config_errors(asyncio.run)
    # The upload first: the log's million leaves would raise the process's memory.
    u = run(_measure_upload(upload_mib)) if upload_mib > 0 else None
    f = run(_measure(leaves, batch, database_url, migration_database_url)) if leaves > 0 else None
    if as_json:
        click.echo(
            json.dumps({"upload": asdict(u) if u else None, "log": asdict(f) if f else None})
        )
        return
    if u is not None:
        click.echo(f"arbitral bench custody: a {u.size_mib:,} MiB upload to S3 ({u.endpoint})")
        click.echo("")
        click.echo(
            f"  plain boto3 upload_file (baseline)  {u.boto3_s:8.2f} s  {u.boto3_mib_s:7.1f} MiB/s"
        )
        click.echo(
            f"  through the API into custody        {u.api_s:8.2f} s  {u.api_mib_s:7.1f} MiB/s"
            f"   ratio {u.ratio:.2f}"
        )
        click.echo(
            f"  resident memory: {u.rss_before_mib:.1f} MiB before, peak {u.peak_rss_mib:.1f} MiB"
            f" (+{u.peak_delta_mib:.1f} MiB)"
        )
        click.echo("")
    if f is None:
        return
    click.echo(
        f"arbitral bench custody: {f.leaves:,} leaves in batches of {f.batch:,}, {f.backend}"
    )
    click.echo("")
    click.echo(f"  plain insert of the leaf rows (baseline)  {f.plain_insert_per_s:>12,.0f} rows/s")
    click.echo(f"  log appends (leaves + subtree hashes)     {f.append_per_s:>12,.0f} leaves/s")
    click.echo(
        f"  inclusion proof at {f.leaves:,} leaves        median {f.proof_median_ms:.3f} ms, "
        f"p99 {f.proof_p99_ms:.3f} ms ({f.proofs} random leaves)"
    )
    click.echo(
        "  recomputing the root from the leaf hashes (baseline)  "
        f"{f.recompute_from_leaves_ms:,.0f} ms"
    )
