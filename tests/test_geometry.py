"""``solution.geometry``: seam and category comparisons of RDMs, PCs as harmonics, against loops."""

import numpy as np
import pytest

from v1_orientation.solution import geometry

THETA = np.arange(-90.0, 91.0)


def random_symmetric(n, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 2, (n, n))
    a = (a + a.T) / 2
    np.fill_diagonal(a, 0)
    return a


def test_seam_comparison_equals_a_loop_over_pairs():
    rdm = random_symmetric(THETA.size)
    got = geometry.seam_comparison(rdm, THETA, max_difference=4)
    interior, seam = {}, {}
    for i in range(THETA.size):
        for j in range(i + 1, THETA.size):
            line = THETA[j] - THETA[i]
            d = int(round(min(line, 180 - line)))
            if 1 <= d <= 4:
                (seam if 180 - line < line else interior).setdefault(d, []).append(rdm[i, j])
    excess = [v - np.mean(interior[d]) for d in seam for v in seam[d]]
    for d in range(1, 5):
        assert got["by_difference"][d] == pytest.approx((np.mean(interior[d]), np.mean(seam[d]),
                                                         len(seam[d])))
    assert got["excess"] == pytest.approx(np.mean(excess)) and got["n_pairs"] == len(excess)
    assert got["fraction_above"] == pytest.approx(np.mean(np.array(excess) > 0))
    assert got["ends"] == rdm[0, -1] and got["step"] == 1.0
    assert got["neighbours"] == pytest.approx(np.mean(np.diag(rdm, 1)))
    assert [v[2] for v in got["by_difference"].values()] == [2, 3, 4, 5]  # d=1: (-90,89),(-89,90)


def test_an_rdm_of_the_circular_difference_has_no_seam_excess():
    diff = np.abs((THETA[:, None] - THETA[None, :] + 90) % 180 - 90)
    got = geometry.seam_comparison(diff / 90, THETA)
    assert got["excess"] == pytest.approx(0, abs=1e-12) and got["ends"] == 0
    assert geometry.rdm_between(diff, THETA, 0, 89.6) == 90


def test_category_structure_means_and_the_orthogonal_pairs():
    sign = np.sign(THETA)
    rdm = np.where(sign[:, None] == sign[None, :], 0.1, 0.9)
    np.fill_diagonal(rdm, 0)
    got = geometry.category_structure(rdm, THETA, margin=5)
    assert got["within"] == pytest.approx(0.1) and got["across"] == pytest.approx(0.9)
    assert got["orthogonal"] == pytest.approx(0.9)  # sign(0) = 0 differs from both categories


def test_distinct_values_counts_each_column():
    resp = np.array([[0.0, 1.0, 0.12], [0.0, 2.0, 0.14], [1.0, 2.0, 0.12]])
    assert geometry.distinct_values(resp).tolist() == [2, 2, 2]
    assert geometry.distinct_values(resp, decimals=1).tolist() == [2, 2, 1]


def test_harmonic_r2_is_one_for_harmonics_and_low_for_other_shapes():
    phase = np.deg2rad(2 * THETA)
    scores = np.stack([3 * np.cos(phase) + 1, np.sin(phase), np.cos(2 * phase)], axis=1)
    # cos 4 theta is orthogonal to the first harmonic up to the duplicated end (-90 and +90)
    np.testing.assert_allclose(geometry.harmonic_r2(scores, THETA), [1, 1, 0], atol=1e-3)
    noisy = np.cos(phase) + np.random.default_rng(0).normal(0, 1, THETA.size)
    expected = np.corrcoef(noisy, np.cos(phase))[0, 1] ** 2  # sin adds ~0 for this draw
    assert geometry.harmonic_r2(noisy, THETA)[0] == pytest.approx(expected, abs=0.03)


def test_seam_gap_of_a_closed_and_an_open_ring():
    phase = np.deg2rad(2 * THETA[:-1])  # -90..89: the ring closes between 89 and -90
    ring = np.stack([np.cos(phase), np.sin(phase)], axis=1)
    assert geometry.seam_gap(ring, THETA[:-1]) == pytest.approx(1.0, rel=1e-6)
    line = np.stack([THETA, np.zeros_like(THETA)], axis=1)
    assert geometry.seam_gap(line[::-1], THETA[::-1]) == pytest.approx(180.0)
