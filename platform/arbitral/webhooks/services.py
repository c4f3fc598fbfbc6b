"""Webhooks to API clients: the endpoint each client registers, events, their delivery.

The protocol (Standard Webhooks headers and signatures) is described in
:mod:`arbitral.webhooks.domain`; here are the use cases:

* An API client registers its endpoint (``PUT /api/v1/webhooks/endpoint``) and is
  shown the signing secret once, at creation and at each rotation. The secret is
  sealed under the key-encryption key (:func:`arbitral.crypto.seal`), bound to the
  tenant and the endpoint; after a rotation the replaced secret still signs (as a
  second ``v1`` entry) for :data:`ROTATION_OVERLAP`, so a lender can switch without
  losing events.
* Another context calls :func:`notify` inside its own transaction: one
  ``webhook_delivery`` row and one ``webhooks.deliver`` job through the outbox,
  committed with the change they report or not at all. A client without an active
  endpoint gets nothing (no row).
* The delivery job (:func:`deliver`) posts the event and records the outcome in the
  job's one transaction: 2xx is ``delivered``; anything else is retried by a new job
  with a delay (:data:`arbitral.webhooks.domain.BACKOFF`) written in that same
  transaction, until the last attempt, then ``failed``. A delivered or failed event is
  never posted again, and a run holds the event by a lease while it posts, so a
  second delivery of the job at the same moment does not post it twice (it is
  retried, and then finds it done). The receiver may still see an event twice (a
  worker killed after the POST and before its commit): it deduplicates on
  ``webhook-id``, as the specification asks.
* Outside development (``ARBITRAL_INSECURE_WEBHOOKS``) endpoints are HTTPS only and
  a delivery resolves the host and refuses private, loopback and link-local
  addresses, then connects to the address it checked (no second lookup a DNS
  rebinding could change), with TLS still verified against the host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import SplitResult, urlsplit, urlunsplit
from uuid import UUID, uuid4

import anyio
import httpx
import structlog

from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind
from arbitral.crypto import SealError, seal, unseal
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.webhooks import domain
from arbitral.webhooks.schemas import DeliveryOut, EndpointOut, EndpointPut

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.jobs.runner import JobContext
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

DELIVER_JOB: Final = "webhooks.deliver"
ROTATION_OVERLAP: Final = timedelta(hours=24)
TIMEOUT_S: Final = 10.0
# The whole of one attempt (resolving, connecting, sending, the answer's head).
DEADLINE_S: Final = 20.0
# Longer than the timeout: a run that dies leaves the event to the next after this.
LEASE: Final = timedelta(seconds=30)
RECENT_DELIVERIES: Final = 20
USER_AGENT: Final = "Arbitral-Webhooks/1"


def _context(tenant_id: UUID, endpoint_id: UUID) -> bytes:
    return f"webhook-secret:{tenant_id}:{endpoint_id}".encode()


def _client_of(principal: Principal) -> str:
    if principal.kind is not PrincipalKind.API_CLIENT or not principal.client_id:
        raise Forbidden("webhook endpoints belong to API clients (OAuth client credentials)")
    return principal.client_id


def _check_url(runtime: Runtime, url: str) -> str:
    text = url.strip()
    problem = domain.url_problem(text, insecure=runtime.settings.insecure_webhooks)
    if problem is not None:
        rule, message = problem
        raise ValidationFailed(
            "the webhook URL is not usable", errors=[FieldProblem("$.url", rule, message)]
        )
    return text


async def _endpoint_row(uow: UnitOfWork, tenant_id: UUID, client_id: str) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM webhook_endpoint WHERE tenant_id = {} AND client_id = {}",
        tenant_id,
        client_id,
    )
    return rows[0] if rows else None


async def _deliveries(uow: UnitOfWork, tenant_id: UUID, endpoint_id: UUID) -> list[DeliveryOut]:
    rows = await uow.fetch(
        "SELECT id, event_type, status, attempts, created_at, next_at, delivered_at, "
        "last_status_code, last_error FROM webhook_delivery "
        "WHERE tenant_id = {} AND endpoint_id = {} ORDER BY created_at DESC, id LIMIT {}",
        tenant_id,
        endpoint_id,
        RECENT_DELIVERIES,
    )
    return [
        DeliveryOut(
            id=as_uuid(r["id"]),
            type=str(r["event_type"]),
            status=str(r["status"]),
            attempts=int(r["attempts"]),
            created_at=as_datetime(r["created_at"]),
            next_at=as_optional_datetime(r["next_at"]) if r["status"] == "pending" else None,
            delivered_at=as_optional_datetime(r["delivered_at"]),
            last_status_code=r["last_status_code"],
            last_error=r["last_error"],
        )
        for r in rows
    ]


def _out(row: Mapping[str, Any], *, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        url=str(row["url"]),
        status=str(row["status"]),
        created_at=as_datetime(row["created_at"]),
        updated_at=as_datetime(row["updated_at"]),
        secret_rotated_at=as_datetime(row["secret_rotated_at"]),
        deliveries=[],
        secret=secret,
    )


async def put_endpoint(runtime: Runtime, principal: Principal, data: EndpointPut) -> EndpointOut:
    """Register (or change) where the calling client's webhooks go.

    A new endpoint, or one that was disabled, gets a new secret, shown in this answer
    only; changing the URL of an active one keeps its secret.
    """
    client_id = _client_of(principal)
    tenant_id = tenant_of(principal)
    url = _check_url(runtime, data.url)
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        clients = await uow.fetch(
            "SELECT id FROM api_client WHERE tenant_id = {} AND client_id = {} "
            "AND status = 'active'",
            tenant_id,
            client_id,
        )
        if not clients:
            raise NotFound("no such API client")
        row = await _endpoint_row(uow, tenant_id, client_id)
        secret: str | None = None
        if row is None:
            endpoint_id = uuid4()
            raw = domain.new_secret()
            await uow.execute(
                "INSERT INTO webhook_endpoint (id, tenant_id, api_client_id, client_id, url, "
                "secret_enc, status, created_at, updated_at, secret_rotated_at) "
                "VALUES ({}, {}, {}, {}, {}, {}, 'active', {}, {}, {})",
                endpoint_id,
                tenant_id,
                as_uuid(clients[0]["id"]),
                client_id,
                url,
                seal(runtime.key_encryption_key, raw, _context(tenant_id, endpoint_id)),
                now,
                now,
                now,
            )
            secret, action = domain.format_secret(raw), "webhook.endpoint_created"
        elif row["status"] != "active":
            endpoint_id = as_uuid(row["id"])
            raw = domain.new_secret()
            await uow.execute(
                "UPDATE webhook_endpoint SET url = {}, secret_enc = {}, previous_secret_enc = "
                "NULL, previous_until = NULL, status = 'active', updated_at = {}, "
                "secret_rotated_at = {} WHERE tenant_id = {} AND id = {}",
                url,
                seal(runtime.key_encryption_key, raw, _context(tenant_id, endpoint_id)),
                now,
                now,
                tenant_id,
                endpoint_id,
            )
            secret, action = domain.format_secret(raw), "webhook.endpoint_enabled"
        elif row["url"] != url:
            endpoint_id = as_uuid(row["id"])
            await uow.execute(
                "UPDATE webhook_endpoint SET url = {}, updated_at = {} "
                "WHERE tenant_id = {} AND id = {}",
                url,
                now,
                tenant_id,
                endpoint_id,
            )
            action = "webhook.endpoint_changed"
        else:
            endpoint_id, action = as_uuid(row["id"]), ""
        if action:
            detail: dict[str, Any] = {"url": url, "client_id": client_id}
            if row is not None and row["url"] != url:
                detail["previous_url"] = row["url"]
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action=action,
                target_kind="webhook_endpoint",
                target_id=endpoint_id,
                detail=detail,
            )
        current = await _endpoint_row(uow, tenant_id, client_id)
        assert current is not None
        out = _out(current, secret=secret)
        out.deliveries = await _deliveries(uow, tenant_id, endpoint_id)
        return out


async def rotate_secret(runtime: Runtime, principal: Principal) -> EndpointOut:
    """A new signing secret (shown once); the old one still signs for a day."""
    client_id = _client_of(principal)
    tenant_id = tenant_of(principal)
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await _endpoint_row(uow, tenant_id, client_id)
        if row is None or row["status"] != "active":
            raise NotFound("no webhook endpoint is registered for this client")
        endpoint_id = as_uuid(row["id"])
        raw = domain.new_secret()
        await uow.execute(
            "UPDATE webhook_endpoint SET secret_enc = {}, previous_secret_enc = {}, "
            "previous_until = {}, secret_rotated_at = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            seal(runtime.key_encryption_key, raw, _context(tenant_id, endpoint_id)),
            bytes(row["secret_enc"]),
            now + ROTATION_OVERLAP,
            now,
            now,
            tenant_id,
            endpoint_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="webhook.secret_rotated",
            target_kind="webhook_endpoint",
            target_id=endpoint_id,
            detail={
                "client_id": client_id,
                "previous_valid_until": (now + ROTATION_OVERLAP).isoformat(),
            },
        )
        current = await _endpoint_row(uow, tenant_id, client_id)
        assert current is not None
        return _out(current, secret=domain.format_secret(raw))


async def get_endpoint(runtime: Runtime, principal: Principal) -> EndpointOut:
    """The calling client's endpoint and its most recent deliveries."""
    client_id = _client_of(principal)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        row = await _endpoint_row(uow, tenant_id, client_id)
        if row is None:
            raise NotFound("no webhook endpoint is registered for this client")
        out = _out(row)
        out.deliveries = await _deliveries(uow, tenant_id, as_uuid(row["id"]))
        return out


