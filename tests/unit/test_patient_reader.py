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


def test_errors_never_quote_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The streaming parser's message shows the bytes around a syntax error; a report must not."""
    monkeypatch.setattr(reader, "_LOAD_WHOLE_BYTES", 0)
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", '
                      '"id": "a", "name": SSN 999-12-3456}}]}')  # fmt: skip
    with pytest.raises(ValueError, match="invalid JSON") as caught:
        list(reader.iter_resources(broken))
    assert "999-12-3456" not in str(caught.value)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"resourceType": "SSN 999-12-3456", "id": "p"}, indent=2))
    monkeypatch.setattr(reader, "_LOAD_WHOLE_BYTES", 32_000_000)
    with pytest.raises(ValueError, match="not a FHIR Bundle") as caught:
        list(reader.iter_resources(odd))
    assert "999-12-3456" not in str(caught.value)


@pytest.mark.parametrize("stream", [False, True])
def test_a_bundle_nested_100000_deep_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """Parsed whole it raised RecursionError (a traceback in the CLI); streamed it ran out of memory."""
    if stream:
        monkeypatch.setattr(reader, "_LOAD_WHOLE_BYTES", 0)
    depth = 100_000
    deep = tmp_path / "deep.json"
    deep.write_text('{"resourceType": "Bundle", "entry": [{"resource": ' * depth + "{}" + "}]}" * depth)
    with pytest.raises(ValueError, match="nested too deeply"):
        list(reader.iter_resources(deep))
    lines = tmp_path / "deep.ndjson"
    lines.write_text(
        json.dumps({"resourceType": "Patient", "id": "a"}) + "\n" + "[" * depth + "]" * depth + "\n"
    )
    items = list(reader.iter_resources(lines))
    assert items[0].resource is not None and "nested too deeply" in items[1].error
