"""``arbitral batch submit`` from the console: bundle, batch, progress, report."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from pathlib import Path

from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.batches.helpers import KINDS, claimant, row
from tests.conftest import make_env
from tests.custody.test_inspect import make_pdf
from tests.support.world import World
from tests.test_cli import run

__all__ = ["auth_world", "cheap_password_hashing"]


async def test_an_operator_submits_a_claims_file_with_its_bundle(
    auth_world: World, tmp_path: Path
) -> None:
    w = auth_world
    files = {kind: make_pdf() + f"% cli {kind}\n".encode() for kind in KINDS}
    proof = {kind: hashlib.sha256(data).hexdigest() for kind, data in files.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for kind, data in files.items():
            archive.writestr(f"{kind}.pdf", data)
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(buffer.getvalue())
    claims = tmp_path / "claims.jsonl"
    rows = [row(w.a, n, proof) for n in (71, 72, 73)]
    rows[2]["amount_claimed"] = "0"
    claims.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    lender = tmp_path / "claimant.json"
    lender.write_text(json.dumps(claimant(), ensure_ascii=False), "utf-8")
    env = {
        **make_env(Path(w.settings.data_dir).parent),
        "ARBITRAL_DATABASE_URL": w.settings.database.url,
    }
    args = ("batch", "submit", str(claims), "--tenant", w.a.slug, "--claimant", str(lender))
    result = await asyncio.to_thread(run, *args, "--bundle", str(bundle), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "4 files in custody" in result.stderr
    assert "3/3 rows read, 2 cases, 1 rejected, 0 duplicates" in result.stdout
    batch_id = result.stdout.split()[1].rstrip(":")

    # The same file again: the key is its SHA-256, so the first batch is found.
    again = await asyncio.to_thread(run, *args, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "found the earlier batch" in again.stderr
    assert batch_id in again.stdout

    report = await asyncio.to_thread(
        run, "batch", "report", batch_id, "--tenant", w.a.slug, "--format", "jsonl", env=env
    )
    assert report.returncode == 0, report.stderr
    lines = [json.loads(line) for line in report.stdout.splitlines()]
    assert [line["state"] for line in lines] == ["created", "created", "rejected"]
    assert lines[2]["field"] == "$.amount_claimed"
