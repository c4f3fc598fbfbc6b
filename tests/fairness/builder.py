"""Loan cases written straight into the tables, in whatever state a test needs.

The batch pipeline is not there yet, and walking 20 cases each through filing, service,
hearing and award over HTTP would take minutes: the fairness watch and the reconciliation
read the tables, so the tests write exactly the rows those reads depend on (the case, its
claimant, its loan registry row, its issued award, its tribunal, the respondent's traces),
with the tenant keys and row-level security of the real tables on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from arbitral.auth.domain import Principal, Role
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from arbitral.runtime import Runtime

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass
class Book:
    """Writes one tenant's rows; remembers what it wrote."""

    runtime: Runtime
    tenant_id: uuid.UUID
    cases: list[uuid.UUID] = field(default_factory=list)
    _n: int = 0

    async def arbitrators(self, count: int) -> list[uuid.UUID]:
        ids = []
        for _ in range(count):
            user = await create_user(
                self.runtime,
                Principal.operator(self.tenant_id, "tests"),
                UserCreate(
                    display_name="仲裁员",
                    email=f"arb.{uuid.uuid4().hex[:8]}@example.cn",
                    roles=[Role.ARBITRATOR],
                ),
            )
            ids.append(user.id)
        return ids

    async def batch(
        self,
        *,
        client_id: str | None,
        rows_read: int = 0,
        cases_created: int = 0,
        rows_rejected: int = 0,
        rows_duplicate: int = 0,
        problems: tuple[tuple[int, str], ...] = (),
    ) -> uuid.UUID:
        """A finished batch with its counters and refused rows ((row_no, state) each)."""
        batch_id = uuid.uuid4()
        async with self.runtime.db.transaction(tenant_id=self.tenant_id) as uow:
            await uow.execute(
                "INSERT INTO claim_batch (id, tenant_id, client_id, filed_by, filer_kind, "
                "idempotency_key, request_sha256, case_type, rule_set, rule_set_version, "
                "claimant, declared_rows, state, rows_read, cases_created, rows_rejected, "
                "rows_duplicate, problems, created_at, finished_at, updated_at) VALUES "
                "({}, {}, {}, {}, 'api_client', {}, {}, 'online-loan', "
                "'gba-alliance/online-arbitration', '1.2', {}, {}, 'done', {}, {}, {}, {}, "
                "'[]', {}, {}, {})",
                batch_id,
                self.tenant_id,
                client_id,
                client_id or "console",
                uuid.uuid4().hex,
                "0" * 64,
                json.dumps({"name": "贷款公司"}),
                rows_read,
                rows_read,
                cases_created,
                rows_rejected,
                rows_duplicate,
                T0,
                T0,
                T0,
            )
            for row_no, state in problems:
                await uow.execute(
                    "INSERT INTO batch_problem (id, tenant_id, batch_id, row_no, line_no, "
                    "contract_number, state, problems) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                    uuid.uuid4(),
                    self.tenant_id,
                    batch_id,
                    row_no,
                    row_no + 1,
                    f"BAD-{row_no}",
                    state,
                    json.dumps([{"field": "amount", "rule": "required"}]),
                )
        return batch_id

    async def case(
        self,
        *,
        lender: str = "91440101MA5CXXXX1A",
        lender_name: str = "广州某小额贷款有限公司",
        state: str = "answer_period",
        claimed: str = "10000.00",
        awarded: list[tuple[str, str | None]] | None = None,
        correction: list[tuple[str, str | None]] | None = None,
        arbitrators: tuple[uuid.UUID, ...] = (),
        released: tuple[uuid.UUID, ...] = (),
        accepted: bool = True,
        answered: bool = False,
        posted: bool = False,
        opened: bool = False,
        session: str | None = None,
        over_cap: bool = False,
        interest: tuple[str, str] = ("1000.00", "1000.00"),
        batch_id: uuid.UUID | None = None,
        row_no: int | None = None,
        client_id: str | None = None,
        contract: str | None = None,
    ) -> uuid.UUID:
        """One loan case. ``awarded``: the issued award's decision items (amount, payer);
        ``correction``: a later issued correction's items; ``answered``/``posted``: the
        respondent answered / posted in the hearing; ``session``: a video session's outcome;
        ``opened``: the respondent opened the file (which is not taking part)."""
        self._n += 1
        n = self._n
        case_id = uuid.uuid4()
        at = T0 + timedelta(minutes=n)
        async with self.runtime.db.transaction(tenant_id=self.tenant_id) as uow:
            await uow.execute(
                "INSERT INTO arb_case (id, tenant_id, case_type, rule_set, rule_set_version, "
                "state, number, claim, amount_claimed, filed_by, filer_kind, filed_by_client, "
                "filed_at, updated_at, respondent_opened_at, version) VALUES ({}, {}, "
                "'online-loan', 'gba-alliance/online-arbitration', '1.2', {}, {}, {}, {}, "
                "{}, {}, {}, {}, {}, {}, 1)",
                case_id,
                self.tenant_id,
                state,
                f"(2026)测仲网字第{n:06d}号",
                json.dumps({"loan": {}}),
                Decimal(claimed),
                client_id or "claimant",
                "api_client" if client_id else "user",
                client_id,
                at,
                at,
                at if opened else None,
            )
            await uow.execute(
                "INSERT INTO case_party (id, tenant_id, case_id, side, position, kind, name, "
                "id_number) VALUES ({}, {}, {}, 'claimant', 1, 'organization', {}, {})",
                uuid.uuid4(),
                self.tenant_id,
                case_id,
                lender_name,
                lender,
            )
            await uow.execute(
                "INSERT INTO case_party (id, tenant_id, case_id, side, position, kind, name, "
                "id_number) VALUES ({}, {}, {}, 'respondent', 1, 'person', '借款人', "
                "'440101199001011234')",
                uuid.uuid4(),
                self.tenant_id,
                case_id,
            )
            await uow.execute(
                "INSERT INTO loan_contract (id, tenant_id, lender_id_number, contract_number, "
                "case_id, batch_id, row_no, client_id, amount_claimed, interest_claimed, "
                "interest_supported, over_cap, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, "
                "{}, {}, {}, {}, {}, {})",
                uuid.uuid4(),
                self.tenant_id,
                lender,
                contract or f"LOAN-{n:06d}",
                case_id,
                batch_id,
                row_no,
                client_id,
                Decimal(claimed),
                Decimal(interest[0]),
                Decimal(interest[1]),
                over_cap,
                at,
            )
            seq = 0
            for command, to_state in (("file", "filed"), ("accept", "accepted")):
                if command == "accept" and not accepted:
                    continue
                seq += 1
                await uow.execute(
                    "INSERT INTO case_event (id, tenant_id, case_id, seq, command, from_state, "
                    "to_state, actor, actor_kind, at, reason, data) VALUES ({}, {}, {}, {}, {}, "
                    "NULL, {}, 'tests', 'user', {}, '', {})",
                    uuid.uuid4(),
                    self.tenant_id,
                    case_id,
                    seq,
                    command,
                    to_state,
                    at,
                    "{}",
                )
            award_id = None
            for kind, items in (("award", awarded), ("correction", correction)):
                if items is None:
                    continue
                new_id = uuid.uuid4()
                content = {
                    "facts": "事实",
                    "reasoning": "理由",
                    "decision": [
                        {"text": f"第{i}项", "amount": amount, "payer": payer}
                        for i, (amount, payer) in enumerate(items, 1)
                    ]
                    + [{"text": "驳回其他请求", "amount": None, "payer": None}],
                    "fees": {"total": "100.00", "claimant": "0.00", "respondent": "100.00"},
                    "place": "广州",
                }
                issued = at + timedelta(days=30 if kind == "award" else 40)
                await uow.execute(
                    "INSERT INTO award (id, tenant_id, case_id, kind, corrects_id, status, "
                    "content, version, drafted_by, drafted_at, updated_at, issued_at) VALUES "
                    "({}, {}, {}, {}, {}, 'issued', {}, 1, 'tests', {}, {}, {})",
                    new_id,
                    self.tenant_id,
                    case_id,
                    kind,
                    award_id,
                    json.dumps(content, ensure_ascii=False),
                    issued,
                    issued,
                    issued,
                )
                award_id = new_id
            for user_id in arbitrators:
                await uow.execute(
                    "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, "
                    "appointed_at, appointed_by, chosen_by, released_at) VALUES ({}, {}, {}, "
                    "{}, 'sole', {}, 'tests', 'commission', {})",
                    uuid.uuid4(),
                    self.tenant_id,
                    case_id,
                    user_id,
                    at,
                    at if user_id in released else None,
                )
            if answered:
                await uow.execute(
                    "INSERT INTO case_answer (id, tenant_id, case_id, text, sha256, exhibit_ids, "
                    "submitted_by, submitted_at) VALUES ({}, {}, {}, '答辩', {}, '[]', 'r', {})",
                    uuid.uuid4(),
                    self.tenant_id,
                    case_id,
                    "0" * 64,
                    at,
                )
            if posted or session is not None:
                hearing_id = uuid.uuid4()
                await uow.execute(
                    "INSERT INTO hearing (id, tenant_id, case_id, mode, rounds, opened_at, "
                    "opened_by) VALUES ({}, {}, {}, {}, '[]', {}, 'tests')",
                    hearing_id,
                    self.tenant_id,
                    case_id,
                    "video" if session else "asynchronous",
                    at,
                )
                if posted:
                    await uow.execute(
                        "INSERT INTO hearing_post (id, tenant_id, case_id, hearing_id, seq, "
                        "round, speaker, kind, text, exhibit_ids, posted_by, posted_at) VALUES "
                        "({}, {}, {}, {}, 1, 'debating', 'respondent', 'argument', '意见', '[]', "
                        "'r', {})",
                        uuid.uuid4(),
                        self.tenant_id,
                        case_id,
                        hearing_id,
                        at,
                    )
                if session:
                    await uow.execute(
                        "INSERT INTO hearing_session (id, tenant_id, case_id, hearing_id, "
                        "starts_at, ends_at, link, scheduled_by, scheduled_at, outcome) VALUES "
                        "({}, {}, {}, {}, {}, {}, 'https://v.example.cn/1', 'tests', {}, {})",
                        uuid.uuid4(),
                        self.tenant_id,
                        case_id,
                        hearing_id,
                        at,
                        at + timedelta(hours=1),
                        at,
                        session,
                    )
        self.cases.append(case_id)
        return case_id

    async def awarded(self, ratio: str, claimed: str = "10000.00", **more: Any) -> uuid.UUID:
        """An awarded case whose award orders the respondent to pay ``ratio`` of the claim."""
        amount = f"{Decimal(claimed) * Decimal(ratio):.2f}"
        return await self.case(
            state="awarded", claimed=claimed, awarded=[(amount, "respondent")], **more
        )
