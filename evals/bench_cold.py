"""``make bench``: cold-start wall time of three one-shot commands, as whole processes.

``cra --help``, ``cra search "statin" -k 1`` and an evidence-mode ``cra ask``, each started as a
new process several times, round-robin with ``python -c "import json"`` (the same interpreter's
bare start-up), so a busy machine slows all of them alike. Each command is reported as min /
median / max seconds and as a ratio of its median to the bare start-up's median. With
``--server`` the search and ask commands are timed a second time while a ``cra serve`` of the
same data dir runs on loopback (the CLI hands them to it). Writes ``bench_cold.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from evals.report import environment, markdown_table

__all__ = ["GOALS_S", "main", "run"]

QUESTION = "Which statin dose counts as high intensity?"
GOALS_S = {"help": 0.5, "search": 1.5, "ask": 3.0}
BASELINE = "python -c 'import json'"


def _cra() -> list[str]:
    """The installed ``cra`` console script of this interpreter's environment (``python -m service`` without one)."""
    script = Path(sys.executable).with_name("cra")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "service"]


def _commands(data_dir: Path) -> dict[str, list[str]]:
    cra = [*_cra(), "--data-dir", str(data_dir)]
    return {
        "baseline": [sys.executable, "-c", "import json"],
        "help": [*_cra(), "--help"],
        "search": [*cra, "search", "statin", "-k", "1", "--json"],
        "ask": [*cra, "ask", QUESTION, "--json"],
    }


def _env(server_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRA_")}
    # evidence mode; the server (when one is timed) is named, never guessed from the environment
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CRA_LLM_BASE_URL="", CRA_SERVER_URL=server_url)
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children)."""
    cpu0, t0 = _cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-800:]}")
    return seconds, cpu


def _summary(times: list[tuple[float, float]], base: float) -> dict[str, Any]:
    wall = [t for t, _ in times]
    median = statistics.median(wall)
    return {
        "min_s": round(min(wall), 3),
        "median_s": round(median, 3),
        "max_s": round(max(wall), 3),
        "ratio": round(median / base, 1),
        "cpu_s": round(statistics.median(c for _, c in times), 3),
        "runs": len(times),
    }


def _measure(names: list[str], cmds: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, Any]:
    """Round-robin: run i of every command before run i+1 of any (one warm-up round is discarded)."""
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in ["baseline", *names]}
    for i in range(runs + 1):
        for name in times:
            t = _time(cmds[name], env)
            if i:  # the first round fills the page cache
                times[name].append(t)
    base = statistics.median(t for t, _ in times["baseline"])
    return {n: _summary(v, base) for n, v in times.items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**_env(""), "CRA_API_AUTH": "off", "CRA_SERVE_HOST": "127.0.0.1", "CRA_SERVE_PORT": str(port)}
    proc = subprocess.Popen(
        [*_cra(), "--data-dir", str(data_dir), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cra serve exited {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise RuntimeError("cra serve did not become ready in 300 s")


def query_latency(data_dir: Path) -> list[dict[str, Any]]:
    """Warm, in one process: the query's embedding (ONNX and torch) and the hybrid search without it."""
    from agent.settings import AgentSettings
    from evals.retrieval_suites import load_guideline_questions
    from retrieval.embedders import make_dense_encoder
    from service.deps import Deps

    questions = [q["q"] for q in load_guideline_questions()]
    deps = Deps(AgentSettings(data_dir=data_dir))
    search = deps.guideline_search
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        timings.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        return value

    try:
        torch_encoder = make_dense_encoder(AgentSettings(data_dir=data_dir, embedding_backend="torch"))
        for q in questions[:8]:  # warm-up
            search.search(q, k=10)
            torch_encoder.encode_query(q)
        for q in questions:
            vector = timed("embed query (ONNX Runtime)", lambda q=q: deps.dense.encode_query(q))
            timed("embed query (torch)", lambda q=q: torch_encoder.encode_query(q))
            timed(
                "hybrid search, vector given",
                lambda q=q, v=vector: search.search_encoded(q, v, k=10, where=None, mode="hybrid"),
            )
            timed("hybrid search with its embedding", lambda q=q: search.search(q, k=10))
            timed("BM25 only (no embedding)", lambda q=q: search.search(q, k=10, mode="sparse"))
    finally:
        deps.close()
    rows = []
    for name, values in timings.items():
        ordered = sorted(values)
        rows.append({
            "step": name,
            "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "n": len(ordered),
        })  # fmt: skip
    return rows


