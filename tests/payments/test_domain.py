"""Pure parts of payments: Alipay's signature base strings and signatures, verdicts, refunds."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.payments import alipay, domain
from arbitral.payments.domain import Effect, InvoiceLine, InvoiceStatus, Notice
from arbitral.payments.provider import AlipayProvider, NotifyRejected
from arbitral.rules.loader import load_rule_book
from arbitral.settings import ConfigError, parse_payment_url

REPO = Path(__file__).resolve().parents[2]


@cache
def key(name: str) -> rsa.RSAPrivateKey:
    return alipay.new_key()


def test_the_base_string_sorts_skips_empty_values_and_the_signature() -> None:
    params = {
        "timestamp": "2026-11-23 20:00:00",
        "app_id": "2021000000000042",
        "sign": "ignored",
        "biz_content": '{"out_trade_no":"ARB1","total_amount":"287.50"}',
        "return_url": "",
        "method": "alipay.trade.query",
        "sign_type": "RSA2",
    }
    assert alipay.sign_content(params) == (
        "app_id=2021000000000042"
        '&biz_content={"out_trade_no":"ARB1","total_amount":"287.50"}'
        "&method=alipay.trade.query&sign_type=RSA2&timestamp=2026-11-23 20:00:00"
    )
    # A notification's base string leaves out sign_type too.
    assert "sign_type" not in alipay.notify_content(params)
    assert alipay.notify_content(params).startswith("app_id=2021000000000042&biz_content=")


def test_rsa2_is_sha256_with_rsa_pkcs1_v15_over_utf8() -> None:
    content = "out_trade_no=ARB1&subject=仲裁费&total_amount=287.50"
    signature = alipay.rsa2_sign(key("app"), content)
    # Checked independently of our verify: what any Alipay SDK computes.
    key("app").public_key().verify(
        base64.b64decode(signature), content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
    )
    assert alipay.rsa2_verify(key("app").public_key(), content, signature)
    assert not alipay.rsa2_verify(key("app").public_key(), content + "0", signature)
    assert not alipay.rsa2_verify(key("other").public_key(), content, signature)
    assert not alipay.rsa2_verify(key("app").public_key(), content, "not base64!")


@settings(deadline=None, max_examples=50)  # the first example makes an RSA key
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=6))
def test_any_change_to_a_signed_notification_breaks_its_signature(extra: dict[str, str]) -> None:
    params = {k: v for k, v in extra.items() if k not in ("sign", "sign_type")}
    params |= {"notify_id": "n1", "total_amount": "287.50"}
    signature = alipay.rsa2_sign(key("alipay"), alipay.notify_content(params))
    public = key("alipay").public_key()
    assert alipay.rsa2_verify(public, alipay.notify_content(params), signature)
    altered = {**params, "total_amount": "0.01"}
    assert not alipay.rsa2_verify(public, alipay.notify_content(altered), signature)


def test_keys_load_as_pem_or_as_the_bare_base64_alipay_shows() -> None:
    private = key("app")
    pem = alipay.private_pem(private)
    bare = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    assert alipay.load_private_key(bare).private_numbers() == private.private_numbers()
    public_pem = alipay.public_pem(private.public_key())
    bare_public = "".join(line for line in public_pem.splitlines() if "-----" not in line)
    assert alipay.load_public_key(bare_public).public_numbers() == (
        private.public_key().public_numbers()
    )
    with pytest.raises(alipay.ProtocolError):
        alipay.load_private_key("not a key")


def test_an_answer_is_checked_on_its_exact_text() -> None:
    method = "alipay.trade.query"
    content = {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS"}
    body = alipay.signed_response(key("alipay"), method, content)
    assert body.startswith('{"alipay_trade_query_response":{')
    assert alipay.open_response(body, method, key("alipay").public_key()) == content
    tampered = body.replace("TRADE_SUCCESS", "TRADE_CLOSED")
    with pytest.raises(alipay.ProtocolError, match="does not verify"):
        alipay.open_response(tampered, method, key("alipay").public_key())
    with pytest.raises(alipay.ProtocolError):
        alipay.open_response(body, method, key("other").public_key())
    error = alipay.error_response("40002", "Invalid Arguments", "isv.invalid-signature", "x")
    assert alipay.open_response(error, method, key("alipay").public_key())["sub_code"] == (
        "isv.invalid-signature"
    )


def test_amounts_and_times_as_alipay_writes_them() -> None:
    assert alipay.amount_text(Decimal("287.5")) == "287.50"
    assert alipay.parse_amount("287.50") == Decimal("287.50")
    for bad in ("0", "0.001", "1e3", "-1", "NaN", "100000000.01", ""):
        with pytest.raises(alipay.ProtocolError):
            alipay.parse_amount(bad)
    moment = alipay.parse_timestamp("2026-11-24 00:11:43")
    assert alipay.timestamp(moment) == "2026-11-24 00:11:43"
    offset = moment.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 8 * 3600


def test_the_adapter_builds_a_signed_page_pay_url_and_verifies_notifications() -> None:
    provider = AlipayProvider(
        gateway="https://openapi.alipay.com/gateway.do",
        app_id="2021000000000042",
        app_private_key=key("app"),
        alipay_public_key=key("alipay").public_key(),
    )
    due = alipay.parse_timestamp("2026-12-01 23:59:59")
    url = provider.checkout_url(
        out_trade_no="ARB1",
        amount=Decimal("287.50"),
        subject="仲裁费",
        notify_url="https://arbitral.example/t/gz/payments/alipay/notify",
        expires_at=due,
        now=alipay.parse_timestamp("2026-11-24 10:00:00"),
    )
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["method"] == "alipay.trade.page.pay"
    assert json.loads(params["biz_content"]) == {
        "out_trade_no": "ARB1",
        "total_amount": "287.50",
        "subject": "仲裁费",
        "product_code": "FAST_INSTANT_TRADE_PAY",
        "time_expire": "2026-12-01 23:59:59",
    }
    assert alipay.rsa2_verify(key("app").public_key(), alipay.sign_content(params), params["sign"])

    notify = {
        "notify_id": "n1",
        "app_id": "2021000000000042",
        "out_trade_no": "ARB1",
        "trade_no": "2026112422001400000000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "287.50",
    }
    signed = {
        **notify,
        "sign": alipay.rsa2_sign(key("alipay"), alipay.notify_content(notify)),
        "sign_type": "RSA2",
    }
    assert provider.verify_notify(signed) == Notice(
        "n1", "ARB1", "2026112422001400000000000001", "TRADE_SUCCESS", Decimal("287.50"), None
    )
    for forged in (
        {**signed, "total_amount": "0.01"},
        {**signed, "sign_type": "RSA"},
        {k: v for k, v in signed.items() if k != "sign"},
    ):
        with pytest.raises(NotifyRejected):
            provider.verify_notify(forged)


def notice(
    status: str = "TRADE_SUCCESS", amount: str = "287.50", currency: str | None = None
) -> Notice:
    return Notice("n1", "ARB1", "T1", status, Decimal(amount), currency)


@pytest.mark.parametrize(
    ("note", "status", "effect", "reason"),
    [
        (notice(), InvoiceStatus.OPEN, Effect.PAID, "paid"),
        (notice("TRADE_FINISHED"), InvoiceStatus.OPEN, Effect.PAID, "paid"),
        (notice("WAIT_BUYER_PAY"), InvoiceStatus.OPEN, Effect.IGNORED, "trade_status"),
        (notice(amount="287.49"), InvoiceStatus.OPEN, Effect.ANOMALY, "amount_mismatch"),
        (notice(currency="USD"), InvoiceStatus.OPEN, Effect.ANOMALY, "currency_mismatch"),
        (notice(), InvoiceStatus.PAID, Effect.IGNORED, "already_paid"),
        (notice(), InvoiceStatus.CANCELLED, Effect.REFUND, "paid_after_close"),
    ],
)
def test_what_a_verified_notification_does(
    note: Notice, status: InvoiceStatus, effect: Effect, reason: str
) -> None:
    verdict = domain.judge(
        note, status=status, total=Decimal("287.50"), currency="CNY", trade_no="T1"
    )
    assert verdict.effect is effect
    assert verdict.reason.startswith(reason)


def test_withdrawal_refunds_follow_the_rule_set() -> None:
    rules = load_rule_book(REPO / "rules")
    lines = [
        InvoiceLine(
            "acceptance",
            "案件受理费",
            "acceptance fee",
            Decimal("175.00"),
            Decimal("87.50"),
            Decimal("87.50"),
        ),
        InvoiceLine(
            "handling",
            "案件处理费",
            "handling fee",
            Decimal("200.00"),
            Decimal("0.00"),
            Decimal("200.00"),
        ),
    ]
    refunds = rules.get("gba-alliance/online-arbitration", "1.2").refunds
    assert domain.withdrawal_refund(refunds, "fee_paid", lines) == {
        "acceptance": Decimal("70.00"),
        "handling": Decimal("200.00"),
    }
    assert domain.withdrawal_refund(refunds, "evidence_exchange", lines) == {
        "acceptance": Decimal("43.75"),
        "handling": Decimal("160.00"),
    }
    assert domain.withdrawal_refund(refunds, "hearing", lines) == {}
    # Before 1.2 the rule set says nothing: the staff decide.
    assert (
        domain.withdrawal_refund(
            rules.get("gba-alliance/online-arbitration", "1.1").refunds, "fee_paid", lines
        )
        is None
    )


def test_payment_settings_take_references_never_keys() -> None:
    assert parse_payment_url("V", "none") is None
    config = parse_payment_url(
        "V",
        "alipay://openapi.alipay.com/gateway.do?app_id=2021000000000042"
        "&app_private_key=file:/etc/arbitral/app.pem&alipay_public_key=env:ALIPAY_PUBLIC_KEY",
    )
    assert config is not None
    assert config.gateway == "https://openapi.alipay.com/gateway.do"
    assert config.alipay_public_key_ref == "env:ALIPAY_PUBLIC_KEY"
    sandbox = parse_payment_url(
        "V",
        "alipay+http://127.0.0.1:8765/gateway.do?app_id=1&app_private_key=file:/k"
        "&alipay_public_key=file:/p",
    )
    assert sandbox is not None
    assert sandbox.gateway == "http://127.0.0.1:8765/gateway.do"
    for bad in (
        "stripe://x",
        "alipay://openapi.alipay.com/gateway.do?app_id=1&app_private_key=MIIEv&alipay_public_key=file:/p",
        "alipay://openapi.alipay.com/gateway.do?app_id=1&app_private_key=file:/k",
        "alipay://openapi.alipay.com/gateway.do?app_id=1&app_private_key=file:/k&alipay_public_key=file:/p&x=1",
    ):
        with pytest.raises(ConfigError):
            parse_payment_url("V", bad)
