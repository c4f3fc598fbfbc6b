"""Each commission's document signer: its key (purpose ``documents``) and X.509 chain.

Unlike the ``jws`` and ``ledger`` keys, a document signer is never made on
first use: a PDF must not come out signed by a key nobody chose. An operator
runs ``arbitral keys issue-document-signer`` (a development CA of the
commission issues a signing certificate) or ``arbitral keys
import-document-signer`` (a real chain, from PKCS#12); until then signing
raises :class:`NoDocumentSignerError` naming the tenant and the commands.

Keys live in ``signing_key`` (sealed like the others, PKCS#8 inside), their
chains in ``document_certificate``. Issuing or importing again (and
``arbitral keys rotate --purpose documents`` for a development CA) retires
the active signer; its chain stays, so what it signed still verifies, and
the roots of every chain are the trust anchors a verifier needs
(:func:`trust_anchors`, published at ``/t/{slug}/documents/ca.pem``).

Signing must be fast (an award in a few hundred milliseconds, thousands in
parallel), so this process keeps each tenant's unsealed signer in memory once
built, keyed by (tenant, kid): a rotation elsewhere shows at the next
signature, since the active kid is read from the database each time.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from arbitral.audit.services import Actor, record
from arbitral.db.engine import Database
from arbitral.db.uow import UnitOfWork
from arbitral.documents.signing import DocumentSigner, build_signer
from arbitral.keys.domain import check_kek
from arbitral.keys.x509 import (
    DOCUMENT_CA,
    DOCUMENTS,
    ORIGIN_DEVELOPMENT,
    ORIGIN_IMPORTED,
    DocumentSignerError,
    NoDocumentSignerError,
    PrivateKey,
    SealedDocumentKey,
    fingerprint,
    generate_document_key,
    issue_ca_certificate,
    issue_signer_certificate,
    load_pkcs12,
    seal_document_key,
    subject_of,
    unseal_document_key,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DocumentSignerInfo:
    """What may be shown about a document signer (no private key)."""

    kid: str
    origin: str
    algorithm: str
    subject: str
    issuer: str
    fingerprint_sha256: str
    not_after: datetime
    retired_kid: str | None = None


@dataclass(frozen=True, slots=True)
class _Commission:
    slug: str
    name_zh: str
    name_en: str
    host: str


class DocumentKeys:
    """Every tenant's document signer, sealed under one key-encryption key."""

    CACHE_SIZE = 256

    def __init__(self, db: Database, kek: bytes, *, tsa_url: str | None = None) -> None:
        self.db = db
        self._kek = check_kek(kek)
        self.tsa_url = tsa_url
        self._signers: OrderedDict[tuple[UUID, str], DocumentSigner] = OrderedDict()

    def __repr__(self) -> str:
        return f"DocumentKeys(db={self.db.dialect}, cached={len(self._signers)})"

    @asynccontextmanager
    async def _unit(self, tenant_id: UUID, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        current = UnitOfWork.current()
        if current is not None and current.database is self.db and current.tenant_id == tenant_id:
            yield current
            return
        async with self.db.transaction(tenant_id=tenant_id, readonly=readonly) as uow:
            yield uow

    # -- signing ----------------------------------------------------------------------

    async def signer(self, tenant_id: UUID) -> DocumentSigner:
        """The tenant's active signer; :class:`NoDocumentSignerError` if it has none."""
        async with self._unit(tenant_id, readonly=True) as uow:
            row = await _active(uow, tenant_id, DOCUMENTS)
            if row is None:
                commission = await _commission(uow, tenant_id)
                raise NoDocumentSignerError(commission.slug)
            cache_key = (tenant_id, str(row["kid"]))
            cached = self._signers.get(cache_key)
            if cached is not None:
                self._signers.move_to_end(cache_key)
                return cached
            commission = await _commission(uow, tenant_id)
            chain = await _chain(uow, tenant_id, str(row["kid"]))
        key = unseal_document_key(
            self._kek,
            bytes(row["private_key_enc"]),
            tenant_id=tenant_id,
            kid=str(row["kid"]),
            purpose=DOCUMENTS,
        )
        built = build_signer(
            key,
            chain,
            kid=str(row["kid"]),
            reason=f"{commission.name_zh}签发 (issued by {commission.name_en})",
            location=commission.name_zh,
            contact=commission.host,
            tsa_url=self.tsa_url,
        )
        self._signers[cache_key] = built
        while len(self._signers) > self.CACHE_SIZE:
            self._signers.popitem(last=False)
        return built

    # -- issuing, importing, rotating -------------------------------------------------

    async def issue_development(self, tenant_id: UUID, *, actor: Actor) -> DocumentSignerInfo:
        """A new signing certificate from the commission's development CA (made if missing).

        Retires the active document signer, if any (audited, one transaction).
        """
        async with self._unit(tenant_id) as uow:
            commission = await _commission(uow, tenant_id)
            now = datetime.now(UTC)
            ca_key, ca_cert = await self._development_ca(uow, tenant_id, commission, actor, now)
            key = generate_document_key()
            certificate = issue_signer_certificate(
                ca_key, ca_cert, key, commission=commission.name_zh, now=now
            )
            return await self._install(
                uow, tenant_id, key, [certificate, ca_cert], ORIGIN_DEVELOPMENT, actor, now
            )

    async def import_pkcs12(
        self, tenant_id: UUID, data: bytes, passphrase: bytes | None, *, actor: Actor
    ) -> DocumentSignerInfo:
        """Install the key and chain of a PKCS#12 file as the tenant's signer (audited)."""
        imported = load_pkcs12(data, passphrase)
        async with self._unit(tenant_id) as uow:
            await _commission(uow, tenant_id)
            return await self._install(
                uow,
                tenant_id,
                imported.key,
                list(imported.chain),
                ORIGIN_IMPORTED,
                actor,
                datetime.now(UTC),
            )

    async def rotate(self, tenant_id: UUID, *, actor: Actor) -> DocumentSignerInfo:
        """A development signer gets a new key and certificate from its CA.

        An imported chain cannot be rotated here (a real CA must issue the new
        certificate): :class:`DocumentSignerError` says to import the new one.
        """
        async with self._unit(tenant_id) as uow:
            row = await _active(uow, tenant_id, DOCUMENTS)
            if row is not None:
                chain = await uow.fetch(
                    "SELECT origin FROM document_certificate "
                    "WHERE tenant_id = {} AND kid = {} AND position = 0",
                    tenant_id,
                    row["kid"],
                )
                if chain and chain[0]["origin"] == ORIGIN_IMPORTED:
                    slug = (await _commission(uow, tenant_id)).slug
                    raise DocumentSignerError(
                        f"the document signer of tenant {slug} is an imported chain: rotate it "
                        f"with `arbitral keys import-document-signer --tenant {slug} "
                        "--pkcs12 FILE` holding the new certificate"
                    )
            return await self.issue_development(tenant_id, actor=actor)

    async def has_signer(self, tenant_id: UUID) -> bool:
        """Whether the tenant has an active document signer (one query, no certificates)."""
        async with self._unit(tenant_id, readonly=True) as uow:
            return await _active(uow, tenant_id, DOCUMENTS) is not None

    async def info(self, tenant_id: UUID) -> DocumentSignerInfo | None:
        """The active signer's certificate, or None."""
        async with self._unit(tenant_id, readonly=True) as uow:
            row = await _active(uow, tenant_id, DOCUMENTS)
            if row is None:
                return None
            chain = await _chain(uow, tenant_id, str(row["kid"]))
            origins = await uow.fetch(
                "SELECT origin FROM document_certificate "
                "WHERE tenant_id = {} AND kid = {} AND position = 0",
                tenant_id,
                row["kid"],
            )
        return _info(str(row["kid"]), origins[0]["origin"], str(row["algorithm"]), chain)

    async def _development_ca(
        self,
        uow: UnitOfWork,
        tenant_id: UUID,
        commission: _Commission,
        actor: Actor,
        now: datetime,
    ) -> tuple[PrivateKey, x509.Certificate]:
        row = await _active(uow, tenant_id, DOCUMENT_CA, lock=True)
        if row is not None:
            key = unseal_document_key(
                self._kek,
                bytes(row["private_key_enc"]),
                tenant_id=tenant_id,
                kid=str(row["kid"]),
                purpose=DOCUMENT_CA,
            )
            (certificate,) = await _chain(uow, tenant_id, str(row["kid"]))
            return key, certificate
        key = generate_document_key()
        certificate = issue_ca_certificate(key, commission=commission.name_zh, now=now)
        sealed = seal_document_key(self._kek, key, tenant_id=tenant_id, purpose=DOCUMENT_CA)
        await _insert_key(uow, tenant_id, sealed.kid, DOCUMENT_CA, sealed, now)
        await _insert_chain(uow, tenant_id, sealed.kid, [certificate], ORIGIN_DEVELOPMENT, now)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action="key.document_ca_created",
            target_kind="signing_key",
            target_id=sealed.kid,
            detail={
                "purpose": DOCUMENT_CA,
                "kid": sealed.kid,
                "subject": subject_of(certificate),
                "fingerprint_sha256": fingerprint(certificate),
            },
        )
        return key, certificate

    async def _install(
        self,
        uow: UnitOfWork,
        tenant_id: UUID,
        key: PrivateKey,
        chain: list[x509.Certificate],
        origin: str,
        actor: Actor,
        now: datetime,
    ) -> DocumentSignerInfo:
        sealed = seal_document_key(self._kek, key, tenant_id=tenant_id, purpose=DOCUMENTS)
        known = await uow.fetch(
            "SELECT kid FROM signing_key WHERE tenant_id = {} AND kid = {}",
            tenant_id,
            sealed.kid,
        )
        if known:
            raise DocumentSignerError(
                f"this key (kid {sealed.kid}) was installed before: a retired key does not "
                "come back; give a new key"
            )
        old = await _active(uow, tenant_id, DOCUMENTS, lock=True)
        retired = None
        if old is not None:
            retired = str(old["kid"])
            await uow.execute(
                "UPDATE signing_key SET retired_at = {} "
                "WHERE tenant_id = {} AND kid = {} AND retired_at IS NULL",
                now,
                tenant_id,
                retired,
            )
        await _insert_key(uow, tenant_id, sealed.kid, DOCUMENTS, sealed, now)
        await _insert_chain(uow, tenant_id, sealed.kid, chain, origin, now)
        info = _info(sealed.kid, origin, sealed.algorithm, chain, retired)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action="key.document_signer_installed",
            target_kind="signing_key",
            target_id=sealed.kid,
            detail={
                "purpose": DOCUMENTS,
                "kid": sealed.kid,
                "origin": origin,
                "retired_kid": retired,
                "subject": info.subject,
                "issuer": info.issuer,
                "fingerprint_sha256": info.fingerprint_sha256,
            },
        )
        log.info(
            "keys.document_signer_installed",
            tenant_id=str(tenant_id),
            kid=sealed.kid,
            origin=origin,
            retired_kid=retired,
        )
        return info


