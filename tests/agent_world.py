"""A small real world for agent tests: four open-medicine guidelines, the demo protocol, three Synthea patients.

The ``world`` fixture (module scope; about 40 s to build) is registered for tests/integration/ in its
conftest.py; annotate it with ``World`` from here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.checkpoints import open_checkpointer
from agent.factory import make_agent
from agent.runner import Agent
from agent.settings import AgentSettings
from guidelines_index.corpora import corpus_path
from guidelines_index.indexer import GuidelineIndexer
from patient_index.indexer import PatientIndexer
from retrieval.edge_store import EdgeStore
from retrieval.guidelines import GuidelineSearch
from retrieval.patients import PatientSearch

__all__ = ["World", "world"]

ROOT = Path(__file__).resolve().parents[2]
GUIDELINE_DIRS = (
    "acc_aha_cholesterol_2018",
    "ada_diabetes_2024",
    "kdigo_ckd_2024",
    "acc_aha_hypertension_2017",
)


class World:
    """A data dir with four real guidelines, the demo protocol and three Synthea patients indexed."""

    def __init__(self, root: Path, shared: Path, dense: Any, sparse: Any) -> None:
        self.settings = AgentSettings(data_dir=root)
        self.store = EdgeStore(root / "qdrant")
        content = corpus_path("open-medicine")
        GuidelineIndexer(self.store, dense, sparse, collection="guidelines").index(
            [str(content / d) for d in GUIDELINE_DIRS] + [str(ROOT / "examples" / "guidelines")]
        )
        fhir = root / "fhir"
        fhir.mkdir()
        for f in sorted((shared / "synthea-r4").glob("*.json"))[:3]:
            shutil.copy(f, fhir / f.name)
        PatientIndexer(self.store, dense, sparse, collection="patients").index([str(fhir)])
        self.dense, self.sparse = dense, sparse
        self._searches()
        self.patient_ids = sorted(
            {p["patient_id"] for _, p in self.store.scroll("patients", None, fields=["patient_id"])}
        )

    def _searches(self) -> None:
        self.guidelines = GuidelineSearch(self.store, self.dense, self.sparse, collection="guidelines")
        self.patients = PatientSearch(self.store, self.dense, self.sparse, collection="patients")

    def reopen(self) -> None:
        """Open the store again after a child process used the data dir (one process at a time)."""
        self.store = EdgeStore(self.settings.data_dir / "qdrant")
        self._searches()

    def agent(self, llm: Any = None, *, threads: bool = True, **guards: Any) -> Agent:
        """An agent over this world (``guards``: input_guard, output_guard, evidence_guard overrides)."""
        saver = open_checkpointer(self.settings)[0] if threads else None
        return make_agent(
            self.settings,
            guidelines=self.guidelines,
            patients=self.patients,
            encoder=self.dense,
            checkpointer=saver,
            llm=llm,
            **guards,
        )


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, dense_encoder: Any, sparse_encoder: Any
) -> World:
    return World(tmp_path_factory.mktemp("agent"), shared_data, dense_encoder, sparse_encoder)
