"""The payment provider protocol, and its adapter for Alipay (real, or the sandbox).

:class:`PaymentProvider` is what the payments context needs from any provider: a
checkout URL for the payer, the verification of the provider's signed notification, the
state of a trade, and an idempotent refund. :class:`AlipayProvider` implements it over
the Alipay open platform (see :mod:`arbitral.payments.alipay` for the protocol); pointed
at ``https://openapi.alipay.com/gateway.do`` it collects real money, pointed at
``arbitral payments sandbox`` it collects none, over the same protocol.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from arbitral.payments import alipay
from arbitral.payments.domain import Notice
from arbitral.settings import PaymentConfig

log = structlog.get_logger(__name__)


class NotifyRejected(Exception):
    """A notification that is not the provider's (bad signature, another app, malformed)."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or asked us to try again: retry later."""


class ProviderRefused(Exception):
    """The provider answered, and said no (the message names its code)."""


@dataclass(frozen=True)
class TradeState:
    exists: bool
    status: str | None = None
    amount: Decimal | None = None
    trade_no: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    succeeded: bool
    fund_change: bool
    refunded_total: Decimal | None
    code: str
    sub_code: str | None
    message: str
    raw: Mapping[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def checkout_url(
        self,
        *,
        out_trade_no: str,
        amount: Decimal,
        subject: str,
        notify_url: str,
        expires_at: datetime,
        now: datetime,
        return_url: str | None = None,
    ) -> str:
        """Where the payer's browser goes to pay (the provider's cashier page)."""
        ...

    def verify_notify(self, params: Mapping[str, str]) -> Notice:
        """The notification, if the provider signed it for us; NotifyRejected otherwise."""
        ...

    @property
    def notify_answer(self) -> str:
        """The body that tells the provider a notification was taken."""
        ...

    async def query(self, out_trade_no: str, *, now: datetime) -> TradeState: ...

    async def refund(
        self,
        *,
        out_trade_no: str,
        amount: Decimal,
        out_request_no: str,
        reason: str,
        now: datetime,
    ) -> RefundOutcome:
        """Refund ``amount``; called again with the same ``out_request_no``, refunds nothing
        more (the provider's idempotency key). ProviderUnavailable: try again later."""
        ...


def read_ref(ref: str) -> str:
    """The secret a ``file:/path`` or ``env:NAME`` reference points at."""
    scheme, _, rest = ref.partition(":")
    if scheme == "file":
        return Path(rest).read_text(encoding="utf-8")
    if scheme == "env":
        value = os.environ.get(rest)
        if value is None:
            raise LookupError(f"env:{rest} is not set")
        return value
    raise LookupError(f"{scheme}: is not a secret reference (file:/path or env:NAME)")


class AlipayProvider:
    """The Alipay open platform over HTTP (httpx): page pay, notify, query, refund."""

    name = "alipay"

    def __init__(
        self,
        *,
        gateway: str,
        app_id: str,
        app_private_key: rsa.RSAPrivateKey,
        alipay_public_key: rsa.RSAPublicKey,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.gateway = gateway
        self.app_id = app_id
        self._private = app_private_key
        self._public = alipay_public_key
        self._timeout = timeout_s
        self._transport = transport

    @classmethod
    def from_config(cls, config: PaymentConfig) -> AlipayProvider:
        return cls(
            gateway=config.gateway,
            app_id=config.app_id,
            app_private_key=alipay.load_private_key(read_ref(config.app_private_key_ref)),
            alipay_public_key=alipay.load_public_key(read_ref(config.alipay_public_key_ref)),
        )

    @property
    def notify_answer(self) -> str:
        return alipay.NOTIFY_ANSWER

    def _signed(
        self, method: str, biz: Mapping[str, Any], now: datetime, **extra: str
    ) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": alipay.timestamp(now),
            "version": "1.0",
            "biz_content": json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":")),
            **{k: v for k, v in extra.items() if v},
        }
        params["sign"] = alipay.rsa2_sign(self._private, alipay.sign_content(params))
        return params

    def checkout_url(
        self,
        *,
        out_trade_no: str,
        amount: Decimal,
        subject: str,
        notify_url: str,
        expires_at: datetime,
        now: datetime,
        return_url: str | None = None,
    ) -> str:
        params = self._signed(
            "alipay.trade.page.pay",
            {
                "out_trade_no": out_trade_no,
                "total_amount": alipay.amount_text(amount),
                "subject": subject[:256],
                "product_code": "FAST_INSTANT_TRADE_PAY",
                "time_expire": alipay.timestamp(expires_at),
            },
            now,
            notify_url=notify_url,
            return_url=return_url or "",
        )
        return f"{self.gateway}?{urlencode(params)}"

    def verify_notify(self, params: Mapping[str, str]) -> Notice:
        signature = params.get("sign")
        if not signature:
            raise NotifyRejected("unsigned")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise NotifyRejected(f"sign_type {params.get('sign_type')!r} is not RSA2")
        if not alipay.rsa2_verify(self._public, alipay.notify_content(params), signature):
            raise NotifyRejected("the signature does not verify with the Alipay public key")
        if params.get("app_id") != self.app_id:
            raise NotifyRejected(f"for another app ({params.get('app_id')!r})")
        for name in ("notify_id", "out_trade_no", "trade_no", "trade_status"):
            if not params.get(name):
                raise NotifyRejected(f"{name} is missing")
        try:
            amount = (
                alipay.parse_amount(params["total_amount"]) if "total_amount" in params else None
            )
        except alipay.ProtocolError as exc:
            raise NotifyRejected(str(exc)) from None
        return Notice(
            event_id=params["notify_id"],
            out_trade_no=params["out_trade_no"],
            trade_no=params["trade_no"],
            trade_status=params["trade_status"],
            amount=amount,
            currency=params.get("trans_currency") or None,
        )

    async def _call(self, method: str, biz: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        params = self._signed(method, biz, now)
        body = {"biz_content": params.pop("biz_content")}
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport
            ) as client:
                response = await client.post(
                    f"{self.gateway}?{urlencode(params)}",
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method}: {exc!r}") from None
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{method}: HTTP {response.status_code}")
        try:
            content = alipay.open_response(response.text, method, self._public)
        except alipay.ProtocolError as exc:
            # An answer we cannot trust is no answer: try again (and alarm in the log).
            log.warning("payments.alipay_bad_answer", method=method, problem=str(exc))
            raise ProviderUnavailable(f"{method}: {exc}") from None
        if str(content.get("code")) == "20000":
            raise ProviderUnavailable(f"{method}: {content.get('sub_code')} (service unavailable)")
        return content

    async def query(self, out_trade_no: str, *, now: datetime) -> TradeState:
        content = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no}, now)
        if str(content.get("code")) != alipay.SUCCESS_CODE:
            if content.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return TradeState(exists=False)
            raise ProviderRefused(f"alipay.trade.query: {content.get('sub_code')}")
        return TradeState(
            exists=True,
            status=str(content.get("trade_status")),
            amount=alipay.parse_amount(str(content["total_amount"])),
            trade_no=str(content.get("trade_no")),
        )

    async def refund(
        self,
        *,
        out_trade_no: str,
        amount: Decimal,
        out_request_no: str,
        reason: str,
        now: datetime,
    ) -> RefundOutcome:
        content = await self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": out_trade_no,
                "refund_amount": alipay.amount_text(amount),
                "out_request_no": out_request_no,
                "refund_reason": reason[:256],
            },
            now,
        )
        code = str(content.get("code"))
        refunded = content.get("refund_fee")
        return RefundOutcome(
            succeeded=code == alipay.SUCCESS_CODE,
            fund_change=content.get("fund_change") == "Y",
            refunded_total=Decimal(str(refunded)) if refunded is not None else None,
            code=code,
            sub_code=content.get("sub_code"),
            message=str(content.get("sub_msg") or content.get("msg") or ""),
            raw=content,
        )


@functools.cache
def _provider(config: PaymentConfig) -> PaymentProvider:
    return AlipayProvider.from_config(config)


def provider_for(config: PaymentConfig | None) -> PaymentProvider | None:
    """The provider the settings name (built once per configuration), or None."""
    return None if config is None else _provider(config)
