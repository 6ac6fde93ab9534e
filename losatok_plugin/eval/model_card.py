"""The model card (``README.md`` of a released model folder) from run facts and the measured tables.

The run facts are a JSON file such as ``recipes/mini/card.json``::

    {"name": "...", "summary": "...",
     "facts": {"stage 0, teacher": "...", ...},            # one bullet per entry
     "data_sources": [{"source": "...", "domain": "...", "license": "...", "use": "..."}, ...]
                     or {"source": "text", ...},           # optional
     "wall_clock": {"stage 0, teacher": "36 min", ...},    # optional
     "eval_note": "...", "limitations": "...", "license": "..."}

Every key but ``name`` is optional, so older facts files (without ``data_sources`` / ``wall_clock``)
still render.
"""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_text

SOURCE_COLUMNS = ("source", "domain", "license", "use")


def _data_sources(sources) -> list[str]:
    if isinstance(sources, dict):
        return [f"- **{k}**: {v}" for k, v in sources.items()]
    cols = [c for c in SOURCE_COLUMNS if any(c in s for s in sources)]
    cols += sorted({k for s in sources for k in s} - set(cols))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for s in sources:
        lines.append("| " + " | ".join(str(s.get(c, "")) for c in cols) + " |")
    return lines


def render_model_card(info: dict, results_md: str) -> str:
    """The card's Markdown: summary, training facts, data sources, wall clock per stage, the measured
    held-out results (``results_md``, e.g. :meth:`~losatok_plugin.eval.heldout.HeldoutReport.markdown`),
    limitations and licence."""
    lines = [f"# {info.get('name', 'losatok-mini')}", "", info.get("summary", ""), "", "## Training", ""]
    for k, v in info.get("facts", {}).items():
        lines.append(f"- **{k}**: {v}")
    if info.get("data_sources"):
        lines += ["", "## Data sources", "", *_data_sources(info["data_sources"])]
    if info.get("wall_clock"):
        lines += ["", "## Wall clock per stage", "", "| stage | wall clock |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in info["wall_clock"].items()]
    lines += ["", "## Held-out reconstruction (measured)", "", info.get("eval_note", ""), "", results_md, ""]
    for k in ("limitations", "license"):
        if info.get(k):
            lines += [f"## {k.capitalize()}", "", info[k], ""]
    return "\n".join(lines)


def write_model_card(path: str | Path, info: dict, results_md: str) -> Path:
    """Write :func:`render_model_card` to ``path`` (a model folder: its ``README.md``) atomically."""
    path = Path(path)
    if path.is_dir():
        path = path / "README.md"
    atomic_write_text(path, render_model_card(info, results_md))
    return path
