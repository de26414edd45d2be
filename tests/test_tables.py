"""Result tables (ResultTable and the helpers that build them) and the verdict helpers.

Every table's values are checked against the quantities it is built from, computed here
directly (NumPy, the estimators' own attributes, closed forms); the layout only for what a
reader relies on: aligned text, an HTML table, absent values shown as such.
"""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tuned_population
from scipy import stats

from v1_orientation.course.rdm import RDM, compare_rdms
from v1_orientation.course.stimuli import gratings
from v1_orientation.solution.circular import decoding_error_table, decoding_errors
from v1_orientation.solution.comparison import (
    block_width_sweep,
    block_width_table,
    compare_decoders,
    decoder_comparison_table,
    recipe_table,
    selection_table,
)
from v1_orientation.solution.embeddings import explained_variance_table
from v1_orientation.solution.mlp import TorchMLPDecoder
from v1_orientation.solution.population import error_curve_table, ranked_table, smallest_size_within
from v1_orientation.solution.ridge import AngleRidge, CircularRidge, PopulationVectorDecoder
from v1_orientation.solution.rsa_controls import (
    initial_cnn,
    network_rdms,
    random_network_similarity,
    random_network_table,
)
from v1_orientation.solution.rsa_inference import (
    rsa_compare,
    rsa_difference_table,
    rsa_table,
    split_half_noise_ceiling,
)
from v1_orientation.solution.saturation import (
    bootstrap_information_saturation,
    fit_information_saturation,
    saturation_fits,
    saturation_table,
    saturation_verdict,
)
from v1_orientation.solution.selection import CVSelectedDecoder
from v1_orientation.solution.stats import difference_verdict, interval_sign
from v1_orientation.solution.tables import ResultTable, summary_table
from v1_orientation.solution.thresholds import (
    cardinal_orientations,
    oblique_cardinal_ratio,
    oblique_verdict,
    single_trial_thresholds,
    threshold_table,
)
from v1_orientation.solution.von_mises import (
    fit_von_mises,
    model_tuning_table,
    tuning_width_table,
    units_at_quantiles,
    v1_tuning_table,
    von_mises_cv_r2,
)

# --- ResultTable --------------------------------------------------------------------------


def small_table(**kwargs):
    frame = pd.DataFrame({"MSE": [193.675, np.nan, 0.08512], "chosen": ["", "yes", "<b>"]},
                         index=pd.Index(["class recipe", "ridge", "circular ridge"],
                                        name="decoder"))
    return ResultTable(frame, {"MSE": ".3f"}, title="Test errors", notes=["a note"], **kwargs)


def test_text_is_aligned_with_numbers_right_and_labels_left():
    lines = str(small_table()).splitlines()
    assert lines[0] == "Test errors" and lines[-1] == "a note"
    header, rule, *rows = lines[1:-1]
    assert header.split() == ["decoder", "MSE", "chosen"]
    assert set(rule) == {"-", " "}
    # columns two spaces apart, as wide as their widest entry ("circular ridge", "193.675")
    assert rows[0] == "class recipe".ljust(14) + "  193.675"
    assert rows[1] == "ridge".ljust(14) + "  " + "-".rjust(7) + "  yes"  # missing shown as "-"
    assert rows[2] == "circular ridge    0.085  <b>"
    assert repr(small_table()) == str(small_table())
    assert header.index("MSE") + 3 == rows[0].index("193.675") + 7  # right-aligned numbers


def test_html_is_a_table_with_escaped_cells_title_and_notes():
    html = small_table()._repr_html_()
    assert html.count("<tr>") == 4 and "<th" in html and html.count("<td") == 9
    assert "&lt;b&gt;" in html and "<b>Test errors</b>" in html and "a note" in html
    assert ">193.675<" in html and ">-<" in html


def test_values_are_unformatted_plain_python_with_none_for_missing():
    table = small_table()
    values = table.values()
    assert values["columns"] == ["decoder", "MSE", "chosen"]
    assert values["data"][0] == ["class recipe", 193.675, ""]
    assert values["data"][1][1] is None
    assert type(values["data"][2][1]) is float and values["data"][2][1] == 0.08512
    assert table._repr_mimebundle_() == {ResultTable.MIMETYPE: values}
    assert table.row("ridge")["chosen"] == "yes"


