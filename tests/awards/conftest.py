"""Fixtures: the auth tests' world (two commissions, every role)."""

from __future__ import annotations

from tests.auth.conftest import auth_world, cheap_password_hashing

__all__ = ["auth_world", "cheap_password_hashing"]
