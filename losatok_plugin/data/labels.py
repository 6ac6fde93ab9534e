"""Supervision targets of the small semantic teacher, read from manifest fields.

| target | manifest field | level | loss |
| --- | --- | --- | --- |
| phonemes | ``phonemes`` (espeak-ng IPA, speech) | sequence | CTC |
| domain | ``domain`` | clip | cross-entropy |
| language | ``lang`` (speech) | clip | cross-entropy |
| instrument families | ``families`` (music) | clip | binary cross-entropy |
| pitches | ``notes`` ``[[onset s, offset s, midi pitch, family], ...]`` (music) | frame (25 Hz) | binary cross-entropy |
| sound class | ``label`` of ``source == "synthesised"`` sound clips | clip | cross-entropy |
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from ..fileio import atomic_write_text
from .manifest import DOMAINS, ManifestEntry

_DROP = re.compile(r"\([a-z-]+\)|[ˈˌ\s()\-_]")
_MODIFIERS = "ːˑʰʲʷ̃"
N_PITCHES = 128


def phoneme_tokens(ipa: str) -> list[str]:
    """IPA string -> phoneme symbols.

    Stress marks, spaces and espeak-ng's language-switch marks ``(en)`` are dropped; combining marks,
    the length mark and secondary articulations stay attached to the symbol before them.
    """
    out: list[str] = []
    for ch in _DROP.sub("", ipa):
        if out and (unicodedata.combining(ch) or ch in _MODIFIERS):
            out[-1] += ch
        else:
            out.append(ch)
    return out


@dataclass
class LabelSpace:
    """Class inventories of every target; index 0 of ``phonemes`` is the CTC blank."""

    phonemes: list[str] = field(default_factory=lambda: ["<blank>"])
    domains: list[str] = field(default_factory=lambda: list(DOMAINS))
    langs: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    sound_classes: list[str] = field(default_factory=list)

    @classmethod
    def from_entries(cls, entries: list[ManifestEntry]) -> LabelSpace:
        phon, langs, fams, sounds = set(), set(), set(), set()
        for e in entries:
            if e.extra.get("phonemes"):
                phon.update(phoneme_tokens(e.extra["phonemes"]))
            if e.domain == "speech" and e.extra.get("lang"):
                langs.add(e.extra["lang"])
            fams.update(e.extra.get("families") or [])
            if e.domain == "sound" and e.extra.get("source") == "synthesised" and e.label:
                sounds.add(e.label)
        return cls(["<blank>", *sorted(phon)], list(DOMAINS), sorted(langs), sorted(fams), sorted(sounds))

    @cached_property
    def phoneme_ids(self) -> dict[str, int]:
        """Symbol -> CTC class id (0 is the blank)."""
        return {p: i for i, p in enumerate(self.phonemes)}

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), json.dumps(asdict(self), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> LabelSpace:
        return cls(**json.loads(Path(path).read_text()))

    def targets(
        self, entry: ManifestEntry, start_s: float, n_frames: int, frame_rate: float = 25.0, whole_clip: bool = True
    ) -> dict[str, torch.Tensor]:
        """Targets of ``entry`` for a window starting at ``start_s`` with ``n_frames`` tokens.

        Missing targets are ``-1`` (class ids) or empty / all-``-1`` tensors, so the losses can mask
        them. Phonemes are only given when the window is the whole clip (CTC needs the full sequence).
        """
        ex = entry.extra
        ids = lambda xs, v: xs.index(v) if v in xs else -1  # noqa: E731
        phon = []
        if whole_clip and ex.get("phonemes"):
            ids_of = self.phoneme_ids
            phon = [ids_of[p] for p in phoneme_tokens(ex["phonemes"]) if p in ids_of]
        fam = torch.full((len(self.families),), -1.0)
        roll = torch.full((n_frames, N_PITCHES), -1.0)
        if entry.domain == "music" and ex.get("families") is not None:
            fam = torch.tensor([float(f in ex["families"]) for f in self.families])
        if entry.domain == "music" and ex.get("notes") is not None:
            roll.zero_()
            for on, off, pitch, family in ex["notes"]:
                if family == "drums":
                    continue
                a = max(0, int((on - start_s) * frame_rate))
                b = min(n_frames, int((off - start_s) * frame_rate) + 1)
                if b > a:
                    roll[a:b, int(pitch)] = 1.0
        sound = (
            ids(self.sound_classes, entry.label)
            if entry.domain == "sound" and ex.get("source") == "synthesised"
            else -1
        )
        lang = ids(self.langs, ex.get("lang")) if entry.domain == "speech" else -1
        return {
            "phonemes": torch.tensor(phon, dtype=torch.long),
            "domain": torch.tensor(ids(self.domains, entry.domain)),
            "lang": torch.tensor(lang),
            "families": fam,
            "pitches": roll,
            "sound": torch.tensor(sound),
        }
