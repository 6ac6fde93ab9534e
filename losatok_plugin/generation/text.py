"""Prompts and tokenizers, built offline from a corpus: no model hub.

* ``chars`` tokenizers (TTS): one piece per character, so any transcript in the corpus alphabet is
  spelled out; words are marked by the ``▁`` piece, as in sentencepiece.
* ``words`` tokenizers (TTM / TTA captions): one piece per caption word.

Both are ``T5TokenizerFast`` over a Unigram model (the kind T5 tokenizers hold) so that they save and
restore through ``save_pretrained`` / ``from_pretrained`` like any diffusers pipeline tokenizer.
Prompts are normalised like ``LongCatAudioDiTPipeline`` does (lower case, quotes removed, spaces
collapsed) in training and at generation, whichever family.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

PROMPT_KINDS = ("chars", "words")
SPECIAL = ("<pad>", "</s>", "<unk>")


class PromptError(ValueError):
    """A prompt is empty or holds tokens the pipeline's tokenizer does not know."""


def normalize_prompt(text: str) -> str:
    """Lower case, quotes to spaces, runs of white space to one space (LongCat's ``_normalize_text``)."""
    text = text.lower()
    text = re.sub(r'["“”‘’]', " ", text)
    return re.sub(r"\s+", " ", text).strip()


def build_tokenizer(prompts: Iterable[str], kind: str, max_length: int, min_count: int = 1):
    """A ``T5TokenizerFast`` whose vocabulary is every character (``chars``) or word (``words``) of ``prompts``.

    Args:
        prompts: normalised training prompts.
        kind: ``chars`` or ``words``.
        max_length: ``model_max_length`` (tokens, ``</s>`` included); longer prompts are truncated.
        min_count: pieces seen fewer times are left out (they become ``<unk>``).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import T5TokenizerFast

    if kind not in PROMPT_KINDS:
        raise ValueError(f"prompt kind must be one of {PROMPT_KINDS}, got {kind!r}")
    counts: Counter[str] = Counter()
    for p in prompts:
        if kind == "chars":
            counts.update(c for c in p if not c.isspace())
        else:
            counts.update("▁" + w for w in p.split())
    pieces = sorted(k for k, n in counts.items() if n >= min_count)
    # Specials, the word marker "▁", then the pieces: characters ("▁" + "h" + "i") or whole words ("▁hi").
    vocab = [(s, 0.0) for s in SPECIAL] + [("▁", -1.0)] + [(k, -2.0) for k in pieces]
    tk = Tokenizer(models.Unigram(vocab, unk_id=2))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    return T5TokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_length,
        extra_ids=0,
    )


def check_prompt(tokenizer, prompt: str) -> list[int]:
    """Token ids of a normalised ``prompt``; :class:`PromptError` if empty or with unknown pieces."""
    if not prompt.strip():
        raise PromptError("the prompt is empty")
    ids = tokenizer(prompt, truncation=False).input_ids
    unk = tokenizer.unk_token_id
    if unk in ids:
        pieces = tokenizer.convert_ids_to_tokens(tokenizer(prompt).input_ids)
        words = [w for w in prompt.split() if unk in tokenizer(w).input_ids]
        raise PromptError(
            f"the prompt holds tokens this pipeline's tokenizer does not know: {words or pieces}; "
            f"known pieces: {len(tokenizer)} (see tokenizer/ in the pipeline folder)"
        )
    if len(ids) > tokenizer.model_max_length:
        raise PromptError(
            f"the prompt is {len(ids)} tokens long; this pipeline takes at most {tokenizer.model_max_length}"
        )
    return ids


# -- captions per domain ------------------------------------------------------------------------------
def _tempo_word(bpm: float) -> str:
    return "slow" if bpm < 90 else "moderate" if bpm < 130 else "fast"


def music_caption(meta: dict[str, Any]) -> str:
    """``"piano and organ music fast tempo e major"`` from the corpus' music labels."""
    families = meta.get("families") or ([meta["label"]] if meta.get("label") else [])
    names = [str(f).replace("_", " ") for f in families]
    parts = [(" and ".join(names) + " music") if names else "music"]
    if meta.get("tempo"):
        parts.append(f"{_tempo_word(float(meta['tempo']))} tempo")
    if meta.get("key"):
        parts.append(str(meta["key"]))
    return normalize_prompt(" ".join(parts))


def sound_caption(meta: dict[str, Any]) -> str:
    """``"the sound of a noise burst"`` from the sound-event class (or the effect's name)."""
    name = meta.get("label") or meta.get("name") or "sound"
    return normalize_prompt("the sound of " + str(name).replace("_", " ").replace("-", " "))


def speech_prompt(meta: dict[str, Any]) -> str:
    """The transcript (TTS prompts are what is said)."""
    return normalize_prompt(str(meta.get("text") or ""))


CAPTIONS = {"speech": speech_prompt, "music": music_caption, "sound": sound_caption}


def prompt_for(meta: dict[str, Any], domain: str) -> str:
    """The training prompt of one clip (``meta``: its manifest fields)."""
    try:
        return CAPTIONS[domain](meta)
    except KeyError:
        raise ValueError(f"domain must be one of {sorted(CAPTIONS)}, got {domain!r}") from None


def seconds_per_char(prompts: list[str], seconds: list[float]) -> float:
    """The TTS duration rule: median seconds per non-space character over the training clips."""
    import statistics

    rates = [s / max(1, sum(not c.isspace() for c in p)) for p, s in zip(prompts, seconds) if p]
    return float(statistics.median(rates)) if rates else 0.08
