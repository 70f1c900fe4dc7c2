"""CDS Hooks end to end: the router over the real store and model, a loopback FHIR server with real
Synthea records (it also serves the EHR's JWK Set), real audit and feedback stores, signed JWTs."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.settings import AgentSettings
from guidelines_index.indexer import GuidelineIndexer
from service.api.evidence import guideline_passage
from service.audit import AuditLog
from service.cds import routes
from service.cds.routes import AS_OF_EXTENSION, CdsState, router
from service.cds.settings import CdsSettings
from service.deps import Deps
from service.feedback import FeedbackStore
from tests.agent_world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
FHIR_TOKEN = "fhir-access-token-for-tests"
ANNETTA = "Annetta_Hoppe_0dd77edd-bffd-4258-ac40-c07af6dd734a.json"  # female, born 1944
BUDDY = "Buddy_MacGyver_c96ab841-48f4-42e4-bd46-f25c1490e422.json"  # eGFR 20.8 on 1983-01-08
USPSTF_IDS = {331, 332, 310, 302, 524, 420, 10426, 313}


def _resources(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """A Synthea bundle as an EHR's FHIR server holds it: urn:uuid references become Patient/{id}."""
    entries = json.loads(path.read_text())["entry"]
    patient = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient")
    text = json.dumps([e["resource"] for e in entries]).replace(
        f"urn:uuid:{patient['id']}", f"Patient/{patient['id']}"
    )
    return patient["id"], json.loads(text)


class FhirServer:
    """A loopback FHIR server: read Patient, search by patient (status, code), pages of 40, bearer token."""

    def __init__(self, records: dict[str, list[dict[str, Any]]], jwks: dict[str, Any]) -> None:
        self.records, self.jwks, self.requests = records, jwks, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                outer.requests += 1
                url = urlparse(self.path)
                if url.path == "/jwks":
                    return self._send(200, outer.jwks)
                if self.headers.get("Authorization") != f"Bearer {FHIR_TOKEN}":
                    return self._send(401, {"resourceType": "OperationOutcome"})
                parts, query = url.path.strip("/").split("/"), parse_qs(url.query)
                if len(parts) == 2 and parts[0] == "Patient":
                    found = outer.records.get(parts[1])
                    return (
                        self._send(200, found[0])
                        if found
                        else self._send(404, {"resourceType": "OperationOutcome"})
                    )
                pid = query.get("patient", [""])[0]
                hits = [r for r in outer.records.get(pid, []) if r["resourceType"] == parts[0]]
                if "status" in query:
                    hits = [r for r in hits if r.get("status") == query["status"][0]]
                if "code" in query:
                    codes = set(query["code"][0].split(","))
                    hits = [
                        r
                        for r in hits
                        if {c.get("code") for c in r.get("code", {}).get("coding", [])} & codes
                    ]
                page = int(query.get("_page", ["0"])[0])
                body: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
                                        "entry": [{"resource": r} for r in hits[page * 10 : page * 10 + 10]]}  # fmt: skip
                if (page + 1) * 10 < len(hits):
                    nxt = f"{outer.url}{url.path}?{url.query.split('&_page=')[0]}&_page={page + 1}"
                    body["link"] = [{"relation": "next", "url": nxt}]
                return self._send(200, body)

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def fhir(shared_data: Path, key: ec.EllipticCurvePrivateKey) -> Iterator[FhirServer]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    records = dict(_resources(shared_data / "synthea-r4" / name) for name in (ANNETTA, BUDDY))
    server = FhirServer(records, {"keys": [{**public, "kid": "ehr-1", "alg": "ES384"}]})
    yield server
    server.close()


