"""What service of process does when a case moves (in the transition's transaction).

* ``accept``: the notice of acceptance to each claimant;
* ``record_payment``: the notice of arbitration to each respondent; once all
  are served the case moves to its answer period (``complete_service``);
* ``complete_service`` by anyone but the ladder (a secretary): the ladders
  still running stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arbitral.cases import hooks
from arbitral.db.values import as_uuid
from arbitral.service import services
from arbitral.service.domain import Notice

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime


async def _serve_side(
    uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned, side: str, notice: Notice
) -> None:
    rows = await uow.fetch(
        "SELECT id FROM case_party WHERE tenant_id = {} AND case_id = {} AND side = {} "
        "ORDER BY position, id",
        event.tenant.id,
        event.case_id,
        side,
    )
    for row in rows:
        await services.start(uow, runtime, event.tenant, event.case_id, as_uuid(row["id"]), notice)


@hooks.after("accept")
async def notify_acceptance(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    await _serve_side(uow, runtime, event, "claimant", Notice.ACCEPTANCE)


@hooks.after("record_payment")
async def serve_notice_of_arbitration(
    uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned
) -> None:
    await _serve_side(uow, runtime, event, "respondent", Notice.ARBITRATION)


@hooks.after("complete_service")
async def stop_ladders(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    """Service completed by the staff (not by the ladder): the ladders still running stop."""
    if event.actor != services.SYSTEM:
        await services.stop_ladders(uow, runtime, event.tenant, event.case_id, event.actor)
