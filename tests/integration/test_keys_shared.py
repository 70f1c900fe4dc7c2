"""API keys on both backends (a SQLite file, a real Postgres): a key made or revoked through one store
counts in another store (another process, as another replica or ``cra keys`` would be) on its next
lookup, with its role and scope, and only its hash is stored."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.keys import ApiKeyError, KeyStore, open_key_store
from tests.pg_fixtures import backend, pg_server, pg_url

__all__ = ["backend", "pg_server", "pg_url"]  # the Postgres fixtures, used by name below

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, as replicas are


def _open(backend: tuple[str, str]) -> KeyStore:
    return open_key_store(Path(backend[0]), backend[1])


def _create_elsewhere(backend: tuple[str, str], name: str, role: str, patients: list[str]) -> tuple[str, str]:
    """In another process: ``cra keys create`` -> (key id, secret)."""
    keys = _open(backend)
    record, secret = keys.create(name, role, patients)
    keys.close()
    return record.id, secret


def _revoke_elsewhere(backend: tuple[str, str], key_id: str) -> str:
    keys = _open(backend)
    try:
        return keys.revoke(key_id).id
    finally:
        keys.close()


def _raw_rows(backend: tuple[str, str]) -> list[tuple[object, ...]]:
    """Every column of every stored key row, read around the store."""
    data_dir, url = backend
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            return list(conn.execute("SELECT * FROM cra_api_keys").fetchall())
    with sqlite3.connect(Path(data_dir) / "api_keys.sqlite") as db:
        return list(db.execute("SELECT * FROM api_keys").fetchall())


def test_a_key_made_in_another_process_works_here_until_another_process_revokes_it(
    backend: tuple[str, str],
) -> None:
    here = _open(backend)  # open before the key exists: nothing is cached at start
    with ProcessPoolExecutor(1, mp_context=SPAWN) as other:
        key_id, secret = other.submit(
            _create_elsewhere, backend, "ward 3", "clinician", ["p1", "p2"]
        ).result()
        found = here.verify(secret)
        assert found is not None and (found.id, found.name, found.role) == (key_id, "ward 3", "clinician")
        assert found.patients == ("p1", "p2")
        assert found.allows("p2") and not found.allows("p3")
        assert here.active_count() == 1
        assert other.submit(_revoke_elsewhere, backend, key_id).result() == key_id
        assert here.verify(secret) is None  # the very next lookup
        with pytest.raises(ApiKeyError, match="already revoked"):
            here.revoke(key_id)
    assert [(k.id, k.revoked is not None) for k in here.list()] == [(key_id, True)]
    assert here.active_count() == 0
    here.close()


def test_two_stores_in_one_process_agree_on_creation_scope_and_revocation(backend: tuple[str, str]) -> None:
    a, b = _open(backend), _open(backend)
    admin, admin_secret = a.create("ops", "admin", [])
    service, service_secret = b.create("ehr", "service", ["*"])
    found_admin, found_service = b.verify(admin_secret), a.verify(service_secret)
    assert found_admin is not None and found_admin.role == "admin" and found_admin.patients == ("*",)
    assert found_service is not None and found_service.role == "service" and found_service.allows("anyone")
    assert a.verify(admin_secret[:-1] + ("A" if admin_secret[-1] != "A" else "B")) is None  # the hash decides
    assert a.verify(f"cra_{admin.id}_") is None and a.verify("cra_nosuchid_x") is None
    b.revoke(admin.id)
    assert a.verify(admin_secret) is None and a.verify(service_secret) is not None
    with pytest.raises(ApiKeyError, match="no key"):
        a.revoke("nosuchid")
    assert [k.id for k in a.list()] == [k.id for k in b.list()] == [admin.id, service.id]
    a.close()
    b.close()


def test_only_the_hash_of_a_key_is_stored(backend: tuple[str, str]) -> None:
    keys = _open(backend)
    record, secret = keys.create("ward 3", "clinician", ["p1"])
    keys.close()
    rows = _raw_rows(backend)
    assert len(rows) == 1
    cells = [str(c) for c in rows[0]]
    assert hashlib.sha256(secret.encode()).hexdigest() in cells
    assert not any(secret in c or secret.split("_")[2] in c for c in cells)
    assert record.id in cells


def test_the_store_follows_the_state_url_unless_a_keys_file_is_set(pg_url: str, tmp_path: Path) -> None:
    in_postgres = open_key_store(tmp_path / "data", pg_url)
    assert in_postgres.where.startswith("postgres") and "@" not in in_postgres.where
    in_postgres.close()
    assert not (tmp_path / "data" / "api_keys.sqlite").exists()
    explicit = open_key_store(tmp_path / "data", pg_url, tmp_path / "keys.sqlite")
    assert explicit.where == f"sqlite {tmp_path / 'keys.sqlite'}"  # CRA_API_KEYS_DB, as before
    explicit.close()
    local = open_key_store(tmp_path / "data", "")
    assert local.where == f"sqlite {tmp_path / 'data' / 'api_keys.sqlite'}"
    local.close()


def test_cli_creates_lists_revokes_and_imports_keys_in_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    old = KeyStore(tmp_path / "old.sqlite")  # a deployment's SQLite keys, moving to Postgres
    old_record, old_secret = old.create("legacy", "service", ["*"])
    old.revoke(old.create("gone", "clinician", ["p1"])[0].id)
    old.close()
    monkeypatch.delenv("CRA_API_KEYS_DB", raising=False)
    monkeypatch.setenv("CRA_STATE_URL", pg_url)
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(app, [*base, "keys", "create", "--name", "ward", "--patient", "p7", "--json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    imported = runner.invoke(app, [*base, "keys", "import", str(tmp_path / "old.sqlite")])
    assert imported.exit_code == 0 and "imported 2 key(s) into postgres" in imported.output, imported.output
    again = runner.invoke(app, [*base, "keys", "import", str(tmp_path / "old.sqlite")])
    assert "imported 0 key(s)" in again.output
    listed = runner.invoke(app, [*base, "keys", "list", "--json"])
    rows = {k["name"]: k for k in json.loads(listed.stdout)}
    assert (
        set(rows) == {"ward", "legacy", "gone"} and rows["gone"]["revoked"] and not rows["legacy"]["revoked"]
    )
    revoked = runner.invoke(app, [*base, "keys", "revoke", created["id"]])
    assert revoked.exit_code == 0, revoked.output

    shared = open_key_store(tmp_path / "elsewhere", pg_url)
    assert shared.verify(created["key"]) is None
    moved = shared.verify(old_secret)
    assert moved is not None and moved.id == old_record.id  # the old secret still works
    shared.close()
    assert not (tmp_path / "data" / "api_keys.sqlite").exists()


def test_cli_says_which_setting_to_fix_when_postgres_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    monkeypatch.delenv("CRA_API_KEYS_DB", raising=False)
    monkeypatch.setenv("CRA_STATE_URL", "postgresql://cra:hunter2@127.0.0.1:1/cra")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "keys", "list"])
    assert result.exit_code == 2 and "CRA_STATE_URL" in result.output, result.output
    assert "hunter2" not in result.output
