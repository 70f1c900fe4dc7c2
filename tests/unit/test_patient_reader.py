"""Both Bundle paths (parsed whole, streamed entry by entry) must read the same resources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patient_index import reader


def _bundle(path: Path, *, sort_keys: bool) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:p1",
                "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"},
            },
            {
                "fullUrl": "urn:uuid:o1",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"text": "Pulse"},
                    "subject": {"reference": "urn:uuid:p1"},
                    "valueQuantity": {"value": 72.5, "unit": "/min"},
                },
            },
            {"fullUrl": "urn:uuid:x"},
        ],
    }
    path.write_text(json.dumps(bundle, sort_keys=sort_keys))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("sort_keys", [False, True])
def test_whole_and_streamed_reads_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool, sort_keys: bool
) -> None:
    path = tmp_path / "b.json"
    _bundle(path, sort_keys=sort_keys)
    if stream:
        monkeypatch.setattr(reader, "_LOAD_WHOLE_BYTES", 0)
    items = list(reader.iter_resources(path))
    assert [i.position for i in items] == ["entry[0]", "entry[1]", "entry[2]"]
    assert items[0].resource is not None and items[0].full_url == "urn:uuid:p1"
    assert items[1].resource is not None and items[1].resource["valueQuantity"]["value"] == 72.5
    assert isinstance(items[1].resource["valueQuantity"]["value"], float)
    assert items[2].resource is None and "without a FHIR resource" in items[2].error


@pytest.mark.parametrize("stream", [False, True])
def test_not_a_bundle_and_broken_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    if stream:
        monkeypatch.setattr(reader, "_LOAD_WHOLE_BYTES", 0)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"resourceType": "Patient", "id": "p"}, indent=2))
    with pytest.raises(ValueError, match="not a FHIR Bundle"):
        list(reader.iter_resources(other))
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "a"}}, '
    )
    with pytest.raises(ValueError, match="invalid JSON"):
        list(reader.iter_resources(broken))
