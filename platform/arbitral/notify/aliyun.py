"""SMS through Alibaba Cloud's Short Message Service (阿里云短信服务): the real adapter.

The protocol, as Alibaba Cloud documents it:

* ``SendSms`` (API version ``2017-05-25``, endpoint ``dysmsapi.aliyuncs.com``),
  https://help.aliyun.com/document_detail/55284.html: ``PhoneNumbers``
  (``+86``/``86``/``0086`` or no prefix), ``SignName`` (an approved signature,
  put between 【】 by the carrier side), ``TemplateCode`` (an approved
  template) with ``TemplateParam`` (a JSON object of the template's
  variables) and ``OutId`` (our reference, returned in delivery reports).
  The answer is JSON: ``{"Code": "OK", "Message": "OK", "BizId": "…^0",
  "RequestId": "…"}``, or a ``Code`` such as ``isv.MOBILE_NUMBER_ILLEGAL`` or
  ``isv.BUSINESS_LIMIT_CONTROL``. The API is *not* idempotent (the document
  says so): the caller must not send twice, which the delivery outbox sees to.
* RPC-style signature version 1.0 (Alibaba Cloud's "Request signatures" for
  RPC APIs, the same for every RPC product): the common parameters
  ``AccessKeyId``, ``Action``, ``Format``, ``RegionId``, ``SignatureMethod =
  HMAC-SHA1``, ``SignatureNonce`` (unique per request), ``SignatureVersion =
  1.0``, ``Timestamp`` (ISO 8601, UTC) and ``Version``; every parameter but
  ``Signature`` sorted by name, names and values percent-encoded as RFC 3986
  says (UTF-8; only ``A-Z a-z 0-9 - _ . ~`` left alone; a space is ``%20``),
  joined ``k=v&…``; ``StringToSign = METHOD & percentEncode("/") &
  percentEncode(query)``; ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&",
  StringToSign))``.
* Delivery reports (``SmsReport``), pushed by HTTP in batches to the URL set
  in the console: a JSON array of ``{"phone_number", "send_time",
  "report_time", "success", "err_code", "err_msg", "sms_size", "biz_id",
  "out_id"}`` (times in Beijing time, ``2017-01-01 00:00:00``), answered with
  ``{"code": 0, "msg": "接收成功"}``; any other answer makes the service push
  again later. The push carries no signature: the receiving URL holds a secret
  token (``report_token``), and a report only counts when its ``biz_id`` is the
  one ``SendSms`` gave for that ``out_id``.

A commission registers one notice template whose text is a variable
(``${content}`` by default, ``template_param`` names it): the rendered notice
goes in that variable. ``arbitral service sms-gateway`` runs a stand-in
that speaks the same protocol (:mod:`arbitral.notify.sms_gateway`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote
from uuid import UUID

import httpx

from arbitral.notify.domain import Channel, DeliveryError

API_VERSION: Final = "2017-05-25"
SIGNATURE_METHOD: Final = "HMAC-SHA1"
SIGNATURE_VERSION: Final = "1.0"
# Codes that no retry will cure: the number, the signature or the template is refused.
PERMANENT_CODES: Final = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.INVALID_PARAMETERS",
    }
)


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, as the signature needs it (``~`` kept, space %20)."""
    return quote(value.encode("utf-8"), safe="-_.~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(query)}"


def sign(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """The ``Signature`` of a request with ``params`` (all but ``Signature`` itself)."""
    digest = hmac.new(
        f"{access_key_secret}&".encode(),
        string_to_sign(method, params).encode("utf-8"),
        hashlib.sha1,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def out_id(tenant_id: UUID, message_id: str) -> str:
    """Our reference in ``OutId``: the tenant and the message (reports name both back)."""
    return f"{tenant_id.hex}.{UUID(message_id).hex}"


def parse_out_id(value: str) -> tuple[UUID, UUID] | None:
    tenant, _, message = value.partition(".")
    try:
        return UUID(hex=tenant), UUID(hex=message)
    except ValueError:
        return None


@dataclass(frozen=True)
class AliyunSmsConfig:
    endpoint: str  # https://dysmsapi.aliyuncs.com/
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str
    template_code: str
    template_param: str = "content"
    region: str = "cn-hangzhou"
    timeout_s: float = 10.0


def send_sms_params(
    config: AliyunSmsConfig, phone: str, text: str, reference: str, *, now: datetime
) -> dict[str, str]:
    """The signed parameters of one ``SendSms`` request (POST, form-encoded)."""
    params = {
        "AccessKeyId": config.access_key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "RegionId": config.region,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureNonce": uuid.uuid4().hex,
        "SignatureVersion": SIGNATURE_VERSION,
        "Timestamp": timestamp(now),
        "Version": API_VERSION,
        "PhoneNumbers": phone,
        "SignName": config.sign_name,
        "TemplateCode": config.template_code,
        "TemplateParam": json.dumps({config.template_param: text}, ensure_ascii=False),
        "OutId": reference,
    }
    params["Signature"] = sign("POST", params, config.access_key_secret)
    return params


class AliyunSmsSender:
    """Sends SMS through ``SendSms``; returns the ``BizId`` (the reports' ``biz_id``)."""

    def __init__(
        self,
        config: AliyunSmsConfig,
        tenant_id: UUID | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.tenant_id = tenant_id
        self._transport = transport

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str:
        if channel is not Channel.SMS:
            raise DeliveryError(f"the SMS gateway does not carry {channel.value}", permanent=True)
        reference = out_id(self.tenant_id, idempotency_key) if self.tenant_id else idempotency_key
        params = send_sms_params(self.config, destination, body, reference, now=datetime.now(UTC))
        async with httpx.AsyncClient(
            timeout=self.config.timeout_s, transport=self._transport
        ) as client:
            response = await client.post(self.config.endpoint, data=params)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            raise DeliveryError(
                f"the SMS gateway answered {response.status_code} without JSON"
            ) from None
        code = str(answer.get("Code", ""))
        if code == "OK" and answer.get("BizId"):
            return str(answer["BizId"])
        message = str(answer.get("Message", ""))[:200]
        raise DeliveryError(
            f"SendSms refused: {code or response.status_code} {message}".strip(),
            permanent=code in PERMANENT_CODES,
        )


@dataclass(frozen=True)
class Report:
    """One delivery report of an ``SmsReport`` push."""

    tenant_id: UUID
    message_id: UUID
    biz_id: str
    success: bool
    code: str
    detail: str
    reported_at: str


def parse_reports(payload: object) -> tuple[list[Report], int]:
    """The reports of a push that name one of our messages, and how many did not."""
    if not isinstance(payload, list):
        raise ValueError("an SmsReport push is a JSON array")
    found: list[Report] = []
    strangers = 0
    for item in payload:
        if not isinstance(item, dict):
            strangers += 1
            continue
        ids = parse_out_id(str(item.get("out_id") or ""))
        if ids is None or not item.get("biz_id") or not isinstance(item.get("success"), bool):
            strangers += 1
            continue
        found.append(
            Report(
                tenant_id=ids[0],
                message_id=ids[1],
                biz_id=str(item["biz_id"])[:200],
                success=bool(item["success"]),
                code=str(item.get("err_code") or "")[:60],
                detail=str(item.get("err_msg") or "")[:200],
                reported_at=str(item.get("report_time") or "")[:40],
            )
        )
    return found, strangers
