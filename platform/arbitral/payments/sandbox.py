"""A sandbox payment provider: Alipay's side of the protocol, as its own HTTP server.

``arbitral payments sandbox --port 8765 --keys DIR --app-id ID`` runs it in its own
process (uvicorn), the way Alipay's own sandbox (openapi-sandbox.dl.alipaydev.com) is
another server: nothing of it lives in the platform's processes, and the platform
reaches it only through :class:`arbitral.payments.provider.AlipayProvider`, exactly as
it reaches real Alipay. What it does (the protocol is in :mod:`arbitral.payments.alipay`):

- ``GET|POST /gateway.do``: the open-platform gateway. Every call's RSA2 signature is
  checked with the app public key (``error_response`` ``40002``
  ``isv.invalid-signature`` otherwise), its ``app_id`` too. ``alipay.trade.page.pay``
  opens (or re-opens: same ``out_trade_no``, same amount) a trade and sends the browser
  to the cashier page; ``alipay.trade.query`` and ``alipay.trade.refund`` answer signed
  JSON (the refund idempotent on ``out_request_no``, never above what was paid).
- ``GET /cashier/{trade_no}``: the cashier page (HTML), where the payer clicks pay
  (``POST .../pay``) or cancel (``POST .../cancel``: the trade stays payable until its
  ``time_expire``). Paying after ``time_expire`` closes the trade instead.
- Once paid, the signed asynchronous notify (``trade_status_sync``) is POSTed to the
  trade's ``notify_url`` and sent again, with the same ``notify_id``, on the retry
  schedule (``--notify-schedule``, seconds; Alipay's own is 4m, 10m, 10m, 1h, 2h, 6h,
  15h) until the merchant answers ``success``.
- ``/sandbox/...`` is the sandbox's own console, not Alipay's protocol:
  ``GET /sandbox/trades/{out_trade_no}`` (the trade, its refunds and every notify
  attempt) and ``POST /sandbox/trades/{out_trade_no}/notify`` (deliver the trade's
  notification once more, now: what a resending Alipay does).

State is one SQLite database (``--state FILE``; in memory by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.response import Redirect

from arbitral.payments import alipay
from arbitral.settings import Settings, parse_payment_url

log = structlog.get_logger(__name__)

AnyRequest = Request[Any, Any, Any]
SELLER_ID: Final = "2088000000000001"
BUYER_ID: Final = "2088000000000002"
METHODS: Final = ("alipay.trade.page.pay", "alipay.trade.query", "alipay.trade.refund")
MAX_BODY: Final = 64 * 1024

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS trade (trade_no TEXT PRIMARY KEY, out_trade_no TEXT UNIQUE, "
    "app_id TEXT, total_amount TEXT, subject TEXT, status TEXT, notify_url TEXT, "
    "return_url TEXT, time_expire TEXT, created_at TEXT, paid_at TEXT)",
    "CREATE TABLE IF NOT EXISTS refund (trade_no TEXT, out_request_no TEXT, amount TEXT, "
    "reason TEXT, created_at TEXT, PRIMARY KEY (trade_no, out_request_no))",
    "CREATE TABLE IF NOT EXISTS notification (notify_id TEXT PRIMARY KEY, trade_no TEXT, "
    "url TEXT, params TEXT, attempts INTEGER, next_at REAL, delivered_at TEXT, "
    "last_status INTEGER, last_answer TEXT)",
    "CREATE TABLE IF NOT EXISTS attempt (notify_id TEXT, at TEXT, status INTEGER, answer TEXT)",
)


@dataclass(frozen=True)
class SandboxConfig:
    app_id: str
    alipay_private_key: rsa.RSAPrivateKey
    app_public_key: rsa.RSAPublicKey
    state: str = ":memory:"
    notify_schedule: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
    tick_s: float = 0.1


class SandboxState:
    """The sandbox's trades, refunds and notifications (one SQLite database)."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            for statement in _SCHEMA:
                self._db.execute(statement)

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def atomically(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class Sandbox:
    """The provider's logic, independent of HTTP (the routes below call it)."""

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], datetime] | None = None):
        self.config = config
        self.state = SandboxState(config.state)
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- the gateway ---------------------------------------------------------------------

    def check_call(self, params: Mapping[str, str]) -> str | None:
        """Why the call is refused at the gateway (None: it is well signed, for this app)."""
        if params.get("method") not in METHODS:
            return "isv.invalid-method"
        if params.get("app_id") != self.config.app_id:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2":
            return "isv.invalid-signature-type"
        if params.get("charset", "utf-8").lower() != "utf-8":
            return "isv.invalid-charset"
        try:
            alipay.parse_timestamp(params.get("timestamp", ""))
        except alipay.ProtocolError:
            return "isv.invalid-timestamp"
        signature = params.get("sign", "")
        if not alipay.rsa2_verify(
            self.config.app_public_key, alipay.sign_content(params), signature
        ):
            return "isv.invalid-signature"
        return None

    def answer(self, method: str, content: Mapping[str, Any]) -> str:
        return alipay.signed_response(self.config.alipay_private_key, method, content)

    def failure(self, method: str, sub_code: str, sub_msg: str, **more: Any) -> str:
        return self.answer(
            method,
            {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
            | more,
        )

    def _trade(self, biz: Mapping[str, Any]) -> dict[str, Any] | None:
        if biz.get("trade_no"):
            found = self.state.rows("SELECT * FROM trade WHERE trade_no = ?", biz["trade_no"])
        else:
            found = self.state.rows(
                "SELECT * FROM trade WHERE out_trade_no = ?", str(biz.get("out_trade_no", ""))
            )
        return found[0] if found else None

    def open_trade(self, params: Mapping[str, str], biz: Mapping[str, Any]) -> tuple[str, str]:
        """page.pay: (trade_no, '') or ('', why it cannot be paid)."""
        out_trade_no = str(biz.get("out_trade_no", ""))
        if not out_trade_no or len(out_trade_no) > 64:
            return "", "ACQ.INVALID_PARAMETER: out_trade_no"
        if biz.get("product_code") != "FAST_INSTANT_TRADE_PAY":
            return "", "ACQ.INVALID_PARAMETER: product_code"
        try:
            amount = alipay.parse_amount(str(biz.get("total_amount", "")))
        except alipay.ProtocolError:
            return "", "ACQ.INVALID_PARAMETER: total_amount"
        if not params.get("notify_url"):
            return "", "ACQ.INVALID_PARAMETER: notify_url"
        existing = self._trade({"out_trade_no": out_trade_no})
        now = self.clock()
        if existing is not None:
            if Decimal(existing["total_amount"]) != amount:
                return "", "ACQ.CONTEXT_INCONSISTENT: the order changed"
            if existing["status"] != "WAIT_BUYER_PAY":
                return existing["trade_no"], ""
            self.state.run(
                "UPDATE trade SET notify_url = ?, return_url = ?, time_expire = ? "
                "WHERE trade_no = ?",
                params["notify_url"],
                params.get("return_url", ""),
                str(biz.get("time_expire", "")),
                existing["trade_no"],
            )
            return str(existing["trade_no"]), ""
        trade_no = (
            now.astimezone(alipay.BEIJING).strftime("%Y%m%d")
            + "2200"
            + (f"{secrets.randbelow(10**16):016d}")
        )
        self.state.run(
            "INSERT INTO trade (trade_no, out_trade_no, app_id, total_amount, subject, status, "
            "notify_url, return_url, time_expire, created_at, paid_at) "
            "VALUES (?, ?, ?, ?, ?, 'WAIT_BUYER_PAY', ?, ?, ?, ?, NULL)",
            trade_no,
            out_trade_no,
            params["app_id"],
            alipay.amount_text(amount),
            str(biz.get("subject", ""))[:256],
            params["notify_url"],
            params.get("return_url", ""),
            str(biz.get("time_expire", "")),
            alipay.timestamp(now),
        )
        return trade_no, ""

    def query(self, biz: Mapping[str, Any]) -> str:
        method = "alipay.trade.query"
        trade = self._trade(biz)
        if trade is None:
            return self.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        return self.answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": trade["trade_no"],
                "out_trade_no": trade["out_trade_no"],
                "buyer_logon_id": "buy***@sandbox.example",
                "trade_status": trade["status"],
                "total_amount": trade["total_amount"],
                **({"send_pay_date": trade["paid_at"]} if trade["paid_at"] else {}),
            },
        )

    def refund(self, biz: Mapping[str, Any]) -> str:
        method = "alipay.trade.refund"
        trade = self._trade(biz)
        if trade is None:
            return self.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        try:
            amount = alipay.parse_amount(str(biz.get("refund_amount", "")))
        except alipay.ProtocolError:
            return self.failure(method, "ACQ.INVALID_PARAMETER", "refund_amount")
        request_no = str(biz.get("out_request_no") or trade["out_trade_no"])
        refunds = self.state.rows("SELECT * FROM refund WHERE trade_no = ?", trade["trade_no"])
        refunded = sum((Decimal(r["amount"]) for r in refunds), Decimal("0.00"))
        common = {
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "buyer_logon_id": "buy***@sandbox.example",
        }
        same = [r for r in refunds if r["out_request_no"] == request_no]
        if same:  # the same refund asked again: nothing more moves
            if Decimal(same[0]["amount"]) != amount:
                return self.failure(method, "ACQ.CONTEXT_INCONSISTENT", "参数不一致", **common)
            return self.answer(
                method,
                {"code": "10000", "msg": "Success", **common, "fund_change": "N"}
                | {"refund_fee": alipay.amount_text(refunded)},
            )
        if trade["status"] not in ("TRADE_SUCCESS",):
            return self.failure(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法", **common)
        total = Decimal(trade["total_amount"])
        if amount > total - refunded:
            return self.failure(method, "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效", **common)
        now = alipay.timestamp(self.clock())
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO refund (trade_no, out_request_no, amount, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    trade["trade_no"],
                    request_no,
                    alipay.amount_text(amount),
                    str(biz.get("refund_reason", "")),
                    now,
                ),
            )
        ]
        if refunded + amount == total:
            statements.append(
                (
                    "UPDATE trade SET status = 'TRADE_CLOSED' WHERE trade_no = ?",
                    (trade["trade_no"],),
                )
            )
        self.state.atomically(statements)
        return self.answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                **common,
                "fund_change": "Y",
                "refund_fee": alipay.amount_text(refunded + amount),
                "gmt_refund_pay": now,
            },
        )

    # -- the cashier -----------------------------------------------------------------------

    def trade(self, trade_no: str) -> dict[str, Any] | None:
        return self._trade({"trade_no": trade_no})

    def pay(self, trade_no: str) -> str:
        """The payer pays: the new status (TRADE_SUCCESS, or TRADE_CLOSED when expired)."""
        trade = self.trade(trade_no)
        if trade is None:
            raise LookupError(trade_no)
        if trade["status"] != "WAIT_BUYER_PAY":
            return str(trade["status"])
        now = self.clock()
        if trade["time_expire"]:
            try:
                expired = alipay.parse_timestamp(trade["time_expire"]) < now
            except alipay.ProtocolError:
                expired = False
            if expired:
                self.state.run(
                    "UPDATE trade SET status = 'TRADE_CLOSED' WHERE trade_no = ?", trade_no
                )
                return "TRADE_CLOSED"
        paid_at = alipay.timestamp(now)
        params = {
            "notify_time": paid_at,
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": trade["app_id"],
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "buyer_id": BUYER_ID,
            "buyer_logon_id": "buy***@sandbox.example",
            "seller_id": SELLER_ID,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": trade["total_amount"],
            "receipt_amount": trade["total_amount"],
            "buyer_pay_amount": trade["total_amount"],
            "invoice_amount": trade["total_amount"],
            "point_amount": "0.00",
            "subject": trade["subject"],
            "gmt_create": trade["created_at"],
            "gmt_payment": paid_at,
            "fund_bill_list": json.dumps(
                [{"amount": trade["total_amount"], "fundChannel": "ALIPAYACCOUNT"}],
                separators=(",", ":"),
            ),
        }
        params["sign"] = alipay.rsa2_sign(
            self.config.alipay_private_key, alipay.notify_content(params)
        )
        params["sign_type"] = "RSA2"
        self.state.atomically(
            [
                (
                    "UPDATE trade SET status = 'TRADE_SUCCESS', paid_at = ? WHERE trade_no = ?",
                    (paid_at, trade_no),
                ),
                (
                    "INSERT INTO notification (notify_id, trade_no, url, params, attempts, "
                    "next_at, delivered_at, last_status, last_answer) "
                    "VALUES (?, ?, ?, ?, 0, ?, NULL, NULL, NULL)",
                    (
                        params["notify_id"],
                        trade_no,
                        trade["notify_url"],
                        json.dumps(params, ensure_ascii=False),
                        now.timestamp(),
                    ),
                ),
            ]
        )
        return "TRADE_SUCCESS"

    # -- notifications -------------------------------------------------------------------

    async def deliver(self, client: httpx.AsyncClient, row: Mapping[str, Any]) -> bool:
        """POST one notification; True when the merchant answered ``success``."""
        params = json.loads(row["params"])
        status, answer = 0, ""
        try:
            response = await client.post(
                row["url"],
                content=urlencode(params).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            status, answer = response.status_code, response.text[:200]
        except httpx.HTTPError as exc:
            answer = f"{type(exc).__name__}: {exc}"[:200]
        ok = answer.strip() == alipay.NOTIFY_ANSWER
        attempts = int(row["attempts"]) + 1
        schedule = self.config.notify_schedule
        now = self.clock()
        next_at = (
            None
            if ok or attempts > len(schedule)
            else (now + timedelta(seconds=schedule[attempts - 1])).timestamp()
        )
        self.state.atomically(
            [
                (
                    "UPDATE notification SET attempts = ?, next_at = ?, last_status = ?, "
                    "last_answer = ?, delivered_at = COALESCE(delivered_at, ?) "
                    "WHERE notify_id = ?",
                    (
                        attempts,
                        next_at,
                        status,
                        answer,
                        alipay.timestamp(now) if ok else None,
                        row["notify_id"],
                    ),
                ),
                (
                    "INSERT INTO attempt (notify_id, at, status, answer) VALUES (?, ?, ?, ?)",
                    (row["notify_id"], alipay.timestamp(now), status, answer),
                ),
            ]
        )
        log.info("sandbox.notify", notify_id=row["notify_id"], status=status, accepted=ok)
        return ok

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        due = self.state.rows(
            "SELECT * FROM notification WHERE next_at IS NOT NULL AND next_at <= ? "
            "ORDER BY next_at",
            self.clock().timestamp(),
        )
        for row in due:
            await self.deliver(client, row)
        return len(due)

    async def run_deliveries(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not stop.is_set():
                try:
                    await self.deliver_due(client)
                except Exception as exc:  # keep delivering whatever one attempt did
                    log.warning("sandbox.deliveries_failed", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.tick_s)

    def report(self, out_trade_no: str) -> dict[str, Any] | None:
        trade = self._trade({"out_trade_no": out_trade_no})
        if trade is None:
            return None
        notes = self.state.rows(
            "SELECT notify_id, url, attempts, delivered_at, last_status, last_answer "
            "FROM notification WHERE trade_no = ?",
            trade["trade_no"],
        )
        for note in notes:
            note["history"] = self.state.rows(
                "SELECT at, status, answer FROM attempt WHERE notify_id = ? ORDER BY rowid",
                note["notify_id"],
            )
        return {
            **trade,
            "refunds": self.state.rows(
                "SELECT out_request_no, amount, reason, created_at FROM refund "
                "WHERE trade_no = ? ORDER BY created_at",
                trade["trade_no"],
            ),
            "notifications": notes,
        }


# -- HTTP ---------------------------------------------------------------------------------


async def _params(request: AnyRequest) -> dict[str, str]:
    """Query and form parameters together (the SDKs put the public ones in the query)."""
    params = dict(parse_qsl(request.url.query, keep_blank_values=True))
    if request.method == "POST":
        body = await request.body()
        if len(body) > MAX_BODY:
            raise ValueError("request too large")
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    text = (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:36em;margin:3em auto}}button{{font-size:1.2em;margin:0 .5em}}</style>"
        f"</head><body><p><strong>支付宝沙箱 Alipay sandbox</strong></p>{body}</body></html>"
    )
    return Response(text, media_type=MediaType.HTML, status_code=status)


