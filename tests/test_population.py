"""``solution.population``: decoding error against population size, on populations of known
information.

The synthetic neurons (conftest's ``tuned_population``) have von Mises orientation tuning (period
180 deg) and independent Gaussian noise, so their Fisher information is known in closed form; an
optional per-stimulus jitter of the orientation the population "sees" is information-limiting
noise of known size: no decoder can recover it, so the squared error cannot fall below
``mean(xi^2)`` however many neurons.
"""

import numpy as np
import pytest
from conftest import fake_curves, orientations, tuned_population, tuned_rows

from v1_orientation.solution.circular import (
    orientation_difference,
)
from v1_orientation.solution.crossval import cv_folds
from v1_orientation.solution.population import (
    cross_validated_angles,
    decoding_error_curve,
    decoding_error_curves,
    error_curve_table,
    ranked_table,
    smallest_size_within,
)
from v1_orientation.solution.ridge import CircularRidge
from v1_orientation.solution.tuning import split_half_reliability


def test_curves_for_two_schemes_equal_one_call_per_scheme():
    resp, theta = tuned_rows(72, 150, seed=4)
    both = decoding_error_curves(resp, theta, [5, 40, 150], n_repeats=2, n_folds=4, seed=9)
    for scheme in ("interleaved", "blocked"):
        alone = decoding_error_curve(resp, theta, [5, 40, 150], n_repeats=2, n_folds=4,
                                        scheme=scheme, seed=9)
        np.testing.assert_allclose(both[scheme]["rmse"], alone["rmse"], rtol=1e-9)
        np.testing.assert_allclose(both[scheme]["decoded"], alone["decoded"], atol=1e-9)


def test_shared_all_neuron_features_give_the_decoder_fitted_on_the_neurons():
    resp, theta = tuned_rows(40, 300, seed=5)
    curve = decoding_error_curve(resp, theta, [300], n_repeats=2, n_folds=4, seed=1,
                                    rank_by=split_half_reliability)
    for r in range(2):
        expected = cross_validated_angles(resp, theta, cv_folds(theta, 4, seed=1 + r))
        np.testing.assert_allclose(orientation_difference(curve["decoded"][r], expected), 0,
                                   atol=1e-7)


def test_curves_in_two_threads_equal_one_thread():
    resp, theta = tuned_rows(72, 150, seed=6)
    kwargs = {"n_repeats": 3, "n_folds": 4, "seed": 2}
    one = decoding_error_curves(resp, theta, [5, 150], **kwargs)
    two = decoding_error_curves(resp, theta, [5, 150], n_jobs=2, **kwargs)
    for scheme in one:
        np.testing.assert_array_equal(one[scheme]["decoded"], two[scheme]["decoded"])
    ranked = [decoding_error_curve(resp, theta, [5, 150], rank_by=split_half_reliability,
                                      n_jobs=n, **kwargs)["rmse"] for n in (1, 2)]
    np.testing.assert_array_equal(*ranked)


def test_gram_embedding_gives_exactly_the_decoder_fitted_on_all_neurons():
    theta = orientations(60)
    resp = tuned_population(theta, 200, noise=0.5).resp
    curve = decoding_error_curve(resp, theta, [200], n_repeats=1, n_folds=5, seed=7)
    # reference: CircularRidge fitted on the 200 neurons themselves, fold by fold
    expected = np.empty(theta.size)
    for test in cv_folds(theta, 5, seed=7):
        train = np.setdiff1d(np.arange(theta.size), test)
        expected[test] = CircularRidge().fit(resp[train], theta[train]).predict(resp[test])
    np.testing.assert_allclose(orientation_difference(curve["decoded"][0], expected), 0,
                               atol=1e-7)
    err = orientation_difference(expected, theta)
    assert curve["rmse"][0, 0] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-6)


def test_blocked_split_is_harder_than_interleaved_on_the_same_neurons():
    theta = orientations()
    resp = tuned_population(theta, 300).resp
    kw = {"sizes": [300], "n_repeats": 2, "n_folds": 10, "seed": 0}
    inter = decoding_error_curve(resp, theta, scheme="interleaved", **kw)["rmse"].mean()
    blocked = decoding_error_curve(resp, theta, scheme="blocked", **kw)["rmse"].mean()
    assert blocked > inter


def test_ranked_selection_scores_neurons_on_training_folds_only_and_helps():
    rng = np.random.default_rng(0)
    theta = orientations()
    tuned = tuned_population(theta, 100, noise=0.3).resp
    resp = np.concatenate([tuned, 0.3 * rng.standard_normal((180, 400))], axis=1)  # 400 silent
    seen = []

    def spy(x, y):
        seen.append(np.sort(y))
        return split_half_reliability(x, y, n_bins=18)

    ranked = decoding_error_curve(resp, theta, [10, 50, 500], n_repeats=1, n_folds=5,
                                     rank_by=spy, seed=2)
    folds = cv_folds(theta, 5, seed=2)
    assert len(seen) == 5
    for y, test in zip(seen, folds, strict=True):
        np.testing.assert_array_equal(y, np.sort(np.delete(theta, test)))
    random = decoding_error_curve(resp, theta, [10, 50, 500], n_repeats=3, n_folds=5, seed=2)
    assert ranked["rmse"][0, 0] < 0.5 * random["rmse"][0].mean()
    # with every neuron, selection makes no difference (same folds, same neurons)
    assert ranked["rmse"][2, 0] == pytest.approx(random["rmse"][2, 0], rel=1e-6)


def test_curve_rejects_sizes_out_of_range():
    theta = orientations(40)
    resp = tuned_population(theta, 30).resp
    with pytest.raises(ValueError, match="sizes"):
        decoding_error_curve(resp, theta, [10, 31])


def test_error_curve_table():
    curves = fake_curves()
    rows = error_curve_table(curves).values()["data"]
    rmse = curves["blocked"]["rmse"]
    assert [r[0] for r in rows] == [10, 100, 1000, 10000]
    assert rows[2][3:] == pytest.approx([rmse[2].mean(), rmse[2].std(ddof=1)])


def test_ranked_table_and_smallest_size():
    rows = ranked_table([10, 100], [4.0, 1.0], [2.0, 1.0]).values()["data"]
    assert rows == [[10, 4.0, 2.0, 2.0], [100, 1.0, 1.0, 1.0]]
    assert smallest_size_within([10, 100, 1000], [3.0, 1.2, 0.9], 1.2) == 100
    assert smallest_size_within([10, 100], [3.0, 2.0], 1.0) is None
