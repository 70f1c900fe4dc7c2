"""Load on the HTTP service: 50 concurrent clients for 60 s on ``/v1/ask`` (evidence mode) on loopback.

A real ``cra serve`` process over an embedded index (four open-medicine guidelines, the demo
protocol, three Synthea patients when the shared records are present); every request carries an
API key, is audited and remembered for feedback, exactly as in production. Measured: throughput,
p50/p95/p99 latency, errors by status, and whether memory is stable: the server's RSS sampled every
second against the requests completed, from which the growth per 1,000 requests once the ramp-up is
over (a least-squares slope), for the whole rest of the run and for each quarter of it: a leak keeps
the same slope quarter after quarter, caches and pools filling up show slopes falling towards zero.
``bench_service.png`` plots RSS against requests.

    python -m evals.bench_service --out reports/bench [--data-dir DIR] [--clients 50] [--seconds 60]

Other scenarios plug in through ``SCENARIOS`` (a name and a function giving one request's method,
path and JSON body for a client and a counter); ``--scenario NAME`` picks one.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from rich.console import Console

from evals.report import environment, markdown_table
from service.keys import KeyStore

__all__ = ["SCENARIOS", "main", "memory_figures"]

console = Console(soft_wrap=True, highlight=False, markup=False)
ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea-r4"
GUIDELINES = ("acc_aha_cholesterol_2018", "ada_diabetes_2024", "kdigo_ckd_2024", "acc_aha_hypertension_2017")
QUESTIONS = (
    "Which statin and dose counts as high-intensity therapy?",
    "What blood pressure target applies to adults with diabetes?",
    "When should a patient with chronic kidney disease be referred to nephrology?",
    "What HbA1c target is recommended for most non-pregnant adults?",
    "Is the latest blood pressure at target?",
    "How has kidney function changed over time?",
)

Request = tuple[str, str, dict[str, Any]]
Sample = tuple[float, int, float]  # seconds into the run, requests completed, RSS MB
RAMP_S = 10  # by then every client is in flight and the worker pool has grown


def ask_request(client: int, n: int, patients: list[str]) -> Request:
    """``/v1/ask``: guideline questions and, every other time, one about a patient."""
    question = QUESTIONS[(client + n) % len(QUESTIONS)]
    body: dict[str, Any] = {"question": question}
    if patients and n % 2:
        body["patient_id"] = patients[(client + n) % len(patients)]
    return "POST", "/v1/ask", body


SCENARIOS: dict[str, Callable[[int, int, list[str]], Request]] = {"ask": ask_request}


def _cra(data_dir: Path, *args: str) -> str:
    command = [str(Path(sys.executable).with_name("cra")), "--data-dir", str(data_dir), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def build_index(data_dir: Path) -> list[str]:
    """Index the bench world (idempotent) and return the patient ids."""
    from guidelines_index.corpora import corpus_path

    content = corpus_path("open-medicine")
    _cra(data_dir, "index", "guidelines", "--json", *[str(content / g) for g in GUIDELINES],
         str(ROOT / "examples" / "guidelines"))  # fmt: skip
    files = sorted(SYNTHEA.glob("*.json"))[:3] if SYNTHEA.is_dir() else []
    if files:
        _cra(data_dir, "index", "patients", "--json", *map(str, files))
        return [p["patient_id"] for p in json.loads(_cra(data_dir, "patient", "list", "--json"))]
    return []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return round(sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20, 1)


async def _wait_ready(url: str, timeout_s: float = 180, probe: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}{probe}")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("the server did not become ready")


async def _load(url: str, key: str, make: Callable[[int, int, list[str]], Request], patients: list[str],
                clients: int, seconds: float, proc: psutil.Process) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    samples: list[Sample] = []
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:

        async def client(i: int) -> None:
            n = 0
            while time.monotonic() < stop:
                method, path, body = make(i, n, patients)
                started = time.perf_counter()
                try:
                    reply = await http.request(method, path, json=body)
                    statuses[str(reply.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                finally:
                    n += 1
                latencies.append(time.perf_counter() - started)

        async def sample() -> None:
            while time.monotonic() < stop:
                samples.append((round(time.monotonic() - started, 1), sum(statuses.values()), _rss_mb(proc)))
                await asyncio.sleep(1)

        started = time.monotonic()
        stop = started + seconds
        await asyncio.gather(sample(), *(client(i) for i in range(clients)))
        elapsed = time.monotonic() - started
    samples.append((round(elapsed, 1), sum(statuses.values()), _rss_mb(proc)))
    ok = statuses.get("200", 0)
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": int(sum(statuses.values())),
        "ok": ok,
        "errors": int(sum(v for k, v in statuses.items() if k != "200")),
        "statuses": dict(statuses),
        "throughput_rps": round(ok / elapsed, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        **memory_figures(samples),
        "samples": samples,
    }


def _growth_per_1k(samples: list[Sample]) -> float | None:
    """MB of RSS per 1,000 completed requests: the least-squares slope over ``samples``."""
    requests = np.array([n for _, n, _ in samples], dtype=float)
    if len(samples) < 3 or np.ptp(requests) == 0:
        return None
    slope = np.polyfit(requests, np.array([r for _, _, r in samples]), 1)[0]
    return round(float(slope) * 1000, 1)


def memory_figures(samples: list[Sample]) -> dict[str, Any]:
    """RSS at the start, after the ramp-up and at the end, and its growth per 1,000 requests after the
    ramp-up: overall and in each quarter of that time (a leak's slope stays, a plateau's falls)."""
    ramp = next((i for i, (t, _, _) in enumerate(samples) if t >= RAMP_S), len(samples) - 1)
    steady = samples[ramp:]
    (t_ramp, n_ramp, rss_ramp), (t_end, n_end, rss_end) = steady[0], steady[-1]
    bounds = [t_ramp + (t_end - t_ramp) * q / 4 for q in range(5)]
    quarters = [[x for x in steady if lo <= x[0] <= hi] for lo, hi in itertools.pairwise(bounds)]
    return {
        "rss_start_mb": samples[0][2],
        "rss_after_ramp_mb": rss_ramp,
        "requests_after_ramp": n_ramp,
        "rss_end_mb": rss_end,
        "rss_peak_mb": max(r for _, _, r in samples),
        "rss_growth_after_ramp_mb": round(rss_end - rss_ramp, 1),
        "requests_after_ramp_to_end": n_end - n_ramp,
        "rss_growth_per_1k_requests_mb": _growth_per_1k(steady),
        "rss_growth_per_1k_by_quarter_mb": [_growth_per_1k(q) for q in quarters],
    }


def run(data_dir: Path, scenario: str, clients: int, seconds: float) -> dict[str, Any]:
    """Index, serve, warm up, load; returns the figures."""
    console.print(f"indexing the bench world in {data_dir} ...")
    patients = build_index(data_dir)
    keys = KeyStore.at(data_dir)
    key = keys.create("bench", "service", ["*"])[1]
    keys.close()
    port = _free_port()
    env = {**os.environ, "CRA_API_RATE_PER_MINUTE": "10000000", "CRA_API_RATE_BURST": "1000000",
           "CRA_LLM_BASE_URL": "", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    command = [
        str(Path(sys.executable).with_name("cra")),
        "--data-dir",
        str(data_dir),
        "serve",
        "--port",
        str(port),
    ]
    log = (data_dir / "bench_service.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        # Right after a start: 20 clients from the moment the port answers (/healthz), before /readyz,
        # as an EHR or a load balancer that does not wait for readiness would send them.
        asyncio.run(_wait_ready(url, probe="/healthz"))
        proc = psutil.Process(server.pid)
        first = asyncio.run(_load(url, key, SCENARIOS[scenario], patients, 20, 5, proc))
        asyncio.run(_wait_ready(url))
        console.print(f"warming up, then {clients} clients for {seconds:.0f} s on scenario {scenario} ...")
        asyncio.run(_load(url, key, SCENARIOS[scenario], patients, 4, 5, proc))
        result = asyncio.run(_load(url, key, SCENARIOS[scenario], patients, clients, seconds, proc))
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    after_start = {
        k: first[k] for k in ("clients", "seconds", "requests", "errors", "statuses", "p50_ms", "p95_ms")
    }
    return {"scenario": scenario, "patients": len(patients), **result, "after_start": after_start}


def _plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot([n for _, n, _ in samples], [r for _, _, r in samples], marker=".", linewidth=1)
    ax.set_xlabel("requests completed")
    ax.set_ylabel("server RSS (MB)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"result": result, "environment": environment()}
    (out / "bench_service.json").write_text(json.dumps(payload, indent=2) + "\n")
    _plot(result["samples"], out / "bench_service.png",
          f"/v1/ask, {result['clients']} clients: server RSS against requests")  # fmt: skip
    load = ["scenario", "clients", "seconds", "requests", "errors", "throughput_rps", "p50_ms", "p95_ms",
            "p99_ms"]  # fmt: skip
    memory = ["rss_start_mb", "rss_after_ramp_mb", "rss_end_mb", "rss_peak_mb", "rss_growth_after_ramp_mb",
              "requests_after_ramp_to_end", "rss_growth_per_1k_requests_mb"]  # fmt: skip
    quarters = ", ".join("n/a" if q is None else f"{q:g}" for q in result["rss_growth_per_1k_by_quarter_mb"])
    text = (
        "# HTTP service under load (loopback)\n\n"
        f"`cra serve` (one process, embedded Qdrant, evidence mode: no LLM), {result['clients']} concurrent "
        f"clients with an API key for {result['seconds']} s on `/v1/ask`; every request audited, and every "
        f"one starts a new checkpointed thread. Statuses: {json.dumps(result['statuses'])}.\n\n"
        + markdown_table([result], load)
        + "\n## Right after a start\n\n"
        "20 clients from the moment the port answers (`/healthz`), before `/readyz` and before any "
        f"warm-up, for {result['after_start']['seconds']} s. Statuses: {json.dumps(result['after_start']['statuses'])}.\n\n"
        + markdown_table(
            [result["after_start"]], ["clients", "seconds", "requests", "errors", "p50_ms", "p95_ms"]
        )
        + "\n## Memory\n\n"
        "RSS of the server's process tree, sampled every second: at the start, after the ramp-up "
        f"({RAMP_S} s: every client in flight, the worker pool grown), at the end. Growth per 1,000 "
        "requests is the least-squares slope of RSS against requests completed after the ramp-up; "
        f"quarter by quarter of that time it was {quarters} MB per 1,000 requests. A leak keeps its "
        "slope from quarter to quarter; caches, pools and allocator arenas filling up give slopes "
        "that fall towards zero (`bench_service.png` plots RSS against requests).\n\n"
        + markdown_table([result], memory)
        + "\nMeasured on a shared 2-core machine: the client load generator runs on the same cores.\n"
    )
    (out / "bench_service.md").write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--data-dir", type=Path, default=None, help="Reuse this folder for the index.")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="ask")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cra-bench-service-") as tmp:
        result = run(args.data_dir or Path(tmp), args.scenario, args.clients, args.seconds)
    write_report(result, args.out)
    console.print(json.dumps(result))
    if result["errors"] or result["after_start"]["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
