"""A real uvicorn server on loopback over a ``Deps`` that reuses an open store: service tests and the safety suite."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from service.api.settings import ServeSettings
from service.app import create_app
from service.deps import Deps

__all__ = ["LiveServer", "live_server", "world_deps"]


def world_deps(world: Any, data_dir: Path, **settings: Any) -> Deps:
    """A ``Deps`` over the world's open store and encoder, with its own data dir (keys, audit, threads)."""
    deps = Deps(world.settings.model_copy(update={"data_dir": data_dir, **settings}))
    deps.store = world.store
    deps.dense = world.dense
    return deps


class LiveServer:
    """The app served by uvicorn in a thread; ``url`` is its base address."""

    def __init__(self, app: Any, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self.app = app
        self.server = server
        self.thread = thread
        self.url = f"http://127.0.0.1:{port}"

    def key(self, role: str = "clinician", patients: tuple[str, ...] = ("*",), name: str = "test") -> str:
        """A fresh API key for this server."""
        return str(self.app.state.keys.create(name, role, list(patients))[1])

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def live_server(deps: Deps, **serve: Any) -> Iterator[LiveServer]:
    """Serve ``create_app(deps)`` on a free loopback port until the block ends (graceful stop)."""
    app = create_app(deps, ServeSettings(**serve))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    live = LiveServer(app, server, thread, port)
    try:
        yield live
    finally:
        live.stop()
        sock.close()
