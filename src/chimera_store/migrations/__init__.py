"""Alembic migration scripts, shipped inside the package (script_location chimera_store:migrations)."""
