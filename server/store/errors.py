"""The store's two failures: retry (``StaleState``) or give up (``StoreError``)."""

from __future__ import annotations

__all__ = ["StaleState", "StoreError"]


class StoreError(Exception):
    """A database failure other than a concurrency conflict."""


class StaleState(StoreError):
    """Another writer changed the same state first; reload and retry."""
