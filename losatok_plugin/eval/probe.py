"""Linear probes: how much of a task a representation makes linearly available (XARES-style, local).

Clip level: mean-pool ``[T, D]`` over time, standardise, multinomial logistic regression. Frame level,
where a manifest gives ``frame_labels`` (one label per 40 ms frame), on individual frames. Fixed seed;
the split is the manifest's ``split`` field (``train``/``test``) when present, else a stratified split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class ProbeResult:
    task: str
    representation: str
    level: str  # clip | frame
    accuracy: float
    n_train: int
    n_test: int
    n_classes: int
    chance: float  # majority-class accuracy on the test split

    def to_dict(self) -> dict:
        return asdict(self)


def _split(
    labels: list[str], splits: list[str | None], test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(len(labels))
    if all(s in ("train", "test") for s in splits) and {"train", "test"} <= set(splits):
        s = np.array(splits)
        return idx[s == "train"], idx[s == "test"]
    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    stratify = labels if min(counts.values()) >= 2 else None
    return train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)


def _fit(x_train, y_train, x_test, y_test, seed: int) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(x_train, y_train)
    acc = float((clf.predict(x_test) == y_test).mean())
    majority = Counter(y_train).most_common(1)[0][0]
    return acc, float((y_test == majority).mean())


def clip_probe(
    features: list[torch.Tensor],
    labels: list[str],
    splits: list[str | None],
    task: str,
    representation: str,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> ProbeResult:
    """Mean-pooled clip-level linear probe over ``features`` (each ``[T, D]``)."""
    if len(set(labels)) < 2:
        raise ValueError(f"task {task!r} needs at least 2 classes, got {sorted(set(labels))}")
    x = torch.stack([f.mean(dim=0) for f in features]).double().numpy()
    y = np.array(labels)
    tr, te = _split(labels, splits, test_fraction, seed)
    acc, chance = _fit(x[tr], y[tr], x[te], y[te], seed)
    return ProbeResult(task, representation, "clip", acc, len(tr), len(te), len(set(labels)), chance)


def frame_probe(
    features: list[torch.Tensor],
    frame_labels: list[list[str]],
    splits: list[str | None],
    task: str,
    representation: str,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> ProbeResult:
    """Frame-level probe; clips (not frames) are split so that no clip is in both halves."""
    clip_ids = [str(i) for i in range(len(features))]
    tr, te = _split(clip_ids, splits, test_fraction, seed)

    def stack(ids):
        xs, ys = [], []
        for i in ids:
            t = min(features[i].shape[0], len(frame_labels[i]))
            xs.append(features[i][:t])
            ys += list(frame_labels[i][:t])
        return torch.cat(xs).double().numpy(), np.array(ys)

    x_tr, y_tr = stack(tr)
    x_te, y_te = stack(te)
    acc, chance = _fit(x_tr, y_tr, x_te, y_te, seed)
    return ProbeResult(task, representation, "frame", acc, len(y_tr), len(y_te), len(set(y_tr) | set(y_te)), chance)
