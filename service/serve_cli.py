"""``cra serve``, ``cra keys create|list|revoke|import``, ``cra audit head|verify``, ``cra feedback export``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli import _deps, app, err, fail, out

if TYPE_CHECKING:  # each command imports what it uses: `cra --help` loads none of pydantic or prometheus
    from service.api.settings import ServeSettings
    from service.keys import KeyStore
    from service.shared_state import SharedState

__all__ = ["audit_app", "feedback_app", "keys_app", "serve", "worker_app"]

keys_app = typer.Typer(help="API keys of the HTTP service (stored hashed).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
feedback_app = typer.Typer(help="Clinicians' feedback on answers.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(feedback_app, name="feedback")


@contextmanager
def _reaching_state(what: str = "") -> Iterator[None]:
    """Turn an unusable ``CRA_STATE_URL`` (or an unreachable Postgres behind it) into a message and exit 2."""
    from pydantic import ValidationError

    from service.shared_state import StateUnavailableError

    try:
        yield
    except (StateUnavailableError, ValidationError) as exc:
        raise fail(f"{what}{exc}; check CRA_STATE_URL (or CRA_CHECKPOINTER_URL, which it follows)") from exc


def _keys(ctx: typer.Context) -> KeyStore:
    """The key store the server reads: ``CRA_API_KEYS_DB``, else the shared state's Postgres, else the data dir."""
    from service.api.settings import ServeSettings
    from service.keys import open_key_store
    from service.shared_state import StateSettings

    settings = _deps(ctx).settings
    with _reaching_state("API keys: "):
        state_url = StateSettings().target(settings.checkpointer_url)
        return open_key_store(settings.data_dir, state_url, ServeSettings().api_keys_db)


def _shared(ctx: typer.Context) -> SharedState:
    """The shared stores ``cra serve`` uses (``CRA_STATE_URL``), or a message saying how to reach them."""
    from service.shared_state import StateSettings, open_shared_state

    settings = _deps(ctx).settings
    with _reaching_state():
        return open_shared_state(settings.data_dir, StateSettings().target(settings.checkpointer_url))


def worker_app() -> Any:
    """The app one uvicorn worker serves under ``cra serve --workers N`` (everything from the environment)."""
    from service.app import create_app
    from service.logs import configure_logging

    configure_logging()
    return create_app()


def _uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """How uvicorn serves, one process or several: our JSON logs only, graceful stop, no banner."""
    return {
        "host": settings.serve_host,
        "port": settings.serve_port,
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": int(settings.serve_graceful_s),
        "server_header": False,
    }


