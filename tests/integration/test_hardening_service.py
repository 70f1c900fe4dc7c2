"""Service hardening (issue 13, items 3, 4, 8, 10, 12, 18): the app built by ``create_app`` over a
real embedded Qdrant store and real SQLite stores in a temporary data dir (no model is loaded)."""

from __future__ import annotations

import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agent.settings import AgentSettings
from retrieval.edge_store import EdgeStore
from retrieval.errors import StoreUnavailableError
from retrieval.types import CollectionSpec, PointRecord, SparseVec
from service.api.evidence import display_source
from service.api.settings import ServeSettings
from service.app import create_app
from service.deps import Deps

pytestmark = pytest.mark.integration

CHUNK = str(uuid.uuid4())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    """create_app narrows the process umask: give the other tests theirs back."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def _guidelines(root: Path, source: str) -> EdgeStore:
    store = EdgeStore(root)
    store.ensure_collection(CollectionSpec(name="guidelines", dense_dim=4))
    payload = {"doc_id": "local_protocol", "title": "Ward protocol", "text": "Check potassium weekly.",
               "source": source, "source_key": source, "issuer": "Local"}  # fmt: skip
    store.upsert("guidelines", [PointRecord(CHUNK, [1.0, 0, 0, 0], SparseVec([1], [1.0]), payload)])
    return store


def _app(tmp_path: Path, **serve: Any) -> tuple[Any, Deps]:
    deps = Deps(AgentSettings(data_dir=tmp_path / "data"))
    return create_app(deps, ServeSettings(**serve)), deps


# -- item 8: the embedded store is opened once, under a lock --------------------------------------


def _burst(store: EdgeStore, n: int) -> tuple[list[int], list[Exception]]:
    """``n`` threads asking ``store`` for a count at the same instant, as a fresh process's first requests."""
    start = threading.Barrier(n)
    counts: list[int] = []
    errors: list[Exception] = []

    def first_request() -> None:
        start.wait()
        try:
            counts.append(store.count("guidelines"))
        except StoreUnavailableError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, errors


def test_concurrent_first_requests_open_each_collection_once(tmp_path: Path) -> None:
    _guidelines(tmp_path / "qdrant", "a.md").close()
    for _ in range(3):  # several fresh starts
        store = EdgeStore(tmp_path / "qdrant")
        counts, errors = _burst(store, 16)
        store.close()
        assert not errors, errors[0]
        assert counts == [1] * 16


def test_deps_open_the_store_once_under_concurrent_first_use(tmp_path: Path) -> None:
    _guidelines(tmp_path / "data" / "qdrant", "a.md").close()
    deps = Deps(AgentSettings(data_dir=tmp_path / "data"))
    start, stores = threading.Barrier(8), []

    def use() -> None:
        start.wait()
        stores.append(deps.store)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in stores}) == 1 and stores[0].count("guidelines") == 1
    deps.close()


# -- item 10: PHI stores are the service account's alone ------------------------------------------


def test_data_files_are_created_0600_and_folders_0700(tmp_path: Path, umask: None) -> None:
    app, deps = _app(tmp_path)
    data = tmp_path / "data"
    app.state.audit.append({"event": "t", "status": 200})
    app.state.keys.create("t", "clinician", ["*"])
    app.state.feedback.add("cds", {"card": "c", "outcome": "accepted"})
    assert _mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "audit.sqlite",
        "audit.head",
        "api_keys.sqlite",
        "feedback.sqlite",
        "state.sqlite",
    }
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    (data / "threads.sqlite").write_text("")  # what a library creates later in this process (the umask)
    assert _mode(data / "threads.sqlite") == 0o600
    store = EdgeStore(data / "qdrant" / "nested")
    store.ensure_collection(CollectionSpec(name="patients", dense_dim=4))
    store.upsert("patients", [PointRecord(CHUNK, [1.0, 0, 0, 0], SparseVec([1], [1.0]), {"patient_id": "p"})])
    assert _mode(data / "qdrant") == _mode(data / "qdrant" / "nested") == 0o700
    assert _mode(data / "qdrant" / "nested" / "patients") == 0o700
    # the engine's own files (written by Rust) follow the umask that building the Deps narrowed
    loose = {str(p): oct(_mode(p)) for p in (data / "qdrant").rglob("*") if _mode(p) & 0o077}
    assert not loose, loose
    store.close()
    for s in (app.state.shared, app.state.feedback, app.state.keys):
        s.close()
    deps.close()


def test_an_older_world_readable_data_dir_is_narrowed_when_opened(tmp_path: Path, umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "audit.sqlite").touch()
    (data / "audit.sqlite").chmod(0o644)
    app, deps = _app(tmp_path)
    assert _mode(data) == 0o700 and _mode(data / "audit.sqlite") == 0o600
    for s in (app.state.shared, app.state.feedback, app.state.keys):
        s.close()
    deps.close()


# -- item 12: passages need a key and show no server paths ----------------------------------------