def _sandbox(request: AnyRequest) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


@get("/gateway.do")
async def gateway_get(request: AnyRequest) -> Response[str]:
    return await _gateway(request)


@post("/gateway.do", status_code=200)
async def gateway_post(request: AnyRequest) -> Response[str]:
    return await _gateway(request)


async def _gateway(request: AnyRequest) -> Response[str]:
    sandbox = _sandbox(request)
    try:
        params = await _params(request)
    except (ValueError, UnicodeDecodeError):
        return Response(
            alipay.error_response("40002", "Invalid Arguments", "isv.invalid-request", "bad body"),
            media_type=MediaType.JSON,
        )
    method = params.get("method", "")
    refused = sandbox.check_call(params)
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        biz = None
    if refused is None and not isinstance(biz, dict):
        refused = "isv.invalid-biz-content"
    if method == "alipay.trade.page.pay":
        if refused is not None or not isinstance(biz, dict):
            return _page(
                "错误 Error", f"<p>调用被拒绝 Refused: {html.escape(str(refused))}</p>", 400
            )
        trade_no, problem = sandbox.open_trade(params, biz)
        if problem:
            return _page("错误 Error", f"<p>{html.escape(problem)}</p>", 400)
        return Redirect(path=f"/cashier/{trade_no}", status_code=302)
    if refused is not None or not isinstance(biz, dict):
        return Response(
            alipay.error_response("40002", "Invalid Arguments", refused or "", "调用被拒绝"),
            media_type=MediaType.JSON,
        )
    body = sandbox.query(biz) if method == "alipay.trade.query" else sandbox.refund(biz)
    return Response(body, media_type=MediaType.JSON)


