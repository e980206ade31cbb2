"""Tables of the SQL store.

Series points are not rows: they are chunks of up to CHUNK_POINTS points (see store/series_codec.py),
with a summary row per series (last value, min, max, sum) that the runs table reads without touching
the chunks.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
metadata = MetaData()

schema_info = Table("schema_info", metadata, Column("version", Integer, nullable=False))

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("key", String(16), nullable=False, unique=True),
    Column("run_counter", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("short_id", String(32), nullable=False),
    Column("custom_run_id", String(128)),
    Column("creation_token", String(128), unique=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("failed", Boolean, nullable=False, default=False),
    Column("creation_time", Float, nullable=False),
    Column("modification_time", Float, nullable=False),
    Column("ping_time", Float),  # the writer's last heartbeat: how a killed run is told from a live one
    Column("fork_parent_id", Integer, ForeignKey("runs.id")),
    Column("fork_step", Float),
    UniqueConstraint("project_id", "number"),
    UniqueConstraint("project_id", "short_id"),
    UniqueConstraint("project_id", "custom_run_id"),
)
# The runs table's default order and keyset cursor, and its owner and state filters (revision 0003).
Index("runs_project_creation", runs.c.project_id, runs.c.creation_time, runs.c.id)
Index("runs_project_owner", runs.c.project_id, runs.c.owner)
Index("runs_project_state", runs.c.project_id, runs.c.state)

# Atoms, files, file sets and string-set markers; one row per field.
fields = Table(
    "fields",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("float_value", Float),
    Column("int_value", BigInteger),
    Column("text_value", Text),  # strings; "nan" marks a NaN float (SQLite stores NaN as NULL)
    # The blob holding the rest of the value: an artifact's file list (its set hash is text_value).
    Column("blob_sha256", String(64)),
)
# By value, for filters and sorts. On PostgreSQL they carry the run and the type (revision 0007), so
# a condition's set of runs is an index-only scan; SQLite has no INCLUDE and ignores the option.
_COVERED = ["run_id", "type"]
Index("fields_path", fields.c.path, fields.c.float_value, postgresql_include=_COVERED)
Index(
    "fields_path_int", fields.c.path, fields.c.int_value, postgresql_include=_COVERED
)  # ints, bools, datetimes (r0003)

string_set_items = Table(
    "string_set_items",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("value", Text, primary_key=True),
)
Index("string_set_items_path_value", string_set_items.c.path, string_set_items.c.value)  # `contains`

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("type", String(16), nullable=False),
    Column("point_count", BigInteger, nullable=False),
    Column("last_step", Float),
    Column("last_timestamp", Float),
    Column("last_float", Float),
    Column("last_text", Text),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("sum_value", Float),
    Column("finite_count", BigInteger, nullable=False, default=0),
    # False when a fork deleted a series it inherited: reads stop at this run instead of the parent.
    Column("inherit", Boolean, nullable=False, default=True),
    UniqueConstraint("run_id", "path"),
)
# Filters and sorts on a series' aggregates (revision 0003).
Index("series_path_last", series.c.path, series.c.last_float, postgresql_include=_COVERED)
Index("series_path_min", series.c.path, series.c.min_value, postgresql_include=_COVERED)
Index("series_path_max", series.c.path, series.c.max_value, postgresql_include=_COVERED)

# On PostgreSQL only, made by revision 0006 and not described here: `(path COLLATE "C")` on fields,
# series and string_set_items, for the bytewise path ranges that find a namespace's paths (SQLite
# compares bytewise already, and an expression index in a collation SQLite lacks cannot be shared).
POSTGRESQL_ONLY_INDEXES = ("fields_path_bytewise", "series_path_bytewise", "string_set_items_path_bytewise")

series_chunks = Table(
    "series_chunks",
    metadata,
    Column("series_id", Integer, ForeignKey("series.id"), primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    Column("first_step", Float, nullable=False),
    Column("last_step", Float, nullable=False),
    Column("point_count", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
# A step range of one series reads only its chunks in range (revision 0003).
Index("series_chunks_steps", series_chunks.c.series_id, series_chunks.c.last_step, series_chunks.c.first_step)

# Idempotent ingestion: the highest sequence number applied per (run, writer).
writers = Table(
    "writers",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("writer_id", String(128), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

# --- Users and access (the server's; an embedded home has none and needs no login) -------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text),  # argon2id; NULL for a user who signs in with tokens only
    Column("is_admin", Boolean, nullable=False, default=False),  # server admin: every workspace
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

# API tokens are shown once; only their sha256 is kept (they are random, so a slow hash adds nothing).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the first characters, to tell tokens apart in lists
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
)

# A workspace is the part of a project name before the "/"; its admins may do anything in it.
workspace_admins = Table(
    "workspace_admins",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
)

# Roles are keyed by project name, so access can be granted before the first run creates the project.
project_roles = Table(
    "project_roles",
    metadata,
    Column("project", String(256), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | contributor | owner
)

# Browser sessions: the cookie holds a random id whose sha256 is stored, with the CSRF token it pairs with.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Which project may read which blob: blobs are shared by content across projects, so a download is
# allowed only where a run of the project references the content (recorded when a batch is ingested
# through the server) or a member uploaded it there.
project_blobs = Table(
    "project_blobs",
    metadata,
    Column("project", String(256), primary_key=True),
    Column("sha256", String(64), primary_key=True),
)

# Saved views of a project's runs table (the web UI): a JSON definition of columns, query and sort.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(256), nullable=False),
    Column("name", String(128), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("definition", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("project", "name"),
)
