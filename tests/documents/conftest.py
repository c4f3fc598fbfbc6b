"""Fixtures of the signing tests: PDFs from WeasyPrint, document keys per backend, pdfsig."""

from __future__ import annotations

import functools
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from arbitral.audit.services import Actor
from arbitral.db.engine import Database
from arbitral.keys.documents import DocumentKeys
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.keys.conftest import insert_tenant

__all__ = ["auth_world", "cheap_password_hashing"]

OPERATOR = Actor("operator", "tester")

AWARD_HTML = """<html><head><meta charset="utf-8">
<style>body {{ font-family: "Noto Sans CJK SC"; }} section {{ page-break-after: always; }}</style>
</head><body>{pages}</body></html>"""


@functools.cache
def award_pdf(pages: int = 3) -> bytes:
    """A ``pages``-page award in Chinese, rendered by WeasyPrint."""
    import weasyprint

    text = "仲裁庭认为，被申请人应当偿还借款本金及利息。" * 60
    body = "".join(
        f"<section><h1>裁决书 第{n}页</h1><p>{text}</p></section>" for n in range(1, pages + 1)
    )
    pdf: bytes = weasyprint.HTML(string=AWARD_HTML.format(pages=body)).write_pdf()
    return pdf


@pytest.fixture
def kek() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def document_keys(database: Database, kek: bytes) -> DocumentKeys:
    return DocumentKeys(database, kek)


async def new_tenant(db: Database, name: str = "广州仲裁委员会") -> uuid.UUID:
    tenant_id = await insert_tenant(db)
    async with db.transaction() as uow:
        await uow.execute(
            "UPDATE tenant SET name_zh = {}, name_en = {}, hosts = {} WHERE id = {}",
            name,
            "Guangzhou Arbitration Commission",
            '["gz.arbitral.example"]',
            tenant_id,
        )
    return tenant_id


def pdfsig(path: Path, *, nssdir: Path | None = None) -> str:
    """pdfsig's report; with ``nssdir`` the certificate is checked against that NSS database."""
    args = ["pdfsig"]
    args += ["-nssdir", str(nssdir)] if nssdir is not None else ["-nocert"]
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def nss_database_trusting(directory: Path, ca_pem: Path) -> Path | None:
    """An NSS database trusting ``ca_pem`` for signatures, or None without certutil."""
    certutil = shutil.which("certutil")
    if certutil is None:
        return None
    directory.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{directory}", "-n", "ca", "-t", "CT,C,C", "-i", str(ca_pem)],
        check=True,
    )
    return directory