@get("/cashier/{trade_no:str}", sync_to_thread=False)
def cashier(request: AnyRequest, trade_no: str) -> Response[str]:
    trade = _sandbox(request).trade(trade_no)
    if trade is None:
        return _page("交易不存在", "<p>交易不存在 No such trade.</p>", 404)
    facts = (
        f"<p>{html.escape(trade['subject'])}</p>"
        f"<p>订单号 Order: <code>{html.escape(trade['out_trade_no'])}</code></p>"
        f"<p>金额 Amount: <strong id='amount'>¥{html.escape(trade['total_amount'])}</strong></p>"
        f"<p>状态 Status: <code id='status'>{html.escape(trade['status'])}</code></p>"
    )
    if trade["status"] != "WAIT_BUYER_PAY":
        return _page("支付宝沙箱", facts)
    forms = (
        f"<form method='post' action='/cashier/{html.escape(trade_no)}/pay' style='display:inline'>"
        "<button id='pay' type='submit'>确认付款 Pay</button></form>"
        f"<form method='post' action='/cashier/{html.escape(trade_no)}/cancel' "
        "style='display:inline'><button id='cancel' type='submit'>取消 Cancel</button></form>"
    )
    return _page("支付宝沙箱 收银台", facts + forms)


@post("/cashier/{trade_no:str}/pay", status_code=200, sync_to_thread=False)
def cashier_pay(request: AnyRequest, trade_no: str) -> Response[str]:
    sandbox = _sandbox(request)
    try:
        status = sandbox.pay(trade_no)
    except LookupError:
        return _page("交易不存在", "<p>交易不存在 No such trade.</p>", 404)
    trade = sandbox.trade(trade_no) or {}
    if status == "TRADE_SUCCESS" and trade.get("return_url"):
        return Redirect(path=str(trade["return_url"]), status_code=303)
    text = "支付成功 Paid" if status == "TRADE_SUCCESS" else "交易已关闭 Trade closed (expired)"
    return _page(text, f"<p id='result'>{text}</p><p>状态 Status: <code>{status}</code></p>")


