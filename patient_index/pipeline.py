"""Reading files in forked processes while the caller embeds and writes.

Validation with ``fhir.resources`` and event mapping are pure Python and take about as
long as embedding and writing together, so on two cores the reading runs in forked
processes, each taking every n-th file, and the caller gets the messages back in file
order (so results are the same as reading in-process). Fork, not spawn: the reader
needs nothing pickled in, and only compact event dicts travel back. Each reader runs at
most a bounded number of chunks ahead, so memory stays bounded on huge files, and readers
pause while the caller embeds (torch's threads slow down badly when a core is taken).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import queue
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from patient_index.file_events import Message
from patient_index.report import PatientReport

__all__ = ["OrderedReaders", "ReaderError"]

log = logging.getLogger(__name__)
ReadFn = Callable[[Path], Iterator[Message]]
_AHEAD = 16  # chunks a reader may run ahead of the caller
_POLL_S = 1.0


class ReaderError(RuntimeError):
    """A reader process failed or died; the message says how."""


def _reader(read: ReadFn, files: Sequence[Path], out: Any, go: Any) -> None:
    try:
        for path in files:
            for message in read(path):
                go.wait()
                out.put(message)
    except BaseException as exc:  # hand every failure to the parent, which raises it
        try:
            out.put(ReaderError(f"{type(exc).__name__}: {exc}"))
        finally:
            raise


class OrderedReaders:
    """``(file index, message)`` for every file, in file order; ``workers`` 0 reads in-process.

    The messages of each file end with its :class:`PatientReport`. Use it as a context
    manager, so reader processes end with it however the caller leaves.
    """

    def __init__(self, read: ReadFn, files: Sequence[Path], workers: int) -> None:
        self.read = read
        self.files = list(files)
        self.workers = min(workers, len(self.files))
        self._procs: list[Any] = []
        self._queues: list[Any] = []
        self._go: Any = None

    def __enter__(self) -> OrderedReaders:
        if self.workers <= 0:
            return self
        ctx = mp.get_context("fork")
        self._go = ctx.Event()
        self._go.set()
        self._queues = [ctx.Queue(maxsize=_AHEAD) for _ in range(self.workers)]
        gc.freeze()  # the readers' garbage collector then leaves the parent's objects (and pages) alone
        try:
            for w in range(self.workers):
                args = (self.read, self.files[w :: self.workers], self._queues[w], self._go)
                proc = ctx.Process(target=_reader, args=args, daemon=True)
                proc.start()
                self._procs.append(proc)
        finally:
            gc.unfreeze()
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self._procs:
            if p.is_alive():
                p.terminate()
            p.join()
        for q in self._queues:
            q.close()
            q.cancel_join_thread()

    def __iter__(self) -> Iterator[tuple[int, Message]]:
        if self.workers <= 0:
            for i, path in enumerate(self.files):
                for message in self.read(path):
                    yield i, message
            return
        for i in range(len(self.files)):
            q, proc = self._queues[i % self.workers], self._procs[i % self.workers]
            while True:
                message = _next(q, proc)
                yield i, message
                if isinstance(message, PatientReport):
                    break

    def paused(self) -> AbstractContextManager[None]:
        """Readers stop after their current chunk until the block ends (for CPU-heavy caller work)."""
        return _paused(self._go) if self._go is not None else nullcontext()


@contextmanager
def _paused(go: Any) -> Iterator[None]:
    go.clear()
    try:
        yield
    finally:
        go.set()


def _next(q: Any, proc: Any) -> Message:
    while True:
        try:
            message = q.get(timeout=_POLL_S)
        except queue.Empty:
            if proc.is_alive():
                continue
            try:  # it may have put its last message just before ending
                message = q.get(timeout=_POLL_S)
            except queue.Empty:
                raise ReaderError(
                    f"a reader process ended unexpectedly (exit code {proc.exitcode})"
                ) from None
        if isinstance(message, ReaderError):
            raise message
        return message
