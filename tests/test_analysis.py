"""RDM comparison, decoding errors, tuning and embeddings against numpy/scipy references."""

import warnings
from dataclasses import astuple
from functools import partial

import numpy as np
import pytest
import torch
from conftest import tuned_population, write_recording
from scipy import stats

from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.rdm import RDM, compare_rdms, upper_triangle
from v1_orientation.course.recording import load_recording
from v1_orientation.course.stimuli import filters
from v1_orientation.course.training import predict
from v1_orientation.solution.circular import decoding_errors, orientation_difference
from v1_orientation.solution.embeddings import embed, embed_all, explained_variance
from v1_orientation.solution.plotting import (
    plot_embeddings,
    plot_filters,
    plot_rdms,
    plot_tuning_curves,
)
from v1_orientation.solution.tuning import (
    binned_tuning,
    preferred_orientation,
    reliability_threshold,
    split_half_reliability,
)
from v1_orientation.solution.von_mises import (
    VonMisesFit,
    fit_von_mises,
    von_mises_cv_r2,
    von_mises_cv_threshold,
)


def random_rdm(rng, n=12):
    x = rng.normal(size=(n, 30))
    return RDM(x)


def test_compare_rdms_matches_scipy_on_upper_triangles():
    rng = np.random.default_rng(0)
    a, b = random_rdm(rng), random_rdm(rng)
    iu = np.triu_indices(12, k=1)
    assert compare_rdms(a, b) == pytest.approx(stats.pearsonr(a[iu], b[iu])[0])
    assert compare_rdms(a, b, "spearman") == pytest.approx(stats.spearmanr(a[iu], b[iu])[0])
    assert compare_rdms(a, a) == pytest.approx(1.0)
    # the diagonal never enters: changing it changes nothing
    a2 = a.copy()
    np.fill_diagonal(a2, 5.0)
    assert compare_rdms(a2, b) == pytest.approx(compare_rdms(a, b))


def test_compare_rdms_spearman_gives_tied_dissimilarities_their_average_rank():
    rng = np.random.default_rng(3)
    # dissimilarities rounded to one decimal: 66 pairs share about 15 distinct values
    a, b = np.round(random_rdm(rng), 1), np.round(random_rdm(rng), 1)
    iu = np.triu_indices(12, k=1)
    assert np.unique(a[iu]).size < 30 and np.unique(b[iu]).size < 30
    expected = stats.spearmanr(a[iu], b[iu])[0]  # scipy ranks ties by their average rank
    assert compare_rdms(a, b, "spearman") == pytest.approx(expected, abs=1e-12)
    # an RDM with one value repeated against its own ranks: still exactly 1
    assert compare_rdms(a, a, "spearman") == pytest.approx(1.0, abs=1e-12)


def test_compare_rdms_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        compare_rdms(np.zeros((3, 3)), np.zeros((4, 4)))
    # equal shapes, but not square
    with pytest.raises(ValueError, match=r"^RDMs must be square and of equal shape, got \(3, 4\) "
                                         r"and \(3, 4\)$"):
        compare_rdms(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="square"):
        compare_rdms(np.zeros(9), np.zeros(9))
    with pytest.raises(ValueError, match=r"^method must be 'pearson' or 'spearman', got 'cosine'$"):
        compare_rdms(np.eye(3), np.eye(3), "cosine")


def test_upper_triangle_order():
    m = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(upper_triangle(m), [1, 2, 3, 6, 7, 11])


def test_orientation_difference_wraps():
    np.testing.assert_allclose(orientation_difference([89, -89, 10, 90], [-89, 89, 0, -90]),
                               [-2, 2, 10, 0])
    np.testing.assert_allclose(orientation_difference(350, 10, period=360), -20)


