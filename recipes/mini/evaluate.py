"""Held-out evaluation of a tokenizer beside the Griffin-Lim baseline, per manifest and domain.

    python recipes/mini/evaluate.py --model losatok_plugin/pretrained/losatok-mini --out runs/eval_mini \
        --manifest data/corpus/test.jsonl --manifest data/corpus/test_real.jsonl [--card run_info.json]

The baseline is the 128-band mel spectrogram at 25 Hz inverted with Griffin-Lim
(``losatok_plugin.eval.baseline``): the same numbers per second as the latent. Writes ``results.json``
and ``results.md``; with ``--card`` also the model card (``README.md`` in the model folder) from the
run facts in that JSON file and the measured table.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from losatok_plugin.data import read_manifest
from losatok_plugin.eval.baseline import GriffinLimMel
from losatok_plugin.eval.recon import METRICS, evaluate_reconstruction
from losatok_plugin.fileio import atomic_write_text
from losatok_plugin.loading import load_vae

REPO = Path(__file__).resolve().parents[2]
LOWER_IS_BETTER = {"mel", "stft"}
NAMES = {"mel": "mel dist ↓", "stft": "MR-STFT ↓", "si_sdr": "SI-SDR dB ↑", "pesq_wb": "PESQ-WB ↑", "stoi": "STOI ↑"}


def subsample(entries, per_domain: int, seed: int):
    groups = defaultdict(list)
    for e in entries:
        groups[e.domain].append(e)
    rng = random.Random(seed)
    out = []
    for d in sorted(groups, key=str):
        g = groups[d]
        out += rng.sample(g, per_domain) if len(g) > per_domain else g
    return out


def table(results: dict) -> str:
    lines = [
        "| set | domain | clips | metric | LoSATok | Griffin-Lim 128-mel | better |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, res in results.items():
        for domain, s in res["losatok"].items():
            if domain == "all":
                continue
            b = res["griffin_lim"].get(domain, {})
            for m in METRICS:
                if m not in s:
                    continue
                ours, base = s[m], b.get(m)
                win = "" if base is None else ("LoSATok" if (ours < base) == (m in LOWER_IS_BETTER) else "baseline")
                lines.append(
                    f"| {set_name} | {domain} | {s['clips']} | {NAMES[m]} | {ours:.3f} | "
                    f"{'-' if base is None else f'{base:.3f}'} | {win} |"
                )
    return "\n".join(lines)


def write_card(model_dir: Path, info: dict, results_md: str) -> Path:
    lines = [f"# {info.get('name', 'losatok-mini')}", "", info.get("summary", ""), "", "## Training", ""]
    for k, v in info.get("facts", {}).items():
        lines.append(f"- **{k}**: {v}")
    lines += ["", "## Held-out reconstruction (measured)", "", info.get("eval_note", ""), "", results_md, ""]
    for k in ("limitations", "license"):
        if info.get(k):
            lines += [f"## {k.capitalize()}", "", info[k], ""]
    path = model_dir / "README.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="save_pretrained folder or checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--manifest", action="append", required=True, help="held-out manifest(s)")
    p.add_argument("--per-domain", type=int, default=40, help="at most N clips per domain per manifest (seeded)")
    p.add_argument("--seed", type=int, default=0, help="subsampling seed")
    p.add_argument("--card", default=None, help="JSON with run facts: write the model card into --model")
    args = p.parse_args()
    model = load_vae(args.model).eval()
    baseline = GriffinLimMel()
    out = Path(args.out)
    results = {}
    for manifest in args.manifest:
        name = Path(manifest).stem
        entries = subsample(read_manifest(manifest), args.per_domain, args.seed)
        ours = evaluate_reconstruction(entries, out / name / "losatok", model=model, plots=6)
        base = evaluate_reconstruction(entries, out / name / "griffin_lim", codec=baseline, plots=0)
        results[name] = {"losatok": ours.summary, "griffin_lim": base.summary, "missing": ours.missing + base.missing}
    md = table(results)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    atomic_write_text(out / "results.md", md + "\n")
    print(md)
    if args.card:
        print(f"model card: {write_card(Path(args.model), json.loads(Path(args.card).read_text()), md)}")


if __name__ == "__main__":
    main()
