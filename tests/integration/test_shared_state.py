"""State that replicas share, on both backends (SQLite in one data dir, a real Postgres): the audit
chain under concurrent appends from several processes, CDS Hooks jti replay, shared rate buckets."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from agent.settings import AgentSettings
from service.api.settings import ServeSettings
from service.app import create_app
from service.cds.auth import JwtVerifier
from service.cds.errors import CdsError
from service.cds.settings import CdsSettings
from service.deps import Deps
from service.limits import RateLimiter
from service.shared_state import SharedState, StateSettings, open_shared_state
from tests.pg_fixtures import RestartablePostgres, backend, pg_restartable, pg_server, pg_url

__all__ = ["backend", "pg_restartable", "pg_server", "pg_url"]  # the Postgres fixtures, used by name below

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, as uvicorn workers and replicas are
ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/cra-care-gaps"


def _open(backend: tuple[str, str]) -> SharedState:
    return open_shared_state(Path(backend[0]), backend[1])


# -- audit -----------------------------------------------------------------------------------------


def _append_many(backend: tuple[str, str], worker: int, n: int, start: Any) -> None:
    state = _open(backend)
    start.wait()  # every process appends at once
    for i in range(n):
        state.audit.append({"event": "test", "worker": worker, "i": i})
        time.sleep(0.002)  # requests come apart, not back to back: the others get their turn
    state.close()


def test_concurrent_appends_from_processes_keep_one_unbroken_chain(backend: tuple[str, str]) -> None:
    workers, n = 3, 60
    _open(backend).close()  # the schema exists before the race
    start = SPAWN.Barrier(workers)
    procs = [SPAWN.Process(target=_append_many, args=(backend, w, n, start)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    state = _open(backend)
    report = state.audit.verify()
    records = list(state.audit.records())
    state.close()
    assert report.ok, report.problems
    assert report.records == workers * n
    assert [r["seq"] for r in records] == list(range(1, workers * n + 1))
    assert sorted((r["worker"], r["i"]) for r in records) == [
        (w, i) for w in range(workers) for i in range(n)
    ]
    switches = sum(a["worker"] != b["worker"] for a, b in itertools.pairwise(records))
    assert switches > workers - 1, "the processes never appended at the same time"


def _tamper(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE cra_audit DISABLE TRIGGER USER")
        conn.execute(sql)
        conn.execute("ALTER TABLE cra_audit ENABLE TRIGGER USER")


def _postgres_log(url: str, n: int = 5) -> SharedState:
    state = open_shared_state(Path("unused"), url)
    for i in range(n):
        state.audit.append({"event": "api_request", "status": 200, "patient_id": f"p{i}"})
    return state


def test_postgres_refuses_changes_and_verify_detects_edit_delete_truncation(pg_server: str) -> None:
    import psycopg

    from tests.pg_fixtures import database_url

    def fresh() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return database_url(pg_server, name)

    url = fresh()
    state = _postgres_log(url)
    assert state.audit.verify().ok and state.audit.verify().records == 5
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in (
            "UPDATE cra_audit SET body = body WHERE seq = 2",
            "DELETE FROM cra_audit WHERE seq = 5",
            "TRUNCATE cra_audit",
            "UPDATE cra_audit_head SET seq = 4",  # the head never moves back
            "DELETE FROM cra_audit_head",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
    state.close()

    cases = {
        "edited": ("UPDATE cra_audit SET body = replace(body, '\"p2\"', '\"p9\"') WHERE seq = 3", "record 3"),
        "deleted": ("DELETE FROM cra_audit WHERE seq = 2", "missing"),
        "truncated": ("DELETE FROM cra_audit WHERE seq >= 4", "cut off"),
        "replaced": ("UPDATE cra_audit SET hash = repeat('a', 64), prev = prev WHERE seq = 5", "record 5"),
    }
    for case, (sql, expected) in cases.items():
        url = fresh()
        _postgres_log(url).close()
        _tamper(url, sql)
        state = open_shared_state(Path("unused"), url)
        problems = state.audit.verify().problems
        state.close()
        assert any(expected in p for p in problems), (case, problems)


def test_cli_verifies_the_configured_postgres_store(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    _postgres_log(pg_url, 4).close()
    monkeypatch.setenv("CRA_STATE_URL", pg_url)
    runner = CliRunner()
    ok = runner.invoke(app, ["--data-dir", str(tmp_path), "audit", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.stdout)
    assert body["ok"] and body["records"] == 4 and body["store"].startswith("postgres")
    assert "@" not in body["store"] and not (tmp_path / "audit.sqlite").exists()
    _tamper(pg_url, "UPDATE cra_audit SET body = replace(body, '200', '500') WHERE seq = 2")
    broken = runner.invoke(app, ["--data-dir", str(tmp_path), "audit", "verify"])
    assert broken.exit_code == 1 and "record 2" in broken.output


# -- CDS Hooks jti -----------------------------------------------------------------------------------


def _jwks(key: ec.EllipticCurvePrivateKey) -> str:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**public, "kid": "k1", "alg": "ES384", "use": "sig"}]})


def _token(key: ec.EllipticCurvePrivateKey, exp_in: int = 300) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "exp": now + exp_in, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(body, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


def _verifier(backend: tuple[str, str], jwks: str, state: SharedState | None = None) -> JwtVerifier:
    settings = CdsSettings(issuers={ISS: jwks}, leeway_s=0, _env_file=None)  # type: ignore[call-arg]
    return JwtVerifier(settings, replay=(state or _open(backend)).replay)


def _verify_elsewhere(backend: tuple[str, str], jwks: str, token: str) -> str:
    """In another process: what a second replica says about ``token``."""
    try:
        _verifier(backend, jwks).verify(f"Bearer {token}", [AUD])
    except CdsError as exc:
        return exc.reason
    return "accepted"


def test_a_jti_accepted_once_is_refused_by_another_process(backend: tuple[str, str]) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    jwks = _jwks(key)
    state = _open(backend)
    here = _verifier(backend, jwks, state)
    first, second = _token(key), _token(key)
    here.verify(f"Bearer {first}", [AUD])
    with ProcessPoolExecutor(1, mp_context=SPAWN) as other:
        assert "replay" in other.submit(_verify_elsewhere, backend, jwks, first).result()
        assert other.submit(_verify_elsewhere, backend, jwks, second).result() == "accepted"
    with pytest.raises(CdsError, match="replay"):
        here.verify(f"Bearer {second}", [AUD])

    # a seen jti is kept until its token expires, then purged
    rows = state.replay.count  # type: ignore[attr-defined]
    assert rows() == 2
    short = _token(key, exp_in=1)
    here.verify(f"Bearer {short}", [AUD])
    assert rows() == 3
    time.sleep(1.5)
    assert state.replay.claim("a later token", time.time() + 60, time.time())
    assert rows() == 3  # the short one went, the new one came
    with pytest.raises(CdsError, match="expired"):
        here.verify(f"Bearer {short}", [AUD])
    state.close()


def test_two_app_instances_share_the_jti_memory(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    monkeypatch.setenv("CRA_STATE_URL", pg_url)
    monkeypatch.setenv("CRA_CDS_ISSUERS", json.dumps({ISS: _jwks(key)}))
    apps: list[FastAPI] = [
        create_app(Deps(AgentSettings(data_dir=tmp_path / f"replica-{i}")), ServeSettings()) for i in (0, 1)
    ]
    assert all(a.state.shared.where.startswith("postgres") for a in apps)
    token = _token(key)
    apps[0].state.cds.verifier.verify(f"Bearer {token}", [AUD])
    with pytest.raises(CdsError, match="replay"):
        apps[1].state.cds.verifier.verify(f"Bearer {token}", [AUD])
    for a in apps:
        a.state.shared.close()
        a.state.keys.close()
        a.state.feedback.close()


# -- rate limits -------------------------------------------------------------------------------------


def _take_many(backend: tuple[str, str], n: int, start: Any, results: Any) -> None:
    state = _open(backend)
    limiter = RateLimiter(per_minute=1, burst=7, store=state.rates)
    start.wait()
    results.put(sum(limiter.take("key-3") == 0 for _ in range(n)))
    state.close()


def test_a_rate_limit_is_enforced_in_total_across_replicas(backend: tuple[str, str]) -> None:
    replicas = [_open(backend), _open(backend)]
    limiters = [RateLimiter(per_minute=60, burst=4, store=s.rates) for s in replicas]
    waits = [limiters[i % 2].take("key-1") for i in range(8)]
    assert waits[:4] == [0.0] * 4 and all(0 < w <= 1.0 for w in waits[4:]), waits
    assert limiters[1].take("key-2") == 0.0  # buckets are per key
    time.sleep(1.1)  # one token refills at 1/s, whichever replica asks
    assert limiters[1].take("key-1") == 0.0 and limiters[0].take("key-1") > 0
    for s in replicas:
        s.close()

    _open(backend).close()
    start, results = SPAWN.Barrier(3), SPAWN.Queue()
    procs = [SPAWN.Process(target=_take_many, args=(backend, 25, start, results)) for _ in range(3)]
    for p in procs:
        p.start()
    granted = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(granted) == 7, granted  # burst 7 in total over three processes, not 7 each


# -- settings ------------------------------------------------------------------------------------------


def test_the_state_url_follows_a_postgres_checkpointer_unless_told_otherwise() -> None:
    pg = "postgresql://cra:x@postgres:5432/cra"
    assert StateSettings(state_url="", _env_file=None).target("") == ""  # type: ignore[call-arg]
    assert StateSettings(state_url="", _env_file=None).target(pg) == pg  # type: ignore[call-arg]
    assert StateSettings(state_url="sqlite", _env_file=None).target(pg) == ""  # type: ignore[call-arg]
    other = "postgresql://cra:x@state:5432/state"
    assert StateSettings(state_url=other, _env_file=None).target(pg) == other  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="postgresql"):
        StateSettings(state_url="redis://x", _env_file=None)  # type: ignore[call-arg]


def test_the_postgres_stores_reconnect_after_a_restart_without_failing_a_request(
    pg_restartable: RestartablePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from service import postgres_state
    from service.keys import open_key_store

    shared = open_shared_state(tmp_path, pg_restartable.url)
    keys = open_key_store(tmp_path, pg_restartable.url)
    try:
        _, secret = keys.create("ward 5", "clinician", ["p1"])
        shared.audit.append({"kind": "before"})
        assert shared.replay.claim("jti-1", time.time() + 60, time.time())
        pg_restartable.stop()  # every session the stores held is cut off
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_restartable.url, connect_timeout=2).close()
        pg_restartable.start()
        monkeypatch.setattr(postgres_state, "IDLE_CHECK_S", 0.0)  # as after a quiet spell
        # the first use of each store after the restart succeeds: no request pays for the lost session
        assert keys.verify(secret) is not None
        shared.audit.append({"kind": "after"})
        assert not shared.replay.claim("jti-1", time.time() + 60, time.time())  # still remembered
        assert shared.rates.take("key-1", 1.0, 5.0) >= 0
        report = shared.audit.verify()
        assert report.ok and report.records == 2
    finally:
        shared.close()
        keys.close()