@pytest.fixture(scope="module")
def client(
    world: World, fhir: FhirServer, shared_data: Path, tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any,
    sparse_encoder: Any,
) -> Iterator[TestClient]:  # fmt: skip
    # a few real USPSTF records, indexed beside the world's guidelines (superseded handling is unit-tested)
    raw = json.loads((shared_data / "uspstf" / "uspstf-recommendations.json").read_text())
    subset = tmp_path_factory.mktemp("uspstf") / "uspstf.json"
    subset.write_text(
        json.dumps(
            {"specificRecommendations": [r for r in raw["specificRecommendations"] if r["id"] in USPSTF_IDS]}
        )
    )
    GuidelineIndexer(world.store, dense_encoder, sparse_encoder, collection="guidelines").index([str(subset)])
    deps = Deps(AgentSettings(data_dir=world.settings.data_dir))
    deps.__dict__.update(store=world.store, guideline_search=world.guidelines)
    app = FastAPI()
    app.state.deps = deps
    data = tmp_path_factory.mktemp("stores")
    app.state.audit, app.state.feedback = AuditLog.at(data), FeedbackStore.at(data)
    app.state.cds = CdsState(CdsSettings(issuers={ISS: f"{fhir.url}/jwks"}, base_url=BASE, _env_file=None))  # type: ignore[call-arg]
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def _auth(key: Any, path: str, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    body = {
        "iss": ISS,
        "aud": f"{BASE}{path}",
        "exp": now + 120,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return {
        "Authorization": "Bearer "
        + jwt.encode(body, key, algorithm="ES384", headers={"kid": "ehr-1", "typ": "JWT"})
    }


def _prefetch(fhir: FhirServer, pid: str, templates: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, template in templates.items():
        kind = template.split("/")[0].split("?")[0]
        found = [r for r in fhir.records[pid] if r["resourceType"] == kind]
        if kind == "MedicationRequest":
            found = [r for r in found if r.get("status") == "active"]
        out[key] = found[0] if template.startswith("Patient/") else {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}  # fmt: skip
    return out


def _hook(hook: str, pid: str, as_of: str, **extra: Any) -> dict[str, Any]:
    context = {"userId": "Practitioner/abc", "patientId": pid, **extra.pop("context", {})}
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
            "extension": {AS_OF_EXTENSION: as_of}, **extra}  # fmt: skip


def _annetta(fhir: FhirServer) -> str:
    return next(pid for pid, rs in fhir.records.items() if rs[0].get("birthDate") == "1944-08-23")


def _buddy(fhir: FhirServer) -> str:
    return next(pid for pid, rs in fhir.records.items() if rs[0].get("birthDate") == "1915-07-03")


def test_discovery_lists_services_with_prefetch_templates(client: TestClient, key: Any) -> None:
    assert client.get("/cds-services").status_code == 401
    reply = client.get("/cds-services", headers=_auth(key, "/cds-services"))
    assert reply.status_code == 200
    services = {s["id"]: s for s in reply.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-sign", "order-select"}
    assert services["cra-care-gaps"]["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_patient_view_cards_from_prefetch_and_from_the_fhir_server_agree(
    client: TestClient, fhir: FhirServer, key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pid = _annetta(fhir)
    templates = client.get("/cds-services", headers=_auth(key, "/cds-services")).json()["services"][0][
        "prefetch"
    ]
    path = "/cds-services/cra-care-gaps"
    with caplog.at_level(logging.DEBUG):
        reply = client.post(path, json=_hook("patient-view", pid, "2021-03-01", prefetch=_prefetch(fhir, pid, templates)),
                            headers=_auth(key, path))  # fmt: skip
    assert reply.status_code == 200, reply.text
    cards = reply.json()["cards"]
    summaries = [c["summary"] for c in cards]
    assert all(
        len(s) < 140 and c["indicator"] in ("info", "warning", "critical")
        for s, c in zip(summaries, cards, strict=True)
    )
    # 76 years old, female: osteoporosis (65+) is due; breast 50-74 and cervical 30-65 are not; blood
    # pressure screening is due only without a reading in the year before (yearly from 40)
    assert any(s.startswith("Osteoporosis") for s in summaries)
    assert not any(s.startswith(("Breast Cancer", "Cervical Cancer", "Colorectal Cancer")) for s in summaries)
    bp_days = [
        str(r.get("effectiveDateTime", ""))[:10]
        for r in fhir.records[pid]
        if r["resourceType"] == "Observation"
        and {c.get("code") for c in r.get("code", {}).get("coding", [])} & {"85354-9", "55284-4", "8480-6"}
    ]
    measured = any("2020-03-01" <= d <= "2021-03-01" for d in bp_days)
    assert any(s.startswith("High Blood Pressure") for s in summaries) is not measured, (measured, summaries)
    gap = next(c for c in cards if c["summary"].startswith("Osteoporosis"))
    assert "version" in gap["source"]["label"] and gap["links"][0]["url"].startswith(f"{BASE}/v1/evidence/")
    chunk_id = urlparse(gap["links"][0]["url"]).path.rsplit("/", 1)[1]
    passage = guideline_passage(client.app.state.deps, chunk_id)  # type: ignore[attr-defined]
    assert (
        passage is not None and "USPSTF recommends" in passage["text"] and passage["doc_id"] == "uspstf_420"
    )
    assert not passage["source"].startswith("/")  # relative to its corpus, never a server path
    assert pid not in caplog.text  # no patient identifier in any log line

    before = fhir.requests
    fetched = client.post(path, json=_hook("patient-view", pid, "2021-03-01", fhirServer=fhir.url,
                                           fhirAuthorization={"access_token": FHIR_TOKEN, "token_type": "Bearer",
                                                              "expires_in": 300, "scope": "user/*.read", "subject": "cra"}),
                          headers=_auth(key, path))  # fmt: skip
    assert fetched.status_code == 200
    assert sorted(c["summary"] for c in fetched.json()["cards"]) == sorted(summaries)
    assert fhir.requests - before > 3  # observations came in several pages


def test_a_whole_record_is_answered_off_the_event_loop_with_the_same_cards(
    client: TestClient, fhir: FhirServer, key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The templates ask for a few series; an EHR may send everything. Both paths give the same cards.
    pid, path = _annetta(fhir), "/cds-services/cra-care-gaps"
    whole = {"patient": fhir.records[pid][0]} | {
        k: {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in fhir.records[pid] if r["resourceType"] == kind]}
        for k, kind in (("conditions", "Condition"), ("observations", "Observation"))
    }  # fmt: skip
    inline = client.post(
        path, json=_hook("patient-view", pid, "2021-03-01", prefetch=whole), headers=_auth(key, path)
    )
    monkeypatch.setattr(routes, "INLINE_MAX_RESOURCES", 0)
    threaded = client.post(
        path, json=_hook("patient-view", pid, "2021-03-01", prefetch=whole), headers=_auth(key, path)
    )
    assert inline.status_code == threaded.status_code == 200
    summaries = sorted(c["summary"] for c in inline.json()["cards"])
    assert summaries and summaries == sorted(c["summary"] for c in threaded.json()["cards"])


def test_without_data_or_with_a_refused_token_the_answer_is_412(
    client: TestClient, fhir: FhirServer, key: Any
) -> None:
    path = "/cds-services/cra-care-gaps"
    pid = _annetta(fhir)
    reply = client.post(path, json=_hook("patient-view", pid, "2021-03-01"), headers=_auth(key, path))
    assert reply.status_code == 412 and "prefetch" in reply.json()["detail"]
    bad = {"access_token": "wrong", "token_type": "Bearer", "expires_in": 300, "scope": "x", "subject": "cra"}
    reply = client.post(path, json=_hook("patient-view", pid, "2021-03-01", fhirServer=fhir.url, fhirAuthorization=bad),
                        headers=_auth(key, path))  # fmt: skip
    assert reply.status_code == 412 and "refused" in reply.json()["detail"]


def _draft(rid: str, text: str, mg: float, per_day: int, pid: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": {"text": text},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}]}]}  # fmt: skip


def test_order_sign_checks_renal_function_and_dose(client: TestClient, fhir: FhirServer, key: Any) -> None:
    pid = _buddy(fhir)
    drafts = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": _draft("d-met", "Metformin hydrochloride 500 MG Oral Tablet", 1000, 2, pid)},
        {"resource": _draft("d-ator", "Atorvastatin 80 MG Oral Tablet", 160, 1, pid)},
        {"resource": _draft("d-amox", "Amoxicillin 500 MG Oral Capsule", 500, 3, pid)}]}  # fmt: skip
    auth = {
        "access_token": FHIR_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/*.read",
        "subject": "cra",
    }
    path = "/cds-services/cra-medication-check"
    reply = client.post(path, json=_hook("order-sign", pid, "1983-01-09", context={"draftOrders": drafts},
                                         fhirServer=fhir.url, fhirAuthorization=auth), headers=_auth(key, path))  # fmt: skip
    assert reply.status_code == 200, reply.text
    cards = reply.json()["cards"]
    renal = next(c for c in cards if c["summary"].startswith("eGFR"))
    assert renal["indicator"] == "critical" and "20.8" in renal["summary"]
    remove = renal["suggestions"][0]["actions"][0]
    assert remove == {
        "type": "delete",
        "description": "Remove the draft order",
        "resourceId": "MedicationRequest/d-met",
    }
    dose = next(c for c in cards if c["summary"].startswith("Atorvastatin"))
    update = dose["suggestions"][0]["actions"][0]
    assert dose["indicator"] == "warning" and update["type"] == "update"
    assert update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 80
    assert all(c["selectionBehavior"] == "at-most-one" and c["overrideReasons"] for c in cards)
    assert not any("moxicillin" in c["summary"] for c in cards)

    select = "/cds-services/cra-medication-select"
    context = {"draftOrders": drafts, "selections": ["MedicationRequest/d-ator"]}
    reply = client.post(select, json=_hook("order-select", pid, "1983-01-09", context=context, fhirServer=fhir.url,
                                           fhirAuthorization=auth), headers=_auth(key, select))  # fmt: skip
    assert [c["summary"].split()[0] for c in reply.json()["cards"]] == ["Atorvastatin"]


def test_feedback_is_recorded(client: TestClient, key: Any) -> None:
    path = "/cds-services/cra-medication-check/feedback"
    store = client.app.state.feedback  # type: ignore[attr-defined]
    before = store.count("cds")
    items = [{"card": str(uuid.uuid4()), "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
              "outcomeTimestamp": "2024-01-01T10:00:00Z"},
             {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2024-01-01T10:01:00Z",
              "overrideReason": {"reason": {"code": "clinically-appropriate", "system": "x"}, "userComment": "ok"}}]  # fmt: skip
    reply = client.post(path, json={"feedback": items}, headers=_auth(key, path))
    assert reply.status_code == 200 and reply.json() == {"recorded": 2}
    assert store.count("cds") == before + 2
    bad = client.post(path, json={"feedback": [{"card": "c", "outcome": "liked"}]}, headers=_auth(key, path))
    assert bad.status_code == 400 and "outcome" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "reason"),
    [
        ("/cds-services/nope", {}, "application/json", 404, "no CDS service"),
        ("/cds-services/cra-care-gaps", b"{not json", "application/json", 400, "not valid JSON"),
        ("/cds-services/cra-care-gaps", {"hook": "patient-view"}, "text/plain", 415, "Content-Type"),
        ("/cds-services/cra-care-gaps", {"hook": "order-sign", "hookInstance": "h", "context": {}}, "application/json", 400, "patient-view"),
        ("/cds-services/cra-care-gaps", {"hook": "patient-view", "hookInstance": "h", "context": {"userId": "Practitioner/1"}},
         "application/json", 400, "patientId"),
        ("/cds-services/cra-medication-check", {"hook": "order-sign", "hookInstance": "h",
         "context": {"userId": "Practitioner/1", "patientId": "p"}}, "application/json", 400, "draftOrders"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx(
    client: TestClient, key: Any, path: str, body: Any, content_type: str, status: int, reason: str
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = client.post(path, content=data, headers={**_auth(key, path), "Content-Type": content_type})
    assert reply.status_code == status and reason in reply.json()["detail"]


def test_tokens_for_another_endpoint_or_issuer_are_refused(
    client: TestClient, fhir: FhirServer, key: Any
) -> None:
    path = "/cds-services/cra-care-gaps"
    body = _hook("patient-view", _annetta(fhir), "2021-03-01")
    wrong_aud = client.post(path, json=body, headers=_auth(key, "/cds-services/cra-medication-check"))
    assert wrong_aud.status_code == 401 and wrong_aud.headers["www-authenticate"].startswith("Bearer")
    other = client.post(path, json=body, headers=_auth(key, path, iss="https://other-ehr.example.org"))
    assert other.status_code == 403
