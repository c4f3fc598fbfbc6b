"""A stand-in for Alibaba Cloud's SMS API, its own process (``arbitral service sms-gateway``).

It speaks the subset of the protocol the adapter (:mod:`arbitral.notify.aliyun`,
where the protocol and its sources are described) uses, as the real service does:

* ``SendSms`` by GET or POST (form-encoded), with the RPC signature version 1.0
  checked: a known ``AccessKeyId`` (else ``InvalidAccessKeyId.NotFound``), the
  signature (``SignatureDoesNotMatch``, HTTP 400), a ``Timestamp`` within 15
  minutes (``InvalidTimeStamp.Expired``), a ``SignatureNonce`` never seen
  before (``SignatureNonceUsed``); then the business checks, answered with HTTP
  200 and a ``Code``: the numbers (``isv.MOBILE_NUMBER_ILLEGAL``), the
  signature name (``isv.SMS_SIGNATURE_ILLEGAL``), the template
  (``isv.SMS_TEMPLATE_ILLEGAL``), the template parameters
  (``isv.INVALID_JSON_PARAM``). Accepted: ``{"Code": "OK", "BizId": …}``.
  Like the real API it is not idempotent: the same request twice sends twice.
* Delivery reports pushed to ``--report-url`` as ``SmsReport`` arrays, after
  ``--report-delay`` seconds: ``DELIVERED`` for every number, except those
  given with ``--fail`` (``success: false``) and ``--silent`` (never
  reported). A push answered with anything but ``{"code": 0}`` is pushed again
  (up to ``--report-retries`` times, backing off), as the real service does.

``GET /_stand-in/messages`` lists what it accepted (for tests and demos: the
real service has its console for that).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx
import structlog
from litestar import Litestar, Request, Response, get, route

from arbitral.notify.aliyun import API_VERSION, SIGNATURE_METHOD, SIGNATURE_VERSION, sign

log = structlog.get_logger(__name__)

BEIJING: Final = ZoneInfo("Asia/Shanghai")
MAX_SKEW: Final = timedelta(minutes=15)


def normalize_number(raw: str) -> str | None:
    """A mainland mobile number without its country prefix, or None if it is not one."""
    number = raw.strip()
    for prefix in ("+86", "0086", "86"):
        if number.startswith(prefix) and len(number) == len(prefix) + 11:
            number = number[len(prefix) :]
            break
    if len(number) == 11 and number.isdigit() and number.startswith("1"):
        return number
    return None


@dataclass
class GatewayConfig:
    access_keys: Mapping[str, str]  # AccessKeyId -> AccessKeySecret
    sign_names: frozenset[str]
    template_codes: frozenset[str]
    report_url: str | None
    fail: frozenset[str] = frozenset()
    silent: frozenset[str] = frozenset()
    report_delay_s: float = 0.2
    report_retries: int = 8


@dataclass
class Accepted:
    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    template_param: dict[str, Any]
    out_id: str
    accepted_at: str


@dataclass
class Gateway:
    config: GatewayConfig
    accepted: list[Accepted] = field(default_factory=list)
    nonces: dict[str, datetime] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def check(self, method: str, params: Mapping[str, str], now: datetime) -> dict[str, Any]:
        """The answer to one request (``HTTPStatus`` in ``_status``)."""
        request_id = str(uuid.uuid4()).upper()

        def refuse(code: str, message: str, status: int = 400) -> dict[str, Any]:
            return {"RequestId": request_id, "Code": code, "Message": message, "_status": status}

        for name in (
            "AccessKeyId",
            "Action",
            "SignatureMethod",
            "SignatureNonce",
            "SignatureVersion",
            "Timestamp",
            "Version",
            "Signature",
        ):
            if not params.get(name):
                return refuse(f"MissingParameter.{name}", f"{name} is mandatory")
        secret = self.config.access_keys.get(params["AccessKeyId"])
        if secret is None:
            return refuse("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if (
            params["SignatureMethod"] != SIGNATURE_METHOD
            or params["SignatureVersion"] != SIGNATURE_VERSION
        ):
            return refuse("InvalidSignatureMethod", "HMAC-SHA1 signature version 1.0 only")
        expected = sign(method, params, secret)
        given = params["Signature"]
        try:
            matches = hmac.compare_digest(base64.b64decode(expected), base64.b64decode(given))
        except ValueError:
            matches = False
        if not matches:
            return refuse(
                "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        try:
            at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return refuse("InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs(now - at) > MAX_SKEW:
            return refuse(
                "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        for nonce, seen in list(self.nonces.items()):
            if now - seen > MAX_SKEW * 2:
                del self.nonces[nonce]
        if params["SignatureNonce"] in self.nonces:
            return refuse("SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces[params["SignatureNonce"]] = now
        if params["Action"] != "SendSms" or params["Version"] != API_VERSION:
            return refuse("InvalidAction.NotFound", "Specified api is not found.", 404)

        def business(code: str, message: str) -> dict[str, Any]:
            return {"RequestId": request_id, "Code": code, "Message": message, "_status": 200}

        numbers = [normalize_number(n) for n in params.get("PhoneNumbers", "").split(",")]
        if not numbers or any(n is None for n in numbers) or len(numbers) > 1000:
            return business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") not in self.config.sign_names:
            return business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if params.get("TemplateCode") not in self.config.template_codes:
            return business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            template_param = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            template_param = None
        if not isinstance(template_param, dict) or not all(
            isinstance(v, str) for v in template_param.values()
        ):
            return business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        biz_id = f"{secrets.randbelow(10**18):018d}^0"
        stamp = now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        batch = [
            Accepted(
                biz_id=biz_id,
                phone=str(number),
                sign_name=params["SignName"],
                template_code=params["TemplateCode"],
                template_param=template_param,
                out_id=params.get("OutId", ""),
                accepted_at=stamp,
            )
            for number in numbers
        ]
        self.accepted.extend(batch)
        self.schedule_reports(batch)
        return {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id}

    def schedule_reports(self, batch: Iterable[Accepted]) -> None:
        if not self.config.report_url:
            return
        reports = [
            _report(item, delivered=item.phone not in self.config.fail)
            for item in batch
            if item.phone not in self.config.silent
        ]
        if reports:
            task = asyncio.get_running_loop().create_task(self.push(reports))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def push(self, reports: list[dict[str, Any]]) -> None:
        assert self.config.report_url
        delay = self.config.report_delay_s
        for attempt in range(1, self.config.report_retries + 1):
            await asyncio.sleep(delay)
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(self.config.report_url, json=reports)
                answer = response.json() if response.status_code == 200 else {}
                if isinstance(answer, dict) and answer.get("code") == 0:
                    log.info("sms_gateway.reported", count=len(reports), attempt=attempt)
                    return
                log.info("sms_gateway.report_refused", status=response.status_code, answer=answer)
            except (httpx.HTTPError, ValueError) as exc:
                log.info("sms_gateway.report_failed", error=str(exc), attempt=attempt)
            delay = min(delay * 2, 30.0)
        log.warning("sms_gateway.report_given_up", count=len(reports))


def _report(item: Accepted, *, delivered: bool) -> dict[str, Any]:
    now = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "phone_number": item.phone,
        "send_time": item.accepted_at,
        "report_time": now,
        "success": delivered,
        "err_code": "DELIVERED" if delivered else "UNDELIV",
        "err_msg": "用户接收成功" if delivered else "the stand-in was told to fail this number",
        "sms_size": "1",
        "biz_id": item.biz_id,
        "out_id": item.out_id,
    }


def create_gateway_app(config: GatewayConfig) -> Litestar:
    gateway = Gateway(config)

    @route("/", http_method=["GET", "POST"], sync_to_thread=False)
    async def rpc(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        answer = gateway.check(request.method, params, datetime.now(UTC))
        status = int(answer.pop("_status", 200))
        return Response(answer, status_code=status)

    @get("/_stand-in/messages", sync_to_thread=False)
    def messages() -> list[dict[str, Any]]:
        return [item.__dict__ for item in gateway.accepted]

    app = Litestar(route_handlers=[rpc, messages], debug=False)
    app.state.gateway = gateway
    return app
