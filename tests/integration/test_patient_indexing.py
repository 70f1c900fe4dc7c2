"""Patient indexing end to end: real encoders, a real embedded Qdrant engine, FHIR files written here.

Bundles and Bulk Data NDJSON, idempotent re-runs, resource versions, bad input reported by
position, right to erasure, and the isolation rule: a search inside one patient's record never
returns another patient's event, whatever the query.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from patient_index.indexer import PatientIndexer, PatientReport, delete_patient
from retrieval.edge_store import EdgeStore
from retrieval.patients import PatientSearch, patient_filter
from retrieval.store import VectorStore
from retrieval.types import Equals, Filter

pytestmark = pytest.mark.integration

COLLECTION = "patients"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


# -- resources -------------------------------------------------------------------


def _concept(code: str, display: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _meta(version: str | None) -> dict[str, Any]:
    return {"meta": {"versionId": version}} if version else {}


def _patient(pid: str, gender: str = "female", birth: str = "1960-01-01") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth}


def _observation(
    oid: str,
    ref: str,
    *,
    value: float = 98.0,
    code: str = "2345-7",
    display: str = "Glucose",
    date: str | None = "2021-01-01T08:00:00Z",
    version: str | None = None,
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        **_meta(version),
        "status": "final",
        "code": _concept(code, display),
        "subject": {"reference": ref},
        "valueQuantity": {"value": value, "unit": "mg/dL"},
    }
    if date:
        obs["effectiveDateTime"] = date
    return obs


def _condition(cid: str, ref: str, display: str = "Essential hypertension") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": _concept("59621000", display, SNOMED),
        "subject": {"reference": ref},
        "onsetDateTime": "2015-03-01",
    }


def _note(nid: str, ref: str, paragraphs: list[str], version: str) -> dict[str, Any]:
    text = "\n\n".join(paragraphs)
    return {
        "resourceType": "DocumentReference",
        "id": nid,
        **_meta(version),
        "status": "current",
        "type": _concept("11506-3", "Progress note"),
        "subject": {"reference": ref},
        "date": "2022-02-01T09:00:00Z",
        "content": [
            {"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}
        ],
    }


def _claim(cid: str, ref: str) -> dict[str, Any]:
    return {"resourceType": "Claim", "id": cid, "status": "active", "patient": {"reference": ref}}


def _eob(eid: str, ref: str) -> dict[str, Any]:
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": eid,
        "status": "active",
        "patient": {"reference": ref},
    }


def _bundle(*entries: tuple[str | None, dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle; each entry is ``(fullUrl or None, resource)``."""
    out = []
    for full_url, r in entries:
        entry: dict[str, Any] = {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        if full_url:
            entry["fullUrl"] = full_url
        out.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def _write(path: Path, content: dict[str, Any] | list[dict[str, Any]] | str) -> str:
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, list):
        path.write_text("".join(json.dumps(r) + "\n" for r in content))
    else:
        path.write_text(json.dumps(content))
    return str(path)


def _two_patient_bundle() -> dict[str, Any]:
    """Patients ``anna`` and ``ben``, referenced by fullUrls that differ from their ids."""
    return _bundle(
        ("urn:uuid:11111111-aaaa-4aaa-8aaa-000000000001", _patient("anna")),
        (None, {"resourceType": "Organization", "id": "org-1", "name": "General Hospital"}),
        (None, _observation("anna-glu", "urn:uuid:11111111-aaaa-4aaa-8aaa-000000000001", value=101)),
        (None, _condition("anna-htn", "urn:uuid:11111111-aaaa-4aaa-8aaa-000000000001")),
        (None, _claim("anna-claim", "urn:uuid:11111111-aaaa-4aaa-8aaa-000000000001")),
        # ben's resources come before ben himself: the bundle is resolved as a whole
        (None, _observation("ben-glu", "urn:uuid:22222222-bbbb-4bbb-8bbb-000000000002", value=180)),
        ("urn:uuid:22222222-bbbb-4bbb-8bbb-000000000002", _patient("ben", "male", "1950-05-05")),
        (None, _eob("ben-eob", "urn:uuid:22222222-bbbb-4bbb-8bbb-000000000002")),
    )


