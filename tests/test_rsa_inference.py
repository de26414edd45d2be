"""``solution.rsa_inference`` against rsatoolbox, explicit permutations and known answers."""

import itertools

import numpy as np
import pytest
from conftest import (
    random_rdm,
    tuned_population,
    with_ties,
)
from rsatoolbox.rdm import RDMs, compare
from scipy import stats

from v1_orientation.course.rdm import RDM, compare_rdms
from v1_orientation.solution.rsa_inference import (
    _rdm_from_sums,
    rdm_permutation_null,
    resampled_rdm_similarity,
    rsa_compare,
    rsa_difference_table,
    rsa_table,
    split_half_noise_ceiling,
)
from v1_orientation.solution.stats import (
    bootstrap_counts,
    interval_sign,
)


def tuned_rdm(rng, n_stimuli=36, n_units=200, noise=0.3, pref=None):
    """RDM of a population tuned to orientation (smooth structure) plus noise."""
    theta = np.arange(n_stimuli) * 180 / n_stimuli
    return RDM(tuned_population(theta, n_units, preferred=pref, noise=noise, seed=rng).resp)


@pytest.mark.parametrize(("ours", "theirs"), [("pearson", "corr"), ("spearman", "spearman")])
def test_resampled_similarity_equals_rsatoolbox_pattern_bootstrap(ours, theirs):
    # rsatoolbox's pattern bootstrap marks the pairs of a stimulus with its own copy as NaN and
    # leaves them out of the comparison; our weighted form must give the same numbers
    rng = np.random.default_rng(2)
    n = 15
    a, b = with_ties(random_rdm(rng, n)), with_ties(random_rdm(rng, n))
    counts = bootstrap_counts(n, n_boot=25, seed=3)
    ours_values = resampled_rdm_similarity(a, [b, a], counts, ours)
    for row, values in zip(counts, ours_values, strict=True):
        index = np.repeat(np.arange(n), row)
        ra = RDMs(a[None]).subsample_pattern("index", index)
        rb = RDMs(b[None]).subsample_pattern("index", index)
        assert np.isnan(ra.get_vectors()).any()  # the resample did duplicate stimuli
        assert values[0] == pytest.approx(compare(ra, rb, method=theirs)[0, 0], abs=1e-12)
        assert values[1] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permutation_null_values_are_explicit_relabellings(method):
    # with 5 stimuli there are 120 relabellings: every null value must be one of them
    rng = np.random.default_rng(4)
    a, b = random_rdm(rng, 5), random_rdm(rng, 5)
    explicit = {round(compare_rdms(a[np.ix_(p, p)], b, method), 10)
                for p in map(list, itertools.permutations(range(5)))}
    null = rdm_permutation_null(a, [b], method, n_perm=2000, seed=0)[:, 0]
    got = {round(v, 10) for v in null}
    assert got <= explicit
    assert len(got) > 0.9 * len(explicit)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_identical_rdms_correlation_one_ci_collapses_p_minimal(method):
    rng = np.random.default_rng(5)
    a = tuned_rdm(rng)
    result = rsa_compare(a, {"same": a.copy()}, method, n_boot=200, n_perm=300, seed=0)
    assert result.estimate[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.boot, 1.0, atol=1e-12)
    np.testing.assert_allclose(result.ci, [[1.0, 1.0]], atol=1e-12)
    assert result.p_permutation[0] == pytest.approx(1 / 301)


def test_independent_rdms_ci_covers_zero_and_p_is_uniform():
    rng = np.random.default_rng(6)
    covered, p_values = [], []
    for trial in range(60):
        a, b = random_rdm(rng, 16, 20), random_rdm(rng, 16, 20)
        result = rsa_compare(a, {"b": b}, "pearson", n_boot=200, n_perm=200, seed=trial)
        low, high = result.ci[0]
        covered.append(low <= 0 <= high)
        p_values.append(result.p_permutation[0])
    # nominal coverage 95%; 60 trials give a binomial spread of about 3%
    assert np.mean(covered) >= 0.85
    # under "no relation" the permutation p-value is uniform on (0, 1]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.2 < np.mean(np.array(p_values) < 0.5) < 0.8


