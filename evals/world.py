"""The indexed world the agent suites ask questions of: guidelines, USPSTF recommendations, patients.

It lives in its own data folder (``<data dir>/eval-world``) so an evaluation never touches the
user's index; indexing is incremental (content-derived ids), so a second run only pays for what
changed. Generated patients come from the Synthea port with a fixed seed, so every run sees the
same people.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.runner import Agent
from agent.settings import AgentSettings

__all__ = ["EvalWorld", "generate_patients", "patient_files", "trimmed_copy"]

log = logging.getLogger(__name__)


def patient_files(folder: Path) -> list[Path]:
    """FHIR Bundle files in ``folder`` (Synthea writes them under ``fhir/``), in name order."""
    if (folder / "fhir").is_dir():
        folder = folder / "fhir"
    return sorted(p for p in folder.glob("*.json") if p.is_file())


def generate_patients(out: Path, count: int, seed: int) -> list[Path]:
    """``count`` Synthea patients with ``seed`` in ``out`` (made once, then reused)."""
    found = [p for p in patient_files(out) if not p.name.startswith(("hospital", "practitioner"))]
    if len(found) >= count:
        return found[:count]
    synthea = Path(sys.executable).with_name("synthea")
    command = [str(synthea), "-p", str(count), "-s", str(seed), "-o", str(out), "--log-level", "error"]
    subprocess.run(command, check=True, capture_output=True, timeout=1800)
    return [p for p in patient_files(out) if not p.name.startswith(("hospital", "practitioner"))][:count]


TRIM_KEEP = frozenset({"Patient", "Condition", "MedicationRequest", "AllergyIntolerance"})


def trimmed_copy(bundle: Path, folder: Path) -> Path:
    """A copy of ``bundle`` with only the resources in ``TRIM_KEEP`` (made once).

    Generated Synthea records run to several megabytes each; the suites that use them need the
    patient's demographics and problem list, not every observation.
    """
    target = folder / bundle.name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(bundle.read_text(encoding="utf-8"))
    data["entry"] = [
        e for e in data.get("entry", []) if (e.get("resource") or {}).get("resourceType") in TRIM_KEEP
    ]
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(target)
    return target


@dataclass
class EvalWorld:
    """An embedded store with the guideline corpora and the chosen patients indexed."""

    root: Path
    dense: Any
    sparse: Any
    guideline_paths: list[str]
    patient_paths: list[Path] = field(default_factory=list)
    store: Any = field(default=None, init=False)
    reports: dict[str, Any] = field(default_factory=dict, init=False)

    def build(self) -> EvalWorld:
        from guidelines_index.indexer import GuidelineIndexer
        from patient_index.indexer import PatientIndexer
        from retrieval.edge_store import EdgeStore

        self.root.mkdir(parents=True, exist_ok=True)
        self.store = EdgeStore(self.root / "qdrant")
        g = GuidelineIndexer(self.store, self.dense, self.sparse, collection="guidelines").index(
            self.guideline_paths
        )
        self.reports["guidelines"] = {"documents": g.documents, "chunks": g.chunks_total}
        if self.patient_paths:
            p = PatientIndexer(self.store, self.dense, self.sparse, collection="patients").index(
                [str(x) for x in self.patient_paths]
            )
            self.reports["patients"] = {
                "files": p.files_read,
                "patients": len(p.patients),
                "events": p.events_total,
                "events_written": p.events_written,
                "seconds": round(p.seconds, 1),
            }
        return self

    def agent(self, llm_url: str = "", llm_model: str = "smollm2", **settings: Any) -> Agent:
        """An agent over this world: evidence mode without ``llm_url``, LLM mode with it."""
        from agent.factory import make_agent
        from retrieval.guidelines import GuidelineSearch
        from retrieval.patients import PatientSearch

        s = AgentSettings(data_dir=self.root, llm_base_url=llm_url, llm_model=llm_model, **settings)
        return make_agent(
            s,
            guidelines=GuidelineSearch(self.store, self.dense, self.sparse, collection="guidelines"),
            patients=PatientSearch(self.store, self.dense, self.sparse, collection="patients"),
            encoder=self.dense,
        )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