def test_values_are_valid_json_even_with_infinite_numbers():
    """The notebook stores the values as JSON, which has no NaN or infinity."""
    frame = pd.DataFrame({"a/b": [np.inf, -np.inf, 2.5, np.nan]}, index=pd.Index(list("wxyz"),
                                                                                   name="row"))
    values = ResultTable(frame).values()
    assert [row[1] for row in values["data"]] == ["inf", "-inf", 2.5, None]
    json.dumps(values, allow_nan=False)


def test_row_formats_and_multiindex():
    frame = pd.DataFrame({"value": [0.98123, 23160.0]},
                         index=pd.MultiIndex.from_tuples([("V1", "fraction"), ("V1", "count")],
                                                         names=["group", "quantity"]))
    table = ResultTable(frame, {"value": ".2f"}, row_formats={"V1": ".1%"}, missing="n/a")
    text = str(table)
    assert "98.1%" in text and "2316000.0%" in text  # the row format wins for its rows
    assert table.values()["columns"] == ["group", "quantity", "value"]
    unnamed = ResultTable(pd.DataFrame({"x": [1.5]}), {"x": ".1f"})
    assert str(unnamed).splitlines()[0].strip() == "x"  # an unnamed index is not shown


# --- decoders (1b and the bonus) ---------------------------------------------------------------


def decoding_data(n=60, p=40, seed=0):
    """Responses of ``tuned_population`` at n orientations spread over -90..90, and those."""
    theta = np.linspace(-90, 90, n, endpoint=False) + 0.5
    return tuned_population(theta, p, seed=seed).resp, theta


def test_decoding_error_table_holds_the_errors():
    rng = np.random.default_rng(1)
    errors = {(name, split): decoding_errors(rng.uniform(-90, 90, 20), rng.uniform(-90, 90, 20))
              for name in ("untrained", "trained") for split in ("train", "test")}
    values = decoding_error_table(errors).values()
    assert values["columns"][:2] == ["decoder", "set"]
    for row, ((name, split), e) in zip(values["data"], errors.items(), strict=True):
        assert row == [name, split, e["mse"], e["rmse"], e["circ_rmse"], e["circ_median_abs"]]


@pytest.fixture(scope="module")
def comparison():
    resp, theta = decoding_data()
    decoders = {"circle": CircularRidge(), "vector": PopulationVectorDecoder(),
                "best": CVSelectedDecoder([("line", AngleRidge()),
                                              ("circle", CircularRidge())], n_folds=3)}
    return compare_decoders(decoders, resp, theta, n_random=3, n_blocked=2,
                               repeat=["circle", "best"], progress=False)


def test_decoder_comparison_table_holds_means_and_standard_errors(comparison):
    table = decoder_comparison_table(comparison, "best", ("vector",))
    rows = {row[0]: dict(zip(table.values()["columns"], row, strict=True))
            for row in table.values()["data"]}
    for name in ("circle", "vector", "best"):
        assert rows[name]["class: MSE"] == comparison["class"]["errors"][name][0]["mse"]
    random_mse = np.array([e["mse"] for e in comparison["random"]["errors"]["circle"]])
    assert rows["circle"]["random: MSE"] == pytest.approx(random_mse.mean())
    assert rows["circle"]["random: SE"] == pytest.approx(random_mse.std(ddof=1) / np.sqrt(3))
    blocked = np.array([e["circ_rmse"] for e in comparison["blocked"]["errors"]["best"]])
    assert rows["best"]["blocked: circ RMSE"] == pytest.approx(blocked.mean())
    assert rows["vector"]["random: MSE"] is None  # class split only
    notes = "\n".join(table.notes)
    assert "mean over 3 random splits" in notes and "over 2 blocked splits (10 deg)" in notes
    assert f"'best' chose '{comparison['class']['chosen']['best'][0]}' on the class split" in notes
    assert "'best' MSE as a percentage of 'vector'" in notes
    assert "fit (s)" not in table.values()["columns"]
    assert "fit (s)" in decoder_comparison_table(comparison, show_times=True).values()["columns"]


def test_selection_and_recipe_tables(comparison):
    best = comparison["class"]["fitted"]["best"]
    rows = selection_table(best).values()["data"]
    assert [r[0] for r in rows] == ["line", "circle"]
    for name, mse, circ, chosen in rows:
        assert mse == best.cv_mse_[name] and circ == best.cv_circ_rmse_[name]
        assert chosen == ("yes" if name == best.best_name_ else "")
    resp, theta = decoding_data(n=30, p=12)
    recipe = TorchMLPDecoder(hidden=(8,), n_epochs=5, device="cpu")
    result = compare_decoders({"net": recipe}, resp, theta, n_random=0, n_blocked=0,
                                 progress=False)
    (row,) = recipe_table(result, ["net"]).values()["data"]
    fitted = result["class"]["fitted"]["net"]
    assert row == ["net", fitted.loss_history_[-1], result["class"]["errors"]["net"][0]["mse"]]


