"""``cra patient assess`` as a user runs it, on one real Synthea record indexed by ``cra index patients``."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from assessments import ASSESSMENT_IDS, assess
from patient_index.events import events_from_bundle
from tests.integration.test_cli import cra

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PATIENT_FILE = "Morris_Lockman_cd9e9826-aea1-4682-adc0-c1d97633bf31.json"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, str, Path]:
    source = shared_data / "synthea-r4" / PATIENT_FILE
    if not source.is_file():
        pytest.skip(f"{PATIENT_FILE} not in the shared data set")
    root = tmp_path_factory.mktemp("assess-records")
    shutil.copy(source, root / source.name)
    data = tmp_path_factory.mktemp("assess-data")
    run = cra(data, "index", "patients", str(root), "--json")
    assert run.returncode == 0, run.stderr
    patient_id = json.loads(source.read_text(encoding="utf-8"))["entry"][0]["resource"]["id"]
    return data, patient_id, source


def test_json_has_the_documented_shape_and_matches_the_library(indexed: tuple[Path, str, Path]) -> None:
    data, pid, source = indexed
    run = cra(data, "patient", "assess", pid, "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert set(doc) == {"patient_id", "as_of", "assessments"} and doc["patient_id"] == pid
    assert [a["id"] for a in doc["assessments"]] == list(ASSESSMENT_IDS)
    for a in doc["assessments"]:
        assert {"id", "name", "verdict", "statement", "inputs", "missing", "source"} <= set(a)
        assert {"doc_id", "title", "section", "grade"} <= set(a["source"])
        for item in a["inputs"]:
            assert set(item) == {"name", "value", "unit", "date", "event_ids"}
    # the stored timeline gives the same verdicts as the bundle read in process
    events, _ = events_from_bundle(json.loads(source.read_text(encoding="utf-8")))
    direct = {a.id: (a.verdict, a.value) for a in assess(events, as_of=date.fromisoformat(doc["as_of"]))}
    assert {a["id"]: (a["verdict"], a.get("value")) for a in doc["assessments"]} == direct
    verdicts = {a["id"]: a["verdict"] for a in doc["assessments"]}
    assert verdicts["statin"] == "moderate-intensity" and verdicts["glycemic_status"] == "diabetes"


def test_as_of_goes_back_and_the_human_output_reads(indexed: tuple[Path, str, Path]) -> None:
    data, pid, _ = indexed
    then = json.loads(cra(data, "patient", "assess", pid, "--as-of", "2012-01-01", "--json").stdout)
    assert then["as_of"] == "2012-01-01"
    for a in then["assessments"]:
        assert all(
            i["date"] is None or i["date"] <= "2012-01-01" or i["name"] in ("age", "sex") for i in a["inputs"]
        )
    human = cra(data, "patient", "assess", pid)
    assert human.returncode == 0, human.stderr
    assert "Statin therapy" in human.stdout and "source: acc_aha_cholesterol_2018" in human.stdout


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", "01/02/2024"])
def test_an_invalid_as_of_names_the_format_and_exits_2(indexed: tuple[Path, str, Path], bad: str) -> None:
    data, pid, _ = indexed
    run = cra(data, "patient", "assess", pid, "--as-of", bad, "--json")
    assert run.returncode == 2
    assert "YYYY-MM-DD" in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_patient_is_a_clear_error(indexed: tuple[Path, str, Path]) -> None:
    data, _, _ = indexed
    run = cra(data, "patient", "assess", "no-such-patient", "--json")
    assert run.returncode != 0 and "no record for patient" in run.stderr and "Traceback" not in run.stderr
