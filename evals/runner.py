"""Running a suite's cases: seeded, recorded and resumable.

Every finished case is appended to ``cases.jsonl`` in the suite's folder, keyed by the case id and
the hash of the run's settings. A run that is interrupted (or run again with the same settings)
reads that log first and only computes the cases it does not hold yet; a change of settings gets a
new hash, so old answers are never mixed with new ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Case", "CaseLog", "config_hash", "run_cases"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Case:
    """One unit of work: a stable id and the inputs the system is given."""

    id: str
    inputs: dict[str, Any] = field(default_factory=dict)


def config_hash(settings: dict[str, Any]) -> str:
    """A short hash of everything that can change a case's outputs."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


class CaseLog:
    """The append-only ``cases.jsonl`` of one suite: one JSON line per finished case."""

    def __init__(self, path: Path, config: str) -> None:
        self.path = path
        self.config = config
        self._lock = threading.Lock()

    def done(self) -> dict[str, dict[str, Any]]:
        """Finished cases of this configuration, by case id (a torn last line is ignored; a case
        that ended in an error is not finished, so a resumed run tries it again)."""
        found: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return found
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted write
            if record.get("config_hash") != self.config:
                continue
            if record.get("error"):
                found.pop(record["id"], None)
            else:
                found[record["id"]] = record
        return found

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({**record, "config_hash": self.config}, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)

    def reset(self) -> None:
        """Forget every finished case (``--fresh``)."""
        self.path.unlink(missing_ok=True)


def run_cases(
    cases: Sequence[Case],
    score: Callable[[Case], dict[str, Any]],
    caselog: CaseLog,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Score every case not already in the log; return all records in the order of ``cases``.

    ``score`` returns ``{"outputs": ..., "scores": ...}`` (plus anything else worth keeping); the
    record adds the id, the inputs and the seconds the case took. A case that raises is recorded
    with its error, so one bad case never stops a long run.
    """
    done = caselog.done()
    todo = [c for c in cases if c.id not in done]
    if done:
        log.info("resuming: %d of %d cases already done", len(cases) - len(todo), len(cases))

    def one(case: Case) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            body = score(case)
        except Exception as exc:  # recorded, not raised: a long run must survive one bad case
            log.warning("case %s failed: %s", case.id, exc)
            body = {"outputs": {}, "scores": {}, "error": f"{type(exc).__name__}: {exc}"}
        record = {"id": case.id, "inputs": case.inputs, **body}
        record["seconds"] = round(time.perf_counter() - started, 3)
        caselog.append(record)
        return record

    finished = len(cases) - len(todo)
    results: Iterable[dict[str, Any]]
    if workers > 1:
        pool = ThreadPoolExecutor(max_workers=workers)
        results = pool.map(one, todo)
    else:
        pool = None
        results = map(one, todo)
    try:
        for record in results:
            done[record["id"]] = {**record, "config_hash": caselog.config}
            finished += 1
            if progress:
                progress(finished, len(cases))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return [done[c.id] for c in cases]
