"""The webhook protocol without a database: secrets, signatures, URLs, addresses, backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import pytest

from arbitral.settings import ConfigError
from arbitral.webhooks import domain
from arbitral.webhooks.domain import WebhookVerificationError, verify
from tests.conftest import make_settings

BODY = (
    b'{"data":{"case_id":"c1"},"timestamp":"2026-12-06T10:00:00+00:00","type":"case.state_changed"}'
)


def signed(secret: str, *, msg_id: str = "msg_1", at: int | None = None) -> dict[str, str]:
    return domain.sign_headers([domain.parse_secret(secret)], msg_id, at or int(time.time()), BODY)


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = (
        domain.format_secret(domain.new_secret()),
        domain.format_secret(domain.new_secret()),
    )
    assert first.startswith("whsec_")
    assert first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert domain.parse_secret(first) == base64.b64decode(first[6:])
    with pytest.raises(ValueError, match="base64"):
        domain.parse_secret("whsec_not base64!")


def test_the_signature_is_the_standard_webhooks_one() -> None:
    """Computed independently: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the key bytes."""
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = domain.sign_headers([key], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, BODY)
    expected = base64.b64encode(
        hmac.new(
            key, b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231." + BODY, hashlib.sha256
        ).digest()
    ).decode()
    assert headers == {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": "1674087231",
        "webhook-signature": f"v1,{expected}",
    }
    assert verify(secret, headers, BODY, now=1674087231)["type"] == "case.state_changed"


def test_a_changed_byte_a_wrong_secret_or_an_old_timestamp_fail() -> None:
    secret = domain.format_secret(domain.new_secret())
    headers = signed(secret)
    assert verify(secret, headers, BODY)["data"] == {"case_id": "c1"}
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(secret, headers, BODY.replace(b"c1", b"c2"))
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(secret, {**headers, "webhook-id": "msg_2"}, BODY)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(domain.format_secret(domain.new_secret()), headers, BODY)
    old = signed(secret, at=int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify(secret, old, BODY)
    ahead = signed(secret, at=int(time.time()) + 301)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify(secret, ahead, BODY)
    # Within the tolerance it is fine; a header missing is not.
    assert verify(secret, signed(secret, at=int(time.time()) - 290), BODY)
    missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError, match="webhook-signature"):
        verify(secret, missing, BODY)
    # A v1 entry of another scheme's name, or a truncated one, never matches.
    sig = headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify(secret, {**headers, "webhook-signature": "v1a," + sig[3:]}, BODY)
    with pytest.raises(WebhookVerificationError):
        verify(secret, {**headers, "webhook-signature": sig[:-4]}, BODY)


def test_after_a_rotation_either_secret_verifies() -> None:
    old, new = domain.new_secret(), domain.new_secret()
    headers = domain.sign_headers([new, old], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(domain.format_secret(old), headers, BODY)
    assert verify(domain.format_secret(new), headers, BODY)
    with pytest.raises(WebhookVerificationError):
        verify(domain.format_secret(domain.new_secret()), headers, BODY)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://hooks.lender.example/x", "https"),
        ("http://127.0.0.1:9000/x", "https"),
        ("https://127.0.0.1/x", "address"),
        ("https://localhost/x", "address"),
        ("https://10.1.2.3/x", "address"),
        ("https://192.168.0.10/x", "address"),
        ("https://169.254.169.254/latest/meta-data", "address"),
        ("https://[::1]/x", "address"),
        ("https://[fd00::1]/x", "address"),
        ("https://user:pw@hooks.lender.example/x", "credentials"),
        ("https://hooks.lender.example/x#frag", "format"),
        ("https://hooks.lender.example:99999/x", "format"),
        ("ftp://hooks.lender.example/x", "format"),
        ("hooks.lender.example/x", "format"),
        ("https:///x", "format"),
        ("https://hooks.lender.example/a b", "format"),
        ("https://hooks.lender.example/" + "a" * 2000, "length"),
    ],
)
def test_bad_endpoint_urls_name_the_rule(url: str, rule: str) -> None:
    problem = domain.url_problem(url, insecure=False)
    assert problem is not None
    assert problem[0] == rule


def test_good_endpoint_urls() -> None:
    assert domain.url_problem("https://hooks.lender.example/arbitral?x=1", insecure=False) is None
    assert domain.url_problem("https://203.0.113.9:8443/x", insecure=True) is None
    assert domain.url_problem("https://8.8.8.8/x", insecure=False) is None
    # Development: plain HTTP to the loopback host only.
    assert domain.url_problem("http://127.0.0.1:9000/x", insecure=True) is None
    assert domain.url_problem("http://localhost:9000/x", insecure=True) is None
    assert domain.url_problem("http://hooks.lender.example/x", insecure=True) == (
        "https",
        "webhooks are sent over HTTPS only",
    )


def test_refused_addresses() -> None:
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1%eth0",
        "fd12::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
    ):
        assert domain.refused_address(address), address
    for address in ("8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"):
        assert not domain.refused_address(address), address


def test_backoff_then_give_up() -> None:
    assert domain.backoff(1) == timedelta(seconds=30)
    assert domain.backoff(2) == timedelta(minutes=2)
    assert domain.backoff(5) == timedelta(hours=6)
    assert domain.backoff(domain.MAX_ATTEMPTS - 1) is not None
    assert domain.backoff(domain.MAX_ATTEMPTS) is None
    assert domain.MAX_ATTEMPTS == 8


def test_the_development_switch(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    assert make_settings(root).insecure_webhooks is False
    assert make_settings(root, insecure_webhooks="1").insecure_webhooks is True
    assert make_settings(root, insecure_webhooks="false").insecure_webhooks is False
    with pytest.raises(ConfigError, match="ARBITRAL_INSECURE_WEBHOOKS"):
        make_settings(root, insecure_webhooks="maybe")
