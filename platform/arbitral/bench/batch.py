"""``arbitral bench batch``: a lender's 100,000-row claims file turned into cases, against COPY.

On PostgreSQL (the bulk path is what is measured; SQLite has one writer and no COPY):

1. A commission and a lender; the loans' evidence already in custody (four files per
   loan, referenced by SHA-256: inserted directly, since uploading 400,000 files is not
   what is measured). A JSON Lines claims file of ``--rows`` online-loan claims (every
   loan its own contract, respondent and amounts; 1 row in 1,000 invalid).
2. **The pipeline**, in a fresh process as a worker runs it: the batch created, the file
   uploaded (streamed into custody), then the processing job: survey, row checks
   (claim form, loan-claim assessment, clause, evidence), duplicates, and the bulk
   writes of cases, parties, respondents' accounts, history, exhibits, registry,
   ledger leaves and refused rows. Seconds from the start of the upload to the last
   case written; claims per second; the process's peak memory (and its checking
   workers').
3. **The baseline**, in the same run: the very rows the pipeline wrote, read back and
   written again with a plain binary ``COPY`` into the same tables (as a superuser,
   for another commission), nothing else. The ratio is pipeline / COPY.

The last line says where the processing went, part by part (as the job logs it in
``batch.processed``); ``ARBITRAL_BENCH_LOG_LEVEL=DEBUG`` prints each chunk's parts too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

KEK = "YXJiaXRyYWwgYmVuY2ggYXV0aCBrZWsgMzIgYnl0ZXM="
TABLES = (
    "tenant_user",
    "membership",
    "arb_case",
    "case_party",
    "case_event",
    "exhibit",
    "loan_contract",
    "batch_problem",
    "ledger_leaf",
    "ledger_node",
    "audit_event",
)
KINDS = ("loan_contract", "disbursement_proof", "repayment_record", "identity_verification")
LENDER = "bench-lender"


@dataclass(frozen=True)
class BatchFigures:
    rows: int
    file_mb: float
    upload_s: float
    process_s: float
    total_s: float
    claims_per_s: float
    cases: int
    rejected: int
    peak_rss_mb: float
    workers_peak_rss_mb: float
    copy_rows: int
    copy_s: float
    copy_rows_per_s: float
    ratio: float
    parts: dict[str, float]


def _env(data: str, database_url: str, owner_url: str) -> dict[str, str]:
    return {
        "ARBITRAL_DATA_DIR": data,
        "ARBITRAL_LOG_LEVEL": "WARNING",
        "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
        "ARBITRAL_TEMPLATES_DIR": os.environ.get("ARBITRAL_TEMPLATES_DIR") or "templates",
        "ARBITRAL_DEADLINE_SWEEP_INTERVAL": "0",
        "ARBITRAL_KEY_ENCRYPTION_KEY": KEK,
        "ARBITRAL_MESSAGE_SENDER": "console",
        "ARBITRAL_DATABASE_URL": database_url,
        "ARBITRAL_MIGRATION_DATABASE_URL": owner_url,
    }


def _superuser(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"postgres@{host}{port}", parts.path, "", ""))


def _resident_id(n: int) -> str:
    from arbitral.rules.parties import resident_id_check_char

    body = f"{440306 + n % 7:06d}1990{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + resident_id_check_char(body)


def _sha(n: int, kind: str) -> str:
    return hashlib.sha256(f"bench evidence {n} {kind}".encode()).hexdigest()


def _row(n: int, slug_name: str) -> dict[str, Any]:
    """Loan n: its own contract, borrower and amounts (a private lender, 18% a year)."""
    principal = 5000 + (n * 37) % 45000
    repaid = (principal // 10) * (1 + n % 3)
    day = 1 + n % 28
    return {
        "respondent": {
            "kind": "person",
            "name": f"借款人{n}",
            "id_number": _resident_id(n),
            "phone": f"+86139{n:08d}",
        },
        "loan": {
            "contract_number": f"BN-{n:08d}",
            "lender_kind": "private",
            "contract_date": f"2023-03-{day:02d}",
            "disbursements": [{"date": f"2023-03-{day:02d}", "amount": f"{principal}.00"}],
            "annual_interest_rate": "0.15",
            "maturity_date": f"2024-03-{day:02d}",
            "default_annual_rate": "0.15",
            "repayments": [{"date": f"2023-09-{day:02d}", "amount": f"{repaid}.00"}],
            "claimed": {
                "principal": f"{principal - repaid // 2}.00",
                "interest": f"{principal // 20}.00",
                "default_interest": f"{principal // 40}.00",
                "fees": "0.00",
            },
            "assessed_on": "2024-09-01",
        },
        "agreed_service_address": f"深圳市南山区某路{n}号",
        "arbitration_clause": f"因本合同引起的争议，提交{slug_name}按其网络仲裁规则仲裁。",
        "amount_claimed": f"{principal + principal // 20}.00",
        "claims": "请求被申请人偿还借款本金及利息。",
        "evidence": {kind: _sha(n, kind) for kind in KINDS},
    }


def _write_file(path: Path, rows: int, name: str) -> None:
    with path.open("wb") as handle:
        for n in range(1, rows + 1):
            data = _row(n, name)
            if n % 1000 == 0:
                data["amount_claimed"] = "-1"
            handle.write(json.dumps(data, ensure_ascii=False).encode() + b"\n")


async def _prepare(env: dict[str, str], rows: int, copy_url: str) -> uuid.UUID:
    """The commission, its lender's evidence in custody; the commission's id."""
    import asyncpg

    from arbitral.bench.auth import _tenant
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    settings = Settings.from_env(env)
    owner = Database(settings.migration_database)
    await owner.open()
    await migrate(owner)
    await owner.close()
    runtime = build_runtime(settings)
    await runtime.open()
    try:
        suffix = uuid.uuid4().hex[:8]
        tenant_id: uuid.UUID = await _tenant(runtime, f"bb{suffix}", f"bb{suffix}.bench.test")
    finally:
        await runtime.close()
    conn = await asyncpg.connect(copy_url)
    try:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        records = [
            (
                uuid.uuid4(),
                tenant_id,
                _sha(n, kind),
                1000,
                "application/pdf",
                f"{tenant_id}/{_sha(n, kind)}",
                f"{kind}-{n}.pdf",
                kind,
                "",
                "",
                "uploaded",
                LENDER,
                "api_client",
                None,
                -1 - index,  # not leaves of the log (they are not what is measured)
                now,
            )
            for index, (n, kind) in enumerate(
                (n, kind) for n in range(1, rows + 1) for kind in KINDS
            )
        ]
        await conn.copy_records_to_table(
            "custody_object",
            records=records,
            columns=[
                "id",
                "tenant_id",
                "sha256",
                "size",
                "media_type",
                "object_key",
                "filename",
                "title",
                "description",
                "proves",
                "provenance",
                "submitted_by",
                "submitter_kind",
                "submitter_id",
                "leaf_index",
                "created_at",
            ],
        )
        await conn.execute("ANALYZE custody_object")
    finally:
        await conn.close()
    return tenant_id


def _status_kib(pid: int | str, field: str) -> int:
    """A field of /proc/PID/status in KiB (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _children() -> list[str]:
    found: list[str] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as handle:
                found += handle.read().split()
    except OSError:
        pass
    return found


def _watch_workers(peak: list[int], stop: threading.Event) -> None:
    """The largest resident size any checking worker reached (sampled every 0.1 s).

    ``ru_maxrss`` will not do: Linux carries a process's high-water mark across the
    fork and exec that start a child, so a child reports its parent's size.
    """
    while not stop.wait(0.1):
        for pid in _children():
            peak[0] = max(peak[0], _status_kib(pid, "VmHWM"), _status_kib(pid, "VmRSS"))


def _pipeline(env: dict[str, str], tenant_id: str, path: str, rows: int, out: Any) -> None:
    """In a fresh process: create, upload, process; the figures through ``out``."""
    os.environ.update(env)
    peak = [0]
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_workers, args=(peak, stop), daemon=True)
    watcher.start()
    try:
        figures = asyncio.run(_run_pipeline(env, uuid.UUID(tenant_id), Path(path), rows))
    except BaseException:
        import traceback

        out.send({"error": traceback.format_exc()})
        raise
    finally:
        stop.set()
        watcher.join()
    # VmHWM is this process's own high-water mark since it started (see _watch_workers).
    figures["peak_rss_mb"] = _status_kib("self", "VmHWM") / 1024
    figures["workers_peak_rss_mb"] = peak[0] / 1024
    out.send(figures)


