"""Keys, the audit chain, de-identification, limits and serve settings: the governance parts on their own."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.settings import AgentSettings
from service.api.settings import ServeSettings
from service.app import create_app
from service.audit import AuditLog
from service.deid import scrub
from service.deps import Deps
from service.keys import ApiKeyError, KeyStore
from service.limits import RateLimiter


def test_keys_are_stored_hashed_scoped_and_revocable(tmp_path: Path) -> None:
    keys = KeyStore.at(tmp_path)
    record, secret = keys.create("ward 3", "clinician", ["p1", "p2"])
    raw = (tmp_path / "api_keys.sqlite").read_bytes()
    assert secret.encode() not in raw and secret.split("_")[2].encode() not in raw
    found = keys.verify(secret)
    assert found is not None and found.id == record.id
    assert found.allows("p1") and not found.allows("p3") and found.allows(None)
    assert keys.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert keys.verify("not-a-key") is None
    keys.revoke(record.id)
    assert keys.verify(secret) is None
    with pytest.raises(ApiKeyError, match="already revoked"):
        keys.revoke(record.id)
    with pytest.raises(ApiKeyError, match="--patient"):
        keys.create("no scope", "clinician", [])
    with pytest.raises(ApiKeyError, match="role"):
        keys.create("x", "superuser", ["*"])
    admin, _ = keys.create("ops", "admin", [])
    assert admin.allows("anyone")


def _log(tmp_path: Path, n: int = 5) -> AuditLog:
    audit = AuditLog.at(tmp_path)
    for i in range(n):
        audit.append(
            {"event": "api_request", "status": 200, "patient_id": f"p{i}", "answer_sha256": "ab" * 32}
        )
    return audit


def _raw(tmp_path: Path, sql: str) -> None:
    db = sqlite3.connect(tmp_path / "audit.sqlite")
    db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;" + sql)
    db.commit()
    db.close()


def test_audit_chain_is_intact_then_detects_edit_delete_and_truncation(tmp_path: Path) -> None:
    audit = _log(tmp_path)
    assert audit.verify().ok and audit.verify().records == 5
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite3.connect(tmp_path / "audit.sqlite").execute("DELETE FROM audit WHERE seq = 2")
    with pytest.raises(ValueError, match="question_sha256"):
        audit.append({"question": "free text"})
    audit.close()

    edited = tmp_path / "edited"
    _log(edited).close()
    _raw(edited, "UPDATE audit SET body = replace(body, '\"p2\"', '\"p9\"') WHERE seq = 3;")
    problems = AuditLog.at(edited).verify().problems
    assert any("record 3" in p and "edited" in p for p in problems), problems

    deleted = tmp_path / "deleted"
    _log(deleted).close()
    _raw(deleted, "DELETE FROM audit WHERE seq = 2;")
    problems = AuditLog.at(deleted).verify().problems
    assert any("missing" in p for p in problems), problems

    cut = tmp_path / "cut"
    _log(cut).close()
    _raw(cut, "DELETE FROM audit WHERE seq = 5;")
    problems = AuditLog.at(cut).verify().problems
    assert any("cut off" in p for p in problems), problems


def test_cli_keys_and_audit_verify(tmp_path: Path) -> None:
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    made = runner.invoke(
        app, [*base, "keys", "create", "--name", "ehr", "--role", "service", "--patient", "p1", "--json"]
    )
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    listed = runner.invoke(app, [*base, "keys", "list", "--json"])
    assert key["key"] not in listed.stdout and json.loads(listed.stdout)[0]["patients"] == ["p1"]
    assert runner.invoke(app, [*base, "keys", "revoke", key["id"]]).exit_code == 0
    assert json.loads(runner.invoke(app, [*base, "keys", "list", "--json"]).stdout)[0]["revoked"]
    assert runner.invoke(app, [*base, "keys", "revoke", "nope"]).exit_code == 2
    _log(tmp_path).close()
    assert runner.invoke(app, [*base, "audit", "verify"]).exit_code == 0
    _raw(tmp_path, "UPDATE audit SET body = replace(body, '200', '500') WHERE seq = 4;")
    broken = runner.invoke(app, [*base, "audit", "verify"])
    assert broken.exit_code == 1 and "record 4" in broken.output


def _rewrite_from(tmp_path: Path, seq: int) -> None:
    """What an owner who bypasses the triggers could do: alter a record and re-chain everything after it."""
    from service.audit import _chain

    db = sqlite3.connect(tmp_path / "audit.sqlite")
    db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
    rows = db.execute("SELECT seq, body, prev FROM audit WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
    prev = rows[0][2]
    for n, body, _ in rows:
        body = body.replace('"status":200', '"status":500') if n == seq else body
        digest = _chain(prev, body)
        db.execute("UPDATE audit SET body = ?, prev = ?, hash = ? WHERE seq = ?", (body, prev, digest, n))
        prev = digest
    db.commit()
    db.close()
    (tmp_path / "audit.head").write_text(json.dumps({"seq": rows[-1][0], "hash": prev}))


def test_an_anchor_taken_earlier_exposes_a_chain_rewritten_consistently(tmp_path: Path) -> None:
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    _log(tmp_path, 4).close()
    shown = runner.invoke(app, [*base, "audit", "head"])
    assert shown.exit_code == 0 and shown.stdout.startswith("4:")
    anchor = shown.stdout.strip()
    assert runner.invoke(app, [*base, "audit", "verify", "--anchor", anchor]).exit_code == 0
    _log(tmp_path, 2).close()  # the log goes on after the anchor was copied out
    assert runner.invoke(app, [*base, "audit", "verify", "--anchor", anchor]).exit_code == 0

    _rewrite_from(tmp_path, 2)
    assert AuditLog.at(tmp_path).verify().ok  # consistent: the chain alone cannot tell
    caught = runner.invoke(app, [*base, "audit", "verify", "--anchor", anchor])
    assert caught.exit_code == 1 and "record 4: not the record anchored earlier" in caught.output

    report = AuditLog.at(tmp_path).verify({9: "0" * 64})
    assert report.problems == ["record 9: anchored earlier but no longer in the log"]
    bad = runner.invoke(app, [*base, "audit", "verify", "--anchor", "4:xyz"])
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.output


def test_scrub_removes_identifiers_and_keeps_clinical_content() -> None:
    text = (
        "Mrs. Jane Doe (Abe604 Kunde533), DOB 1961-04-12, seen 03/02/2024, MRN: A1234567, phone 555-867-5309, "
        "jane@example.org, patient 5cbc121b-cd71-4428-b8b7-31e53eba8184, a 93-year-old: LDL 190 mg/dL, "
        "start atorvastatin 40 mg."
    )
    clean = scrub(text, ["5cbc121b-cd71-4428-b8b7-31e53eba8184"])
    for phi in (
        "Jane",
        "Doe",
        "Abe604",
        "Kunde533",
        "1961",
        "03/02/2024",
        "A1234567",
        "867-5309",
        "jane@",
        "5cbc121b",
        "93-year",
    ):
        assert phi not in clean, (phi, clean)
    assert "LDL 190 mg/dL" in clean and "atorvastatin 40 mg" in clean


def test_rate_limiter_allows_a_burst_then_asks_to_wait() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0 < limiter.take("k") <= 1.0
    assert limiter.take("other") == 0.0


def test_serve_settings_refuse_an_open_api_off_loopback() -> None:
    assert ServeSettings(serve_host="127.0.0.1", api_auth="off").api_auth == "off"
    with pytest.raises(ValidationError, match="loopback"):
        ServeSettings(serve_host="0.0.0.0", api_auth="off")


def test_rate_limit_and_auth_apply_to_v1_only(tmp_path: Path) -> None:
    deps = Deps(AgentSettings(data_dir=tmp_path))
    app = create_app(deps, ServeSettings(api_rate_per_minute=1, api_rate_burst=2))
    key = app.state.keys.create("t", "clinician", ["*"])[1]
    client = TestClient(app)  # no lifespan: the model is never loaded
    codes = [client.get("/v1/patients", headers={"X-API-Key": key}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.get("/v1/patients", headers={"X-API-Key": key})
    assert int(limited.headers["retry-after"]) >= 1 and "rate limit" in limited.json()["detail"]
    assert client.get("/healthz").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "Clinical reasoning agent" in page.text
    assert client.get("/static/app.js").status_code == 200
    audit = list(app.state.audit.records())
    assert [r["status"] for r in audit] == [200, 200, 429, 429] and all(r["who"]["key_id"] for r in audit)
    deps.close()


@pytest.mark.parametrize("bad", ["John Smith", "SSN 999-12-3456", "a_b", "x" * 65, "p1/../p2"])
def test_a_key_cannot_be_scoped_to_an_id_no_patient_could_have(tmp_path: Path, bad: str) -> None:
    """FHIR ids are [A-Za-z0-9-.]{1,64}; a key scoped to anything else could never read anyone."""
    keys = KeyStore.at(tmp_path)
    with pytest.raises(ApiKeyError, match="not a FHIR Patient id"):
        keys.create("ward 3", "clinician", ["p1", bad])
    assert keys.list() == []
    record, _ = keys.create("ward 3", "clinician", ["p1", "a-b.C9", "x" * 64])
    assert record.patients == ("p1", "a-b.C9", "x" * 64)
    assert keys.create("all", "service", ["*"])[0].patients == ("*",)
    import service.serve_cli  # noqa: F401  (registers the commands)
    from service.cli import app

    made = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path), "keys", "create", "--name", "n", "--patient", bad]
    )
    assert made.exit_code == 2 and "not a FHIR Patient id" in made.output
    assert "Traceback" not in made.output
