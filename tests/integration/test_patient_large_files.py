"""A 200 MB Bundle and a 200 MB NDJSON file go through ``cra index patients`` in bounded memory.

The files repeat realistic Observations (vital signs, a blood-pressure panel, labs, each with a
clinician's note) for three patients, so the embedding cache keeps the model's share small and
the test measures reading, validation and writing. The CLI runs in a child process whose memory
(and that of its reader processes) is polled while it works.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.integration, pytest.mark.slow]

TARGET_BYTES = 200_000_000
PATIENTS = ("big-1", "big-2", "big-3")
# Measured here (RSS, MB): the CLI process peaks at ~650 on a 2 MB file and ~1,085 on these 200 MB
# files (the embedded store keeps ~3.7 KB per point in memory); the reader process that parses
# the file stays at ~445 (pages shared with its parent included) whatever the file size.
# json.loads of one of these files alone adds ~560 MB, so a reader that loaded the file whole
# would pass 1,000 MB and the CLI process (reading in-process on one core) 1,600 MB.
MAX_MAIN_RSS_MB = 1400
MAX_READER_RSS_MB = 700

_NOTE = (
    "Patient seen for routine follow-up. Reports adherence to the current regimen and no new "
    "symptoms since the last visit; denies chest pain, dyspnoea, palpitations or syncope. Home "
    "readings brought to clinic are broadly consistent with today's measurement. Diet and "
    "activity discussed; plans to increase walking to thirty minutes most days. Repeat "
    "measurement at the next scheduled visit, sooner if symptoms develop. "
) * 3


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


_LOINC = "http://loinc.org"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# (category, LOINC code, display, value, unit) or a panel: (category, code, display, [components])
_TEMPLATES: list[dict[str, Any]] = [
    {"category": "vital-signs", "code": _coding(_LOINC, "8302-2", "Body Height"),
     "valueQuantity": _quantity(162.3, "cm")},
    {"category": "vital-signs", "code": _coding(_LOINC, "29463-7", "Body Weight"),
     "valueQuantity": _quantity(71.8, "kg")},
    {"category": "vital-signs", "code": _coding(_LOINC, "55284-4", "Blood Pressure"),
     "component": [
         {"code": _coding(_LOINC, "8462-4", "Diastolic Blood Pressure"),
          "valueQuantity": _quantity(79.9, "mm[Hg]")},
         {"code": _coding(_LOINC, "8480-6", "Systolic Blood Pressure"),
          "valueQuantity": _quantity(121.3, "mm[Hg]")}]},
    {"category": "laboratory", "code": _coding(_LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
     "valueQuantity": _quantity(6.1, "%")},
    {"category": "laboratory", "code": _coding(_LOINC, "2339-0", "Glucose"),
     "valueQuantity": _quantity(97.2, "mg/dL")},
]  # fmt: skip


def _patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1961-04-02"}


def _observations() -> Iterator[tuple[dict[str, Any], int]]:
    """Observations without end, each with how many events it makes (one per component, else one)."""
    n = 0
    while True:
        template = _TEMPLATES[n % len(_TEMPLATES)]
        day = 1 + n % 28
        r: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs-{n}",
            "meta": {"versionId": "1", "lastUpdated": "2024-02-01T10:00:00Z"},
            "status": "final",
            "category": [_coding(_CATEGORY, template["category"], template["category"])],
            "code": template["code"],
            "subject": {"reference": f"Patient/{PATIENTS[n % len(PATIENTS)]}"},
            "effectiveDateTime": f"2023-{1 + n % 12:02d}-{day:02d}T09:30:00+00:00",
            "issued": f"2023-{1 + n % 12:02d}-{day:02d}T09:31:07.120+00:00",
            "note": [{"text": _NOTE}],
        }
        if "component" in template:
            r["component"] = copy.deepcopy(template["component"])
            r["component"][0]["valueQuantity"]["value"] = 70 + n % 20
        else:
            r["valueQuantity"] = dict(
                template["valueQuantity"], value=template["valueQuantity"]["value"] + n % 7
            )
        yield r, len(template.get("component", [])) or 1
        n += 1


def _write_resources(path: Path, bundle: bool) -> int:
    """Write at least TARGET_BYTES of resources to ``path``; returns the events they should make."""
    events = 0
    with path.open("w") as fh:
        if bundle:
            fh.write('{"resourceType": "Bundle", "type": "collection", "entry": [\n')
        resources = ((_patient(pid), 1) for pid in PATIENTS)
        observations = _observations()
        first = True
        while fh.tell() < TARGET_BYTES:
            resource, n_events = next(resources, None) or next(observations)
            events += n_events
            text = json.dumps(resource)
            if bundle:
                fh.write(("" if first else ",\n") + json.dumps({"fullUrl": f"urn:x:{resource['id']}"})[:-1])
                fh.write(f', "resource": {text}}}')
            else:
                fh.write(text + "\n")
            first = False
        if bundle:
            fh.write("\n]}\n")
    return events


def _run_watched(data: Path, source: Path) -> tuple[dict[str, Any], float, float, float]:
    """Run ``cra index patients`` on one file; its report, peak RSS (MB) of it and of its readers, seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--data-dir",
            str(data),
            "index",
            "patients",
            str(source),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    watched = psutil.Process(proc.pid)
    peak_main = peak_reader = 0.0
    while proc.poll() is None:
        try:
            peak_main = max(peak_main, watched.memory_info().rss / 1e6)
            for child in watched.children(recursive=True):
                peak_reader = max(peak_reader, child.memory_info().rss / 1e6)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, err
    return json.loads(out), peak_main, peak_reader, seconds


@pytest.mark.parametrize("bundle", [True, False], ids=["bundle", "ndjson"])
def test_200_mb_file_is_streamed_in_bounded_memory(tmp_path: Path, bundle: bool) -> None:
    source = tmp_path / ("big.json" if bundle else "big.ndjson")
    expected_events = _write_resources(source, bundle)
    assert source.stat().st_size >= TARGET_BYTES
    report, peak_main, peak_reader, seconds = _run_watched(tmp_path / "data", source)
    measured = (f"{source.name}: {source.stat().st_size / 1e6:.0f} MB, {report['events_total']} events, "
                f"{seconds:.0f} s, peak RSS {peak_main:.0f} MB (CLI), {peak_reader:.0f} MB (reader)")  # fmt: skip
    log.info(measured)
    assert report["files_read"] == 1 and report["files_skipped"] == [] and report["skipped"] == []
    assert report["patients"] == len(PATIENTS)
    assert report["events_total"] == report["events_written"] == expected_events
    assert peak_main < MAX_MAIN_RSS_MB and peak_reader < MAX_READER_RSS_MB, measured
