"""CDS Hooks latency and load against a real uvicorn on loopback.

The server is a separate process (``uvicorn evals.bench_cds:make_app --factory``: the app of
``cra serve``, with its audit chain and shared token-id store) over an embedded index of four
open-medicine guidelines and the USPSTF recommendation set. Requests carry a freshly signed
ES384 JWT each (the service refuses replays) and real Synthea records as prefetch. Measured: patient-view and order-sign latency one request at a time (p50/p95/p99),
then 50 concurrent clients for 60 s on patient-view (throughput, latency, errors, server RSS).

    python -m evals.bench_cds --out reports/bench [--data-dir DIR] [--seconds 60] [--clients 50]
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
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import numpy as np
import psutil
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from evals.report import environment, markdown_table
from service.cds.discovery import PATIENT_VIEW_OBSERVATION_CODES

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GUIDELINES = ("acc_aha_cholesterol_2018", "ada_diabetes_2024", "kdigo_ckd_2024", "acc_aha_hypertension_2017")
ISS = "https://ehr.bench.local"
AS_OF_EXTENSION = "org.clinical-reasoning-agent.as-of"
PATIENT_VIEW = ("Annetta_Hoppe_0dd77edd-bffd-4258-ac40-c07af6dd734a.json", "2021-03-01")
ORDER_SIGN = ("Buddy_MacGyver_c96ab841-48f4-42e4-bd46-f25c1490e422.json", "1983-01-09")
console = Console(stderr=True)


def make_app() -> Any:
    """The benchmark server: ``cra serve``'s own app over ``CRA_DATA_DIR`` (shared state, audit, agent)."""
    from service.app import create_app

    return create_app()