async def _run_pipeline(
    env: dict[str, str], tenant_id: uuid.UUID, path: Path, rows: int
) -> dict[str, Any]:
    from arbitral.auth.domain import CLIENT_SCOPES, ClientKind, Principal, PrincipalKind
    from arbitral.batches import services
    from arbitral.batches.schemas import BatchIn
    from arbitral.logs import configure_logging
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    configure_logging(os.environ.get("ARBITRAL_BENCH_LOG_LEVEL", "WARNING"), "console")
    runtime = build_runtime(Settings.from_env(env))
    await runtime.open()
    try:
        tenant = await runtime.tenants.by_id(tenant_id)
        assert tenant is not None
        lender = Principal(
            kind=PrincipalKind.API_CLIENT,
            subject_id=uuid.uuid4(),
            tenant_id=tenant_id,
            permissions=CLIENT_SCOPES[ClientKind.LENDER],
            client_id=LENDER,
            client_kind=ClientKind.LENDER,
        )
        batch, _ = await services.create_batch(
            runtime,
            lender,
            BatchIn(
                declared_rows=rows,
                claimant={
                    "kind": "company",
                    "name": "某某小额贷款有限公司",
                    "id_number": "91350100M000100Y43",
                    "email": "legal@lender.example.cn",
                },
            ),
            str(uuid.uuid4()),
        )

        async def chunks() -> Any:
            with path.open("rb") as handle:
                while block := await asyncio.to_thread(handle.read, 1 << 20):
                    yield block

        started = time.perf_counter()
        await services.upload_claims(
            runtime,
            lender,
            batch.id,
            chunks(),
            content_type="application/x-ndjson",
            declared_sha256=None,
        )
        uploaded = time.perf_counter()
        parts = await services.process(runtime, tenant, batch.id)
        done = time.perf_counter()
        final = await services.get_batch(runtime, lender, batch.id)
        return {
            "upload_s": uploaded - started,
            "process_s": done - uploaded,
            "total_s": done - started,
            "state": final.state,
            "cases": final.counts.created,
            "rejected": final.counts.rejected,
            "parts": parts,
        }
    finally:
        await runtime.close()


