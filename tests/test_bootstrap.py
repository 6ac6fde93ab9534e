"""Paired bootstrap intervals of a gap between two systems (losatok_plugin/eval/bootstrap.py)."""

from __future__ import annotations

import numpy as np
import pytest

from losatok_plugin.eval.bootstrap import paired_gap_ci


def test_identical_systems_have_a_zero_gap_and_a_zero_interval():
    errors = [0, 3, 1, 7, 2]
    ci = paired_gap_ci(errors, errors, weights=[5, 6, 4, 9, 3])
    assert (ci.gap, ci.lo, ci.hi, ci.clips) == (0.0, 0.0, 0.0, 5) and not ci.excludes_zero


def test_a_constant_shift_is_the_gap_whatever_the_clips_drawn():
    base = np.random.default_rng(0).normal(3.0, 0.5, 40)
    ci = paired_gap_ci(base, base - 0.25)  # a mean: DNSMOS
    assert ci.gap == pytest.approx(-0.25) and ci.lo == pytest.approx(-0.25) and ci.hi == pytest.approx(-0.25)
    assert ci.excludes_zero


def test_a_corpus_rate_is_a_ratio_of_sums_not_a_mean_of_ratios():
    # clip 1: 1 word, 1 error more; clip 2: 99 words, none more -> the corpus gap is 1 %, the mean of rates 50 %
    ci = paired_gap_ci([0, 0], [1, 0], weights=[1, 99])
    assert ci.gap == pytest.approx(0.01)
    assert 0.0 <= ci.lo <= ci.gap <= ci.hi <= 1.0  # the worst resample: clip 1 twice, 2 errors in 2 words


def test_the_interval_is_paired_it_ignores_how_much_clips_differ_from_each_other():
    rng = np.random.default_rng(1)
    hard = rng.uniform(0, 10, 100)  # clips of very different difficulty
    paired = paired_gap_ci(hard, hard + rng.normal(0.5, 0.1, 100))
    assert paired.excludes_zero and paired.hi - paired.lo < 0.1
    shuffled = paired_gap_ci(hard, rng.permutation(hard) + 0.5)  # the pairing broken: a wide interval
    assert shuffled.hi - shuffled.lo > 5 * (paired.hi - paired.lo)


def test_the_95_interval_covers_the_true_gap_about_95_times_in_100():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(200):
        words = rng.integers(2, 9, 120)
        p_base = rng.uniform(0.1, 0.6, 120)  # each clip's own difficulty
        base = rng.binomial(words, p_base)
        other = rng.binomial(words, np.clip(p_base + 0.05, 0, 1))
        true_gap = float((np.clip(p_base + 0.05, 0, 1) - p_base) @ words / words.sum())
        ci = paired_gap_ci(base, other, weights=words, n_boot=500, seed=int(rng.integers(1 << 30)))
        covered += ci.lo <= true_gap <= ci.hi
    assert 0.88 <= covered / 200 <= 0.995, covered


def test_same_seed_same_interval_and_bad_input_is_refused():
    a, b = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0]
    assert paired_gap_ci(a, b, seed=3) == paired_gap_ci(a, b, seed=3)
    assert (
        paired_gap_ci(a, b, level=0.5).hi - paired_gap_ci(a, b, level=0.5).lo
        < paired_gap_ci(a, b).hi - paired_gap_ci(a, b).lo
    )
    with pytest.raises(ValueError, match="equal 1-d lengths"):
        paired_gap_ci(a, b[:3])
    with pytest.raises(ValueError, match="no clips"):
        paired_gap_ci([], [])
    with pytest.raises(ValueError, match="level"):
        paired_gap_ci(a, b, level=95)
    with pytest.raises(ValueError, match="sum to 0"):
        paired_gap_ci([0, 0], [1, 0], weights=[0, 0])
    assert paired_gap_ci(a, b).to_dict().keys() == {"gap", "lo", "hi", "level", "clips"}
