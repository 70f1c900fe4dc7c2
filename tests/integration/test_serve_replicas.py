"""Real ``cra serve`` processes sharing state: two replicas with their own data dirs over one Postgres,
and one server with ``--workers 2`` over SQLite in its data dir. Every request is audited once in one
unbroken chain, a key's rate limit holds in total, whichever process answers, and a key made or
revoked with ``cra keys`` (run elsewhere, same CRA_STATE_URL) counts on every replica.

The replicas point CRA_QDRANT_URL at a closed port, so they start in seconds (no model load; /readyz
says 503); the route used (``POST /v1/feedback`` for an unknown answer: 404) never reads the index.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service.keys import KeyStore
from tests.pg_fixtures import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]  # the Postgres fixtures, used by name below

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST = 5
FEEDBACK = {"answer_id": "no-such-answer", "rating": "up"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRA_", "PROMETHEUS_"))}
    return {
        **env,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CRA_QDRANT_URL": "http://127.0.0.1:1",  # closed: the index is not what these tests are about
        "CRA_API_KEYS_DB": str(tmp_path / "keys.sqlite"),
        "CRA_API_RATE_PER_MINUTE": "1",  # a token refills once a minute: the burst is all a test gets
        "CRA_API_RATE_BURST": str(BURST),
        **extra,
    }


@contextmanager
def _serve(data_dir: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """``cra serve`` in its own process until the block ends (SIGTERM); yields its base URL."""
    port = _free_port()
    log = (data_dir.parent / f"serve-{port}.log").open("w")
    cmd = [sys.executable, "-m", "service", "--data-dir", str(data_dir), "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, Path(log.name).read_text()[-2000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "cra serve did not answer /healthz"
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _post_all(urls: list[str], key: str, n: int) -> list[int]:
    """``n`` feedback posts spread over ``urls``, 8 at a time, each on a new connection."""

    def one(i: int) -> int:
        reply = httpx.post(f"{urls[i % len(urls)]}/v1/feedback", json=FEEDBACK, headers={"X-API-Key": key})
        return reply.status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def _feedback_requests(metrics_text: str) -> float:
    pattern = r'cra_http_requests_total\{[^}]*route="/v1/feedback"[^}]*\} ([0-9.e+]+)'
    return sum(float(v) for v in re.findall(pattern, metrics_text))


def _verify(data_dir: Path, env: dict[str, str]) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-m", "service", "--data-dir", str(data_dir), "audit", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr
    return dict(json.loads(run.stdout))


def _cra_keys(env: dict[str, str], data_dir: Path, *args: str) -> str:
    """``cra keys ...`` in its own process (another host, say): its stdout."""
    run = subprocess.run(
        [sys.executable, "-m", "service", "--data-dir", str(data_dir), "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_two_replicas_share_keys_the_audit_chain_and_the_rate_limit_through_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in _env(tmp_path, CRA_STATE_URL=pg_url).items() if k != "CRA_API_KEYS_DB"}
    elsewhere = tmp_path / "elsewhere"
    made = json.loads(
        _cra_keys(env, elsewhere, "create", "--name", "ehr", "--role", "service", "--patient", "*", "--json")
    )
    key = made["key"]
    dirs = [tmp_path / "replica-a", tmp_path / "replica-b"]
    with ExitStack() as stack:
        urls = [stack.enter_context(_serve(d, env)) for d in dirs]
        codes = _post_all(urls, key, 16)
        per_replica = [_feedback_requests(httpx.get(f"{u}/metrics").text) for u in urls]
        _cra_keys(env, elsewhere, "revoke", made["id"])
        after = [httpx.post(f"{u}/v1/feedback", json=FEEDBACK, headers={"X-API-Key": key}) for u in urls]
    assert sorted(set(codes)) == [404, 429], codes  # the key from cra keys works on both replicas
    assert codes.count(404) == BURST and codes.count(429) == 16 - BURST  # one bucket for both replicas
    assert per_replica == [8, 8]  # metrics are per replica: Prometheus sums the pods
    assert [r.status_code for r in after] == [401, 401]  # revoked elsewhere: refused by both at once
    assert all("revoked" in r.json()["detail"] for r in after), [r.text for r in after]
    report = _verify(elsewhere, env)
    assert report == {"ok": True, "records": 18, "problems": [], "store": report["store"]}
    assert str(report["store"]).startswith("postgres")
    assert not any(
        (d / name).exists() for d in [*dirs, elsewhere] for name in ("audit.sqlite", "api_keys.sqlite")
    )


def _requests_per_worker(folder: Path) -> dict[str, float]:
    from prometheus_client.mmap_dict import MmapedDict

    counts = {}
    for path in folder.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        counts[path.stem] = sum(
            v for key, v, _, _ in values if "cra_http_requests_total" in key and "/v1/feedback" in key
        )
    return counts


def test_workers_share_state_in_sqlite_and_metrics_count_every_worker(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = _env(tmp_path, CRA_STATE_URL="sqlite", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    key = KeyStore(tmp_path / "keys.sqlite").create("ehr", "service", ["*"])[1]
    data = tmp_path / "data"
    codes: list[int] = []
    with _serve(data, env, "--workers", "2") as url:
        # the kernel picks the worker for each connection: send until both have answered some
        while len(codes) < 96 and sum(c > 0 for c in _requests_per_worker(metrics_dir).values()) < 2:
            codes += _post_all([url], key, 16)
        scrapes = {_feedback_requests(httpx.get(f"{url}/metrics").text) for _ in range(6)}
    per_worker = _requests_per_worker(metrics_dir)
    assert sum(c > 0 for c in per_worker.values()) == 2, per_worker
    assert codes.count(404) == BURST and codes.count(429) == len(codes) - BURST
    assert scrapes == {len(codes)}  # any worker's /metrics counts every worker's requests
    report = _verify(data, env)
    assert report["ok"] and report["records"] == len(codes), report
    assert (data / "audit.sqlite").exists() and (data / "state.sqlite").exists()


def test_serve_refuses_workers_on_the_embedded_engine_and_an_unreachable_state_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    for name in ("CRA_QDRANT_URL", "CRA_STATE_URL", "CRA_CHECKPOINTER_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path), "serve", "--port", str(_free_port())]
    refused = runner.invoke(app, [*base, "--workers", "2"])
    assert refused.exit_code == 2 and "CRA_QDRANT_URL" in refused.output, refused.output
    monkeypatch.setenv("CRA_STATE_URL", "postgresql://cra:secret@127.0.0.1:1/cra")
    unreachable = runner.invoke(app, base)
    assert unreachable.exit_code == 2 and "CRA_STATE_URL" in unreachable.output, unreachable.output
    assert "secret" not in unreachable.output
