"""Held-out evaluation of a tokenizer beside the Griffin-Lim baseline, with the goals of issue 14.

    python recipes/mini/evaluate.py --model losatok_plugin/pretrained/losatok-mini --out runs/eval_mini \
        --manifest data/corpus/test.jsonl --manifest data/corpus/test_real.jsonl [--card recipes/mini/card.json]

Per set (a manifest whose name contains "real" is a real set, else synthetic) and domain, LoSATok and
the baseline (a 128-band mel spectrogram at 25 Hz inverted with Griffin-Lim: the same numbers per second
as the latent) on a seeded selection of at most ``--per-domain`` clips spread over the sources: mel
distance, MR-STFT, SI-SDR; on speech PESQ-WB, STOI and DNSMOS (originals too), and the corpus WER of
pocketsphinx and DNSMOS again on up to ``--wer-clips`` whole English clips with transcripts (the larger
DNSMOS sample is the one the goal checks). The demo's bundled music clips get
an original / LoSATok / baseline mel PNG with band 20 marked. Writes ``results.json`` and ``results.md``
(the goal checklist first); with ``--card`` also the model card from the run facts in that JSON file.
The computation is ``losatok_plugin.eval.heldout.evaluate_heldout``; ``--from-results`` re-renders the
Markdown (and card) from an existing ``results.json`` without recomputing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "recipes" / "assets" / "examples"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="save_pretrained folder or checkpoint")
    p.add_argument("--out", required=True, help="output folder (results.json, results.md, per-set folders)")
    p.add_argument("--manifest", action="append", default=[], help="held-out manifest (repeat for several sets)")
    p.add_argument("--per-domain", type=int, default=12, help="at most N clips per domain and set (seeded)")
    p.add_argument(
        "--wer-clips",
        type=int,
        default=100,
        help="English clips per set for the WER and a second DNSMOS sample (about 8 CPU-s each; cards to v2.8: 20)",
    )
    p.add_argument(
        "--wer-on", choices=("real", "all"), default="real", help="sets that get the WER: real ones (the goal) or all"
    )
    p.add_argument("--max-seconds", type=float, default=10.0, help="score the first N seconds of longer clips")
    p.add_argument("--seed", type=int, default=0, help="selection seed")
    p.add_argument(
        "--music-clip",
        action="append",
        default=None,
        help="music clip for the mel PNGs (repeat; default: the demo's recipes/assets/examples/music*.wav)",
    )
    p.add_argument("--card", default=None, help="JSON with run facts: also write the model card")
    p.add_argument("--card-out", default=None, help="where the card goes (default: README.md in --model)")
    p.add_argument(
        "--from-results",
        default=None,
        help="re-render results.md (and the card) from this JSON; with --music-clip also redraw the music PNGs",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if not args.manifest and not args.from_results:
        p.error("give at least one --manifest (or --from-results)")
    for flag in ("per_domain", "wer_clips"):
        if getattr(args, flag) < 0:
            p.error(f"--{flag.replace('_', '-')} must be 0 or more, got {getattr(args, flag)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from losatok_plugin.data.audio_io import load_audio
    from losatok_plugin.eval.baseline import GriffinLimMel
    from losatok_plugin.eval.heldout import (
        HeldoutReport,
        HeldoutSet,
        add_bundled_music,
        evaluate_heldout,
        write_report,
    )
    from losatok_plugin.eval.model_card import write_model_card
    from losatok_plugin.loading import load_vae

    out = Path(args.out)
    music = [Path(m) for m in args.music_clip] if args.music_clip is not None else sorted(EXAMPLES.glob("music*.wav"))
    if args.from_results:
        report = HeldoutReport.from_dict(json.loads(Path(args.from_results).read_text()))
        if args.music_clip is not None:  # redraw the PNGs, e.g. for clips bundled after the run
            clips = {m.stem: load_audio(m) for m in music}
            add_bundled_music(report, load_vae(args.model).eval(), GriffinLimMel(), clips, out)
        write_report(report, out)
    else:
        report = evaluate_heldout(
            [HeldoutSet.from_path(m) for m in args.manifest],
            load_vae(args.model).eval(),
            GriffinLimMel(),
            out,
            per_domain=args.per_domain,
            wer_clips=args.wer_clips,
            seed=args.seed,
            max_seconds=args.max_seconds,
            music_clips={m.stem: load_audio(m) for m in music},
            wer_kinds=("real", "synthetic") if args.wer_on == "all" else ("real",),
            progress=not args.quiet,
            settings={"model": str(args.model), "manifests": args.manifest},
        )
    md = report.markdown()
    print(md)
    if args.card:
        card = write_model_card(args.card_out or args.model, json.loads(Path(args.card).read_text()), md)
        print(f"model card: {card}")


if __name__ == "__main__":
    main()
