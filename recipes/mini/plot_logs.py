"""Plot the losatok-mini training curves from the runs' ``metrics.jsonl`` (one PNG, three panels).

python recipes/mini/plot_logs.py --logs recipes/mini/logs --out recipes/mini/logs/curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PANELS = {
    "teacher": [
        "teacher/ctc",
        "teacher/domain",
        "teacher/lang",
        "teacher/sound",
        "teacher_valid/per",
        "teacher_valid/domain_acc",
    ],
    "sembo": ["sembo/recon", "sembo/time_relation"],
    "tokenizer": ["mel", "stft", "semantic", "disc", "adv", "fm"],
}


def read(path: Path) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)):
                series.setdefault(k, []).append((row["step"], v))
    return series


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logs", default="recipes/mini/logs", help="folder with <stage>_metrics.jsonl")
    p.add_argument("--out", default="recipes/mini/logs/curves.png", help="PNG to write")
    p.add_argument(
        "--file", action="append", default=[], metavar="STAGE=PATH", help="a stage's metrics.jsonl elsewhere"
    )
    args = p.parse_args()
    files = dict(f.split("=", 1) for f in args.file)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (stage, keys) in zip(axes, PANELS.items()):
        path = Path(files.get(stage, Path(args.logs) / f"{stage}_metrics.jsonl"))
        if not path.is_file():
            ax.set_title(f"{stage}: no log")
            continue
        series = read(path)
        for k in keys:
            if k in series:
                points = [(s, v) for s, v in sorted(series[k]) if v > 0]  # 0: target absent from that batch
                if not points:
                    continue
                steps, values = zip(*points)
                if "valid" not in k and len(values) > 8:  # per-batch values are noisy: moving average of 5
                    values = [
                        sum(values[max(0, i - 4) : i + 1]) / len(values[max(0, i - 4) : i + 1])
                        for i in range(len(values))
                    ]
                ax.plot(steps, values, label=k, marker="." if "valid" in k else None)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(stage)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
