"""FHIR R4 resources -> timeline events: one small hand-written resource per behaviour.

Covers the mapping of every supported resource type, unit normalisation, stable event ids,
date parsing and patient references. Nothing here validates FHIR; the indexer does that.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from patient_index.events import event_id, events_from_bundle, parse_date, patient_ref, resource_events
from patient_index.units import canonical_unit, normalize_quantity

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SUBJECT = {"reference": "Patient/p1"}


def _concept(code: str, display: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _lab(code: str, display: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{code}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": _concept(code, display),
        "subject": SUBJECT,
        "effectiveDateTime": "2021-03-04T08:30:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"},
        **extra,
    }


def _one(resource: dict[str, Any], patient_id: str = "p1") -> dict[str, Any]:
    events = resource_events(resource, patient_id)
    assert len(events) == 1, events
    return events[0]


def _note(text: str, content_type: str = "text/plain") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": "note-1",
        "status": "current",
        "type": _concept("11506-3", "Progress note"),
        "subject": SUBJECT,
        "date": "2022-02-01T09:00:00Z",
        "content": [
            {"attachment": {"contentType": content_type, "data": base64.b64encode(text.encode()).decode()}}
        ],
    }


# -- Observation -----------------------------------------------------------------


def test_observation_with_value_reference_range_and_interpretation() -> None:
    obs = _lab(
        "2947-0",
        "Sodium [Moles/volume] in Blood",
        149,
        "mmol/L",
        referenceRange=[{"low": {"value": 135, "unit": "mmol/L"}, "high": {"value": 145, "unit": "mmol/L"}}],
        interpretation=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "H",
                    }
                ]
            }
        ],
    )
    e = _one(obs)
    assert e["patient_id"] == "p1"
    assert (e["resource_type"], e["resource_id"], e["part"]) == ("Observation", "obs-2947-0", "")
    assert (e["code_system"], e["code"]) == (LOINC, "2947-0")
    assert e["display"] == "Sodium [Moles/volume] in Blood"
    assert e["category"] == "laboratory"
    assert e["value"] == 149.0 and isinstance(e["value"], float)
    assert e["unit"] == "mmol/L"
    assert e["reference_range"] == {"low": 135.0, "high": 145.0, "unit": "mmol/L", "text": ""}
    assert e["interpretation"] == "H"
    assert e["status"] == "final"
    assert e["date"] == "2021-03-04T08:30:00Z"
    assert e["date_ts"] == parse_date("2021-03-04T08:30:00Z")[1]
    assert "unit_flag" not in e
    assert "149" in e["text"] and "(H)" in e["text"] and "2021-03-04" in e["text"]


def test_blood_pressure_components_become_two_events() -> None:
    bp = {
        "resourceType": "Observation",
        "id": "bp-1",
        "status": "final",
        "code": _concept("85354-9", "Blood pressure panel with all children optional"),
        "subject": SUBJECT,
        "effectiveDateTime": "2021-05-06",
        "component": [
            {
                "code": _concept("8480-6", "Systolic blood pressure"),
                "valueQuantity": {"value": 152, "unit": "mm[Hg]"},
            },
            {
                "code": _concept("8462-4", "Diastolic blood pressure"),
                "valueQuantity": {"value": 95, "unit": "mmHg"},
            },
        ],
    }
    systolic, diastolic = resource_events(bp, "p1")
    assert systolic["part"] == "component:8480-6"
    assert diastolic["part"] == "component:8462-4"
    assert systolic["event_id"] != diastolic["event_id"]
    assert (systolic["code"], systolic["value"], systolic["unit"]) == ("8480-6", 152.0, "mm[Hg]")
    assert (diastolic["code"], diastolic["value"], diastolic["unit"]) == ("8462-4", 95.0, "mm[Hg]")
    assert systolic["display"] == "Systolic blood pressure"
    assert systolic["resource_id"] == diastolic["resource_id"] == "bp-1"
    assert systolic["date"] == diastolic["date"] == "2021-05-06"
    assert "Systolic blood pressure" in systolic["text"] and "152" in systolic["text"]


def test_glucose_in_mmol_per_litre_is_normalised_to_mg_per_dl() -> None:
    e = _one(_lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", 5.5, "mmol/L"))
    assert e["unit"] == "mg/dL"
    assert e["value"] == pytest.approx(5.5 * 18.016, abs=1e-3)
    assert e["original_value"] == 5.5
    assert e["original_unit"] == "mmol/L"
    assert "unit_flag" not in e


def test_value_in_an_unconvertible_unit_is_flagged_and_kept_as_recorded() -> None:
    e = _one(_lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", 1.1, "g/L"))
    assert e["value"] == 1.1
    assert e["unit"] == "g/L"
    assert "g/L" in e["unit_flag"] and "mg/dL" in e["unit_flag"]
    assert "original_value" not in e


def test_egfr_in_plain_ml_per_min_is_accepted() -> None:
    e = _one(_lab("33914-3", "eGFR (MDRD)", 74.0, "mL/min"))
    assert e["value"] == 74.0
    assert e["unit"] == "mL/min/{1.73_m2}"
    assert "unit_flag" not in e


def test_coded_and_string_values() -> None:
    coded = _lab("72166-2", "Tobacco smoking status", 0, "")
    del coded["valueQuantity"]
    coded["valueCodeableConcept"] = _concept("266919005", "Never smoked tobacco", SNOMED)
    assert _one(coded)["value"] == "Never smoked tobacco"
    undated = _lab("2947-0", "Sodium", 140, "mmol/L")
    del undated["effectiveDateTime"]
    e = _one(undated)
    assert e["date"] == "" and e["date_ts"] is None


# -- units -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "expected", "canonical"),
    [
        ("2345-7", 100.0, "mg/dl", 100.0, "mg/dL"),
        ("2093-3", 5.0, "mmol/L", 193.35, "mg/dL"),
        ("2160-0", 88.42, "umol/L", 1.0, "mg/dL"),
        ("2160-0", 88.42, "µmol/L", 1.0, "mg/dL"),
        ("4548-4", 48.0, "mmol/mol", 48 * 0.09148 + 2.152, "%"),
        ("29463-7", 150.0, "[lb_av]", 150 * 0.45359237, "kg"),
        ("8302-2", 1.75, "m", 175.0, "cm"),
        ("8310-5", 98.6, "[degF]", 37.0, "Cel"),
        ("8480-6", 120.0, "mmHg", 120.0, "mm[Hg]"),
        ("62238-1", 61.0, "mL/min/{1.73_m2}", 61.0, "mL/min/{1.73_m2}"),
    ],
)
def test_normalize_quantity_converts_to_the_series_unit(
    code: str, value: float, unit: str, expected: float, canonical: str
) -> None:
    n = normalize_quantity(code, value, unit)
    assert n.value == pytest.approx(expected, abs=1e-3)
    assert n.unit == canonical == canonical_unit(code)
    assert not n.flag


def test_normalize_quantity_records_the_original_only_when_converting() -> None:
    same = normalize_quantity("2345-7", 90.0, "mg/dL")
    assert (same.original_value, same.original_unit) == (None, "")
    converted = normalize_quantity("2345-7", 5.0, "mmol/L")
    assert (converted.original_value, converted.original_unit) == (5.0, "mmol/L")


def test_normalize_quantity_flags_unknown_units_and_passes_unknown_series_through() -> None:
    flagged = normalize_quantity("29463-7", 12.0, "stone")
    assert flagged.value == 12.0 and flagged.unit == "stone"
    assert "stone" in flagged.flag and "29463-7" in flagged.flag
    assert "(none)" in normalize_quantity("2345-7", 5.0, "").flag
    other = normalize_quantity("9999-9", 3.0, "mg/dl")
    assert (other.value, other.unit, other.flag) == (3.0, "mg/dL", "")
    assert canonical_unit("9999-9") is None


# -- other clinical resources ------------------------------------------------------


def _condition(clinical: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{clinical}",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": _concept("44054006", "Diabetes mellitus type 2", SNOMED),
        "subject": SUBJECT,
        "onsetDateTime": "2015-07-01T10:00:00+02:00",
        **extra,
    }


def test_active_condition() -> None:
    e = _one(_condition("active"))
    assert e["status"] == "active"
    assert (e["code_system"], e["code"], e["display"]) == (SNOMED, "44054006", "Diabetes mellitus type 2")
    assert e["category"] == "encounter-diagnosis"
    assert e["date"] == "2015-07-01T10:00:00+02:00"
    assert e["end_date"] is None
    assert "since 2015-07-01" in e["text"] and "resolved" not in e["text"]


def test_resolved_condition_has_an_end_date() -> None:
    e = _one(_condition("resolved", abatementDateTime="2019-02-03"))
    assert e["status"] == "resolved"
    assert e["end_date"] == "2019-02-03"
    assert "resolved 2019-02-03" in e["text"]


def test_medication_request() -> None:
    med = {
        "resourceType": "MedicationRequest",
        "id": "med-1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": _concept(
            "860975", "Metformin 500 MG Extended Release Oral Tablet", RXNORM
        ),
        "subject": SUBJECT,
        "authoredOn": "2016-01-10T09:00:00Z",
        "dosageInstruction": [{"text": "1 tablet by mouth daily"}],
    }
    e = _one(med)
    assert (e["code_system"], e["code"]) == (RXNORM, "860975")
    assert e["display"] == "Metformin 500 MG Extended Release Oral Tablet"
    assert e["status"] == "active"
    assert e["date"] == "2016-01-10T09:00:00Z"
    assert "Metformin" in e["text"] and "1 tablet by mouth daily" in e["text"]


def test_allergy_with_reactions() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "alg-1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "category": ["food"],
        "criticality": "high",
        "code": _concept("91935009", "Allergy to peanuts", SNOMED),
        "patient": SUBJECT,
        "recordedDate": "2010-04-05",
        "reaction": [
            {"manifestation": [_concept("126485001", "Urticaria", SNOMED)]},
            {"manifestation": [_concept("39579001", "Anaphylaxis", SNOMED)]},
        ],
    }
    e = _one(allergy)
    assert e["status"] == "active"
    assert e["category"] == "food"
    assert e["display"] == "Allergy to peanuts"
    assert e["date"] == "2010-04-05"
    assert "criticality high" in e["text"]
    assert "Urticaria" in e["text"] and "Anaphylaxis" in e["text"]


def test_diagnostic_report_conclusion() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr-1",
        "status": "final",
        "code": _concept("36643-5", "Chest X-ray 2 views"),
        "subject": SUBJECT,
        "effectiveDateTime": "2020-11-12",
        "conclusion": "Mild cardiomegaly without effusion.",
    }
    e = _one(report)
    assert e["value"] == "Mild cardiomegaly without effusion."
    assert "conclusion: Mild cardiomegaly" in e["text"]
    del report["conclusion"]
    report["conclusionCode"] = [_concept("8186001", "Cardiomegaly", SNOMED)]
    assert _one(report)["value"] == "Cardiomegaly"


def test_document_reference_becomes_chunks_of_its_decoded_text() -> None:
    e = _one(_note("Patient reports chest pain radiating to the left arm since Tuesday."))
    assert e["resource_type"] == "DocumentReference"
    assert e["part"] == "chunk:0"
    assert e["display"] == "Progress note"
    assert e["date"] == "2022-02-01T09:00:00Z"
    assert "chest pain radiating to the left arm" in e["text"]


def test_long_note_is_split_into_chunks_with_distinct_ids() -> None:
    paragraphs = [" ".join(f"para{p}word{w}" for w in range(120)) for p in range(3)]
    events = resource_events(_note("\n\n".join(paragraphs)), "p1")
    assert [e["part"] for e in events] == ["chunk:0", "chunk:1", "chunk:2"]
    assert len({e["event_id"] for e in events}) == 3
    for p, e in enumerate(events):
        assert f"para{p}word0" in e["text"] and f"para{p}word119" in e["text"]


def test_html_note_is_stripped_and_binary_attachments_ignored() -> None:
    e = _one(
        _note(
            "<html><body><p>Follow up in <b>two weeks</b> &amp; repeat labs.</p></body></html>", "text/html"
        )
    )
    assert "<" not in e["text"] and "two weeks" in e["text"] and "& repeat labs" in e["text"]
    assert resource_events(_note("%PDF-1.4 binary", "application/pdf"), "p1") == []


def test_patient_event_carries_demographics_but_no_name() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Zimmerwald", "given": ["Henrietta"]}],
        "telecom": [{"system": "phone", "value": "555-0100"}],
        "address": [{"line": ["12 Quince Street"], "city": "Boston"}],
        "gender": "female",
        "birthDate": "1961-08-09",
    }
    e = _one(patient)
    assert (e["gender"], e["birth_date"], e["deceased_date"]) == ("female", "1961-08-09", None)
    assert e["date"] == "1961-08-09"
    assert e["text"] == "Patient: female, born 1961-08-09"
    stored = json.dumps(e)
    for identifying in ("Zimmerwald", "Henrietta", "555-0100", "Quince", "Boston"):
        assert identifying not in stored
    dead = _one({**patient, "deceasedDateTime": "2020-01-02T03:04:05Z"})
    assert dead["deceased_date"] == "2020-01-02T03:04:05Z" and "died 2020-01-02" in dead["text"]


def test_encounter() -> None:
    enc = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [_concept("162673000", "General examination of patient", SNOMED)],
        "subject": SUBJECT,
        "period": {"start": "2021-01-05T09:00:00Z", "end": "2021-01-05T09:30:00Z"},
        "reasonCode": [_concept("38341003", "Hypertension", SNOMED)],
    }
    e = _one(enc)
    assert e["category"] == "AMB"
    assert (e["code"], e["display"]) == ("162673000", "General examination of patient")
    assert (e["date"], e["end_date"]) == ("2021-01-05T09:00:00Z", "2021-01-05T09:30:00Z")
    assert e["status"] == "finished"
    assert "reason: Hypertension" in e["text"]


def test_immunization() -> None:
    imm = {
        "resourceType": "Immunization",
        "id": "imm-1",
        "status": "completed",
        "vaccineCode": _concept("140", "Influenza, seasonal, injectable", "http://hl7.org/fhir/sid/cvx"),
        "patient": SUBJECT,
        "occurrenceDateTime": "2019-10-01T10:00:00Z",
    }
    e = _one(imm)
    assert (e["code_system"], e["code"]) == ("http://hl7.org/fhir/sid/cvx", "140")
    assert e["date"] == "2019-10-01T10:00:00Z"
    assert e["text"] == "2019-10-01 Immunization: Influenza, seasonal, injectable (completed)"


def test_procedure() -> None:
    proc = {
        "resourceType": "Procedure",
        "id": "proc-1",
        "status": "completed",
        "code": _concept("73761001", "Colonoscopy", SNOMED),
        "subject": SUBJECT,
        "performedPeriod": {"start": "2018-06-01T08:00:00Z", "end": "2018-06-01T09:00:00Z"},
    }
    e = _one(proc)
    assert (e["code"], e["display"]) == ("73761001", "Colonoscopy")
    assert (e["date"], e["end_date"]) == ("2018-06-01T08:00:00Z", "2018-06-01T09:00:00Z")


def test_imaging_study() -> None:
    dicom = "http://dicom.nema.org/resources/ontology/DCM"
    study = {
        "resourceType": "ImagingStudy",
        "id": "img-1",
        "status": "available",
        "subject": SUBJECT,
        "started": "2017-03-03T11:00:00Z",
        "modality": [{"system": dicom, "code": "DX"}],
        "series": [
            {
                "uid": "1.2.3",
                "modality": {"system": dicom, "code": "DX"},
                "bodySite": {"system": SNOMED, "code": "51185008", "display": "Thoracic structure"},
            }
        ],
    }
    e = _one(study)
    assert (e["display"], e["code"], e["category"]) == ("Imaging DX", "DX", "imaging")
    assert e["date"] == "2017-03-03T11:00:00Z"
    assert "of Thoracic structure" in e["text"]
    del study["modality"]
    assert _one(study)["code"] == "DX"  # taken from the series when the study lists none


def test_care_plan() -> None:
    plan = {
        "resourceType": "CarePlan",
        "id": "cp-1",
        "status": "active",
        "intent": "order",
        "category": [_concept("698360004", "Diabetes self management plan", SNOMED)],
        "subject": SUBJECT,
        "period": {"start": "2016-01-10"},
        "activity": [
            {"detail": {"code": _concept("160670007", "Diabetic diet", SNOMED), "status": "in-progress"}}
        ],
    }
    e = _one(plan)
    assert (e["code"], e["display"]) == ("698360004", "Diabetes self management plan")
    assert e["date"] == "2016-01-10" and e["end_date"] is None
    assert "activities: Diabetic diet" in e["text"]


def test_unsupported_resource_type_has_no_events() -> None:
    assert resource_events({"resourceType": "Organization", "id": "org-1"}, "p1") == []


# -- event ids -------------------------------------------------------------------


def test_event_ids_are_stable_and_distinct_across_patients() -> None:
    obs = _lab("2345-7", "Glucose", 99, "mg/dL")
    first = [e["event_id"] for e in resource_events(obs, "p1")]
    again = [e["event_id"] for e in resource_events(json.loads(json.dumps(obs)), "p1")]
    other = [e["event_id"] for e in resource_events(obs, "p2")]
    assert first == again
    assert not set(first) & set(other)
    assert first == [event_id("p1", "Observation", "obs-2345-7")]
    assert event_id("p1", "Observation", "x", "component:a") != event_id(
        "p1", "Observation", "x", "component:b"
    )
    assert event_id("p1", "Observation", "x") != event_id("p1", "Condition", "x")


@pytest.mark.parametrize(
    ("patient", "kind", "rid", "part"),
    [
        ("p1", "Observation", "obs-1", ""),
        ("0dd77edd-bffd-4258-ac40-c07af6dd734a", "Patient", "0dd77edd-bffd-4258-ac40-c07af6dd734a", ""),
        ("p|pipe", "DocumentReference", "note 7", "chunk:3"),
        ("pé", "Condition", "漢字", "component:8480-6"),
        ("", "", "", ""),
    ],
)
def test_event_id_is_the_rfc4122_name_based_uuid_already_stored(
    patient: str, kind: str, rid: str, part: str
) -> None:
    # The hand-written SHA-1 uuid must match uuid.uuid5 bit for bit: indexed points use these ids.
    expected = uuid.uuid5(uuid.UUID("0b6f3c1e-2d4a-4e8b-9c55-7a1f0e2d3c4b"), f"{patient}|{kind}|{rid}|{part}")
    got = event_id(patient, kind, rid, part)
    assert got == str(expected)
    assert uuid.UUID(got).version == 5


# -- dates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "iso_utc"),
    [
        ("2020", "2020-01-01T00:00:00+00:00"),
        ("2020-03", "2020-03-01T00:00:00+00:00"),
        ("2020-03-04", "2020-03-04T00:00:00+00:00"),
        ("2020-03-04T10:00:00+02:00", "2020-03-04T08:00:00+00:00"),
        ("2020-03-04T10:00:00-05:00", "2020-03-04T15:00:00+00:00"),
        ("2020-03-04T10:00:00Z", "2020-03-04T10:00:00+00:00"),
        ("2020-03-04T10:00:00.250Z", "2020-03-04T10:00:00.250000+00:00"),
    ],
)
def test_parse_date(value: str, iso_utc: str) -> None:
    text, ts = parse_date(value)
    assert text == value
    assert ts == datetime.fromisoformat(iso_utc).timestamp()


@pytest.mark.parametrize("value", [None, "", "   ", 20200304, "2020-13-01", "yesterday"])
def test_parse_date_of_missing_or_bad_values_has_no_instant(value: Any) -> None:
    _, ts = parse_date(value)
    assert ts is None


# -- patient references ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/abc", "abc"),
        ("https://fhir.example.org/r4/Patient/abc", "abc"),
        ("https://fhir.example.org/r4/Patient/abc/", "abc"),
        ("Patient/abc/_history/3", "abc"),
        ("https://fhir.example.org/r4/Patient/abc/_history/3", "abc"),
        ("Group/abc", None),
        ("Practitioner/abc", None),
        ("", None),
    ],
)
def test_patient_ref_forms(reference: str, expected: str | None) -> None:
    assert patient_ref({"reference": reference}) == expected


def test_patient_ref_urn_uuid_with_and_without_aliases() -> None:
    ref = {"reference": "urn:uuid:1f0e-77"}
    assert patient_ref(ref) == "1f0e-77"  # no bundle context: the uuid is the best id there is
    assert patient_ref(ref, {"urn:uuid:1f0e-77": "p1"}) == "p1"
    assert patient_ref(ref, {"urn:uuid:other": "p2"}) is None  # in a bundle, but not a Patient of it
    assert patient_ref(ref, {}) is None
    assert patient_ref({"reference": "Patient/abc"}, {"urn:uuid:other": "p2"}) == "abc"


@pytest.mark.parametrize("value", [None, "Patient/abc", {}, {"display": "Jane"}, {"reference": 7}])
def test_patient_ref_of_non_references(value: Any) -> None:
    assert patient_ref(value) is None


# -- bundles -----------------------------------------------------------------------


def test_events_from_bundle_resolves_urn_uuids_and_reports_orphans() -> None:
    def obs(oid: str, ref: str) -> dict[str, Any]:
        return {**_lab("2345-7", "Glucose", 99, "mg/dL"), "id": oid, "subject": {"reference": ref}}

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "p-a"}},
            {"fullUrl": "urn:uuid:bbb", "resource": obs("o1", "urn:uuid:aaa")},
            {"resource": {"resourceType": "Claim", "id": "c1", "patient": {"reference": "urn:uuid:aaa"}}},
            {"resource": obs("o2", "urn:uuid:nobody")},
            {"request": {"method": "DELETE", "url": "Observation/o9"}},
            {"resource": obs("o3", "Patient/p-a")},
        ],
    }
    events, skipped = events_from_bundle(bundle)
    assert [(e["resource_type"], e["resource_id"], e["patient_id"]) for e in events] == [
        ("Patient", "p-a", "p-a"),
        ("Observation", "o1", "p-a"),
        ("Observation", "o3", "p-a"),
    ]
    assert skipped == [
        {"position": "entry[3]", "type": "Observation", "reason": "no resolvable patient reference"},
        {"position": "entry[4]", "type": "?", "reason": "entry without a resource"},
    ]
