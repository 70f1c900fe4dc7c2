"""The uspstf-eligibility *due* truth on small hand-written FHIR Bundles (raw JSON, no system code)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from evals.suite_uspstf import split_of
from evals.uspstf_due import RULES, due_ids, read_bundle

DAY = date(2021, 6, 30)


def _bundle(tmp_path: Path, birth: str, gender: str, *resources: dict[str, Any]) -> Path:
    entries = [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": birth, "gender": gender}}]
    entries += [{"resource": r} for r in resources]
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


def _proc(code: str, when: str, display: str = "") -> dict[str, Any]:
    return {"resourceType": "Procedure", "status": "completed", "performedDateTime": when,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]}}  # fmt: skip


def _cond(code: str, onset: str, display: str, end: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": "Condition", "onsetDateTime": onset,
                         "clinicalStatus": {"coding": [{"code": "resolved" if end else "active"}]},
                         "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]}}  # fmt: skip
    if end:
        r["abatementDateTime"] = end
    return r


def _obs(code: str, when: str, value: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": "Observation", "status": "final", "effectiveDateTime": when,
                         "code": {"coding": [{"system": "http://loinc.org", "code": code}]}}  # fmt: skip
    if isinstance(value, str):
        r["valueCodeableConcept"] = {"text": value}
    else:
        r["valueQuantity"] = {"value": value}
    return r


def test_colonoscopy_within_ten_years_is_not_due_and_older_is(tmp_path: Path) -> None:
    recs = {"331": 50.0}
    recent = _bundle(tmp_path, "1960-01-01", "male", _proc("73761001", "2012-01-01", "Colonoscopy"))
    assert due_ids(read_bundle(recent), recs, DAY, 61) == set()
    old = _bundle(tmp_path, "1960-01-01", "male", _proc("73761001", "2010-01-01", "Colonoscopy"))
    assert due_ids(read_bundle(old), recs, DAY, 61) == {"331"}


def test_pregnancy_screenings_need_a_current_pregnancy(tmp_path: Path) -> None:
    recs = {"486": 11.0, "503": 11.0}
    not_pregnant = _bundle(tmp_path, "1990-01-01", "female")
    assert due_ids(read_bundle(not_pregnant), recs, DAY, 31) == set()
    delivered = _bundle(tmp_path, "1990-01-01", "female",
                        _cond("72892002", "2020-01-01", "Normal pregnancy", end="2020-09-01"))  # fmt: skip
    assert due_ids(read_bundle(delivered), recs, DAY, 31) == set()
    pregnant = _bundle(tmp_path, "1990-01-01", "female", _cond("72892002", "2021-03-01", "Normal pregnancy"),
                       _proc("47758006", "2021-04-01", "Hepatitis B surface antigen measurement"))  # fmt: skip
    assert due_ids(read_bundle(pregnant), recs, DAY, 31) == {"486"}


def test_risk_populations_need_the_record_to_show_the_risk(tmp_path: Path) -> None:
    recs = {"303": 40.0, "1905": 18.0, "329": 11.0}
    lean = _bundle(tmp_path, "1970-01-01", "male", _obs("39156-5", "2021-01-01", 22.0),
                   _obs("72166-2", "2021-01-01", "Never smoker"))  # fmt: skip
    assert due_ids(read_bundle(lean), recs, DAY, 51) == set()
    heavy = _bundle(tmp_path, "1970-01-01", "male", _obs("39156-5", "2021-01-01", 31.0),
                    _obs("72166-2", "2021-01-01", "Current every day smoker"))  # fmt: skip
    assert due_ids(read_bundle(heavy), recs, DAY, 51) == {"303", "1905"}  # 329 (increased risk): never


def test_screening_is_not_due_for_a_disease_on_record(tmp_path: Path) -> None:
    diabetic = _bundle(tmp_path, "1970-01-01", "male", _obs("39156-5", "2021-01-01", 31.0),
                       _cond("44054006", "2015-01-01", "Diabetes"))  # fmt: skip
    assert due_ids(read_bundle(diabetic), {"303": 40.0}, DAY, 51) == set()


def test_every_rule_names_services_the_table_has() -> None:
    from evals.uspstf_due import TESTS

    keys = {k for rules in RULES.values() for r in rules if r.tests for k in r.tests.split("+")}
    assert keys <= set(TESTS)


def test_the_split_is_fixed_by_the_patient_id() -> None:
    assert split_of("abc") == split_of("abc") and {split_of(str(i)) for i in range(20)} == {"dev", "test"}
