"""``solution.embeddings``: explained variance, PCA and t-SNE, against numpy and scikit-learn."""


import numpy as np
import pytest
from conftest import tuned_population
from sklearn.decomposition import PCA

from v1_orientation.solution.embeddings import (
    embed,
    embed_all,
    explained_variance,
    explained_variance_table,
)


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


def test_explained_variance_table():
    ratios = {"V1": np.array([0.14, 0.13, 0.1]), "'fc'": np.array([0.99, 0.004])}
    table = explained_variance_table(ratios)
    assert table.values()["columns"] == ["representation", "PC1", "PC2", "PC1 + PC2"]
    assert table.title == "" and set(table.formats.values()) == {".2f"}
    rows = table.values()["data"]
    assert rows[0] == pytest.approx(["V1", 0.14, 0.13, 0.27])
    assert rows[1][0] == "'fc'"