def _index(data_dir: Path) -> None:
    from guidelines_index.corpora import corpus_path

    if (data_dir / "qdrant").is_dir():
        console.print(f"reusing the index in {data_dir}")
        return
    root = corpus_path("open-medicine")
    paths = [str(root / g) for g in GUIDELINES] + [str(SHARED / "uspstf" / "uspstf-recommendations.json")]
    console.print("indexing 4 guidelines and the USPSTF set (a few minutes on 2 cores)")
    env = {**os.environ, "CRA_DATA_DIR": str(data_dir)}
    subprocess.run([sys.executable, "-m", "service", "index", "guidelines", *paths], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip


def _record(name: str) -> tuple[str, list[dict[str, Any]]]:
    entries = json.loads((SHARED / "synthea-r4" / name).read_text())["entry"]
    pid = next(e["resource"]["id"] for e in entries if e["resource"]["resourceType"] == "Patient")
    text = json.dumps([e["resource"] for e in entries]).replace(f"urn:uuid:{pid}", f"Patient/{pid}")
    return pid, json.loads(text)


def _bundle(
    resources: list[dict[str, Any]], kind: str, active: bool = False, codes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A searchset of ``kind``, as an EHR answers the prefetch query (status and ``code=`` honoured)."""
    found = [
        r for r in resources if r["resourceType"] == kind and (not active or r.get("status") == "active")
        and (not codes or any(c.get("code") in codes for c in r.get("code", {}).get("coding", [])))
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}


def _patient_view(name: str, as_of: str) -> dict[str, Any]:
    """A patient-view request for one Synthea record, its prefetch answered as the templates ask."""
    pid, res = _record(name)
    return {
        "hook": "patient-view",
        "context": {"userId": "Practitioner/bench", "patientId": pid},
        "extension": {AS_OF_EXTENSION: as_of},
        "prefetch": {"patient": res[0], "conditions": _bundle(res, "Condition"),
                     "observations": _bundle(res, "Observation", codes=PATIENT_VIEW_OBSERVATION_CODES),
                     "procedures": _bundle(res, "Procedure"), "immunizations": _bundle(res, "Immunization")},
    }  # fmt: skip


def _view_mix() -> list[bytes]:
    """patient-view bodies for every shared Synthea record (the load rotates through them)."""
    return [
        _encoded(_patient_view(p.name, PATIENT_VIEW[1]))
        for p in sorted((SHARED / "synthea-r4").glob("*.json"))
    ]


def _bodies() -> dict[str, dict[str, Any]]:
    view = _patient_view(*PATIENT_VIEW)
    pid, res = _record(ORDER_SIGN[0])
    dose = [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mg"}}]}]  # fmt: skip
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{pid}"}, "dosageInstruction": dose,
             "medicationCodeableConcept": {"text": "Metformin hydrochloride 500 MG Oral Tablet"}}  # fmt: skip
    egfr = [r for r in res if r["resourceType"] == "Observation"
            and any(c.get("code") == "33914-3" for c in r["code"].get("coding", []))]  # fmt: skip
    sign = {
        "hook": "order-sign",
        "context": {"userId": "Practitioner/bench", "patientId": pid,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
        "extension": {AS_OF_EXTENSION: ORDER_SIGN[1]},
        "prefetch": {"patient": res[0], "medications": _bundle(res, "MedicationRequest", active=True),
                     "egfr": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in egfr]}},
    }  # fmt: skip
    return {"cra-care-gaps": view, "cra-medication-check": sign}


class Signer:
    """Signs one fresh token per request, as an EHR does."""

    def __init__(self, base: str) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.base = base

    def jwks(self) -> str:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return json.dumps({"keys": [{**public, "kid": "bench", "alg": "ES384"}]})

    def header(self, service: str) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": ISS, "aud": f"{self.base}/cds-services/{service}", "iat": now, "exp": now + 120,
                  "jti": str(uuid.uuid4())}  # fmt: skip
        token = jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": "bench", "typ": "JWT"})
        return {"Authorization": f"Bearer {token}"}


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    if not len(ms):
        return {"n": 0}
    return {"n": len(ms), **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)},
            "max_ms": round(float(ms.max()), 1)}  # fmt: skip


_HOOK = "__hook_instance__"


def _encoded(body: dict[str, Any]) -> bytes:
    """The body serialised once; each request swaps in a fresh hookInstance (keeps client CPU low)."""
    return json.dumps({**body, "hookInstance": _HOOK}).encode()


async def _call(
    client: httpx.AsyncClient, signer: Signer, service: str, body: bytes
) -> tuple[float, int, int]:
    payload = body.replace(_HOOK.encode(), str(uuid.uuid4()).encode(), 1)
    headers = {**signer.header(service), "Content-Type": "application/json"}
    t0 = time.perf_counter()
    reply = await client.post(f"/cds-services/{service}", content=payload, headers=headers)
    elapsed = time.perf_counter() - t0
    return elapsed, reply.status_code, len(reply.json().get("cards", [])) if reply.status_code == 200 else -1


async def _sequential(url: str, signer: Signer, bodies: dict[str, bytes], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for service, body in bodies.items():
            for _ in range(5):  # warm-up: knowledge load, first passage searches
                await _call(client, signer, service, body)
            runs = [await _call(client, signer, service, body) for _ in range(n)]
            out[service] = {**_stats([r[0] for r in runs]), "errors": sum(r[1] != 200 for r in runs),
                            "cards": runs[-1][2]}  # fmt: skip
    return out


async def _load(
    url: str, signer: Signer, bodies: list[bytes], clients: int, seconds: float, proc: psutil.Process
) -> dict[str, Any]:
    """``clients`` closed-loop clients for ``seconds``, each request the next body of the rotation."""
    rotation = itertools.cycle(bodies)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    rss: list[float] = []
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            try:
                elapsed, status, _ = await _call(client, signer, "cra-care-gaps", next(rotation))
            except httpx.HTTPError:
                elapsed, status = 0.0, 0
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(elapsed)

    async def sample() -> None:
        while time.monotonic() < stop:
            rss.append(proc.memory_info().rss / 2**20)
            await asyncio.sleep(1)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    load_before, cpu_before = os.getloadavg()[0], _cpu_seconds(proc)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(sample(), *(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    server_cpu = _cpu_seconds(proc) - cpu_before
    errors = sum(n for s, n in statuses.items() if s != 200)
    tenth = max(1, len(rss) // 10)
    return {
        "clients": clients, "seconds": round(wall, 1), "requests": sum(statuses.values()), "errors": errors,
        "statuses": {str(k): v for k, v in statuses.items()},
        "throughput_rps": round(len(latencies) / wall, 2), **_stats(latencies),
        "rss_mb_first_10pct": round(float(np.mean(rss[:tenth])), 1), "rss_mb_last_10pct": round(float(np.mean(rss[-tenth:])), 1),
        "rss_mb_max": round(max(rss), 1), "patients": len(bodies),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, sum(statuses.values())), 2),
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited; run it by hand to see why")
        try:
            if httpx.get(f"{url}/cds-services", timeout=2).status_code in (200, 401):
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("the benchmark server did not start in time")


def _markdown(result: dict[str, Any]) -> str:
    seq = [{"service": k, **v} for k, v in result["sequential"].items()]
    load = result["load"]
    return (
        "# CDS Hooks benchmark\n\n"
        f"Real uvicorn on loopback, one worker, over {result['index']}. Each request carries a freshly signed "
        "ES384 JWT and real Synthea records as prefetch. Goal: cards p95 <= 500 ms.\n\n"
        "## One request at a time\n\n"
        + markdown_table(seq, ["service", "n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors", "cards"])
        + f"\n## Load: {load['clients']} concurrent clients for {load['seconds']} s on patient-view\n\n"
        + markdown_table(
            [load], ["requests", "errors", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
        )
        + f"\nThe load rotates through the {load['patients']} shared Synthea records (prefetch as the templates "
        f"ask). Server CPU per request: {load['server_cpu_ms_per_request']} ms; load average "
        f"{load['load_average_before']} before, {load['load_average_after']} after (the load generator "
        "shares the machine's cores).\n"
        + f"\nServer memory (RSS): first tenth {load['rss_mb_first_10pct']} MB, last tenth "
        f"{load['rss_mb_last_10pct']} MB, max {load['rss_mb_max']} MB.\n\n"
        f"Machine: {result['environment'].get('cpu_count', '?')} CPUs; measured {result['when']}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--data-dir", type=Path, default=None, help="an index to reuse (built when absent)")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per service")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        console.print(
            f"[red]shared data not found at {SHARED}; the benchmark needs its Synthea and USPSTF files"
        )
        return 2
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-cds-"))
    _index(data_dir)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    signer = Signer(url)
    env = {**os.environ, "CRA_DATA_DIR": str(data_dir), "CRA_CDS_ISSUERS": json.dumps({ISS: signer.jwks()}),
           "CRA_CDS_BASE_URL": url, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "evals.bench_cds:make_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        _wait(url, server)
        bodies = {k: _encoded(v) for k, v in _bodies().items()}
        console.print(f"sequential: {args.requests} requests per service")
        sequential = asyncio.run(_sequential(url, signer, bodies, args.requests))
        console.print(f"load: {args.clients} clients for {args.seconds:g} s on patient-view")
        load = asyncio.run(
            _load(url, signer, _view_mix(), args.clients, args.seconds, psutil.Process(server.pid))
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "index": "4 open-medicine guidelines + 137 USPSTF recommendations (embedded Qdrant)",
        "sequential": sequential,
        "load": load,
        "environment": {**environment(), "cpu_count": os.cpu_count()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_cds.json").write_text(json.dumps(result, indent=2))
    (args.out / "bench_cds.md").write_text(_markdown(result))
    console.print(_markdown(result))
    return 0 if load["errors"] == 0 and all(v["errors"] == 0 for v in sequential.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
