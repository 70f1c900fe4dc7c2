"""The FastAPI application: routes, governance stores, limits and lifecycle, built by ``create_app``."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from service.api import ask, chat, evidence, feedback, health, patients, search, threads
from service.api.depends import require_json
from service.api.errors import install_error_handlers
from service.api.health import require_ops_key
from service.api.middleware import RequestContext, SecurityHeaders
from service.api.settings import ServeSettings
from service.deps import Deps
from service.feedback import FeedbackStore
from service.keys import open_key_store
from service.limits import BodySizeLimit, RateLimiter
from service.metrics import Metrics
from service.private_files import private_dir, private_umask
from service.runtime import tune_gc
from service.shared_state import ReplayStore, StateSettings, open_shared_state

__all__ = ["create_app"]

log = logging.getLogger(__name__)
WEB_DIR = Path(str(files("service") / "web"))


def _v1_router() -> APIRouter:
    """Every /v1 route: JSON bodies only; each route takes the caller's API key (``CurrentCaller``)."""
    v1 = APIRouter(dependencies=[Depends(require_json)])
    for module in (ask, threads, chat, feedback, patients, evidence, search):
        v1.include_router(module.router)
    return v1


def _include_cds(app: FastAPI, replay: ReplayStore, host: str) -> None:
    """The CDS Hooks routes (their own JWT auth, not our API keys), when that package is present.

    Their token verifier remembers ``jti`` values in the shared ``replay`` store, so a token
    replayed to another replica is refused too.

    Raises:
        ValueError: CDS Hooks would be unsafe on ``host`` (no ``CRA_CDS_BASE_URL`` off loopback,
            or JWT checks disabled there); ``cra serve`` says so before it gets here.
    """
    try:
        from service.cds.routes import CdsState
        from service.cds.routes import router as cds_router  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        log.warning("CDS Hooks routes not mounted", extra={"reason": type(exc).__name__})
        return
    state = CdsState(replay=replay)
    problem = state.settings.public_bind_problem(host)
    if problem:
        raise ValueError(problem)
    app.state.cds = state
    app.include_router(cds_router)


def _include_docs(app: FastAPI) -> None:
    """/openapi.json, /docs and /redoc behind an API key (``CRA_API_DOCS_AUTH``)."""
    key = [Depends(require_ops_key)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=key)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=key)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    @app.get("/redoc", include_in_schema=False, dependencies=key)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


def create_app(deps: Deps | None = None, settings: ServeSettings | None = None) -> FastAPI:
    """The service over ``deps`` (built from the environment when ``None``; then the app closes it).

    State for routes and other packages: ``deps``, ``audit`` (``append(record)``), ``feedback``
    (``add(kind, record)``), ``keys``, ``metrics``, ``shared`` (the audit, jti and rate stores that
    replicas share: SQLite in the data dir or Postgres, per ``CRA_STATE_URL``).
    """
    owned = deps is None
    deps = deps or Deps()
    settings = settings or ServeSettings()
    data_dir = deps.settings.data_dir
    private_umask()  # Deps did too; a served process must, whoever built its Deps
    private_dir(data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await anyio.to_thread.run_sync(lambda: deps.agent)  # load the model once, before traffic
            app.state.warm = True
            tune_gc()  # after the models are in: the collector no longer rescans them under load
        except Exception as exc:
            log.error("agent could not be built; /readyz will say so", extra={"error": type(exc).__name__})
        # deps.store only when it opened: an unreachable Qdrant leaves the service up and unready
        store = deps.store.target if app.state.warm else "unavailable"
        log.info("service ready", extra={"store": store, "llm": bool(deps.settings.llm_base_url)})
        try:
            yield
        finally:
            log.info("service stopping")
            for store in (app.state.shared, app.state.feedback, app.state.keys, app.state.metrics):
                store.close()
            if owned:
                deps.close()

    protect_docs = settings.docs_need_key
    app = FastAPI(
        title="Clinical reasoning agent",
        version="0.1.0",
        description="Cited answers from clinical guidelines and patient records.",
        lifespan=lifespan,
        # protected: the same three pages, added below behind a key
        openapi_url=None if protect_docs else "/openapi.json",
        docs_url=None if protect_docs else "/docs",
        redoc_url=None if protect_docs else "/redoc",
    )
    app.state.deps = deps
    app.state.serve_settings = settings
    state_url = StateSettings().target(deps.settings.checkpointer_url)
    shared = open_shared_state(data_dir, state_url)
    app.state.shared = shared
    app.state.audit = shared.audit
    app.state.feedback = FeedbackStore.at(data_dir)
    app.state.keys = open_key_store(data_dir, state_url, settings.api_keys_db)  # where cra keys writes
    app.state.metrics = Metrics()
    app.state.rate_limiter = RateLimiter(settings.api_rate_per_minute, settings.api_rate_burst, shared.rates)
    app.state.answer_slots = threading.BoundedSemaphore(settings.api_max_concurrent_answers)
    app.state.warm = False

    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(_v1_router())
    _include_cds(app, shared.replay, settings.serve_host)
    if protect_docs:
        _include_docs(app)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api_max_body_bytes,
        path_limits={"/cds-services": settings.cds_max_body_bytes},
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext, state=app.state)  # outermost: sees every reply, 413s included
    return app
