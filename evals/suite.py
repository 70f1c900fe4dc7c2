"""What every suite hands back, and how it is published: results.json, report.md, plots, index, gates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.gates import check_gates
from evals.report import write_index, write_results

__all__ = ["RunOptions", "SuiteOutput", "publish"]


@dataclass(frozen=True)
class RunOptions:
    """The runner's options common to every suite."""

    out: Path = Path("reports/eval")
    limit: int | None = None
    llm_url: str = ""
    llm_model: str = "smollm2"
    seed: int = 20261129
    fresh: bool = False
    workers: int = 1

    def folder(self, suite: str) -> Path:
        return self.out / suite


@dataclass
class SuiteOutput:
    """A finished suite: summary rows (one per configuration, keyed ``config``), every case, the
    settings that produced them, a one-line headline and the Markdown body of the report."""

    suite: str
    summary: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    settings: dict[str, Any]
    headline: dict[str, Any]
    body: list[str] = field(default_factory=list)
    config_hash: str = ""


def publish(output: SuiteOutput, options: RunOptions, *, gate: bool) -> list[str]:
    """Write the suite's artefacts and the index; returns the gate failures (empty when not gated)."""
    folder = options.folder(output.suite)
    failures = check_gates(output.suite, output.summary) if gate else None
    result = write_results(
        folder,
        output.suite,
        settings=output.settings,
        summary=output.summary,
        cases=output.cases,
        headline=output.headline,
        config_hash=output.config_hash,
        gates=failures,
    )
    env = result["environment"]
    footer = (
        f"\n---\nRun {env['when']} at commit `{(env['git']['commit'] or '?')[:10]}`"
        f"{' (uncommitted changes)' if env['git']['dirty'] else ''}, config hash `{output.config_hash}`. "
        f"Command: `{output.headline.get('command', '')}`. Settings: `{json.dumps(output.settings, default=str)}`. "
        "Every case with its inputs, outputs and scores is in `results.json`.\n"
    )
    gate_line = (
        []
        if failures is None
        else [
            "## Gates\n",
            "All gates passed.\n" if not failures else "\n".join(f"- FAILED {f}" for f in failures),
        ]
    )
    text = "\n".join([f"# {output.suite}\n", f"**Headline:** {output.headline.get('text', '')}\n"])
    text += "\n".join([*output.body, *gate_line, footer])
    (folder / "report.md").write_text(text, encoding="utf-8")
    write_index(options.out)
    return failures or []
