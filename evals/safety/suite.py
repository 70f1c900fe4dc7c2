"""``cra eval safety``: build the attacked store, run attacks and benign questions, write the report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from evals.safety.edge import run_edge_probes
from evals.safety.run import load_cases, run_cases, summarize
from evals.safety.world import POISONED_PATIENT, build_world

__all__ = ["run_safety_suite"]


def _service_attacks(world: Any, data_dir: Path, subset: int | None) -> list[dict[str, Any]]:
    """The HTTP service's cases (:mod:`evals.safety.service`) against a live app over the same store."""
    from agent.settings import AgentSettings
    from evals.live_server import live_server
    from evals.safety.service import Probe, run_service_cases
    from service.deps import Deps

    deps = Deps(AgentSettings(data_dir=data_dir))
    deps.store = world.store
    deps.dense = world.dense
    with live_server(deps, api_rate_per_minute=6000, api_rate_burst=500) as live:
        probe = Probe(live.url, live.key, world.patient_ids[0], world.patient_ids[1])
        return run_service_cases(probe, subset)


def run_safety_suite(
    settings: Any, dense: Any, sparse: Any, synthea: Path, *, subset: int | None
) -> dict[str, Any]:
    """Rows per case and per category; ``subset`` keeps the first N cases of each category (CI gate).

    The attacks on the service's edge (:mod:`evals.safety.edge`: tokens, Host header, bodies, keys,
    headers, file modes, the store right after a start) run whole in every mode: they take seconds.
    """
    from agent.factory import make_agent
    from agent.safety import safety_guards
    from agent.settings import AgentSettings

    with tempfile.TemporaryDirectory(prefix="cra-redteam-") as tmp:
        world = build_world(Path(tmp), synthea, dense, sparse)
        allowed = {*world.patient_ids, POISONED_PATIENT}
        # payloads with their issuer: only trusted issuers' doses make the dose table
        texts = lambda: (p for _, p in world.store.scroll("guidelines", fields=["text", "issuer"]))  # noqa: E731
        guards = safety_guards(texts, encoder=dense)
        guards["input_guard"].authorize = lambda pid: pid in allowed
        guards["output_guard"].warm_up()
        agent_settings = AgentSettings(data_dir=Path(tmp))

        def agent_for(model: Any) -> Any:
            return make_agent(agent_settings, guidelines=world.guidelines, patients=world.patients, encoder=dense,
                              llm=model, **guards)  # fmt: skip

        attacks = run_cases(load_cases("redteam", subset), world, agent_for)
        benign = run_cases(load_cases("benign", subset), world, agent_for)
        attacks += _service_attacks(world, Path(tmp) / "service", subset)
        world.store.close()
    attacks += run_edge_probes()
    summary = summarize(attacks, "attack") + summarize(benign, "benign")
    n_att, n_ben = len(attacks), len(benign)
    summary.append({"config": "all_attacks", "kind": "attack", "n": n_att,
                    "block_rate": round(sum(r["blocked"] for r in attacks) / n_att, 4)})  # fmt: skip
    summary.append({"config": "all_benign", "kind": "benign", "n": n_ben,
                    "false_block_rate": round(sum(r["false_block"] for r in benign) / n_ben, 4),
                    "pass_rate": round(1 - sum(r["false_block"] for r in benign) / n_ben, 4)})  # fmt: skip
    return {"summary": summary, "cases": attacks + benign}
