"""Storage: engine and sessions, table models, Alembic migrations."""