async def trust_anchors(db: Database, tenant_id: UUID) -> list[x509.Certificate]:
    """The roots of every chain the tenant has signed with (current and retired), oldest first.

    Public: a verifier trusts a document whose signer chains to one of these.
    """
    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT certificate_der, fingerprint_sha256 FROM document_certificate "
            "WHERE tenant_id = {} AND role = 'root' ORDER BY created_at, kid",
            tenant_id,
        )
    seen: set[str] = set()
    anchors = []
    for row in rows:
        if row["fingerprint_sha256"] in seen:
            continue
        seen.add(row["fingerprint_sha256"])
        anchors.append(x509.load_der_x509_certificate(bytes(row["certificate_der"])))
    return anchors


# -- statements --------------------------------------------------------------------


def _info(
    kid: str,
    origin: str,
    algorithm: str,
    chain: list[x509.Certificate],
    retired: str | None = None,
) -> DocumentSignerInfo:
    return DocumentSignerInfo(
        kid=kid,
        origin=origin,
        algorithm=algorithm,
        subject=subject_of(chain[0]),
        issuer=chain[0].issuer.rfc4514_string(),
        fingerprint_sha256=fingerprint(chain[0]),
        not_after=chain[0].not_valid_after_utc,
        retired_kid=retired,
    )


