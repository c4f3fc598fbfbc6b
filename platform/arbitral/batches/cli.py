"""``arbitral batch``: submit a lender's claims file from the console and follow it.

``arbitral batch submit FILE --tenant T --claimant claimant.json`` does what a lender's
system does through the API, as the console operator: it creates the batch (the
Idempotency-Key defaults to the file's SHA-256, so submitting the same file again finds
the first batch instead of filing twice), uploads the file (streamed from disk), and
shows a progress bar until the batch is done. With the embedded default (no message
broker) nobody else would run the processing job, so the command runs it itself; with
a broker the workers do, and the command only follows. ``--bundle ZIP`` first takes
the loans' evidence into custody (the rows cite it by SHA-256).

``arbitral batch show ID --tenant T`` prints a batch; ``arbitral batch report ID
--tenant T`` writes its per-row report (CSV or JSON Lines) to stdout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import click

from arbitral.errors import ProblemError

if TYPE_CHECKING:
    from arbitral.auth.domain import Principal
    from arbitral.batches.schemas import BatchOut
    from arbitral.runtime import Runtime

_BLOCK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _count_rows(path: Path, kinds: tuple[str, ...]) -> int:
    """Rows as the batch will count them (the survey of arbitral.batches.parse)."""
    from arbitral.batches import parse

    with path.open("rb") as handle:
        fmt = parse.detect_format(handle.read(4096), None)
    try:
        return parse.survey(path, fmt, kinds).rows
    except parse.FileRefused as exc:
        raise click.ClickException(exc.problem.message) from None


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while block := await asyncio.to_thread(handle.read, _BLOCK):
            yield block


def _problem(exc: ProblemError) -> click.ClickException:
    lines = [exc.detail]
    lines += [f"  {e.field}: {e.rule}: {e.message}" for e in exc.errors or []]
    return click.ClickException("\n".join(lines))


async def _principal(runtime: Runtime, slug: str) -> Principal:
    from arbitral.identity.cli import _tenant_principal

    return await _tenant_principal(runtime.db, slug)


def _summary(batch: BatchOut) -> str:
    c = batch.counts
    return (
        f"batch {batch.id}: {batch.state}; {c.read}/{c.declared} rows read, "
        f"{c.created} cases, {c.rejected} rejected, {c.duplicate} duplicates"
    )


@click.group("batch")
def command() -> None:
    """Lenders' batches of claims: submit a claims file, follow it, get its report."""