async def disable_endpoint(runtime: Runtime, principal: Principal) -> None:
    """Stop sending: no new events are recorded, pending ones end as failed."""
    client_id = _client_of(principal)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await _endpoint_row(uow, tenant_id, client_id)
        if row is None or row["status"] != "active":
            raise NotFound("no webhook endpoint is registered for this client")
        await uow.execute(
            "UPDATE webhook_endpoint SET status = 'disabled', updated_at = {} "
            "WHERE tenant_id = {} AND id = {}",
            datetime.now(UTC),
            tenant_id,
            row["id"],
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="webhook.endpoint_disabled",
            target_kind="webhook_endpoint",
            target_id=as_uuid(row["id"]),
            detail={"client_id": client_id, "url": row["url"]},
        )


# -- events ---------------------------------------------------------------------------


async def notify(
    uow: UnitOfWork,
    tenant_id: UUID,
    client_id: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    key: str | None = None,
) -> UUID | None:
    """Send ``event_type`` with ``data`` to ``client_id``'s endpoint, after ``uow`` commits.

    Call it inside the transaction of the change it reports (``uow`` is scoped to
    ``tenant_id``). Writes the ``webhook_delivery`` row and enqueues its delivery job
    through the outbox; returns the event id (the ``webhook-id`` header), or None
    when the client has no active endpoint (nothing is written). ``key`` (e.g. the
    batch id) makes the call idempotent: the same key for the same client and type
    is one event, and a second call returns None.
    """
    if event_type not in domain.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if uow.tenant_id is not None and uow.tenant_id != tenant_id:
        raise ValueError("notify runs in a transaction of the event's tenant")
    endpoints = await uow.fetch(
        "SELECT id FROM webhook_endpoint WHERE tenant_id = {} AND client_id = {} "
        "AND status = 'active'",
        tenant_id,
        client_id,
    )
    if not endpoints:
        return None
    event_id = uuid4()
    now = uow.now()
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": dict(data)}
    inserted = await uow.fetch(
        "INSERT INTO webhook_delivery (id, tenant_id, endpoint_id, client_id, event_type, "
        "event_key, payload, status, attempts, next_at, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {}) "
        "ON CONFLICT DO NOTHING RETURNING id",
        event_id,
        tenant_id,
        as_uuid(endpoints[0]["id"]),
        client_id,
        event_type,
        key,
        json.dumps(payload, ensure_ascii=False, sort_keys=True, allow_nan=False),
        now,
        now,
    )
    if not inserted:
        return None
    await uow.enqueue(DELIVER_JOB, {"delivery_id": str(event_id)}, tenant_id=tenant_id)
    return event_id


