"""The faster computations behind the notebook's 60-second budget give the same answers.

Each fast path is checked against an independent, slow computation: brute-force refits,
NumPy's primal ridge solution, scikit-learn's PCA, separate calls that share nothing.
"""

import os
import time

import numpy as np
import pytest
import threadpoolctl
import torch
from conftest import tuned_population
from sklearn.decomposition import PCA

from v1_orientation._internal import _single_threaded
from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.training import predict, train_decoder
from v1_orientation.solution.circular import (
    angles_to_circle,
    circle_to_angles,
    orientation_difference,
)
from v1_orientation.solution.comparison import _shared_with_workers, compare_decoders
from v1_orientation.solution.crossval import class_split_indices, cv_folds
from v1_orientation.solution.embeddings import embed, explained_variance
from v1_orientation.solution.mlp import ClassMLPDecoder
from v1_orientation.solution.population import (
    cross_validated_angles,
    decoding_error_curve,
    decoding_error_curves,
)
from v1_orientation.solution.ridge import AngleRidge, CircularRidge, _DualRidge
from v1_orientation.solution.selection import CVSelectedDecoder
from v1_orientation.solution.tuning import split_half_reliability
from v1_orientation.solution.von_mises import fit_von_mises, von_mises_cv_r2


def tuned_rows(n_stimuli, n_units, seed=0):
    """Responses and angles of ``tuned_population`` at sorted random orientations in -90..90."""
    theta = np.sort(np.random.default_rng(seed).uniform(-90, 90, n_stimuli))
    return tuned_population(theta, n_units, noise=0.2, seed=seed).resp, theta


@pytest.mark.parametrize("n_units", [3, 12, 30])  # p <= n / 2: the thin-SVD path
def test_ridge_with_few_units_leave_one_out_errors_equal_brute_force_refits(n_units):
    resp, theta = tuned_rows(60, n_units)
    alphas = [0.1, 3.0, 100.0]
    model = CircularRidge(alphas=alphas).fit(resp, theta)
    for k, alpha in enumerate(alphas):
        errors = []
        for i in range(theta.size):
            keep = np.arange(theta.size) != i
            x, t = resp[keep], angles_to_circle(theta[keep])
            xm, tm = x.mean(0), t.mean(0)
            w = np.linalg.solve((x - xm).T @ (x - xm) + alpha * np.eye(n_units),
                                (x - xm).T @ (t - tm))
            decoded = circle_to_angles(((resp[i] - xm) @ w + tm)[None])
            errors.append(orientation_difference(decoded, theta[i])[0])
        assert model.cv_errors_[k] == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


@pytest.mark.parametrize("estimator", [CircularRidge, AngleRidge])
def test_ridge_with_few_units_predicts_the_primal_solution(estimator):
    resp, theta = tuned_rows(50, 8, seed=1)
    model = estimator(alphas=[2.0]).fit(resp, theta)
    xc = resp - resp.mean(0)
    targets = angles_to_circle(theta) if estimator is CircularRidge else theta[:, None]
    w = np.linalg.solve(xc.T @ xc + 2.0 * np.eye(8), xc.T @ (targets - targets.mean(0)))
    np.testing.assert_allclose(model.coef_.reshape(w.shape), w, atol=1e-10)


def test_leave_one_out_predictions_for_many_penalties_match_one_at_a_time():
    resp, theta = tuned_rows(40, 90, seed=2)
    fit = _DualRidge(resp, angles_to_circle(theta))
    alphas = np.logspace(-2, 4, 7)
    stacked = fit.loo_predictions(alphas)
    assert stacked.shape == (7, 40, 2)
    for alpha, loo in zip(alphas, stacked, strict=True):
        np.testing.assert_allclose(fit.loo_predictions(alpha), loo, rtol=1e-12, atol=1e-14)
        # and against a refit without stimulus 0, at this penalty
        keep = np.arange(1, 40)
        refit = _DualRidge(resp[keep], angles_to_circle(theta[keep]))
        predicted = (resp[0] - refit.x_mean) @ refit.coef(alpha) + refit.t_mean
        np.testing.assert_allclose(loo[0], predicted, atol=1e-10)


@pytest.mark.parametrize("shape", [(50, 400), (50, 20), (30, 30)])
def test_pca_scores_and_variances_equal_scikit_learn(shape):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape) @ np.diag(rng.uniform(0.2, 3, shape[1]))
    x += np.outer(np.sin(np.arange(shape[0]) / 5), rng.normal(size=shape[1]))
    k = min(10, *shape)
    reference = PCA(n_components=k, svd_solver="full").fit(x)
    # scores with scikit-learn's signs, not only up to a sign
    np.testing.assert_allclose(embed(x, "pca", n_components=k), reference.transform(x),
                               atol=1e-9)
    np.testing.assert_allclose(explained_variance(x, k), reference.explained_variance_ratio_,
                               atol=1e-12)


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


def test_single_threaded_blas_is_restored_afterwards():
    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    before = blas_threads()
    for _ in range(2):  # the second use reuses the pools found by the first
        with _single_threaded():
            assert blas_threads() and set(blas_threads()) == {1}
        assert blas_threads() == before


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


