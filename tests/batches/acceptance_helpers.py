"""A lender batch in the tests' world: real cases filed by the world's claimant, linked.

The batch pipeline is another context's; these tests need a batch whose cases are
``filed``: they file ordinary cases (the claimant of A against its respondent) and
register them as rows of a ``claim_batch`` with ``loan_contract`` rows, as the pipeline
leaves them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from arbitral.auth.domain import ClientKind, Principal, PrincipalKind, Role, permissions_of_roles
from arbitral.cases import services
from arbitral.cases.schemas import CaseFiling
from arbitral.runtime import Runtime
from tests.cases.helpers import claim_against
from tests.support.world import Tenant


async def file_cases(runtime: Runtime, tenant: Tenant, count: int) -> list[uuid.UUID]:
    claimant = Principal(
        kind=PrincipalKind.USER,
        subject_id=tenant.users[Role.CLAIMANT],
        tenant_id=tenant.id,
        permissions=permissions_of_roles([Role.CLAIMANT]),
        roles=frozenset({Role.CLAIMANT}),
    )
    filed = []
    for _ in range(count):
        case = await services.file_case(
            runtime,
            claimant,
            CaseFiling(case_type="online-purchase", claim=claim_against(tenant)),
        )
        filed.append(case.id)
    return filed


async def insert_batch(
    runtime: Runtime,
    tenant: Tenant,
    case_ids: list[uuid.UUID],
    *,
    state: str = "done",
    client_id: str | None = None,
) -> uuid.UUID:
    """A batch of ``tenant``'s lender client (by default) whose rows are ``case_ids``."""
    batch_id = uuid.uuid4()
    now = datetime.now(UTC)
    client = client_id or tenant.clients[ClientKind.LENDER][0]
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await uow.execute(
            "INSERT INTO claim_batch (id, tenant_id, client_id, filed_by, filer_kind, "
            "idempotency_key, request_sha256, case_type, rule_set, rule_set_version, claimant, "
            "declared_rows, state, rows_read, cases_created, rows_rejected, rows_duplicate, "
            "problems, created_at, updated_at) VALUES ({}, {}, {}, {}, 'api_client', {}, {}, "
            "'online-purchase', 'gba-alliance/online-arbitration', '1.2', {}, {}, {}, {}, {}, "
            "0, 0, '[]', {}, {})",
            batch_id,
            tenant.id,
            client,
            client,
            uuid.uuid4().hex,
            "0" * 64,
            json.dumps({"name": "某小额贷款有限公司"}),
            len(case_ids),
            state,
            len(case_ids),
            len(case_ids),
            now,
            now,
        )
        for row_no, case_id in enumerate(case_ids, start=1):
            await uow.execute(
                "INSERT INTO loan_contract (id, tenant_id, lender_id_number, contract_number, "
                "case_id, batch_id, row_no, client_id, amount_claimed, interest_claimed, "
                "interest_supported, over_cap, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, "
                "{}, {}, {}, {}, {}, {})",
                uuid.uuid4(),
                tenant.id,
                "91440101MA5CXXXX0X",
                f"{batch_id.hex[:8]}-{row_no}",
                case_id,
                batch_id,
                row_no,
                client,
                Decimal("2500.00"),
                Decimal("0.00"),
                Decimal("0.00"),
                False,
                now,
            )
    return batch_id
