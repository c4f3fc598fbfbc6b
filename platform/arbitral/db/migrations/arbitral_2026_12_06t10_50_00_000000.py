"""Awards: ``award.kind`` widened to 32 characters for ``mediation_statement`` (issue 7).

A consent award or a mediation statement is drafted, voted on and issued like an award;
its kind no longer fits in 16 characters. SQLite enforces no varchar length (Piccolo
skips the change there, with a warning that is expected and silenced here).
"""

import warnings
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-12-06T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "award.kind: 32 characters (consent_award, mediation_statement)"


class _Manager(MigrationManager):
    async def run(self, backwards: bool = False) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*SQLITE doesn't support changes in length")
            return await super().run(backwards=backwards)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    manager.alter_column(
        table_class_name="Award",
        tablename="award",
        column_name="kind",
        db_column_name="kind",
        params={"length": 32},
        old_params={"length": 16},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )
    return manager
