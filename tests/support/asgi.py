"""Serving the app in the test's own event loop (see arbitral.asgi)."""

from __future__ import annotations

from arbitral.asgi import lifespan, serve_in_process

serve = serve_in_process

__all__ = ["lifespan", "serve"]
