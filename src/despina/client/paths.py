"""Field paths: `train/acc`, `parameters/lr`. Validated once, at the call site."""

from __future__ import annotations

from despina.exceptions import FieldPathError

MAX_PATH_LENGTH = 1024
SYSTEM_NAMESPACE = "sys"
# The only sys/ fields a user may write; the rest are Despina's own bookkeeping.
USER_WRITABLE_SYS_PATHS = frozenset({"sys/name", "sys/description", "sys/tags"})


def validate_path(path: object) -> str:
    """Return `path` if it is a well-formed field path, else raise FieldPathError saying why."""
    if not isinstance(path, str):
        raise FieldPathError(f"a field path must be a str like 'train/loss', not {type(path).__name__}")
    if not path:
        raise FieldPathError("the field path is empty; name the field, e.g. run['train/loss']")
    if len(path) > MAX_PATH_LENGTH:
        raise FieldPathError(
            f"the field path {path[:40]!r}... is {len(path)} characters long; the limit is {MAX_PATH_LENGTH}"
        )
    for segment in path.split("/"):
        if not segment or segment.strip() != segment or not segment.strip():
            raise FieldPathError(
                f"the field path {path!r} has an empty or space-padded segment; "
                "use names separated by single '/', e.g. 'train/loss'"
            )
    if any(ord(ch) < 32 for ch in path):
        raise FieldPathError(f"the field path {path!r} contains a control character")
    return path


def join_path(base: str, sub: str) -> str:
    """Join a handler's path with a sub path (`run["a"]["b"]` is `run["a/b"]`)."""
    return validate_path(f"{base}/{sub}" if base else sub)


def check_user_writable(path: str) -> None:
    """Raise if user code tries to write a sys/ field Despina maintains."""
    if (path == SYSTEM_NAMESPACE or path.startswith("sys/")) and path not in USER_WRITABLE_SYS_PATHS:
        allowed = ", ".join(sorted(USER_WRITABLE_SYS_PATHS))
        raise FieldPathError(
            f"{path!r} is maintained by Despina and cannot be written; of sys/ you may write {allowed}. "
            "Put your own fields in another namespace."
        )
