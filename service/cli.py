"""The ``cra`` command line: indexing, search and the commands other packages contribute."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from agent.errors import AgentError
from guidelines_index.errors import GuidelineIndexError
from retrieval.errors import RetrievalError
from service.llm_cli import llm_app

if TYPE_CHECKING:
    from retrieval.guidelines import SearchMode
    from service.deps import Deps

# Everything heavier than typer and rich (settings, the store, models, the agent) is imported by
# the command that needs it: `cra --help` must answer in a fraction of a second.

__all__ = ["app", "main"]

app = typer.Typer(
    help="Clinical reasoning agent: index guidelines, search them, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
index_app = typer.Typer(help="Index documents into Qdrant.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(llm_app, name="llm")

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _deps(ctx: typer.Context) -> Deps:
    from service.deps import Deps

    deps = ctx.find_root().obj
    assert isinstance(deps, Deps)
    return deps


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data folder (default $CRA_DATA_DIR or .cra).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
) -> None:
    from agent.settings import AgentSettings
    from service.deps import Deps

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    settings = AgentSettings() if data_dir is None else AgentSettings(data_dir=data_dir)
    ctx.obj = Deps(settings)
    ctx.call_on_close(ctx.obj.close)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def server_for(deps: Deps) -> Any:
    """The ``cra serve`` of this data dir to hand a one-shot command to, or ``None`` (see ``service.delegate``)."""
    from service.delegate import find_server

    return find_server(deps.settings)


@contextmanager
def server_errors(url: str) -> Iterator[None]:
    """Turn an error answer of the server into one clear line (a key it wants, a bad filter...)."""
    from service.delegate import ServerError

    try:
        yield
    except ServerError as exc:
        hint = (
            "; set CRA_SERVER_API_KEY to a key of that server (cra keys create), or CRA_SERVER_URL=off"
            if exc.status == 401
            else ""
        )
        raise fail(f"{exc.detail} (from the cra serve at {url}{hint})") from exc
    except OSError as exc:
        raise fail(
            f"the cra serve at {url} stopped answering ({exc}); retry, or set CRA_SERVER_URL=off"
        ) from exc


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the packages' errors into one clear line and a non-zero exit."""
    try:
        yield
    except (RetrievalError, GuidelineIndexError) as exc:
        raise fail(str(exc)) from exc
    except AgentError as exc:
        raise fail(f"{exc} ({exc.hint})" if exc.hint else str(exc)) from exc


def _progress_fn(enabled: bool) -> tuple[Any, Any]:
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        label = {"read": "reading files", "embed": "embedding chunks"}.get(stage, stage)
        if stage not in tasks:
            tasks[stage] = progress.add_task(label, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return progress, update


def run_with_progress(job: Callable[[Any], T], *, enabled: bool) -> T:
    """Run ``job(update)`` with a progress bar on a terminal (``update`` is ``None`` elsewhere)."""
    progress, update = _progress_fn(enabled and err.is_terminal)
    if progress is None:
        return job(None)
    with progress:
        return job(update)


@index_app.command("guidelines")
def index_guidelines(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files or folders: .md .html .txt .pdf, or a JSON recommendation set."),
    ] = None,
    corpus: Annotated[
        list[str] | None, typer.Option("--corpus", help="A corpus shipped in a package: open-medicine.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 3 when any file was skipped.")] = False,
) -> None:
    """Index guideline documents with their provenance (idempotent; changed files replace their chunks)."""
    from guidelines_index.corpora import corpus_path
    from guidelines_index.indexer import GuidelineIndexer

    deps = _deps(ctx)
    with user_errors():
        targets = list(paths or []) + [str(corpus_path(c)) for c in corpus or []]
        if not targets:
            raise fail("give at least one PATH or --corpus open-medicine")
        indexer = GuidelineIndexer(
            deps.store,
            deps.dense,
            deps.sparse,
            collection=deps.settings.guideline_collection,
            target_words=deps.settings.chunk_words,
            max_file_bytes=int(deps.settings.max_file_mb * 1e6),
        )
        report = run_with_progress(lambda update: indexer.index(targets, update), enabled=not as_json)
    if as_json:
        out.print_json(json.dumps(report.as_json()))
    else:
        out.print(
            f"files read {report.files_read}, documents {report.documents}, chunks {report.chunks_total} "
            f"({report.chunks_written} written, {report.chunks_unchanged} unchanged, {report.chunks_removed} removed), "
            f"superseded versions {report.superseded_documents}, files skipped {len(report.skipped)}, "
            f"{report.seconds:.1f} s",
            highlight=False,
        )
        for s in report.skipped:
            out.print(f"  skipped {s['source']}: {s['reason']}", highlight=False, markup=False)
        for w in report.warnings:
            out.print(f"  warning {w['source']}: {w['warning']}", highlight=False, markup=False)
    if strict and report.skipped:
        raise typer.Exit(3)