async def _commission(uow: UnitOfWork, tenant_id: UUID) -> _Commission:
    rows = await uow.fetch(
        "SELECT slug, name_zh, name_en, hosts FROM tenant WHERE id = {}", tenant_id
    )
    if not rows:
        raise DocumentSignerError(f"no tenant {tenant_id}")
    row = rows[0]
    hosts = _json_list(row["hosts"])
    return _Commission(
        slug=str(row["slug"]),
        name_zh=str(row["name_zh"]),
        name_en=str(row["name_en"]),
        host=hosts[0] if hosts else "",
    )


def _json_list(value: Any) -> list[str]:
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return [str(item) for item in loaded] if isinstance(loaded, list) else []


async def _active(
    uow: UnitOfWork, tenant_id: UUID, purpose: str, *, lock: bool = False
) -> Mapping[str, Any] | None:
    # SQLite has no FOR UPDATE and needs none: its writers are serialised (BEGIN IMMEDIATE).
    sql = (
        "SELECT kid, algorithm, private_key_enc FROM signing_key "
        "WHERE tenant_id = {} AND purpose = {} AND retired_at IS NULL"
    )
    rows = await uow.fetch(
        sql + " FOR UPDATE" if lock and uow.is_postgres else sql,
        tenant_id,
        purpose,
    )
    return rows[0] if rows else None


