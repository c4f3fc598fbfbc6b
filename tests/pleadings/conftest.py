"""Fixtures of the pleadings tests: the auth tests' world, and the payment sandbox world."""

from __future__ import annotations

from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.payments.conftest import pay_world, sandbox, sandbox_keys

__all__ = ["auth_world", "cheap_password_hashing", "pay_world", "sandbox", "sandbox_keys"]
