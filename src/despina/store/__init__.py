"""Where runs live: metadata and series (SQL) plus file contents (blobs), behind one contract."""
