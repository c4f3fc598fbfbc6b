"""``arbitral ledger``: a tenant's transparency log, from the operator's shell.

Every command prints one JSON document on stdout (``--json`` is accepted and is
the default). ``verify`` exits 1 when it finds a problem, naming each one.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click

from arbitral.keys.cli import _database_errors, _load_settings, _reports_config_errors, _tenant
from arbitral.ledger.domain import LedgerError

T = TypeVar("T")

tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug.")
json_option = click.option("--json", "as_json", is_flag=True, default=True, help="Print JSON.")


def _emit(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _run(slug: str, work: Callable[[Any, UUID], Awaitable[T]]) -> T:
    from arbitral.runtime import build_runtime

    settings = _load_settings()

    async def main() -> T:
        runtime = build_runtime(settings)
        await runtime.db.open()
        try:
            tenant_id, _ = await _tenant(runtime.db, slug)
            return await _database_errors(runtime.db, work(runtime, tenant_id))
        finally:
            await runtime.db.close()
            await runtime.store.close()

    try:
        return asyncio.run(main())
    except LedgerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group("ledger")
def command() -> None:
    """A tenant's transparency log (RFC 9162): heads, leaves, proofs, verification."""


@command.command("head")
@tenant_option
@click.option("--issue", is_flag=True, help="Sign a new head of the current tree first.")
@json_option
@_reports_config_errors
def head(slug: str, issue: bool, as_json: bool) -> None:
    """The latest signed tree head (size, root hash, timestamp, signature)."""
    from arbitral.ledger import services

    async def work(runtime: Any, tenant_id: UUID) -> Any:
        signed = await services.issue_head(runtime, tenant_id) if issue else None
        signed = signed or await services.latest_head(runtime.db, tenant_id)
        if signed is None:
            signed = await services.issue_head(runtime, tenant_id)
        return signed.as_json()

    _emit(_run(slug, work))


@command.command("leaves")
@tenant_option
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--end", type=click.IntRange(min=0), help="Exclusive (default: the tree size).")
@json_option
@_reports_config_errors
def leaves(slug: str, start: int, end: int | None, as_json: bool) -> None:
    """The leaves [START, END): their data, to recompute the tree independently."""
    from arbitral.ledger import services

    async def work(runtime: Any, tenant_id: UUID) -> Any:
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            size = await services.size_of(uow, tenant_id)
            stop = size if end is None else min(end, size)
            if start > stop:
                raise LedgerError(f"--start {start} is past the end ({stop})")
            records = await services.leaves(uow, tenant_id, start, stop)
        return {
            "tree_size": size,
            "start": start,
            "end": stop,
            "leaves": [r.as_json() for r in records],
        }

    _emit(_run(slug, work))


@command.command("proof")
@tenant_option
@click.option("--leaf-index", type=click.IntRange(min=0), required=True)
@click.option("--tree-size", type=click.IntRange(min=1), help="Default: the current size.")
@json_option
@_reports_config_errors
def proof(slug: str, leaf_index: int, tree_size: int | None, as_json: bool) -> None:
    """The inclusion proof of a leaf in a tree: leaf hash, audit path, root hash."""
    from arbitral.ledger import services

    async def work(runtime: Any, tenant_id: UUID) -> Any:
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            size = tree_size if tree_size is not None else await services.size_of(uow, tenant_id)
            return (await services.inclusion(uow, tenant_id, leaf_index, size)).as_json()

    _emit(_run(slug, work))


@command.command("consistency")
@tenant_option
@click.option("--first", type=click.IntRange(min=1), required=True)
@click.option("--second", type=click.IntRange(min=1), required=True)
@json_option
@_reports_config_errors
def consistency(slug: str, first: int, second: int, as_json: bool) -> None:
    """The consistency proof between two tree sizes."""
    from arbitral.ledger import services

    async def work(runtime: Any, tenant_id: UUID) -> Any:
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            return (await services.consistency(uow, tenant_id, first, second)).as_json()

    _emit(_run(slug, work))


@command.command("verify")
@tenant_option
@click.option("--no-objects", is_flag=True, help="Do not re-hash the stored objects.")
@json_option
@_reports_config_errors
def verify(slug: str, no_objects: bool, as_json: bool) -> None:
    """Recompute the log from its leaves, check every head and every stored object."""
    from arbitral.ledger import services

    async def work(runtime: Any, tenant_id: UUID) -> Any:
        store = None if no_objects else runtime.store
        return await services.verify_log(runtime, tenant_id, store=store)

    report = _run(slug, work)
    _emit(report.as_json())
    if not report.ok:
        sys.exit(1)


@command.command("issue-heads")
@json_option
@_reports_config_errors
def issue_heads(as_json: bool) -> None:
    """Sign a new head for every commission whose log grew since its last head (for cron)."""
    from arbitral.ledger import services
    from arbitral.runtime import build_runtime

    settings = _load_settings()

    async def main() -> Any:
        runtime = build_runtime(settings)
        await runtime.db.open()
        try:
            return await _database_errors(runtime.db, services.issue_due_heads(runtime))
        finally:
            await runtime.db.close()
            await runtime.store.close()

    issued = asyncio.run(main())
    _emit({"issued": [{"tenant_id": str(t), **head.as_json()} for t, head in issued]})


@command.command("witness-key")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the witness's private JWK (a new file, mode 0600).",
)
def witness_key(out: Path) -> None:
    """Make a witness's Ed25519 key pair; print the public JWK the commission registers."""
    from arbitral.ledger.witness import new_witness_key, write_private_jwk

    private_jwk, key = new_witness_key()
    try:
        write_private_jwk(out, private_jwk)
    except FileExistsError:
        click.echo(f"error: {out} exists; a witness key is never overwritten", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"error: {out}: {exc.strerror}", err=True)
        sys.exit(2)
    _emit(key.public_jwk)


@command.command("witness")
@click.option(
    "--url",
    required=True,
    help="The commission's log, e.g. https://arbitral.example/t/gz (its /ledger/… routes).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The witness's private JWK (from arbitral ledger witness-key).",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The witness's memory of the last head it cosigned (created on the first run).",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True)
def witness_round(url: str, key_path: Path, state_path: Path, timeout: float) -> None:
    """Witness the log once: verify the new head and its consistency, then cosign it.

    Exit 0 when the head was cosigned (the state file then remembers it), 1 on
    an alarm (a forged head, a rollback, a rewritten history: nothing is
    signed, the evidence is printed), 2 when the round could not complete.
    """
    import httpx

    from arbitral.ledger.witness import (
        WitnessAlarm,
        WitnessFailure,
        load_state,
        load_witness_key,
        save_state,
        witness_once,
    )

    if not url.startswith(("https://", "http://")):
        click.echo(f"error: --url {url!r} must be an http(s) URL", err=True)
        sys.exit(2)

    async def main() -> Any:
        key = load_witness_key(key_path)
        state = load_state(state_path)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            return await witness_once(client, url, key, state)

    try:
        done = asyncio.run(main())
    except WitnessAlarm as exc:
        click.echo(f"ALARM: {exc}", err=True)
        _emit({"ok": False, "alarm": str(exc), "evidence": exc.evidence})
        sys.exit(1)
    except WitnessFailure as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        save_state(state_path, done.state)
    except OSError as exc:
        click.echo(f"error: the head was cosigned, but {state_path}: {exc.strerror}", err=True)
        sys.exit(2)
    _emit(done.as_json())
