"""``arbitral webhooks``: the stand-in receiver a lender's engineer can run."""

from __future__ import annotations

import contextlib

import click

from arbitral.webhooks.domain import TOLERANCE_S


@click.group("webhooks")
def command() -> None:
    """Webhooks to API clients: a stand-in receiver that verifies them."""


@command.command("receive")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8780, show_default=True)
@click.option(
    "--secret",
    envvar="WEBHOOK_SECRET",
    required=True,
    help="The endpoint's signing secret, whsec_... (or the WEBHOOK_SECRET variable).",
)
@click.option(
    "--fail-first",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Answer the first N requests with 500 (to watch the retries).",
)
@click.option(
    "--tolerance",
    type=click.IntRange(1),
    default=TOLERANCE_S,
    show_default=True,
    help="Seconds a webhook-timestamp may differ from this clock.",
)
def receive(host: str, port: int, secret: str, fail_first: int, tolerance: int) -> None:
    """Receive webhooks: verify each, print one JSON line per request, until stopped."""
    from arbitral.webhooks.domain import parse_secret
    from arbitral.webhooks.receiver import run

    try:
        parse_secret(secret)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--secret") from None
    with contextlib.suppress(KeyboardInterrupt):
        run(secret, host, port, fail_first=fail_first, tolerance_s=tolerance)
