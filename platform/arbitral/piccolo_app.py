"""The Piccolo app that holds every table of the platform."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

# One module per bounded context that owns tables.
TABLE_MODULES = [
    "arbitral.jobs.tables",
    "arbitral.tenancy.tables",
    "arbitral.audit.tables",
    "arbitral.identity.tables",
    "arbitral.auth.tables",
    "arbitral.keys.tables",
    "arbitral.notify.tables",
    "arbitral.ledger.tables",
    "arbitral.custody.tables",
    "arbitral.cases.tables",
    "arbitral.payments.tables",
    "arbitral.service.tables",
    "arbitral.tribunal.tables",
    "arbitral.pleadings.tables",
    "arbitral.hearings.tables",
    "arbitral.settlement.tables",
    "arbitral.awards.tables",
    "arbitral.batches.tables",
    "arbitral.webhooks.tables",
]

APP_CONFIG = AppConfig(
    app_name="arbitral",
    migrations_folder_path=str(Path(__file__).parent / "db" / "migrations"),
    table_classes=table_finder(modules=TABLE_MODULES, exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
