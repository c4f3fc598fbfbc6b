"""Witnesses: the registry, the public log protocol, cosignatures, k of n, the witness itself."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arbitral.auth.domain import Role
from arbitral.cli import main
from arbitral.jobs.registry import get_job, load_jobs
from arbitral.jobs.runner import run_job
from arbitral.keys.domain import import_public_jwk, public_jwk, sign_compact, verify_compact
from arbitral.ledger import services
from arbitral.ledger.actors import ISSUE_HEADS_JOB
from arbitral.ledger.domain import ReceiptInvalid, TreeHead
from arbitral.ledger.witness import (
    CosignatureInvalid,
    WitnessAlarm,
    WitnessKey,
    WitnessKeyError,
    WitnessState,
    check_public_jwk,
    new_witness_key,
    sign_cosignature,
    valid_cosigners,
    verify_cosignature,
    verify_receipt,
    witness_key_from_jwk,
    witness_once,
)
from arbitral.ledger.witness import _check_head as check_head
from tests.support.world import Tenant, World

WITNESSES = "/api/v1/ledger/witnesses"


def log_url(tenant: Tenant) -> str:
    return f"/t/{tenant.slug}"


async def append(w: World, tenant: Tenant, count: int, start: int = 0) -> None:
    async with w.runtime.db.transaction(tenant_id=tenant.id) as uow:
        await services.append_many(
            uow, tenant.id, "test", [{"n": start + i, "sha256": f"{i:064x}"} for i in range(count)]
        )


async def register(
    w: World, admin: dict[str, str], name: str, kind: str = "notary"
) -> tuple[WitnessKey, dict[str, Any]]:
    _, key = new_witness_key()
    response = await w.client.post(
        WITNESSES, json={"name": name, "kind": kind, "public_jwk": key.public_jwk}, headers=admin
    )
    assert response.status_code == 201, response.text
    return key, response.json()


async def count_cosignatures(w: World, tenant: Tenant) -> int:
    async with w.runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT count(*) AS n FROM ledger_cosignature WHERE tenant_id = {}", tenant.id
        )
    return int(rows[0]["n"])


async def ledger_keys(w: World, tenant: Tenant) -> dict[str, Any]:
    response = await w.client.get(f"{log_url(tenant)}/.well-known/ledger-keys.json")
    assert response.status_code == 200
    return {k["kid"]: k for k in response.json()["keys"]}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


# -- pure ---------------------------------------------------------------------------------


def test_only_ed25519_public_keys_can_be_witness_keys() -> None:
    private_jwk, key = new_witness_key()
    assert check_public_jwk(key.public_jwk)["kid"] == key.kid
    bare = {k: key.public_jwk[k] for k in ("kty", "crv", "x")}
    assert check_public_jwk(bare) == key.public_jwk
    refusals = {
        "public_only": private_jwk,
        "algorithm": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        "format": {**bare, "x": "c2hvcnQ"},
        "kid": {**bare, "kid": "not-the-thumbprint"},
        "use": {**bare, "use": "enc"},
        "type": ["not", "an", "object"],
    }
    for rule, jwk in refusals.items():
        with pytest.raises(WitnessKeyError) as caught:
            check_public_jwk(jwk)
        assert caught.value.rule == rule, (rule, str(caught.value))
    for other in ({**bare, "crv": "X25519"}, {**bare, "alg": "HS256"}):
        with pytest.raises(WitnessKeyError, match="Ed25519"):
            check_public_jwk(other)
    assert witness_key_from_jwk(private_jwk).kid == key.kid
    with pytest.raises(WitnessKeyError, match="private"):
        witness_key_from_jwk(key.public_jwk)


def test_a_cosignature_signs_exactly_the_head() -> None:
    from datetime import UTC, datetime

    _, key = new_witness_key()
    head = TreeHead("urn:arbitral:ledger:x", 7, bytes(32), datetime(2026, 1, 1, tzinfo=UTC))
    token = sign_cosignature(key.private_key, head.payload())
    verify_cosignature(token, key.public_jwk, head.payload())
    other = TreeHead(head.log_id, 8, bytes(32), head.timestamp)
    with pytest.raises(CosignatureInvalid, match="signs the head of size 7") as caught:
        verify_cosignature(token, key.public_jwk, other.payload())
    assert caught.value.rule == "payload"
    _, stranger = new_witness_key()
    with pytest.raises(CosignatureInvalid) as caught:
        verify_cosignature(token, stranger.public_jwk, head.payload())
    assert caught.value.rule == "signature"
    untyped = sign_compact(key.private_key, key.kid, head.payload())
    with pytest.raises(CosignatureInvalid) as caught:
        verify_cosignature(untyped, key.public_jwk, head.payload())
    assert caught.value.rule == "typ"
    with pytest.raises(CosignatureInvalid) as caught:
        verify_cosignature("not.a-jws", key.public_jwk, head.payload())
    assert caught.value.rule == "jws"
    # Offline, only the keys the checker accepts count (a broken one counts nothing).
    cosignatures = [{"witness_kid": key.kid, "signature": token}]
    assert valid_cosigners(head.payload(), cosignatures, {key.kid: key.public_jwk}) == [key.kid]
    assert valid_cosigners(head.payload(), cosignatures, {key.kid: {"kty": "RSA"}}) == []
    assert valid_cosigners(other.payload(), cosignatures, {key.kid: key.public_jwk}) == []


# -- the registry -------------------------------------------------------------------------


async def test_the_commission_admin_keeps_the_witness_registry(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    key, created = await register(w, admin, "广州公证处", "notary")
    assert created["kid"] == key.kid
    assert created["public_jwk"] == key.public_jwk
    assert created["active"] is True
    assert created["kind"] == "notary"
    listed = (await w.client.get(WITNESSES, headers=admin)).json()
    assert [x["id"] for x in listed] == [created["id"]]

    # Refusals name the field and the rule, and leave nothing behind.
    private_jwk, _ = new_witness_key()
    body = {"name": "x", "kind": "court", "public_jwk": private_jwk}
    refused = problem(await w.client.post(WITNESSES, json=body, headers=admin), 422)
    assert refused["errors"][0]["field"] == "$.public_jwk"
    assert refused["errors"][0]["rule"] == "public_only"
    rsa = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    body = {"name": "x", "kind": "court", "public_jwk": rsa}
    refused = problem(await w.client.post(WITNESSES, json=body, headers=admin), 422)
    assert refused["errors"][0]["rule"] == "algorithm"
    body = {"name": "x", "kind": "bank", "public_jwk": key.public_jwk}
    refused = problem(await w.client.post(WITNESSES, json=body, headers=admin), 400)
    assert refused["errors"][0]["field"] == "$.kind"
    body = {"name": "again", "kind": "court", "public_jwk": key.public_jwk}
    refused = problem(await w.client.post(WITNESSES, json=body, headers=admin), 409)
    assert "广州公证处" in refused["detail"]
    own = await w.runtime.keys.active_key(w.a.id, "ledger")
    body = {"name": "self", "kind": "tenant", "public_jwk": own.public_jwk}
    refused = problem(await w.client.post(WITNESSES, json=body, headers=admin), 422)
    assert refused["errors"][0]["rule"] == "independent"
    assert len((await w.client.get(WITNESSES, headers=admin)).json()) == 1

    # Staff without keys:manage, and the other commission, do not see it.
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.get(WITNESSES, headers=secretary)).status_code == 403
    deactivate = f"{WITNESSES}/{created['id']}/deactivate"
    assert (await w.client.post(deactivate, headers=secretary)).status_code == 404
    b_admin = await w.login(w.b, Role.COMMISSION_ADMIN)
    assert (await w.client.post(deactivate, headers=b_admin)).status_code == 404
    assert (await w.client.get(WITNESSES, headers=b_admin)).json() == []
    unknown = f"{WITNESSES}/{uuid4()}/deactivate"
    assert (await w.client.post(unknown, headers=admin)).status_code == 404

    done = await w.client.post(deactivate, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["active"] is False
    again = await w.client.post(deactivate, headers=admin)
    assert again.status_code == 200
    assert again.json()["active"] is False
    published = (await w.client.get(f"{log_url(w.a)}/ledger/witnesses")).json()
    assert published["witnesses"] == []

    events = (await w.client.get("/api/v1/audit-events", headers=admin)).json()["items"]
    actions = [e["action"] for e in events if e["target_id"] == created["id"]]
    assert actions == ["ledger.witness_deactivated", "ledger.witness_registered"]


# -- the witness, end to end ----------------------------------------------------------------


async def test_witnesses_check_consistency_and_cosign(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    notary, notary_out = await register(w, admin, "公证处", "notary")
    court, _ = await register(w, admin, "互联网法院", "court")
    commission, _ = await register(w, admin, "深圳仲裁委员会", "tenant")
    await append(w, w.a, 5)

    # Public: no credentials. The first request issues the log's first head.
    first = await w.client.get(f"{log_url(w.a)}/ledger/head")
    assert first.status_code == 200, first.text
    head = first.json()
    assert head["tree_size"] == 5
    assert head["cosignatures"] == []
    assert head["status"] == "pending"
    assert head["required"] == 1
    assert head["witnesses"] == 3

    # First sight: nothing to compare with; the notary cosigns and remembers.
    round1 = await witness_once(w.client, log_url(w.a), notary, None)
    assert round1.checked == "first sight"
    assert round1.created
    assert round1.state.tree_size == 5
    assert round1.state.head_signature == head["signature"]
    status = (await w.client.get(f"{log_url(w.a)}/ledger/head")).json()
    assert status["status"] == "cosigned"
    assert status["satisfied"]
    assert status["valid"] == 1
    [shown] = status["cosignatures"]
    assert shown["witness_kid"] == notary.kid
    assert shown["witness_name"] == "公证处"
    assert shown["counted"] is True
    two = (await w.client.get(f"{log_url(w.a)}/ledger/head", params={"required": 2})).json()
    assert two["required"] == 2
    assert not two["satisfied"]
    assert two["status"] == "pending"

    # The same head again: the stored cosignature, not a second one.
    round2 = await witness_once(w.client, log_url(w.a), notary, round1.state)
    assert round2.checked == "unchanged"
    assert not round2.created
    assert await count_cosignatures(w, w.a) == 1

    # The log grows and a new head is issued: the proof from 5 to 12 is checked.
    await append(w, w.a, 7, start=5)
    await services.issue_head(w.runtime, w.a.id)
    round3 = await witness_once(w.client, log_url(w.a), notary, round2.state)
    assert round3.checked == "consistent"
    assert round3.previous_size == 5
    assert round3.state.tree_size == 12
    assert round3.created
    court_round = await witness_once(w.client, log_url(w.a), court, round1.state)
    assert court_round.checked == "consistent"
    status = (await w.client.get(f"{log_url(w.a)}/ledger/head", params={"required": 2})).json()
    assert status["tree_size"] == 12
    assert status["valid"] == 2
    assert status["satisfied"]
    earlier = (await w.client.get(f"{log_url(w.a)}/ledger/heads/5")).json()
    assert [c["witness_kid"] for c in earlier["cosignatures"]] == [notary.kid]

    # Receipts carry the cosignatures; k of n is checked offline against the
    # witnesses the commission publishes.
    receipt = await services.receipt(w.runtime, w.a.id, 3)
    assert sorted(c["witness_kid"] for c in receipt["cosignatures"]) == sorted(
        [notary.kid, court.kid]
    )
    published = (await w.client.get(f"{log_url(w.a)}/ledger/witnesses")).json()
    witness_keys = {x["kid"]: x["public_jwk"] for x in published["witnesses"]}
    assert set(witness_keys) == {notary.kid, court.kid, commission.kid}
    keys = await ledger_keys(w, w.a)

    def check(token: str, kid: str | None) -> bytes:
        return verify_compact(token, import_public_jwk(keys[kid or ""]))

    checked = verify_receipt(receipt, verify_signature=check, witness_keys=witness_keys, required=2)
    assert set(checked.cosigned_by) == {notary.kid, court.kid}
    with pytest.raises(ReceiptInvalid, match=r"^3 of 3 cosignatures required, 2 valid$"):
        verify_receipt(receipt, verify_signature=check, witness_keys=witness_keys, required=3)

    # Only the notary cosigns the next head: 1 of 3 is enough for k=1, not for k=2.
    await append(w, w.a, 1, start=12)
    await services.issue_head(w.runtime, w.a.id)
    await witness_once(w.client, log_url(w.a), notary, round3.state)
    receipt = await services.receipt(w.runtime, w.a.id, 12)
    assert [c["witness_kid"] for c in receipt["cosignatures"]] == [notary.kid]
    verify_receipt(receipt, verify_signature=check, witness_keys=witness_keys, required=1)
    with pytest.raises(ReceiptInvalid, match=r"^2 of 3 cosignatures required, 1 valid$"):
        verify_receipt(receipt, verify_signature=check, witness_keys=witness_keys, required=2)
    # A cosignature whose signature was altered does not count.
    forged = json.loads(json.dumps(receipt))
    forged["cosignatures"][0]["signature"] = round1.state.head_signature
    with pytest.raises(ReceiptInvalid, match="1 of 3 cosignatures required, 0 valid"):
        verify_receipt(forged, verify_signature=check, witness_keys=witness_keys, required=1)

    # A deactivated witness's cosignatures stay on record but stop counting.
    await w.client.post(f"{WITNESSES}/{notary_out['id']}/deactivate", headers=admin)
    status = (await w.client.get(f"{log_url(w.a)}/ledger/head")).json()
    assert status["valid"] == 0
    assert not status["satisfied"]
    assert status["cosignatures"][0]["reason"] == "the witness was deactivated"

    events = (await w.client.get("/api/v1/audit-events", headers=admin)).json()["items"]
    assert sum(e["action"] == "ledger.cosigned" for e in events) == 4


async def test_cosignatures_are_refused_precisely(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    notary, notary_out = await register(w, admin, "公证处")
    retired, retired_out = await register(w, admin, "旧公证处")
    await w.client.post(f"{WITNESSES}/{retired_out['id']}/deactivate", headers=admin)
    b_admin = await w.login(w.b, Role.COMMISSION_ADMIN)
    foreign, _ = await register(w, b_admin, "B's notary")
    await append(w, w.a, 3)
    head = (await w.client.get(f"{log_url(w.a)}/ledger/head")).json()
    keys = await ledger_keys(w, w.a)
    payload = verify_compact(head["signature"], import_public_jwk(keys[head["kid"]]))
    url = f"{log_url(w.a)}/ledger/cosignatures"

    async def submit(key: WitnessKey, cosignature: str, head_signature: str | None = None) -> Any:
        return await w.client.post(
            url,
            json={
                "head_signature": head_signature or head["signature"],
                "witness_kid": key.kid,
                "cosignature": cosignature,
            },
        )

    def rule_of(response: Any, status: int) -> tuple[str, str]:
        body = problem(response, status)
        return body["errors"][0]["field"], body["errors"][0]["rule"]

    # Unknown kid (a witness of the other commission is unknown here).
    response = await submit(foreign, sign_cosignature(foreign.private_key, payload))
    assert rule_of(response, 422) == ("$.witness_kid", "registered")
    # A deactivated witness.
    response = await submit(retired, sign_cosignature(retired.private_key, payload))
    assert rule_of(response, 403) == ("$.witness_kid", "active")
    # A cosignature over another payload.
    other = TreeHead(head["log_id"], 2, bytes(32), TreeHead.from_payload(payload).timestamp)
    response = await submit(notary, sign_cosignature(notary.private_key, other.payload()))
    assert rule_of(response, 422) == ("$.cosignature", "payload")
    # Signed by someone else than the witness it names.
    response = await submit(notary, sign_cosignature(retired.private_key, payload))
    assert rule_of(response, 422) == ("$.cosignature", "signature")
    # A forged head: the same payload signed by a key that is not the log's.
    mallory = Ed25519PrivateKey.generate()
    forged_head = sign_compact(mallory, head["kid"], payload, {"typ": "arbitral-tree-head+jws"})
    response = await submit(notary, sign_cosignature(notary.private_key, payload), forged_head)
    assert rule_of(response, 422) == ("$.head_signature", "known_head")
    # A head of another log, and something that is not a head at all.
    b_head = (await w.client.get(f"{log_url(w.b)}/ledger/head")).json()["signature"]
    response = await submit(notary, sign_cosignature(notary.private_key, payload), b_head)
    assert rule_of(response, 422) == ("$.head_signature", "known_head")
    response = await submit(notary, sign_cosignature(notary.private_key, payload), "a.b.c")
    assert rule_of(response, 422) == ("$.head_signature", "jws")
    # A body that is not the protocol's.
    response = await w.client.post(url, json={"head_signature": head["signature"]})
    assert response.status_code == 400
    assert await count_cosignatures(w, w.a) == 0

    # The right one is taken, once; and the other commission's log knows nothing of it.
    good = sign_cosignature(notary.private_key, payload)
    first = await submit(notary, good)
    assert first.status_code == 201, first.text
    assert first.json()["witness_name"] == "公证处"
    assert first.json()["created"] is True
    second = await submit(notary, sign_cosignature(notary.private_key, payload))
    assert second.status_code == 200
    assert second.json()["signature"] == good
    assert await count_cosignatures(w, w.a) == 1
    assert await count_cosignatures(w, w.b) == 0
    assert notary_out["kid"] == notary.kid


async def test_a_witness_refuses_a_rewritten_history(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    notary, _ = await register(w, admin, "公证处")
    await append(w, w.a, 6)
    seen = await witness_once(w.client, log_url(w.a), notary, None)
    await append(w, w.a, 4, start=6)
    await services.issue_head(w.runtime, w.a.id)
    before = await count_cosignatures(w, w.a)

    # The witness remembers another root for size 6 than the log now proves.
    rewritten = WitnessState(
        seen.state.log_id, 6, bytes(range(32)), seen.state.timestamp_ms, seen.state.head_signature
    )
    with pytest.raises(WitnessAlarm, match="does not extend the tree of size 6") as caught:
        await witness_once(w.client, log_url(w.a), notary, rewritten)
    assert caught.value.evidence["previous_head"] == seen.state.head_signature
    assert caught.value.evidence["proof"]["first"] == 6

    # Another root for the same size: a fork.
    current = await witness_once(w.client, log_url(w.a), notary, seen.state)
    forked = WitnessState(
        current.state.log_id, 10, bytes(32), current.state.timestamp_ms, seen.state.head_signature
    )
    with pytest.raises(WitnessAlarm, match=r"another root .* for the tree of size 10"):
        await witness_once(w.client, log_url(w.a), notary, forked)
    # A log that shrank, and a log that changed its id.
    ahead = WitnessState(current.state.log_id, 99, bytes(32), 0, seen.state.head_signature)
    with pytest.raises(WitnessAlarm, match="the log shrank"):
        await witness_once(w.client, log_url(w.a), notary, ahead)
    other_log = WitnessState("urn:other", 6, seen.state.root_hash, 0, seen.state.head_signature)
    with pytest.raises(WitnessAlarm, match="the log's id changed"):
        await witness_once(w.client, log_url(w.a), notary, other_log)
    assert await count_cosignatures(w, w.a) == before + 1  # only the honest round

    # A head signed by a key that is not among the log's ledger keys.
    keys = {"keys": list((await ledger_keys(w, w.a)).values())}
    mallory = Ed25519PrivateKey.generate()
    forged = sign_compact(mallory, public_jwk(mallory)["kid"], b"{}")
    with pytest.raises(WitnessAlarm, match="not among the log's ledger keys"):
        check_head({"signature": forged}, keys)
    lying = sign_compact(mallory, next(iter(keys["keys"]))["kid"], b"{}")
    with pytest.raises(WitnessAlarm, match="does not verify"):
        check_head({"signature": lying}, keys)


# -- the public routes ------------------------------------------------------------------


async def test_the_log_is_public_and_answers_precisely(auth_world: World) -> None:
    w = auth_world
    base = f"{log_url(w.a)}/ledger"
    await append(w, w.a, 9)
    w.client.cookies.clear()
    head = await w.client.get(f"{base}/head")
    assert head.status_code == 200
    assert head.json()["tree_size"] == 9
    proof = await w.client.get(f"{base}/consistency", params={"first": 4, "second": 9})
    assert proof.status_code == 200, proof.text
    assert proof.json()["first"] == 4
    assert proof.json()["consistency_path"]
    assert (await w.client.get(f"{base}/heads/9")).status_code == 200
    assert (await w.client.get(f"{base}/witnesses")).json()["witnesses"] == []

    def field_of(response: Any) -> str:
        body = problem(response, 400)
        return str(body["errors"][0]["field"])

    query = {"first": 5, "second": 4}
    assert field_of(await w.client.get(f"{base}/consistency", params=query)) == "query:first"
    query = {"first": 0, "second": 4}
    assert field_of(await w.client.get(f"{base}/consistency", params=query)) == "query:first"
    missing = await w.client.get(f"{base}/consistency", params={"first": 4, "second": 10})
    assert "no tree of size 10" in problem(missing, 404)["detail"]
    assert (await w.client.get(f"{base}/heads/8")).status_code == 404
    assert field_of(await w.client.get(f"{base}/head", params={"required": 101})) == (
        "query:required"
    )
    assert (await w.client.get("/t/no-such-commission/ledger/head")).status_code == 404


# -- heads on a schedule ------------------------------------------------------------------


async def test_the_job_issues_heads_where_logs_grew(auth_world: World) -> None:
    w = auth_world
    load_jobs()
    spec = get_job(ISSUE_HEADS_JOB)

    async def sizes(tenant: UUID) -> list[int]:
        async with w.runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
            rows = await uow.fetch(
                "SELECT tree_size FROM ledger_head WHERE tenant_id = {} ORDER BY issued_at",
                tenant,
            )
        return [int(r["tree_size"]) for r in rows]

    await append(w, w.a, 4)
    await run_job(w.runtime, spec, uuid4(), None, {})
    assert await sizes(w.a.id) == [4]
    assert await sizes(w.b.id) == []  # an empty log has nothing to sign
    await run_job(w.runtime, spec, uuid4(), None, {})
    assert await sizes(w.a.id) == [4]  # no growth, no new head
    await append(w, w.a, 2, start=4)
    await run_job(w.runtime, spec, uuid4(), None, {})
    assert await sizes(w.a.id) == [4, 6]


# -- the commands -------------------------------------------------------------------------


def test_witness_key_writes_a_private_file_and_prints_the_public_key(tmp_path: Path) -> None:
    out = tmp_path / "witness.jwk"
    result = CliRunner().invoke(main, ["ledger", "witness-key", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert "d" not in printed
    assert check_public_jwk(printed) == printed
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert witness_key_from_jwk(json.loads(out.read_text())).kid == printed["kid"]
    again = CliRunner().invoke(main, ["ledger", "witness-key", "--out", str(out)])
    assert again.exit_code == 2
    assert "never overwritten" in again.output
    state = tmp_path / "state.json"
    failed = CliRunner().invoke(
        main,
        [
            "ledger",
            "witness",
            "--url",
            "http://127.0.0.1:9/t/x",
            "--key",
            str(out),
            "--state",
            str(state),
            "--timeout",
            "1",
        ],
    )
    assert failed.exit_code == 2
    assert "the log's head" in failed.output
    assert not state.exists()


async def test_evidence_verify_counts_the_witnesses_cosignatures(
    auth_world: World, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from arbitral.cli import main
    from tests.custody.test_inspect import make_pdf

    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    notary, _ = await register(w, admin, "公证处", "notary")
    await register(w, admin, "互联网法院", "court")
    claimant = await w.login(w.a, Role.CLAIMANT)
    body = make_pdf()
    uploaded = await w.client.post(
        "/api/v1/custody/items",
        params={"filename": "合同.pdf", "title": "合同"},
        content=body,
        headers=claimant,
    )
    assert uploaded.status_code == 201, uploaded.text
    item = uploaded.json()["item"]
    await witness_once(w.client, log_url(w.a), notary, None)
    receipt = await w.client.get(f"/api/v1/custody/items/{item['id']}/receipt", headers=claimant)
    assert receipt.status_code == 200
    assert len(receipt.json()["cosignatures"]) == 1
    files = {
        "file.pdf": body,
        "receipt.json": receipt.content,
        "keys.json": (await w.client.get(f"{log_url(w.a)}/.well-known/ledger-keys.json")).content,
        "witnesses.json": (await w.client.get(f"{log_url(w.a)}/ledger/witnesses")).content,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def run(required: int) -> Any:
        return CliRunner().invoke(
            main,
            [
                "evidence",
                "verify",
                str(tmp_path / "file.pdf"),
                str(tmp_path / "receipt.json"),
                "--keys",
                str(tmp_path / "keys.json"),
                "--witnesses",
                str(tmp_path / "witnesses.json"),
                "--required",
                str(required),
            ],
        )

    one = run(1)
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["valid"] is True
    two = run(2)
    assert two.exit_code == 1
    assert json.loads(two.stdout)["reason"] == "2 of 2 cosignatures required, 1 valid"
