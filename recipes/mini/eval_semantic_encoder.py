"""Read-out metrics of a stage-0 export (the small semantic encoder) per source and language.

    python recipes/mini/eval_semantic_encoder.py --export runs/teacher_mini/final \
        --manifest data/corpus/valid.jsonl --manifest data/corpus/test_real.jsonl --out runs/eval_teacher

Loads the export's encoder, its ``labels.json`` and its read-out heads (``teacher_heads.safetensors``),
and writes ``semantic_encoder_eval.json`` plus a markdown table: phoneme error rate (greedy CTC) and
domain / language accuracy for every (manifest, source, language) group with at least one clip.
Clips up to ``--max-seconds`` are scored whole (CTC needs the whole transcript).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from losatok_plugin.data import read_manifest
from losatok_plugin.data.labels import LabelSpace
from losatok_plugin.data.supervised_clips import SupervisedClips, collate_clips
from losatok_plugin.eval.heldout import shared_wavs
from losatok_plugin.eval.supervision import evaluate_supervision
from losatok_plugin.losses.supervision import SupervisionHeads
from losatok_plugin.teachers import load_semantic_encoder


def load_export(export: Path) -> tuple[torch.nn.Module, SupervisionHeads, LabelSpace]:
    """The encoder, read-out heads and label space of a stage-0 export folder."""
    labels = LabelSpace.load(export / "labels.json")
    encoder = load_semantic_encoder(export)  # config + semantic_encoder.* only, frozen, eval mode
    state = load_file(str(export / "teacher_heads.safetensors"))
    k = state["ctc.weight"].shape[0] // len(labels.phonemes)
    spectrum = state["spectrum.weight"].shape[0] if "spectrum.weight" in state else 0
    heads = SupervisionHeads(encoder.output_dim, labels, ctc_upsample=k, spectrum_dim=spectrum)
    heads.load_state_dict(state)
    return encoder, heads.eval(), labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, action="append", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--domain", default="speech", help="only clips of this domain ('' = all)")
    args = ap.parse_args()
    torch.manual_seed(0)
    encoder, heads, labels = load_export(args.export)
    rows = []
    for manifest in args.manifest:
        groups = defaultdict(list)
        shared = shared_wavs(manifest)  # rows whose wav other rows also name: the audio is not theirs
        in_manifest = read_manifest(manifest)
        if shared:
            n = sum(str(e.path) in shared for e in in_manifest)
            print(f"{manifest}: {n} rows left out (their wav is also named by other manifest rows)")
        for e in in_manifest:
            if str(e.path) not in shared and (not args.domain or e.domain == args.domain):
                groups[(e.extra.get("source", "?"), e.extra.get("lang", ""))].append(e)
        for (source, lang), entries in sorted(groups.items()):
            ds = SupervisedClips(entries, labels, args.max_seconds, train=False)
            loader = DataLoader(ds, batch_size=8, collate_fn=collate_clips)
            m = evaluate_supervision(encoder, heads, loader, torch.device("cpu"))
            seen = lang in labels.langs
            rows.append(
                {
                    "manifest": manifest.name,
                    "source": source,
                    "lang": lang,
                    "lang_in_training": seen,
                    "clips": m.clips,
                    "per": m.per,
                    "domain_acc": m.domain_acc,
                    "lang_acc": m.lang_acc,
                }
            )
            print(f"{manifest.name} {source} {lang}: {rows[-1]}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "semantic_encoder_eval.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "| manifest | source | lang | lang in training | clips | PER | domain acc | lang acc |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['manifest']} | {r['source']} | {r['lang']} | {r['lang_in_training']} | {r['clips']} | "
            f"{f(r['per'])} | {f(r['domain_acc'])} | {f(r['lang_acc'])} |"
        )
    (args.out / "semantic_encoder_eval.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
