"""Reading files in forked processes while the caller embeds and writes.

Validation with ``fhir.resources`` and event mapping are pure Python and take about as
long as embedding and writing together, so on two cores the reading runs in forked
processes, each taking every n-th file, and the caller gets the messages back in file
order (so results are the same as reading in-process). Fork, not spawn: the reader
needs nothing pickled in, and only compact event dicts travel back. Each reader runs at
most a bounded number of chunks ahead, so memory stays bounded on huge files.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import queue
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from patient_index.file_events import Message
from patient_index.report import PatientReport

__all__ = ["read_in_order"]

log = logging.getLogger(__name__)
ReadFn = Callable[[Path], Iterator[Message]]
_AHEAD = 16  # chunks a reader may run ahead of the caller (16 x 500 events)
_POLL_S = 1.0


class ReaderError(RuntimeError):
    """A reader process failed or died; the message says how."""


def _reader(read: ReadFn, files: Sequence[Path], out: Any) -> None:
    try:
        for path in files:
            for message in read(path):
                out.put(message)
    except BaseException as exc:  # hand every failure to the parent, which raises it
        try:
            out.put(ReaderError(f"{type(exc).__name__}: {exc}"))
        finally:
            raise


def read_in_order(
    read: ReadFn, files: Sequence[Path], workers: int
) -> Generator[tuple[int, Message], None, None]:
    """``(file index, message)`` for every file, in file order; ``workers`` 0 reads in-process.

    The messages of each file end with its :class:`PatientReport`.
    """
    workers = min(workers, len(files))
    if workers <= 0:
        for i, path in enumerate(files):
            for message in read(path):
                yield i, message
        return
    ctx = mp.get_context("fork")
    queues = [ctx.Queue(maxsize=_AHEAD) for _ in range(workers)]
    gc.freeze()  # the readers' garbage collector then leaves the parent's objects (and pages) alone
    try:
        procs = [
            ctx.Process(target=_reader, args=(read, files[w::workers], queues[w]), daemon=True)
            for w in range(workers)
        ]
        for p in procs:
            p.start()
    finally:
        gc.unfreeze()
    try:
        for i in range(len(files)):
            q, proc = queues[i % workers], procs[i % workers]
            while True:
                message = _next(q, proc)
                yield i, message
                if isinstance(message, PatientReport):
                    break
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        for q in queues:
            q.close()
            q.cancel_join_thread()


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
