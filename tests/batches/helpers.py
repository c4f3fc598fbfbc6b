"""Lender batches in the tests' world: evidence in custody, claims files, waiting for a batch."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import uuid
from typing import Any

from arbitral.auth.domain import ClientKind
from arbitral.rules.parties import resident_id_check_char
from tests.custody.test_inspect import make_pdf
from tests.rules.test_claims import COMPANY_CODE, loan_document
from tests.support.world import Tenant, World

BATCHES = "/api/v1/batches"
KINDS = ("loan_contract", "disbursement_proof", "repayment_record", "identity_verification")
LENDER_SCOPES = "tenant:read cases:file cases:read batches:submit evidence:submit"


async def lender(w: World, tenant: Tenant | None = None) -> dict[str, str]:
    token = await w.token(tenant or w.a, ClientKind.LENDER, LENDER_SCOPES)
    return {"authorization": f"Bearer {token}"}


def claimant() -> dict[str, Any]:
    return {
        "kind": "company",
        "name": "某某小额贷款有限公司",
        "id_number": COMPANY_CODE,
        "email": "legal@lender.example.cn",
        "address": "广州市天河区某路1号",
    }


def resident_id(n: int) -> str:
    body = f"44030619900101{n % 1000:03d}"
    return body + resident_id_check_char(body)


async def evidence(w: World, headers: dict[str, str], tag: str) -> dict[str, str]:
    """One file per required kind, taken into custody by the lender; kind -> SHA-256."""
    found: dict[str, str] = {}
    for kind in KINDS:
        pdf = make_pdf() + f"% {tag} {kind}\n".encode()
        response = await w.client.post(
            "/api/v1/custody/items",
            params={"filename": f"{tag}-{kind}.pdf", "title": f"{kind} {tag}"},
            content=pdf,
            headers=headers,
        )
        assert response.status_code == 201, response.text
        found[kind] = hashlib.sha256(pdf).hexdigest()
    return found


def row(tenant: Tenant, n: int, proof: dict[str, str], **changes: Any) -> dict[str, Any]:
    """A valid claims-file row for the loan contract LN-<n>."""
    loan = copy.deepcopy(loan_document())
    loan["contract_number"] = f"LN-{n:06d}"
    data: dict[str, Any] = {
        "respondent": {
            "kind": "person",
            "name": f"借款人{n}",
            "id_number": resident_id(n),
            "phone": f"+86139{n:08d}",
        },
        "loan": loan,
        "agreed_service_address": f"深圳市南山区某路{n}号",
        "arbitration_clause": f"因本合同引起的争议，提交{tenant.slug}仲裁委员会仲裁。",
        "amount_claimed": "10782.00",
        "claims": "请求被申请人偿还借款本金及利息。",
        "evidence": dict(proof),
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


async def create(
    w: World,
    headers: dict[str, str],
    declared: int,
    *,
    key: str | None = None,
    **body: Any,
) -> Any:
    return await w.client.post(
        BATCHES,
        json={"declared_rows": declared, "claimant": claimant(), **body},
        headers={**headers, "idempotency-key": key or str(uuid.uuid4())},
    )


async def upload(
    w: World,
    headers: dict[str, str],
    batch_id: str,
    content: bytes,
    content_type: str = "application/x-ndjson",
) -> Any:
    return await w.client.put(
        f"{BATCHES}/{batch_id}/claims",
        content=content,
        headers={
            **headers,
            "content-type": content_type,
            "x-content-sha256": hashlib.sha256(content).hexdigest(),
        },
    )


async def submit(
    w: World, headers: dict[str, str], content: bytes, declared: int, **kwargs: Any
) -> dict[str, Any]:
    """Create, upload, wait until done or failed; the batch."""
    content_type = kwargs.pop("content_type", "application/x-ndjson")
    created = await create(w, headers, declared, **kwargs)
    assert created.status_code == 201, created.text
    batch_id = created.json()["id"]
    uploaded = await upload(w, headers, batch_id, content, content_type)
    assert uploaded.status_code == 202, uploaded.text
    return await finished(w, headers, batch_id)


async def finished(w: World, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
    for _ in range(600):
        response = await w.client.get(f"{BATCHES}/{batch_id}", headers=headers)
        assert response.status_code == 200, response.text
        batch: dict[str, Any] = response.json()
        if batch["state"] in {"done", "failed"}:
            return batch
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {batch}")


async def report(w: World, headers: dict[str, str], batch_id: str, fmt: str = "jsonl") -> Any:
    response = await w.client.get(
        f"{BATCHES}/{batch_id}/report", params={"format": fmt}, headers=headers
    )
    assert response.status_code == 200, response.text
    if fmt == "jsonl":
        return [json.loads(line) for line in response.text.splitlines()]
    return response.content
