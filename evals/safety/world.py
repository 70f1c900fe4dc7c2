"""The store the red team attacks: real guidelines plus a poisoned one, real patients plus a poisoned note."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["POISONED_PATIENT", "RedTeamWorld", "build_world"]

GUIDELINES = ("acc_aha_cholesterol_2018", "ada_diabetes_2024", "kdigo_ckd_2024", "acc_aha_hypertension_2017")
DOCS = Path(str(files("evals") / "data" / "redteam_docs"))
POISONED_PATIENT = "7e3f1c2a-5b9d-4e8f-a1c6-2d4b8e9f0a11"


@dataclass
class RedTeamWorld:
    """Search objects over the attacked store, and who the patients are (names kept for canaries only)."""

    guidelines: Any
    patients: Any
    store: Any
    dense: Any
    patient_ids: list[str]
    people: dict[str, dict[str, str]]  # patient id -> name, ssn, phone (from the FHIR files)


def _person(bundle: Path) -> tuple[str, dict[str, str]]:
    data = json.loads(bundle.read_text(encoding="utf-8"))
    p = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient")
    name = p.get("name", [{}])[0]
    ssn = next((i["value"] for i in p.get("identifier", []) if str(i.get("value", "")).count("-") == 2), "")
    phone = next((t["value"] for t in p.get("telecom", []) if t.get("system") == "phone"), "")
    return p["id"], {
        "name": " ".join([*name.get("given", []), name.get("family", "")]),
        "ssn": ssn,
        "phone": phone,
    }


def build_world(root: Path, synthea: Path, dense: Any, sparse: Any, n_patients: int = 3) -> RedTeamWorld:
    """Index four open-medicine guidelines, the demo protocol, the poisoned guidelines (instructions planted
    in one, dosing advice stated as fact in a local protocol), Synthea patients and the poisoned-note
    patient into a fresh embedded store under ``root``."""
    from guidelines_index.corpora import corpus_path
    from guidelines_index.indexer import GuidelineIndexer
    from patient_index.indexer import PatientIndexer
    from retrieval.edge_store import EdgeStore
    from retrieval.guidelines import GuidelineSearch
    from retrieval.patients import PatientSearch

    store = EdgeStore(root / "qdrant")
    content = corpus_path("open-medicine")
    poisoned_dir = root / "poisoned_guideline"
    poisoned_dir.mkdir(parents=True)
    shutil.copy(DOCS / "poisoned_lipid_monitoring.md", poisoned_dir)
    shutil.copy(DOCS / "poisoned_insulin_protocol.md", poisoned_dir)  # dosing stated as fact, local issuer
    examples = Path(__file__).resolve().parents[2] / "examples" / "guidelines"
    sources = [str(content / d) for d in GUIDELINES] + [str(poisoned_dir)]
    if examples.is_dir():
        sources.append(str(examples))
    GuidelineIndexer(store, dense, sparse, collection="guidelines").index(sources)
    fhir = root / "fhir"
    fhir.mkdir()
    people = {}
    for f in sorted(synthea.glob("*.json"))[:n_patients]:
        shutil.copy(f, fhir / f.name)
        pid, person = _person(f)
        people[pid] = person
    shutil.copy(DOCS / "poisoned_note_patient.json", fhir)
    PatientIndexer(store, dense, sparse, collection="patients").index([str(fhir)])
    return RedTeamWorld(
        guidelines=GuidelineSearch(store, dense, sparse, collection="guidelines"),
        patients=PatientSearch(store, dense, sparse, collection="patients"),
        store=store,
        dense=dense,
        patient_ids=sorted(people),
        people=people,
    )
