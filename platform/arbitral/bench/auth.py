"""``arbitral bench auth``: the latency authentication and tenant resolution add.

One handler that does nothing, served twice: public (the baseline) and behind
the permission guard, reached with an API client's bearer token (as clients
use it: verified once, then found in the verified-token cache; and with the
full check on every request: signature against the tenant's cached public
key, claims, tenant resolution from the issuer and the host) and with a
browser session cookie (one tenant transaction in the database). All run in
the same process and event loop, through the same in-process HTTP client,
interleaved in rounds so that drift affects them alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import click


@dataclass(frozen=True, slots=True)
class Figures:
    scenario: str
    requests: int
    median_us: float
    p99_us: float
    mean_us: float
    added_median_us: float
    added_p99_us: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _measure(requests: int, database_url: str | None, owner_url: str | None) -> list[Figures]:
    from litestar import get

    from arbitral.app import create_app
    from arbitral.asgi import serve_in_process
    from arbitral.auth.clients import ApiClientCreate, create_client
    from arbitral.auth.domain import ClientKind, Permission, Principal, Role
    from arbitral.auth.guards import public, require
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.identity.schemas import UserCreate
    from arbitral.identity.services import create_user
    from arbitral.settings import Settings

    @get(
        "/bench/noop",
        opt=public(),
        sync_to_thread=False,
        include_in_schema=False,
        status_code=204,
    )
    def noop() -> None:
        return None

    @get(
        "/bench/noop-authenticated",
        opt=require(Permission.TENANT_READ),
        sync_to_thread=False,
        include_in_schema=False,
        status_code=204,
    )
    def noop_authenticated() -> None:
        return None

    with tempfile.TemporaryDirectory(prefix="arbitral-bench-auth-") as tmp:
        env = {"ARBITRAL_DATA_DIR": tmp, "ARBITRAL_LOG_LEVEL": "WARNING"}
        if database_url:
            env["ARBITRAL_DATABASE_URL"] = database_url
            env["ARBITRAL_MIGRATION_DATABASE_URL"] = owner_url or database_url
            env["ARBITRAL_KEY_ENCRYPTION_KEY"] = "YXJiaXRyYWwgYmVuY2ggYXV0aCBrZWsgMzIgYnl0ZXM="
            env["ARBITRAL_MESSAGE_SENDER"] = "console"
        settings = Settings.from_env(env)
        owner = Database(settings.migration_database)
        await owner.open()
        await migrate(owner)
        await owner.close()
        app = create_app(settings)
        app.register(noop)
        app.register(noop_authenticated)
        async with serve_in_process(app) as client:
            runtime = app.state.runtime
            slug = f"bench{int(time.time())}"
            host = f"{slug}.arbitral.test"
            tenant_id = await _tenant(runtime, slug, host)
            operator = Principal.operator(tenant_id, "bench")
            password = "bench password 1234"  # noqa: S105 (a throwaway account)
            await create_user(
                runtime,
                operator,
                UserCreate(
                    display_name="bench",
                    email="bench@bench.cn",
                    roles=[Role.SECRETARY],
                    password=password,
                ),
            )
            created = await create_client(
                runtime,
                operator,
                ApiClientCreate(name="bench", kind=ClientKind.LENDER, scopes=["tenant:read"]),
            )
            runtime.tenants.invalidate()
            token = (
                await client.post(
                    f"/t/{slug}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(created.client.client_id, created.client_secret),
                )
            ).json()["access_token"]
            login = await client.post(
                f"/t/{slug}/auth/password", json={"email": "bench@bench.cn", "password": password}
            )
            cookie = login.cookies["arbitral_session"]
            client.cookies.clear()
            scenarios: dict[str, tuple[str, dict[str, str]]] = {
                "baseline: public, no credentials": ("/bench/noop", {"host": host}),
                "bearer JWT (API client)": (
                    "/bench/noop-authenticated",
                    {"host": host, "authorization": f"Bearer {token}"},
                ),
                "bearer JWT, signature checked": (
                    "/bench/noop-authenticated",
                    {"host": host, "authorization": f"Bearer {token}"},
                ),
                "session cookie (person)": (
                    "/bench/noop-authenticated",
                    {"host": host, "cookie": f"arbitral_session={cookie}"},
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in scenarios}
            for name, (url, headers) in scenarios.items():  # warm-up: caches, code paths
                for _ in range(200):
                    warm = await client.get(url, headers=headers)
                    if warm.status_code != 204:
                        raise RuntimeError(f"{name}: {warm.status_code} {warm.text}")
            rounds = 10
            per_round = max(1, requests // rounds)
            for _ in range(rounds):
                for name, (url, headers) in scenarios.items():
                    timings = samples[name]
                    uncached = name == "bearer JWT, signature checked"
                    for _ in range(per_round):
                        if uncached:  # forget the verified token: the full check each time
                            runtime.verified_tokens.clear()
                        started = time.perf_counter_ns()
                        response = await client.get(url, headers=headers)
                        timings.append((time.perf_counter_ns() - started) / 1000)
                        if response.status_code != 204:
                            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
    base = samples["baseline: public, no credentials"]
    base_median, base_p99 = statistics.median(base), _percentile(base, 0.99)
    figures = []
    for name, values in samples.items():
        median, p99 = statistics.median(values), _percentile(values, 0.99)
        figures.append(
            Figures(
                scenario=name,
                requests=len(values),
                median_us=round(median, 1),
                p99_us=round(p99, 1),
                mean_us=round(statistics.fmean(values), 1),
                added_median_us=round(median - base_median, 1),
                added_p99_us=round(p99 - base_p99, 1),
            )
        )
    return figures


async def _tenant(runtime: Any, slug: str, host: str) -> Any:
    import uuid
    from datetime import UTC, datetime

    tenant_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with runtime.db.transaction() as uow:
        await uow.execute(
            "INSERT INTO tenant (id, slug, name_zh, name_en, hosts, time_zone, locale, rule_set, "
            "rule_set_version, case_number_format, branding, retention_years, key_refs, revision, "
            "document_sha256, active, created_at, updated_at) "
            "VALUES ({}, {}, '基准', 'Bench', {}, 'Asia/Shanghai', 'zh-CN', "
            "'gba-alliance/online-arbitration', '1.2', "
            "{}, {}, 30, {}, 1, 'bench', {}, {}, {})",
            tenant_id,
            slug,
            json.dumps([host]),
            "({year})基准第{seq:06d}号",
            "{}",
            "{}",
            True,
            now,
            now,
        )
    return tenant_id


@click.command("auth")
@click.option("--requests", default=10_000, show_default=True, help="Requests per scenario.")
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    requests: int, database_url: str | None, migration_database_url: str | None, as_json: bool
) -> None:
    """Latency added by authentication and tenant resolution (median and p99)."""
    from arbitral.logs import configure_logging

    configure_logging("WARNING", "console")
    figures = asyncio.run(_measure(requests, database_url, migration_database_url))
    backend = "postgresql" if database_url else "sqlite"
    if as_json:
        click.echo(json.dumps({"backend": backend, "results": [asdict(f) for f in figures]}))
        return
    click.echo(
        f"arbitral bench auth: {figures[0].requests} requests per scenario, in-process, "
        f"{backend}; a handler that does nothing"
    )
    click.echo("")
    click.echo(
        f"{'scenario':<36}{'median µs':>11}{'p99 µs':>10}{'mean µs':>10}{'+median':>10}{'+p99':>10}"
    )
    click.echo("-" * 87)
    for f in figures:
        click.echo(
            f"{f.scenario:<36}{f.median_us:>11.1f}{f.p99_us:>10.1f}{f.mean_us:>10.1f}"
            f"{f.added_median_us:>10.1f}{f.added_p99_us:>10.1f}"
        )
