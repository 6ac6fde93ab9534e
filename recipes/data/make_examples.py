"""Pick the bundled example clips (``recipes/assets/examples``) from the corpus' held-out test split.

    python -m recipes.data.make_examples --corpus data/corpus --out recipes/assets/examples

One clip per kind (espeak-ng speech, flite speech, rendered MIDI music, synthesised sound event), the
first of the test split that is at least 3 s long, cut to 4 s. File names start with the domain
(``speech_``, ``music_``, ``sound_``), which is how the demo knows which metrics apply.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf

from losatok_plugin.fileio import atomic_write_text

KINDS = {
    "speech_espeak": ("speech", "espeak-ng"),
    "speech_flite": ("speech", "flite"),
    "music_midi": ("music", "fluidsynth"),
    "sound_event": ("sound", "synthesised"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="data/corpus", help="corpus folder (build_corpus.py --out)")
    p.add_argument("--out", default="recipes/assets/examples", help="where the clips go")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length")
    args = p.parse_args()
    corpus, out = Path(args.corpus), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = corpus / "test.jsonl"
    if not manifest.is_file():
        raise SystemExit(
            f"{manifest} not found: build the corpus first (python -m recipes.data.build_corpus --out {corpus})"
        )
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    info = {}
    for name, (domain, source) in KINDS.items():
        row = next((r for r in rows if r["domain"] == domain and r["source"] == source and r["duration"] >= 3.0), None)
        if row is None:
            raise SystemExit(
                f"no {source} {domain} clip of at least 3 s in {manifest}: build a larger corpus (--hours)"
            )
        audio, sr = sf.read(str(corpus / row["path"]), dtype="float32")
        sf.write(str(out / f"{name}.wav"), audio[: int(args.seconds * sr)], sr, subtype="PCM_16")
        info[name] = {
            k: row[k]
            for k in ("path", "domain", "source", "label", "text", "voice", "families", "tempo", "key")
            if k in row
        }
    atomic_write_text(out / "examples.json", json.dumps(info, indent=2, ensure_ascii=False))
    print(f"wrote {len(info)} clips to {out}")


if __name__ == "__main__":
    main()
