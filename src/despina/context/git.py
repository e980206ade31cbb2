"""The git state of the code a run was started from.

Reading it lets a result be traced back to an exact commit, including changes that were
never committed (the ``diff``). The ``git`` command line is used instead of a library so
that nothing extra has to be installed and so that the user's own git (with its
configuration and extensions) reads the repository.

:func:`git_info` runs while a run starts, next to whatever the user's own tools are doing,
so it must never fail or hang the run: every error, a missing binary, a repository
without commits and a git that does not answer in time all give ``None``. It also never
takes the index lock (``GIT_OPTIONAL_LOCKS=0``), so a ``git commit`` running at the same
moment cannot fail because of it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["GIT_TIMEOUT_S", "GitInfo", "git_info"]

#: Seconds that all the git commands of one :func:`git_info` call may take together.
GIT_TIMEOUT_S = 10.0

_SEP = "\x1f"  # unit separator: cannot occur in names, e-mails or dates
_LOG_FORMAT = _SEP.join(["%H", "%an", "%ae", "%cI", "%ct", "%B"])


@dataclass(frozen=True)
class GitInfo:
    """The commit checked out, and whether the working tree differs from it."""

    commit_id: str
    #: ``None`` when HEAD is detached (e.g. a CI checkout of a tag or commit).
    branch: str | None
    message: str
    author_name: str
    author_email: str
    #: The committer date, timezone-aware, in the committer's own offset.
    commit_date: datetime.datetime
    #: The URL of ``origin``, else of the first remote, else ``None``. A user name and
    #: password (or token) in an http(s) URL are removed so that they are never recorded.
    remote_url: str | None
    #: Uncommitted changes, untracked (not ignored) files included.
    dirty: bool
    #: The text of ``git diff HEAD``: changes to tracked files, staged or not; ``""`` when clean.
    diff: str
    repository_root: Path


class _GitError(Exception):
    """A git command failed, or ran out of time; :func:`git_info` turns it into ``None``."""


class _Git:
    """Runs git commands in one folder, all sharing one deadline."""

    def __init__(self, executable: str, cwd: Path, deadline: float) -> None:
        self._executable = executable
        self._cwd = cwd
        self._deadline = deadline
        env = dict(os.environ)
        # Stable, untranslated output; never take the index lock; never ask for a password.
        env.update({"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"})
        self._env = env

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
        """Return the exit code and standard output of ``git args``; raise :class:`_GitError`."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _GitError("out of time")
        command = [self._executable, "-c", "core.quotepath=off", *args]
        try:
            # A session of its own, so that on timeout git *and its children* (hooks,
            # fsmonitor, textconv...) can be killed together and cannot keep the pipe open.
            with subprocess.Popen(
                command,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=os.name == "posix",
            ) as process:
                try:
                    output, _ = process.communicate(timeout=remaining)
                except subprocess.TimeoutExpired:
                    _kill(process)
                    raise _GitError("timed out") from None
        except OSError as error:
            raise _GitError(str(error)) from error
        if process.returncode not in ok_codes:
            raise _GitError(f"git {args[0]} exited with {process.returncode}")
        return process.returncode, output

    def text(self, *args: str) -> str:
        """Standard output of a command that must succeed, decoded, without the final newline."""
        return _decode(self.run(*args)[1]).rstrip("\n")


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill a timed-out git together with its process group where there is one."""
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()


def _decode(data: bytes) -> str:
    """Git output as text; a commit in another encoding must not make the whole read fail."""
    return data.decode("utf-8", errors="replace")


def _redact_credentials(url: str) -> str:
    """Remove ``user:password@`` from http(s) URLs: tokens are often stored that way."""
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    except ValueError:
        return url


def _parse_date(iso: str, timestamp: str) -> datetime.datetime:
    """The strict ISO date git gives (``%cI``), else the Unix time in UTC."""
    try:
        parsed = datetime.datetime.fromisoformat(iso)
        if parsed.tzinfo is not None:
            return parsed
    except ValueError:
        pass
    return datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.timezone.utc)


def _remote_url(git: _Git) -> str | None:
    remotes = git.text("remote").splitlines()
    if not remotes:
        return None
    name = "origin" if "origin" in remotes else remotes[0]
    url = git.text("remote", "get-url", name)
    return _redact_credentials(url) if url else None


def _read(git: _Git) -> GitInfo | None:
    root_text = os.fsdecode(git.run("rev-parse", "--show-toplevel")[1].rstrip(b"\n"))
    if not root_text:  # e.g. inside the .git folder itself
        return None
    code, _ = git.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", ok_codes=(0, 1))
    if code != 0:  # a repository without commits yet
        return None
    fields = git.text("log", "-1", "--no-show-signature", f"--format={_LOG_FORMAT}", "HEAD").split(_SEP, 5)
    if len(fields) != 6:
        return None
    commit_id, author_name, author_email, iso_date, timestamp, message = fields
    code, branch_output = git.run("symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1))
    branch = _decode(branch_output).strip() if code == 0 else None
    status = git.run("status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=none")[1]
    # Same text as `git diff HEAD`, from the plumbing diff-index: `git diff` rewrites the
    # index to refresh it even with GIT_OPTIONAL_LOCKS=0, and follows the user's diff.*
    # settings (no prefix, colours...), which diff-index ignores.
    diff = _decode(git.run("diff-index", "-p", "--no-ext-diff", "--no-textconv", "--no-color", "HEAD")[1])
    return GitInfo(
        commit_id=commit_id,
        branch=branch or None,
        message=message.rstrip("\n"),
        author_name=author_name,
        author_email=author_email,
        commit_date=_parse_date(iso_date, timestamp),
        remote_url=_remote_url(git),
        dirty=bool(status.strip()),
        diff=diff,
        repository_root=Path(root_text),
    )


def git_info(path: Path | None = None) -> GitInfo | None:
    """Describe the git repository holding ``path`` (default: the current folder).

    Returns ``None``, and never raises, when git is not installed, ``path`` is not in a
    repository, the repository has no commit yet, or any git command fails or does not
    finish within :data:`GIT_TIMEOUT_S` seconds in all: a run must start whatever the
    state of the user's repository.
    """
    try:
        executable = shutil.which("git")
        if executable is None:
            return None
        folder = Path.cwd() if path is None else Path(path)
        if folder.is_file():
            folder = folder.parent
        if not folder.is_dir():
            return None
        return _read(_Git(executable, folder, time.monotonic() + GIT_TIMEOUT_S))
    except Exception:  # never break a run for the sake of its git metadata
        return None
