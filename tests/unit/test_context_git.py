"""git_info reads a real repository made with the git binary, and gives None instead of failing."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from despina.context import git as git_module
from despina.context.git import GitInfo, git_info

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is not installed")

COMMIT_DATE = "2024-05-01T12:30:00+02:00"


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's git configuration and any enclosing repository out of the tests."""
    global_config = tmp_path / "gitconfig"
    global_config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_COMMITTER_DATE": COMMIT_DATE, "GIT_AUTHOR_DATE": COMMIT_DATE}
    result = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit(repo: Path, name: str, content: str, message: str) -> str:
    (repo / name).write_text(content)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo")
    commit(repo, "train.py", "print('hello')\n", "Add train.py\n\nWith a body line.")
    return repo


def read(path: Path) -> GitInfo:
    info = git_info(path)
    assert info is not None
    return info


def test_clean_repository(repo: Path) -> None:
    info = read(repo)
    assert info.commit_id == git(repo, "rev-parse", "HEAD")
    assert len(info.commit_id) == 40
    assert info.branch == "main"
    assert info.message == "Add train.py\n\nWith a body line."
    assert info.author_name == "Ada Lovelace"
    assert info.author_email == "ada@example.com"
    assert info.dirty is False
    assert info.diff == ""
    assert info.remote_url is None
    assert info.repository_root.resolve() == repo.resolve()


def test_commit_date_is_aware_and_exact(repo: Path) -> None:
    date = read(repo).commit_date
    assert date.tzinfo is not None
    assert date.utcoffset() == datetime.timedelta(hours=2)
    assert date == datetime.datetime(2024, 5, 1, 10, 30, tzinfo=datetime.timezone.utc)


def test_modified_tracked_file_is_dirty_with_its_diff(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    info = read(repo)
    assert info.dirty is True
    assert "-print('hello')" in info.diff
    assert "+print('changed')" in info.diff
    assert info.diff.startswith("diff --git a/train.py b/train.py\n")
    assert info.diff == git(repo, "diff", "HEAD") + "\n"


def test_staged_change_is_in_the_diff(repo: Path) -> None:
    (repo / "train.py").write_text("print('staged')\n")
    git(repo, "add", "train.py")
    info = read(repo)
    assert info.dirty is True
    assert "+print('staged')" in info.diff


def test_untracked_file_alone_makes_dirty_but_no_diff(repo: Path) -> None:
    (repo / "notes.txt").write_text("scratch\n")
    info = read(repo)
    assert info.dirty is True
    assert info.diff == ""


def test_untracked_counts_even_when_git_is_told_to_hide_untracked(repo: Path) -> None:
    git(repo, "config", "status.showUntrackedFiles", "no")
    (repo / "notes.txt").write_text("scratch\n")
    assert read(repo).dirty is True


def test_ignored_file_does_not_make_dirty(repo: Path) -> None:
    commit(repo, ".gitignore", "*.log\n", "Ignore logs")
    (repo / "train.log").write_text("noise\n")
    assert read(repo).dirty is False


def test_non_ascii_path_in_diff_is_not_quoted(repo: Path) -> None:
    commit(repo, "données.py", "x = 1\n", "Add données")
    (repo / "données.py").write_text("x = 2\n")
    assert "données.py" in read(repo).diff


def test_detached_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, "train.py", "print('second')\n", "Second")
    git(repo, "checkout", "-q", "--detach", first)
    info = read(repo)
    assert info.branch is None
    assert info.commit_id == first
    assert info.message == "Add train.py\n\nWith a body line."


def test_other_branch_name(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/lr-sweep")
    assert read(repo).branch == "feature/lr-sweep"


def test_origin_remote_is_preferred(repo: Path) -> None:
    git(repo, "remote", "add", "aaa-mirror", "https://mirror.example.com/project.git")
    git(repo, "remote", "add", "origin", "git@example.com:team/project.git")
    assert read(repo).remote_url == "git@example.com:team/project.git"


def test_first_remote_when_no_origin(repo: Path) -> None:
    git(repo, "remote", "add", "upstream", "https://example.com/team/project.git")
    assert read(repo).remote_url == "https://example.com/team/project.git"


def test_credentials_in_remote_url_are_not_recorded(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://user:s3cret-token@example.com/team/project.git")
    info = read(repo)
    assert info.remote_url == "https://example.com/team/project.git"
    assert "s3cret" not in repr(info)


def test_subfolder_and_file_paths_find_the_repository(repo: Path) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "module.py").write_text("")
    assert read(repo / "pkg").repository_root.resolve() == repo.resolve()
    assert read(repo / "train.py").commit_id == git(repo, "rev-parse", "HEAD")


def test_default_path_is_the_current_folder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    info = git_info()
    assert info is not None
    assert info.repository_root.resolve() == repo.resolve()


def test_reading_does_not_rewrite_the_index(repo: Path) -> None:
    """A stat-only change makes a plain `git status` refresh (rewrite) the index; git_info must not."""
    index = repo / ".git" / "index"
    before = index.read_bytes()
    stamp = time.time() + 60
    os.utime(repo / "train.py", (stamp, stamp))
    info = read(repo)
    assert info.dirty is False
    assert index.read_bytes() == before


def test_held_index_lock_does_not_matter(repo: Path) -> None:
    (repo / ".git" / "index.lock").write_text("")
    (repo / "train.py").write_text("print('changed')\n")
    info = read(repo)
    assert info.dirty is True
    assert (repo / ".git" / "index.lock").exists()


def test_repository_without_commits_is_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty")
    (repo / "train.py").write_text("")
    assert git_info(repo) is None


def test_not_a_repository_is_none(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert git_info(folder) is None


def test_missing_path_is_none(tmp_path: Path) -> None:
    assert git_info(tmp_path / "does-not-exist") is None


def test_no_git_binary_is_none(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert git_info(repo) is None


def fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    executable = bin_dir / "git"
    executable.write_text("#!/bin/sh\n" + script)
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake git")
def test_git_that_hangs_gives_none_within_the_timeout(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_git(tmp_path, monkeypatch, "sleep 30\n")  # not exec'd: the child sleep holds the pipe too
    monkeypatch.setattr(git_module, "GIT_TIMEOUT_S", 0.3)
    started = time.monotonic()
    assert git_info(repo) is None
    assert time.monotonic() - started < 3


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake git")
def test_git_that_fails_or_prints_garbage_gives_none(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_git(tmp_path, monkeypatch, "echo garbage\n")
    assert git_info(repo) is None
