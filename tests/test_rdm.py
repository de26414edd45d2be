"""``course.rdm``: RDM and the RDM comparison, against the template, scipy and rsatoolbox."""

import re

import numpy as np
import pytest
import rsatoolbox
import template_oracle as oracle
import torch
from conftest import random_rdm, with_ties
from rsatoolbox.rdm import RDMs, compare
from scipy import stats
from scipy.stats import zscore

from v1_orientation.course.rdm import RDM, compare_rdms, upper_triangle


def test_compare_rdms_matches_scipy_on_upper_triangles():
    rng = np.random.default_rng(0)
    a, b = random_rdm(rng, 12), random_rdm(rng, 12)
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
    a, b = np.round(random_rdm(rng, 12), 1), np.round(random_rdm(rng, 12), 1)
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


def test_rdm_is_one_minus_correlation():
    resp = np.random.default_rng(0).normal(size=(30, 50))
    np.testing.assert_allclose(RDM(resp), 1 - np.corrcoef(resp), atol=1e-12)
    zresp = zscore(resp, axis=1)
    np.testing.assert_allclose(RDM(resp), 1 - zresp @ zresp.T / 50, atol=1e-12)


def test_rdm_equals_template_and_accepts_tensors():
    resp = torch.randn(20, 15)
    ours = RDM(resp)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, oracle.RDM(resp.numpy()), atol=1e-5)
    np.testing.assert_array_equal(ours, RDM(resp.numpy()))
    assert np.all(np.diag(ours) == 0) and np.allclose(ours, ours.T)


def test_rdm_names_a_constant_row():
    resp = np.random.default_rng(1).normal(size=(6, 4))
    resp[3] = 2.5
    message = ("the population response to stimulus row(s) [3] is constant across units, so its "
               "correlation distance is undefined; drop those rows (or units that never "
               "respond) before computing the RDM")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RDM(resp)
    resp[3] = 0.0
    with pytest.raises(ValueError, match=r"\[3\]"):
        RDM(resp)
    # at most ten rows are named
    with pytest.raises(ValueError, match=r"row\(s\) \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] is"):
        RDM(np.ones((12, 4)))


def test_rdm_constant_means_constant_relative_to_the_row_scale():
    rng = np.random.default_rng(2)
    resp = rng.normal(size=(4, 30))
    resp[0] = 1e-9 * rng.normal(size=30)  # a tiny but real spread: a valid row
    resp[1] = 1e4 * rng.normal(size=30)  # large values in another row change nothing
    np.testing.assert_allclose(RDM(resp), 1 - np.corrcoef(resp), atol=1e-9)
    # a large constant row, whose spread from rounding is far above 1e-12, is still constant
    resp[2] = 1e6 / 3 + np.zeros(30)
    resp[2, ::2] += 1e-11
    with pytest.raises(ValueError, match=r"row\(s\) \[2\] is constant"):
        RDM(resp)


def test_rdm_rejects_bad_shapes_and_values():
    with pytest.raises(ValueError, match=r"^resp must be 2-D \(n_stimuli x n_units\), got shape "
                                         r"\(5,\)$"):
        RDM(np.zeros(5))
    with pytest.raises(ValueError, match=r"^resp holds non-finite values \(NaN or inf\)$"):
        RDM(np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]]))


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