@post("/cashier/{trade_no:str}/cancel", status_code=200, sync_to_thread=False)
def cashier_cancel(request: AnyRequest, trade_no: str) -> Response[str]:
    if _sandbox(request).trade(trade_no) is None:
        return _page("交易不存在", "<p>交易不存在 No such trade.</p>", 404)
    return _page(
        "已取消 Cancelled",
        "<p id='result'>已取消，未付款 Cancelled: nothing was paid. "
        f"<a href='/cashier/{html.escape(trade_no)}'>重新支付 Pay after all</a></p>",
    )


@get("/sandbox/trades/{out_trade_no:str}", sync_to_thread=False)
def trade_report(request: AnyRequest, out_trade_no: str) -> Response[dict[str, Any]]:
    found = _sandbox(request).report(out_trade_no)
    if found is None:
        return Response({"error": "no such trade"}, status_code=404)
    return Response(found)


@post("/sandbox/trades/{out_trade_no:str}/notify", status_code=200)
async def renotify(request: AnyRequest, out_trade_no: str) -> Response[dict[str, Any]]:
    sandbox = _sandbox(request)
    trade = sandbox.report(out_trade_no)
    if trade is None or not trade["notifications"]:
        return Response({"error": "no notification for this trade"}, status_code=404)
    rows = sandbox.state.rows(
        "SELECT * FROM notification WHERE notify_id = ?", trade["notifications"][-1]["notify_id"]
    )
    async with httpx.AsyncClient(timeout=10.0) as client:
        accepted = await sandbox.deliver(client, rows[0])
    return Response({"accepted": accepted, **(sandbox.report(out_trade_no) or {})})