def test_block_width_table_holds_the_sweep():
    resp, theta = decoding_data()
    sweep = block_width_sweep(CircularRidge(), resp, theta, widths=(1, 10), n_splits=2)
    rows = block_width_table({"circle": sweep}).values()["data"]
    assert rows == [["circle", w, *sweep[w]["mse"], *sweep[w]["circ_rmse"]] for w in (1, 10)]


# --- RSA -------------------------------------------------------------------------------------


def test_interval_sign_and_difference_verdict():
    assert [interval_sign(*ci) for ci in [(0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1), (0, 0.1)]] == \
        ["> 0", "< 0", "~ 0", "~ 0"]
    d = {"estimate": 0.145, "ci_low": 0.102, "ci_high": 0.19}
    assert difference_verdict(d, "pool", "fc", "Pearson") == (
        "pool", "Pearson: pool - fc = +0.145, 95% CI [+0.102, +0.190], excludes 0")
    d = {"estimate": -0.031, "ci_low": -0.07, "ci_high": 0.01}
    verdict, evidence = difference_verdict(d, "pool", "fc", "Spearman", level=0.9)
    assert verdict == "undecided" and evidence.endswith("90% CI [-0.070, +0.010], includes 0")
    d = {"estimate": -0.2, "ci_low": -0.3, "ci_high": -0.1}
    assert difference_verdict(d, "pool", "fc", "Pearson")[0] == "fc"


@pytest.fixture(scope="module")
def rsa_comparisons():
    rng = np.random.default_rng(2)
    theta = np.linspace(-90, 90, 24, endpoint=False)
    base = np.cos(np.deg2rad(2 * (theta[:, None] - rng.uniform(-90, 90, 30))))
    ref = RDM(base + 0.3 * rng.standard_normal(base.shape))
    rdms = {"a": RDM(base), "b": RDM(base + rng.standard_normal(base.shape)),
            "c": RDM(rng.standard_normal(base.shape))}
    return {m: rsa_compare(ref, rdms, m, n_boot=60, n_perm=40, seed=1)
            for m in ("pearson", "spearman")}, base


def test_rsa_table_holds_estimates_intervals_p_values_and_the_ceiling(rsa_comparisons):
    comparisons, base = rsa_comparisons
    ceiling = split_half_noise_ceiling(base + 0.1, n_splits=3)
    values = rsa_table(comparisons, ceiling).values()
    columns = values["columns"]
    assert [row[0] for row in values["data"]] == ["a", "b", "c", "V1 noise ceiling"]
    for k, row in enumerate(values["data"][:3]):
        row = dict(zip(columns, row, strict=True))
        for m, label in (("pearson", "Pearson"), ("spearman", "Spearman")):
            c = comparisons[m]
            assert row[f"{label} r"] == c.estimate[k]
            assert [row[f"{label} CI low"], row[f"{label} CI high"]] == list(c.ci[k])
            assert row[f"{label} p_perm"] == c.p_permutation[k]
    last = dict(zip(columns, values["data"][3], strict=True))
    assert last["Pearson r"] == ceiling["pearson"]["ceiling"] and last["Pearson CI low"] is None


def test_rsa_difference_table_holds_paired_differences_and_signs(rsa_comparisons):
    comparisons, _ = rsa_comparisons
    contrasts = [("a", "b", "a vs b"), ("b", "c", "b vs c")]
    values = rsa_difference_table(comparisons, contrasts).values()
    for (a, b, label), row in zip(contrasts, values["data"], strict=True):
        row = dict(zip(values["columns"], row, strict=True))
        assert row["contrast"] == label
        d = comparisons["spearman"].difference(a, b)
        assert [row["Spearman d"], row["Spearman CI low"], row["Spearman CI high"],
                row["Spearman p"]] == [d["estimate"], d["ci_low"], d["ci_high"], d["p"]]
        assert row["Spearman sign"] == interval_sign(d["ci_low"], d["ci_high"])