# -- helpers ---------------------------------------------------------------------


@pytest.fixture
def indexer(edge_store: EdgeStore, dense_encoder: Any, sparse_encoder: Any) -> PatientIndexer:
    return PatientIndexer(edge_store, dense_encoder, sparse_encoder, collection=COLLECTION, validate=True)


def _count(store: VectorStore, patient_id: str | None = None) -> int:
    return store.count(COLLECTION, patient_filter(patient_id) if patient_id else None)


def _events(store: VectorStore, where: Filter | None = None) -> list[dict[str, Any]]:
    return [payload for _, payload in store.scroll(COLLECTION, where)]


def _resource_events(store: VectorStore, key: str) -> list[dict[str, Any]]:
    return sorted(_events(store, Filter(must=(Equals("resource_key", key),))), key=lambda e: e["part"])


def _reasons(report: PatientReport) -> dict[str, str]:
    return {s["position"]: s["reason"] for s in report.skipped}


def _file_reasons(report: PatientReport) -> dict[str, str]:
    return {Path(s["source"]).name: s["reason"] for s in report.files_skipped}


@pytest.fixture
def seeded(indexer: PatientIndexer, tmp_path: Path) -> dict[str, int]:
    """The two-patient bundle indexed; returns each patient's event count, to check nothing is lost."""
    report = indexer.index([_write(tmp_path / "seed.json", _two_patient_bundle())])
    assert report.events_written == 5 and not report.skipped
    return {pid: _count(indexer.store, pid) for pid in ("anna", "ben")}


def _assert_unchanged(store: VectorStore, before: dict[str, int]) -> None:
    assert {pid: _count(store, pid) for pid in before} == before


# -- ingestion -------------------------------------------------------------------


def test_bundle_and_ndjson_become_events_per_patient(indexer: PatientIndexer, tmp_path: Path) -> None:
    bundle = _write(tmp_path / "bundle.json", _two_patient_bundle())
    ndjson = _write(
        tmp_path / "Patient.ndjson",
        [
            _patient("cleo", "female", "1990-09-09"),
            _observation("cleo-glu", "Patient/cleo", value=77),
            _condition("cleo-asthma", "Patient/cleo", "Asthma"),
            _claim("cleo-claim", "Patient/cleo"),
        ],
    )
    report = indexer.index([bundle, ndjson])
    summary = report.as_json()

    assert summary["files_read"] == 2 and summary["files_skipped"] == [] and summary["skipped"] == []
    assert summary["patients"] == 3
    assert summary["resources_read"] == 12
    assert summary["events_written"] == summary["events_total"] == 8
    assert summary["skipped_by_type"] == {"Claim": 2, "ExplanationOfBenefit": 1, "Organization": 1}
    store = indexer.store
    assert _count(store) == 8
    by_patient = Counter((e["patient_id"], e["resource_type"]) for e in _events(store))
    assert by_patient == Counter(
        {
            ("anna", "Patient"): 1,
            ("anna", "Observation"): 1,
            ("anna", "Condition"): 1,
            ("ben", "Patient"): 1,
            ("ben", "Observation"): 1,
            ("cleo", "Patient"): 1,
            ("cleo", "Observation"): 1,
            ("cleo", "Condition"): 1,
        }
    )
    (ben_glucose,) = _events(store, Filter(must=(Equals("resource_key", "Observation/ben-glu"),)))
    assert ben_glucose["value"] == 180.0 and ben_glucose["unit"] == "mg/dL"
    assert ben_glucose["content_hash"] and ben_glucose["date_ts"] is not None


def test_same_content_twice_writes_nothing(indexer: PatientIndexer, tmp_path: Path) -> None:
    bundle = _write(tmp_path / "bundle.json", _two_patient_bundle())
    first = indexer.index([bundle])
    stored = _count(indexer.store)
    assert first.events_written == stored == 5

    again = indexer.index([bundle])
    assert (again.events_written, again.events_unchanged, again.events_total) == (0, 5, 5)
    # the same resource, now in a Bulk Data file that names the patient directly
    copy = _write(tmp_path / "Observation.ndjson", [_observation("anna-glu", "Patient/anna", value=101)])
    third = indexer.index([copy])
    assert (third.events_written, third.events_unchanged) == (0, 1)
    assert _count(indexer.store) == stored


