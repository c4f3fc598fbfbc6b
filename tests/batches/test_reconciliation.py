"""The reconciliation of a batch: its counters, its cases' outcomes and amounts, per case."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.batches import reconciliation
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.fairness.builder import Book
from tests.support.world import World

__all__ = ["auth_world", "cheap_password_hashing"]


def url(batch_id: uuid.UUID) -> str:
    return f"/api/v1/batches/{batch_id}/reconciliation"


async def fixture(w: World) -> tuple[uuid.UUID, dict[int, uuid.UUID], Book]:
    """A batch of the world's lender of A: 9 rows, 2 refused, 7 cases in every outcome."""
    lender = w.a.clients[ClientKind.LENDER][0]
    book = Book(w.runtime, w.a.id)
    batch_id = await book.batch(
        client_id=lender,
        rows_read=9,
        cases_created=7,
        rows_rejected=1,
        rows_duplicate=1,
        problems=((3, "rejected"), (6, "duplicate")),
    )
    common: dict[str, Any] = {"batch_id": batch_id, "client_id": lender}
    rows = {
        1: await book.case(row_no=1, state="answer_period", claimed="10000.00", **common),
        2: await book.case(row_no=2, state="filed", accepted=False, claimed="5000.00", **common),
        # Two items for the respondent, one for the claimant: 8,234.56 ordered paid.
        4: await book.case(
            row_no=4,
            state="awarded",
            claimed="10000.00",
            awarded=[("1234.56", "respondent"), ("7000.00", "respondent"), ("50.00", "claimant")],
            **common,
        ),
        # The correction issued later restates the award: 9,500.00, not 9,000.00.
        5: await book.case(
            row_no=5,
            state="awarded",
            claimed="20000.00",
            awarded=[("9000.00", "respondent")],
            correction=[("9500.00", "respondent")],
            **common,
        ),
        7: await book.case(row_no=7, state="withdrawn", claimed="3000.00", **common),
        8: await book.case(row_no=8, state="rejected", accepted=False, claimed="2000.00", **common),
        9: await book.case(row_no=9, state="settled", claimed="4000.00", **common),
    }
    # Neither another batch's case nor a case filed one by one belongs to it.
    other = await book.batch(client_id="another-lender")
    await book.case(row_no=1, state="awarded", awarded=[("1.00", "respondent")], batch_id=other)
    await book.case(state="awarded", awarded=[("1.00", "respondent")])
    return batch_id, rows, book


async def test_the_numbers_of_a_batch(auth_world: World) -> None:
    w = auth_world
    batch_id, rows, _ = await fixture(w)
    lender = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}
    response = await w.client.get(url(batch_id), headers=lender)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["batch_id"] == str(batch_id)
    assert (body["rows_read"], body["cases_created"]) == (9, 7)
    assert (body["rows_rejected"], body["rows_duplicate"]) == (1, 1)
    assert body["problems"] == {"rejected": 1, "duplicate": 1}
    assert body["cases"] == 7
    assert body["outcomes"] == {
        "in_progress": 2,
        "in_progress_by_state": {"answer_period": 1, "filed": 1},
        "accepted": 5,
        "rejected": 1,
        "settled": 1,
        "awarded": 2,
        "enforced": 0,
        "withdrawn": 1,
    }
    assert body["amount_claimed"] == "54000.00"
    assert body["amount_claimed_awarded"] == "30000.00"
    assert body["amount_awarded"] == "17734.56"
    assert body["award_ratio"] == 0.5912

    # The staff see it too, and the per-case file parses.
    secretary = await w.login(w.a, Role.SECRETARY)
    response = await w.client.get(url(batch_id), params={"format": "csv"}, headers=secretary)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f"batch-{batch_id}-cases.csv" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["row_no"]) for r in table] == [1, 2, 4, 5, 7, 8, 9]
    by_row = {int(r["row_no"]): r for r in table}
    assert by_row[4]["amount_awarded"] == "8234.56"
    assert by_row[5]["amount_awarded"] == "9500.00"
    assert by_row[5]["amount_claimed"] == "20000.00"
    assert by_row[9]["state"] == "settled"
    assert by_row[9]["amount_awarded"] == ""
    assert by_row[1]["case_id"] == str(rows[1])
    assert by_row[1]["number"].startswith("(2026)")
    assert by_row[7]["contract_number"].startswith("LOAN-")
    assert list(table[0]) == list(reconciliation.LINE_FIELDS)


async def test_json_lines_in_chunks_are_the_same_lines(auth_world: World) -> None:
    w = auth_world
    batch_id, rows, _ = await fixture(w)
    lender = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}
    response = await w.client.get(url(batch_id), params={"format": "jsonl"}, headers=lender)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jsonl")
    whole = [json.loads(line) for line in response.text.splitlines()]
    assert [line["case_id"] for line in whole] == [str(rows[n]) for n in sorted(rows)]
    # Two lines a query: the keyset carries on where each chunk stopped.
    operator = Principal.operator(w.a.id, "tests")
    stream, _, _ = await reconciliation.lines(w.runtime, operator, batch_id, "jsonl", chunk=2)
    chunked = [json.loads(line) async for part in stream for line in part.splitlines()]
    assert chunked == whole


async def test_only_its_lender_and_the_staff_see_a_batch(auth_world: World) -> None:
    w = auth_world
    batch_id, _, book = await fixture(w)
    mine = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}
    others = await book.batch(client_id="another-lender")
    response = await w.client.get(url(others), headers=mine)
    assert response.status_code == 404, response.text
    response = await w.client.get(url(others), params={"format": "csv"}, headers=mine)
    assert response.status_code == 404, response.text
    for role in (Role.ARBITRATOR, Role.CLAIMANT, Role.RESPONDENT, Role.AGENT):
        response = await w.client.get(url(batch_id), headers=await w.login(w.a, role))
        assert response.status_code == 404, (role, response.text)
    court = {"authorization": f"Bearer {await w.token(w.a, ClientKind.COURT)}"}
    assert (await w.client.get(url(batch_id), headers=court)).status_code == 404
    # Another commission's staff and lender: 404 as for a batch that does not exist.
    for headers in (
        await w.login(w.b, Role.SECRETARY),
        await w.login(w.b, Role.COMMISSION_ADMIN),
        {"authorization": f"Bearer {await w.token(w.b, ClientKind.LENDER)}"},
    ):
        response = await w.client.get(url(batch_id), params={"format": "csv"}, headers=headers)
        assert response.status_code == 404, response.text
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    assert (await w.client.get(url(batch_id), headers=admin)).status_code == 200
    response = await w.client.get(url(batch_id), params={"format": "xml"}, headers=admin)
    assert response.status_code in (400, 422), response.text
    assert response.json()["errors"][0]["field"] == "query:format"


async def test_a_batch_without_cases(auth_world: World) -> None:
    w = auth_world
    book = Book(w.runtime, w.a.id)
    batch_id = await book.batch(
        client_id=w.a.clients[ClientKind.LENDER][0], rows_read=1, rows_rejected=1
    )
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    body = (await w.client.get(url(batch_id), headers=admin)).json()
    assert body["cases"] == 0
    assert body["outcomes"]["in_progress_by_state"] == {}
    assert (body["amount_claimed"], body["amount_awarded"], body["award_ratio"]) == (
        "0.00",
        "0.00",
        None,
    )
    response = await w.client.get(url(batch_id), params={"format": "csv"}, headers=admin)
    assert response.text.splitlines() == [",".join(reconciliation.LINE_FIELDS)]