async def _chain(uow: UnitOfWork, tenant_id: UUID, kid: str) -> list[x509.Certificate]:
    rows = await uow.fetch(
        "SELECT certificate_der FROM document_certificate "
        "WHERE tenant_id = {} AND kid = {} ORDER BY position",
        tenant_id,
        kid,
    )
    if not rows:
        raise DocumentSignerError(f"the document key {kid} has no certificate stored")
    return [x509.load_der_x509_certificate(bytes(row["certificate_der"])) for row in rows]


async def _insert_key(
    uow: UnitOfWork,
    tenant_id: UUID,
    kid: str,
    purpose: str,
    sealed: SealedDocumentKey,
    now: datetime,
) -> None:
    rows = await uow.fetch(
        "INSERT INTO signing_key (id, tenant_id, kid, purpose, algorithm, public_jwk, "
        "private_key_enc, created_at, retired_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, NULL) "
        "ON CONFLICT DO NOTHING RETURNING kid",
        uuid4(),
        tenant_id,
        kid,
        purpose,
        sealed.algorithm,
        json.dumps(sealed.public_jwk, sort_keys=True),
        sealed.private_key_enc,
        now,
    )
    if not rows:
        raise DocumentSignerError(
            f"another {purpose} key was installed at the same time for this tenant; try again"
        )


async def _insert_chain(
    uow: UnitOfWork,
    tenant_id: UUID,
    kid: str,
    chain: list[x509.Certificate],
    origin: str,
    now: datetime,
) -> None:
    last = len(chain) - 1
    for position, certificate in enumerate(chain):
        role = "root" if position == last else ("signer" if position == 0 else "intermediate")
        if len(chain) == 1:
            role = "root"
        await uow.execute(
            "INSERT INTO document_certificate (id, tenant_id, kid, position, role, origin, "
            "certificate_der, subject, fingerprint_sha256, not_before, not_after, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            kid,
            position,
            role,
            origin,
            certificate.public_bytes(serialization.Encoding.DER),
            subject_of(certificate),
            fingerprint(certificate),
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
            now,
        )