# -- versions --------------------------------------------------------------------


def test_newer_version_replaces_and_older_is_ignored(indexer: PatientIndexer, tmp_path: Path) -> None:
    store = indexer.store
    v1 = _write(tmp_path / "v1.ndjson", [_observation("o1", "Patient/dana", value=100, version="1")])
    v2 = _write(tmp_path / "v2.ndjson", [_observation("o1", "Patient/dana", value=140, version="2")])
    assert indexer.index([v1]).events_written == 1

    newer = indexer.index([v2])
    assert newer.events_written == 1
    (event,) = _resource_events(store, "Observation/o1")
    assert (event["value"], event["version"]) == (140.0, "2")

    older = indexer.index([v1])
    assert older.as_json()["events_older_version_ignored"] == 1 and older.events_written == 0
    (event,) = _resource_events(store, "Observation/o1")
    assert (event["value"], event["version"]) == (140.0, "2")
    assert _count(store) == 1


def _paragraphs(tag: str, n: int) -> list[str]:
    """``n`` paragraphs long enough (150 words) that each becomes its own note chunk."""
    return [" ".join(f"{tag}{p}w{w}" for w in range(150)) for p in range(n)]


def test_newer_note_with_fewer_chunks_leaves_no_stale_chunks(indexer: PatientIndexer, tmp_path: Path) -> None:
    store = indexer.store
    v1 = _write(tmp_path / "v1.ndjson", [_note("n1", "Patient/dana", _paragraphs("old", 3), "1")])
    v2 = _write(tmp_path / "v2.ndjson", [_note("n1", "Patient/dana", _paragraphs("new", 1), "2")])
    assert indexer.index([v1]).events_written == 3

    report = indexer.index([v2])
    assert report.parts_removed == 2
    (chunk,) = _resource_events(store, "DocumentReference/n1")
    assert chunk["part"] == "chunk:0" and chunk["version"] == "2" and "new0w0" in chunk["text"]
    assert _count(store, "dana") == 1


def test_older_note_read_again_brings_back_no_removed_chunks(indexer: PatientIndexer, tmp_path: Path) -> None:
    store = indexer.store
    v1 = _write(tmp_path / "v1.ndjson", [_note("n1", "Patient/dana", _paragraphs("old", 3), "1")])
    v2 = _write(tmp_path / "v2.ndjson", [_note("n1", "Patient/dana", _paragraphs("new", 1), "2")])
    indexer.index([v1])
    indexer.index([v2])

    indexer.index([v1])  # e.g. an old export re-read after the update
    chunks = _resource_events(store, "DocumentReference/n1")
    assert [(c["part"], c["version"]) for c in chunks] == [("chunk:0", "2")], "version 1 chunks came back"


def test_two_versions_in_one_run_keep_only_the_newest(indexer: PatientIndexer, tmp_path: Path) -> None:
    store = indexer.store
    v1 = _write(tmp_path / "a_v1.ndjson", [_note("n1", "Patient/dana", _paragraphs("old", 3), "1")])
    v2 = _write(tmp_path / "b_v2.ndjson", [_note("n1", "Patient/dana", _paragraphs("new", 1), "2")])
    indexer.index([v1, v2])
    chunks = _resource_events(store, "DocumentReference/n1")
    assert [(c["part"], c["version"]) for c in chunks] == [("chunk:0", "2")], "version 1 chunks were kept"


