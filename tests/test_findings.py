"""``solution.findings``: every branch of every sentence, on numbers whose outcome is known.

Each finding must state the numbers it was given and pick the branch they call for; a sentence
of the other branch must not appear.
"""

import numpy as np
import pandas as pd
import pytest

from v1_orientation.course.rdm import RDM
from v1_orientation.solution import findings, geometry
from v1_orientation.solution.published import CNN_TRAINING_LOG, STRINGER_THRESHOLD_DEG


def test_a_finding_is_markdown_in_jupyter():
    f = findings.Finding("**x**")
    assert f._repr_markdown_() == "**x**" and isinstance(f, str)


def test_cnn_log_table_and_finding_both_branches():
    history = np.ones(250)
    for epoch, loss in CNN_TRAINING_LOG.items():
        history[epoch * 10 - 1] = loss * 1.01
    table = findings.cnn_log_table(history, 10)
    assert table.frame["this run"].tolist() == pytest.approx([v * 1.01 for v in
                                                             CNN_TRAINING_LOG.values()])
    assert "reproduces" in findings.cnn_log_finding(table)
    history[249] = 1e-3  # epoch 25: 12 times the published loss
    off = findings.cnn_log_finding(findings.cnn_log_table(history, 10))
    assert "departs" in off and "12.3" in off and "reproduces" not in off


@pytest.mark.parametrize("wrong, words", [
    ([], "no error at any tilt"),
    ([0.5], "near vertical"),
    ([60.0, -89.5], "far from vertical"),
    ([0.5, 60.0], "at both small and large tilts"),
])
def test_cnn_accuracy_names_where_the_errors_are(wrong, words):
    edges = np.array([0, 1, 2, 5, 10, 20, 45, 90])
    tilt = np.concatenate([np.linspace(-89, 89, 96), wrong])
    correct = np.r_[np.ones(96, bool), np.zeros(len(wrong), bool)]
    text = findings.cnn_accuracy_finding(correct, tilt, edges, filter_change=0.02)
    assert words in text and f"{correct.mean():.1%}" in text and "barely change" in text
    if wrong:
        assert f"{len(wrong)} error" in text


@pytest.mark.parametrize("change, words", [(0.02, "barely change"), (0.1, "moderate change"),
                                           (0.5, "reshaped the filters")])
def test_cnn_filter_change_branches(change, words):
    text = findings.cnn_accuracy_finding(np.ones(4, bool), np.zeros(4), [0, 90], change)
    assert words in text and f"{change:.1%}" in text


def errors(mse, median=2.0):
    return {"mse": mse, "circ_median_abs": median}


def test_class_decoder_finding_branches():
    good = {("untrained", "test"): errors(2500), ("trained", "test"): errors(100),
            ("trained", "train"): errors(40)}
    text = findings.class_decoder_finding(good)
    assert "lowers the test MSE from 2500 to 100.0" in text and "25 times" in text
    assert "below the test MSE" in text and "within 2.0 deg" in text
    bad = {("untrained", "test"): errors(90), ("trained", "test"): errors(100),
           ("trained", "train"): errors(120)}
    text = findings.class_decoder_finding(bad)
    assert "does not lower" in text and "is not below" in text


def sweep(mse, circ):
    return {w: {"mse": (m, 0.0), "circ_rmse": (c, 0.0)} for w, m, c in zip((1, 10), mse, circ,
                                                                          strict=True)}


def selection(mlp_mse, mlp_circ):
    return pd.DataFrame({"CV MSE (deg^2)": [0.2, mlp_mse],
                         "CV circular RMSE (deg)": [0.4, mlp_circ], "chosen": ["yes", ""]},
                        index=["circular ridge", "MLP on the circle"])


def test_bonus_finding_branches():
    one = {"class": ["circular ridge"], "random": ["circular ridge"] * 3}
    text = findings.bonus_finding(one, 0.12, {"class recipe": 115.0}, selection(587.0, 1.77),
                                  sweep([0.2, 0.4], [0.42, 0.6]), 0.53)
    assert "chose 'circular ridge' on every split" in text and "0.1% of the class recipe" in text
    assert "wrong end of the range" in text and "187 times" in text
    assert "stays within" in text and "(1 deg apart) correlate at r = 0.53" in text
    mixed = {"class": ["circular ridge"], "random": ["MLP on the circle", "circular ridge"]}
    text = findings.bonus_finding(mixed, 0.12, {"class recipe": 115.0}, selection(4.0, 1.9),
                                  sweep([0.2, 90.0], [0.42, 3.0]), 0.53)
    assert "different candidates" in text and "worse on the circle too" in text
    assert "exceeds twice" in text and "widths 10" in text


def rdm_of(theta, direction_weight):
    """An RDM of units tuned to orientation plus, with the given weight, to direction."""
    rng = np.random.default_rng(0)
    pref = rng.uniform(0, 360, 400)
    rad = np.deg2rad(theta[:, None] + 90)  # the recording's 0..180 deg
    orient = np.exp(2 * (np.cos(2 * (rad - np.deg2rad(pref))) - 1))
    direction = np.exp(2 * (np.cos(rad - np.deg2rad(pref)) - 1))
    return RDM(orient + direction_weight * direction)


