"""``case.state_changed`` webhooks: every transition of a case an API client filed.

Registered for every command of the case state machine
(:data:`arbitral.cases.domain.COMMANDS`), in the transition's transaction: one query
finds whether an API client filed the case, and :func:`~arbitral.webhooks.services.notify`
one more whether it has an endpoint. Nothing is cached, so an endpoint registered or
disabled in another process counts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arbitral.cases import hooks
from arbitral.cases.domain import COMMANDS
from arbitral.webhooks import domain
from arbitral.webhooks.services import notify

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime


async def case_state_changed(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    if event.from_state == event.to_state:
        return
    rows = await uow.fetch(
        "SELECT number, filed_by_client FROM arb_case WHERE tenant_id = {} AND id = {}",
        event.tenant.id,
        event.case_id,
    )
    if not rows or not rows[0]["filed_by_client"]:
        return
    await notify(
        uow,
        event.tenant.id,
        str(rows[0]["filed_by_client"]),
        domain.CASE_STATE_CHANGED,
        {
            "case_id": str(event.case_id),
            "number": rows[0]["number"],
            "from_state": event.from_state.value,
            "to_state": event.to_state.value,
            "command": event.command,
            "at": uow.now().isoformat(),
        },
    )


for _command in COMMANDS:
    hooks.after(_command)(case_state_changed)
