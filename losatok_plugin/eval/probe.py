"""Linear probes: how much of a task a representation makes linearly available (XARES-style, local).

Clip level: mean-pool ``[T, D]`` over time, standardise, multinomial logistic regression. Frame level,
where a manifest gives ``frame_labels`` (one label per 40 ms frame), on individual frames. Bag level, where
a manifest gives ``bag`` (a set of tokens per clip, e.g. the phonemes of a transcript without alignment):
one binary probe per token, averaged. Fixed seed; the split is the manifest's ``split`` field
(``train``/``test``) when present, else a stratified split. Several seeds: each seed fits on a random
``train_fraction`` of the training clips (the held-out clips stay fixed), so the spread over seeds is the
probe's sensitivity to its training sample; :func:`summarize` gives mean ± std.
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
    seed: int = 0

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


def _subsample(train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A random ``fraction`` of the training indices (all of them at 1.0), sorted."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return train
    n = max(2, round(fraction * len(train)))
    return np.sort(np.random.default_rng(seed).choice(train, size=min(n, len(train)), replace=False))


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
    train_fraction: float = 1.0,
) -> ProbeResult:
    """Mean-pooled clip-level linear probe over ``features`` (each ``[T, D]``), fitted on a random
    ``train_fraction`` of the training clips (seeded)."""
    if len(set(labels)) < 2:
        raise ValueError(f"task {task!r} needs at least 2 classes, got {sorted(set(labels))}")
    x = torch.stack([f.mean(dim=0) for f in features]).double().numpy()
    y = np.array(labels)
    tr, te = _split(labels, splits, test_fraction, seed)
    tr = _subsample(tr, train_fraction, seed)
    if len(set(y[tr])) < 2:
        raise ValueError(f"task {task!r}: the training split has a single class")
    acc, chance = _fit(x[tr], y[tr], x[te], y[te], seed)
    return ProbeResult(task, representation, "clip", acc, len(tr), len(te), len(set(labels)), chance, seed)


def frame_probe(
    features: list[torch.Tensor],
    frame_labels: list[list[str]],
    splits: list[str | None],
    task: str,
    representation: str,
    test_fraction: float = 0.3,
    seed: int = 0,
    train_fraction: float = 1.0,
) -> ProbeResult:
    """Frame-level probe over ``features`` (each ``[T, D]``) and ``frame_labels`` (one per frame); clips (not
    frames) are split so that no clip is in both halves, and subsampled per seed like :func:`clip_probe`."""
    clip_ids = [str(i) for i in range(len(features))]
    tr, te = _split(clip_ids, splits, test_fraction, seed)
    tr = _subsample(np.asarray(tr), train_fraction, seed)

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
    n_classes = len(set(y_tr) | set(y_te))
    return ProbeResult(task, representation, "frame", acc, len(y_tr), len(y_te), n_classes, chance, seed)


def bag_probe(
    features: list[torch.Tensor],
    bags: list[list[str]],
    splits: list[str | None],
    task: str,
    representation: str,
    test_fraction: float = 0.3,
    seed: int = 0,
    train_fraction: float = 1.0,
    max_tokens: int = 24,
) -> ProbeResult:
    """Clip-level bag-of-tokens probe: does the mean-pooled clip ``[T, D]`` tell whether token k occurs in it?

    The tokens kept are the ``max_tokens`` whose training-clip frequency is nearest 50 % (within 10-90 %), so
    each binary probe has a non-trivial majority baseline. ``accuracy`` / ``chance`` are means over tokens;
    ``n_classes`` is the number of tokens probed.
    """
    x = torch.stack([f.mean(dim=0) for f in features]).double().numpy()
    tr, te = _split([str(i) for i in range(len(features))], splits, test_fraction, seed)
    tr = _subsample(np.asarray(tr), train_fraction, seed)
    sets = [set(b) for b in bags]
    freq = Counter(t for i in tr for t in sets[i])
    tokens = sorted(
        (t for t, c in freq.items() if 0.1 <= c / len(tr) <= 0.9), key=lambda t: abs(freq[t] / len(tr) - 0.5)
    )
    tokens = sorted(tokens[:max_tokens])
    if not tokens:
        raise ValueError(f"task {task!r}: no token occurs in 10-90 % of the training clips")
    accs, chances = [], []
    for t in tokens:
        y = np.array([t in s for s in sets])
        acc, chance = _fit(x[tr], y[tr], x[te], y[te], seed)
        accs.append(acc)
        chances.append(chance)
    acc, chance = float(np.mean(accs)), float(np.mean(chances))
    return ProbeResult(task, representation, "bag", acc, len(tr), len(te), len(tokens), chance, seed)


def summarize(results: list[dict]) -> list[dict]:
    """Per (task, representation, level): mean and std (population, over seeds) of accuracy and chance.

    ``results`` are :meth:`ProbeResult.to_dict` rows; returns rows with ``accuracy_mean``, ``accuracy_std``,
    ``chance_mean``, ``seeds``, ``n_train``, ``n_test``, ``n_classes`` in first-seen order.
    """
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["task"], r["representation"], r["level"]), []).append(r)
    out = []
    for (task, rep, level), rows in groups.items():
        acc = np.array([r["accuracy"] for r in rows])
        out.append(
            {
                "task": task,
                "representation": rep,
                "level": level,
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std()),
                "chance_mean": float(np.mean([r["chance"] for r in rows])),
                "seeds": [r.get("seed", 0) for r in rows],
                "n_train": rows[0]["n_train"],
                "n_test": rows[0]["n_test"],
                "n_classes": rows[0]["n_classes"],
            }
        )
    return out