@get("/sandbox/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_sandbox_app(sandbox: Sandbox) -> Litestar:
    @contextlib.asynccontextmanager
    async def deliveries(app: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(sandbox.run_deliveries(stop), name="sandbox-notify")
        try:
            yield
        finally:
            stop.set()
            await task
            sandbox.state.close()

    app = Litestar(
        route_handlers=[
            gateway_get,
            gateway_post,
            cashier,
            cashier_pay,
            cashier_cancel,
            trade_report,
            renotify,
            health,
        ],
        lifespan=[deliveries],
        openapi_config=None,
    )
    app.state.sandbox = sandbox
    return app


# -- keys -------------------------------------------------------------------------------

KEY_FILES: Final = {
    "app_private_key": "app_private_key.pem",
    "app_public_key": "app_public_key.pem",
    "alipay_private_key": "alipay_private_key.pem",
    "alipay_public_key": "alipay_public_key.pem",
}


def write_keys(directory: Path) -> dict[str, Path]:
    """Two RSA key pairs: the app's (the merchant's) and the sandbox's (Alipay's)."""
    directory.mkdir(parents=True, exist_ok=True)
    app, provider = alipay.new_key(), alipay.new_key()
    texts = {
        "app_private_key": alipay.private_pem(app),
        "app_public_key": alipay.public_pem(app.public_key()),
        "alipay_private_key": alipay.private_pem(provider),
        "alipay_public_key": alipay.public_pem(provider.public_key()),
    }
    paths = {}
    for name, text in texts.items():
        path = directory / KEY_FILES[name]
        path.write_text(text, encoding="utf-8")
        if "private" in name:
            path.chmod(0o600)
        paths[name] = path
    return paths


def sandbox_config(
    keys: Path, app_id: str, *, state: str = ":memory:", schedule: Sequence[float] | None = None
) -> SandboxConfig:
    return SandboxConfig(
        app_id=app_id,
        alipay_private_key=alipay.load_private_key(
            (keys / KEY_FILES["alipay_private_key"]).read_text(encoding="utf-8")
        ),
        app_public_key=alipay.load_public_key(
            (keys / KEY_FILES["app_public_key"]).read_text(encoding="utf-8")
        ),
        state=state,
        notify_schedule=tuple(schedule) if schedule else SandboxConfig.notify_schedule,
    )


def payment_url(gateway: str, keys: Path, app_id: str) -> str:
    """The ARBITRAL_PAYMENT_URL that points the platform at this sandbox."""
    scheme, _, rest = gateway.partition("://")
    query = urlencode(
        {
            "app_id": app_id,
            "app_private_key": f"file:{(keys / KEY_FILES['app_private_key']).resolve()}",
            "alipay_public_key": f"file:{(keys / KEY_FILES['alipay_public_key']).resolve()}",
        },
        safe=":/",
    )
    return f"alipay+{scheme}://{rest}?{query}" if scheme == "http" else f"alipay://{rest}?{query}"


def run_sandbox(config: SandboxConfig, host: str, port: int) -> None:
    import uvicorn

    app = create_sandbox_app(Sandbox(config))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


# -- the demo --------------------------------------------------------------------------


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def demo_sandbox(settings: Settings) -> Iterator[Settings]:
    """The demo's payment provider: the sandbox in its own process, unless one is configured.

    Keys and state live under ``<data dir>/payment-sandbox``; the settings handed back
    point the platform at it (what ``ARBITRAL_PAYMENT_URL`` would say).
    """
    if settings.payment is not None:
        yield settings
        return
    from arbitral.payments.cli import DEFAULT_APP_ID

    keys = Path(settings.data_dir) / "payment-sandbox"
    if not (keys / KEY_FILES["alipay_private_key"]).exists():
        write_keys(keys)
    port = settings.http_port + 1
    if not _port_free("127.0.0.1", port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
    process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
        [
            sys.executable,
            "-m",
            "arbitral",
            "payments",
            "sandbox",
            "--port",
            str(port),
            "--keys",
            str(keys),
            "--app-id",
            DEFAULT_APP_ID,
            "--state",
            str(keys / "state.sqlite3"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/sandbox/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("the payment sandbox did not start")
            time.sleep(0.05)
        config = parse_payment_url(
            "ARBITRAL_PAYMENT_URL", payment_url(f"{url}/gateway.do", keys, DEFAULT_APP_ID)
        )
        yield settings.with_overrides(payment=config)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def banner_lines(settings: Settings) -> list[str]:
    if settings.payment is None:
        return []
    return [
        f"  Fees: {settings.payment.kind} at {settings.payment.gateway} (the claimant pays after "
        "acceptance:",
        "    POST /api/v1/cases/{id}/invoice/checkout, then open its url and click pay)",
    ]
