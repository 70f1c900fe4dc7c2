"""API keys: stored as SHA-256 hashes, each with a role and the patients it may see.

A key reads ``cra_<id>_<secret>``: the id finds the row, the hash of the whole key proves it. The
secret has 256 bits of entropy, so a fast hash is enough (no password stretching needed) and a
constant-time comparison keeps timing from leaking it.

The rows live where :func:`open_key_store` says: the SQLite file ``CRA_API_KEYS_DB`` when it is set,
else Postgres when the shared state is there (``CRA_STATE_URL``, see :mod:`service.shared_state`:
every replica and every ``cra keys`` sees the same keys), else ``<data dir>/api_keys.sqlite``. Every
lookup reads the table, so a key created or revoked anywhere counts on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

from patient_index.ids import FHIR_ID_RULE, is_fhir_id
from service.sqlite_db import open_sqlite

__all__ = [
    "ALL_PATIENTS",
    "ApiKey",
    "ApiKeyError",
    "KeyRow",
    "KeyStore",
    "KeyTable",
    "Role",
    "SqliteKeyTable",
    "open_key_store",
]

log = logging.getLogger(__name__)

Role = Literal["clinician", "service", "admin"]
ALL_PATIENTS = "*"

# id, name, role, patients (a JSON list), key_hash, created, revoked: the columns, in this order.
KeyRow = tuple[str, str, str, str, str, float, float | None]

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


def _record(row: KeyRow) -> ApiKey:
    kid, name, role, patients, _, created, revoked = row
    return ApiKey(kid, name, role, tuple(json.loads(patients)), float(created), revoked)  # type: ignore[arg-type]


class KeyTable(Protocol):
    """Where the key rows live; hashing, scopes and checks are :class:`KeyStore`'s."""

    where: str

    def insert(self, row: KeyRow) -> None:
        """Add a new key's row."""

    def get(self, key_id: str) -> KeyRow | None:
        """The row of ``key_id``, revoked or not."""

    def rows(self) -> list[KeyRow]:
        """Every row, oldest first."""

    def active_count(self) -> int:
        """How many keys are not revoked."""

    def revoke(self, key_id: str, when: float) -> tuple[bool, KeyRow | None]:
        """Mark ``key_id`` revoked at ``when`` unless it already is: ``(changed, row after)``."""

    def close(self) -> None: ...


class SqliteKeyTable:
    """The ``api_keys`` table of one SQLite file (WAL: the processes of one host may share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"sqlite {path}"
        self._lock = threading.Lock()
        self._db = open_sqlite(path, _SCHEMA)

    def insert(self, row: KeyRow) -> None:
        with self._lock:
            self._db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def get(self, key_id: str) -> KeyRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return tuple(row) if row else None

    def rows(self) -> list[KeyRow]:
        with self._lock:
            return [tuple(r) for r in self._db.execute("SELECT * FROM api_keys ORDER BY created")]

    def active_count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM api_keys WHERE revoked IS NULL").fetchone()
        return int(n)

    def revoke(self, key_id: str, when: float) -> tuple[bool, KeyRow | None]:
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (when, key_id)
            )
            row = self._db.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return cur.rowcount == 1, tuple(row) if row else None

    def close(self) -> None:
        self._db.close()


class KeyStore:
    """The keys of one deployment: create, verify, list, revoke, over one :class:`KeyTable`."""

    def __init__(self, table: KeyTable | Path) -> None:
        """A store over ``table``; a path means the SQLite file there."""
        self.table: KeyTable = SqliteKeyTable(table) if isinstance(table, Path) else table
        self.where = self.table.where

    def create(self, name: str, role: str, patients: list[str]) -> tuple[ApiKey, str]:
        """A new key and its secret, which is shown once and never stored."""
        if role not in get_args(Role):
            raise ApiKeyError(f"role {role!r} is not one of {', '.join(get_args(Role))}")
        if not name.strip():
            raise ApiKeyError("give the key a name (who or what uses it)")
        scope = tuple(dict.fromkeys(p.strip() for p in patients if p.strip()))
        if role != "admin" and not scope:
            raise ApiKeyError("give --patient ID (repeatable) or --patient '*' for every patient")
        invalid = [p for p in scope if p != ALL_PATIENTS and not is_fhir_id(p)]
        if invalid:  # such a key could never read anyone: a typo or a pasted name, not an id
            shown = ", ".join(repr(p) for p in invalid[:3] if len(p) <= 80) or "one of them"
            raise ApiKeyError(
                f"--patient {shown} is not a FHIR Patient id ({FHIR_ID_RULE}); "
                "give the id as `cra patient list` shows it, or '*' for every patient"
            )
        key_id = secrets.token_hex(6)
        secret = f"cra_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, name.strip(), role, scope or (ALL_PATIENTS,), time.time())  # type: ignore[arg-type]
        patients_json = json.dumps(list(record.patients))
        self.table.insert((key_id, record.name, role, patients_json, _hash(secret), record.created, None))
        return record, secret

    def verify(self, secret: str) -> ApiKey | None:
        """The live key ``secret`` belongs to, or ``None`` (unknown, malformed or revoked)."""
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "cra":
            return None
        row = self.table.get(parts[1])
        if row is None or row[6] is not None:
            return None
        return _record(row) if hmac.compare_digest(str(row[4]), _hash(secret)) else None

    def list(self) -> list[ApiKey]:
        return [_record(r) for r in self.table.rows()]

    def active_count(self) -> int:
        return self.table.active_count()

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once; later requests with it get 401."""
        changed, row = self.table.revoke(key_id, time.time())
        if row is None:
            raise ApiKeyError(f"no key with id {key_id!r}; see cra keys list")
        if not changed:
            raise ApiKeyError(f"key {key_id} was already revoked")
        return _record(row)

    def copy_from(self, other: KeyStore) -> int:
        """Add ``other``'s keys (their hashes, revoked ones included) that this store lacks; how many.

        Moving a deployment's keys from its SQLite file to Postgres: the secrets stay valid.
        """
        added = 0
        for row in other.table.rows():
            if self.table.get(row[0]) is None:
                self.table.insert(row)
                added += 1
        return added

    @classmethod
    def at(cls, data_dir: Path) -> KeyStore:
        """The deployment's store in ``data_dir`` (``api_keys.sqlite``)."""
        return cls(data_dir / "api_keys.sqlite")

    def close(self) -> None:
        self.table.close()


def open_key_store(data_dir: Path, state_url: str = "", keys_db: Path | None = None) -> KeyStore:
    """The key store a deployment uses: ``keys_db`` (SQLite), else Postgres at ``state_url``, else the data dir.

    ``state_url`` is the shared state's target (``StateSettings().target(checkpointer_url)``): a
    ``postgresql://`` URL, or empty for SQLite.

    Raises:
        StateUnavailableError: Postgres is unreachable or psycopg is not installed.
    """
    if keys_db is not None:
        if state_url:
            log.warning(
                "API keys stay in the SQLite file CRA_API_KEYS_DB, not in the shared Postgres state; "
                "unset it to share keys across hosts (cra keys import moves them)"
            )
        return KeyStore(keys_db)
    if state_url:
        from service.postgres_state import PostgresKeyTable

        return KeyStore(PostgresKeyTable(state_url))
    return KeyStore.at(data_dir)