async def _copy_baseline(
    copy_url: str, tenant_id: uuid.UUID, env: dict[str, str]
) -> tuple[int, float]:
    """The rows the pipeline wrote, COPYed again into the same tables for another commission."""
    import asyncpg

    from arbitral.bench.auth import _tenant
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    runtime = build_runtime(Settings.from_env(env))
    await runtime.open()
    try:
        suffix = uuid.uuid4().hex[:8]
        other: uuid.UUID = await _tenant(runtime, f"bc{suffix}", f"bc{suffix}.bench.test")
    finally:
        await runtime.close()
    conn = await asyncpg.connect(copy_url)
    try:
        loaded: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
        for table in ("custody_object", "claim_batch", *TABLES):
            rows = await conn.fetch(f"SELECT * FROM {table} WHERE tenant_id = $1", tenant_id)  # noqa: S608
            if not rows:
                continue
            columns = list(rows[0].keys())
            at = columns.index("tenant_id")
            records = [tuple(other if i == at else v for i, v in enumerate(r)) for r in rows]
            loaded.append((table, columns, records))
        # What the batch refers to (the evidence, the batch) exists before, untimed.
        setup, timed = loaded[:2], loaded[2:]
        async with conn.transaction():
            for table, columns, records in setup:
                await conn.copy_records_to_table(table, records=records, columns=columns)
        count = sum(len(r) for _, _, r in timed)
        started = time.perf_counter()
        async with conn.transaction():
            for table, columns, records in timed:
                await conn.copy_records_to_table(table, records=records, columns=columns)
        return count, time.perf_counter() - started
    finally:
        await conn.close()


