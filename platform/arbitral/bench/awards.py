"""``arbitral bench awards``: signed Chinese awards per second, and per award on one core.

Each award goes through the whole issue pipeline (:func:`arbitral.awards.issuing.issue`):
the case assembled from the database (parties, tribunal, history, due-process record),
the document rendered (WeasyPrint), signed (PAdES, the commission's key), stored in the
object store, recorded in custody and the transparency log, served on the parties, and
the case moved to ``awarded``. Figures:

* **one core**: the process pinned to one CPU issues ``--awards`` awards one after the
  other; the median milliseconds per award, beside WeasyPrint alone rendering the same
  HTML (``HTML(string).write_pdf``) for the same awards in the same run, and their ratio;
* **two workers**: two processes (one per core) issue ``--throughput`` more awards at
  once, from a shared database; awards per second over the wall time.

The cases are filed through the case service (a lender's claims), then moved to ready for
award and given an approved award by SQL, since the lifecycle before the award is not
what is measured. SQLite by default (a temporary directory), or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import click

KEK = "YXJiaXRyYWwgYmVuY2ggYXV0aCBrZWsgMzIgYnl0ZXM="


@dataclass(frozen=True)
class AwardFigures:
    backend: str
    awards: int
    pipeline_ms: float
    weasyprint_ms: float
    ratio: float
    pages: int
    workers: int
    throughput_awards: int
    throughput_s: float
    per_second: float


def _env(data: str, database_url: str | None, owner_url: str | None) -> dict[str, str]:
    env = {
        "ARBITRAL_DATA_DIR": data,
        "ARBITRAL_LOG_LEVEL": "WARNING",
        "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
        "ARBITRAL_TEMPLATES_DIR": os.environ.get("ARBITRAL_TEMPLATES_DIR") or "templates",
        "ARBITRAL_DEADLINE_SWEEP_INTERVAL": "0",
        "ARBITRAL_KEY_ENCRYPTION_KEY": KEK,
        "ARBITRAL_MESSAGE_SENDER": "console",
    }
    if database_url:
        env["ARBITRAL_DATABASE_URL"] = database_url
        env["ARBITRAL_MIGRATION_DATABASE_URL"] = owner_url or database_url
    return env


async def _prepare(env: dict[str, str], count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A commission with a document signer and ``count`` approved awards waiting to issue."""
    from arbitral.audit.services import Actor
    from arbitral.auth.domain import ClientKind, Permission, Principal, PrincipalKind, Role
    from arbitral.awards import drafting
    from arbitral.bench.auth import _tenant
    from arbitral.bench.filing import _claim
    from arbitral.cases import services as cases
    from arbitral.cases.schemas import CaseFiling
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.identity.schemas import UserCreate
    from arbitral.identity.services import create_user
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
        suffix = f"{random.getrandbits(32):08x}"
        tenant_id = await _tenant(runtime, f"award{suffix}", f"award{suffix}.invalid")
        operator = Principal.operator(tenant_id, "bench")
        await runtime.document_keys.issue_development(
            tenant_id, actor=Actor(kind="operator", id="bench")
        )
        arbitrator = await create_user(
            runtime,
            operator,
            UserCreate(
                display_name="陈仲裁",
                email=f"arbitrator@award{suffix}.cn",
                roles=[Role.ARBITRATOR],
                password="bench password 1234",  # noqa: S106 (a throwaway account)
            ),
        )
        lender = Principal(
            kind=PrincipalKind.API_CLIENT,
            subject_id=uuid.uuid4(),
            tenant_id=tenant_id,
            permissions=frozenset({Permission.CASES_FILE, Permission.CASES_READ}),
            client_id="bench-lender",
            client_kind=ClientKind.LENDER,
        )
        tenant = await runtime.tenants.by_id(tenant_id)
        assert tenant is not None
        awards = []
        content = {
            "facts": "申请人与被申请人于2026年2月1日成立网络购物合同，申请人支付货款1999.90元。\n"
            "被申请人交付的商品与其在网页上的描述不符，申请人要求退货，被申请人拒绝。",
            "reasoning": "依法成立的合同对当事人具有法律约束力。被申请人交付的商品不符合约定，"
            "应当承担违约责任，退还货款并赔偿申请人的合理损失。\n仲裁庭对申请人的请求予以支持。",
            "place": "广州",
        }
        for index in range(count):
            case = await cases.file_case(
                runtime, lender, CaseFiling(case_type="online-purchase", claim=_claim(index))
            )
            now = runtime.clock.now()
            async with runtime.db.transaction(tenant_id=tenant_id) as uow:
                await uow.execute(
                    "UPDATE arb_case SET state = 'ready_for_award' "
                    "WHERE tenant_id = {} AND id = {}",
                    tenant_id,
                    case.id,
                )
                await uow.execute(
                    "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, "
                    "appointed_at, appointed_by, chosen_by) "
                    "VALUES ({}, {}, {}, {}, 'sole', {}, 'bench', 'commission')",
                    uuid.uuid4(),
                    tenant_id,
                    case.id,
                    arbitrator.id,
                    now,
                )
                loaded = await cases.load_case(uow, tenant_id, case.id)
                draft = {**drafting.suggested_content(runtime, loaded.row), **content}
                award_id = uuid.uuid4()
                await uow.execute(
                    "INSERT INTO award (id, tenant_id, case_id, kind, status, content, version, "
                    "drafted_by, drafted_at, updated_at, approved_at) VALUES ({}, {}, {}, "
                    "'award', 'issuing', {}, 1, 'bench', {}, {}, {})",
                    award_id,
                    tenant_id,
                    case.id,
                    json.dumps(draft, ensure_ascii=False),
                    now,
                    now,
                    now,
                )
            awards.append(award_id)
        return tenant_id, awards
    finally:
        await runtime.close()


