"""``cra index patients`` and ``cra patient ...`` as a user runs them, on real Synthea records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_cli import cra

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, list[dict[str, str]]]:
    root = tmp_path_factory.mktemp("patients")
    files = sorted((shared_data / "synthea-r4").glob("*.json"))[:4]
    for f in files:
        shutil.copy(f, root / f.name)
    (root / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    data = tmp_path_factory.mktemp("patient-data")
    run = cra(data, "index", "patients", str(root), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["patients"] == 4 and report["files_read"] == 4 and report["events_written"] > 500
    assert report["skipped_by_type"].get("Claim", 0) > 0
    assert [Path(s["source"]).name for s in report["files_skipped"]] == ["broken.json"]
    listing = cra(data, "patient", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    patients = json.loads(listing.stdout)
    assert len(patients) == 4 and all(p["gender"] in ("male", "female") for p in patients)
    return data, patients


def test_summary_json_has_the_documented_keys(indexed: tuple[Path, list[dict[str, str]]]) -> None:
    data, patients = indexed
    pid = patients[0]["patient_id"]
    run = cra(data, "patient", "summary", pid, "--json")
    assert run.returncode == 0, run.stderr
    s = json.loads(run.stdout)
    for key in (
        "patient_id",
        "age",
        "sex",
        "as_of",
        "problems",
        "medications",
        "allergies",
        "latest",
        "trends",
        "flags",
    ):
        assert key in s
    assert s["patient_id"] == pid and s["sex"] == patients[0]["gender"]
    assert s["latest"], "Synthea records carry vitals"
    for fact in s["latest"].values():
        assert fact["cite"] and fact["date"]


def test_as_of_goes_back_in_time(indexed: tuple[Path, list[dict[str, str]]]) -> None:
    data, patients = indexed
    pid = patients[0]["patient_id"]
    now = json.loads(cra(data, "patient", "summary", pid, "--json").stdout)
    born = int(patients[0]["birth_date"][:4])
    then = json.loads(cra(data, "patient", "summary", pid, "--as-of", f"{born + 20}-06-30", "--json").stdout)
    assert then["as_of"] == f"{born + 20}-06-30" and then["age"] in (19, 20)
    assert all(f["date"][:10] <= then["as_of"] for f in then["latest"].values())
    assert now["age"] is None or now["age"] >= then["age"]


def test_search_stays_inside_the_patient_and_window(indexed: tuple[Path, list[dict[str, str]]]) -> None:
    data, patients = indexed
    pid = patients[1]["patient_id"]
    run = cra(data, "patient", "search", pid, "blood pressure", "-k", "20", "--since", "2010-01-01",
              "--types", "Observation", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)["hits"]
    assert hits
    for h in hits:
        assert (
            h["patient_id"] == pid and h["resource_type"] == "Observation" and h["date"][:10] >= "2010-01-01"
        )
        for key in ("patient_id", "resource_type", "resource_id", "date", "text", "score"):
            assert key in h


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("patient", "summary", "no-such-patient"), "no record for patient"),
        (("patient", "summary", "x", "--as-of", "yesterday"), "--as-of"),
        (("patient", "search", "x", "q", "--since", "someday"), "--since"),
    ],
)
def test_bad_input(indexed: tuple[Path, list[dict[str, str]]], args: tuple[str, ...], needle: str) -> None:
    data, _ = indexed
    run = cra(data, *args)
    assert run.returncode == 2 and needle in run.stderr and "Traceback" not in run.stderr


def test_delete_is_the_last_word(indexed: tuple[Path, list[dict[str, str]]]) -> None:
    from agent.checkpoints import open_checkpointer
    from agent.graph import build_graph
    from agent.settings import AgentSettings
    from service.feedback import FeedbackStore

    data, patients = indexed
    pid, kept = patients[-1]["patient_id"], patients[0]["patient_id"]
    saver, close = open_checkpointer(AgentSettings(data_dir=data))
    graph = build_graph(saver)
    feedback = FeedbackStore.at(data)
    for patient, thread in ((pid, "erase-me"), (kept, "keep-me")):  # as the API writes a turn
        turn = {
            "question": "latest LDL?",
            "answer": "LDL-C 131 mg/dL on 2019-05-02 [P1].",
            "mode": "evidence",
        }
        config = {"configurable": {"thread_id": thread}}
        graph.update_state(config, {"patient_id": patient, "history": [turn]}, as_node="finish")
        answer = {"patient_id": patient, "answer": turn["answer"], "mode": "evidence", "evidence": []}
        feedback.remember_answer(f"answer-{thread}", turn["question"], answer, key_id="k1")
        feedback.add("answer", {"answer_id": f"answer-{thread}", "rating": "down", "correction": "see 2019"})
    feedback.close()
    close()
    run = cra(data, "patient", "delete", pid, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["deleted"] == report["stores"]["events"] > 100
    assert report["stores"] | {"events": 0} == {
        "events": 0, "threads": 1, "feedback_answers": 1, "feedback_records": 1
    }  # fmt: skip
    assert cra(data, "patient", "summary", pid).returncode == 2
    again = json.loads(cra(data, "patient", "delete", pid, "--json").stdout)
    assert again["deleted"] == 0 and set(again["stores"].values()) == {0}
    remaining = json.loads(cra(data, "patient", "list", "--json").stdout)
    assert pid not in {p["patient_id"] for p in remaining} and len(remaining) == 3
    saver, close = open_checkpointer(AgentSettings(data_dir=data))
    try:
        threads = {
            t.config["configurable"]["thread_id"]: t.checkpoint["channel_values"] for t in saver.list(None)
        }
    finally:
        close()
    assert "erase-me" not in threads and threads["keep-me"]["patient_id"] == kept
    store = FeedbackStore.at(data)
    assert store.answer("answer-erase-me") is None and store.answer("answer-keep-me") is not None
    assert store.count() == 1
    store.close()


def test_index_exits_non_zero_when_no_file_could_be_read(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "other.json").write_text(json.dumps({"resourceType": "Patient", "id": "p"}, indent=2))
    run = cra(tmp_path / "data", "index", "patients", str(tmp_path / "empty.json"), str(tmp_path / "other.json"),
              str(tmp_path / "missing.json"), "--json")  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert len(json.loads(run.stdout)["files_skipped"]) == 3  # the report still comes out
    assert "nothing was indexed" in run.stderr


def test_index_output_names_fields_never_values_and_survives_a_deep_bundle(tmp_path: Path) -> None:
    """A 100,000-deep Bundle ended the run with a traceback; values in the wrong field were echoed."""
    depth = 100_000
    (tmp_path / "a_deep.json").write_text('{"resourceType": "Bundle", "entry": [{"resource": ' * depth + "{}"
                                          + "}]}" * depth)  # fmt: skip
    obs = {"resourceType": "Observation", "id": "o1", "meta": {"versionId": "1"}, "status": "final",
           "code": {"text": "Glucose"}, "subject": {"reference": "Patient/pat"},
           "valueQuantity": {"value": 98, "unit": "mg/dL"}}  # fmt: skip
    lines = [
        {"resourceType": "Patient", "id": "pat"},
        obs,
        obs | {"valueQuantity": {"value": 250, "unit": "mg/dL"}},
        obs | {"id": "o2", "effectiveDateTime": "SSN 999-12-3456"},
    ]
    (tmp_path / "b.ndjson").write_text("".join(json.dumps(r) + "\n" for r in lines))
    run = cra(tmp_path / "data", "index", "patients", str(tmp_path))
    text = run.stdout + run.stderr
    assert run.returncode == 0, text
    assert "Traceback" not in text and "999-12-3456" not in text
    assert "a_deep.json: JSON nested too deeply" in text
    assert "effectiveDateTime" in text
    assert "conflicting duplicates 1" in text and "conflict Observation/o1" in text