def measure(rows: int, database_url: str, owner_url: str, copy_url: str | None) -> BatchFigures:
    copy_url = copy_url or _superuser(database_url)
    with tempfile.TemporaryDirectory(prefix="arbitral-bench-batch-") as data:
        env = _env(data, database_url, owner_url)
        os.environ.update(env)
        tenant_id = asyncio.run(_prepare(env, rows, copy_url))
        path = Path(data) / "claims.jsonl"
        _write_file(path, rows, "基准")
        size = path.stat().st_size
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_pipeline, args=(env, str(tenant_id), str(path), rows, send)
        )
        process.start()
        figures = receive.recv()
        process.join()
        if "error" in figures:
            raise click.ClickException(f"the pipeline failed:\n{figures['error']}")
        if figures["state"] != "done":
            raise click.ClickException(f"the batch ended {figures['state']}")
        copied, copy_s = asyncio.run(_copy_baseline(copy_url, tenant_id, env))
    total = figures["total_s"]
    return BatchFigures(
        rows=rows,
        file_mb=round(size / 1e6, 1),
        upload_s=round(figures["upload_s"], 2),
        process_s=round(figures["process_s"], 2),
        total_s=round(total, 2),
        claims_per_s=round(rows / total, 0),
        cases=figures["cases"],
        rejected=figures["rejected"],
        peak_rss_mb=round(figures["peak_rss_mb"], 1),
        workers_peak_rss_mb=round(figures["workers_peak_rss_mb"], 1),
        copy_rows=copied,
        copy_s=round(copy_s, 2),
        copy_rows_per_s=round(copied / copy_s, 0),
        ratio=round(total / copy_s, 2),
        parts=figures["parts"],
    )


@click.command("batch")
@click.option("--rows", default=100_000, show_default=True, help="Rows in the claims file.")
@click.option("--database-url", required=True, help="A PostgreSQL application-role URL.")
@click.option("--migration-database-url", required=True, help="Its owner-role URL.")
@click.option(
    "--copy-url",
    help="A role that bypasses row-level security, for the COPY baseline "
    "(default: the postgres superuser on the same database).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    rows: int,
    database_url: str,
    migration_database_url: str,
    copy_url: str | None,
    as_json: bool,
) -> None:
    """Seconds from upload to cases for a lender's claims file, against a plain COPY."""
    figures = measure(rows, database_url, migration_database_url, copy_url)
    if as_json:
        click.echo(json.dumps(asdict(figures)))
        return
    f = figures
    click.echo(f"claims file: {f.rows} rows, {f.file_mb} MB JSON Lines (PostgreSQL)")
    click.echo(
        f"pipeline: upload {f.upload_s} s + processing {f.process_s} s = {f.total_s} s; "
        f"{f.claims_per_s:.0f} claims/s; {f.cases} cases, {f.rejected} rows refused"
    )
    click.echo(
        f"peak memory: {f.peak_rss_mb} MiB (the job's process), "
        f"{f.workers_peak_rss_mb} MiB (largest checking worker)"
    )
    click.echo(
        f"baseline: plain COPY of the same {f.copy_rows} rows into the same tables: "
        f"{f.copy_s} s ({f.copy_rows_per_s:.0f} rows/s)"
    )
    click.echo(f"ratio pipeline / COPY: {f.ratio}")
    click.echo(
        "where the processing went (s): "
        + ", ".join(f"{part} {value:.2f}" for part, value in f.parts.items())
    )
