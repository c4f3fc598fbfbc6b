"""``arbitral document``: check a signed document offline; ``arbitral service tsa``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cryptography import x509

from arbitral.documents.verify import verify_pdf

EXIT_GENUINE = 0
EXIT_NOT_GENUINE = 1
EXIT_USAGE = 2


@click.group("document")
def command() -> None:
    """The commission's signed documents (awards, notices, statements)."""


@command.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    "trust",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "PEM file of the commission's CA certificates (repeatable): "
        "`arbitral keys document-ca --tenant SLUG` or GET /t/SLUG/documents/ca.pem."
    ),
)
@click.option(
    "--tsa-trust",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM file of a timestamp authority's root (repeatable); untrusted timestamps are shown.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(file: Path, trust: tuple[Path, ...], tsa_trust: tuple[Path, ...], as_json: bool) -> None:
    """Say whether FILE is a genuine, unaltered document signed under the trusted CA.

    Offline: nothing is fetched. Exit status 0 genuine, 1 not genuine, 2 usage.
    """
    if not trust:
        _usage(
            "give the commission's CA with --trust CA.pem "
            "(arbitral keys document-ca --tenant SLUG > ca.pem)"
        )
    anchors = [cert for path in trust for cert in _certificates("--trust", path)]
    tsa_anchors = [cert for path in tsa_trust for cert in _certificates("--tsa-trust", path)]
    try:
        pdf = file.read_bytes()
    except OSError as exc:
        _usage(f"FILE: cannot read {file}: {exc.strerror}")
    result = verify_pdf(pdf, anchors, tsa_anchors=tsa_anchors)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{file}: {'GENUINE' if result.genuine else 'NOT GENUINE'}")
        click.echo(f"  {result.detail}")
        if result.signer_subject:
            click.echo(f"  signer        {result.signer_subject}")
        if result.signed_at:
            click.echo(f"  signed at     {result.signed_at.isoformat()}")
        click.echo(f"  timestamp     {result.timestamp}")
        if result.genuine:
            if result.case_number:
                click.echo(f"  case          {result.case_number}")
            if result.verification_code:
                click.echo(f"  code          {result.verification_code}")
    sys.exit(EXIT_GENUINE if result.genuine else EXIT_NOT_GENUINE)


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _certificates(option: str, path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        _usage(f"{option}: cannot read {path}: {exc.strerror}")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        _usage(f"{option}: {path} holds no PEM certificate")
    raise AssertionError("unreachable")


@click.command("tsa")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9318, show_default=True)
@click.option(
    "--keys",
    "directory",
    default="var/tsa",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the TSA's root and key are kept (made on first start); tsa-ca.pem is the root.",
)
def tsa_command(host: str, port: int, directory: Path) -> None:
    """Run a stand-in RFC 3161 timestamp authority (POST application/timestamp-query).

    Point the platform at it with ARBITRAL_TSA_URL=http://HOST:PORT/ and give
    verifiers its root: `arbitral document verify --tsa-trust KEYS/tsa-ca.pem`.
    """
    import uvicorn

    from arbitral.documents.tsa import CA_FILE, create_tsa_app, load_or_create_tsa_keys
    from arbitral.logs import configure_logging

    configure_logging("INFO", "console")
    keys = load_or_create_tsa_keys(directory)
    click.echo(f"stand-in TSA on http://{host}:{port}/ (root: {directory / CA_FILE})", err=True)
    uvicorn.run(create_tsa_app(keys), host=host, port=port, log_level="warning", lifespan="off")
