"""The live loopback server of the service tests (it lives in :mod:`evals.live_server`, which the safety suite uses too)."""

from evals.live_server import LiveServer, live_server, world_deps

__all__ = ["LiveServer", "live_server", "world_deps"]