def test_newer_version_with_other_parts_replaces_all_old_parts(
    indexer: PatientIndexer, tmp_path: Path
) -> None:
    """Version 1 is a single value; version 2 records the same reading as two components."""
    store = indexer.store
    v1 = _observation("bp1", "Patient/dana", code="85354-9", display="Blood pressure", value=120, version="1")
    v2 = {k: v for k, v in v1.items() if k != "valueQuantity"} | {
        "meta": {"versionId": "2"},
        "component": [
            {"code": _concept("8480-6", "Systolic"), "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
            {"code": _concept("8462-4", "Diastolic"), "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
        ],
    }
    indexer.index([_write(tmp_path / "v1.ndjson", [v1])])
    indexer.index([_write(tmp_path / "v2.ndjson", [v2])])
    parts = [(e["part"], e["version"]) for e in _resource_events(store, "Observation/bp1")]
    assert parts == [("component:8462-4", "2"), ("component:8480-6", "2")], "the version 1 event is stale"


# -- bad input -------------------------------------------------------------------


def test_invalid_json_file_is_reported(
    indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]
) -> None:
    report = indexer.index([_write(tmp_path / "broken.json", '{"resourceType": "Bundle", "entry": [{,}]')])
    assert report.files_read == 0
    assert _file_reasons(report)["broken.json"].startswith("invalid JSON")
    _assert_unchanged(indexer.store, seeded)


def test_bad_resources_in_a_bundle_are_reported_by_position(
    indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]
) -> None:
    eve = "urn:uuid:33333333-cccc-4ccc-8ccc-000000000003"
    no_code = _observation("eve-nocode", eve)
    del no_code["code"]
    bundle = _bundle(
        (eve, _patient("eve")),
        (None, _observation("eve-ok", eve)),
        (None, _observation("eve-status", eve) | {"status": 123}),
        (None, no_code),
        (None, _observation("eve-undated", eve, date=None)),
        (None, _observation("orphan", "urn:uuid:99999999-dddd-4ddd-8ddd-000000000009")),
        (None, _observation("zzz-glu", "Patient/zzz")),  # Bulk Data keeps patients in their own file
    )
    report = indexer.index([_write(tmp_path / "mixed.json", bundle)])
    reasons = _reasons(report)

    assert set(reasons) == {"entry[2]", "entry[3]", "entry[5]"}
    assert reasons["entry[2]"].startswith("invalid FHIR") and "status" in reasons["entry[2]"]
    assert reasons["entry[3]"].startswith("invalid FHIR") and "code" in reasons["entry[3]"]
    assert "urn:uuid:99999999-dddd-4ddd-8ddd-000000000009" in reasons["entry[5]"]
    assert all(s["source"].endswith("mixed.json") for s in report.skipped)
    assert report.files_read == 1 and not report.files_skipped
    assert report.events_written == 4 and report.events_without_date == 1
    assert report.patients == {"eve", "zzz"}
    assert _count(indexer.store, "eve") == 3
    assert _count(indexer.store, "zzz") == 1
    _assert_unchanged(indexer.store, seeded)


def test_unknown_resource_type_is_reported_and_the_rest_ingested(
    indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]
) -> None:
    bundle = _bundle(
        (None, _patient("fay")),
        (None, {"resourceType": "Spaceship", "id": "s1"}),
        (None, _observation("fay-glu", "Patient/fay")),
    )
    report = indexer.index([_write(tmp_path / "odd.json", bundle)])
    assert report.files_skipped == []
    assert "unknown resource type" in _reasons(report).get("entry[1]", "")
    assert _count(indexer.store, "fay") == 2
    _assert_unchanged(indexer.store, seeded)


def test_bundle_with_entry_before_resource_type_is_read(indexer: PatientIndexer, tmp_path: Path) -> None:
    """JSON keys are unordered: a Bundle written with sorted keys puts "entry" before "resourceType"."""
    bundle = _bundle((None, _patient("gus")), (None, _observation("gus-glu", "Patient/gus")))
    path = tmp_path / "sorted.json"
    path.write_text(json.dumps(bundle, sort_keys=True, indent=1))
    report = indexer.index([str(path)])
    assert report.files_skipped == []
    assert _count(indexer.store, "gus") == 2


