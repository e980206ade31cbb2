"""The SQL store (SQLAlchemy Core): SQLite for the embedded default, PostgreSQL at scale."""
