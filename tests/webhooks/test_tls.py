"""HTTPS to a pinned address: the certificate is still checked against the URL's host."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from arbitral.webhooks import domain, services
from arbitral.webhooks.receiver import Receiver


def localhost_certificate(directory: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for the name ``localhost`` only (no IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext]]:
    cert_path, key_path, pem = localhost_certificate(tmp_path)
    receiver = Receiver(domain.format_secret(domain.new_secret()))
    receiver.bind()
    server = receiver._server
    assert server is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=pem.decode())
    yield receiver, client
    receiver.stop()
    thread.join(timeout=5)


async def test_https_is_verified_against_the_host_not_the_address(
    tls_receiver: tuple[Receiver, ssl.SSLContext],
) -> None:
    receiver, trust = tls_receiver
    body = b'{"type":"batch.completed"}'
    headers = domain.sign_headers(
        [domain.parse_secret(receiver.secret)], "evt_tls", int(time.time()), body
    )
    # Connected to 127.0.0.1, TLS names localhost: the certificate matches.
    ok = await services.post_event(
        f"https://localhost:{receiver.port}/hook", body, headers, insecure=True, verify=trust
    )
    assert ok.status_code == 204, ok.error
    ((seen, _),) = receiver.requests
    assert seen["host"] == f"localhost:{receiver.port}"
    # The same server named by its address: the certificate does not cover it.
    wrong = await services.post_event(
        f"https://127.0.0.1:{receiver.port}/hook", body, headers, insecure=True, verify=trust
    )
    assert wrong.status_code is None
    assert wrong.error is not None
    assert "certificate" in wrong.error.lower() or "ssl" in wrong.error.lower()
    # And the system's trust store does not know this certificate at all.
    untrusted = await services.post_event(
        f"https://localhost:{receiver.port}/hook", body, headers, insecure=True
    )
    assert untrusted.status_code is None
    assert len(receiver.verified()) == 1
