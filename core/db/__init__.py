"""Storage: the schema, the engine with its per-database settings, and migrations."""

from core.db.database import Database

__all__ = ["Database"]
