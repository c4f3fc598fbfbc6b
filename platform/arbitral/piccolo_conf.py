"""Piccolo's configuration module (``PICCOLO_CONF=arbitral.piccolo_conf``).

The engine is not built here at import time: :func:`arbitral.db.engine.bind`
installs the engine of the running process. Piccolo's own developer CLI
(``piccolo migrations new arbitral --auto``) gets an engine built from the
environment on first use.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

APP_REGISTRY = AppRegistry(apps=["arbitral.piccolo_app"])

_engine: Engine[Any] | None = None


def set_engine(engine: Engine[Any] | None) -> None:
    global _engine
    _engine = engine


def __getattr__(name: str) -> Any:
    if name != "DB":
        raise AttributeError(name)
    if _engine is None:
        from arbitral.db.engine import build_engine
        from arbitral.settings import Settings

        set_engine(build_engine(Settings.from_env().migration_database))
    return _engine