# -- delivery -------------------------------------------------------------------------


class DeliveryInProgress(RuntimeError):
    """Another run of the job holds the event (this one is retried, then finds it done)."""


class AddressRefused(Exception):
    """The endpoint's host resolves to an address webhooks must not reach."""


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def _take_lease(runtime: Runtime, tenant_id: UUID, delivery_id: UUID) -> bool:
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        taken = await uow.fetch(
            "UPDATE webhook_delivery SET lease_until = {} WHERE tenant_id = {} AND id = {} "
            "AND status = 'pending' AND (lease_until IS NULL OR lease_until < {}) RETURNING id",
            now + LEASE,
            tenant_id,
            delivery_id,
            now,
        )
    return bool(taken)


async def _release_lease(runtime: Runtime, tenant_id: UUID, delivery_id: UUID) -> None:
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "UPDATE webhook_delivery SET lease_until = NULL WHERE tenant_id = {} AND id = {}",
            tenant_id,
            delivery_id,
        )


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def post_event(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    insecure: bool,
    verify: ssl.SSLContext | bool = True,
) -> Attempt:
    """POST one signed event to ``url``, connecting only to an address that was checked.

    The URL's host is resolved once; the request goes to that address, with the host
    in the ``Host`` header and as the TLS server name, so the certificate is verified
    against the host (``verify``: the system's trust store unless a test says otherwise).
    The whole attempt is bounded by :data:`DEADLINE_S`, well within the lease.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        with anyio.fail_after(DEADLINE_S):
            return await _post(parts, body, headers, insecure=insecure, verify=verify)
    except TimeoutError:
        return Attempt(None, f"no answer within {DEADLINE_S:.0f} s")
    except AddressRefused as exc:
        return Attempt(None, f"refused: {exc}")
    except OSError as exc:  # name resolution
        return Attempt(None, f"{host}: {exc.strerror or exc}")
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500])


async def _post(
    parts: SplitResult,
    body: bytes,
    headers: Mapping[str, str],
    *,
    insecure: bool,
    verify: ssl.SSLContext | bool,
) -> Attempt:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    if not insecure:
        refused = [a for a in addresses if domain.refused_address(a)]
        if refused:
            raise AddressRefused(
                f"{host} resolves to {refused[0]}, a private, loopback or link-local address"
            )
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    request_headers = {
        **headers,
        "host": parts.netloc.rpartition("@")[2],
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    async with (
        httpx.AsyncClient(
            timeout=TIMEOUT_S, follow_redirects=False, trust_env=False, verify=verify
        ) as client,
        client.stream(
            "POST",
            pinned,
            content=body,
            headers=request_headers,
            extensions={"sni_hostname": host},
        ) as response,
    ):
        code = response.status_code
        return Attempt(code, None if response.is_success else f"answered HTTP {code}")


async def deliver(ctx: JobContext, delivery_id: UUID) -> None:
    """One attempt at an event (the ``webhooks.deliver`` job); see the module docstring."""
    runtime = ctx.runtime
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{DELIVER_JOB} runs for a tenant")
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT d.status, d.attempts, d.payload, d.endpoint_id, e.url, e.status AS "
            "endpoint_status, e.secret_enc, e.previous_secret_enc, e.previous_until "
            "FROM webhook_delivery d JOIN webhook_endpoint e "
            "ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id "
            "WHERE d.tenant_id = {} AND d.id = {}",
            tenant_id,
            delivery_id,
        )
    if not rows:
        log.warning("webhooks.unknown_delivery", delivery_id=str(delivery_id))
        return
    row = rows[0]
    if row["status"] != "pending":
        return  # delivered or failed already: never sent again
    if row["endpoint_status"] != "active":
        async with ctx.transaction() as uow:
            await uow.execute(
                "UPDATE webhook_delivery SET status = 'failed', next_at = NULL, "
                "last_error = 'the endpoint was disabled' "
                "WHERE tenant_id = {} AND id = {} AND status = 'pending'",
                tenant_id,
                delivery_id,
            )
        return
    if not await _take_lease(runtime, tenant_id, delivery_id):
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            now_rows = await uow.fetch(
                "SELECT status FROM webhook_delivery WHERE tenant_id = {} AND id = {}",
                tenant_id,
                delivery_id,
            )
        if now_rows and now_rows[0]["status"] != "pending":
            return
        raise DeliveryInProgress(f"webhook event {delivery_id} is being posted by another run")
    try:
        attempt = await _attempt(runtime, tenant_id, delivery_id, row)
        await _record(ctx, tenant_id, delivery_id, attempt)
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await _release_lease(runtime, tenant_id, delivery_id)
        raise


async def _attempt(
    runtime: Runtime, tenant_id: UUID, delivery_id: UUID, row: Mapping[str, Any]
) -> Attempt:
    endpoint_id = as_uuid(row["endpoint_id"])
    context = _context(tenant_id, endpoint_id)
    kek = runtime.key_encryption_key
    try:
        keys = [unseal(kek, bytes(row["secret_enc"]), context)]
        until = as_optional_datetime(row["previous_until"])
        if row["previous_secret_enc"] is not None and until and until > datetime.now(UTC):
            keys.append(unseal(kek, bytes(row["previous_secret_enc"]), context))
    except SealError:
        return Attempt(None, "the signing secret does not open (key-encryption key changed?)")
    raw = row["payload"]
    payload = json.loads(raw) if isinstance(raw, str) else dict(raw)
    body = domain.encode_body(payload)
    headers = domain.sign_headers(keys, str(delivery_id), int(time.time()), body)
    attempt = await post_event(
        str(row["url"]), body, headers, insecure=runtime.settings.insecure_webhooks
    )
    log.info(
        "webhooks.attempt",
        delivery_id=str(delivery_id),
        status_code=attempt.status_code,
        error=attempt.error,
    )
    return attempt


async def _record(ctx: JobContext, tenant_id: UUID, delivery_id: UUID, attempt: Attempt) -> None:
    """The attempt's outcome and, if it is to be tried again, the next job: one transaction."""
    now = datetime.now(UTC)
    async with ctx.transaction() as uow:
        rows = await uow.fetch(
            "SELECT attempts FROM webhook_delivery "
            "WHERE tenant_id = {} AND id = {} AND status = 'pending'",
            tenant_id,
            delivery_id,
        )
        if not rows:
            return
        attempts = int(rows[0]["attempts"]) + 1
        error = attempt.error
        if attempt.delivered:
            status, next_at, delivered_at, error = "delivered", None, now, None
        else:
            wait = domain.backoff(attempts)
            status = "pending" if wait is not None else "failed"
            next_at = now + wait if wait is not None else None
            delivered_at = None
            if wait is not None:
                await uow.enqueue(
                    DELIVER_JOB, {"delivery_id": str(delivery_id)}, tenant_id=tenant_id, delay=wait
                )
        await uow.execute(
            "UPDATE webhook_delivery SET status = {}, attempts = {}, next_at = {}, "
            "delivered_at = {}, last_status_code = {}, last_error = {}, lease_until = NULL "
            "WHERE tenant_id = {} AND id = {}",
            status,
            attempts,
            next_at,
            delivered_at,
            attempt.status_code,
            None if error is None else error[:500],
            tenant_id,
            delivery_id,
        )
