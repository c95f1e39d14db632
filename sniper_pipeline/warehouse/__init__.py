"""The warehouse: SQLAlchemy tables, engines (DuckDB default, PostgreSQL in production), upserts."""
