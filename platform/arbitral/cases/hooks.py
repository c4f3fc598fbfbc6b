"""What other contexts do when a case moves: hooks run in the transition's transaction.

A context that must act on a transition (the fees are assessed and invoiced
when a case is accepted; the respondent is served once the fees are paid)
registers a hook for the command in its own ``hooks.py`` module, listed in
:data:`HOOK_MODULES`. Hooks run inside the transaction of the transition: what
they write (rows, outbox jobs, deadlines) is committed with it or not at all,
and their side effects outside the database leave through the outbox, after
commit. The cases context knows no other context; they know it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from arbitral.cases.domain import CaseState

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

# Modules whose import registers hooks (one per context that reacts to cases).
HOOK_MODULES: list[str] = [
    "arbitral.tribunal.hooks",
    "arbitral.payments.hooks",
    "arbitral.pleadings.hooks",
    "arbitral.hearings.hooks",
    "arbitral.service.hooks",
    "arbitral.webhooks.hooks",
    "arbitral.batches.hooks",
]


@dataclass(frozen=True)
class Transitioned:
    """One transition, as a hook sees it."""

    tenant: TenantInfo
    case_id: UUID
    command: str
    from_state: CaseState
    to_state: CaseState
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


Hook = Callable[["UnitOfWork", "Runtime", Transitioned], Awaitable[None]]

_hooks: dict[str, list[Hook]] = {}
_loaded = False


def after(command: str) -> Callable[[Hook], Hook]:
    """Register ``fn`` to run after every ``command`` (in its transaction)."""

    def register(fn: Hook) -> Hook:
        _hooks.setdefault(command, []).append(fn)
        return fn

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in HOOK_MODULES:
            importlib.import_module(module)
        _loaded = True


async def run_hooks(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    _load()
    for hook in _hooks.get(event.command, ()):
        await hook(uow, runtime, event)


# -- deadlines ------------------------------------------------------------------------

Expiry = Callable[["UnitOfWork", "Runtime", "TenantInfo", UUID, dict[str, Any]], Awaitable[None]]

_expiry: dict[str, Expiry] = {}


def on_expiry(deadline: str) -> Callable[[Expiry], Expiry]:
    """Register what happens to a case when its deadline ``deadline`` expires (one handler).

    The handler runs in the ``cases.deadline_expired`` job's transaction with the
    case id and the deadline's payload; it checks the case still needs it (the fee
    may have been paid a second before) and moves the case with
    :func:`arbitral.cases.services.system_command`.
    """

    def register(fn: Expiry) -> Expiry:
        if deadline in _expiry and _expiry[deadline] is not fn:
            raise RuntimeError(f"the deadline {deadline!r} has a handler already")
        _expiry[deadline] = fn
        return fn

    return register


def expiry_handler(deadline: str) -> Expiry | None:
    _load()
    return _expiry.get(deadline)
