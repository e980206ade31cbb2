"""Revisions of the SQL store's schema, oldest first (see the package docstring one level up)."""
