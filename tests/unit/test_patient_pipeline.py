"""Forked readers hand back exactly what reading in-process gives, in file order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patient_index.file_events import FileEvents, Message
from patient_index.pipeline import OrderedReaders, ReaderError
from patient_index.report import PatientReport


def _bundle(pid: str, n_obs: int) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"resource": {"resourceType": "Patient", "id": pid, "gender": "male"}}]
    for i in range(n_obs):
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"{pid}-o{i}",
                    "status": "final",
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]
                    },
                    "subject": {"reference": f"Patient/{pid}"},
                    # some invalid, each reported by its position
                    "effectiveDateTime": f"2023-01-{1 + i % 28:02d}" if i % 7 else "yesterday",
                    "valueQuantity": {"value": 90 + i, "unit": "mg/dL"},
                }
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    paths = []
    for n in range(5):
        path = tmp_path / f"p{n}.json"
        path.write_text(json.dumps(_bundle(f"p{n}", 300 + 50 * n)))
        paths.append(path)
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    (tmp_path / "empty.json").write_text("")
    return [*paths[:2], tmp_path / "broken.json", *paths[2:], tmp_path / "empty.json"]


def _collect(files: list[Path], workers: int) -> list[tuple[int, Any]]:
    with OrderedReaders(FileEvents(validate=True, chunk=100), files, workers) as readers:
        return [(n, m.as_json() if isinstance(m, PatientReport) else m) for n, m in readers]


def test_forked_readers_match_reading_in_process(files: list[Path]) -> None:
    alone = _collect(files, 0)
    assert [n for n, m in alone if isinstance(m, dict)] == list(range(len(files)))
    assert sum(m["resources_skipped"] for _, m in alone if isinstance(m, dict)) > 0
    assert _collect(files, 1) == alone
    assert _collect(files, 2) == alone


def _failing(path: Path) -> Iterator[Message]:
    raise OSError(f"disk went away under {path.name}")
    yield PatientReport()  # pragma: no cover - makes this a generator


def test_a_failing_reader_is_reported(files: list[Path]) -> None:
    with OrderedReaders(_failing, files, 2) as readers, pytest.raises(ReaderError, match="disk went away"):
        list(readers)
