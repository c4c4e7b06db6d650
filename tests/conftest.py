"""Shared fixtures: the anyio backend, and service URLs for PostgreSQL and Redis."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (the backend neonize needs)."""
    return "asyncio"
