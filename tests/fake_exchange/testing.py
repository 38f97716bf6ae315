"""Waiting helpers for the fake's tests: the project's own, under the names used here."""

from tests.support.wait import eventually as eventually_sync
from tests.support.wait import eventually_async as eventually

__all__ = ["eventually", "eventually_sync"]