def test_decoding_errors_closed_forms():
    true = np.array([-80.0, 0.0, 85.0, 30.0])
    pred = np.array([88.0, 2.0, -89.0, 20.0])
    errs = decoding_errors(torch.tensor(pred).unsqueeze(1), true)
    e = pred - true
    assert errs["mse"] == pytest.approx(np.mean(e**2))
    assert errs["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
    c = np.array([-12.0, 2.0, 6.0, -10.0])
    assert errs["circ_rmse"] == pytest.approx(np.sqrt(np.mean(c**2)))
    assert errs["circ_median_abs"] == pytest.approx(np.median(np.abs(c)))
    with pytest.raises(ValueError, match="one each"):
        decoding_errors([1.0, 2.0], [1.0])


def test_decoding_errors_use_the_period_given():
    # directions (period 360): the circular errors wrap at +-180, not at +-90
    true = np.array([10.0, 350.0, 100.0, 0.0, 200.0])
    pred = np.array([350.0, 10.0, 300.0, 90.0, 25.0])
    errs = decoding_errors(pred, true, period=360)
    wrapped = np.array([-20.0, 20.0, -160.0, 90.0, -175.0])  # by hand
    assert errs["circ_rmse"] == pytest.approx(np.sqrt(np.mean(wrapped**2)))
    assert errs["circ_median_abs"] == pytest.approx(90.0)
    assert errs["mse"] == pytest.approx(np.mean((pred - true) ** 2))
    # the same numbers as orientations (period 180) wrap at +-90
    on_180 = np.array([-20.0, 20.0, 20.0, -90.0, 5.0])
    assert decoding_errors(pred, true)["circ_rmse"] == pytest.approx(
        np.sqrt(np.mean(on_180**2)))


def test_binned_tuning_means():
    resp = np.arange(12.0).reshape(6, 2)
    centres, curves = binned_tuning(resp, [0, 1, 2, 3, 4, 5], n_bins=3)
    np.testing.assert_allclose(curves, [[1, 2], [5, 6], [9, 10]])
    np.testing.assert_allclose(centres, [5 / 6, 2.5, 25 / 6])


def test_split_half_reliability_separates_tuned_from_noise():
    pop = tuned_population(np.arange(360.0), 200, noise=0.3)
    resp, stimuli = pop.resp, pop.stimuli
    noise = np.random.default_rng(1).standard_normal(resp.shape)
    both = np.concatenate([resp, noise], axis=1)
    rel = split_half_reliability(both, stimuli)
    assert rel.shape == (400,)
    # signal variance of the binned curve over signal plus noise variance (5 trials a bin)
    signal = np.var(binned_tuning(pop.clean, stimuli, 36)[1], axis=0)
    expected = signal / (signal + 0.3**2 / 5)
    assert np.median(rel[:200]) == pytest.approx(np.median(expected), abs=0.05)
    assert abs(np.median(rel[200:])) < 0.1
    threshold = reliability_threshold(both, stimuli)
    assert 0.2 < threshold < 0.8
    assert np.mean(rel[:200] > threshold) > 0.95 and np.mean(rel[200:] > threshold) < 0.05


def test_preferred_orientation_recovers_the_peak():
    pop = tuned_population(np.arange(360.0), 200, noise=0.05)
    found, selectivity = preferred_orientation(pop.resp, pop.stimuli)
    assert np.max(np.abs(orientation_difference(found, pop.preferred))) < 2
    assert np.all(selectivity > 0.3)
    _, flat = preferred_orientation(np.ones((360, 3)), pop.stimuli)
    np.testing.assert_array_equal(flat, 0)


def test_explained_variance_matches_numpy_eigenvalues():
    x = np.random.default_rng(2).normal(size=(40, 8)) @ np.diag([5, 3, 2, 1, 1, 1, 0.5, 0.1])
    ratio = explained_variance(x)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    np.testing.assert_allclose(ratio, eig / eig.sum(), atol=1e-10)
    assert explained_variance(x, 3).shape == (3,)


def test_embed_pca_is_the_svd_projection_in_order_of_variance():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 8)) @ np.diag([5, 3, 2, 1.5, 1, 0.5, 0.3, 0.1]) + 7.0
    u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    expected = u[:, :3] * s[:3]  # scores on the three largest components, largest first
    got = embed(x, "pca", n_components=3)
    assert got.shape == (50, 3)
    signs = np.sign(np.sum(got * expected, axis=0))  # a component's sign is arbitrary
    np.testing.assert_allclose(got * signs, expected, atol=1e-9)
    assert np.all(np.diff(np.var(got, axis=0)) < 0)
    # wide, like the recording (more units than stimuli): still the exact decomposition
    wide = rng.normal(size=(60, 700)) * np.linspace(3, 0.1, 700)
    u, s, _ = np.linalg.svd(wide - wide.mean(axis=0), full_matrices=False)
    got = embed(wide, "pca", n_components=5)
    np.testing.assert_allclose(np.abs(got), np.abs(u[:, :5] * s[:5]), atol=1e-8)


