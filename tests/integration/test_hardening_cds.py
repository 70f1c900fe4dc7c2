"""CDS Hooks hardening (issue 13, items 3-6): the audience never follows the Host header, refused
calls and discovery are audited without the token, malformed tokens and bodies are 4xx, cards
carry no empty link list. The real router, JWT verifier and audit chain; knowledge from a small
USPSTF JSON instead of an index (what ``CRA_CDS_USPSTF_JSON`` alone gives)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.care_gaps import recommendations_from_json
from agent.medication_rules import extract_rules
from service.audit import AuditLog
from service.cds.knowledge import Knowledge
from service.cds.routes import AS_OF_EXTENSION, CdsState, router, serialize_card
from service.cds.settings import CdsSettings

pytestmark = pytest.mark.integration

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
PID = "7f1c2a9e-0000-4000-8000-000000000001"
USPSTF = {"specificRecommendations": [{
    "id": 420, "title": "Osteoporosis to Prevent Fractures: Screening -- Women 65 years and older", "grade": "B",
    "sex": "female", "ageRange": [65, 100], "riskName": "Other",
    "text": "The USPSTF recommends screening for osteoporosis in women 65 years and older.",
}]}  # fmt: skip


class OfflineKnowledge(Knowledge):
    """Recommendations and rules only: no guideline index to find flag or assessment passages in."""

    def passage_for(self, source: str) -> None:
        return None

    def passage_for_assessment(self, record: Any) -> None:
        return None


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _app(tmp_path: Path, key: Any, **settings: Any) -> tuple[FastAPI, AuditLog]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": "ehr-1", "alg": "ES384"}]})
    cds = CdsState(CdsSettings(**{"issuers": {ISS: jwks}, "base_url": BASE, **settings}, _env_file=None))  # type: ignore[call-arg]
    cds._knowledge = OfflineKnowledge(None, recommendations_from_json(USPSTF), extract_rules([]))  # type: ignore[arg-type]
    app = FastAPI()
    app.state.cds = cds
    app.state.audit = AuditLog.at(tmp_path)
    app.include_router(router)
    return app, app.state.audit


@pytest.fixture
def app(tmp_path: Path, key: Any) -> Iterator[tuple[TestClient, AuditLog]]:
    application, audit = _app(tmp_path, key)
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client, audit
    audit.close()


def _token(key: Any, aud: str, *, alg: str = "ES384", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": "ehr-1", "typ": "JWT"})


def _patient_view(**extra: Any) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1944-08-23"}
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": PID},
            "prefetch": {"patient": patient, "conditions": empty, "observations": empty},
            "extension": {AS_OF_EXTENSION: "2021-03-01"}, **extra}  # fmt: skip


def _order_sign(dosage: Any) -> dict[str, Any]:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"text": "Atorvastatin 80 MG Oral Tablet"},
        "dosageInstruction": dosage,
    }
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": PID,
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
            "prefetch": {"patient": {"resourceType": "Patient", "id": PID, "birthDate": "1950-01-01"},
                         "medications": empty, "egfr": empty},
            "extension": {AS_OF_EXTENSION: "2021-03-01"}}  # fmt: skip


# -- item 3: the audience and the card links never follow the Host header --------------------------


def test_without_a_base_url_the_host_header_is_not_trusted(tmp_path: Path, key: Any) -> None:
    application, audit = _app(tmp_path, key, base_url="")
    path = "/cds-services/cra-care-gaps"
    evil = TestClient(application, base_url="http://attacker.example")
    reply = evil.post(path, json=_patient_view(), headers={"Authorization": f"Bearer {_token(key, f'http://attacker.example{path}')}"})  # fmt: skip
    assert reply.status_code == 503 and "CRA_CDS_BASE_URL" in reply.json()["detail"], reply.text
    assert "attacker.example" not in reply.text
    # on loopback (a developer's machine) the request's own URL is still the audience
    local = TestClient(application, base_url="http://127.0.0.1:8080")
    token = _token(key, f"http://127.0.0.1:8080{path}")
    ok = local.post(path, json=_patient_view(), headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["cards"], ok.text
    assert [r["status"] for r in audit.records()] == [503, 200]
    audit.close()


def test_off_loopback_cds_without_a_base_url_refuses_to_start() -> None:
    jwks = {ISS: '{"keys": []}'}
    unset = CdsSettings(issuers=jwks, _env_file=None)  # type: ignore[call-arg]
    problem = unset.public_bind_problem("0.0.0.0")
    assert problem and "CRA_CDS_BASE_URL" in problem
    assert unset.public_bind_problem("127.0.0.1") is None
    assert CdsSettings(issuers=jwks, base_url=BASE, _env_file=None).public_bind_problem("0.0.0.0") is None  # type: ignore[call-arg]
    assert CdsSettings(_env_file=None).public_bind_problem("0.0.0.0") is None  # type: ignore[call-arg]  # no issuers: all refused
    open_ = CdsSettings(auth_disabled=True, base_url=BASE, _env_file=None)  # type: ignore[call-arg]
    assert "CRA_CDS_AUTH_DISABLED" in (open_.public_bind_problem("10.0.0.5") or "")


# -- item 4: refused calls and discovery are audited, without the token -----------------------------


def test_refused_calls_and_discovery_are_audited_without_the_token(
    app: tuple[TestClient, AuditLog], key: Any
) -> None:
    client, audit = app
    path = "/cds-services/cra-care-gaps"
    good = _token(key, f"{BASE}{path}")
    replayed = _token(key, f"{BASE}{path}")
    assert (
        client.post(path, json=_patient_view(), headers={"Authorization": f"Bearer {replayed}"}).status_code
        == 200
    )
    tokens = {
        "missing": None,
        "garbage": "not-a-jwt",
        "wrong_aud": _token(key, f"{BASE}/cds-services/cra-medication-check"),
        "replay": replayed,
        "other_issuer": _token(key, f"{BASE}{path}", iss="https://evil.example.org"),
    }
    for token in tokens.values():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert client.post(path, json=_patient_view(), headers=headers).status_code in (401, 403)
    assert client.get("/cds-services").status_code == 401
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {_token(key, f'{BASE}/cds-services')}"}).status_code == 200  # fmt: skip
    fb = f"{path}/feedback"
    assert client.post(fb, json={"feedback": []}, headers={"Authorization": "Bearer x"}).status_code == 401
    records = list(audit.records())
    assert len(records) == 1 + len(tokens) + 2 + 1, records
    refused = [r for r in records if r["status"] != 200]
    assert [r["status"] for r in refused] == [401, 401, 401, 401, 403, 401, 401]
    assert all(r["code"] and r["reason"] for r in refused)
    assert any("replay" in r["reason"] for r in refused)
    assert {r["kind"] for r in records} == {"cds", "cds-discovery", "cds-feedback"}
    assert (
        next(r for r in refused if r["code"] == "forbidden")["claimed_issuer"] == "https://evil.example.org"
    )
    dumped = json.dumps(records)
    assert good not in dumped and replayed not in dumped and "not-a-jwt" not in dumped
    assert PID in json.dumps(records[0]) and all(PID not in json.dumps(r) for r in refused)
    assert audit.verify().ok


# -- item 5: malformed tokens and bodies are 4xx, never 500 ---------------------------------------


def test_a_token_with_an_alg_the_issuers_key_cannot_verify_is_401(
    app: tuple[TestClient, AuditLog], key: Any
) -> None:
    client, _ = app
    path = "/cds-services/cra-care-gaps"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    reply = client.post(path, json=_patient_view(), headers={"Authorization": f"Bearer {_token(other, f'{BASE}{path}', alg='RS256')}"})  # fmt: skip
    assert reply.status_code == 401 and "alg" in reply.json()["detail"], reply.text


@pytest.mark.parametrize(
    ("dosage", "field"),
    [
        ("x", "dosageInstruction must be a list"),
        (["x"], "dosageInstruction must be a list"),
        ([{"doseAndRate": [{"doseQuantity": {"value": "lots", "unit": "mg"}}]}], "doseQuantity.value must be a number"),
        ([{"doseAndRate": "x"}], "doseAndRate must be a list"),
        ([{"doseAndRate": [{"doseQuantity": "x"}]}], "doseQuantity must be an object"),
        ([{"timing": {"repeat": {"frequency": "lots", "periodUnit": "d"}}}], "frequency must be a number"),
        ([{"timing": "daily"}], "timing must be an object"),
    ],
)  # fmt: skip
def test_malformed_draft_orders_are_400_naming_the_field(
    app: tuple[TestClient, AuditLog], key: Any, dosage: Any, field: str
) -> None:
    client, audit = app
    path = "/cds-services/cra-medication-check"
    reply = client.post(path, json=_order_sign(dosage), headers={"Authorization": f"Bearer {_token(key, f'{BASE}{path}')}"})  # fmt: skip
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["detail"] and "lots" not in reply.text
    assert list(audit.records())[-1]["status"] == 400


def test_deeply_nested_or_malformed_bodies_are_400(app: tuple[TestClient, AuditLog], key: Any) -> None:
    client, _ = app
    path = "/cds-services/cra-care-gaps"

    def post(data: bytes) -> Any:
        auth = {"Authorization": f"Bearer {_token(key, f'{BASE}{path}')}", "Content-Type": "application/json"}
        return client.post(path, content=data, headers=auth)

    deep = post(b'{"hook": "patient-view", "context": ' + b"[" * 20_000 + b"]" * 20_000 + b"}")
    assert deep.status_code == 400 and "nested" in deep.json()["detail"], deep.text
    body = _patient_view()
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation",
        "subject": {"reference": f"Patient/{PID}"}, "code": "x", "valueQuantity": "lots"}}]}  # fmt: skip
    odd = post(json.dumps(body).encode())
    assert odd.status_code in (200, 400), odd.text  # ignored or refused, never a 500
    body["prefetch"]["conditions"] = {"resourceType": "Bundle", "entry": "x"}
    assert post(json.dumps(body).encode()).status_code in (200, 400, 412)


# -- item 6: no empty link lists ---------------------------------------------------------------


def test_cards_from_the_uspstf_json_alone_carry_no_empty_links(
    app: tuple[TestClient, AuditLog], key: Any
) -> None:
    client, _ = app
    path = "/cds-services/cra-care-gaps"
    reply = client.post(path, json=_patient_view(), headers={"Authorization": f"Bearer {_token(key, f'{BASE}{path}')}"})  # fmt: skip
    cards = reply.json()["cards"]
    assert reply.status_code == 200 and any(c["summary"].startswith("Osteoporosis") for c in cards), (
        reply.text
    )
    assert all("links" not in c or c["links"] for c in cards), cards
    assert serialize_card({"summary": "s", "links": []}) == {"summary": "s"}
    link = {"label": "l", "url": f"{BASE}/v1/evidence/x", "type": "absolute"}
    assert serialize_card({"summary": "s", "links": [link]})["links"] == [link]
