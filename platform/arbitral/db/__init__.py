"""Relational database: engines, the unit of work, migrations, provisioning."""

from arbitral.db.engine import Database
from arbitral.db.uow import UnitOfWork

__all__ = ["Database", "UnitOfWork"]
