"""``arbitral service``: the stand-ins that run as their own process (SMS gateway, TSA)."""

from __future__ import annotations

import click


def _numbers(raw: tuple[str, ...]) -> frozenset[str]:
    from arbitral.notify.sms_gateway import normalize_number

    found: set[str] = set()
    for item in raw:
        for part in item.split(","):
            if not part.strip():
                continue
            number = normalize_number(part)
            if number is None:
                raise click.BadParameter(f"{part!r} is not a mainland mobile number")
            found.add(number)
    return frozenset(found)


@click.group()
def command() -> None:
    """Stand-ins of outside services: the SMS gateway, an RFC 3161 timestamp authority."""


@command.command("sms-gateway")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9080, show_default=True)
@click.option("--access-key-id", default="stand-in-key", show_default=True)
@click.option(
    "--access-key-secret",
    envvar="SMS_GATEWAY_ACCESS_KEY_SECRET",
    required=True,
    help="The secret the adapter signs with (or SMS_GATEWAY_ACCESS_KEY_SECRET).",
)
@click.option("--sign-name", multiple=True, required=True, help="An approved SMS signature.")
@click.option("--template-code", multiple=True, required=True, help="An approved template.")
@click.option("--report-url", help="Where delivery reports (SmsReport) are pushed.")
@click.option("--fail", multiple=True, help="Numbers whose delivery fails (comma-separated).")
@click.option("--silent", multiple=True, help="Numbers never reported on (comma-separated).")
@click.option("--report-delay", type=float, default=0.2, show_default=True)
def sms_gateway(
    host: str,
    port: int,
    access_key_id: str,
    access_key_secret: str,
    sign_name: tuple[str, ...],
    template_code: tuple[str, ...],
    report_url: str | None,
    fail: tuple[str, ...],
    silent: tuple[str, ...],
    report_delay: float,
) -> None:
    """Run a stand-in of Alibaba Cloud's SMS API (SendSms, signed; SmsReport pushes).

    Point the platform at it with
    ARBITRAL_SMS_URL='aliyun+http://HOST:PORT/?access_key_id=…&access_key_secret=env:NAME
    &sign_name=…&template_code=…&report_token=env:NAME' and give --report-url
    http(s)://PLATFORM/hooks/sms/aliyun/TOKEN.
    """
    import uvicorn

    from arbitral.logs import configure_logging
    from arbitral.notify.sms_gateway import GatewayConfig, create_gateway_app

    configure_logging("INFO", "console")
    app = create_gateway_app(
        GatewayConfig(
            access_keys={access_key_id: access_key_secret},
            sign_names=frozenset(sign_name),
            template_codes=frozenset(template_code),
            report_url=report_url,
            fail=_numbers(fail),
            silent=_numbers(silent),
            report_delay_s=report_delay,
        )
    )
    click.echo(f"stand-in SMS gateway on http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")


def _add_tsa() -> None:
    from arbitral.documents.cli import tsa_command

    command.add_command(tsa_command)


_add_tsa()
