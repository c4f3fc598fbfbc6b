"""``arbitral bench custody``: uploads through the API, and the transparency log.

* Upload: a file of ``--upload-mib`` random MiB taken into custody through the
  API (streamed over HTTP with its SHA-256 declared, into ``arbitral serve``
  running in a process of its own on a free loopback port with the same
  settings as any server; spooled and streamed to S3 as it arrives, inspected,
  committed, logged), beside a plain boto3 ``upload_file`` of the same bytes to
  the same S3 endpoint in the same run; the ratio of their throughputs, and the
  server process's peak resident memory above what it was when the upload
  started (its VmHWM, reset first, and VmRSS sampled every 10 ms). ``--rounds``
  pairs (baseline, then the API, each into an emptied bucket) are run and the
  median pair reported (the highest peak of any round), so that a machine
  busy with something else for a while does not decide the figures.

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
    peak_reset: bool
    rounds: list[dict[str, float]]
    """Every round (baseline, then the API); the figures above are the median round's."""


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


class _Sampler:
    """The highest resident set size of process ``pid`` while it runs.

    The kernel's own high-water mark (VmHWM, reset first through
    ``/proc/PID/clear_refs`` where allowed) and a thread sampling VmRSS every
    10 ms, whichever is higher.
    """

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.before = _status_kib(pid, "VmRSS")
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _status_kib(self.pid, "VmRSS"))

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status_kib(self.pid, "VmRSS"))
        if self.reset:
            self.peak = max(self.peak, _status_kib(self.pid, "VmHWM"))


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(env: dict[str, str], port: int, log: Path) -> Any:
    """``arbitral serve`` in a process of its own, as a server runs; back once it answers."""
    import subprocess
    import sys

    import httpx

    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "arbitral", "serve"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise click.ClickException(
                    f"the server exited with status {process.returncode}: "
                    f"{log.read_text(errors='replace')[-500:]}"
                )
            try:
                if http.get(f"http://127.0.0.1:{port}/health/live").status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    process.kill()
    raise click.ClickException("the server did not answer within 60 s")


