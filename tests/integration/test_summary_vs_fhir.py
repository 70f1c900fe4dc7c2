"""The summary agrees with the raw FHIR it came from, for every Synthea patient of the shared data set.

The expected facts are read straight from the bundle JSON by the small parser below (not the
product's), then compared with ``build_summary`` over ``events_from_bundle``: age and sex at
the day of the patient's last Observation, and the latest value, date and source resource of
systolic BP (a component of the BP panel), body weight, HbA1c and total cholesterol.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from patient_index.events import events_from_bundle
from patient_index.summary import build_summary

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "synthea-r4"
FILES = sorted(DATA.glob("*.json")) if DATA.is_dir() else []
LOINC = "http://loinc.org"
# code -> the unit the raw data must carry for a like-for-like comparison (the product's canonical unit)
CHECKED = {"8480-6": "mm[Hg]", "29463-7": "kg", "4548-4": "%", "2093-3": "mg/dL"}

pytestmark = pytest.mark.integration


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _has_loinc(concept: dict[str, Any], code: str) -> bool:
    return any(c.get("system") == LOINC and c.get("code") == code for c in concept.get("coding", []))


def expected_facts(bundle: dict[str, Any]) -> dict[str, Any]:
    """Age, sex and the latest checked values, read independently from the raw resources."""
    resources = [e["resource"] for e in bundle["entry"]]
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    observations = [r for r in resources if r["resourceType"] == "Observation" and "effectiveDateTime" in r]
    last = max(observations, key=lambda r: _instant(r["effectiveDateTime"]))
    as_of = date.fromisoformat(last["effectiveDateTime"][:10])
    born = date.fromisoformat(patient["birthDate"])
    age = as_of.year - born.year - (1 if (as_of.month, as_of.day) < (born.month, born.day) else 0)

    latest: dict[str, dict[str, Any]] = {}
    for code, unit in CHECKED.items():
        values = []  # (instant, day, value, resource id)
        for r in observations:
            for part in [r, *r.get("component", [])]:
                q = part.get("valueQuantity")
                if _has_loinc(part.get("code", {}), code) and q is not None:
                    assert q.get("code", q.get("unit")) == unit, (code, q)  # raw data already in the unit
                    values.append(
                        (_instant(r["effectiveDateTime"]), r["effectiveDateTime"][:10], q["value"], r["id"])
                    )
        values = [v for v in values if date.fromisoformat(v[1]) <= as_of]
        if values:
            newest = max(v[0] for v in values)
            tied = [v for v in values if v[0] == newest]
            latest[code] = {
                "date": tied[0][1],
                "values": [float(v[2]) for v in tied],
                "resource_ids": {v[3] for v in tied},
                "n": len(values),
            }
    return {
        "patient_id": patient["id"],
        "as_of": as_of,
        "age": age,
        "sex": patient.get("gender"),
        "latest": latest,
    }


@pytest.mark.parametrize(
    "path",
    FILES or [pytest.param(None, marks=pytest.mark.skip(reason=f"Synthea data set not found at {DATA}"))],
    ids=lambda p: p.name.split("_")[0] + "_" + p.name.split("_")[1] if p else "missing",
)
def test_summary_matches_the_raw_fhir(path: Path | None) -> None:
    assert path is not None
    text = path.read_text(encoding="utf-8")
    expected = expected_facts(json.loads(text))

    events, _skipped = events_from_bundle(json.loads(text))
    summary = build_summary(events, as_of=expected["as_of"])
    resource_of = {e["event_id"]: e["resource_id"] for e in events}

    assert summary["patient_id"] == expected["patient_id"]
    assert summary["as_of"] == expected["as_of"].isoformat()
    assert summary["age"] == expected["age"]
    assert summary["sex"] == expected["sex"]
    for code in CHECKED:
        want = expected["latest"].get(code)
        got = summary["latest"].get(code)
        if want is None:
            assert got is None, code
            continue
        assert got is not None, f"{code} missing from the summary"
        assert got["date"] == want["date"], code
        assert any(abs(got["value"] - v) <= 1e-6 for v in want["values"]), (
            code,
            got["value"],
            want["values"],
        )
        assert got["cite"] and resource_of[got["cite"][0]] in want["resource_ids"], code
        trend = next(t for t in summary["trends"] if t["code"] == code)
        assert trend["n"] == want["n"] and trend["last"]["date"] == want["date"], code


def test_the_data_set_holds_the_31_patients_the_check_was_written_for() -> None:
    if not FILES:
        pytest.skip(f"Synthea data set not found at {DATA}")
    assert len(FILES) == 31
