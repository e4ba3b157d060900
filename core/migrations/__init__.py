"""Alembic migrations of the mall's schema (``pointsmall migrate`` applies them)."""
