"""Filing cases in the tests' world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from arbitral.auth.domain import Principal, PrincipalKind, Role, permissions_of_roles
from arbitral.cases import exhibits, services
from arbitral.cases.schemas import CaseFiling, ExhibitCreate
from arbitral.custody.services import UploadMeta, receive
from tests.custody.test_inspect import make_pdf
from tests.rules.test_claims import purchase_claim
from tests.support.world import Tenant, World

if TYPE_CHECKING:
    from arbitral.runtime import Runtime

URL = "/api/v1/cases"


def claim_against(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    """A valid online-purchase claim whose respondent is the world's respondent account."""
    claim = purchase_claim(**changes)
    claim["respondent"] = {**claim["respondent"], "email": tenant.emails[Role.RESPONDENT]}
    claim["claimant"] = {**claim["claimant"], "email": tenant.emails[Role.CLAIMANT]}
    return claim


async def file_case(w: World, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await w.client.post(
        URL,
        json={"case_type": "online-purchase", "claim": claim_against(w.a, **changes)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def command(
    w: World, headers: dict[str, str], case_id: str, name: str, reason: str = "", **more: Any
) -> Any:
    return await w.client.post(
        f"{URL}/{case_id}/commands",
        json={"command": name, "reason": reason, **more},
        headers=headers,
    )


async def accepted_case(w: World) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A case of tenant A filed by its claimant against its respondent, accepted."""
    who = {role.value: await w.login(w.a, role) for role in Role}
    case = await file_case(w, who["claimant"])
    response = await command(w, who["secretary"], case["id"], "accept")
    assert response.status_code == 200, response.text
    return response.json(), who


async def case_of(runtime: Runtime, tenant: Tenant) -> tuple[str, str]:
    """(case id, exhibit id) of a case of ``tenant`` with one submitted exhibit (no HTTP)."""
    claimant = Principal(
        kind=PrincipalKind.USER,
        subject_id=tenant.users[Role.CLAIMANT],
        tenant_id=tenant.id,
        permissions=permissions_of_roles([Role.CLAIMANT]),
        roles=frozenset({Role.CLAIMANT}),
    )
    case = await services.file_case(
        runtime, claimant, CaseFiling(case_type="online-purchase", claim=claim_against(tenant))
    )

    async def pdf() -> AsyncIterator[bytes]:
        yield make_pdf()

    item, _ = await receive(
        runtime,
        claimant,
        pdf(),
        UploadMeta("订单.pdf", "订单"),
        declared_length=None,
        declared_sha256=None,
    )
    exhibit = await exhibits.create_exhibit(
        runtime, claimant, case.id, ExhibitCreate(title="订单", item_id=item.id, submit=True)
    )
    return str(case.id), str(exhibit.id)
