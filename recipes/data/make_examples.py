"""Pick the bundled example clips (``recipes/assets/examples``) from the corpus' held-out test split.

    python -m recipes.data.make_examples --corpus data/corpus --out recipes/assets/examples

One clip per kind, the first of its held-out split that is at least 3 s long and not near-silent, cut to
4 s (a clip with a transcript must fit whole): synthetic (``test.jsonl``: espeak-ng speech, flite speech, rendered MIDI music, a synthesised sound
event) and real (``test_real.jsonl``: an Asterisk English prompt, CC-BY-SA-3.0, and a warzone2100
soundtrack excerpt, taken under its CC-BY-SA-3.0 option; speakers and tracks never heard in training).
File names start with the domain (``speech_``, ``music_``, ``sound_``), which is how the demo knows which
metrics apply. ``--kinds`` re-picks some clips and keeps the others' entries in ``examples.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from losatok_plugin.fileio import atomic_write_text

# name -> (domain, source, split)
KINDS = {
    "speech_espeak": ("speech", "espeak-ng", "test"),
    "speech_flite": ("speech", "flite", "test"),
    "music_midi": ("music", "fluidsynth", "test"),
    "sound_event": ("sound", "synthesised", "test"),
    "speech_real": ("speech", "asterisk-core-sounds-en-g722", "test_real"),
    "music_real": ("music", "warzone2100-music", "test_real"),
}
KEEP = ("path", "domain", "source", "label", "text", "voice", "speaker", "track", "license", "families", "tempo", "key")
MIN_RMS_DB = -40.0  # a clip this quiet (an intro's silence) is passed over


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="data/corpus", help="corpus folder (build_corpus.py --out)")
    p.add_argument("--out", default="recipes/assets/examples", help="where the clips go")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}")
    args = p.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise SystemExit(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
    corpus, out = Path(args.corpus), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "examples.json"
    info = json.loads(index.read_text()) if index.is_file() else {}
    for name in kinds:
        domain, source, split = KINDS[name]
        manifest = corpus / f"{split}.jsonl"
        if not manifest.is_file():
            raise SystemExit(
                f"{manifest} not found: build the corpus first (python -m recipes.data.build_corpus --out {corpus})"
            )
        rows = [json.loads(line) for line in manifest.read_text().splitlines()]
        audio, sr, row = None, 0, None
        for r in rows:
            if r["domain"] != domain or r["source"] != source or r["duration"] < 3.0:
                continue
            if r.get("text") and r["duration"] > args.seconds:  # a transcribed clip is kept whole (WER)
                continue
            a, sr = sf.read(str(corpus / r["path"]), dtype="float32", always_2d=True)
            a = a.mean(1)[: int(args.seconds * sr)]
            if 10 * np.log10(float(np.mean(a**2)) + 1e-12) >= MIN_RMS_DB:
                audio, row = a, r
                break
        if row is None:
            raise SystemExit(
                f"no audible {source} {domain} clip of at least 3 s in {manifest}: build a larger corpus (--hours)"
            )
        sf.write(str(out / f"{name}.wav"), audio, sr, subtype="PCM_16")
        info[name] = {k: row[k] for k in KEEP if k in row}
    atomic_write_text(index, json.dumps(info, indent=2, ensure_ascii=False))
    print(f"wrote {len(kinds)} clips to {out}")


if __name__ == "__main__":
    main()