def test_evidence_needs_a_key_and_shows_sources_relative_to_their_corpus(tmp_path: Path, umask: None) -> None:
    app, deps = _app(tmp_path)
    deps.store = _guidelines(tmp_path / "data" / "qdrant", "/srv/hospital/guidelines/local/ward-protocol.md")
    key = app.state.keys.create("t", "clinician", ["*"])[1]
    client = TestClient(app)
    url = f"/v1/evidence/{CHUNK}"
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and "Check potassium" not in anonymous.text
    reply = client.get(url, headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200 and reply.json()["text"] == "Check potassium weekly."
    assert (
        reply.json()["source"] == "ward-protocol.md"
        and "/srv" not in reply.text
        and "source_key" not in reply.json()
    )
    assert (
        client.get(f"/v1/evidence/{uuid.uuid4()}", headers={"Authorization": f"Bearer {key}"}).status_code
        == 404
    )
    assert client.get("/v1/evidence/nope", headers={"Authorization": f"Bearer {key}"}).status_code == 404
    record = list(app.state.audit.records())[-3]
    assert (
        record["route"] == "/v1/evidence/{chunk_id}" and record["status"] == 200 and record["who"]["key_id"]
    )
    deps.close()


def test_display_source_keeps_the_corpus_and_drops_the_servers_folders(tmp_path: Path) -> None:
    corpus = tmp_path / "site-packages" / "open_medicine" / "guidelines" / "content"
    roots = [("open-medicine", corpus)]
    assert (
        display_source(str(corpus / "cardiology" / "statins.md"), roots)
        == "open-medicine/cardiology/statins.md"
    )
    assert display_source("/home/ops/secret/protocol.md", roots) == "protocol.md"
    assert (
        display_source(str(Path.cwd() / "examples" / "guidelines" / "x.md"), roots)
        == "examples/guidelines/x.md"
    )
    assert display_source("../../etc/guidelines/x.md", roots) == "etc/guidelines/x.md"
    assert display_source("examples/guidelines/x.md", roots) == "examples/guidelines/x.md"
    assert display_source("", roots) == ""


def test_display_source_from_a_service_started_in_the_root_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # systemd's default working directory
    assert display_source("/srv/hospital/guidelines/ward.md", []) == "ward.md"


# -- item 18: browser headers, and the API description and metrics behind a key -------------------


def test_the_chat_page_sends_csp_framing_and_referrer_headers(tmp_path: Path, umask: None) -> None:
    app, deps = _app(tmp_path)
    client = TestClient(app)
    for path in ("/", "/static/app.js", "/healthz"):
        reply = client.get(path)
        assert reply.status_code == 200
        csp = reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "default-src 'self'" in csp
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in client.get("/docs").headers["content-security-policy"]
    deps.close()


@pytest.mark.parametrize(
    ("serve", "protected"),
    [
        ({"serve_host": "0.0.0.0"}, True),  # off loopback: on by default
        ({"serve_host": "127.0.0.1"}, False),
        ({"serve_host": "127.0.0.1", "api_docs_auth": "keys"}, True),
        ({"serve_host": "0.0.0.0", "api_docs_auth": "off"}, False),
    ],
)
def test_docs_openapi_and_metrics_can_be_put_behind_a_key(
    tmp_path: Path, umask: None, serve: dict[str, Any], protected: bool
) -> None:
    app, deps = _app(tmp_path, **serve)
    key = app.state.keys.create("ops", "service", ["*"])[1]
    client = TestClient(app)
    for path in ("/docs", "/openapi.json", "/metrics", "/redoc"):
        assert client.get(path).status_code == (401 if protected else 200), path
        assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200, path
    assert client.get("/healthz").status_code == 200  # liveness probes never need a key
    if protected:
        assert "/v1/ask" in client.get("/openapi.json", headers={"X-API-Key": key}).json()["paths"]
    deps.close()


# -- items 3 and 4 at the service's edge ------------------------------------------------------------


def test_a_cds_body_over_the_limit_is_audited_too(tmp_path: Path, umask: None) -> None:
    app, deps = _app(tmp_path, cds_max_body_bytes=2048)
    client = TestClient(app, base_url="http://127.0.0.1:8080")
    reply = client.post("/cds-services/cra-care-gaps", content=b"{" + b" " * 4096 + b"}",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert reply.status_code == 413
    assert client.get("/cds-services").status_code == 401
    records = list(app.state.audit.records())
    assert [r["status"] for r in records] == [413, 401]
    assert records[0]["route"] == "unmatched" or records[0]["route"].startswith("/cds-services")
    deps.close()


def test_create_app_and_cra_serve_refuse_cds_off_loopback_without_a_base_url(
    tmp_path: Path, umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app as cli

    monkeypatch.setenv("CRA_CDS_ISSUERS", json.dumps({"https://ehr.example.org": '{"keys": []}'}))
    monkeypatch.setenv("CRA_CDS_BASE_URL", "")
    with pytest.raises(ValueError, match="CRA_CDS_BASE_URL"):
        _app(tmp_path, serve_host="0.0.0.0")
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: served.append(self))
    runner, base = CliRunner(), ["--data-dir", str(tmp_path / "cli")]
    assert runner.invoke(cli, [*base, "keys", "create", "--name", "n", "--patient", "*"]).exit_code == 0
    refused = runner.invoke(cli, [*base, "serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "CRA_CDS_BASE_URL" in refused.output and not served, refused.output
    monkeypatch.setenv("CRA_CDS_BASE_URL", "https://cds.example.org")
    started = runner.invoke(cli, [*base, "serve", "--host", "0.0.0.0"])
    assert started.exit_code == 0 and served, started.output


def test_the_safety_suites_edge_probes_all_hold(umask: None) -> None:
    from evals.safety.edge import PROBES, run_edge_probes

    rows = run_edge_probes()
    assert [r["id"] for r in rows] == [p[0] for p in PROBES]
    assert [r["answer"] for r in rows if not r["blocked"]] == []