def test_empty_and_non_bundle_files(indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]) -> None:
    empty = _write(tmp_path / "empty.json", "")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(_patient("hal"), indent=2))
    one_line = _write(tmp_path / "oneline.json", _patient("ida"))  # one resource on one line: NDJSON
    array = _write(tmp_path / "array.json", "[]")
    report = indexer.index([empty, str(pretty), one_line, array, str(tmp_path / "missing.json")])

    reasons = _file_reasons(report)
    assert reasons["empty.json"] == "empty file"
    assert reasons["pretty.json"].startswith("not a FHIR Bundle or NDJSON file")
    assert "'Patient'" in reasons["pretty.json"]
    assert reasons["array.json"].startswith("not a FHIR Bundle or NDJSON file")
    assert reasons["missing.json"] == "no such file or folder"
    assert "oneline.json" not in reasons and report.files_read == 1
    assert _count(indexer.store, "hal") == 0
    assert _count(indexer.store, "ida") == 1
    _assert_unchanged(indexer.store, seeded)


def test_ndjson_with_a_broken_line(indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]) -> None:
    lines = [
        json.dumps(_patient("jon")),
        json.dumps(_observation("jon-1", "Patient/jon")),
        '{"resourceType": "Observation", "id": "jon-2", ',
        "",
        json.dumps({"id": "no-type"}),
        json.dumps(_observation("jon-3", "Patient/jon")),
        json.dumps(_observation("jon-4", "urn:uuid:44444444-eeee-4eee-8eee-000000000004")),
    ]
    report = indexer.index([_write(tmp_path / "Observation.ndjson", "\n".join(lines) + "\n")])
    reasons = _reasons(report)
    assert set(reasons) == {"line 3", "line 5", "line 7"}
    assert reasons["line 3"].startswith("invalid JSON")
    assert "no resourceType" in reasons["line 5"]
    assert "urn:uuid:44444444-eeee-4eee-8eee-000000000004" in reasons["line 7"]
    assert report.files_read == 1 and report.events_written == 3
    assert _count(indexer.store, "jon") == 3
    _assert_unchanged(indexer.store, seeded)


