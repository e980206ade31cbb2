"""Content-addressed file storage."""
