"""Writing a suite's results: ``results.json`` (every case), ``report.md`` (tables, worst cases) and a plot."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["environment", "markdown_table", "write_suite"]


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every run, so figures can be compared honestly."""
    versions: dict[str, str | None] = {}
    for pkg in (
        "clinical-reasoning-agent",
        "qdrant-edge-py",
        "qdrant-client",
        "sentence-transformers",
        "torch",
        "llama-index-core",
        "open-medicine",
    ):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "packages": versions,
    }


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` restricted to ``columns``."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |\n" for r in rows)
    return head + body


def _bar_plot(path: Path, title: str, rows: list[dict[str, Any]], label: str, metrics: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / max(1, len(rows))
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [row[m] for m in metrics], width=width, label=str(row[label]))
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_suite(
    out_dir: Path,
    suite: str,
    *,
    summary_rows: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    settings: dict[str, Any],
    notes: str,
    worst: list[dict[str, Any]],
    worst_columns: list[str],
    metrics: list[str],
) -> Path:
    """Write the three artefacts of one suite under ``out_dir/suite`` and return that folder."""
    folder = out_dir / suite
    folder.mkdir(parents=True, exist_ok=True)
    env = environment()
    result = {
        "suite": suite,
        "environment": env,
        "settings": settings,
        "summary": summary_rows,
        "cases": cases,
    }
    (folder / "results.json").write_text(json.dumps(result, indent=2))
    _bar_plot(folder / "scores.png", suite, summary_rows, "config", metrics)
    md = [
        f"# {suite}\n",
        notes.strip() + "\n",
        "## Scores\n",
        markdown_table(summary_rows, ["config", *metrics, "n"]),
        "\n![scores](scores.png)\n",
        "## Worst cases\n",
        markdown_table(worst, worst_columns),
        f"\nRun {env['when']}; settings: `{json.dumps(settings)}`\n",
    ]
    (folder / "report.md").write_text("\n".join(md))
    return folder
