"""RSA inference (7b) against rsatoolbox, explicit permutations and data with a known answer."""

import itertools

import numpy as np
import pytest
import rsatoolbox
import torch
from conftest import tuned_population
from rsatoolbox.rdm import RDMs, compare
from scipy import stats

from v1_orientation.course.networks import CNN, get_hidden_activity
from v1_orientation.course.rdm import RDM, compare_rdms
from v1_orientation.course.stimuli import filters, grating
from v1_orientation.solution.rsa_controls import initial_cnn, network_rdms
from v1_orientation.solution.rsa_inference import (
    _rdm_from_sums,
    rdm_permutation_null,
    resampled_rdm_similarity,
    rsa_compare,
    split_half_noise_ceiling,
)
from v1_orientation.solution.stats import (
    bootstrap_counts,
    bootstrap_difference_p,
    percentile_interval,
    permutation_p_value,
)


def random_rdm(rng, n_stimuli=20, n_units=30):
    return RDM(rng.normal(size=(n_stimuli, n_units)))


def with_ties(rdm):
    """Copy an RDM and make a few of its dissimilarities exactly equal."""
    rdm = rdm.copy()
    for (i, j), (k, m) in [((0, 1), (2, 3)), ((0, 4), (2, 3)), ((5, 6), (7, 8))]:
        rdm[i, j] = rdm[j, i] = rdm[k, m]
    return rdm


def tuned_rdm(rng, n_stimuli=36, n_units=200, noise=0.3, pref=None):
    """RDM of a population tuned to orientation (smooth structure) plus noise."""
    theta = np.arange(n_stimuli) * 180 / n_stimuli
    return RDM(tuned_population(theta, n_units, preferred=pref, noise=noise, seed=rng).resp)


# --- equality with rsatoolbox -------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs"), [("pearson", "corr"), ("spearman", "spearman")])
def test_compare_rdms_equals_rsatoolbox(ours, theirs):
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = with_ties(random_rdm(rng)), random_rdm(rng)
        expected = compare(RDMs(a[None]), RDMs(b[None]), method=theirs)[0, 0]
        assert compare_rdms(a, b, ours) == pytest.approx(expected, abs=1e-12)


def test_rdm_equals_rsatoolbox_correlation_rdm():
    rng = np.random.default_rng(1)
    resp = rng.normal(size=(25, 60)) + rng.normal(size=(25, 1))  # rows with different means
    dataset = rsatoolbox.data.Dataset(resp)
    expected = rsatoolbox.rdm.calc_rdm(dataset, method="correlation").get_matrices()[0]
    np.testing.assert_allclose(RDM(resp), expected, atol=1e-12)


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


def test_bootstrap_counts_draw_with_replacement():
    counts = bootstrap_counts(50, n_boot=400, seed=0)
    assert counts.shape == (400, 50)
    assert np.all(counts.sum(axis=1) == 50)
    assert counts.min() >= 0
    # each stimulus is drawn Binomial(50, 1/50) times: mean 1, variance 49/50
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var() == pytest.approx(49 / 50, rel=0.05)
    # about 1 - (1 - 1/50)^50 = 63.6% of the stimuli appear in a resample
    assert np.mean(counts > 0) == pytest.approx(1 - (49 / 50) ** 50, abs=0.01)
    np.testing.assert_array_equal(counts, bootstrap_counts(50, n_boot=400, seed=0))
    assert not np.array_equal(counts, bootstrap_counts(50, n_boot=400, seed=1))


# --- permutation test ---------------------------------------------------------------------


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


def test_permutation_p_value_closed_forms():
    null = np.arange(99.0)
    assert permutation_p_value(1000.0, null) == pytest.approx(1 / 100)
    assert permutation_p_value(-1.0, null) == pytest.approx(1.0)
    assert permutation_p_value(89.5, null) == pytest.approx((1 + 9) / 100)
    np.testing.assert_allclose(permutation_p_value([1000.0, -1.0], np.c_[null, null]),
                               [0.01, 1.0])


# --- known answers: identical, independent, planted ---------------------------------------


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


def test_bootstrap_difference_p_closed_forms():
    assert bootstrap_difference_p(np.full(99, 0.3)) == pytest.approx(2 / 100)
    assert bootstrap_difference_p(np.r_[np.full(49, -1.0), np.full(50, 1.0)]) == 1.0
    d = np.r_[np.full(9, -1.0), np.full(90, 1.0)]  # 9 of 99 at or below 0
    assert bootstrap_difference_p(d) == pytest.approx(2 * 10 / 100)


def test_percentile_interval_matches_numpy_quantiles():
    samples = np.random.default_rng(8).normal(size=(1000, 3))
    np.testing.assert_allclose(percentile_interval(samples, 0.9),
                               np.quantile(samples, [0.05, 0.95], axis=0))
    with pytest.raises(ValueError, match="level"):
        percentile_interval(samples, 1.5)


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


# --- noise ceiling ------------------------------------------------------------------------


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


# --- controls -----------------------------------------------------------------------------


def test_initial_cnn_is_the_template_network_before_training():
    h, w = grating(0).shape
    torch.manual_seed(12)
    template = CNN(h, w)
    state = torch.get_rng_state()
    net = initial_cnn(h, w)
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is untouched
    for key, value in template.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert torch.equal(net.conv.weight, filters())


def test_random_cnn_has_random_filters():
    h, w = grating(0).shape
    designed = initial_cnn(h, w, seed=3)
    random_a = initial_cnn(h, w, seed=3, random_conv=True)
    random_b = initial_cnn(h, w, seed=4, random_conv=True)
    assert not torch.allclose(random_a.conv.weight, designed.conv.weight)
    assert not torch.allclose(random_a.conv.weight, random_b.conv.weight)
    assert torch.any(random_a.conv.bias != 0)
    # PyTorch's default conv init: uniform within 1/sqrt(fan_in) = 1/7
    assert random_a.conv.weight.abs().max() <= 1 / 7
    assert torch.equal(random_a.fc.weight, designed.fc.weight)  # same seed, same fc init


def test_network_rdms_match_template_stimuli_and_rdm():
    h, w = grating(0).shape
    net = initial_cnn(h, w)
    ori = np.arange(-90.0, 91.0, 15.0)
    rdms = network_rdms(net, ori)
    stimuli = torch.stack([grating(a) for a in ori])
    hidden = get_hidden_activity(net, stimuli, ["pool", "fc"])
    assert list(rdms) == ["pool", "fc"]
    for layer in ("pool", "fc"):
        np.testing.assert_allclose(rdms[layer], RDM(hidden[layer]), atol=1e-12)
    given = network_rdms(net, ori, images=stimuli)
    for layer in ("pool", "fc"):
        np.testing.assert_array_equal(given[layer], rdms[layer])
    with pytest.raises(ValueError, match="images"):
        network_rdms(net, ori[:-1], images=stimuli)


# --- input checks -------------------------------------------------------------------------


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
