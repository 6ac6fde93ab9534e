"""A compact training pack for a GPU run (issue 14 item 4): corpus clips as Ogg/Opus, one manifest, pack.json.

    python recipes/mini/gpu/pack.py build --manifest data/corpus/train.jsonl --out packs/mini_v2 [--budget-mb auto]
    python recipes/mini/gpu/pack.py init --pack packs/mini_v2 --init runs/sembo_mini/final
    python recipes/mini/gpu/pack.py quality --manifest data/corpus/train.jsonl --kbps 16 24 32
    python recipes/mini/gpu/pack.py wheels --out packs/.whl
    python recipes/mini/gpu/pack.py budget

A device run carries the working tree plus its ``carry`` paths, 64 MiB in all; ``--budget-mb auto`` is what
is left after the tracked tree, the wheels, the stage-1 export (``--init``) and a reserve for a carried
resume checkpoint. Clips are chosen seeded and balanced: every source gets ``--min-per-source`` clips,
then the source furthest below its share of the corpus' hours gets the next one, until the budget is
full. Clips without a transcript are cut to ``--max-seconds`` (training crops 1.28 s); speech with text
stays whole (the teacher's CTC needs the whole utterance).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from losatok_plugin.data import read_manifest
from losatok_plugin.data.audio_io import load_audio
from losatok_plugin.data.manifest import ManifestEntry, ManifestError

SAMPLE_RATE = 16000
CARRY_LIMIT = 64 * 1024 * 1024  # bytes a device run carries: working tree + carry paths
# Wheels the device lacks (KINDS.md lists its packages; diffusers, soundfile and cffi are not there).
# pycparser is cffi's requirement. diffusers also lists importlib_metadata, but imports it only on
# Python < 3.8 (utils/import_utils.py), and its newest version would need lazy-importer: left out.
WHEELS = ("diffusers", "soundfile", "cffi", "pycparser")
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


class PackError(ValueError):
    """Bad input to the pack builder (printed as one line)."""


def _repo() -> Path:
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    return Path(out.stdout.strip()) if out.returncode == 0 else Path.cwd()


def dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def travelling_bytes(repo: Path) -> int:
    """Bytes of the tracked and untracked-not-ignored files: what every device run carries anyway."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    files = {repo / f for f in out.stdout.decode().split("\0") if f}
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())


def encode_opus(audio: np.ndarray, level: float) -> bytes:
    """Mono float32 at 16 kHz -> Ogg/Opus bytes (libsndfile's compression level sets the bitrate)."""
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
    return buf.getvalue()


def decode_opus(data: bytes) -> np.ndarray:
    x, sr = sf.read(io.BytesIO(data), dtype="float32")
    if sr != SAMPLE_RATE:
        raise PackError(f"Opus decoded at {sr} Hz, expected {SAMPLE_RATE}")
    return x


def level_for_kbps(kbps: float, probe: np.ndarray) -> tuple[float, float]:
    """libsndfile maps compression level (0..1) to an Opus bitrate non-linearly: bisect on a probe signal.

    Returns (level, measured kbps of the probe)."""
    seconds = len(probe) / SAMPLE_RATE
    lo, hi = 0.0, 1.0  # level 0 = highest bitrate
    best = (0.0, len(encode_opus(probe, 0.0)) * 8 / seconds / 1000)
    for _ in range(8):  # level to 1/256
        mid = (lo + hi) / 2
        rate = len(encode_opus(probe, mid)) * 8 / seconds / 1000
        if rate > kbps:
            lo = mid
        else:
            hi, best = mid, (mid, rate)
    return best


def _load(entry: ManifestEntry) -> np.ndarray:
    return load_audio(entry.path, SAMPLE_RATE).numpy()


def _source(e: ManifestEntry) -> str:
    return f"{e.domain or 'unknown'}/{e.extra.get('source', 'unknown')}"