def _ensure_index(data_dir: Path) -> None:
    if (data_dir / "qdrant" / "guidelines").exists():
        return
    cmd = [*_cra(), "--data-dir", str(data_dir), "index", "guidelines", "--corpus", "open-medicine"]
    subprocess.run(cmd, env=_env("off"), check=True, capture_output=True, timeout=3600)


def run(
    out: Path, data_dir: Path | None, runs: int, server: bool, label: str, latency: bool = True
) -> dict[str, Any]:
    """Time the commands (and, with ``server``, again against a running ``cra serve``); write the report."""
    tmp = None
    if data_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="cra-bench-cold-"))
        data_dir = tmp
    try:
        _ensure_index(data_dir)
        cmds = _commands(data_dir)
        rows = [
            {"mode": "in-process", "command": n, **v}
            for n, v in _measure(["help", "search", "ask"], cmds, _env("off"), runs).items()
        ]
        if server:
            port = _free_port()
            proc = _start_server(data_dir, port)
            try:
                found = _measure(["search", "ask"], cmds, _env(f"http://127.0.0.1:{port}"), runs)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows += [
                {"mode": "cra serve running", "command": n, **v} for n, v in found.items() if n != "baseline"
            ]
        warm = query_latency(data_dir) if latency else []
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    for row in rows:
        row["goal_s"] = GOALS_S.get(row["command"], "")
        row["command"] = BASELINE if row["command"] == "baseline" else " ".join(_display(row["command"]))
    result: dict[str, Any] = {
        "benchmark": "cold start",
        "label": label,
        "environment": environment(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "rows": rows,
        "query_latency": warm,
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_cold" + (f"_{label}" if label else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    md = [
        "# Cold start of one-shot commands\n",
        f"Each command is a new process, {runs} runs round-robin with `{BASELINE}` after one discarded "
        "warm-up round; ratio = median / the bare start-up's median on the same machine at the same time; "
        "cpu_s = median CPU seconds of the command's own processes (less swayed by a busy machine than wall "
        "time; with a server running, the server's work is not in it). "
        f"Evidence mode (no LLM). {os.cpu_count()} CPUs, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in result['load_avg'])}. Run {result['environment']['when']}"
        + (f" ({label})" if label else "")
        + ".\n",
        markdown_table(rows, ["mode", "command", "min_s", "median_s", "max_s", "ratio", "cpu_s", "goal_s"]),
    ]
    if warm:
        md += [
            "\n## One query, warm (in one process)\n",
            f"The {warm[0]['n']} guideline questions, k=10, after a warm-up; the store as indexed above.\n",
            markdown_table(warm, ["step", "p50_ms", "p95_ms", "n"]),
        ]
    (out / f"{stem}.md").write_text("\n".join(md))
    return result


def _display(name: str) -> list[str]:
    return {
        "help": ["cra", "--help"],
        "search": ["cra", "search", '"statin"', "-k", "1"],
        "ask": ["cra", "ask", f'"{QUESTION}"'],
    }[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="An indexed data dir (default: a new one)."
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--server", action="store_true", help="Also time search and ask against cra serve.")
    parser.add_argument("--label", default="", help="Suffix of the report's file names (e.g. before).")
    parser.add_argument("--no-latency", action="store_true", help="Skip the warm query latency.")
    args = parser.parse_args()
    result = run(args.out, args.data_dir, args.runs, args.server, args.label, latency=not args.no_latency)
    console = Console(soft_wrap=True, highlight=False, markup=False)
    for row in result["query_latency"]:
        console.print(f"{row['step']:36} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms")
    for r in result["rows"]:
        console.print(
            f"{r['mode']:18} {r['command']:58} min {r['min_s']:6.2f}  median {r['median_s']:6.2f}  "
            f"max {r['max_s']:6.2f} s  x{r['ratio']}  cpu {r['cpu_s']:6.2f} s"
        )


if __name__ == "__main__":
    main()
