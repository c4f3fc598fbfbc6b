"""The process runtime: the backends built from the settings, opened and closed together.

``build_runtime`` makes the objects without connecting anywhere; ``open``
connects (on the event loop that will use them: the pool belongs to it) and
installs the runtime for jobs; ``close`` releases everything. The web app, the
worker and the CLI all go through here, so the same code paths run on the
embedded default and in production.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from dramatiq import Broker

from arbitral.auth.tokens import VerifiedTokens
from arbitral.cases.deadlines import DeadlineTicker
from arbitral.clock import Clock, SystemClock
from arbitral.db.engine import Database
from arbitral.jobs.broker import build_broker, set_job_runtime
from arbitral.jobs.outbox import Relay
from arbitral.jobs.registry import load_jobs
from arbitral.keys.documents import DocumentKeys
from arbitral.keys.services import KeyRing, resolve_key_encryption_key
from arbitral.rules.checker import InvalidRuleFiles
from arbitral.rules.loader import RuleBook, load_rule_book
from arbitral.settings import ConfigError, Settings
from arbitral.storage.factory import build_object_store
from arbitral.storage.interfaces import ObjectStore
from arbitral.tenancy.services import TenantDirectory


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: ObjectStore
    broker: Broker
    relay: Relay
    tenants: TenantDirectory
    keys: KeyRing
    verified_tokens: VerifiedTokens
    rules: RuleBook
    secret_key: bytes = field(repr=False)
    key_encryption_key: bytes = field(repr=False)
    document_keys: DocumentKeys = field(init=False, repr=False)
    """The commissions' document signers (cached per process)."""
    clock: Clock = field(default_factory=SystemClock)
    deadline_ticker: DeadlineTicker | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Rows are stamped with the runtime's clock, read at each use: a test that sets
        # ``runtime.clock`` moves history, deadlines and due-process times together.
        self.db.now = lambda: self.clock.now()
        self.document_keys = DocumentKeys(
            self.db, self.key_encryption_key, tsa_url=self.settings.tsa_url
        )

    def start_background(self) -> None:
        """Start what runs behind a web or worker process: the outbox relay, the deadline sweep."""
        self.relay.start()
        if self.deadline_ticker is None:
            self.deadline_ticker = DeadlineTicker(self, self.settings.deadline_sweep_s)
        self.deadline_ticker.start()

    async def stop_background(self) -> None:
        if self.deadline_ticker is not None:
            await self.deadline_ticker.stop()
        await self.relay.stop()

    async def open(self) -> None:
        """Connect the database (pool on the running loop) and install the runtime for jobs."""
        await self.db.open()
        set_job_runtime(self)

    async def close(self) -> None:
        await self.stop_background()
        await self.db.close()
        await self.store.close()
        await anyio.to_thread.run_sync(self.broker.close)
        set_job_runtime(None)


def build_runtime(settings: Settings, *, job_modules: tuple[str, ...] = ()) -> Runtime:
    """Build every backend from ``settings`` (no I/O beyond reading the secret key)."""
    load_jobs(job_modules)
    secret_key = resolve_secret_key(settings)
    kek = resolve_key_encryption_key(settings)
    rules = load_rules(settings)
    db = Database(settings.database)
    store = build_object_store(
        settings.storage, public_url=settings.public_url, secret_key=secret_key
    )
    broker = build_broker(settings.broker)
    relay = Relay(db, broker, interval_s=settings.relay_interval_s)
    return Runtime(
        settings=settings,
        db=db,
        store=store,
        broker=broker,
        relay=relay,
        tenants=TenantDirectory(db),
        keys=KeyRing(db, kek),
        verified_tokens=VerifiedTokens(),
        rules=rules,
        secret_key=secret_key,
        key_encryption_key=kek,
    )


def load_rules(settings: Settings) -> RuleBook:
    """The rule book; an invalid rules directory stops the process (every problem listed)."""
    try:
        return load_rule_book(settings.rules_dir)
    except InvalidRuleFiles as exc:
        raise ConfigError(
            "ARBITRAL_RULES_DIR", "the rules are not valid:\n  " + "\n  ".join(exc.lines)
        ) from None


MIN_SECRET_KEY_LENGTH = 32


def resolve_secret_key(settings: Settings) -> bytes:
    """``ARBITRAL_SECRET_KEY``, or a random key kept in the data directory.

    The generated key suits one machine; several web processes on several
    machines must share ``ARBITRAL_SECRET_KEY`` (the web app warns at start-up
    when it runs on production backends without it). The file is written whole (temporary
    file, then rename) so a crash or a second process never sees half a key.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret_key"
    key = _read_key(path)
    if key is None:
        candidate = secrets.token_urlsafe(48).encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(candidate)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)  # fails if another process got there first
            except FileExistsError:
                pass
            finally:
                os.unlink(temp)
        except OSError as exc:
            raise ConfigError("ARBITRAL_DATA_DIR", f"cannot write {path}: {exc.strerror}") from exc
        key = _read_key(path)
        assert key is not None
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError("ARBITRAL_DATA_DIR", f"cannot read {path}: {exc.strerror}") from exc
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            "ARBITRAL_DATA_DIR",
            f"{path} holds a key of {len(key)} bytes; at least {MIN_SECRET_KEY_LENGTH} are "
            "needed (delete the file to have a new key generated)",
        )
    return key
