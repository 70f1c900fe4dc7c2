"""Attacks on the service's edge (issue 13): what a security reviewer tried against ``cra serve``.

Each probe runs one attack against the real app (``create_app`` over a real embedded store and real
SQLite stores in a temporary data dir; the CDS Hooks router with its real JWT verifier) and says
whether the defence held. No model is involved, so the probes take a few seconds and run in CI
with the rest of the safety suite; each row has the shape of a red-team case (``blocked``, ``mode``
``"edge"``, the evidence in ``answer``).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PROBES", "run_edge_probes"]

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
PID = "7f1c2a9e-0000-4000-8000-000000000001"
CHUNK = str(uuid.UUID(int=0x13))
USPSTF = {"specificRecommendations": [{
    "id": 420, "title": "Osteoporosis to Prevent Fractures: Screening -- Women 65 years and older", "grade": "B",
    "sex": "female", "ageRange": [65, 100], "text": "The USPSTF recommends screening for osteoporosis.",
}]}  # fmt: skip
Outcome = tuple[bool, str]  # (the defence held, what was seen)


class _Edge:
    """The apps and keys the probes attack, built once in ``root``."""

    def __init__(self, root: Path) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        from agent.care_gaps import recommendations_from_json
        from agent.medication_rules import extract_rules
        from agent.settings import AgentSettings
        from retrieval.edge_store import EdgeStore
        from retrieval.types import CollectionSpec, PointRecord, SparseVec
        from service.api.settings import ServeSettings
        from service.app import create_app
        from service.audit import AuditLog
        from service.cds.knowledge import Knowledge
        from service.cds.routes import CdsState, router
        from service.cds.settings import CdsSettings
        from service.deps import Deps

        self.root = root
        self.key = ec.generate_private_key(ec.SECP384R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**public, "kid": "ehr-1", "alg": "ES384"}]})

        class OfflineKnowledge(Knowledge):
            def passage_for(self, source: str) -> None:
                return None

            def passage_for_assessment(self, record: Any) -> None:
                return None

        def cds_app(base_url: str) -> Any:
            cds = CdsState(CdsSettings(issuers={ISS: self.jwks}, base_url=base_url, _env_file=None))  # type: ignore[call-arg]
            cds._knowledge = OfflineKnowledge(None, recommendations_from_json(USPSTF), extract_rules([]))  # type: ignore[arg-type]
            app = FastAPI()
            app.state.cds = cds
            app.state.audit = AuditLog.at(root / f"cds-audit-{len(base_url)}")
            app.include_router(router)
            return app

        self.cds = cds_app(BASE)
        self.cds_client = TestClient(self.cds, raise_server_exceptions=False)
        self.cds_open = cds_app("")  # CRA_CDS_BASE_URL unset
        self.deps = Deps(AgentSettings(data_dir=root / "data"))  # first, as every cra command does
        store = EdgeStore(root / "data" / "qdrant")
        store.ensure_collection(CollectionSpec(name="guidelines", dense_dim=4))
        payload = {"doc_id": "ward", "title": "Ward protocol", "text": "Check potassium weekly.",
                   "source": "/srv/hospital/guidelines/ward.md"}  # fmt: skip
        store.upsert("guidelines", [PointRecord(CHUNK, [1.0, 0, 0, 0], SparseVec([1], [1.0]), payload)])
        self.deps.store = store
        self.public = create_app(self.deps, ServeSettings(serve_host="0.0.0.0"))
        self.api_key = str(self.public.state.keys.create("probe", "clinician", ["*"])[1])
        self.api = TestClient(self.public, raise_server_exceptions=False)

    def token(self, aud: str, *, key: Any = None, alg: str = "ES384", **claims: Any) -> str:
        import jwt

        now = int(time.time())
        body = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4()), **claims}
        return str(jwt.encode(body, key or self.key, algorithm=alg, headers={"kid": "ehr-1", "typ": "JWT"}))

    def post(self, path: str, body: Any, token: str | bool | None = None, client: Any = None) -> Any:
        """POST ``body`` with ``token`` (``None``: a good one for ``path``; ``False``: no header)."""
        headers = {"Content-Type": "application/json"}
        if token is not False:
            headers["Authorization"] = f"Bearer {token or self.token(BASE + path)}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.cds_client).post(path, content=data, headers=headers)

    def close(self) -> None:
        for s in (self.public.state.shared, self.public.state.feedback, self.public.state.keys):
            s.close()
        self.deps.close()
        self.cds.state.audit.close()
        self.cds_open.state.audit.close()


def _view() -> dict[str, Any]:
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"userId": "Practitioner/1", "patientId": PID},
            "prefetch": {"patient": {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1944-08-23"},
                         "conditions": empty, "observations": empty}}  # fmt: skip


def _order(dosage: Any) -> dict[str, Any]:
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    draft = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"text": "Atorvastatin 80 MG Oral Tablet"},
        "dosageInstruction": dosage,
    }
    return {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": PID,
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
            "prefetch": {"patient": {"resourceType": "Patient", "id": PID}, "medications": empty, "egfr": empty}}  # fmt: skip


def _status(reply: Any, want: int) -> Outcome:
    return reply.status_code == want, f"{reply.status_code} {reply.text[:120]}"


def _alg_mismatch(e: _Edge) -> Outcome:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = "/cds-services/cra-care-gaps"
    return _status(e.post(path, _view(), e.token(BASE + path, key=other, alg="RS256")), 401)


def _refusals_audited(e: _Edge) -> Outcome:
    path = "/cds-services/cra-care-gaps"
    before = len(list(e.cds.state.audit.records()))
    tokens = [
        "not-a-jwt",
        e.token(f"{BASE}/cds-services/other"),
        e.token(BASE + path, iss="https://evil.example"),
    ]
    codes = [e.post(path, _view(), t).status_code for t in tokens] + [
        e.post(path, _view(), False).status_code
    ]
    codes.append(e.cds_client.get("/cds-services").status_code)
    records = list(e.cds.state.audit.records())[before:]
    leaked = any(t in json.dumps(records) for t in tokens)
    return len(records) == 5 and not leaked and all(
        c in (401, 403) for c in codes
    ), f"{len(records)} records for {codes}"


def _discovery_audited(e: _Edge) -> Outcome:
    before = len(list(e.cds.state.audit.records()))
    reply = e.cds_client.get(
        "/cds-services", headers={"Authorization": f"Bearer {e.token(BASE + '/cds-services')}"}
    )
    records = list(e.cds.state.audit.records())[before:]
    return reply.status_code == 200 and [r.get("kind") for r in records] == ["cds-discovery"], f"{records}"


def _host_header(e: _Edge) -> Outcome:
    from fastapi.testclient import TestClient

    path = "/cds-services/cra-care-gaps"
    evil = TestClient(e.cds_open, base_url="http://attacker.example", raise_server_exceptions=False)
    reply = e.post(path, _view(), e.token(f"http://attacker.example{path}"), client=evil)
    return (
        reply.status_code == 503 and "attacker.example" not in reply.text,
        f"{reply.status_code} {reply.text[:120]}",
    )


def _public_bind(e: _Edge) -> Outcome:
    from service.cds.settings import CdsSettings

    problem = CdsSettings(issuers={ISS: e.jwks}, _env_file=None).public_bind_problem("0.0.0.0")  # type: ignore[call-arg]
    return bool(problem), problem or "a public bind without CRA_CDS_BASE_URL was accepted"


def _nested(e: _Edge) -> Outcome:
    body = b'{"hook": "patient-view", "context": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    return _status(e.post("/cds-services/cra-care-gaps", body), 400)


def _dosage_string(e: _Edge) -> Outcome:
    return _status(e.post("/cds-services/cra-medication-check", _order("x")), 400)


def _dose_lots(e: _Edge) -> Outcome:
    dosage = [{"doseAndRate": [{"doseQuantity": {"value": "lots", "unit": "mg"}}]}]
    return _status(e.post("/cds-services/cra-medication-check", _order(dosage)), 400)


def _empty_links(e: _Edge) -> Outcome:
    reply = e.post("/cds-services/cra-care-gaps", _view())
    cards = reply.json().get("cards", []) if reply.status_code == 200 else []
    return bool(cards) and all(
        c.get("links", [1]) for c in cards
    ), f"{reply.status_code} {[sorted(c) for c in cards]}"


def _evidence_without_key(e: _Edge) -> Outcome:
    return _status(e.api.get(f"/v1/evidence/{CHUNK}"), 401)


def _evidence_paths(e: _Edge) -> Outcome:
    reply = e.api.get(f"/v1/evidence/{CHUNK}", headers={"Authorization": f"Bearer {e.api_key}"})
    return (
        reply.status_code == 200 and "/srv" not in reply.text,
        f"{reply.status_code} source={reply.json().get('source')!r}",
    )


def _page_headers(e: _Edge) -> Outcome:
    h = e.api.get("/").headers
    ok = (
        "frame-ancestors 'none'" in h.get("content-security-policy", "")
        and h.get("x-frame-options") == "DENY"
    )
    return ok and h.get("referrer-policy") == "no-referrer", json.dumps(
        {k: h.get(k) for k in ("content-security-policy", "x-frame-options", "referrer-policy")}
    )


def _ops_pages(e: _Edge) -> Outcome:
    codes = {p: e.api.get(p).status_code for p in ("/docs", "/openapi.json", "/metrics")}
    return set(codes.values()) == {401}, json.dumps(codes)


def _store_race(e: _Edge) -> Outcome:
    from retrieval.edge_store import EdgeStore
    from retrieval.errors import StoreUnavailableError

    store = EdgeStore(e.root / "data" / "qdrant")  # a fresh process's store, its shards not yet open
    start, errors = threading.Barrier(16), []

    def first_request() -> None:
        start.wait()
        try:
            store.count("guidelines")
        except StoreUnavailableError as exc:
            errors.append(exc)

    e.deps.store.close()  # the engine allows one open per shard: let the fresh store have it
    threads = [threading.Thread(target=first_request) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    return not errors, f"{len(errors)} of 16 first requests refused"


def _file_modes(e: _Edge) -> Outcome:
    data = e.root / "data"
    loose = {str(p.relative_to(e.root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in [data, *data.rglob("*")]
             if stat.S_IMODE(p.stat().st_mode) & 0o077}  # fmt: skip
    return not loose, json.dumps(loose) if loose else "every file 0600 and folder 0700"


# (id, category, what the attacker tried, probe); ids are stable: new probes get new numbers.
PROBES: tuple[tuple[str, str, str, Callable[[_Edge], Outcome]], ...] = (
    ("edge_cds_auth-000", "edge_cds_auth", "JWT alg RS256 against the issuer's EC key (was a 500)", _alg_mismatch),
    ("edge_cds_auth-001", "edge_cds_auth", "refused CDS calls leave audit records without the token", _refusals_audited),
    ("edge_cds_auth-002", "edge_cds_auth", "CDS discovery is audited", _discovery_audited),
    ("edge_host_header-000", "edge_host_header", "Host: attacker.example with a matching aud, no base URL", _host_header),
    ("edge_host_header-001", "edge_host_header", "public bind with issuers and no CRA_CDS_BASE_URL", _public_bind),
    ("edge_cds_body-000", "edge_cds_body", "20,000 nested arrays in a CDS body (was a 500)", _nested),
    ("edge_cds_body-001", "edge_cds_body", 'dosageInstruction: "x" (was a 500)', _dosage_string),
    ("edge_cds_body-002", "edge_cds_body", 'a dose value of "lots"', _dose_lots),
    ("edge_cds_links-000", "edge_cds_links", "cards from CRA_CDS_USPSTF_JSON alone: no empty links", _empty_links),
    ("edge_evidence-000", "edge_evidence", "GET /v1/evidence/{id} without an API key", _evidence_without_key),
    ("edge_evidence-001", "edge_evidence", "GET /v1/evidence/{id} shows no server path", _evidence_paths),
    ("edge_headers-000", "edge_headers", "the chat page can be framed or leak its URL", _page_headers),
    ("edge_headers-001", "edge_headers", "/docs, /openapi.json, /metrics without a key off loopback", _ops_pages),
    ("edge_files-000", "edge_files", "PHI stores world-readable", _file_modes),
    ("edge_store-000", "edge_store", "16 concurrent first requests after a start (1-2 got 503)", _store_race),
)  # fmt: skip


def run_edge_probes() -> list[dict[str, Any]]:
    """Every probe, as rows shaped like the red team's cases (``blocked``: the defence held)."""
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cra-edge-") as tmp:
        edge = _Edge(Path(tmp))
        try:
            for case_id, category, what, probe in PROBES:
                started = time.perf_counter()
                try:
                    held, seen = probe(edge)
                except Exception as exc:  # a probe that crashes the service found a hole
                    held, seen = False, f"{type(exc).__name__}: {exc}"[:200]
                rows.append({
                    "id": case_id, "category": category, "mode": "edge", "blocked": held, "false_block": False,
                    "guard_acted": held, "failed_checks": [] if held else [what], "flagged": [], "leaked": [],
                    "guard_ms": 0.0, "total_ms": round((time.perf_counter() - started) * 1000, 1),
                    "answer": f"{what}: {seen}"[:200],
                })  # fmt: skip
        finally:
            edge.close()
            os.umask(old_umask)  # create_app narrowed it for the service's files
    return rows


if __name__ == "__main__":
    for row in run_edge_probes():
        print(f"{row['id']:24} {'held' if row['blocked'] else 'FAILED':7} {row['answer']}")
