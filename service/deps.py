"""The dependencies a command or request needs, built lazily from settings and shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from retrieval.embedders import Bm25SparseEncoder, SentenceTransformerEncoder, make_dense_encoder
from retrieval.guidelines import GuidelineSearch
from retrieval.patients import PatientSearch
from retrieval.settings import Settings
from retrieval.store import VectorStore, open_store

__all__ = ["Deps"]


@dataclass
class Deps:
    """Settings plus the store and encoders, each built on first use and then reused."""

    settings: Settings = field(default_factory=Settings)

    @cached_property
    def store(self) -> VectorStore:
        return open_store(self.settings)

    @cached_property
    def dense(self) -> SentenceTransformerEncoder:
        return make_dense_encoder(self.settings)

    @cached_property
    def sparse(self) -> Bm25SparseEncoder:
        return Bm25SparseEncoder()

    @cached_property
    def guideline_search(self) -> GuidelineSearch:
        return GuidelineSearch(
            self.store,
            self.dense,
            self.sparse,
            collection=self.settings.guideline_collection,
            rrf_k=self.settings.rrf_k,
        )

    @cached_property
    def patient_search(self) -> PatientSearch:
        return PatientSearch(
            self.store,
            self.dense,
            self.sparse,
            collection=self.settings.patient_collection,
            rrf_k=self.settings.rrf_k,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