def _read_queries(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise fail(f"queries file {path} does not exist")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if (
            not isinstance(row, dict)
            or "id" not in row
            or not isinstance(row.get("q"), str)
            or not row["q"].strip()
        ):
            raise fail(f'{path}:{n}: expected {{"id": ..., "q": "question text"}}')
        rows.append(row)
    return rows


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many hits.")] = 10,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter", help="KEY=VALUE, repeatable (issuer, grade, doc_id, superseded, year, age, sex...)."
        ),
    ] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help='JSONL file of {"id", "q"}; writes {"id", "hits"} lines.')
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, dense or sparse.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Search the guideline index (hybrid dense + BM25 by default)."""
    from retrieval.guidelines import hit_json, parse_filters

    deps = _deps(ctx)
    if mode not in ("hybrid", "dense", "sparse"):
        raise fail(f"--mode must be hybrid, dense or sparse, not {mode!r}")
    if (query is None) == (queries is None):
        raise fail("give a QUERY or --queries FILE (one of them)")
    if query is not None and not query.strip():
        raise fail("the query is empty")
    search_mode: SearchMode = mode  # type: ignore[assignment]
    server = server_for(deps)
    if server is not None:  # a running cra serve of this data answers without loading anything here
        with server_errors(server.url):
            if queries is not None:
                for row in _read_queries(queries):
                    found = server.search(row["q"], k=k, filters=list(filters or []), mode=mode)
                    sys.stdout.write(json.dumps({"id": row["id"], "hits": found["hits"]}) + "\n")
                return
            assert query is not None
            _print_hits(server.search(query, k=k, filters=list(filters or []), mode=mode), as_json)
        return
    with user_errors():
        where = parse_filters(filters or [])
        if not deps.store.has_collection(deps.settings.guideline_collection):
            raise fail(
                "the guideline index is empty; run: cra index guidelines --corpus open-medicine (or PATH...)"
            )
        engine = deps.guideline_search
        if queries is not None:
            rows = _read_queries(queries)
            results = engine.search_many([r["q"] for r in rows], k=k, where=where, mode=search_mode)
            for row, hits in zip(rows, results, strict=True):
                sys.stdout.write(json.dumps({"id": row["id"], "hits": [hit_json(h) for h in hits]}) + "\n")
            return
        assert query is not None
        hits = engine.search(query, k=k, where=where, mode=search_mode)
    _print_hits({"query": query, "hits": [hit_json(h) for h in hits]}, as_json)


def _print_hits(found: dict[str, Any], as_json: bool) -> None:
    """``cra search``'s output: the JSON object, or ranked hits for a person."""
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    if not found["hits"]:
        out.print("no hits")
        return
    for rank, h in enumerate(found["hits"], 1):
        flag = " [bold yellow]SUPERSEDED[/]" if h["superseded"] else ""
        out.print(
            f"[bold]{rank}. {h['title']}[/] ({h['issuer']} {h['published']}){flag}  score {h['score']:.4f}"
        )
        out.print(
            f"   {' > '.join(h['section_path'])}" + (f"  [{h['grade']}]" if h["grade"] else ""),
            highlight=False,
            markup=False,
        )
        snippet = " ".join(h["text"].split())
        out.print(f"   {snippet[:300]}{'...' if len(snippet) > 300 else ''}", highlight=False, markup=False)
        out.print(f"   source: {h['source']}{h['locator']}", highlight=False, markup=False)


@app.command("info")
def info(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show where data lives and what is indexed."""
    from rich.table import Table

    from retrieval.types import Equals, Filter

    deps = _deps(ctx)
    s = deps.settings
    with user_errors():
        store = deps.store
        data: dict[str, Any] = {
            "store": store.target,
            "data_dir": str(s.data_dir),
            "embedding_model": s.embedding_model,
        }
        if store.has_collection(s.guideline_collection):
            total = store.count(s.guideline_collection)
            old = store.count(s.guideline_collection, Filter(must=(Equals("status", "superseded"),)))
            data["guidelines"] = {"chunks": total, "superseded_chunks": old}
        else:
            data["guidelines"] = None
        if store.has_collection(s.patient_collection):
            patients = store.count(s.patient_collection, Filter(must=(Equals("resource_type", "Patient"),)))
            data["patients"] = {"patients": patients, "events": store.count(s.patient_collection)}
        else:
            data["patients"] = None
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table(show_header=False)
    for key, value in data.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


def _load_plugins() -> None:
    """Attach commands other packages declare under the ``cra.commands`` entry-point group."""
    for ep in entry_points(group="cra.commands"):
        try:
            sub = ep.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            logging.getLogger(__name__).warning("command %s unavailable: %s", ep.name, exc)
            continue
        app.add_typer(sub, name=ep.name)


def main() -> None:
    """Console-script entry point."""
    import service.agent_cli
    import service.patient_cli
    import service.serve_cli  # noqa: F401  (registers the patient, serve, keys, audit, feedback commands)

    _load_plugins()
    app()
