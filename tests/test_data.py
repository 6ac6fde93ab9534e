"""Manifests, dataset crops, feature caches."""

from __future__ import annotations

import pytest
import torch

from losatok_plugin.data import (
    AudioCropDataset,
    FeatureCache,
    FeatureCacheError,
    build_feature_cache,
    build_manifest,
    read_manifest,
    write_manifest,
)
from losatok_plugin.data.manifest import ManifestError

from .helpers import write_corpus


def test_manifest_from_folder_roundtrips_jsonl_and_csv(tmp_path):
    write_corpus(tmp_path / "audio", n=3)
    (tmp_path / "audio" / "broken.wav").write_bytes(b"RIFF....not audio")
    entries, skipped = build_manifest(tmp_path / "audio", domain="sound", progress=False)
    assert len(entries) == 3 and len(skipped) == 1 and "broken.wav" in skipped[0][0]
    assert all(e.domain == "sound" and e.duration == pytest.approx(1.28, abs=1e-3) for e in entries)
    for name in ("m.jsonl", "m.csv"):
        write_manifest(entries, tmp_path / name)
        back = read_manifest(tmp_path / name)
        assert [b.path for b in back] == [e.path for e in entries]
        assert back[0].duration == entries[0].duration and back[0].domain == "sound"


def test_manifest_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "a.wav", "domain": "noise"}\n')
    with pytest.raises(ManifestError, match="domain"):
        read_manifest(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ManifestError, match="not JSON"):
        read_manifest(bad)


def test_dataset_crops_resamples_downmixes_and_skips(tmp_path):
    paths = write_corpus(tmp_path / "audio", n=4, seconds=1.28)
    short = write_corpus(tmp_path / "short", n=1, seconds=0.3)[0]
    (tmp_path / "audio" / "broken.wav").write_bytes(b"garbage")
    entries = read_manifest(write_manifest(build_manifest(tmp_path / "audio", progress=False)[0], tmp_path / "m.jsonl"))
    entries += read_manifest(
        write_manifest(build_manifest(tmp_path / "short", progress=False)[0], tmp_path / "s.jsonl")
    )
    from losatok_plugin.data import ManifestEntry

    entries.append(ManifestEntry(str(tmp_path / "audio" / "broken.wav")))
    ds = AudioCropDataset(entries, crop_frames=25)
    assert len(ds) == 4
    reasons = dict(ds.skipped)
    assert "shorter than one crop" in reasons[str(short)]
    assert "unreadable" in reasons[str(tmp_path / "audio" / "broken.wav")]
    for i in range(len(ds)):
        item = ds[i]
        assert item["audio"].shape == (25 * 640,) and item["audio"].dtype == torch.float32
    stereo = [i for i, (e, sr, _) in enumerate(ds.items) if e.path == str(paths[-1])][0]
    assert ds.items[stereo][1] == 22050


def test_feature_cache_build_slice_and_resume(tmp_path, tiny_vae):
    write_corpus(tmp_path / "audio", n=3, seconds=2.0)
    entries = build_manifest(tmp_path / "audio", progress=False)[0]
    calls = []

    def encode(audio):
        calls.append(audio.shape)
        return tiny_vae.semantic_encoder(audio)

    cache, skipped = build_feature_cache(
        entries[:2], encode, tmp_path / "cache", dim=64, teacher_id="t", shard_size=1, progress=False
    )
    assert not skipped and len(cache.entries) == 2 and len(calls) == 2
    cache, _ = build_feature_cache(entries, encode, tmp_path / "cache", dim=64, teacher_id="t", progress=False)
    assert len(cache.entries) == 3 and len(calls) == 3  # resumed: only the new file was encoded
    with torch.no_grad():
        from losatok_plugin.data import load_audio

        full = tiny_vae.semantic_encoder(load_audio(entries[0].path)[None])[0]
    assert cache.frames(entries[0].path) == full.shape[0] == 50
    torch.testing.assert_close(cache.get(entries[0].path, 10, 5), full[10:15], atol=2e-3, rtol=2e-3)  # fp16 storage
    with pytest.raises(FeatureCacheError, match="another teacher"):
        build_feature_cache(entries, encode, tmp_path / "cache", dim=64, teacher_id="other", progress=False)
    ds = AudioCropDataset(entries, crop_frames=20, feature_cache=FeatureCache(tmp_path / "cache"))
    item = ds[0]
    assert item["semantic_emb"].shape == (20, 64) and item["audio"].shape == (20 * 640,)
    # a clip shorter than the crop is looped, audio and cached features alike
    looped = AudioCropDataset(
        entries, crop_frames=120, feature_cache=FeatureCache(tmp_path / "cache"), short_clips="repeat"
    )
    assert len(looped) == 3 and not looped.skipped
    item = looped[0]
    audio = load_audio(entries[0].path)[: 50 * 640]
    assert item["audio"].shape == (120 * 640,) and item["semantic_emb"].shape == (120, 64)
    torch.testing.assert_close(item["audio"][: 50 * 640], audio)
    torch.testing.assert_close(item["audio"][50 * 640 : 100 * 640], audio)
    torch.testing.assert_close(item["semantic_emb"][50:100], cache.get(entries[0].path, 0, 50))
    with pytest.raises(ValueError, match="short_clips"):
        AudioCropDataset(entries, crop_frames=20, short_clips="pad")
    with pytest.raises(ValueError, match="no usable files"):  # the default still skips them
        AudioCropDataset(entries, crop_frames=120, feature_cache=FeatureCache(tmp_path / "cache"))
