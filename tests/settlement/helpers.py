"""Rows of the hearings and settlement contexts for tests that need their ids (no HTTP)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arbitral.runtime import Runtime


async def hearing_and_settlement_of(
    runtime: Runtime, tenant_id: uuid.UUID, case_id: str
) -> dict[str, str]:
    """A video hearing with one session, an offer and an agreement on ``case_id``: their ids."""
    now = datetime.now(UTC)
    ids = {name: uuid.uuid4() for name in ("hearing", "session", "offer", "agreement")}
    case = uuid.UUID(case_id)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "INSERT INTO hearing (id, tenant_id, case_id, mode, rounds, opened_at, opened_by) "
            "VALUES ({}, {}, {}, 'video', {}, {}, 'tests')",
            ids["hearing"],
            tenant_id,
            case,
            json.dumps([]),
            now,
        )
        await uow.execute(
            "INSERT INTO hearing_session (id, tenant_id, case_id, hearing_id, starts_at, ends_at, "
            "link, scheduled_by, scheduled_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 'tests', {})",
            ids["session"],
            tenant_id,
            case,
            ids["hearing"],
            now + timedelta(days=1),
            now + timedelta(days=1, hours=1),
            "https://video.example.cn/room/1",
            now,
        )
        await uow.execute(
            "INSERT INTO settlement_offer (id, tenant_id, case_id, seq, side, terms, status, "
            "made_by, made_at) VALUES ({}, {}, {}, 1, 'claimant', '退款', 'open', 'tests', {})",
            ids["offer"],
            tenant_id,
            case,
            now,
        )
        await uow.execute(
            "INSERT INTO settlement_agreement (id, tenant_id, case_id, text, sha256, outcome, "
            "status, proposed_by, proposed_at) VALUES ({}, {}, {}, '协议', {}, 'consent_award', "
            "'proposed', 'tests', {})",
            ids["agreement"],
            tenant_id,
            case,
            "0" * 64,
            now,
        )
    return {
        "session_id": str(ids["session"]),
        "offer_id": str(ids["offer"]),
        "agreement_id": str(ids["agreement"]),
    }
