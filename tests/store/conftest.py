"""What the store tests share: a fixed moment. The databases (``database_url``,
``open_db``, ``database``, ``store``) live in tests/conftest.py, shared with
the tests of the running filter."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)
