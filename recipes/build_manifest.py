"""Build a JSONL (or CSV) manifest from a folder of audio files.

python recipes/build_manifest.py AUDIO_DIR out/train.jsonl --domain speech [--label-from-parent]
"""

from __future__ import annotations

import argparse

from losatok_plugin.data import build_manifest, write_manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="folder scanned recursively for wav/flac/ogg/mp3")
    p.add_argument("manifest", help="output manifest (.jsonl or .csv)")
    p.add_argument("--domain", choices=["speech", "music", "sound"], default=None, help="domain of every file")
    p.add_argument("--label-from-parent", action="store_true", help="use each file's parent folder as its label")
    args = p.parse_args()
    entries, skipped = build_manifest(args.folder, args.domain, args.label_from_parent)
    write_manifest(entries, args.manifest)
    hours = sum(e.duration or 0 for e in entries) / 3600
    print(f"wrote {len(entries)} files ({hours:.2f} h) to {args.manifest}; skipped {len(skipped)}")
    for path, reason in skipped:
        print(f"  skipped {path}: {reason}")


if __name__ == "__main__":
    main()
