"""API keys: stored as SHA-256 hashes in SQLite, each with a role and the patients it may see.

A key reads ``cra_<id>_<secret>``: the id finds the row, the hash of the whole key proves it. The
secret has 256 bits of entropy, so a fast hash is enough (no password stretching needed) and a
constant-time comparison keeps timing from leaking it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

__all__ = ["ALL_PATIENTS", "ApiKey", "ApiKeyError", "KeyStore", "Role"]

Role = Literal["clinician", "service", "admin"]
ALL_PATIENTS = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    patients TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
)
"""


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never its secret)."""

    id: str
    name: str
    role: Role
    patients: tuple[str, ...]
    created: float
    revoked: float | None = None

    def allows(self, patient_id: str | None) -> bool:
        """Whether this key may read ``patient_id`` (a question without a patient is always allowed)."""
        if patient_id is None or self.role == "admin":
            return True
        return ALL_PATIENTS in self.patients or patient_id in self.patients

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "patients": list(self.patients),
            "created": self.created,
            "revoked": self.revoked,
        }


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys of one deployment, in ``<data dir>/api_keys.sqlite``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def create(self, name: str, role: str, patients: list[str]) -> tuple[ApiKey, str]:
        """A new key and its secret, which is shown once and never stored."""
        if role not in get_args(Role):
            raise ApiKeyError(f"role {role!r} is not one of {', '.join(get_args(Role))}")
        if not name.strip():
            raise ApiKeyError("give the key a name (who or what uses it)")
        scope = tuple(dict.fromkeys(p.strip() for p in patients if p.strip()))
        if role != "admin" and not scope:
            raise ApiKeyError("give --patient ID (repeatable) or --patient '*' for every patient")
        key_id = secrets.token_hex(6)
        secret = f"cra_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, name.strip(), role, scope or (ALL_PATIENTS,), time.time())  # type: ignore[arg-type]
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key_id, record.name, role, json.dumps(list(record.patients)), _hash(secret), record.created),
            )
        return record, secret

    def _row(self, row: tuple[object, ...]) -> ApiKey:
        kid, name, role, patients, _, created, revoked = row
        return ApiKey(str(kid), str(name), role, tuple(json.loads(str(patients))), float(created), revoked)  # type: ignore[arg-type]

    def verify(self, secret: str) -> ApiKey | None:
        """The live key ``secret`` belongs to, or ``None`` (unknown, malformed or revoked)."""
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "cra":
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM api_keys WHERE id = ?", (parts[1],)).fetchone()
        if row is None or row[6] is not None:
            return None
        return self._row(row) if hmac.compare_digest(str(row[4]), _hash(secret)) else None

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM api_keys ORDER BY created").fetchall()
        return [self._row(r) for r in rows]

    def active_count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM api_keys WHERE revoked IS NULL").fetchone()
        return int(n)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once; later requests with it get 401."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id)
            )
            row = self._db.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise ApiKeyError(f"no key with id {key_id!r}; see cra keys list")
        if cur.rowcount == 0:
            raise ApiKeyError(f"key {key_id} was already revoked")
        return self._row(row)

    @classmethod
    def at(cls, data_dir: Path) -> KeyStore:
        """The deployment's store in ``data_dir`` (``api_keys.sqlite``)."""
        return cls(data_dir / "api_keys.sqlite")

    def close(self) -> None:
        self._db.close()
