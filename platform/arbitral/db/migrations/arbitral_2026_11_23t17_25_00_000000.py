from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-23T17:25:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "Tribunal: parties found by identity number (the conflict check, the repeat-claimant cap)"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    return manager


SQL = [
    "CREATE INDEX case_party_id_number ON case_party (tenant_id, id_number)",
]
