"""What ``arbitral demo`` loads into a fresh embedded installation.

The example commissions of ``tenants/`` are synced on every run (a changed
file becomes a new revision). The first commission gets demo accounts, one
per role, and a lender's API client, once: their random passwords and secret
are kept in ``<data dir>/demo-credentials.json`` (mode 0600) and shown at
every start, since the database keeps only hashes.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbitral.audit.services import Actor
from arbitral.auth.clients import ApiClientCreate, create_client
from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from arbitral.runtime import Runtime
from arbitral.tenancy.services import load_tenant_files, sync_tenants

CREDENTIALS_FILE = "demo-credentials.json"

_PEOPLE = [
    (Role.COMMISSION_ADMIN, "委员会管理员 Commission Admin", "admin", None),
    (Role.SECRETARY, "王秘书 Secretary Wang", "secretary", None),
    (Role.ARBITRATOR, "李仲裁员 Arbitrator Li", "arbitrator", None),
    (Role.CLAIMANT, "张申请人 Claimant Zhang", "claimant", "+8613800138001"),
    (Role.RESPONDENT, "陈被申请人 Respondent Chen", "respondent", "+8613800138002"),
]


@dataclass(frozen=True, slots=True)
class DemoAccounts:
    tenant: str
    people: list[dict[str, str]]
    lender: dict[str, str]


async def prepare_demo(runtime: Runtime) -> DemoAccounts | None:
    """Sync the example tenants; create the demo accounts once. None without tenants."""
    settings = runtime.settings
    directory = settings.tenants_dir
    if not directory.is_dir() or not any(directory.glob("*.toml")):
        return None
    files = load_tenant_files(directory)
    await sync_tenants(
        runtime.db,
        files,
        actor=Actor.system("demo"),
        directory=str(directory),
        rules=runtime.rules,
        cache=runtime.tenants,
    )
    # Each demo commission signs its documents with a certificate from its own
    # development CA (production imports a real chain: arbitral keys import-document-signer).
    for spec in files:
        synced = await runtime.tenants.by_slug(spec.spec.slug)
        if synced is not None and await runtime.document_keys.info(synced.id) is None:
            await runtime.document_keys.issue_development(synced.id, actor=Actor.system("demo"))
    path = Path(settings.data_dir) / CREDENTIALS_FILE
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        return DemoAccounts(saved["tenant"], saved["people"], saved["lender"])
    tenant = await runtime.tenants.by_slug(sorted(f.spec.slug for f in files)[0])
    if tenant is None:
        return None
    operator = Principal.operator(tenant.id, "demo")
    people = []
    # All or nothing: the accounts and their credentials file, or neither (a crash
    # half-way would otherwise leave accounts whose passwords nobody knows).
    try:
        async with runtime.db.transaction(tenant_id=tenant.id):
            for role, name, handle, phone in _PEOPLE:
                email = f"{handle}@{tenant.slug}.demo.arbitral.cn"
                password = secrets.token_urlsafe(12)
                await create_user(
                    runtime,
                    operator,
                    UserCreate(
                        display_name=name, email=email, phone=phone, roles=[role], password=password
                    ),
                )
                people.append({"role": role.value, "email": email, "password": password})
            lender = await create_client(
                runtime,
                operator,
                ApiClientCreate(
                    name="示例小贷公司 Demo Lender",
                    kind=ClientKind.LENDER,
                    scopes=["tenant:read", "cases:file", "cases:read", "batches:submit"],
                ),
            )
            accounts = DemoAccounts(
                tenant.slug,
                people,
                {"client_id": lender.client.client_id, "client_secret": lender.client_secret},
            )
            _write_credentials(path, accounts)
    except BaseException:
        path.unlink(missing_ok=True)  # nothing was committed: no credentials file either
        raise
    return accounts


def _write_credentials(path: Path, accounts: DemoAccounts) -> None:
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {"tenant": accounts.tenant, "people": accounts.people, "lender": accounts.lender},
            out,
            ensure_ascii=False,
            indent=2,
        )
    os.replace(temp, path)  # whole or absent; the transaction commits right after


def banner_lines(accounts: DemoAccounts | None, url: str) -> list[str]:
    if accounts is None:
        return ["  Log in:    no tenants/ directory here, so no demo accounts were made."]
    admin = accounts.people[0]
    lines = [
        f"  Commission: {accounts.tenant}  (demo accounts, passwords in var/{CREDENTIALS_FILE})",
    ]
    for person in accounts.people:
        lines.append(f"    {person['role']:<17} {person['email']:<40} {person['password']}")
    login_url = f"{url}/t/{accounts.tenant}/auth/password"
    lines += [
        "  Log in:",
        f"    curl -i -H 'content-type: application/json' {login_url} \\",
        f'      -d \'{{"email": "{admin["email"]}", "password": "{admin["password"]}"}}\'',
        "  Party login by one-time code (the code is printed in this terminal):",
        "    curl -H 'content-type: application/json' "
        f"{url}/t/{accounts.tenant}/auth/otp/request \\",
        '      -d \'{"channel": "sms", "destination": "+8613800138001"}\'',
        "  API client (lender):",
        f"    curl -u {accounts.lender['client_id']}:{accounts.lender['client_secret']} \\",
        f"      -d grant_type=client_credentials {url}/t/{accounts.tenant}/oauth/token",
    ]
    return lines