def balanced_order(entries: list[ManifestEntry], seed: int, min_per_source: int) -> list[ManifestEntry]:
    """Seeded order: ``min_per_source`` clips of every source first, then always the source furthest
    below its share of the corpus' hours (so any prefix is balanced)."""
    rng = random.Random(seed)
    by_src: dict[str, list[ManifestEntry]] = defaultdict(list)
    for e in entries:
        by_src[_source(e)].append(e)
    for src in sorted(by_src):
        rng.shuffle(by_src[src])
    total = sum(_dur(e) for e in entries) or 1.0
    share = {s: sum(_dur(e) for e in v) / total for s, v in by_src.items()}
    taken = {s: 0.0 for s in by_src}
    pos = {s: 0 for s in by_src}
    order: list[ManifestEntry] = []
    for _ in range(min_per_source):
        for s in sorted(by_src):
            if pos[s] < len(by_src[s]):
                e = by_src[s][pos[s]]
                pos[s] += 1
                taken[s] += _dur(e)
                order.append(e)
    while True:
        live = [s for s in sorted(by_src) if pos[s] < len(by_src[s])]
        if not live:
            return order
        s = min(live, key=lambda k: taken[k] / share[k] if share[k] else float("inf"))
        e = by_src[s][pos[s]]
        pos[s] += 1
        taken[s] += _dur(e)
        order.append(e)


def _dur(e: ManifestEntry) -> float:
    if e.duration is not None:
        return e.duration
    info = sf.info(e.path)
    e.duration = info.frames / info.samplerate
    return e.duration


def _cut(audio: np.ndarray, entry: ManifestEntry, max_seconds: float, rng: random.Random) -> np.ndarray:
    n = int(max_seconds * SAMPLE_RATE)
    if max_seconds <= 0 or len(audio) <= n or entry.extra.get("text") or entry.extra.get("phonemes"):
        return audio
    start = rng.randint(0, len(audio) - n)
    return audio[start : start + n]


def write_split(
    entries: list[ManifestEntry],
    out: Path,
    name: str,
    budget: int,
    level: float,
    max_seconds: float,
    seed: int,
    kbps_hint: float,
    stop_after_misses: int = 50,
) -> dict:
    """Encode ``entries`` in order into ``out/name/`` until ``budget`` bytes; write ``out/name.jsonl``."""
    rng = random.Random(seed)
    (out / name).mkdir(parents=True, exist_ok=True)
    rows, used, misses, seconds, t0 = [], 0, 0, 0.0, time.perf_counter()
    stats: dict[str, dict[str, float]] = defaultdict(lambda: {"clips": 0, "hours": 0.0, "bytes": 0})
    bar = tqdm(entries, desc=f"pack {name}", unit="clip", leave=False)
    for i, e in enumerate(bar):
        room = budget - used
        if room < 2048:
            break
        est = min(_dur(e), max_seconds or float("inf")) * kbps_hint * 125  # bytes at the target bitrate
        if est > 1.5 * room:  # cannot fit: skip without decoding and encoding it
            misses += 1
            if misses >= stop_after_misses:
                break
            continue
        audio = _cut(_load(e), e, max_seconds, rng)
        if len(audio) < SAMPLE_RATE // 10:
            continue
        data = encode_opus(audio, level)
        line_bytes = 300 + len(json.dumps(e.extra, ensure_ascii=False).encode())
        if used + len(data) + line_bytes > budget:
            misses += 1  # a smaller clip may still fit; give up after a run of misses
            if misses >= stop_after_misses:
                break
            continue
        misses = 0
        rel = f"{name}/{i:05d}.ogg"
        (out / rel).write_bytes(data)
        dur = len(audio) / SAMPLE_RATE
        row = {"path": rel, "duration": round(dur, 4), "domain": e.domain, "label": e.label, **e.extra}
        rows.append({k: v for k, v in row.items() if v is not None})
        used += len(data) + line_bytes
        seconds += dur
        s = stats[_source(e)]
        s["clips"] += 1
        s["hours"] += dur / 3600
        s["bytes"] += len(data)
        bar.set_postfix(mb=f"{used / 1e6:.1f}", h=f"{seconds / 3600:.2f}")
    manifest = out / f"{name}.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    audio_bytes = sum(s["bytes"] for s in stats.values())
    return {
        "manifest": manifest.name,
        "clips": len(rows),
        "hours": round(seconds / 3600, 4),
        "audio_bytes": audio_bytes,
        "kbps": round(audio_bytes * 8 / max(seconds, 1e-9) / 1000, 2),
        "encode_seconds": round(time.perf_counter() - t0, 1),
        "sources": {k: {**v, "hours": round(v["hours"], 4)} for k, v in sorted(stats.items())},
    }


