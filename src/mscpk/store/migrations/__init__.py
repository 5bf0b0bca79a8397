"""Alembic migrations of the project store, run by :mod:`mscpk.store.migrate` (no alembic.ini)."""