def test_rejected_values_never_reach_the_report(
    indexer: PatientIndexer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value in the wrong field (here an SSN) is reported by field and rule, never echoed."""
    secret = "SSN 999-12-3456"
    bundle = _bundle(
        (None, _patient("kim")),
        (None, _observation("kim-1", "Patient/kim") | {"effectiveDateTime": secret}),
        (None, _observation("kim-2", "Patient/kim") | {"valueQuantity": {"value": secret}}),
        (None, _observation("kim-3", f"Patient/{secret}")),
        (None, _observation("kim-4", "urn:uuid:" + secret)),
    )
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"resourceType": secret, "id": "x"}, indent=2))
    big = tmp_path / "big.json"  # streamed (see below): the parser's own message quotes the bytes
    big.write_text('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "a", '
                   f'"name": {secret}}}}}]}}')  # fmt: skip
    monkeypatch.setattr("patient_index.reader._LOAD_WHOLE_BYTES", 100)
    report = indexer.index([_write(tmp_path / "kim.json", bundle), str(odd), str(big)])
    shown = json.dumps(report.as_json())
    assert "999-12-3456" not in shown
    reasons = _reasons(report)
    assert "effectiveDateTime" in reasons["entry[1]"] and "valueQuantity.value" in reasons["entry[2]"]
    assert "a valid Patient id" in reasons["entry[3]"]
    assert "does not name a Patient" in reasons["entry[4]"]
    assert {"odd.json", "big.json"} <= set(_file_reasons(report))
    assert _count(indexer.store, "kim") == 1


def test_an_observation_naming_an_invalid_patient_id_is_refused(
    indexer: PatientIndexer, tmp_path: Path, seeded: dict[str, int]
) -> None:
    """FHIR ids are [A-Za-z0-9-.]{1,64}: no patient could own ``Patient/a b`` or a 65-character id."""
    refs = ["Patient/not an id", "Patient/" + "x" * 65, "Patient/a_b", "Patient/ok-id.1"]
    lines = [_observation(f"o{n}", ref) for n, ref in enumerate(refs)]
    report = indexer.index([_write(tmp_path / "Observation.ndjson", lines)])
    reasons = _reasons(report)
    assert set(reasons) == {"line 1", "line 2", "line 3"}
    assert all("a valid Patient id" in r for r in reasons.values())
    assert report.patients == {"ok-id.1"} and _count(indexer.store, "ok-id.1") == 1
    _assert_unchanged(indexer.store, seeded)


def test_a_deeply_nested_bundle_is_skipped_and_the_other_files_indexed(
    indexer: PatientIndexer, tmp_path: Path
) -> None:
    depth = 100_000
    deep = tmp_path / "a_deep.json"
    deep.write_text('{"resourceType": "Bundle", "entry": [{"resource": ' * depth + "{}" + "}]}" * depth)
    good = _write(tmp_path / "b_good.ndjson", [_patient("lou"), _observation("lou-1", "Patient/lou")])
    report = indexer.index([str(deep), good])
    assert "nested too deeply" in _file_reasons(report)["a_deep.json"]
    assert report.files_read == 1 and _count(indexer.store, "lou") == 2


# -- conflicting duplicates --------------------------------------------------------


def test_conflicting_duplicates_are_reported_and_the_first_copy_kept(
    indexer: PatientIndexer, tmp_path: Path
) -> None:
    """Same id and version, different content: the first copy stays, every conflict is reported."""
    first = _write(tmp_path / "a.ndjson", [_observation("m1", "Patient/mia", value=100, version="1")])
    other = _write(tmp_path / "b.ndjson", [_observation("m1", "Patient/mia", value=140, version="1")])
    same = _write(tmp_path / "c.ndjson", [_observation("m1", "Patient/mia", value=100, version="1")])
    report = indexer.index([first, other, same])  # one run, one batch
    assert report.conflicts_total == 1
    (conflict,) = report.as_json()["conflicts"]
    assert conflict["resource"] == "Observation/m1" and conflict["version"] == "1"
    assert conflict["source"].endswith("b.ndjson line 1") and "a.ndjson line 1" in conflict["reason"]
    assert report.as_json()["conflicting_duplicates"] == 1
    (event,) = _resource_events(indexer.store, "Observation/m1")
    assert event["value"] == 100.0

    again = indexer.index([other])  # a later run: the indexed copy stays, the conflict is reported
    assert again.conflicts_total == 1 and again.events_written == 0
    assert "already indexed" in again.conflicts[0]["reason"]
    (event,) = _resource_events(indexer.store, "Observation/m1")
    assert event["value"] == 100.0

    # the same record from a Bundle (urn:uuid references, other meta) is no conflict
    bundle = _bundle(
        ("urn:uuid:55555555-ffff-4fff-8fff-000000000005", _patient("mia")),
        (None, _observation("m1", "urn:uuid:55555555-ffff-4fff-8fff-000000000005", value=100, version="1")),
    )
    assert indexer.index([_write(tmp_path / "mia.json", bundle)]).conflicts_total == 0


def test_unversioned_conflicts_in_one_file_keep_the_first(indexer: PatientIndexer, tmp_path: Path) -> None:
    lines = [_observation("u1", "Patient/ned", value=90), _observation("u1", "Patient/ned", value=95)]
    report = indexer.index([_write(tmp_path / "Observation.ndjson", lines)])
    assert report.conflicts_total == 1 and report.conflicts[0]["version"] == "(none)"
    (event,) = _resource_events(indexer.store, "Observation/u1")
    assert event["value"] == 90.0


# -- right to erasure ------------------------------------------------------------


def test_delete_patient_removes_exactly_that_patient(indexer: PatientIndexer, seeded: dict[str, int]) -> None:
    store = indexer.store
    assert indexer.delete_patient("anna") == seeded["anna"] == 3
    assert _count(store, "anna") == 0
    assert not list(PatientSearch(store, indexer.dense, indexer.sparse).events("anna"))
    assert _count(store, "ben") == seeded["ben"]
    assert _count(store) == seeded["ben"]
    assert indexer.delete_patient("anna") == 0
    assert indexer.delete_patient("nobody") == 0


def test_delete_patient_without_a_collection(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "empty-store")
    try:
        assert delete_patient(store, COLLECTION, "anna") == 0
    finally:
        store.close()


# -- isolation -------------------------------------------------------------------


class _QueryCache:
    """The real dense encoder, remembering query vectors: the loop below asks the same 17 queries 12 times."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._cache: dict[str, list[float]] = {}

    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        return self.inner.encode(texts, batch_size=batch_size)

    def encode_query(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = self.inner.encode_query(text)
        return self._cache[text]


GENERIC_QUERIES = ("hypertension", "glucose level", "blood pressure trend", "what medications", "female")


def test_search_never_leaves_the_patient(indexer: PatientIndexer, tmp_path: Path) -> None:
    rng = random.Random(20240611)
    markers = {
        f"pt{n:02d}": "".join(rng.choices(string.ascii_lowercase, k=7)) + str(rng.randint(10, 99))
        for n in range(12)
    }
    resources: list[dict[str, Any]] = []
    for pid, marker in markers.items():
        ref = f"Patient/{pid}"
        resources += [
            _patient(pid, rng.choice(["female", "male"]), f"19{rng.randint(30, 99)}-01-01"),
            _condition(f"{pid}-marker", ref, f"Chronic {marker} syndrome"),
            _condition(f"{pid}-htn", ref),  # the same generic condition for everyone
            _observation(f"{pid}-obs", ref, value=rng.randint(70, 200), display=f"Glucose {marker} assay"),
        ]
    rng.shuffle(resources)
    report = indexer.index([_write(tmp_path / "many.ndjson", resources)])
    assert report.events_written == 48 and len(report.patients) == 12

    search = PatientSearch(indexer.store, _QueryCache(indexer.dense), indexer.sparse, collection=COLLECTION)
    owned = {pid: {e["event_id"] for e in search.events(pid)} for pid in markers}
    assert all(len(ids) == 4 for ids in owned.values())
    assert sum(len(ids) for ids in owned.values()) == len(set().union(*owned.values())) == 48

    queries = [*markers.values(), *GENERIC_QUERIES]
    foreign = {pid: set(markers.values()) - {marker} for pid, marker in markers.items()}
    for pid, marker in markers.items():
        for query in queries:
            hits = search.search(pid, query, k=10)
            assert hits, (pid, query)
            assert {h.payload["patient_id"] for h in hits} == {pid}, (pid, query)
            assert {h.id for h in hits} <= owned[pid], (pid, query)
            if query in foreign[pid]:
                assert not any(query in h.payload["text"] for h in hits), (pid, query)
        own = search.search(pid, marker, k=3)
        assert marker in own[0].payload["text"], (pid, [h.payload["text"] for h in own])
        # a caller's extra filter only narrows: naming another patient gives nothing, not their record
        other = "pt00" if pid != "pt00" else "pt01"
        assert search.search(pid, markers[other], where=Filter(must=(Equals("patient_id", other),))) == []
        assert list(search.events(pid, Filter(must=(Equals("patient_id", other),)))) == []


# -- the shared Synthea data ---------------------------------------------------------


@pytest.mark.slow
def test_synthea_bundles(indexer: PatientIndexer, shared_data: Path) -> None:
    folder = shared_data / "synthea-r4"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    report = indexer.index([str(folder)])
    summary = report.as_json()
    assert summary["files_read"] == 31 and summary["files_skipped"] == []
    assert summary["patients"] == 31
    assert summary["skipped"] == []
    assert summary["events_without_date"] == 0
    assert summary["skipped_by_type"]["Claim"] > 0 and summary["skipped_by_type"]["ExplanationOfBenefit"] > 0
    assert summary["events_written"] == summary["events_total"] > 8000
    store = indexer.store
    stored = _count(store)
    assert stored == summary["events_written"]
    assert {p["patient_id"] for _, p in store.scroll(COLLECTION, fields=["patient_id"])} == report.patients
    assert store.count(COLLECTION, Filter(must=(Equals("resource_type", "Claim"),))) == 0

    again = indexer.index([str(folder)])
    assert again.events_written == 0 and again.events_unchanged == summary["events_total"]
    assert _count(store) == stored