def _serve_workers(settings: ServeSettings, workers: int) -> None:
    """Several worker processes on one socket; each builds its app from the environment.

    Their metrics meet in one ``PROMETHEUS_MULTIPROC_DIR`` (a fresh one unless it is set), so
    ``/metrics`` answers for every worker.
    """
    import uvicorn

    from service.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="cra-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # numbers of an earlier run would be summed in
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        uvicorn.run(
            "service.serve_cli:worker_app", factory=True, workers=workers, **_uvicorn_options(settings)
        )
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default $CRA_SERVE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default $CRA_SERVE_PORT or 8080).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes on one port (needs CRA_QDRANT_URL when over 1).",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API, the OpenAI-compatible endpoint and the chat page (Ctrl-C or SIGTERM stops it).

    Several workers (or replicas) share the audit chain, rate limits and CDS Hooks token ids through
    ``CRA_STATE_URL`` (SQLite in the data dir on one host, Postgres across hosts).
    """
    import uvicorn
    from pydantic import ValidationError

    from service.api.settings import ServeSettings, is_loopback
    from service.app import create_app
    from service.logs import configure_logging

    deps = _deps(ctx)
    overrides: dict[str, Any] = {
        k: v for k, v in (("serve_host", host), ("serve_port", port)) if v is not None
    }
    try:
        settings = ServeSettings(**overrides)
    except ValidationError as exc:
        raise fail(exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc
    keys = _keys(ctx)
    live = keys.active_count()
    keys.close()
    if settings.api_auth == "keys" and live == 0 and not is_loopback(settings.serve_host):
        raise fail(
            f"no API keys exist, so nobody could use the API on {settings.serve_host}; "
            "create one first: cra keys create --name NAME --role clinician --patient ID"
        )
    try:
        from service.cds.settings import CdsSettings

        cds_problem = CdsSettings().public_bind_problem(settings.serve_host)
    except ImportError:  # the CDS package is optional: without it no CDS route is served
        cds_problem = None
    except ValidationError as exc:
        raise fail(f"CDS Hooks settings: {exc.errors()[0]['msg']}") from exc
    if cds_problem:
        raise fail(cds_problem)
    if workers > 1 and not deps.settings.qdrant_url:
        raise fail(
            f"--workers {workers} needs a Qdrant server: the embedded engine in {deps.settings.qdrant_dir} "
            "belongs to one process; set CRA_QDRANT_URL (e.g. http://qdrant:6333) or serve with --workers 1"
        )
    configure_logging()
    if workers > 1:
        shared = _shared(ctx)  # the workers open it themselves: fail here, once and clearly, if they cannot
        where = shared.where
        shared.close()
        # the workers are fresh processes: they read the same settings from the environment
        os.environ.update(
            CRA_DATA_DIR=str(deps.settings.data_dir.resolve()),
            CRA_SERVE_HOST=settings.serve_host,
            CRA_SERVE_PORT=str(settings.serve_port),
        )
        err.print(
            f"serving on http://{settings.serve_host}:{settings.serve_port}/ with {workers} workers "
            f"(auth: {settings.api_auth}; shared state: {where})"
        )
        _serve_workers(settings, workers)
        return
    with _reaching_state():
        served = create_app(deps, settings)
    config = uvicorn.Config(served, **_uvicorn_options(settings))
    err.print(
        f"serving on http://{settings.serve_host}:{settings.serve_port}/ "
        f"(auth: {settings.api_auth}; shared state: {served.state.shared.where})"
    )
    uvicorn.Server(config).run()


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    role: Annotated[str, typer.Option("--role", help="clinician, service or admin.")] = "clinician",
    patients: Annotated[
        list[str] | None,
        typer.Option("--patient", help="A patient id the key may read (repeatable); '*' for all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key; its secret is printed once and only its hash is stored."""
    from service.keys import ApiKeyError

    keys = _keys(ctx)
    try:
        record, secret = keys.create(name, role, list(patients or []))
    except ApiKeyError as exc:
        raise fail(str(exc)) from exc
    finally:
        keys.close()
    if as_json:
        sys.stdout.write(json.dumps({**record.as_json(), "key": secret}) + "\n")
        return
    out.print(f"key {record.id} ({record.role}, patients {', '.join(record.patients)})", highlight=False)
    out.print(secret, highlight=False, markup=False)
    err.print("store it now: it is not shown again")


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every key: id, name, role, patient scope, revoked or not (never secrets)."""
    keys = _keys(ctx)
    rows: list[dict[str, Any]] = [k.as_json() for k in keys.list()]
    keys.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for k in rows:
        state = "revoked" if k["revoked"] else "active"
        out.print(f"{k['id']}  {k['role']:<9}  {state:<7}  {k['name']}  patients {','.join(k['patients'])}",
                  highlight=False, markup=False)  # fmt: skip
    out.print(f"{len(rows)} key(s)")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from service.keys import ApiKeyError

    keys = _keys(ctx)
    try:
        record = keys.revoke(key_id)
    except ApiKeyError as exc:
        raise fail(str(exc)) from exc
    finally:
        keys.close()
    out.print(f"revoked {record.id} ({record.name})", highlight=False)


@keys_app.command("import")
def keys_import(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A SQLite key file (e.g. <data dir>/api_keys.sqlite).")],
) -> None:
    """Copy keys (hashes, revocations) from a SQLite key file into the configured store; the keys keep working.

    For a move to Postgres: set CRA_STATE_URL, unset CRA_API_KEYS_DB, then import the old file.
    """
    from service.keys import KeyStore

    if not source.is_file():
        raise fail(f"{source} is not a file; give the SQLite file the keys are in")
    old = KeyStore(source)
    keys = _keys(ctx)
    try:
        if keys.where == old.where:
            raise fail(f"{source} is already the configured key store")
        added = keys.copy_from(old)
    finally:
        old.close()
        keys.close()
    out.print(f"imported {added} key(s) into {keys.where}", highlight=False)


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise fail(f"--anchor {text!r}: expected SEQ:HASH as printed by `cra audit head`")
    return int(seq), digest


@audit_app.command("head")
def audit_head(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the last record's number and hash: copy it to a log store, check it later with --anchor."""
    shared = _shared(ctx)
    try:
        seq, digest = shared.audit.head()
    finally:
        shared.close()
    if as_json:
        sys.stdout.write(json.dumps({"seq": seq, "hash": digest, "anchor": f"{seq}:{digest}"}) + "\n")
    else:
        sys.stdout.write(f"{seq}:{digest}\n")


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH printed earlier by `cra audit head`; that record must still have that hash (repeatable).",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain (of ``CRA_STATE_URL``'s store); exit 1 when a record was edited, deleted or cut off."""
    anchors = dict(_anchor(a) for a in anchor or [])
    shared = _shared(ctx)
    where = shared.where
    try:
        report = shared.audit.verify(anchors)
    finally:
        shared.close()
    if as_json:
        body = {"ok": report.ok, "records": report.records, "problems": report.problems, "store": where}
        sys.stdout.write(json.dumps(body) + "\n")
    elif report.ok:
        out.print(f"audit trail intact: {report.records} record(s) ({where})", highlight=False)
    else:
        for problem in report.problems:
            err.print(f"[bold red]broken:[/] {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@feedback_app.command("export")
def feedback_export(
    ctx: typer.Context,
    out_path: Annotated[Path, typer.Option("--out", help="JSONL file to write.")] = Path(
        "reports/feedback/feedback.jsonl"
    ),
) -> None:
    """Write the de-identified data set (question, evidence ids, answer, correction) as JSONL."""
    from service.feedback import FeedbackStore

    store = FeedbackStore.at(_deps(ctx).settings.data_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out_path.open("w", encoding="utf-8") as fh:
        for row in store.training_rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    store.close()
    out.print(f"wrote {n} de-identified row(s) to {out_path}", highlight=False)
