"""``arbitral evidence verify FILE RECEIPT``: check a file against its receipt, offline.

Nothing but the file, its receipt and the commission's ledger public keys (the
JWKS at ``/t/{tenant}/.well-known/ledger-keys.json``) is needed: no database,
no network. The file's SHA-256 must be the one its leaf records, the leaf must
be in the tree the signed head describes (the inclusion proof), and the head's
signature must verify with one of the keys.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from arbitral.ledger.domain import ReceiptCheck, ReceiptInvalid, verify_receipt


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"{what} {path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise click.ClickException(f"{what} {path}: not JSON: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None
    return digest.hexdigest()


@click.group("evidence")
def command() -> None:
    """Evidence in custody: check a file against its receipt offline."""


@command.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("receipt", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--keys",
    "keys_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The commission's ledger keys (JWKS from /t/{tenant}/.well-known/ledger-keys.json).",
)
@click.option(
    "--witnesses",
    "witnesses_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The witnesses whose cosignatures count (JSON from /t/{tenant}/ledger/witnesses).",
)
@click.option(
    "--required",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How many of those witnesses must have cosigned the head.",
)
def verify(
    file: Path, receipt: Path, keys_path: Path, witnesses_path: Path | None, required: int
) -> None:
    """FILE is what RECEIPT says was taken into custody, in the commission's signed log."""
    from arbitral.keys.domain import import_public_jwk, verify_compact
    from arbitral.ledger.witness import verify_receipt as verify_witnessed

    document = _read_json(receipt, "receipt")
    jwks = _read_json(keys_path, "keys")
    keys = {k.get("kid"): k for k in jwks.get("keys", [])} if isinstance(jwks, dict) else {}
    if not keys:
        raise click.ClickException(f"keys {keys_path}: no keys (expected a JWKS document)")

    def check(jws: str, kid: str | None) -> bytes:
        jwk = keys.get(kid)
        if jwk is None:
            raise ReceiptInvalid(f"the tree head is signed by key {kid!r}, not one of --keys")
        return verify_compact(jws, import_public_jwk(jwk))

    sha256 = _sha256(file)
    if not isinstance(document, dict):
        raise click.ClickException(f"receipt {receipt}: not a receipt object")
    witness_keys: dict[str, Any] = {}
    if witnesses_path is not None:
        listed = _read_json(witnesses_path, "witnesses")
        entries = listed.get("witnesses", listed) if isinstance(listed, dict) else listed
        for entry in entries if isinstance(entries, list) else []:
            jwk = entry.get("public_jwk") if isinstance(entry, dict) else None
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if isinstance(jwk, dict) and isinstance(kid, str):
                witness_keys[kid] = jwk
        if not witness_keys:
            raise click.ClickException(f"witnesses {witnesses_path}: no witness keys found")
    elif required:
        raise click.ClickException("--required needs --witnesses")
    checked: ReceiptCheck
    try:
        if witness_keys:
            checked = verify_witnessed(
                document,
                verify_signature=check,
                content_sha256=sha256,
                witness_keys=witness_keys,
                required=required,
            )
        else:
            checked = verify_receipt(document, verify_signature=check, content_sha256=sha256)
    except ReceiptInvalid as exc:
        click.echo(json.dumps({"valid": False, "sha256": sha256, "reason": str(exc)}, indent=2))
        sys.exit(1)
    click.echo(
        json.dumps(
            {
                "valid": True,
                "sha256": sha256,
                "log_id": checked.log_id,
                "leaf_index": checked.leaf_index,
                "tree_size": checked.tree_size,
                "root_hash": checked.root_hash.hex(),
                "signed_at": checked.timestamp.isoformat(),
                "entry": dict(checked.entry),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


@command.command("scrub")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option(
    "--schedule",
    "every_hours",
    type=click.FloatRange(min=0.1),
    help="Instead of scrubbing now, start the custody.scrub job: now, then every N hours.",
)
def scrub(slug: str, every_hours: float | None) -> None:
    """Re-hash every stored item against the log; report (and record) what does not match."""
    import asyncio

    from arbitral.keys.cli import _database_errors, _load_settings, _tenant
    from arbitral.runtime import build_runtime

    settings = _load_settings()

    async def main() -> Any:
        from arbitral.custody.actors import SCRUB_JOB, record_scrub
        from arbitral.ledger.services import verify_log

        runtime = build_runtime(settings)
        await runtime.db.open()
        try:
            tenant_id, _ = await _tenant(runtime.db, slug)
            if every_hours is not None:
                async with runtime.db.transaction(tenant_id=tenant_id) as uow:
                    await uow.enqueue(SCRUB_JOB, {"every_hours": every_hours})
                return {"scheduled": SCRUB_JOB, "every_hours": every_hours}
            report = await _database_errors(
                runtime.db, verify_log(runtime, tenant_id, store=runtime.store)
            )
            async with runtime.db.transaction(tenant_id=tenant_id) as uow:
                await record_scrub(uow, tenant_id, report)
            return report.as_json()
        finally:
            await runtime.db.close()
            await runtime.store.close()

    from arbitral.cli import reports_config_errors

    result = reports_config_errors(asyncio.run)(main())
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    if result.get("ok") is False:
        sys.exit(1)