def test_planted_difference_is_detected_and_a_null_difference_is_not():
    rng = np.random.default_rng(7)
    pref = rng.uniform(0, 180, 200)
    reference = tuned_rdm(rng, pref=pref, noise=0.3)
    close = tuned_rdm(rng, pref=pref, noise=0.3)  # same tuning, fresh noise
    far = tuned_rdm(rng, pref=pref, noise=1.5)  # same tuning, much more noise
    result = rsa_compare(reference, {"close": close, "far": far, "close copy": close.copy()},
                            "pearson", n_boot=500, n_perm=100, seed=1)
    assert result.estimate[0] > result.estimate[1]
    planted = result.difference("close", "far")
    assert planted["ci_low"] > 0
    assert planted["p"] < 0.01
    reverse = result.difference("far", "close")
    assert reverse["ci_high"] < 0
    assert reverse["p"] == pytest.approx(planted["p"])
    same = result.difference("close", "close copy")
    assert same["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert same["p"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="not one of"):
        result.difference("close", "missing")


def test_rows_report_each_rdm():
    rng = np.random.default_rng(9)
    a = tuned_rdm(rng)
    result = rsa_compare(a, {"x": tuned_rdm(rng), "y": random_rdm(rng, 36)}, "spearman",
                            n_boot=50, n_perm=50)
    rows = result.rows()
    assert [r["name"] for r in rows] == ["x", "y"]
    for r, estimate in zip(rows, result.estimate, strict=True):
        assert r["r"] == estimate
        assert r["ci_low"] <= r["ci_high"]
        assert 0 < r["p_perm"] <= 1


def test_noise_ceiling_predicts_repeat_and_true_model_correlations():
    # a population with known signal: the Spearman-Brown reliability must predict the
    # correlation of the RDM with an independent repeat, and its square root the
    # correlation of the noise-free RDM with the measured one
    rng = np.random.default_rng(10)
    theta = np.arange(36) * 5.0
    reliability, ceiling, repeat, true_model = [], [], [], []
    for trial in range(4):
        pop = tuned_population(theta, 300, noise=1.0, seed=rng)
        signal, data = pop.clean, pop.resp
        again = tuned_population(theta, 300, preferred=pop.preferred, noise=1.0, seed=rng).resp
        nc = split_half_noise_ceiling(data, n_splits=8, seed=trial)["pearson"]
        reliability.append(nc["reliability"])
        ceiling.append(nc["ceiling"])
        repeat.append(compare_rdms(RDM(data), RDM(again)))
        true_model.append(compare_rdms(RDM(data), RDM(signal)))
    assert 0.3 < np.mean(repeat) < 0.8  # a regime where the ceiling matters
    assert np.mean(reliability) == pytest.approx(np.mean(repeat), abs=0.05)
    assert np.mean(ceiling) == pytest.approx(np.mean(true_model), abs=0.05)


def test_noise_ceiling_of_noise_free_population_is_one():
    rng = np.random.default_rng(11)
    theta = np.arange(36) * 5.0
    pref = np.linspace(0, 180, 400, endpoint=False)
    signal = tuned_population(theta, 400, preferred=pref, noise=0.0).resp
    nc = split_half_noise_ceiling(signal[:, rng.permutation(400)], n_splits=3)
    for method in ("pearson", "spearman"):
        assert nc[method]["ceiling"] == pytest.approx(1.0, abs=0.01)  # halves differ slightly
        assert nc[method]["split_half"].shape == (3,)


def test_split_half_rdms_from_sums_equal_rdm_of_the_columns():
    # the ceiling builds each half's RDM from X X^T and row sums, the other half by subtraction
    rng = np.random.default_rng(13)
    x = rng.normal(size=(12, 40)) + rng.normal(size=(12, 1))
    half = rng.permutation(40)[:20]
    rest = np.setdiff1d(np.arange(40), half)
    gram, sums = x @ x.T, x.sum(axis=1)
    a = x[:, half]
    np.testing.assert_allclose(_rdm_from_sums(a @ a.T, a.sum(axis=1), 20), RDM(a),
                               atol=1e-12)
    np.testing.assert_allclose(
        _rdm_from_sums(gram - a @ a.T, sums - a.sum(axis=1), 20), RDM(x[:, rest]),
        atol=1e-12)
    with pytest.raises(ValueError, match="constant"):
        _rdm_from_sums(np.ones((2, 2)) * 4, np.array([2.0, 2.0]), 1)


def test_bad_inputs_are_rejected():
    rng = np.random.default_rng(12)
    a, b = random_rdm(rng, 6), random_rdm(rng, 7)
    with pytest.raises(ValueError, match="method"):
        rsa_compare(a, {"a": a}, "cosine")
    with pytest.raises(ValueError, match="shape"):
        resampled_rdm_similarity(a, [b], np.ones((2, 6), int))
    with pytest.raises(ValueError, match="counts"):
        resampled_rdm_similarity(a, [a], np.ones((2, 5), int))
    with pytest.raises(ValueError, match="integers"):
        resampled_rdm_similarity(a, [a], np.full((2, 6), 0.5))
    with pytest.raises(ValueError, match="4 units"):
        split_half_noise_ceiling(np.ones((5, 3)))


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
