"""The dependencies a command or request needs, built lazily from settings and shared."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from agent.settings import AgentSettings
from retrieval.guidelines import GuidelineSearch
from retrieval.patients import PatientSearch
from retrieval.store import VectorStore, open_store
from service.private_files import private_dir, private_file, private_umask

if TYPE_CHECKING:  # the encoders (numpy, onnxruntime) load on first use, not with every command
    from agent.runner import Agent
    from retrieval.embedders import Bm25SparseEncoder, SentenceTransformerEncoder

__all__ = ["Deps"]


@dataclass
class Deps:
    """Settings plus the store, encoders and agent, each built on first use and then reused.

    The store is opened once even when the first requests after a start ask for it at the same
    time (the embedded engine refuses a second open of its folders).

    Building one narrows the process umask to 077: every command and server that builds a
    ``Deps`` reads or writes the data dir, which holds PHI, and the files the vector engine and
    LangGraph create there are then born private (0600, folders 0700).
    """

    settings: AgentSettings = field(default_factory=AgentSettings)
    _closers: list[Any] = field(default_factory=list, init=False, repr=False)
    _store_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        private_umask()

    @cached_property
    def store(self) -> VectorStore:
        # cached_property alone does not serialize first uses (Python 3.12 dropped its lock): the
        # store is put in place under this lock, so a second caller finds it instead of reopening.
        with self._store_lock:
            if "store" not in self.__dict__:
                self.__dict__["store"] = open_store(self.settings)
            store: VectorStore = self.__dict__["store"]
            return store

    @cached_property
    def dense(self) -> SentenceTransformerEncoder:
        from retrieval.embedders import make_dense_encoder

        return make_dense_encoder(self.settings)

    @cached_property
    def sparse(self) -> Bm25SparseEncoder:
        from retrieval.embedders import Bm25SparseEncoder

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

    @cached_property
    def agent(self) -> Agent:
        """The agent over this store, with threads persisted by the configured checkpointer."""
        from agent.checkpoints import open_checkpointer
        from agent.factory import make_agent

        if not self.settings.checkpointer_url:  # threads hold questions about patients: owner only
            private_dir(self.settings.data_dir)
        saver, closer = open_checkpointer(self.settings)
        self._closers.append(closer)
        if not self.settings.checkpointer_url and self.settings.threads_db.exists():
            private_file(self.settings.threads_db)
        return make_agent(
            self.settings,
            guidelines=self.guideline_search,
            patients=self.patient_search,
            encoder=self.dense,
            checkpointer=saver,
        )

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        if "store" in self.__dict__:
            self.store.close()
