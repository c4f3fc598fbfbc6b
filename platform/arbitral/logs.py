"""Structured logging with structlog, for the web app, the worker and the CLI.

Every record carries the request id (or job id) bound in a context variable,
and goes to stderr as JSON (``ARBITRAL_LOG_FORMAT=json``, for machines) or as
aligned key=value lines (``console``, for people). Standard-library loggers
(uvicorn, Dramatiq, botocore) are routed through the same processors.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from arbitral.settings import LogFormat

_configured: tuple[str, str] | None = None


def configure_logging(level: str = "INFO", fmt: LogFormat = "console") -> None:
    global _configured
    if _configured == (level, fmt):
        return
    _configured = (level, fmt)

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks: rich's would print every frame's local variables,
        # passwords and keys among them.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Quiet libraries that log every connection at INFO.
    for noisy in ("botocore", "boto3", "urllib3", "pika", "asyncio", "aiosqlite", "piccolo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
