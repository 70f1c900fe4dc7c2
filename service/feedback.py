"""Feedback on answers and cards, and the de-identified data set exported from it for fine-tuning.

Answers are remembered (question, answer, evidence ids) in ``<data dir>/feedback.sqlite`` so that
feedback can refer to them by ``answer_id``; this file holds clinical text, like the thread store,
and stays inside the data dir. Only the export leaves it, de-identified.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.deid import scrub
from service.sqlite_db import open_sqlite, write_transaction

__all__ = ["FeedbackStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT, patient_id TEXT,
    question TEXT NOT NULL, answer TEXT NOT NULL, evidence TEXT NOT NULL, mode TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL,
    answer_id TEXT, record TEXT NOT NULL
);
"""


def _evidence_ref(item: dict[str, Any]) -> dict[str, Any]:
    """Guideline evidence keeps its chunk id and version; a patient entry keeps only its label (P3)."""
    if item.get("kind") == "guideline":
        return {"id": item["id"], "chunk_id": item.get("ref"), "version": item.get("version", "")}
    return {"id": item["id"], "kind": item.get("kind") or "patient"}


class FeedbackStore:
    """Remembered answers and the feedback given on them (or on CDS cards)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_sqlite(path, _SCHEMA)

    def remember_answer(
        self, answer_id: str, question: str, answer: dict[str, Any], *, key_id: str | None
    ) -> None:
        """Keep what feedback on ``answer_id`` will need: the question, answer text and evidence ids."""
        evidence = [
            {"id": e["id"], "kind": e.get("kind"), "ref": e.get("ref"), "version": e.get("version", "")}
            for e in answer.get("evidence", [])
        ]
        with self._lock:
            self._db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, time.time(), key_id, answer.get("patient_id"), question,
                 answer.get("answer", ""), json.dumps(evidence), answer.get("mode", "")),
            )  # fmt: skip

    def answer(self, answer_id: str) -> dict[str, Any] | None:
        """The remembered answer (``key_id`` and ``patient_id`` included), or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, patient_id, mode FROM answers WHERE answer_id = ?", (answer_id,)
            ).fetchone()
        return None if row is None else {"key_id": row[0], "patient_id": row[1], "mode": row[2]}

    def add(self, kind: str, record: dict[str, Any]) -> None:
        """Store one feedback record: ``kind`` ``answer`` (from /v1/feedback) or ``cds`` (card outcomes)."""
        if not kind or not kind.isidentifier():
            raise ValueError(f"feedback kind {kind!r} must be a short identifier such as 'answer' or 'cds'")
        with self._lock:
            self._db.execute(
                "INSERT INTO feedback (ts, kind, answer_id, record) VALUES (?, ?, ?, ?)",
                (time.time(), kind, record.get("answer_id"), json.dumps(record, default=str)),
            )

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                (n,) = self._db.execute("SELECT COUNT(*) FROM feedback").fetchone()
            else:
                (n,) = self._db.execute("SELECT COUNT(*) FROM feedback WHERE kind = ?", (kind,)).fetchone()
        return int(n)

    def training_rows(self) -> Iterator[dict[str, Any]]:
        """De-identified rows for fine-tuning: question, evidence ids, answer, correction, rating, outcome."""
        with self._lock:
            rows = self._db.execute(
                "SELECT f.record, a.question, a.answer, a.evidence, a.mode, a.patient_id FROM feedback f "
                "JOIN answers a ON a.answer_id = f.answer_id WHERE f.kind = 'answer' ORDER BY f.id"
            ).fetchall()
        for record_json, question, answer, evidence, mode, patient_id in rows:
            record = json.loads(record_json)
            ids = [patient_id] if patient_id else []
            yield {
                "question": scrub(question, ids),
                "evidence": [_evidence_ref(e) for e in json.loads(evidence)],
                "answer": scrub(answer, ids),
                "correction": scrub(record.get("correction") or "", ids),
                "rating": record.get("rating"),
                "outcome": record.get("outcome"),
                "mode": mode,
            }

    def forget_patient(self, patient_id: str) -> dict[str, int]:
        """Erase the remembered answers about ``patient_id`` and the feedback given on them.

        Returns:
            How many ``answers`` and ``feedback`` rows went.
        """
        with self._lock, write_transaction(self._db) as db:
            feedback = db.execute(
                "DELETE FROM feedback WHERE answer_id IN (SELECT answer_id FROM answers WHERE patient_id = ?)",
                (patient_id,),
            ).rowcount
            answers = db.execute("DELETE FROM answers WHERE patient_id = ?", (patient_id,)).rowcount
        return {"answers": answers, "feedback": feedback}

    @classmethod
    def at(cls, data_dir: Path) -> FeedbackStore:
        """The deployment's store in ``data_dir`` (``feedback.sqlite``)."""
        return cls(data_dir / "feedback.sqlite")

    def close(self) -> None:
        self._db.close()