async def _issue_all(
    env: dict[str, str], tenant_id: uuid.UUID, awards: list[uuid.UUID], *, baseline: bool
) -> tuple[list[float], list[float], int]:
    """Issue ``awards`` one by one: ms per award, and (``baseline``) ms of WeasyPrint alone."""
    from weasyprint import CSS, HTML

    from arbitral.auth.domain import Principal
    from arbitral.awards import domain, drafting, issuing
    from arbitral.cases import services as cases
    from arbitral.db.values import as_uuid
    from arbitral.documents import render
    from arbitral.documents.model import new_verification_code
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    settings = Settings.from_env(env)
    runtime = build_runtime(settings)
    await runtime.open()
    pipeline: list[float] = []
    alone: list[float] = []
    pages = 0
    try:
        tenant = await runtime.tenants.by_id(tenant_id)
        assert tenant is not None
        root = settings.templates_dir
        base_url = (root / render.FOLDER).as_uri() + "/"
        stylesheet = str(root / render.FOLDER / render.STYLESHEET)
        system = Principal.operator(tenant_id, "bench")
        profiles = render.renderer(root)._color_profiles
        await runtime.document_keys.signer(tenant_id)  # loaded once, as in a worker
        for award_id in awards:
            html = ""
            if baseline:  # the same document's HTML, for WeasyPrint alone (not timed)
                async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
                    row = (
                        await uow.fetch(
                            "SELECT * FROM award WHERE tenant_id = {} AND id = {}",
                            tenant_id,
                            award_id,
                        )
                    )[0]
                    case = await cases.load_case(uow, tenant_id, as_uuid(row["case_id"]))
                assembled = await drafting.assemble(runtime, tenant, system, case.id)
                raw = row["content"]
                content, _ = domain.parse_content(
                    json.loads(raw) if isinstance(raw, str) else dict(raw),
                    drafting.fee_total(runtime, case.row),
                )
                document = issuing.build_document(
                    runtime,
                    tenant,
                    assembled,
                    content,
                    [],
                    kind=domain.AwardKind.AWARD,
                    made_on=runtime.clock.now().date(),
                    code=new_verification_code(),
                )
                html = render.renderer(root).html(document)
            started = time.perf_counter()
            await issuing.issue(runtime, tenant, award_id)
            pipeline.append((time.perf_counter() - started) * 1000)
            if baseline:
                started = time.perf_counter()
                pdf = HTML(string=html, base_url=base_url).write_pdf(
                    stylesheets=[CSS(filename=stylesheet)],
                    pdf_variant=render.PDF_VARIANT,
                    # The output intent's profile as the renderer loads it once: left to
                    # itself WeasyPrint opens the file per document and never closes it.
                    color_profiles=dict(profiles),
                    output_intent=render.OUTPUT_INTENT,
                )
                alone.append((time.perf_counter() - started) * 1000)
                pages = max(pages, issuing.page_count(bytes(pdf)))
    finally:
        await runtime.close()
    return pipeline, alone, pages


