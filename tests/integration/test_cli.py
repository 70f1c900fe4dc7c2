"""The ``cra`` command as users run it: a real process, the real model, the embedded engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GUIDE = """---
doc_id: demo_gout
title: Gout Care Pathway (test document)
issuer: Test Clinic
published: 2024-05-01
version: "3"
---

# Gout Care Pathway

## Flares

Start colchicine or an NSAID within 24 hours of a flare (Strong, Moderate).

## Urate lowering

| Drug | Start dose |
|---|---|
| Allopurinol | 100 mg daily |
| Febuxostat | 40 mg daily |
"""


def cra(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    docs = root / "docs"
    docs.mkdir()
    (docs / "gout.md").write_text(GUIDE)
    (docs / "empty.md").write_text("")
    (docs / "scan.md").write_bytes(b"\x00\x01binary\x00" * 10)
    data = root / "data"
    run = cra(data, "index", "guidelines", str(docs), str(root / "missing.md"), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["files_read"] == 1 and report["chunks_written"] >= 2
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert reasons == {
        "empty.md": "empty file",
        "scan.md": reasons["scan.md"],
        "missing.md": "no such file or folder",
    }
    assert "binary" in reasons["scan.md"]
    return root, data


def test_reindex_is_a_no_op(indexed: tuple[Path, Path]) -> None:
    root, data = indexed
    run = cra(data, "index", "guidelines", str(root / "docs" / "gout.md"), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["chunks_written"] == 0 and report["chunks_removed"] == 0 and report["chunks_unchanged"] >= 2


def test_search_json_fields_and_table_kept_whole(indexed: tuple[Path, Path]) -> None:
    _, data = indexed
    run = cra(data, "search", "allopurinol starting dose", "-k", "3", "--json")
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)["hits"]
    assert hits, "no hits"
    top = hits[0]
    for key in (
        "id",
        "score",
        "text",
        "doc_id",
        "title",
        "section_path",
        "source",
        "issuer",
        "published",
        "grade",
        "superseded",
    ):
        assert key in top
    assert (
        top["doc_id"] == "demo_gout" and top["issuer"] == "Test Clinic" and top["published"] == "2024-05-01"
    )
    assert top["section_path"][-1] == "Urate lowering"
    assert "| Allopurinol | 100 mg daily |" in top["text"] and "| Febuxostat | 40 mg daily |" in top["text"]
    assert top["superseded"] is False


def test_batch_queries_and_filters(indexed: tuple[Path, Path]) -> None:
    root, data = indexed
    queries = root / "q.jsonl"
    queries.write_text(
        '{"id": "a", "q": "colchicine for an acute flare"}\n\n{"id": 7, "q": "febuxostat dose"}\n'
    )
    run = cra(data, "search", "--queries", str(queries), "-k", "2", "--filter", "issuer=Test Clinic")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", 7]
    assert all(h["issuer"] == "Test Clinic" for x in lines for h in x["hits"])
    assert lines[0]["hits"][0]["grade"] == "Strong recommendation, moderate certainty"
    none = cra(data, "search", "colchicine", "--filter", "issuer=Nobody", "--json")
    assert none.returncode == 0 and json.loads(none.stdout)["hits"] == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("search", "gout", "--filter", "colour=red"), "Unknown filter field"),
        (("search", "gout", "--filter", "year=soon"), "expected a four-digit year"),
        (("search", "gout", "--mode", "psychic"), "--mode must be"),
        (("search",), "give a QUERY or --queries"),
    ],
)
def test_bad_input_is_a_clear_error(indexed: tuple[Path, Path], args: tuple[str, ...], needle: str) -> None:
    _, data = indexed
    run = cra(data, *args)
    assert run.returncode == 2
    assert needle in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_queries_file_names_the_line(indexed: tuple[Path, Path]) -> None:
    root, data = indexed
    bad = root / "bad.jsonl"
    bad.write_text('{"id": 1, "q": "ok"}\n{"id": 2}\n')
    run = cra(data, "search", "--queries", str(bad))
    assert run.returncode == 2 and f"{bad}:2" in run.stderr


def test_unreachable_qdrant_server_is_one_clear_error(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # nothing listens on the discard port here
    run = cra(tmp_path, "search", "gout", env={"CRA_QDRANT_URL": url, "CRA_QDRANT_TIMEOUT_S": "2"})
    assert run.returncode == 2
    assert f"Cannot reach Qdrant at {url}" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 3


def test_empty_index_tells_what_to_run(tmp_path: Path) -> None:
    run = cra(tmp_path / "fresh", "search", "gout")
    assert run.returncode == 2 and "cra index guidelines" in run.stderr


def test_a_second_process_on_the_same_data_dir_gets_a_clear_error(indexed: tuple[Path, Path]) -> None:
    """The embedded engine is single-process: a concurrent command fails cleanly, the index stays intact."""
    _, data = indexed
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from retrieval.edge_store import EdgeStore; "
            "s = EdgeStore(sys.argv[1]); s.count('guidelines'); print('open', flush=True); time.sleep(60)",
            str(data / "qdrant"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        run = cra(data, "search", "gout", "--json")
        assert run.returncode == 2
        assert "another process has this collection open" in run.stderr and "Traceback" not in run.stderr
    finally:
        holder.kill()
        holder.wait()
    after = cra(data, "search", "febuxostat dose", "-k", "1", "--json")
    assert after.returncode == 0 and json.loads(after.stdout)["hits"][0]["doc_id"] == "demo_gout"
