"""``case.state_changed`` webhooks: every transition of a case an API client filed.

Registered for every command of the case state machine
(:data:`arbitral.cases.domain.COMMANDS`), in the transition's transaction: one query
finds whether an API client filed the case and has an active endpoint (a transition of
any other case costs that one query); only then does
:func:`~arbitral.webhooks.services.notify` write the event. Nothing is cached, so an
endpoint registered or disabled in another process counts at once.

A batch accepted or paid case by case sends one event per case: a lender that files
100,000 claims gets 100,000 ``case.state_changed`` events per step, each its own job.
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
    # One query: the filing client and whether it listens (most cases: nothing more).
    rows = await uow.fetch(
        "SELECT c.number, c.filed_by_client, e.id AS endpoint_id FROM arb_case c "
        "LEFT JOIN webhook_endpoint e ON e.tenant_id = c.tenant_id "
        "AND e.client_id = c.filed_by_client AND e.status = 'active' "
        "WHERE c.tenant_id = {} AND c.id = {}",
        event.tenant.id,
        event.case_id,
    )
    if not rows or not rows[0]["filed_by_client"] or rows[0]["endpoint_id"] is None:
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
