"""``arbitral platform-admins``: alliance administrators, from the console."""

from __future__ import annotations

import asyncio
import sys

import click


@click.group("platform-admins")
def command() -> None:
    """Alliance administrators (above the commissions)."""


@command.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True, help="Display name.")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def create(email: str, name: str, password_stdin: bool) -> None:
    """Create an alliance administrator (audited on the platform's trail)."""
    from arbitral.cli import _fail, load_settings, reports_config_errors
    from arbitral.errors import ProblemError

    password = sys.stdin.readline().rstrip("\n")

    @reports_config_errors
    def run() -> None:
        settings = load_settings()

        async def go() -> str:
            from arbitral.auth.platform import create_admin
            from arbitral.db.engine import Database

            db = Database(settings.database)
            await db.open()
            try:
                return str(
                    await create_admin(db, email=email, display_name=name, password=password)
                )
            finally:
                await db.close()

        try:
            click.echo(asyncio.run(go()))
        except (ProblemError, ValueError) as exc:
            _fail(str(getattr(exc, "detail", exc)))

    run()