def test_embed_is_deterministic_and_shaped():
    resp = tuned_population(np.arange(0.0, 360.0, 4.0), 60).resp
    for method in ("pca", "tsne"):
        a = embed(resp, method, seed=3)
        assert a.shape == (90, 2)
        np.testing.assert_array_equal(a, embed(resp, method, seed=3))
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        embed(resp, "umap")


def test_embed_all_gives_each_embedding_of_embed_in_threads():
    rng = np.random.default_rng(8)
    reps = {"wide": rng.normal(size=(40, 60)), "narrow": rng.normal(size=(40, 5)),
            "third": rng.normal(size=(40, 12))}
    for method in ("pca", "tsne"):
        alone = {k: embed(x, method, seed=2, perplexity=10.0) for k, x in reps.items()}
        together = embed_all(reps, method, seed=2, perplexity=10.0, n_jobs=2)
        assert list(together) == list(reps)
        for k in reps:
            np.testing.assert_array_equal(together[k], alone[k])
    with pytest.raises(ValueError, match="method"):
        embed_all(reps, "umap")


def test_load_recording_returns_all_bins(recording):
    resp, stimuli = load_recording(recording)
    assert resp.shape == (360, 40) and stimuli.shape == (360,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_recording_returns_the_file_rows_in_their_order(tmp_path, dtype):
    stimuli = np.random.default_rng(5).permutation(360).astype(float)  # rows in no sorted order
    path = write_recording(tmp_path / "r.npz", n_neurons=7, stimuli=stimuli, dtype=dtype)
    resp, got_stimuli = load_recording(path)
    with np.load(path) as stored:
        np.testing.assert_array_equal(resp, stored["resp"])
        np.testing.assert_array_equal(got_stimuli, stored["stimuli"])
    assert resp.dtype == got_stimuli.dtype == dtype


def test_predict_matches_a_no_grad_forward_pass():
    torch.manual_seed(0)
    net = DeepNetReLU(5, 3)
    x = torch.randn(10, 5)
    out = predict(net, x, batch_size=3)
    assert isinstance(out, np.ndarray) and out.shape == (10, 1)
    with torch.no_grad():
        np.testing.assert_allclose(out, net(x).numpy(), rtol=1e-6)


@pytest.fixture
def agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_rdms_shares_one_colour_scale(agg):
    rng = np.random.default_rng(0)
    rdms = {"V1 data": random_rdm(rng, 5), "model\n'fc' layer": 2 * random_rdm(rng, 5)}
    fig = plot_rdms(rdms, np.linspace(-90, 90, 5), " (surrogate)")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    assert {im.get_clim() for im in images} == {(0, max(r.max() for r in rdms.values()))}
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["V1 data (surrogate)", "model 'fc' layer (surrogate)"]


def test_plot_tuning_curves_and_embeddings_and_filters(agg):
    pop = tuned_population(np.arange(360.0), 4)
    fig, ax = agg.subplots()
    plot_tuning_curves(ax, pop.stimuli, pop.resp, [0, 2], n_bins=12, title="t")
    assert len(ax.lines) == 4 and ax.get_title() == "t"  # raw + binned for each unit
    fig = plot_embeddings({"a": np.zeros((7, 2)), "b": np.ones((7, 2))},
                             np.linspace(-90, 90, 7), " (surrogate)")
    assert [a.get_title() for a in fig.axes[:2]] == ["a (surrogate)", "b (surrogate)"]
    fig = plot_filters({"before": filters(), "after": filters()[:4]})
    assert sum(bool(a.images) for a in fig.axes) == 10


# --- inputs as the notebook passes them: float32 tensors, (n, 1) columns, degenerate units -----


def test_float32_and_column_inputs_are_computed_in_float64():
    # load_data returns float32 tensors with (n, 1) stimuli: the results must be those of the
    # same values in float64 and 1-D
    pop = tuned_population(np.arange(0.0, 360.0, 2.0), 12, noise=0.3, baseline=2.0)
    resp32 = torch.tensor(pop.resp, dtype=torch.float32)
    stim32 = torch.tensor(pop.stimuli, dtype=torch.float32)[:, None]
    resp64, stim64 = resp32.double().numpy(), stim32.double().numpy()[:, 0]
    pairs = [
        (lambda r, s: decoding_errors(r[:, 0], s), "decoding_errors"),
        (lambda r, s: decoding_errors(s + 1.5, s), "decoding_errors (columns)"),
        (lambda r, s: preferred_orientation(r, s), "preferred_orientation"),
        (lambda r, s: reliability_threshold(r, s, n_bins=12), "reliability_threshold"),
        (lambda r, s: explained_variance(r), "explained_variance"),
        (lambda r, s: embed(r), "embed"),
        (lambda r, s: von_mises_cv_r2(r, s), "von_mises_cv_r2"),
        (lambda r, s: von_mises_cv_threshold(r, s), "von_mises_cv_threshold"),
        (lambda r, s: binned_tuning(r, s, n_bins=10), "binned_tuning"),
        (lambda r, s: astuple(fit_von_mises(r, s))[:5], "fit_von_mises"),
    ]
    for compute, name in pairs:
        np.testing.assert_allclose(flat(compute(resp32, stim32)), flat(compute(resp64, stim64)),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


def flat(result):
    """One float64 vector of a result: an array, a tuple of arrays or a dict of numbers."""
    parts = result.values() if isinstance(result, dict) else \
        result if isinstance(result, tuple) else [result]
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def test_a_silent_unit_gets_selectivity_zero_without_a_warning():
    resp = np.c_[np.ones(360), np.cos(np.deg2rad(2 * np.arange(360.0)))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, selectivity = preferred_orientation(resp, np.arange(360.0))
    assert selectivity[0] == 0 and selectivity[1] > 0.5


def test_preferred_orientation_and_selectivity_closed_forms():
    # r = b + a cos(2 (theta - mu)) sampled every degree: the vector sum points exactly at mu,
    # and |z| / sum|r - mean r| = (S a / 2) / (S a 2 / pi) = pi / 4, whatever b and a
    theta = np.arange(360.0)
    mu = np.array([10.0, 47.5, 130.0, 170.0])
    b, a = np.array([0.0, 5.0, -3.0, 0.2]), np.array([1.0, 2.0, 0.5, 1e-3])
    resp = b + a * np.cos(np.deg2rad(2 * (theta[:, None] - mu)))
    found, selectivity = preferred_orientation(resp, theta)
    np.testing.assert_allclose(found, mu, atol=1e-9)
    np.testing.assert_allclose(selectivity, np.pi / 4, rtol=1e-3)
    # directions: period 360 and a single cosine peak
    resp = np.cos(np.deg2rad(theta[:, None] - [200.0, 30.0]))
    np.testing.assert_allclose(preferred_orientation(resp, theta, period=360)[0], [200, 30],
                               atol=1e-9)


def test_reliability_threshold_is_the_quantile_of_shuffled_reliabilities():
    pop = tuned_population(np.arange(360.0), 30, noise=1.0)
    rng = np.random.default_rng(7)
    null = [split_half_reliability(pop.resp[rng.permutation(360)], pop.stimuli, 12)
            for _ in range(3)]
    expected = np.quantile(np.concatenate(null), 0.9)
    got = reliability_threshold(pop.resp, pop.stimuli, n_bins=12, n_shuffles=3, quantile=0.9,
                                   seed=7)
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("function", "documented", "uses_stimuli"), [
    (preferred_orientation, {"period": 180.0}, True),
    (reliability_threshold, {"n_bins": 36, "n_shuffles": 5, "quantile": 0.99, "seed": 0}, True),
    (von_mises_cv_r2, {"period": 360.0, "n_peaks": 2, "n_iter": 0}, True),
    (von_mises_cv_threshold, {"period": 360.0, "n_peaks": 2, "n_shuffles": 1,
                                 "quantile": 0.99, "seed": 0}, True),
    (fit_von_mises, {"period": 360.0, "n_peaks": 2, "n_phi": 72,
                        "kappas": np.geomspace(0.5, 200.0, 12), "n_iter": 3}, True),
    (binned_tuning, {"n_bins": 36}, True),
    (embed, {"method": "pca", "n_components": 2}, False),
    (partial(embed, method="tsne"), {"n_components": 2, "seed": 0, "perplexity": 30.0},
     False),
])
def test_defaults_are_the_documented_ones(function, documented, uses_stimuli):
    # the notebook calls these with their defaults: a changed default changes its numbers
    pop = tuned_population(np.arange(0.0, 360.0, 3.0), 20, period=360, n_peaks=2,
                           amplitudes=[1.0, 0.5], noise=0.5)
    args = (pop.resp, pop.stimuli) if uses_stimuli else (pop.resp,)
    got, expected = function(*args), function(*args, **documented)
    if isinstance(got, VonMisesFit):
        got = (got.preferred, got.kappa, got.baseline, got.amplitudes)
        expected = (expected.preferred, expected.kappa, expected.baseline, expected.amplitudes)
    np.testing.assert_array_equal(flat(got), flat(expected))


def test_tsne_embeds_the_first_fifty_principal_components():
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = tuned_population(np.arange(0.0, 180.0, 2.0), 80, noise=0.5).resp  # 90 x 80
    reference = TSNE(n_components=2, perplexity=29.0, init="pca", random_state=5).fit_transform(
        PCA(n_components=50, svd_solver="full").fit_transform(x))
    np.testing.assert_allclose(embed(x, "tsne", seed=5, perplexity=29.0), reference,
                               atol=1e-6)
    # 31 stimuli: the perplexity is capped at (31 - 1) / 3 = 10; fewer units than 50 components
    small = x[:31, :20]
    reference = TSNE(n_components=3, perplexity=10.0, init="pca", random_state=0).fit_transform(
        PCA(n_components=20, svd_solver="full").fit_transform(small))
    np.testing.assert_allclose(embed(small, "tsne", n_components=3), reference, atol=1e-6)
    with pytest.raises(ValueError, match=r"^method must be 'pca' or 'tsne', got 'PCA'$"):
        embed(x, "PCA")


def test_an_empty_bin_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, curves = binned_tuning(np.ones((4, 2)), [0, 1, 8, 9], n_bins=3)
    assert np.isnan(curves[1]).all() and np.all(curves[[0, 2]] == 1)


def test_binned_tuning_edges_given_and_stimuli_outside_them():
    resp = np.arange(12.0).reshape(6, 2)
    centres, curves = binned_tuning(resp, [-1, 1, 2, 5, 6, 9], n_bins=2, low=0, high=8)
    np.testing.assert_allclose(centres, [2, 6])
    # -1 falls below the first edge and 9 above the last: they join the end bins
    np.testing.assert_allclose(curves, [[2, 3], [8, 9]])


def test_split_half_reliability_against_a_direct_computation():
    pop = tuned_population(np.random.default_rng(1).permutation(360).astype(float), 6, noise=0.5)
    resp, stimuli = pop.resp, pop.stimuli
    order = np.argsort(stimuli)
    edges = np.linspace(stimuli.min(), stimuli.max(), 19)  # both halves share the bins
    curves = []
    for half in (order[0::2], order[1::2]):
        index = np.clip(np.digitize(stimuli[half], edges) - 1, 0, 17)
        curves.append(np.array([resp[half][index == b].mean(axis=0) for b in range(18)]))
    expected = [np.corrcoef(curves[0][:, n], curves[1][:, n])[0, 1] for n in range(6)]
    np.testing.assert_allclose(split_half_reliability(resp, stimuli, n_bins=18), expected,
                               atol=1e-12)


def test_reliability_of_flat_and_faint_units():
    theta = np.arange(360.0)
    faint = 1e-3 * np.cos(np.deg2rad(2 * theta))  # tiny and noise-free: reliable
    resp = np.c_[np.full(360, 4.0), faint]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reliability = split_half_reliability(resp, theta)
    assert reliability[0] == 0.0  # a flat unit has no tuning to reproduce
    assert reliability[1] > 0.99  # the halves sample each bin at alternate degrees
