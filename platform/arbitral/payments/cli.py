"""``arbitral payments``: the sandbox payment provider and its keys.

``arbitral payments keygen DIR`` writes two RSA key pairs (the app's and the sandbox's)
and prints the ``ARBITRAL_PAYMENT_URL`` that points the platform at the sandbox;
``arbitral payments sandbox --keys DIR`` runs the sandbox (its own HTTP server, speaking
Alipay's protocol) until stopped.
"""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_APP_ID = "2021000000000001"


@click.group("payments")
def command() -> None:
    """The payment provider: the Alipay sandbox and its keys."""


@command.command("keygen")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--app-id", default=DEFAULT_APP_ID, show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
def keygen(directory: Path, app_id: str, port: int) -> None:
    """Write the app's and the sandbox's RSA key pairs into DIRECTORY (PEM files)."""
    from arbitral.payments.sandbox import payment_url, write_keys

    paths = write_keys(directory)
    for name, path in paths.items():
        click.echo(f"{name}: {path}", err=True)
    click.echo(
        "export ARBITRAL_PAYMENT_URL='"
        + payment_url(f"http://127.0.0.1:{port}/gateway.do", directory, app_id)
        + "'"
    )


@command.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option(
    "--keys",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The directory arbitral payments keygen wrote.",
)
@click.option("--app-id", default=DEFAULT_APP_ID, show_default=True)
@click.option("--state", default=":memory:", show_default=True, help="A SQLite file for the state.")
@click.option(
    "--notify-schedule",
    default="1,2,4,8,15,30,60",
    show_default=True,
    help="Seconds between notify attempts until the merchant answers success "
    "(Alipay: 240,600,600,3600,7200,21600,54000).",
)
def sandbox(
    host: str, port: int, keys: Path, app_id: str, state: str, notify_schedule: str
) -> None:
    """Run the sandbox provider (Alipay's gateway, cashier page and notify) until stopped."""
    from arbitral.logs import configure_logging
    from arbitral.payments.sandbox import run_sandbox, sandbox_config

    try:
        schedule = [float(s) for s in notify_schedule.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(
            "seconds, comma-separated", param_hint="--notify-schedule"
        ) from None
    configure_logging("INFO", "console")
    config = sandbox_config(keys, app_id, state=state, schedule=schedule)
    click.echo(f"Alipay sandbox at http://{host}:{port}/gateway.do (app_id {app_id})", err=True)
    run_sandbox(config, host, port)
