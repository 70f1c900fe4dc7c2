"""``cra eval SUITE``: offline evaluation suites with reports and regression gates."""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from evals.report import write_suite
from evals.retrieval_suites import (
    SuiteResult,
    load_guideline_questions,
    run_guideline_retrieval,
    run_pubmedqa,
)

__all__ = ["app", "check_gates"]

app = typer.Typer(
    help="Offline evaluation suites (results.json, report.md and plots per suite).", no_args_is_help=True
)
console = Console(soft_wrap=True)
METRICS = ["r@1", "r@5", "r@10", "mrr", "ndcg@10"]


def shared_data_dir() -> Path:
    """``$CRA_SHARED_DATA``, else ``../shared/data`` beside the checkout."""
    return Path(os.environ.get("CRA_SHARED_DATA", Path.cwd().parent / "shared" / "data"))


def check_gates(suite: str, summary: list[dict[str, Any]]) -> list[str]:
    """Failures of ``summary`` against the thresholds in ``evals/gates.json``."""
    gates = json.loads((files("evals") / "gates.json").read_text(encoding="utf-8")).get(suite, {})
    by_config = {row["config"]: row for row in summary}
    failures = []
    for config, metrics in gates.items():
        for metric, threshold in metrics.items():
            value = by_config.get(config, {}).get(metric)
            if value is None or value < threshold:
                failures.append(f"{suite} {config} {metric} = {value} < gate {threshold}")
    return failures


def _finish(suite: str, result: SuiteResult, out: Path, gate: bool, notes: str) -> None:
    worst = sorted(
        (c for c in result.cases if c["config"] == "hybrid"), key=lambda c: c["rank"] or 10**6, reverse=True
    )[:10]
    folder = write_suite(
        out,
        suite,
        summary_rows=result.summary,
        cases=result.cases,
        settings=result.settings,
        notes=notes,
        worst=worst,
        worst_columns=["id", "q", "target", "rank", "top3"],
        metrics=METRICS,
    )
    for row in result.summary:
        console.print(
            f"{suite:22} {row['config']:7} "
            + "  ".join(f"{m} {row[m]:.3f}" for m in METRICS)
            + f"  n={row['n']}  {row['ms_per_query']} ms/q",
            highlight=False,
        )
    console.print(f"report: {folder / 'report.md'}", highlight=False)
    if gate:
        failures = check_gates(suite, result.summary)
        for f in failures:
            console.print(f"[bold red]GATE FAILED[/] {f}")
        if failures:
            raise typer.Exit(1)
        console.print("gates passed")


def _deps(ctx: typer.Context) -> Any:
    root = ctx.find_root().obj
    if root is None:  # run outside the cra root command (tests call the sub-app directly)
        from service.deps import Deps

        root = Deps()
    return root


@app.command("retrieval-pubmedqa")
def retrieval_pubmedqa(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("reports/eval"),
    data: Annotated[Path | None, typer.Option("--data", help="ori_pqal.json (default: shared data).")] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a regression gate fails.")] = False,
) -> None:
    """Each PubMedQA question must retrieve its own abstract among the 1,000: sparse, dense, hybrid."""
    from retrieval.edge_store import EdgeStore

    deps = _deps(ctx)
    path = data or shared_data_dir() / "pubmedqa" / "ori_pqal.json"
    if not path.is_file():
        console.print(
            f"[bold red]error:[/] PubMedQA file not found at {path}; pass --data or set CRA_SHARED_DATA"
        )
        raise typer.Exit(2)
    store = EdgeStore(deps.settings.data_dir / "eval-qdrant")
    try:
        result = run_pubmedqa(store, deps.dense, deps.sparse, path, limit=limit)
    finally:
        store.close()
    _finish(
        "retrieval-pubmedqa",
        result,
        out,
        gate,
        "Corpus: the 1,000 PubMedQA expert-labelled abstracts (contexts joined). Query: the question. "
        "A hit counts when it is the question's own abstract. Reference measured on this machine type: "
        "dense MiniLM MRR 0.981, plain BM25 0.966.",
    )


@app.command("guideline-retrieval")
def guideline_retrieval(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("reports/eval"),
    questions: Annotated[
        Path | None, typer.Option("--questions", help="JSONL question set (default: shipped).")
    ] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a regression gate fails.")] = False,
) -> None:
    """The team's clinician questions over open-medicine: R@1, R@5, MRR, nDCG@10 per configuration."""
    from guidelines_index.corpora import corpus_path
    from guidelines_index.indexer import GuidelineIndexer
    from retrieval.edge_store import EdgeStore
    from retrieval.guidelines import GuidelineSearch

    deps = _deps(ctx)
    store = EdgeStore(deps.settings.data_dir / "eval-qdrant")
    try:
        collection = "eval_open_medicine"
        indexer = GuidelineIndexer(
            store, deps.dense, deps.sparse, collection=collection, target_words=deps.settings.chunk_words
        )
        report = indexer.index([str(corpus_path("open-medicine"))])
        search = GuidelineSearch(store, deps.dense, deps.sparse, collection=collection)
        result = run_guideline_retrieval(search, load_guideline_questions(questions), limit=limit)
        result.settings.update(chunks=report.chunks_total, chunk_words=deps.settings.chunk_words)
    finally:
        store.close()
    _finish(
        "guideline-retrieval",
        result,
        out,
        gate,
        "Corpus: open-medicine (43 guidelines, 145 section files). Questions: evals/data/guideline_questions.jsonl, "
        "written by the team in clinicians' phrasing, each labelled with the section file that answers it. "
        "Hits are chunks; they are de-duplicated by section file before ranking.",
    )
