"""Applying the migrations in ``arbitral/db/migrations``.

The migrations are Piccolo migration modules (``piccolo migrations new
arbitral --auto`` writes them), so their DDL is the same on SQLite and
PostgreSQL. A module may also define ``SQL`` (statements run after its DDL
on both backends: composite and partial indexes, triggers) and
``POSTGRES_SQL`` / ``SQLITE_SQL`` (one backend only: row-level security,
composite keys), run as the owner role that runs migrations.

Unlike Piccolo's own runner, every pending migration and its ledger row are
applied in one transaction, under an advisory lock on PostgreSQL: two
processes migrating at once cannot both apply a migration, and a crash leaves
the database as it was.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
from dataclasses import dataclass
from types import ModuleType

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

from arbitral.db.engine import Database

APP_NAME = "arbitral"
MIGRATIONS_PACKAGE = "arbitral.db.migrations"
# Any constant works; it only has to be the same in every process.
_ADVISORY_LOCK_KEY = 0x41524249  # "ARBI"


@dataclass(frozen=True, slots=True)
class MigrationState:
    applied: list[str]
    pending: list[str]
    unknown: list[str]  # recorded in the database but absent from the code (a newer release ran)

    @property
    def total(self) -> int:
        return len(self.applied) + len(self.pending)


def migration_modules() -> list[ModuleType]:
    package = importlib.import_module(MIGRATIONS_PACKAGE)
    modules = [
        importlib.import_module(f"{MIGRATIONS_PACKAGE}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    found = [m for m in modules if getattr(m, "ID", None)]
    return sorted(found, key=lambda m: str(m.ID))


async def _recorded(database: Database) -> list[str]:
    if not await Migration.table_exists():
        return []
    rows = await Migration.select(Migration.name).where(Migration.app_name == APP_NAME)
    return [str(row["name"]) for row in rows]


async def migration_state(database: Database) -> MigrationState:
    known = [str(m.ID) for m in migration_modules()]
    recorded = set(await _recorded(database))
    return MigrationState(
        applied=[i for i in known if i in recorded],
        pending=[i for i in known if i not in recorded],
        unknown=sorted(recorded - set(known)),
    )


async def migrate(database: Database) -> list[str]:
    """Apply every pending migration; return the IDs applied (none when up to date)."""
    applied: list[str] = []
    async with database.transaction() as uow:
        if database.is_postgres:
            await uow.execute(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
        if not await Migration.table_exists():
            await Migration.create_table()
        done = set(await _recorded(database))
        for module in migration_modules():
            migration_id = str(module.ID)
            if migration_id in done:
                continue
            manager = await module.forwards()
            if not isinstance(manager, MigrationManager):
                raise TypeError(f"migration {migration_id} did not return a MigrationManager")
            # Piccolo prints progress; the CLI reports what was applied instead.
            with contextlib.redirect_stdout(io.StringIO()):
                await manager.run()
            dialect_sql = "POSTGRES_SQL" if database.is_postgres else "SQLITE_SQL"
            for statement in [*getattr(module, "SQL", ()), *getattr(module, dialect_sql, ())]:
                await uow.connection.execute(statement)
            await Migration.insert(Migration(name=migration_id, app_name=APP_NAME))
            applied.append(migration_id)
    return applied
