"""``arbitral bench filing``: filings per second through the API, and reading cases under load.

The server runs as servers run (``arbitral serve`` in a process of its own, on
the database given, PostgreSQL for the figures that count); this process is
the clients, over loopback HTTP.

* Filing: ``--filings`` online-purchase claims filed by a lender's system
  (bearer token), ``--concurrency`` at a time: validation against the rule
  set's claim form, the respondent's party account, the gapless case number,
  the history event, the transparency-log leaf and the audit event, in one
  transaction each. Then each is accepted by a secretary (session cookie):
  the transition, its hooks (fee assessment and invoice, notices through the
  outbox, deadlines, as far as those contexts are installed) and the log.
* Reading: ``--clients`` concurrent clients each read random cases with their
  history (two requests, timed together), beside the same clients calling
  ``/health/live`` (no authentication, no database) in the same run: the floor
  of this server and machine at that concurrency.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click


@dataclass
class FilingFigures:
    backend: str
    filings: int
    concurrency: int
    filing_s: float
    filings_per_s: float
    filing_p99_ms: float
    acceptances_per_s: float
    accept_p99_ms: float
    clients: int
    reads: int
    read_median_ms: float
    read_p99_ms: float
    floor_median_ms: float
    floor_p99_ms: float


def _p(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _claim(index: int) -> dict[str, Any]:
    from arbitral.rules.parties import resident_id_check_char

    body = f"440306199001{index % 28 + 1:02d}{index % 1000:03d}"
    return {
        "claimant": {
            "kind": "company",
            "name": "某某网络小额贷款有限公司",
            "id_number": "91350100M000100Y43",
            "email": "legal@lender.example.cn",
        },
        "respondent": {
            "kind": "person",
            "name": f"被申请人{index}",
            "id_number": body + resident_id_check_char(body),
            "phone": f"+86139{index:08d}",
            "email": f"respondent{index}@example.cn",
        },
        "platform": "某购物平台",
        "order_number": f"SO-{index:09d}",
        "order_date": "2026-02-01",
        "delivery_date": "2026-02-05",
        "order_total": "1999.90",
        "refund_claimed": "1999.90",
        "amount_claimed": "2500",
        "claims": "退还货款并赔偿损失。",
        "facts_and_reasons": "所购商品与描述不符。",
    }


async def _gather_limited(concurrency: int, jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def _measure(
    filings: int,
    concurrency: int,
    clients: int,
    reads_per_client: int,
    database_url: str | None,
    owner_url: str | None,
) -> FilingFigures:
    import httpx

    from arbitral.auth.clients import ApiClientCreate, create_client
    from arbitral.auth.domain import ClientKind, Principal, Role
    from arbitral.bench.auth import _tenant
    from arbitral.bench.custody import _free_port, _start_server
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.identity.schemas import UserCreate
    from arbitral.identity.services import create_user
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    with tempfile.TemporaryDirectory(prefix="arbitral-bench-filing-") as data:
        port = _free_port()
        env = {
            "ARBITRAL_DATA_DIR": data,
            "ARBITRAL_LOG_LEVEL": "WARNING",
            "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
            "ARBITRAL_HTTP_HOST": "127.0.0.1",
            "ARBITRAL_HTTP_PORT": str(port),
            "ARBITRAL_DEADLINE_SWEEP_INTERVAL": "0",
        }
        if database_url:
            env["ARBITRAL_DATABASE_URL"] = database_url
            env["ARBITRAL_MIGRATION_DATABASE_URL"] = owner_url or database_url
            env["ARBITRAL_KEY_ENCRYPTION_KEY"] = "YXJiaXRyYWwgYmVuY2ggYXV0aCBrZWsgMzIgYnl0ZXM="
            env["ARBITRAL_MESSAGE_SENDER"] = "console"  # no one to reach: the bench's parties
        settings = Settings.from_env(env)
        owner = Database(settings.migration_database)
        await owner.open()
        await migrate(owner)
        await owner.close()
        runtime = build_runtime(settings)
        await runtime.open()
        suffix = f"{random.getrandbits(32):08x}"
        slug, host = f"file{suffix}", f"file{suffix}.invalid"
        password = "bench password 1234"  # noqa: S105 (a throwaway account)
        try:
            tenant_id = await _tenant(runtime, slug, host)
            operator = Principal.operator(tenant_id, "bench")
            await create_user(
                runtime,
                operator,
                UserCreate(
                    display_name="secretary",
                    email=f"secretary@{slug}.cn",
                    roles=[Role.SECRETARY],
                    password=password,
                ),
            )
            lender = await create_client(
                runtime,
                operator,
                ApiClientCreate(
                    name="lender", kind=ClientKind.LENDER, scopes=["cases:file", "cases:read"]
                ),
            )
        finally:
            await runtime.close()
        process = _start_server(env, port, Path(data) / "server.log")
        try:
            # Idle connections are dropped before the server's keep-alive timeout (5 s), so a
            # request never races the server closing the connection it was sent on.
            limits = httpx.Limits(
                max_connections=max(clients, concurrency) + 4, keepalive_expiry=2.0
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
            ) as http:
                token = (
                    await http.post(
                        f"/t/{slug}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(lender.client.client_id, lender.client_secret),
                    )
                ).json()["access_token"]
                bearer = {"authorization": f"Bearer {token}"}
                login = await http.post(
                    f"/t/{slug}/auth/password",
                    json={"email": f"secretary@{slug}.cn", "password": password},
                )
                if login.status_code != 200:
                    raise click.ClickException(f"login: {login.status_code} {login.text}")
                staff = {
                    "cookie": f"arbitral_session={login.cookies['arbitral_session']}",
                    "x-csrf-token": login.json()["csrf_token"],
                }
                http.cookies.clear()

                file_ms: list[float] = []
                case_ids: list[str] = []

                def filer(index: int) -> Any:
                    async def run() -> None:
                        started = time.perf_counter()
                        response = await http.post(
                            "/api/v1/cases",
                            json={"case_type": "online-purchase", "claim": _claim(index)},
                            headers=bearer,
                        )
                        file_ms.append((time.perf_counter() - started) * 1000)
                        if response.status_code != 201:
                            raise click.ClickException(
                                f"filing {index}: {response.status_code} {response.text[:300]}"
                            )
                        case_ids.append(response.json()["id"])

                    return run

                for index in range(min(20, filings)):  # warm-up
                    await filer(filings + index)()
                file_ms.clear()
                case_ids.clear()
                started = time.perf_counter()
                await _gather_limited(concurrency, [filer(i) for i in range(filings)])
                filing_s = time.perf_counter() - started

                accept_ms: list[float] = []

                def acceptor(case_id: str) -> Any:
                    async def run() -> None:
                        started = time.perf_counter()
                        response = await http.post(
                            f"/api/v1/cases/{case_id}/commands",
                            json={"command": "accept"},
                            headers=staff,
                        )
                        accept_ms.append((time.perf_counter() - started) * 1000)
                        if response.status_code != 200:
                            raise click.ClickException(
                                f"accept: {response.status_code} {response.text[:300]}"
                            )

                    return run

                started = time.perf_counter()
                await _gather_limited(concurrency, [acceptor(c) for c in case_ids])
                accept_s = time.perf_counter() - started

                async def reader(samples: list[float], floor: bool) -> None:
                    for _ in range(reads_per_client):
                        case_id = random.choice(case_ids)  # noqa: S311 (sampling, not secrets)
                        started = time.perf_counter()
                        if floor:
                            response = await http.get("/health/live")
                            ok = response.status_code == 200
                        else:
                            one = await http.get(f"/api/v1/cases/{case_id}", headers=bearer)
                            two = await http.get(f"/api/v1/cases/{case_id}/history", headers=bearer)
                            ok = one.status_code == two.status_code == 200
                        samples.append((time.perf_counter() - started) * 1000)
                        if not ok:
                            raise click.ClickException("a read failed")

                floor_ms: list[float] = []
                read_ms: list[float] = []
                await asyncio.gather(*(reader(floor_ms, True) for _ in range(clients)))
                await asyncio.gather(*(reader(read_ms, False) for _ in range(clients)))
        except Exception as exc:
            tail = (Path(data) / "server.log").read_text(errors="replace")[-3000:]
            raise click.ClickException(f"{type(exc).__name__}: {exc}\nserver log:\n{tail}") from exc
        finally:
            process.terminate()
            process.wait(timeout=30)
    return FilingFigures(
        backend="postgresql" if database_url else "sqlite",
        filings=filings,
        concurrency=concurrency,
        filing_s=round(filing_s, 2),
        filings_per_s=round(filings / filing_s, 1),
        filing_p99_ms=round(_p(file_ms, 0.99), 1),
        acceptances_per_s=round(len(case_ids) / accept_s, 1),
        accept_p99_ms=round(_p(accept_ms, 0.99), 1),
        clients=clients,
        reads=len(read_ms),
        read_median_ms=round(statistics.median(read_ms), 1),
        read_p99_ms=round(_p(read_ms, 0.99), 1),
        floor_median_ms=round(statistics.median(floor_ms), 1),
        floor_p99_ms=round(_p(floor_ms, 0.99), 1),
    )


@click.command("filing")
@click.option("--filings", default=2000, show_default=True, help="Claims to file.")
@click.option("--concurrency", default=16, show_default=True, help="Filings in flight at once.")
@click.option("--clients", default=100, show_default=True, help="Concurrent readers.")
@click.option("--reads", default=50, show_default=True, help="Reads per reader.")
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    filings: int,
    concurrency: int,
    clients: int,
    reads: int,
    database_url: str | None,
    migration_database_url: str | None,
    as_json: bool,
) -> None:
    """Filings per second through the API; reading cases with history under concurrent load."""
    figures = asyncio.run(
        _measure(filings, concurrency, clients, reads, database_url, migration_database_url)
    )
    if as_json:
        click.echo(json.dumps(asdict(figures)))
        return
    f = figures
    click.echo(f"backend: {f.backend}; server: arbitral serve (one process)")
    click.echo(
        f"filing: {f.filings} claims, {f.concurrency} in flight: {f.filing_s} s, "
        f"{f.filings_per_s} filings/s (p99 {f.filing_p99_ms} ms)"
    )
    click.echo(f"accepting them: {f.acceptances_per_s}/s (p99 {f.accept_p99_ms} ms)")
    click.echo(
        f"reading a case and its history, {f.clients} clients, {f.reads} reads: "
        f"median {f.read_median_ms} ms, p99 {f.read_p99_ms} ms"
    )
    click.echo(
        f"floor (/health/live, same clients): median {f.floor_median_ms} ms, "
        f"p99 {f.floor_p99_ms} ms"
    )
