"""Lender batches: a claims file becomes cases, every row accounted for, never twice."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from typing import Any

from arbitral.auth.domain import ClientKind, Role
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.batches.helpers import (
    BATCHES,
    claimant,
    create,
    evidence,
    finished,
    jsonl,
    lender,
    report,
    row,
    submit,
    upload,
)
from tests.cases.helpers import command
from tests.support.world import World

__all__ = ["auth_world", "cheap_password_hashing"]


async def _count(w: World, sql: str, *args: Any) -> int:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(sql, *args)
    return int(rows[0]["n"])


async def test_a_claims_file_becomes_cases_and_every_row_is_reported(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "one")
    good = [row(w.a, n, proof) for n in (1, 2, 3)]
    bad_id = row(w.a, 4, proof)
    bad_id["respondent"] = {**bad_id["respondent"], "id_number": "440306199001011230"}
    no_clause = row(w.a, 5, proof, arbitration_clause="因本合同引起的争议，提交某地仲裁机构仲裁。")
    twice = row(w.a, 2, proof)  # the contract of row 2 again, in the same file
    unknown_file = row(w.a, 6, {**proof, "loan_contract": "0" * 64})
    content = (
        jsonl(good[:2])
        + b'{"respondent": {"kind": "person", broken\n'
        + jsonl([good[2], bad_id, no_clause, twice, unknown_file])
    )
    batch = await submit(w, headers, content, 8)
    assert batch["state"] == "done", batch
    assert batch["counts"] == {
        "declared": 8,
        "read": 8,
        "created": 3,
        "rejected": 4,
        "duplicate": 1,
        "pending": 0,
    }
    assert batch["percent"] == 100.0
    assert batch["file"]["format"] == "jsonl"
    assert batch["file"]["encoding"] == "utf-8"

    lines = await report(w, headers, batch["id"])
    by_row: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        by_row.setdefault(line["row"], []).append(line)
    assert sorted(by_row) == list(range(1, 9))
    assert [line["row"] for line in lines] == sorted(line["row"] for line in lines)
    broken = by_row[3][0]
    assert (broken["state"], broken["line"], broken["rule"]) == ("rejected", 3, "json")
    assert "line 3" in broken["message"]
    assert [(p["field"], p["rule"]) for p in by_row[5]] == [("$.respondent.id_number", "checksum")]
    assert [(p["field"], p["rule"]) for p in by_row[6]] == [("$.arbitration_clause", "commission")]
    duplicate = by_row[7][0]
    assert duplicate["state"] == "duplicate"
    assert duplicate["contract_number"] == "LN-000002"
    assert duplicate["case_id"] == by_row[2][0]["case_id"]
    assert [(p["field"], p["rule"]) for p in by_row[8]] == [
        ("$.evidence.loan_contract", "not_in_custody")
    ]
    created = [by_row[n][0] for n in (1, 2, 4)]
    assert all(c["state"] == "created" and c["case_number"] for c in created)
    # The private lender's interest is above four times the LPR: filed, with a warning.
    assert all(c["rule"] == "interest_cap" for c in created)
    numbers = sorted(c["case_number"] for c in created)
    assert len(set(numbers)) == 3

    # Each case is a case like any other: the lender reads it, with its evidence.
    case_id = created[0]["case_id"]
    case = await w.client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert case.status_code == 200, case.text
    body = case.json()
    assert body["state"] == "filed"
    assert body["filed_by"] == w.a.clients[ClientKind.LENDER][0]
    assert body["claim"]["loan"]["contract_number"] == "LN-000001"
    assert {p["side"] for p in body["parties"]} == {"claimant", "respondent"}
    assert all(p["has_account"] for p in body["parties"])
    exhibits = await w.client.get(f"/api/v1/cases/{case_id}/exhibits", headers=headers)
    assert exhibits.status_code == 200, exhibits.text
    assert [e["number"] for e in exhibits.json()] == ["申1", "申2", "申3", "申4"]
    history = await w.client.get(f"/api/v1/cases/{case_id}/history", headers=headers)
    assert [e["command"] for e in history.json()] == ["file"]
    # The chunk is one leaf of the log over its three cases (tests/batches/test_filings.py).
    assert (
        await _count(
            w,
            "SELECT COUNT(*) AS n FROM ledger_leaf WHERE tenant_id = {} "
            "AND kind = 'batch.cases_filed'",
            w.a.id,
        )
        == 1
    )

    # The CSV report says the same, with a byte-order mark for spreadsheet programs.
    raw = await report(w, headers, batch["id"], "csv")
    assert raw.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [int(r["row"]) for r in table] == [line["row"] for line in lines]


async def test_the_same_key_returns_the_first_batch_and_new_keys_find_duplicates(
    auth_world: World,
) -> None:
    w = auth_world
    headers = await lender(w)
    hook = await w.client.put(
        "/api/v1/webhooks/endpoint",
        json={"url": "https://hooks.lender.example/arbitral"},
        headers=headers,
    )
    assert hook.status_code in (200, 201), hook.text
    proof = await evidence(w, headers, "two")
    content = jsonl([row(w.a, n, proof) for n in (11, 12)])
    key = str(uuid.uuid4())
    first = await submit(w, headers, content, 2, key=key)
    assert first["counts"]["created"] == 2
    # The lender's system is told, by a signed webhook, once.
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        told = await uow.fetch(
            "SELECT payload FROM webhook_delivery WHERE tenant_id = {} AND event_type = {}",
            w.a.id,
            "batch.completed",
        )
    payloads = [
        json.loads(t["payload"]) if isinstance(t["payload"], str) else t["payload"] for t in told
    ]
    mine = [p for p in payloads if json.dumps(p).find(first["id"]) >= 0]
    assert len(mine) == 1, payloads
    cases = await _count(w, "SELECT COUNT(*) AS n FROM arb_case WHERE tenant_id = {}", w.a.id)

    again = await create(w, headers, 2, key=key)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert again.json()["state"] == "done"
    reupload = await upload(w, headers, first["id"], content)
    assert reupload.status_code == 202
    other_body = await create(w, headers, 3, key=key)
    assert other_body.status_code == 409
    assert other_body.json()["errors"][0]["rule"] == "reused"
    other_file = await upload(w, headers, first["id"], content + content)
    assert other_file.status_code == 409

    second = await submit(w, headers, content, 2)
    assert second["id"] != first["id"]
    assert second["counts"]["created"] == 0
    assert second["counts"]["duplicate"] == 2
    lines = await report(w, headers, second["id"])
    assert {line["state"] for line in lines} == {"duplicate"}
    assert all(line["case_id"] for line in lines)
    assert (
        await _count(w, "SELECT COUNT(*) AS n FROM arb_case WHERE tenant_id = {}", w.a.id) == cases
    )


async def test_a_file_of_bad_rows_creates_nothing_and_reports_every_row(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "three")
    rows = [row(w.a, n, proof, amount_claimed="-1") for n in range(21, 26)]
    before = await _count(w, "SELECT COUNT(*) AS n FROM arb_case WHERE tenant_id = {}", w.a.id)
    batch = await submit(w, headers, jsonl(rows) + b"[1, 2]\n", 6)
    assert batch["state"] == "done"
    assert batch["counts"]["created"] == 0
    assert batch["counts"]["rejected"] == 6
    lines = await report(w, headers, batch["id"])
    assert sorted({line["row"] for line in lines}) == list(range(1, 7))
    assert all(line["state"] == "rejected" for line in lines)
    assert (
        await _count(w, "SELECT COUNT(*) AS n FROM arb_case WHERE tenant_id = {}", w.a.id) == before
    )


async def test_a_wrong_row_count_stops_the_batch_before_anything_is_filed(
    auth_world: World,
) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "four")
    batch = await submit(w, headers, jsonl([row(w.a, n, proof) for n in (31, 32)]), 3)
    assert batch["state"] == "failed"
    assert batch["counts"]["created"] == 0
    [problem] = batch["problems"]
    assert problem["field"] == "$.declared_rows"
    assert problem["rule"] == "row_count"
    assert "declared 3" in problem["message"]
    assert "has 2" in problem["message"]


def _csv(rows: list[dict[str, Any]], encoding: str) -> bytes:
    columns = [
        "loan.contract_number",
        "respondent.kind",
        "respondent.name",
        "respondent.id_number",
        "respondent.phone",
        "agreed_service_address",
        "arbitration_clause",
        "amount_claimed",
        "claims",
        "loan.lender_kind",
        "loan.contract_date",
        "loan.contract_principal",
        "loan.disbursements",
        "loan.annual_interest_rate",
        "loan.maturity_date",
        "loan.default_annual_rate",
        "loan.fees",
        "loan.penalty.amount",
        "loan.penalty.date",
        "loan.repayments",
        "loan.claimed.principal",
        "loan.claimed.interest",
        "loan.claimed.default_interest",
        "loan.claimed.fees",
        "loan.claimed.penalty",
        "loan.assessed_on",
        "evidence.loan_contract",
        "evidence.disbursement_proof",
        "evidence.repayment_record",
        "evidence.identity_verification",
    ]
    import json

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for data in rows:
        cells = []
        for column in columns:
            value: Any = data
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if column in {"loan.disbursements", "loan.repayments"}:
                value = ";".join(f"{f['date']}:{f['amount']}" for f in value or [])
            elif column == "loan.fees":
                value = json.dumps(value, ensure_ascii=False) if value else ""
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return out.getvalue().encode(encoding)


async def test_a_gbk_csv_file_is_read_and_its_encoding_reported(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "five")
    content = _csv([row(w.a, n, proof) for n in (41, 42)], "gb18030")
    try:
        content.decode("utf-8")
        raise AssertionError("the test file must not be UTF-8")
    except UnicodeDecodeError:
        pass
    batch = await submit(w, headers, content, 2, content_type="text/csv")
    assert batch["state"] == "done", batch
    assert batch["file"]["encoding"] == "gb18030"
    assert batch["counts"]["created"] == 2
    lines = await report(w, headers, batch["id"])
    case = await w.client.get(f"/api/v1/cases/{lines[0]['case_id']}", headers=headers)
    assert case.json()["parties"][1]["name"] == "借款人41"

    utf8 = _csv([row(w.a, n, proof) for n in (43,)], "utf-8")
    batch = await submit(w, headers, utf8, 1, content_type="text/csv")
    assert batch["file"]["encoding"] == "utf-8"
    assert batch["counts"]["created"] == 1

    bad_header = b"loan.contract_number,respondent.nmae\nLN-1,x\n"
    batch = await submit(w, headers, bad_header, 1, content_type="text/csv")
    assert batch["state"] == "failed"
    [problem] = batch["problems"]
    assert problem["rule"] == "column"
    assert "respondent.nmae" in problem["message"]


async def test_batches_are_seen_by_their_lender_and_the_staff_only(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "six")
    batch = await submit(w, headers, jsonl([row(w.a, 51, proof)]), 1)
    url = f"{BATCHES}/{batch['id']}"
    other = await lender(w, w.b)
    assert (await w.client.get(url, headers=other)).status_code == 404
    assert (await w.client.get(f"{url}/report", headers=other)).status_code == 404
    for role in (Role.CLAIMANT, Role.RESPONDENT, Role.ARBITRATOR):
        assert (await w.client.get(url, headers=await w.login(w.a, role))).status_code == 404
    staff = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.get(url, headers=staff)).status_code == 200
    listed = await w.client.get(BATCHES, headers=staff)
    assert batch["id"] in {b["id"] for b in listed.json()["items"]}
    mine = await w.client.get(BATCHES, headers=other)
    assert mine.json()["items"] == []
    # Only a lender's system files batches, and with an Idempotency-Key.
    refused = await w.client.post(
        BATCHES, json={"declared_rows": 1, "claimant": {}}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "header.Idempotency-Key"
    bad = await create(w, headers, 0)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "$.declared_rows"
    bad = await create(w, headers, 1, case_type="online-purchase")
    assert bad.json()["errors"][0]["field"] == "$.case_type"
    # The lender as claimant: checked alone, field by field.
    wrong = {**claimant(), "id_number": "91350100M000100Y44"}
    bad = await create(w, headers, 1, claimant=wrong)
    assert bad.status_code == 422, bad.text
    assert [(e["field"], e["rule"]) for e in bad.json()["errors"]] == [
        ("$.claimant.id_number", "checksum")
    ]
    bad = await create(w, headers, 1, claimant=None)
    assert bad.status_code == 400, bad.text  # not an object: refused as the body is read
    assert bad.json()["errors"][0]["field"] == "$.claimant"
    done = await finished(w, headers, batch["id"])
    assert done["state"] == "done"


async def test_a_finished_batch_is_accepted_when_the_commission_says_so(auth_world: World) -> None:
    from tests.batches.test_acceptance import set_policy

    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "seven")
    batch = await submit(w, headers, jsonl([row(w.a, n, proof) for n in (61, 62)]), 2)
    lines = await report(w, headers, batch["id"])
    states = [
        (await w.client.get(f"/api/v1/cases/{line['case_id']}", headers=headers)).json()["state"]
        for line in lines
    ]
    assert states == ["filed", "filed"]  # a secretary accepts them (policy off)

    await set_policy(w, True)
    batch = await submit(w, headers, jsonl([row(w.a, n, proof) for n in (63, 64)]), 2)
    lines = await report(w, headers, batch["id"])
    for _ in range(200):
        states = [
            (await w.client.get(f"/api/v1/cases/{line['case_id']}", headers=headers)).json()[
                "state"
            ]
            for line in lines
        ]
        if states == ["accepted", "accepted"]:
            break
        await asyncio.sleep(0.05)
    assert states == ["accepted", "accepted"]
    invoice = await w.client.get(f"{BATCHES}/{batch['id']}/invoice", headers=headers)
    assert invoice.status_code == 200, invoice.text


async def test_a_contract_filed_one_by_one_is_a_duplicate_anywhere_after(
    auth_world: World,
) -> None:
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "eight")
    single = row(w.a, 81, proof)
    claim = {k: v for k, v in single.items() if k not in {"arbitration_clause", "evidence"}}
    claim["claimant"] = claimant()
    filed = await w.client.post(
        "/api/v1/cases", json={"case_type": "online-loan", "claim": claim}, headers=headers
    )
    assert filed.status_code == 201, filed.text
    again = await w.client.post(
        "/api/v1/cases", json={"case_type": "online-loan", "claim": claim}, headers=headers
    )
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["field"] == "$.claim.loan.contract_number"
    assert again.json()["case_id"] == filed.json()["id"]
    batch = await submit(w, headers, jsonl([single, row(w.a, 82, proof)]), 2)
    assert batch["counts"]["created"] == 1
    assert batch["counts"]["duplicate"] == 1
    lines = await report(w, headers, batch["id"])
    assert lines[0]["state"] == "duplicate"
    assert lines[0]["case_id"] == filed.json()["id"]


async def test_an_amended_claim_moves_its_contract_registration(auth_world: World) -> None:
    """A returned claim amended to another contract: the new one is claimed (refused when
    another case has it), the old one is free again."""
    w = auth_world
    headers = await lender(w)
    proof = await evidence(w, headers, "nine")
    secretary = await w.login(w.a, Role.SECRETARY)

    def claim_of(n: int) -> dict[str, Any]:
        data = row(w.a, n, proof)
        claim = {k: v for k, v in data.items() if k not in {"arbitration_clause", "evidence"}}
        claim["claimant"] = claimant()
        return claim

    async def file(n: int) -> Any:
        return await w.client.post(
            "/api/v1/cases",
            json={"case_type": "online-loan", "claim": claim_of(n)},
            headers=headers,
        )

    first, second = (await file(83)).json(), (await file(84)).json()
    returned = await command(w, secretary, first["id"], "return_for_correction", "wrong loan")
    assert returned.status_code == 200, returned.text

    async def amend(n: int) -> Any:
        return await w.client.post(
            f"/api/v1/cases/{first['id']}/amendment",
            json={"claim": claim_of(n), "reason": "the right loan"},
            headers=headers,
        )

    taken = await amend(84)
    assert taken.status_code == 409, taken.text
    assert taken.json()["errors"][0]["field"] == "$.claim.loan.contract_number"
    assert taken.json()["case_id"] == second["id"]
    still = await w.client.get(f"/api/v1/cases/{first['id']}", headers=headers)
    assert still.json()["state"] == "returned", "the refused amendment changed nothing"
    amended = await amend(85)
    assert amended.status_code == 200, amended.text
    again = await file(85)
    assert again.status_code == 409, again.text
    assert again.json()["case_id"] == first["id"]
    freed = await file(83)
    assert freed.status_code == 201, freed.text
