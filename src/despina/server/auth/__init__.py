"""Who is calling and what they may do: users, API tokens, browser sessions, workspace admins, project roles.

- principal.py: `Principal` (the caller) and `Role` (viewer < contributor < owner); light to import.
- service.py: `AccessService`, the only code that reads or writes the access tables.
- dependencies.py: FastAPI dependencies that turn a request into a principal and a project role.

This file imports nothing, so the CLI can use the light modules without loading SQLAlchemy.
"""
