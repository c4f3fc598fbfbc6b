"""A worker killed with SIGKILL in the middle of a batch: every valid row is one case."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.auth.conftest import cheap_password_hashing
from tests.batches.helpers import create, evidence, finished, jsonl, lender, row, upload
from tests.conftest import REPO_ROOT, PgDatabase, make_env, make_settings
from tests.support.world import World, world

__all__ = ["cheap_password_hashing"]

ROWS = 6000
CHUNK = "200"


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "arbitral", "worker", "--threads", "2"],
            env=env,
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )


async def _batch(w: World, batch_id: str) -> dict[str, Any]:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT state, rows_read, cases_created, rows_rejected FROM claim_batch "
            "WHERE tenant_id = {} AND id = {}",
            w.a.id,
            batch_id,
        )
    return rows[0]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
async def test_a_batch_survives_its_worker_killed_mid_way(
    pg: PgDatabase, tmp_path: Path, redis_broker_url: str
) -> None:
    broker_url = f"{redis_broker_url}&heartbeat_timeout_ms=1500&maintenance_chance=1000000"
    overrides = {
        "database_url": pg.app_url,
        "migration_database_url": pg.owner_url,
        "broker_url": broker_url,
        "relay_interval": "0.1",
    }
    settings = make_settings(tmp_path, **overrides)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")},
        **make_env(tmp_path, **overrides),
        "ARBITRAL_LOG_LEVEL": "INFO",
        "ARBITRAL_BATCH_CHUNK_ROWS": CHUNK,
        "PYTHONPATH": str(REPO_ROOT),
    }
    async with world(settings) as w:
        headers = await lender(w)
        proof = await evidence(w, headers, "killed")
        rows = [row(w.a, n, proof) for n in range(1, ROWS + 1)]
        bad = {n for n in range(7, ROWS, 500)}
        for n in bad:
            rows[n - 1]["amount_claimed"] = "-5"
        created = await create(w, headers, ROWS)
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        uploaded = await upload(w, headers, batch_id, jsonl(rows))
        assert uploaded.status_code == 202, uploaded.text

        log = tmp_path / "worker.log"
        first = _worker(env, log)
        try:
            for _ in range(1200):
                state = await _batch(w, batch_id)
                if int(state["rows_read"]) >= 3 * int(CHUNK):
                    break
                await asyncio.sleep(0.05)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        killed_at = await _batch(w, batch_id)
        assert 0 < int(killed_at["rows_read"]) < ROWS, (killed_at, log.read_text()[-3000:])
        assert killed_at["state"] == "processing"

        second = _worker(env, tmp_path / "worker2.log")
        try:
            batch = await asyncio.wait_for(finished(w, headers, batch_id), timeout=120)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        assert batch["state"] == "done", batch
        assert batch["counts"]["created"] == ROWS - len(bad)
        assert batch["counts"]["rejected"] == len(bad)
        assert batch["counts"]["duplicate"] == 0
        async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
            contracts = await uow.fetch(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT contract_number) AS d FROM loan_contract "
                "WHERE tenant_id = {} AND batch_id = {}",
                w.a.id,
                batch_id,
            )
            cases = await uow.fetch(
                "SELECT COUNT(*) AS n FROM arb_case c JOIN loan_contract l "
                "ON l.tenant_id = c.tenant_id AND l.case_id = c.id "
                "WHERE c.tenant_id = {} AND l.batch_id = {}",
                w.a.id,
                batch_id,
            )
            problems = await uow.fetch(
                "SELECT COUNT(*) AS n FROM batch_problem WHERE tenant_id = {} AND batch_id = {}",
                w.a.id,
                batch_id,
            )
            events = await uow.fetch(
                "SELECT COUNT(*) AS n FROM case_event e JOIN loan_contract l "
                "ON l.tenant_id = e.tenant_id AND l.case_id = e.case_id "
                "WHERE e.tenant_id = {} AND l.batch_id = {}",
                w.a.id,
                batch_id,
            )
        assert int(contracts[0]["n"]) == int(contracts[0]["d"]) == ROWS - len(bad)
        assert int(cases[0]["n"]) == ROWS - len(bad)
        assert int(events[0]["n"]) == ROWS - len(bad)
        assert int(problems[0]["n"]) == len(bad)
