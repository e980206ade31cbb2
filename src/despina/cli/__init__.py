"""The `despina` command line."""
