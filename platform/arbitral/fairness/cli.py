"""``arbitral fairness report --tenant SLUG``: the fairness watch as a table (audited)."""

from __future__ import annotations

import asyncio

import click


def _format(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@click.group("fairness")
def command() -> None:
    """The fairness watch: per lender, the signs of arbitration in advance."""


@command.command("report")
@click.option("--tenant", "slug", required=True, help="The commission's slug.")
@click.option("--flagged", is_flag=True, help="Only the lenders with a flag raised.")
def report(slug: str, flagged: bool) -> None:
    """Print every lender's figures and flags (the read is audited as the operator)."""
    from arbitral.cli import load_settings, reports_config_errors

    @reports_config_errors
    def run() -> None:
        settings = load_settings()

        async def go() -> list[list[str]]:
            from arbitral.fairness import services
            from arbitral.identity.cli import _tenant_principal
            from arbitral.runtime import build_runtime

            runtime = build_runtime(settings)
            await runtime.open()
            try:
                principal = await _tenant_principal(runtime.db, slug)
                found = await services.list_lenders(runtime, principal)
            finally:
                await runtime.close()
            items = [i for i in found.items if i.flags or not flagged]
            return services.table(items)

        rows = asyncio.run(go())
        if len(rows) == 1:
            click.echo("no lenders", err=True)
            return
        click.echo(_format(rows))

    run()