def test_decoder_comparison_in_worker_processes_equals_one_process():
    resp, theta = tuned_rows(60, 80, seed=7)
    decoders = {"circle": CircularRidge(), "line": AngleRidge(),
                "best": CVSelectedDecoder([("line", AngleRidge()),
                                              ("circle", CircularRidge())], n_folds=3)}
    kwargs = {"n_random": 2, "n_blocked": 2, "repeat": ["circle", "best"], "progress": False}
    one = compare_decoders(decoders, resp, theta, **kwargs)
    two = compare_decoders(decoders, resp, theta, n_jobs=2, **kwargs)
    for scheme in ("class", "random", "blocked"):
        assert one[scheme]["chosen"] == two[scheme]["chosen"]
        assert one[scheme]["predicted"].keys() == two[scheme]["predicted"].keys()
        for name, predicted in one[scheme]["predicted"].items():
            # the same fits; BLAS may round differently with another number of threads
            for a, b in zip(two[scheme]["predicted"][name], predicted, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-9)
    assert two["class"]["fitted"].keys() == set(decoders)
    assert two["class"]["fitted"]["best"].best_name_ == one["class"]["fitted"]["best"].best_name_


def job_record(k, flag):
    """A job of test_jobs_shared_with_a_worker: job 0 waits until a worker has started."""
    if k == 0:
        deadline = time.monotonic() + 120
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        open(flag, "a").close()
        time.sleep(0.02)
    return k, os.getpid(), torch.get_num_threads()


def test_jobs_shared_with_a_worker_come_back_in_order_from_both_ends(tmp_path):
    flag = str(tmp_path / "a worker has started")
    results = list(_shared_with_workers(job_record, [(k, flag) for k in range(40)], 1))
    assert [r[0] for r in results] == list(range(40))  # in order
    here = os.getpid()
    pids = [r[1] for r in results]
    assert pids[0] == here and pids[-1] != here  # this process from the front, a worker the back
    meet = pids.index(pids[-1])
    assert set(pids[:meet]) == {here} and set(pids[meet:]) == {pids[-1]}
    assert all(r[2] == 1 for r in results)  # one torch thread wherever a job ran
    threads = torch.get_num_threads()
    assert list(_shared_with_workers(job_record, [(1, flag), (2, flag)], 0)) == [
        (1, here, threads), (2, here, threads)]  # no workers: here, with this process's threads


def test_a_decoder_fitted_already_is_used_on_the_class_split_without_refitting():
    resp, theta = tuned_rows(50, 30, seed=8)
    train, test = class_split_indices(theta.size)
    torch.manual_seed(1)
    net = DeepNetReLU(30, 10)
    history = train_decoder(net, torch.nn.MSELoss(), torch.tensor(resp[train]).float(),
                               torch.tensor(theta[train]).float()[:, None], quiet=True)
    given = ClassMLPDecoder.from_trained(net, history, device="cpu")
    decoders = {"class recipe": ClassMLPDecoder(device="cpu"), "circle": CircularRidge()}
    kwargs = {"n_random": 1, "n_blocked": 1, "progress": False}
    reused = compare_decoders(decoders, resp, theta, fitted={"class recipe": given}, **kwargs)
    refitted = compare_decoders(decoders, resp, theta, **kwargs)
    assert reused["class"]["fitted"]["class recipe"] is given
    assert np.isnan(reused["class"]["fit_seconds"]["class recipe"][0])
    expected = predict(net, torch.tensor(resp[test]).float())[:, 0]
    np.testing.assert_array_equal(reused["class"]["predicted"]["class recipe"][0], expected)
    # the class recipe fitted by compare_decoders is the same network
    np.testing.assert_allclose(refitted["class"]["predicted"]["class recipe"][0], expected,
                               atol=1e-4)
    for scheme in ("random", "blocked"):  # other splits are fitted as before
        np.testing.assert_array_equal(reused[scheme]["predicted"]["class recipe"][0],
                                      refitted[scheme]["predicted"]["class recipe"][0])


def test_von_mises_fits_do_not_depend_on_blocks_or_threads():
    rng = np.random.default_rng(9)
    stim = np.arange(0.0, 360.0, 5.0)
    pref = rng.uniform(0, 360, 40)
    resp = (np.exp(4 * (np.cos(np.deg2rad(stim[:, None] - pref)) - 1))
            + 0.2 * rng.standard_normal((stim.size, 40)))
    whole = fit_von_mises(resp, stim, n_iter=2, chunk=1024)
    blocks = fit_von_mises(resp, stim, n_iter=2, chunk=7, n_jobs=2)
    for field in ("preferred", "kappa", "baseline", "amplitudes", "r2"):
        np.testing.assert_allclose(getattr(blocks, field), getattr(whole, field), rtol=1e-12,
                                   atol=1e-12, err_msg=field)
    np.testing.assert_allclose(von_mises_cv_r2(resp, stim, n_jobs=2),
                               von_mises_cv_r2(resp, stim), rtol=1e-12, atol=1e-12)
