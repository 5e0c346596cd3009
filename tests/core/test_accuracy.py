"""How honest the estimates were (server/core/accuracy.py): each figure of its
docstring on samples worked out by hand, with the edges that tell a wrong
implementation apart (an error of exactly 5 minutes is within, exactly 5
people ahead counts as "5 ahead", a sample without the method is left out,
no wait at all gives no percentage)."""

from __future__ import annotations

import pytest

from server.core.accuracy import FIELDS, METHODS, Sample, accuracy, compare, mean_wait_min

# error = estimate - wait: qhall +300 s, -610 s, 0 s; les 0 s, (none), -300 s.
SAMPLES = [
    Sample(wait_s=600, ahead=5, estimates={"qhall": 900, "les": 600}),
    Sample(wait_s=1200, ahead=4, estimates={"qhall": 590}),
    Sample(wait_s=300, ahead=7, estimates={"qhall": 300, "les": 0}),
]


def test_every_figure_of_one_estimator_worked_out_by_hand():
    assert accuracy(SAMPLES, "qhall") == {
        "mae_min": 5.056,          # (300 + 610 + 0) / 3 s
        "bias_min": -1.722,        # (300 - 610 + 0) / 3 s: too optimistic
        "mae_pct": 43.33,          # of the mean wait 700 s
        "bias_pct": -14.76,
        "within_5min": 0.6667,     # +300 s is within, -610 s is not
        "mae_pct_5ahead": 33.33,   # 5 and 7 ahead (not 4): (300 + 0) / 2 of (600 + 300) / 2
        "mse": 42.787,             # (5**2 + (610/60)**2 + 0) / 3 minutes squared
    }


def test_a_sample_without_the_estimate_is_left_out():
    assert accuracy(SAMPLES, "les") == {
        "mae_min": 2.5, "bias_min": -2.5, "mae_pct": 33.33, "bias_pct": -33.33,
        "within_5min": 1.0,  # -300 s exactly: within
        "mae_pct_5ahead": 33.33, "mse": 12.5,
    }
    assert accuracy(SAMPLES, "previous") == dict.fromkeys(FIELDS)
    assert accuracy([], "qhall") == dict.fromkeys(FIELDS)


def test_only_no_wait_at_all_gives_no_percentage():
    # A mean wait of one second is a wait: 60 s off is 6000% of it.
    assert accuracy([Sample(wait_s=1, ahead=0, estimates={"qhall": 61})], "qhall")[
        "mae_pct"] == 6000.0


def test_no_one_five_ahead_and_no_wait_give_no_percentage():
    near = [Sample(wait_s=0, ahead=4, estimates={"qhall": 120}),
            Sample(wait_s=0, ahead=0, estimates={"qhall": 0})]
    figures = accuracy(near, "qhall")
    assert figures["mae_pct"] is None and figures["bias_pct"] is None
    assert figures["mae_pct_5ahead"] is None
    assert (figures["mae_min"], figures["bias_min"], figures["within_5min"], figures["mse"]) == (
        1.0, 1.0, 1.0, 2.0)


@pytest.mark.parametrize("methods", [METHODS, ("les",)])
def test_compare_gives_each_method_the_mean_wait_and_the_count(methods):
    assert compare(SAMPLES, methods) == {
        "eta": {m: accuracy(SAMPLES, m) for m in methods},
        "mean_wait_min": 11.667,  # 700 s
        "n": 3,
    }
    assert compare(SAMPLES)["eta"].keys() == set(METHODS)


def test_mean_wait_of_no_samples_is_none():
    assert mean_wait_min([]) is None
    assert mean_wait_min(SAMPLES[:1]) == 10.0
