"""``latency``: end-to-end and per-node wall time of ``Agent.ask``, in evidence mode and in LLM mode.

Timings come from the agent's own ``timings_ms`` (each graph node, and ``total`` measured around
the whole call). One warm-up question per mode is asked first and not recorded, so model loading
and first-query caches do not land in the percentiles.
"""

from __future__ import annotations

from typing import Any

from evals.metrics import latency_percentiles
from evals.report import bar_plot, markdown_table
from evals.runner import Case
from evals.suite_faithfulness import load_jsonl

__all__ = ["NODES", "build_cases", "summarize"]

NODES = (
    "guard_input",
    "plan",
    "retrieve_guidelines",
    "retrieve_patient",
    "build_evidence",
    "reason",
    "repair",
    "fallback",
    "guard_output",
    "finish",
    "total",
)


def build_cases(patient_ids: list[str], modes: list[str], limit: int | None) -> list[Case]:
    """Guideline questions without a patient and patient questions, per mode; ``limit`` caps each half."""
    guideline = load_jsonl("guideline_questions.jsonl")[1::6]
    patient = [(q, pid) for pid in patient_ids for q in load_jsonl("patient_questions.jsonl")]
    cases = []
    for mode in modes:
        cases += [Case(f"{mode}/{q['id']}", {"mode": mode, "q": q["q"]}) for q in guideline[:limit]]
        cases += [
            Case(f"{mode}/{q['id']}@{pid[:8]}", {"mode": mode, "q": q["q"], "patient_id": pid})
            for q, pid in patient[:limit]
        ]
    return cases


def summarize(
    records: list[dict[str, Any]], modes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per mode: the end-to-end row (gated) and the per-node rows (for the table and plot)."""
    summary, nodes = [], []
    for mode in modes:
        timed = [r for r in records if r["inputs"]["mode"] == mode and r.get("outputs", {}).get("timings_ms")]
        if not timed:
            continue
        for node in NODES:
            samples = [
                r["outputs"]["timings_ms"][node] / 1000 for r in timed if node in r["outputs"]["timings_ms"]
            ]
            if samples:
                nodes.append({"config": mode, "node": node, **latency_percentiles(samples)})
        total = latency_percentiles([r["outputs"]["timings_ms"]["total"] / 1000 for r in timed])
        answered = {r["outputs"].get("answer_mode") for r in timed}
        summary.append(
            {
                "config": mode,
                "total_p50_ms": total["p50_ms"],
                "total_p95_ms": total["p95_ms"],
                "answer_modes": ", ".join(sorted(str(a) for a in answered)),
                "n": total["n"],
            }
        )
    return summary, nodes


def report_body(folder: Any, summary: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = sorted({n["config"] for n in nodes})
    fig, axes = plt.subplots(1, max(1, len(modes)), figsize=(6 * max(1, len(modes)), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=False):
        rows = [n for n in nodes if n["config"] == mode]
        names = [n["node"] for n in rows]
        ax.barh(names, [n["p95_ms"] for n in rows], color="lightsteelblue", label="p95")
        ax.barh(names, [n["p50_ms"] for n in rows], color="steelblue", label="p50")
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds (log scale)")
        ax.set_title(f"latency per node: {mode} mode")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    bar_plot(
        folder / "scores.png",
        "end-to-end latency",
        summary,
        "config",
        ["total_p50_ms", "total_p95_ms"],
        ylim=None,
        ylabel="ms",
    )
    return [
        "## End to end\n",
        markdown_table(summary, ["config", "total_p50_ms", "total_p95_ms", "answer_modes", "n"]),
        "\n![scores](scores.png)\n",
        "## Per node\n",
        "Nodes that did not run for a question (repair, fallback) count only over the questions where they ran.\n",
        markdown_table(nodes, ["config", "node", "p50_ms", "p95_ms", "n"]),
        "\n![per node](latency.png)\n",
    ]
