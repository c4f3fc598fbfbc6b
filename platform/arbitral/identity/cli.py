"""``arbitral users``: accounts from the console (the first administrator, say)."""

from __future__ import annotations

import asyncio
import getpass
import sys

import click

from arbitral.auth.domain import Principal, Role
from arbitral.db.engine import Database
from arbitral.db.values import as_uuid
from arbitral.errors import ProblemError
from arbitral.identity.schemas import UserCreate
from arbitral.settings import ConfigError


def _operator() -> str:
    try:
        return f"console:{getpass.getuser()}"
    except (KeyError, OSError):
        return "console"


async def _tenant_principal(db: Database, slug: str) -> Principal:
    """The console operator, acting on the active commission ``slug``."""
    rows = await db.fetch("SELECT id FROM tenant WHERE slug = {} AND active", slug)
    if not rows:
        raise ConfigError("--tenant", f"no active commission {slug!r}; run 'arbitral tenants sync'")
    return Principal.operator(as_uuid(rows[0]["id"]), _operator())


@click.group("users")
def command() -> None:
    """People's accounts in a commission."""


@command.command("create")
@click.option("--tenant", "slug", required=True, help="The commission's slug.")
@click.option("--name", required=True, help="Display name.")
@click.option("--email", help="Email address (login for built-in accounts).")
@click.option("--phone", help="Phone number (+86…), for one-time codes.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice([r.value for r in Role]),
    help="Role to grant (repeatable).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password for a built-in account from standard input.",
)
def create(
    slug: str,
    name: str,
    email: str | None,
    phone: str | None,
    roles: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a user with roles (audited as the console operator)."""
    from arbitral.cli import _fail, load_settings, reports_config_errors

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None

    @reports_config_errors
    def run() -> None:
        settings = load_settings()

        async def go() -> str:
            from arbitral.identity.services import create_user
            from arbitral.runtime import build_runtime

            runtime = build_runtime(settings)
            await runtime.open()
            try:
                principal = await _tenant_principal(runtime.db, slug)
                user = await create_user(
                    runtime,
                    principal,
                    UserCreate(
                        display_name=name,
                        email=email,
                        phone=phone,
                        roles=[Role(r) for r in roles],
                        password=password,
                    ),
                )
                return str(user.id)
            finally:
                await runtime.close()

        try:
            user_id = asyncio.run(go())
        except ProblemError as exc:
            details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
            _fail(f"{exc.detail}{': ' + details if details else ''}")
        click.echo(user_id)

    run()