async def _measure_upload(size_mib: int, rounds: int = 1) -> UploadFigures:
    import hashlib
    import statistics
    import subprocess

    import anyio
    import boto3
    import httpx
    from boto3.s3.transfer import TransferConfig

    from arbitral.auth.clients import ApiClientCreate, create_client
    from arbitral.auth.domain import ClientKind, Principal
    from arbitral.bench._moto import MotoServer
    from arbitral.bench.auth import _tenant
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings, parse_storage_url
    from arbitral.storage.interfaces import object_key

    server = MotoServer()
    server.start()
    measured: list[tuple[float, float, _Sampler]] = []
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
            port = _free_port()
            env = {
                "ARBITRAL_DATA_DIR": data,
                "ARBITRAL_LOG_LEVEL": "WARNING",
                "ARBITRAL_STORAGE_URL": storage_url,
                "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
                "ARBITRAL_HTTP_HOST": "127.0.0.1",
                "ARBITRAL_HTTP_PORT": str(port),
            }
            settings = Settings.from_env(env)
            owner = Database(settings.migration_database)
            await owner.open()
            await migrate(owner)
            await owner.close()
            runtime = build_runtime(settings)
            await runtime.open()
            try:
                suffix = f"{random.getrandbits(32):08x}"
                tenant_id = await _tenant(runtime, f"up{suffix}", f"up{suffix}.invalid")
                created = await create_client(
                    runtime,
                    Principal.operator(tenant_id, "bench"),
                    ApiClientCreate(
                        name="bench", kind=ClientKind.TRADING_PLATFORM, scopes=["evidence:submit"]
                    ),
                )
            finally:
                await runtime.close()
            stored_name = object_key(str(tenant_id), digest.hexdigest())
            process = _start_server(env, port, Path(data) / "server.log")
            try:
                base = f"http://127.0.0.1:{port}"

                def baseline() -> float:
                    started = time.perf_counter()
                    client.upload_file(
                        str(source),
                        bucket,
                        "baseline/evidence.wav",
                        Config=TransferConfig(
                            multipart_chunksize=config.part_size, max_concurrency=4
                        ),
                    )
                    elapsed = time.perf_counter() - started
                    # The API's upload meets the endpoint as the baseline did: an empty bucket.
                    client.delete_object(Bucket=bucket, Key="baseline/evidence.wav")
                    return elapsed

                def upload() -> tuple[float, _Sampler]:
                    with httpx.Client(base_url=base, timeout=600) as http:
                        token = http.post(
                            f"/t/up{suffix}/oauth/token",
                            data={"grant_type": "client_credentials"},
                            auth=(created.client.client_id, created.client_secret),
                        ).json()["access_token"]

                        def body() -> Any:
                            with source.open("rb") as handle:
                                while chunk := handle.read(1 << 20):
                                    yield chunk

                        with _Sampler(process.pid) as sampler:
                            started = time.perf_counter()
                            response = http.post(
                                "/api/v1/custody/items",
                                params={"filename": "通话录音.wav", "title": "通话录音"},
                                content=body(),
                                headers={
                                    "authorization": f"Bearer {token}",
                                    "content-length": str(source.stat().st_size),
                                    "x-content-sha256": digest.hexdigest(),
                                },
                            )
                            elapsed = time.perf_counter() - started
                    if response.status_code != 201:
                        raise click.ClickException(f"the upload failed: {response.text[:300]}")
                    # Gone again, so that the next round uploads it again (not only hashes it).
                    client.delete_object(Bucket=bucket, Key=stored_name)
                    return elapsed, sampler

                for _ in range(rounds):
                    boto3_s = await anyio.to_thread.run_sync(baseline)
                    api_s, sampler = await anyio.to_thread.run_sync(upload)
                    measured.append((boto3_s, api_s, sampler))
            finally:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    finally:
        server.stop()
    total_mib = (size_mib << 20) / (1 << 20)
    ratios = [b / a for b, a, _ in measured]
    median = statistics.median_low(ratios)
    boto3_s, api_s, _ = measured[ratios.index(median)]
    before = min(s.before for _, _, s in measured)
    peak = max(s.peak - s.before for _, _, s in measured)
    return UploadFigures(
        size_mib=size_mib,
        endpoint=endpoint,
        boto3_s=boto3_s,
        api_s=api_s,
        boto3_mib_s=total_mib / boto3_s,
        api_mib_s=total_mib / api_s,
        ratio=median,
        rss_before_mib=before / 1024,
        peak_rss_mib=(before + peak) / 1024,
        peak_delta_mib=peak / 1024,
        peak_reset=all(s.reset for _, _, s in measured),
        rounds=[
            {"boto3_s": round(b, 2), "api_s": round(a, 2), "ratio": round(b / a, 3)}
            for b, a, _ in measured
        ],
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
    from arbitral.db.bulk import columns, insert_rows
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
                    await insert_rows(
                        uow,
                        "bench_plain_leaf",
                        columns(
                            "tenant_id:uuid leaf_index:int8 kind:text leaf:text "
                            "leaf_hash:bytea recorded_at:text"
                        ),
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
@click.option(
    "--rounds",
    default=3,
    show_default=True,
    type=click.IntRange(1, 20),
    help="Baseline and API uploads, one after the other, this many times (the median counts).",
)
@click.option("--leaves", default=1_000_000, show_default=True, help="Leaves to log (0: skip).")
@click.option("--batch", default=10_000, show_default=True, help="Leaves per transaction.")
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    upload_mib: int,
    rounds: int,
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
    u = run(_measure_upload(upload_mib, rounds)) if upload_mib > 0 else None
    f = run(_measure(leaves, batch, database_url, migration_database_url)) if leaves > 0 else None
    if as_json:
        click.echo(
            json.dumps({"upload": asdict(u) if u else None, "log": asdict(f) if f else None})
        )
        return
    if u is not None:
        click.echo(
            f"arbitral bench custody: a {u.size_mib:,} MiB upload to S3 ({u.endpoint}), "
            f"the median of {len(u.rounds)} rounds"
        )
        click.echo("")
        click.echo(
            f"  plain boto3 upload_file (baseline)  {u.boto3_s:8.2f} s  {u.boto3_mib_s:7.1f} MiB/s"
        )
        click.echo(
            f"  through the API into custody        {u.api_s:8.2f} s  {u.api_mib_s:7.1f} MiB/s"
            f"   ratio {u.ratio:.2f}"
        )
        click.echo(
            f"  server resident memory: {u.rss_before_mib:.1f} MiB before, "
            f"peak {u.peak_rss_mib:.1f} MiB (+{u.peak_delta_mib:.1f} MiB)"
            + ("" if u.peak_reset else "; the peak could not be reset, it includes startup")
        )
        click.echo(
            "  rounds (boto3 s / API s): "
            + ", ".join(f"{r['boto3_s']:.2f}/{r['api_s']:.2f}" for r in u.rounds)
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
