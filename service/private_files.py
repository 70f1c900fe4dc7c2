"""Files and folders that may hold PHI are the service account's alone: folders 0700, files 0600.

The data dir holds patient records (the Qdrant shards), threads, feedback, the audit trail and the
API keys' hashes. Each store makes its own file through :func:`private_file` and its folder through
:func:`private_dir`; a serving process also narrows its umask (:func:`private_umask`) so what
libraries create inside (SQLite's WAL files, LangGraph's checkpoints) is born private too.
Existing files and folders that this user owns are narrowed when opened, so an older data dir is
fixed on the next start.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "private_umask"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def _narrow(path: Path, mode: int) -> None:
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:  # not ours, or a read-only mount: leave it to the operator
        pass


def private_umask() -> None:
    """Keep group and others out of everything this process creates from now on."""
    os.umask(os.umask(0o077) | 0o077)


def private_dir(path: Path) -> Path:
    """``path`` as a folder, each folder this call creates 0700, and ``path`` itself narrowed to 0700."""
    missing = []
    at = Path(path)
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        folder.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    _narrow(Path(path), DIR_MODE)
    return Path(path)


def private_file(path: Path) -> Path:
    """``path`` created empty with 0600 when missing (never briefly readable), else narrowed to 0600.

    SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file they belong to.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    _narrow(path, FILE_MODE)
    for suffix in ("-wal", "-shm", "-journal"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            _narrow(sibling, FILE_MODE)
    return path
