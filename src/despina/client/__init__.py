"""The logging client: Run, field handlers, operations, journal and sender."""