def test_rdm_seam_finding_both_branches_and_the_numbers():
    theta = np.arange(-90.0, 91.0)
    same = geometry.seam_comparison(rdm_of(theta, 0.0), theta)
    text = findings.rdm_seam_finding(same)
    assert "as dark as along the diagonal" in text and "lighter" not in text
    assert f"{same['ends']:.3f}" in text
    differ = geometry.seam_comparison(rdm_of(theta, 1.0), theta)
    text = findings.rdm_seam_finding(differ)
    assert "lighter than its diagonal" in text and f"{differ['ends']:.3f}" in text
    assert f"{differ['n_pairs']} pairs" in text and f"{differ['excess']:.2f}" in text
    assert f"({differ['step']:.3g} deg apart) average {differ['neighbours']:.3f}" in text
    assert "no pairs across" in findings.rdm_seam_finding({"n_pairs": 0, "by_difference": {}})


def test_fc_category_finding_both_branches():
    v1 = {"within": 0.8, "across": 1.1, "orthogonal": 1.2}
    text = findings.fc_category_finding({"within": 0.02, "across": 0.9, "orthogonal": 0.02}, v1)
    assert "nearly identical: 'fc' does not share" in text and "0.020" in text
    text = findings.fc_category_finding({"within": 0.3, "across": 0.9, "orthogonal": 0.8}, v1)
    assert "keeps some of V1's geometry" in text


def test_rsa_summary_finding_branches():
    verdicts = {"pearson": ("pool", "Pearson: pool - fc = +0.134"),
                "spearman": ("undecided", "Spearman: pool - fc = -0.031")}
    signs = {"training, 'fc'": {"pearson": "> 0", "spearman": "> 0"},
             "training, 'pool'": {"pearson": "~ 0", "spearman": "~ 0"},
             "filters": {"pearson": "> 0", "spearman": "~ 0"}}
    text = findings.rsa_summary_finding(verdicts, {"pearson": 0.3, "spearman": 0.4},
                                        {"pearson": 0.1, "spearman": 0.18}, signs,
                                        {"pearson": 0.001, "spearman": 0.001}, 0.001)
    assert "'pool' is the more V1-like layer" in text and "do not rank" in text
    assert "geometry they do not share" in text and "beyond chance" in text
    assert "training, 'fc': higher under both measures" in text
    assert "training, 'pool': no different within the intervals" in text
    assert "filters: higher by Pearson, no different within the interval by Spearman" in text
    text = findings.rsa_summary_finding(verdicts, {"pearson": 0.05, "spearman": 0.04},
                                        {"pearson": 0.1, "spearman": 0.18}, signs,
                                        {"pearson": 0.2, "spearman": 0.001}, 0.001)
    assert "within the uncertainty of the noise ceiling" in text
    assert "Not every representation" in text and "pearson 0.200" in text


def test_model_units_finding_branches():
    text = findings.model_units_finding([10, 12, 14], 181, 0.3, 100, 20, 2, [30.0, np.nan], 14.4)
    assert "12 distinct values" in text and "a few discrete levels" in text
    assert "bunch" in text and "2 'fc' units are fitted well" in text
    assert "30 deg in the median" in text and "1 too broad" in text
    text = findings.model_units_finding([70, 72, 80], 181, 0.3, 161, 93, 0, [], 14.4)
    assert "many levels, but in steps" in text and "spread over the range" in text
    assert "No 'fc' unit is fitted well" in text


def test_embedding_finding_branches_and_the_closest_layer():
    harmonics = {"V1": np.array([0.99, 0.995]), "'pool'": np.array([0.98, 0.47]),
                 "'fc'": np.array([0.5, 0.2])}
    gaps = {"V1": 1.0, "'pool'": 0.0, "'fc'": 0.0}
    variance = {k: np.array([0.2, 0.1, 0.05]) for k in harmonics}
    text = findings.embedding_finding(harmonics, gaps, variance)
    assert "a ring of orientation that closes at the seam" in text
    assert "only PC1 follows" in text and "follow the first harmonic of orientation poorly" in text
    assert "'pool' comes closest to V1's" in text and "30.0% of the variance" in text
    gaps["V1"] = 4.0
    assert "ends lie 4.0 neighbour steps apart" in findings.embedding_finding(harmonics, gaps,
                                                                              variance)


def part2_fit(low, high, slope=-0.52):
    return {"sizes": np.array([133.0, 1000.0]), "slope": slope, "floor_range": (low, high)}


@pytest.mark.parametrize("low, high, verdict, words", [
    (0.0, 0.02, "no floor detected", "cannot tell a floor of that size from none"),
    (0.005, 0.03, "floor detected", "the binning alone can account for the floor"),
    (0.02, 0.05, "floor detected", "decoder bias or information-limiting correlations"),
])
def test_part2_finding_floor_branches(low, high, verdict, words):
    fits = {"interleaved": part2_fit(low, high)}
    text = findings.part2_finding(fits, {"interleaved": (verdict, "")}, 0.0065, 0.42,
                                  ([10, 56, 23589], [3.8, 10.8, 1.0]),
                                  {"random": 9953, "most reliable": 4200},
                                  ("undecided", "ratio 0.95"))
    assert words in text and f"Interleaved split, {verdict}" in text
    assert f"floors from {low:.4f} to {high:.4f}" in text
    assert "close to the -1/2" in text and "0.420 deg" in text
    assert f"{0.42 / STRINGER_THRESHOLD_DEG:.2f} times the published" in text
    assert "up to 10.8 times" in text and "N = 56" in text and "N = 4200 most reliable" in text


def test_part2_finding_slope_away_from_one_half():
    text = findings.part2_finding({"s": part2_fit(0.0, 0.01, slope=-0.2)},
                                  {"s": ("no floor detected", "")}, 0.0065, 0.4,
                                  ([10], [1.0]), {"random": 10}, ("undecided", ""))
    assert "away from the -1/2" in text
