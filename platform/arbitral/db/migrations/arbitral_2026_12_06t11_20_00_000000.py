"""Awards: ``award.issue_lease_until``, the one run of the issue job that may render now.

A job delivered again while its first delivery still runs (a broker's redelivery after a
missed heartbeat) waits instead of rendering and signing the same award a second time.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "award.issue_lease_until: one run of the issue job at a time"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Award",
        tablename="award",
        column_name="issue_lease_until",
        db_column_name="issue_lease_until",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
