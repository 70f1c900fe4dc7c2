"""How the service opens its SQLite files (audit, feedback, keys, shared state)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.private_files import private_file

__all__ = ["open_sqlite", "write_transaction"]


def open_sqlite(path: Path, schema: str, *, fsync_each_commit: bool = True) -> sqlite3.Connection:
    """A connection to ``path`` (file 0600, its folder made 0700 if needed) with ``schema`` applied.

    Autocommit (callers open their own transactions), usable from any thread (callers hold a
    lock), WAL so the processes of one host read while one writes, and a 30 s wait for another
    process's write lock. ``fsync_each_commit=False`` trades the last commits before a power cut
    for speed: right for rate buckets and token ids, never for the audit trail.
    """
    private_file(path)  # before SQLite opens it: the file, its WAL and shm are never world-readable
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    if not fsync_each_commit:
        db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``db`` holding the file's write lock (``BEGIN IMMEDIATE``: other processes wait at the start,
    never half-way), committed when the block ends and rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
