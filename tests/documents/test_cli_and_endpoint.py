"""The operator's commands (a separate process, as run by hand) and the public CA endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from arbitral.audit.services import Actor
from arbitral.documents.signing import sign_pdf_async
from arbitral.keys.documents import DocumentKeys
from tests.conftest import REPO_ROOT, make_env, make_settings, run_async
from tests.documents.conftest import award_pdf
from tests.documents.test_tsa_and_import import real_chain
from tests.keys.test_cli import _prepare
from tests.support.world import World


def arbitral(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")}
    return subprocess.run(
        [sys.executable, "-m", "arbitral", *args],
        env={**base, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_issue_import_rotate_and_print_the_ca(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    url = make_settings(tmp_path).database.url
    run_async(_prepare(url, "gz", migrated=False))

    ca = arbitral("keys", "document-ca", "--tenant", "gz", env=env)
    assert ca.returncode == 2
    assert "issue-document-signer --tenant gz" in ca.stderr

    issued = arbitral("keys", "issue-document-signer", "--tenant", "gz", env=env)
    assert issued.returncode == 0, issued.stderr
    assert "origin       development" in issued.stdout
    rotated = arbitral("keys", "rotate", "--tenant", "gz", "--purpose", "documents", env=env)
    assert rotated.returncode == 0, rotated.stderr
    listed = arbitral("keys", "list", "--tenant", "gz", env=env)
    assert listed.stdout.count("documents") == 2
    assert "document_ca" in listed.stdout

    key, cert, mid, root = real_chain()
    bundle = tmp_path / "signer.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer", key, cert, [mid, root], serialization.BestAvailableEncryption(b"s3cret")
        )
    )
    wrong = arbitral(
        "keys", "import-document-signer", "--tenant", "gz", "--pkcs12", str(bundle),
        env={**env, "PKCS12_PASSPHRASE": "nope"},
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "does not open" in wrong.stderr
    imported = arbitral(
        "keys", "import-document-signer", "--tenant", "gz", "--pkcs12", str(bundle),
        env={**env, "PKCS12_PASSPHRASE": "s3cret"},
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "origin       imported" in imported.stdout
    assert "s3cret" not in imported.stdout + imported.stderr
    refused = arbitral("keys", "rotate", "--tenant", "gz", "--purpose", "documents", env=env)
    assert refused.returncode == 2
    assert "import-document-signer" in refused.stderr

    ca = arbitral("keys", "document-ca", "--tenant", "gz", env=env)
    assert ca.returncode == 0, ca.stderr
    anchors = x509.load_pem_x509_certificates(ca.stdout.encode())
    assert len(anchors) == 2
    assert root in anchors


async def test_the_ca_is_public_per_commission(auth_world: World) -> None:
    w = auth_world
    missing = await w.client.get(f"/t/{w.a.slug}/documents/ca.pem")
    assert missing.status_code == 404
    keys = DocumentKeys(w.runtime.db, w.runtime.key_encryption_key)
    await keys.issue_development(w.a.id, actor=Actor("operator", "tests"))
    await keys.issue_development(w.b.id, actor=Actor("operator", "tests"))
    response = await w.client.get(f"/t/{w.a.slug}/documents/ca.pem")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-pem-file")
    (anchor,) = x509.load_pem_x509_certificates(response.content)
    other = await w.client.get(f"/t/{w.b.slug}/documents/ca.pem")
    assert x509.load_pem_x509_certificates(other.content) != [anchor]
    assert (await w.client.get("/t/no-such-commission/documents/ca.pem")).status_code == 404

    # What the endpoint gives is what verifies the commission's documents.
    from arbitral.documents.verify import verify_pdf_async

    signed = await sign_pdf_async(award_pdf(), await keys.signer(w.a.id))
    assert (await verify_pdf_async(signed, [anchor])).genuine
    by_b = await sign_pdf_async(award_pdf(), await keys.signer(w.b.id))
    assert (await verify_pdf_async(by_b, [anchor])).reason == "unknown_signer"
