"""``solution.thresholds``: discrimination thresholds and the oblique effect, vs closed forms."""


import numpy as np
import pytest
from scipy import special, stats

from v1_orientation.solution.thresholds import (
    cardinal_orientations,
    discrimination_threshold,
    oblique_cardinal_ratio,
    oblique_verdict,
    single_trial_thresholds,
    threshold_table,
)


def test_threshold_matches_the_closed_form_and_a_simulated_observer():
    sigma = np.array([0.1, 0.35, 2.0])
    probit_75 = np.sqrt(2) * special.erfinv(2 * 0.75 - 1)  # Phi^-1(0.75) = 0.6745
    np.testing.assert_allclose(discrimination_threshold(sigma), probit_75 * sigma)
    # d' = 1 convention: at p_correct = Phi(1) the threshold is sigma itself
    phi_1 = 0.5 * (1 + special.erf(1 / np.sqrt(2)))
    np.testing.assert_allclose(discrimination_threshold(sigma, phi_1), sigma)
    # an observer who calls "clockwise" when the decoded angle exceeds the reference
    rng = np.random.default_rng(0)
    delta = discrimination_threshold(1.3, 0.8)
    decoded = delta + 1.3 * rng.standard_normal(200_000)
    assert np.mean(decoded > 0) == pytest.approx(0.8, abs=0.005)
    with pytest.raises(ValueError):
        discrimination_threshold(1.0, 0.5)


def test_single_trial_thresholds_follow_the_closed_form():
    sigma_bin, n_b, w = 0.261, 4598 / 360, 1.0
    out = single_trial_thresholds(sigma_bin, n_b, w)
    z75 = stats.norm.ppf(0.75)
    floor = w * np.sqrt(1 / (12 * n_b))
    trial = np.sqrt(n_b * (sigma_bin**2 - floor**2))
    assert list(out.values()) == pytest.approx([
        sigma_bin, floor, z75 * sigma_bin, np.sqrt(n_b) * sigma_bin, trial, z75 * trial, trial])
    assert single_trial_thresholds(0.05, n_b, 2.0)["threshold at d' = 1, single trials"] == 0
    values = threshold_table(out).values()["data"]
    assert values[-2][1] == 0.35 and values[-1][1] == pytest.approx(z75 * trial / 0.35)


def test_cardinal_orientations():
    ori = np.array([-90, -67.5, -67.4, -22.6, -22.5, 0, 22.4, 22.5, 67.5, 90])
    assert cardinal_orientations(ori).tolist() == [True, True, False, False, False, True,
                                                      True, False, True, True]


def test_oblique_cardinal_ratio_and_its_bootstrap():
    rng = np.random.default_rng(5)
    cardinal = np.arange(40) % 2 == 0
    e2 = np.where(cardinal, 1.0, 4.0) * rng.uniform(0.5, 1.5, 40)
    ratio, (low, high) = oblique_cardinal_ratio(e2, cardinal, 300, np.random.default_rng(7))
    assert ratio == pytest.approx(np.sqrt(e2[~cardinal].mean() / e2[cardinal].mean()))
    # the same bootstrap, written out: cardinal then oblique stimuli drawn each time
    draws, boot = np.random.default_rng(7), []
    card, obl = np.flatnonzero(cardinal), np.flatnonzero(~cardinal)
    for _ in range(300):
        c, o = draws.choice(card, card.size), draws.choice(obl, obl.size)
        boot.append(np.sqrt(e2[o].mean() / e2[c].mean()))
    assert (low, high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))
    assert 1 < low < ratio < high
    assert oblique_verdict(ratio, (low, high))[0] == "cardinal more precise"
    assert oblique_verdict(0.85, (0.74, 0.97)) == (
        "oblique more precise", "RMS error oblique / cardinal = 0.85, 95% CI [0.74, 0.97], "
        "excludes 1")
    assert oblique_verdict(1.0, (0.9, 1.1))[0] == "undecided"
