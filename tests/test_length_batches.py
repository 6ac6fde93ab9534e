"""LengthBatchSampler: every clip once per epoch, the padded budget held, reproducible per epoch."""

import random

import pytest

from losatok_plugin.data.length_batches import LengthBatchSampler


def durations(n=500, seed=0):
    r = random.Random(seed)
    return [r.choice([r.uniform(0.5, 2.0), r.uniform(2.0, 12.0)]) for _ in range(n)]


def test_every_clip_once_and_budget_held():
    d = durations()
    s = LengthBatchSampler(d, 40.0, seed=3)
    batches = list(s)
    assert len(batches) == len(s)
    idx = [i for b in batches for i, _ in b]
    assert sorted(idx) == list(range(len(d)))
    for b in batches:
        assert len(b) * max(d[i] for i, _ in b) <= 40.0 + 1e-9 or len(b) == 1


def test_less_padding_than_random_batches():
    d = durations()
    batches = list(LengthBatchSampler(d, 40.0, seed=0))
    padded = sum(len(b) * max(d[i] for i, _ in b) for b in batches)
    r = random.Random(0)
    order = list(range(len(d)))
    r.shuffle(order)
    k = round(len(d) / len(batches))  # random batches of the same mean size
    random_padded = sum(len(order[j : j + k]) * max(d[i] for i in order[j : j + k]) for j in range(0, len(d), k))
    assert padded < 0.6 * random_padded


def test_reproducible_per_epoch_and_different_between_epochs():
    d = durations()
    a, b = LengthBatchSampler(d, 40.0, seed=1), LengthBatchSampler(d, 40.0, seed=1)
    a.set_epoch(4)
    b.set_epoch(4)
    assert list(a) == list(b)  # a resumed run re-creates the epoch (order and crop seeds)
    b.set_epoch(5)
    assert list(a) != list(b)


def test_validation_order_is_by_length():
    d = durations(50)
    batches = list(LengthBatchSampler(d, 30.0, shuffle=False))
    longest = [max(d[i] for i, _ in b) for b in batches]
    assert longest == sorted(longest)


def test_a_clip_longer_than_the_budget_is_a_batch_alone():
    batches = list(LengthBatchSampler([1.0, 50.0, 1.0], 10.0, shuffle=False))
    assert [len(b) for b in batches] == [2, 1]


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_budget(bad):
    with pytest.raises(ValueError, match="batch_seconds"):
        LengthBatchSampler([1.0], bad)