def _worker(env: dict[str, str], tenant_id: str, awards: list[str], start: Any, out: Any) -> None:
    from arbitral.logs import configure_logging

    os.environ.update(env)
    configure_logging("WARNING")
    start.wait()
    began = time.perf_counter()
    asyncio.run(
        _issue_all(env, uuid.UUID(tenant_id), [uuid.UUID(a) for a in awards], baseline=False)
    )
    out.put(time.perf_counter() - began)


async def measure(
    awards: int, throughput: int, workers: int, database_url: str | None, owner_url: str | None
) -> AwardFigures:
    with tempfile.TemporaryDirectory(prefix="arbitral-bench-awards-") as data:
        env = _env(data, database_url, owner_url)
        tenant_id, prepared = await _prepare(env, awards + throughput)
        one_core, rest = prepared[:awards], prepared[awards:]
        # One core: this process, pinned.
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        if cpus:
            os.sched_setaffinity(0, {min(cpus)})
        # The first award warms the caches a worker keeps (fonts, stylesheets, the signer).
        await _issue_all(env, tenant_id, one_core[:1], baseline=False)
        pipeline, alone, pages = await _issue_all(env, tenant_id, one_core[1:], baseline=True)
        if cpus:
            os.sched_setaffinity(0, cpus)
        # Two workers: one process per core, the awards shared out.
        context = multiprocessing.get_context("spawn")
        start, out = context.Event(), context.Queue()
        shares = [rest[i::workers] for i in range(workers)]
        processes = [
            context.Process(
                target=_worker, args=(env, str(tenant_id), [str(a) for a in share], start, out)
            )
            for share in shares
        ]
        for process in processes:
            process.start()
        await asyncio.sleep(3.0)  # let both import and connect before the clock starts
        began = time.perf_counter()
        start.set()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - began
        if any(p.exitcode != 0 for p in processes):
            raise click.ClickException("a worker failed")
        median_pipeline = statistics.median(pipeline)
        median_alone = statistics.median(alone)
        return AwardFigures(
            backend="postgresql" if database_url else "sqlite",
            awards=len(pipeline),
            pipeline_ms=median_pipeline,
            weasyprint_ms=median_alone,
            ratio=median_pipeline / median_alone,
            pages=pages,
            workers=workers,
            throughput_awards=len(rest),
            throughput_s=elapsed,
            per_second=len(rest) / elapsed,
        )


@click.command("awards")
@click.option("--awards", default=30, show_default=True, help="Awards issued on one core.")
@click.option("--throughput", default=80, show_default=True, help="Awards for the workers.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    awards: int,
    throughput: int,
    workers: int,
    database_url: str | None,
    migration_database_url: str | None,
    as_json: bool,
) -> None:
    """Signed awards per second with two workers; ms per award on one core beside WeasyPrint."""
    import dataclasses

    from arbitral.logs import configure_logging

    configure_logging("WARNING")
    if awards < 2:
        raise click.BadParameter("at least 2 (the first warms the caches)", param_hint="--awards")
    figures = asyncio.run(
        measure(awards, throughput, workers, database_url, migration_database_url)
    )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(figures)))
        return
    click.echo(
        f"arbitral bench awards ({figures.backend}): {figures.pages}-page Chinese awards, "
        "drafted from the case, rendered, signed (PAdES), stored, logged, served\n\n"
        f"  one core, {figures.awards} awards: median {figures.pipeline_ms:.0f} ms per award"
        f"   (target < 250)\n"
        f"  WeasyPrint alone, same HTML:        median {figures.weasyprint_ms:.0f} ms"
        f"   ratio {figures.ratio:.2f} (target <= 1.3)\n"
        f"  {figures.workers} workers, {figures.throughput_awards} awards: "
        f"{figures.throughput_s:.1f} s, {figures.per_second:.1f} awards/s   (target >= 8)"
    )