def _read(manifests: list[str]) -> list[ManifestEntry]:
    entries: list[ManifestEntry] = []
    for m in manifests:
        entries += read_manifest(m)
    if not entries:
        raise PackError(f"no clips in {', '.join(manifests)}")
    return entries


def tree_hash(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in out.rglob("*") if q.is_file() and q.name != "pack.json"):
        h.update(str(p.relative_to(out)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()  # of this pack's bytes: a rebuild differs (libsndfile picks random Ogg serial numbers)


def auto_budget(repo: Path, wheels: Path, reserve_mb: float) -> tuple[int, dict]:
    """Bytes left for the pack (audio, manifests, init/) after everything else a device run carries."""
    parts = {
        "limit": CARRY_LIMIT,
        "working_tree": travelling_bytes(repo),
        "wheels": dir_bytes(wheels),
        "resume_reserve": int(reserve_mb * 1024 * 1024),
        "margin": 512 * 1024,
    }
    left = parts["limit"] - sum(v for k, v in parts.items() if k != "limit")
    parts["left_for_pack"] = left
    return left, parts


def copy_init(src: Path, dst: Path, dtype: str) -> dict:
    """The frozen parts (teacher + SemBo) of the stage-1 export the tokenizer starts from, in ``dtype``.

    A stage-1 export is a whole LoSATokVAE whose acoustic branch, Gaussian head and decoder are still at
    random initialisation (stage 1 trains only SemBo): only the frozen parts are stored (half the
    bytes), and :func:`expand_init` gives the others a fresh seeded initialisation on the device.
    float16 halves them again (the float32 islands stay float32, as in recipes/mini/export.py).
    """
    import torch
    from safetensors.torch import save_file

    from losatok_plugin.loading import load_vae
    from losatok_plugin.training.gan import FROZEN

    vae = load_vae(str(src)).eval()
    if dtype != "float32":
        vae.to(getattr(torch, dtype))
    dst.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in vae.state_dict().items() if k.split(".")[0] in FROZEN}
    save_file(state, str(dst / "frozen.safetensors"), metadata={"format": "pt"})
    shutil.copy(Path(src) / "config.json", dst / "config.json")
    return {"from": str(src), "dtype": dtype, "parts": list(FROZEN), "bytes": dir_bytes(dst)}


def expand_init(pack_init: Path, out: Path, seed: int = 0, parts_from: str = "") -> Path:
    """A whole LoSATokVAE export (``init_from``) from a pack's ``init/``: the stored frozen parts as
    float32, the trainable parts freshly initialised with ``seed``, or taken from ``parts_from`` (a
    model whose acoustic branch, Gaussian head and decoder fit, e.g. the tracked ``losatok-mini``: the
    warm start of recipes/mini/compose_init.py)."""
    import torch
    from safetensors.torch import load_file

    from losatok_plugin import LoSATokVAE
    from losatok_plugin.training.gan import FROZEN

    config = json.loads((pack_init / "config.json").read_text())
    torch.manual_seed(seed)
    vae = LoSATokVAE.from_config(config)
    state = {k: v.float() for k, v in load_file(str(pack_init / "frozen.safetensors")).items()}
    missing, unexpected = vae.load_state_dict(state, strict=False)
    wrong = [k for k in missing if k.split(".")[0] in FROZEN] + list(unexpected)
    if wrong:
        raise PackError(f"{pack_init}: weights that do not fit its config: {wrong[:5]}")
    if parts_from:
        from losatok_plugin.loading import load_vae
        from losatok_plugin.training.gan import TRAINABLE
        from losatok_plugin.training.models import copy_parts

        try:
            copy_parts(vae, load_vae(parts_from).float(), TRAINABLE)
        except ValueError as e:
            raise PackError(f"{parts_from} -> {pack_init}: {e}") from None
    vae.save_pretrained(out)
    return out


def build(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    if out.exists():
        if not args.overwrite:
            raise PackError(f"{out} exists (pass --overwrite to rebuild it)")
        shutil.rmtree(out)
    init = Path(args.init) if args.init else None
    if init is not None and not (init / "config.json").is_file():
        raise PackError(f"--init {init}: not an export folder (no config.json)")
    train = _read(args.manifest)
    valid = _read(args.valid_manifest) if args.valid_manifest else []
    repo = _repo()
    if args.budget_mb == "auto":
        budget, parts = auto_budget(repo, Path(args.wheels), args.reserve_mb)
    else:
        try:
            budget, parts = int(float(args.budget_mb) * 1024 * 1024), {}
        except ValueError:
            raise PackError(f"--budget-mb must be a number or 'auto', got {args.budget_mb!r}") from None
    if budget <= (dir_bytes(init) if init else 0):
        hint = ""
        if parts and parts["working_tree"] > parts["limit"] // 2:
            hint = (
                f"; the working tree alone is {parts['working_tree'] / 2**20:.1f} MiB: "
                "run `bash recipes/mini/gpu/slim_tree.sh hide` first (recipes/mini/README.md, 'On a GPU')"
            )
        raise PackError(f"no room for audio in {budget / 2**20:.2f} MiB ({parts or 'explicit --budget-mb'}){hint}")
    order = balanced_order(train, args.seed, args.min_per_source)
    probe = np.concatenate([_load(e)[: 5 * SAMPLE_RATE] for e in order[: args.probe_clips]])
    level, probe_kbps = level_for_kbps(args.kbps, probe)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    info: dict = {
        "format": "OGG/OPUS mono 16 kHz (soundfile)",
        "kbps_target": args.kbps,
        "compression_level": round(level, 5),
        "probe_kbps": round(probe_kbps, 2),
        "seed": args.seed,
        "max_seconds": args.max_seconds,
        "budget_bytes": budget,
        "budget_parts": parts,
        "from_manifests": [str(m) for m in args.manifest],
    }
    if init is not None:  # the budget covers the whole pack folder, init/ included
        info["init"] = copy_init(init, out / "init", args.init_dtype)
    valid_budget = min(max(budget // 20, 64 << 10), 1 << 20) if valid else 0
    if valid:
        vorder = balanced_order(valid, args.seed, 1)[: args.valid_clips]
        info["valid"] = write_split(vorder, out, "valid", valid_budget, level, args.max_seconds, args.seed, args.kbps)
    info["train"] = write_split(
        order, out, "train", budget - dir_bytes(out), level, args.max_seconds, args.seed + 1, args.kbps
    )
    info["encode_seconds"] = round(time.perf_counter() - t0, 1)
    info["pack_bytes"] = dir_bytes(out)
    info["sha256"] = tree_hash(out)
    (out / "pack.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    return info


def add_init(args: argparse.Namespace) -> dict:
    """Put (or replace) the stage-1 export in an existing pack; pack.json records it and the new size."""
    out = Path(args.pack)
    meta = out / "pack.json"
    if not meta.is_file():
        raise PackError(f"{out}: not a pack (no pack.json)")
    init = Path(args.init)
    if not (init / "config.json").is_file():
        raise PackError(f"--init {init}: not an export folder (no config.json)")
    info = json.loads(meta.read_text())
    if (out / "init").exists():
        shutil.rmtree(out / "init")
    info["init"] = copy_init(init, out / "init", args.init_dtype)
    info["pack_bytes"] = dir_bytes(out) - meta.stat().st_size
    info["sha256"] = tree_hash(out)
    meta.write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    return info


def quality(args: argparse.Namespace) -> dict:
    """Round trip decode(encode(x)) vs x per domain at each bitrate: mel distance and SNR."""
    import torch

    from losatok_plugin.eval.metrics import mel_distance

    entries = _read(args.manifest)
    rng = random.Random(args.seed)
    by_dom: dict[str, list[ManifestEntry]] = defaultdict(list)
    for e in entries:
        by_dom[e.domain or "unknown"].append(e)
    picks = {d: rng.sample(v, min(args.clips_per_domain, len(v))) for d, v in sorted(by_dom.items())}
    audio = {d: [_load(e)[: 10 * SAMPLE_RATE] for e in v] for d, v in picks.items()}
    probe = np.concatenate([a[: 5 * SAMPLE_RATE] for v in audio.values() for a in v])
    report: dict = {}
    for kbps in args.kbps:
        level, _ = level_for_kbps(kbps, probe)
        row: dict = {"compression_level": round(level, 4)}
        for d, clips in audio.items():
            mels, snrs, nbytes, secs = [], [], 0, 0.0
            for x in clips:
                data = encode_opus(x, level)
                y = decode_opus(data)[: len(x)]
                x2 = x[: len(y)]
                nbytes += len(data)
                secs += len(x) / SAMPLE_RATE
                mels.append(float(mel_distance(torch.from_numpy(x2)[None], torch.from_numpy(y)[None]).mean()))
                err = float(np.sum((x2 - y) ** 2)) + 1e-12
                snrs.append(10 * np.log10(float(np.sum(x2**2)) / err + 1e-12))
            row[d] = {
                "kbps": round(nbytes * 8 / secs / 1000, 1),
                "mel_distance": round(float(np.mean(mels)), 4),
                "snr_db": round(float(np.mean(snrs)), 2),
                "clips": len(clips),
            }
        report[str(kbps)] = row
    return report


def wheels(args: argparse.Namespace) -> list[str]:
    """Download the device's missing wheels (Python 3.12, manylinux x86-64), versions from constraints.txt."""
    pins = {}
    constraints = _repo() / "constraints.txt"
    for line in constraints.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, ver = line.split("#")[0].strip().split("==")
            pins[name.lower().replace("_", "-")] = ver
    specs = [f"{w}=={pins[w.replace('_', '-')]}" if w.replace("_", "-") in pins else w for w in WHEELS]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", "3.12", "--implementation", "cp", "-d", str(out)]
    for p in WHEEL_PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd + specs, check=True)
    if args.slim_diffusers:
        for whl in out.glob("diffusers-*.whl"):
            before, after = slim_diffusers(whl)
            print(f"{whl.name}: {before / 2**20:.2f} -> {after / 2**20:.2f} MiB (--slim-diffusers)")
    return sorted(p.name for p in out.glob("*.whl"))


KEEP_PIPELINES = ("stable_audio", "stable_audio_3", "longcat_audio_dit")  # what losatok_plugin uses


def slim_diffusers(wheel: Path) -> tuple[int, int]:
    """Rewrite the diffusers wheel without the pipeline families this project never imports (image,
    video, deprecated; ~3.5 of its 6.4 MB). diffusers imports pipelines lazily, so the models, the
    configuration and the audio pipelines work as before. Returns (bytes before, bytes after)."""
    import zipfile

    def dropped(name: str) -> bool:
        parts = name.split("/")
        return (len(parts) > 3 and parts[0] == "diffusers" and parts[1] in ("pipelines", "modular_pipelines")) and not (
            parts[1] == "pipelines" and parts[2] in KEEP_PIPELINES
        )

    before = wheel.stat().st_size
    tmp = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        record = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        for info in src.infolist():
            if dropped(info.filename) or info.filename == record:
                continue
            dst.writestr(info, src.read(info.filename))
        lines = [ln for ln in src.read(record).decode().splitlines() if ln and not dropped(ln.split(",")[0])]
        dst.writestr(record, "\n".join(lines) + "\n")
    tmp.replace(wheel)
    return before, wheel.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="encode a balanced selection of the corpus into a pack folder")
    b.add_argument("--manifest", action="append", required=True, help="training manifest (repeatable)")
    b.add_argument("--valid-manifest", action="append", default=[], help="validation manifest (repeatable)")
    b.add_argument("--valid-clips", type=int, default=24, help="validation clips packed (at most 1 MiB)")
    b.add_argument("--out", required=True, help="pack folder, e.g. packs/mini_v2")
    b.add_argument(
        "--budget-mb",
        default="auto",
        help="MiB for the whole pack folder (init/ included), or auto: 64 MiB minus the tree and wheels",
    )
    b.add_argument("--reserve-mb", type=float, default=0.0, help="with auto: MiB kept free for packs/resume")
    b.add_argument("--wheels", default="packs/.whl", help="with auto: the wheel folder that also travels")
    b.add_argument("--init", default="", help="stage-1 export copied into the pack as init/ (tokenizer stage)")
    b.add_argument("--init-dtype", choices=["float16", "float32"], default="float16", help="how init/ is stored")
    b.add_argument("--kbps", type=float, default=48.0, help="target Opus bitrate (README: codec mel error by bitrate)")
    b.add_argument("--max-seconds", type=float, default=8.0, help="cut clips without text to this (0: keep)")
    b.add_argument("--min-per-source", type=int, default=3, help="clips of every source taken first")
    b.add_argument("--probe-clips", type=int, default=8, help="clips used to calibrate the bitrate")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--overwrite", action="store_true", help="replace an existing pack folder")
    i = sub.add_parser("init", help="add the stage-1 export (tokenizer init_from) to a built pack")
    i.add_argument("--pack", required=True, help="pack folder, e.g. packs/mini_v2")
    i.add_argument("--init", required=True, help="stage-1 export, e.g. runs/sembo_mini/final")
    i.add_argument("--init-dtype", choices=["float16", "float32"], default="float16")
    x = sub.add_parser("expand-init", help="(device) a whole init_from export from a pack's init/")
    x.add_argument("--pack", required=True, help="pack folder holding init/")
    x.add_argument("--out", required=True, help="export folder to write, e.g. /tmp/init")
    x.add_argument("--seed", type=int, default=0, help="seed of the trainable parts' initialisation")
    x.add_argument("--parts-from", default="", help="take the trainable parts from this model (e.g. losatok-mini)")
    q = sub.add_parser("quality", help="codec round-trip quality per domain at some bitrates")
    q.add_argument("--manifest", action="append", required=True)
    q.add_argument("--kbps", type=float, nargs="+", default=[16.0, 24.0, 32.0])
    q.add_argument("--clips-per-domain", type=int, default=6)
    q.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("wheels", help="download the wheels the GPU machine lacks")
    w.add_argument("--out", default="packs/.whl")
    w.add_argument("--slim-diffusers", action="store_true", help="drop diffusers' image/video pipelines (~3.5 MB less)")
    g = sub.add_parser("budget", help="what a device run would carry with the given carry paths")
    g.add_argument("carry", nargs="*", default=["packs/mini_v2", "packs/.whl", "packs/resume"])
    args = p.parse_args()
    try:
        if args.cmd == "build":
            info = build(args)
            t = info["train"]
            print(
                f"{args.out}: {t['clips']} clips, {t['hours']:.3f} h, {t['kbps']} kbps, "
                f"{info['pack_bytes'] / 2**20:.2f} MiB (budget {info['budget_bytes'] / 2**20:.2f} MiB), "
                f"encoded in {info['encode_seconds']} s"
            )
        elif args.cmd == "init":
            info = add_init(args)
            print(
                f"{args.pack}/init: {info['init']['bytes'] / 2**20:.2f} MiB; pack {info['pack_bytes'] / 2**20:.2f} MiB"
            )
        elif args.cmd == "expand-init":
            print(expand_init(Path(args.pack) / "init", Path(args.out), args.seed, args.parts_from))
        elif args.cmd == "quality":
            print(json.dumps(quality(args), indent=1))
        elif args.cmd == "wheels":
            print("\n".join(wheels(args)))
        else:
            repo = _repo()
            tree = travelling_bytes(repo)
            carried = {c: dir_bytes(repo / c) for c in args.carry}
            total = tree + sum(carried.values())
            for c, n in carried.items():
                print(f"{c}: {n / 2**20:.2f} MiB")
            print(f"working tree: {tree / 2**20:.2f} MiB; total {total / 2**20:.2f} of 64 MiB")
            if total > CARRY_LIMIT:
                raise PackError(f"a device run would carry {total / 2**20:.2f} MiB, over 64 MiB")
    except (PackError, ManifestError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
