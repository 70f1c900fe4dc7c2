"""Shared fixtures: the real embedding model (loaded once), fresh data folders, the shared data set."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach beyond loopback: a connection elsewhere fails at once instead of hanging."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "::1", "localhost")
            and self.family != socket.AF_UNIX
        ):
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The outside data set beside the checkout; tests that need it skip, loudly, without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dense_encoder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 encoder, loaded once per test session."""
    from retrieval.embedders import make_dense_encoder
    from retrieval.settings import Settings

    return make_dense_encoder(Settings())


@pytest.fixture(scope="session")
def sparse_encoder():  # type: ignore[no-untyped-def]
    from retrieval.embedders import Bm25SparseEncoder

    return Bm25SparseEncoder()


@pytest.fixture
def edge_store(tmp_path: Path) -> Iterator[object]:
    """A fresh embedded Qdrant engine in a temporary folder."""
    from retrieval.edge_store import EdgeStore

    store = EdgeStore(tmp_path / "qdrant")
    yield store
    store.close()
