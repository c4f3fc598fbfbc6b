"""Drop ``exhibit_case``: ``exhibit_number`` (tenant_id, case_id, side, seq) serves the same
lookups by its prefix, and every exhibit written kept two indexes up to date (a lender's
batch writes four exhibits per case)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Drop the exhibit_case index (exhibit_number covers it)"


async def forwards():
    return MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)


SQL = ["DROP INDEX exhibit_case"]