def test_random_network_similarity_and_table():
    orientations = np.linspace(-80, 80, 9)
    images = gratings(orientations)
    h, w = images.shape[1:]
    ref = RDM(images.reshape(9, -1).numpy() + 0.0)
    found = random_network_similarity(ref, h, w, orientations, 2, images=images,
                                         methods=("pearson",))
    for k in range(2):
        rdms = network_rdms(initial_cnn(h, w, seed=k, random_conv=True), orientations)
        assert found["pearson"][k].tolist() == pytest.approx(
            [compare_rdms(ref, rdms[layer]) for layer in ("pool", "fc")])
    values = random_network_table(found, {"pearson": found["pearson"][0, 0]}).values()
    pool = dict(zip(values["columns"], values["data"][0], strict=True))
    v = found["pearson"][:, 0]
    assert [pool["mean"], pool["SD"], pool["min"], pool["max"]] == pytest.approx(
        [v.mean(), v.std(), v.min(), v.max()])
    assert pool["nets reaching it"] == np.sum(v >= v[0])
    fc = dict(zip(values["columns"], values["data"][1], strict=True))
    assert fc["layer"] == "fc" and fc["nets reaching it"] is None


# --- tuning curves -------------------------------------------------------------------------


def test_units_at_quantiles_picks_by_sorted_score():
    key = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0])
    units = np.array([0, 2, 3, 4])  # scores 5, 9, 3, 7 -> sorted 3 (3), 0 (5), 4 (7), 2 (9)
    assert units_at_quantiles(units, key, [0.0, 0.5, 1.0]).tolist() == [3, 0, 2]
    assert units_at_quantiles(units, key, [1.0, 0.0], n=1).tolist() == [2]


@pytest.fixture(scope="module")
def tuning_fits():
    rng = np.random.default_rng(3)
    stim = np.arange(0, 360, 4.0)
    pref = rng.uniform(0, 360, 50)
    resp = (np.exp(3 * (np.cos(np.deg2rad(stim[:, None] - pref)) - 1))
            + 0.5 * np.exp(3 * (np.cos(np.deg2rad(stim[:, None] - pref - 180)) - 1))
            + 0.2 * rng.standard_normal((stim.size, 50)))
    return stim, resp, fit_von_mises(resp, stim, n_iter=1)


def test_v1_tuning_table_values(tuning_fits):
    stim, resp, fit = tuning_fits
    cv_r2 = von_mises_cv_r2(resp, stim)
    tuned = cv_r2 > 0.2
    other = np.arange(50) % 3 > 0
    table = v1_tuning_table(fit, fit, cv_r2, 0.2, tuned, other, 0.25)
    values = [row[1] for row in table.values()["data"]]
    assert values == pytest.approx([
        np.median(cv_r2), 0.2, tuned.sum(), tuned.mean(), other.mean(), np.mean(tuned == other),
        np.mean(fit.peak_ratio[tuned] > 0.25), np.median(fit.peak_ratio[tuned]),
        np.median(fit.r2[tuned]), np.median(fit.r2[tuned])])
    text = str(table)
    assert f"{tuned.mean():.1%}" in text and f"{np.median(cv_r2):.3f}" in text


def test_model_and_width_tables(tuning_fits):
    _, _, fit = tuning_fits
    varies = np.arange(50) < 40
    (row,) = model_tuning_table({"pool": fit}, {"pool": varies}).values()["data"]
    r2 = fit.r2[varies]
    assert row == pytest.approx(["pool", 50, 40, np.median(r2), np.mean(r2 > 0.8),
                                 np.mean(fit.amplitudes[varies, 0] > 0)])
    widths = np.array([10.0, 20.0, np.nan, 30.0, np.inf])
    (row,) = tuning_width_table({"V1": widths}, {"V1": 9}).values()["data"]
    assert row == ["V1", 9, 5, 20.0, 15.0, 25.0, 2]


def test_explained_variance_table():
    ratios = {"V1": np.array([0.14, 0.13, 0.1]), "'fc'": np.array([0.99, 0.004])}
    rows = explained_variance_table(ratios).values()["data"]
    assert rows[0] == pytest.approx(["V1", 0.14, 0.13, 0.27])
    assert rows[1][0] == "'fc'"


# --- Part 2 ----------------------------------------------------------------------------------


