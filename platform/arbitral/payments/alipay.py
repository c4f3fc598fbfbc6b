"""The subset of the Alipay open platform protocol (支付宝开放平台) that Arbitral speaks.

Shared by the adapter (:class:`arbitral.payments.provider.AlipayProvider`, which talks to
real Alipay) and the sandbox provider (:mod:`arbitral.payments.sandbox`, which plays
Alipay's side of the same protocol). No I/O here: signatures, base strings, formats.

What is implemented, as the open platform documents it (opendocs.alipay.com, "开放平台
服务端 API", 电脑网站支付 alipay.trade.page.pay, 统一收单 alipay.trade.query /
alipay.trade.refund, and "异步通知说明"; the official SDKs, e.g.
alipay/alipay-sdk-python-all ``DefaultAlipayClient`` and ``SignatureUtils``, do the same):

- **Requests** go to the gateway (``https://openapi.alipay.com/gateway.do``) with the
  public parameters ``app_id``, ``method``, ``format=JSON``, ``charset=utf-8``,
  ``sign_type=RSA2``, ``timestamp`` (``yyyy-MM-dd HH:mm:ss``, Beijing time),
  ``version=1.0``, optionally ``notify_url`` and ``return_url``, and ``biz_content``
  (the method's own parameters as one JSON string).
- **Request signature** (RSA2): every parameter except ``sign`` whose value is not
  empty, sorted by name (byte order), joined as ``k1=v1&k2=v2`` with the raw values (no
  URL encoding), signed with the app's private key by SHA256withRSA (PKCS#1 v1.5),
  base64. The gateway checks it with the app public key the merchant uploaded.
- **Responses** are JSON ``{"<method with _>_response": {...}, "sign": "..."}``; the
  signature is Alipay's (its private key) over the *exact text* of the
  ``..._response`` value, so the client checks it on the raw substring before parsing.
  ``code`` ``10000`` is success; ``40004`` a business failure with ``sub_code``
  (``ACQ.TRADE_NOT_EXIST``, ...); ``20000`` a service problem (try again); gateway-level
  errors come as ``error_response`` (``40002`` ``isv.invalid-signature``, ...).
- **alipay.trade.page.pay**: the payer's browser is sent to the gateway with the signed
  parameters (GET); biz_content ``out_trade_no`` (the merchant's number, unique per
  merchant, at most 64), ``total_amount`` (yuan, two decimals, 0.01 to 100000000),
  ``subject``, ``product_code=FAST_INSTANT_TRADE_PAY``, ``time_expire`` (the absolute
  time after which the trade cannot be paid). Alipay shows its cashier page.
- **Asynchronous notify**: when a trade changes (paid: ``trade_status`` ``TRADE_SUCCESS``
  or ``TRADE_FINISHED``), Alipay POSTs ``application/x-www-form-urlencoded`` parameters
  (``notify_id``, ``notify_time``, ``notify_type=trade_status_sync``, ``app_id``,
  ``trade_no``, ``out_trade_no``, ``trade_status``, ``total_amount``, ``gmt_payment``,
  ``seller_id``, ..., ``sign_type``, ``sign``) to ``notify_url``. The merchant verifies
  the signature over every parameter except ``sign`` **and** ``sign_type`` (sorted, raw,
  as above) with the Alipay public key, checks ``app_id``, ``out_trade_no`` and
  ``total_amount`` against its own order, and answers the seven characters ``success``;
  anything else and Alipay sends it again (4m, 10m, 10m, 1h, 2h, 6h, 15h: eight times in
  25 hours). The same notification keeps its ``notify_id``.
- **alipay.trade.query** (``out_trade_no``): ``trade_status``, ``total_amount``,
  ``trade_no``; ``ACQ.TRADE_NOT_EXIST`` before the payer opened the cashier.
- **alipay.trade.refund** (``out_trade_no``, ``refund_amount``, ``out_request_no``,
  ``refund_reason``): ``out_request_no`` identifies one refund; sent again with the same
  value it refunds nothing more and answers ``fund_change`` ``N`` (idempotent), and the
  refunds of a trade never exceed what was paid (``ACQ.REASON_TRADE_REFUND_FEE_ERR``).
  ``refund_fee`` in the answer is the total refunded on the trade so far.

Not implemented: RSA (SHA1) signatures, public-key certificates (公钥证书模式),
``encrypt_type`` AES content encryption, ``alipay.trade.precreate`` (QR codes),
``alipay.trade.close``, refund notifications and refund queries.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BEIJING: Final = ZoneInfo("Asia/Shanghai")
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
SUCCESS_CODE: Final = "10000"
BUSINESS_FAILED: Final = "40004"
PAID_STATUSES: Final = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
MAX_AMOUNT: Final = Decimal("100000000")
_AMOUNT: Final = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?", re.ASCII)
NOTIFY_ANSWER: Final = "success"
# The resending schedule of real Alipay, in seconds (the sandbox may compress it).
NOTIFY_SCHEDULE: Final = (240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)


class ProtocolError(ValueError):
    """A message that does not follow the protocol (the message says how)."""


def sign_content(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    """The signature base string: non-empty parameters but ``exclude``, sorted, ``k=v&…``."""
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in exclude and params[key] is not None and params[key] != ""
    )


def notify_content(params: Mapping[str, str]) -> str:
    """The base string of an asynchronous notify: ``sign`` and ``sign_type`` left out."""
    return sign_content(params, exclude=("sign", "sign_type"))


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over the UTF-8 bytes of ``content``, base64."""
    signature = key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(key: rsa.RSAPublicKey, content: str | bytes, signature: str) -> bool:
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """A PEM key (PKCS#1 or PKCS#8), or the bare base64 Alipay's key tool writes."""
    data = text.strip()
    try:
        if data.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(data.encode(), password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode(data), password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProtocolError(f"not an RSA private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProtocolError("not an RSA private key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """A PEM public key, or the bare base64 (SubjectPublicKeyInfo) Alipay shows."""
    data = text.strip()
    try:
        if data.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(data.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(data))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProtocolError(f"not an RSA public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProtocolError("not an RSA public key")
    return key


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def timestamp(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, as every Alipay time is written."""
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        raise ProtocolError(f"not a time as yyyy-MM-dd HH:mm:ss: {text!r}") from None


def amount_text(amount: Decimal) -> str:
    """Yuan with exactly two decimals (``"1250.00"``)."""
    return f"{amount.quantize(Decimal('0.01')):.2f}"


def parse_amount(text: str) -> Decimal:
    """An amount as Alipay writes it (``"1250.00"``); ProtocolError when it is not one."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise ProtocolError(f"not an amount in yuan such as 1250.00: {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ProtocolError(f"not an amount: {text!r}") from None
    if value < Decimal("0.01") or value > MAX_AMOUNT:
        raise ProtocolError(f"not an amount in yuan between 0.01 and 100000000: {text!r}")
    return value.quantize(Decimal("0.01"))


def response_key(method: str) -> str:
    """``alipay.trade.query`` → ``alipay_trade_query_response``."""
    return method.replace(".", "_") + "_response"


def signed_response(key: rsa.RSAPrivateKey, method: str, content: Mapping[str, Any]) -> str:
    """The body Alipay answers an API call with: the content and its signature."""
    text = json.dumps(dict(content), ensure_ascii=False, separators=(",", ":"))
    return f'{{"{response_key(method)}":{text},"sign":"{rsa2_sign(key, text)}"}}'  # the exact text


def error_response(code: str, msg: str, sub_code: str, sub_msg: str) -> str:
    """A gateway-level refusal (bad signature, bad app id): ``error_response``, unsigned."""
    return json.dumps(
        {"error_response": {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def open_response(text: str, method: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The content of an API answer, its signature checked on the raw text first.

    ProtocolError when the answer is not signed by ``key`` (or is not an answer); a
    gateway-level ``error_response`` comes back as its content (code, sub_code), since
    Alipay does not sign those when it cannot tell who asked.
    """
    name = f'"{response_key(method)}":'
    start = text.find(name)
    if start < 0:
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ProtocolError("the answer is not JSON") from None
        error = parsed.get("error_response") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            return {str(k): v for k, v in error.items()}
        raise ProtocolError(f"the answer has no {response_key(method)}")
    marker = ',"sign":"'
    end = text.rfind(marker)
    if end < start:
        raise ProtocolError("the answer is not signed")
    content = text[start + len(name) : end].strip()
    signature = text[end + len(marker) : text.find('"', end + len(marker))]
    if not rsa2_verify(key, content, signature):
        raise ProtocolError("the answer's signature does not verify")
    try:
        parsed_content = json.loads(content)
    except ValueError:
        raise ProtocolError("the answer's content is not JSON") from None
    if not isinstance(parsed_content, dict):
        raise ProtocolError("the answer's content is not an object")
    return parsed_content