@command.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "slug", required=True, help="The commission's slug.")
@click.option(
    "--claimant",
    "claimant_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file: the lender as claimant (kind, name, id_number, email or phone, ...).",
)
@click.option("--rows", type=int, help="The declared row count (default: counted here).")
@click.option("--key", help="The Idempotency-Key (default: the file's SHA-256).")
@click.option("--case-type", default="online-loan", show_default=True)
@click.option(
    "--bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A ZIP of the loans' evidence, taken into custody first.",
)
@click.option("--no-wait", is_flag=True, help="Upload and return; do not follow the batch.")
def submit(
    file: Path,
    slug: str,
    claimant_file: Path,
    rows: int | None,
    key: str | None,
    case_type: str,
    bundle: Path | None,
    no_wait: bool,
) -> None:
    """Submit FILE (JSON Lines or CSV) as a batch, with a progress bar."""
    from arbitral.cli import load_settings, reports_config_errors

    try:
        claimant = json.loads(claimant_file.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{claimant_file}: not JSON ({exc})") from None
    idempotency_key = key or _sha256(file)

    @reports_config_errors
    def run() -> None:
        settings = load_settings()
        asyncio.run(
            _submit(
                settings,
                file,
                slug,
                claimant,
                rows,
                idempotency_key,
                case_type,
                bundle,
                wait=not no_wait,
            )
        )

    run()


async def _submit(
    settings: Any,
    file: Path,
    slug: str,
    claimant: Any,
    rows: int | None,
    key: str,
    case_type: str,
    bundle: Path | None,
    *,
    wait: bool,
) -> None:
    from arbitral.batches import services
    from arbitral.batches.schemas import BatchIn
    from arbitral.batches.validate import evidence_kinds
    from arbitral.runtime import build_runtime

    runtime = build_runtime(settings)
    await runtime.open()
    try:
        principal = await _principal(runtime, slug)
        try:
            tenant = (
                await runtime.tenants.by_id(principal.tenant_id) if principal.tenant_id else None
            )
            if tenant is None:
                raise click.ClickException(f"no active commission {slug!r}")
            kinds = evidence_kinds(services.case_type_rules(runtime, tenant, case_type))
            declared = rows if rows is not None else _count_rows(file, kinds)
            if bundle is not None:
                await _bundle(runtime, principal, bundle)
            batch, new = await services.create_batch(
                runtime,
                principal,
                BatchIn(declared_rows=declared, claimant=claimant, case_type=case_type),
                key,
            )
            click.echo(f"{'created' if new else 'found the earlier'} batch {batch.id}", err=True)
            if batch.state == "created":
                batch = await services.upload_claims(
                    runtime,
                    principal,
                    batch.id,
                    _file_chunks(file),
                    content_type=None,
                    declared_sha256=_sha256(file),
                    filename=file.name,
                )
        except ProblemError as exc:
            raise _problem(exc) from None
        if wait:
            batch = await _follow(runtime, principal, batch.id, declared, settings.embedded)
        click.echo(_summary(batch))
        if batch.state == "failed":
            for problem in batch.problems:
                click.echo(f"  {problem.field}: {problem.rule}: {problem.message}", err=True)
            sys.exit(1)
    finally:
        await runtime.close()


async def _bundle(runtime: Runtime, principal: Principal, path: Path) -> None:
    from arbitral.batches.bundle import receive_bundle

    manifest = await receive_bundle(
        runtime,
        principal,
        _file_chunks(path),
        declared_length=(await asyncio.to_thread(path.stat)).st_size,
        declared_sha256=_sha256(path),
    )
    for refused in manifest.refused:
        click.echo(f"  refused {refused.name}: {refused.rule}: {refused.message}", err=True)
    click.echo(
        f"bundle {path.name}: {len(manifest.items)} files in custody, "
        f"{len(manifest.refused)} refused",
        err=True,
    )


async def _follow(
    runtime: Runtime, principal: Principal, batch_id: UUID, declared: int, run_here: bool
) -> BatchOut:
    """A progress bar until the batch is done or failed (running its job here if need be)."""
    from arbitral.batches import services

    tenant = await runtime.tenants.by_id(principal.tenant_id or UUID(int=0))
    job: asyncio.Task[None] | None = None
    if run_here and tenant is not None:
        job = asyncio.create_task(_process_here(runtime, tenant, batch_id))
    with click.progressbar(length=declared, label="rows", file=sys.stderr) as bar:
        shown = 0
        while True:
            batch = await services.get_batch(runtime, principal, batch_id)
            bar.update(batch.counts.read - shown)
            shown = batch.counts.read
            if batch.state in {"done", "failed"}:
                break
            if job is not None and job.done():
                job.result()  # a crash of the job surfaces here
                job = None
            await asyncio.sleep(0.5)
    if job is not None:
        await job
    return batch


async def _process_here(runtime: Runtime, tenant: Any, batch_id: UUID) -> None:
    from arbitral.batches import services

    for _ in range(60):
        try:
            await services.process(runtime, tenant, batch_id)
            return
        except services.BatchBusy:
            await asyncio.sleep(1.0)  # another run holds the lease: wait it out


def _as_operator(slug: str, action: Callable[[Runtime, Principal], Awaitable[None]]) -> None:
    """Run ``action`` as the console operator of ``slug``; a problem is one clear error."""
    from arbitral.cli import load_settings, reports_config_errors

    @reports_config_errors
    def run() -> None:
        settings = load_settings()

        async def go() -> None:
            from arbitral.runtime import build_runtime

            runtime = build_runtime(settings)
            await runtime.open()
            try:
                await action(runtime, await _principal(runtime, slug))
            except ProblemError as exc:
                raise _problem(exc) from None
            finally:
                await runtime.close()

        asyncio.run(go())

    run()


@command.command("show")
@click.argument("batch_id", type=click.UUID)
@click.option("--tenant", "slug", required=True, help="The commission's slug.")
def show(batch_id: UUID, slug: str) -> None:
    """Print a batch and its progress as JSON."""

    async def action(runtime: Runtime, principal: Principal) -> None:
        import msgspec

        from arbitral.batches import services

        batch = await services.get_batch(runtime, principal, batch_id)
        click.echo(msgspec.json.format(msgspec.json.encode(batch), indent=2).decode())

    _as_operator(slug, action)


@command.command("report")
@click.argument("batch_id", type=click.UUID)
@click.option("--tenant", "slug", required=True, help="The commission's slug.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
def report(batch_id: UUID, slug: str, fmt: str) -> None:
    """Write the batch's per-row report to stdout."""

    async def action(runtime: Runtime, principal: Principal) -> None:
        from arbitral.batches import services
        from arbitral.batches.controllers import csv_lines, jsonl_lines

        lines = await services.report_lines(runtime, principal, batch_id)
        body = csv_lines(lines) if fmt == "csv" else jsonl_lines(lines)
        async for part in body:
            sys.stdout.buffer.write(part)
        sys.stdout.flush()

    _as_operator(slug, action)