def fake_curves():
    sizes = np.array([10, 100, 1000, 10000])
    rng = np.random.default_rng(4)
    rmse = np.sqrt(900 / sizes[:, None] + 0.01) * rng.uniform(0.95, 1.05, (4, 5))
    blocked = rmse * 1.3
    return {"interleaved": {"sizes": sizes, "rmse": rmse},
            "blocked": {"sizes": sizes, "rmse": blocked}}


def test_error_curve_table():
    curves = fake_curves()
    rows = error_curve_table(curves).values()["data"]
    rmse = curves["blocked"]["rmse"]
    assert [r[0] for r in rows] == [10, 100, 1000, 10000]
    assert rows[2][3:] == pytest.approx([rmse[2].mean(), rmse[2].std(ddof=1)])


def test_saturation_fits_table_and_verdict():
    curves = fake_curves()
    fits = saturation_fits(curves, 100, n_boot=200, seed=1)
    rmse = curves["interleaved"]["rmse"][1:]
    a, b = fit_information_saturation([100, 1000, 10000], rmse)
    f = fits["interleaved"]
    assert (f["a"], f["b"]) == (a, b)
    assert f["slope"] == pytest.approx(np.polyfit(np.log([100, 1000, 10000]),
                                                  np.log(rmse.mean(1)), 1)[0])
    np.testing.assert_array_equal(
        f["boot"], bootstrap_information_saturation([100, 1000, 10000], rmse, 200, seed=1))
    assert f["error_all"] == curves["interleaved"]["rmse"][-1].mean()
    values = saturation_table(fits, 100).values()
    assert values["columns"] == ["quantity", "interleaved", "interleaved CI low",
                                 "interleaved CI high", "blocked", "blocked CI low",
                                 "blocked CI high"]
    b_row = dict(zip(values["columns"], values["data"][4], strict=True))
    low, high = np.percentile(f["boot"][:, 1], [2.5, 97.5])
    assert b_row["quantity"] == "b (deg^2)"
    assert [b_row["interleaved"], b_row["interleaved CI low"], b_row["interleaved CI high"]] == \
        pytest.approx([b, low, high])
    floor = {"a": 900.0, "b": 0.01, "boot": np.column_stack([np.full(50, 900.0),
                                                              np.linspace(0.005, 0.02, 50)])}
    verdict, evidence = saturation_verdict(floor, 20000)
    assert verdict == "floor detected" and "excludes 0" in evidence
    assert "half the asymptotic information at N = 9e+04 (4.5 x the recorded neurons)" in evidence
    floor["boot"][:5, 1] = 0.0
    verdict, evidence = saturation_verdict(floor, 20000)
    assert verdict == "no detectable saturation" and "includes 0" in evidence


def test_single_trial_thresholds_follow_the_closed_form():
    sigma_bin, n_b, w = 0.261, 4598 / 360, 1.0
    out = single_trial_thresholds(sigma_bin, n_b, w, {"a": 1404.0, "b": 0.0074})
    z75 = stats.norm.ppf(0.75)
    floor = w * np.sqrt(1 / (12 * n_b))
    trial = np.sqrt(n_b * (sigma_bin**2 - floor**2))
    assert list(out.values()) == pytest.approx([
        sigma_bin, floor, z75 * sigma_bin, np.sqrt(n_b) * sigma_bin, trial, z75 * trial, trial,
        z75 * np.sqrt(n_b * (1404 / 50000 + 0.0074 - floor**2))])
    assert single_trial_thresholds(0.05, n_b, 2.0)["threshold at d' = 1, single trials"] == 0
    values = threshold_table(out).values()["data"]
    assert values[-2][1] == 0.35 and values[-1][1] == pytest.approx(z75 * trial / 0.35)


def test_ranked_table_and_smallest_size():
    rows = ranked_table([10, 100], [4.0, 1.0], [2.0, 1.0]).values()["data"]
    assert rows == [[10, 4.0, 2.0, 2.0], [100, 1.0, 1.0, 1.0]]
    assert smallest_size_within([10, 100, 1000], [3.0, 1.2, 0.9], 1.2) == 100
    assert smallest_size_within([10, 100], [3.0, 2.0], 1.0) is None


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


def test_summary_table():
    table = summary_table([("n_neurons", 23589, ""), ("most_v1_like_layer_pearson", "pool",
                                                         "Pearson: ... excludes 0")])
    assert table.values() == {"columns": ["quantity", "value", "evidence"], "data": [
        ["n_neurons", 23589, ""], ["most_v1_like_layer_pearson", "pool",
                                   "Pearson: ... excludes 0"]]}
