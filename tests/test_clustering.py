"""Spectral clustering: the cases it exists for (non-convex groups k-means cannot separate), blobs,
the eigengap, determinism and bad input."""

import numpy as np
import pytest
import torch

from hitslite.clustering import eigengap_count, kmeans, spectral_clustering

RNG = np.random.default_rng(0)


def rings(n=300, seed=0):
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, 2 * n)
    radius = np.r_[np.full(n, 1.0), np.full(n, 3.0)] + 0.08 * rng.standard_normal(2 * n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)], np.r_[np.zeros(n, int), np.ones(n, int)]


def blobs(centers, n=150, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    pts = np.concatenate([c + scale * rng.standard_normal((n, len(c))) for c in centers])
    return pts, np.repeat(np.arange(len(centers)), n)


def agreement(labels, truth):
    """Fraction of points whose cluster's majority true label is their own (1 = the same partition)."""
    right = 0
    for c in np.unique(labels):
        right += np.bincount(truth[labels == c]).max()
    return right / len(truth)


def test_spectral_separates_concentric_rings_where_kmeans_cannot():
    x, truth = rings()
    out = spectral_clustering(x, 2, n_neighbors=10)
    assert agreement(out.labels, truth) == 1.0
    km_labels, _, _ = kmeans(x, 2)
    assert agreement(km_labels, truth) < 0.8  # a straight cut through both rings
    # two connected components of the graph: two eigenvalues at 0, then a gap
    assert out.eigenvalues[1] < 1e-6 < out.eigenvalues[2]
    assert eigengap_count(out.eigenvalues) == 2


def test_blobs_centers_sizes_and_eigengap():
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    x, truth = blobs(centers, n=100)
    out = spectral_clustering(torch.from_numpy(x), 4)
    assert agreement(out.labels, truth) == 1.0
    assert sorted(out.sizes) == [100] * 4
    found = out.centers[np.argsort(out.centers @ np.array([1.0, 10.0, 100.0]))]
    expect = centers[np.argsort(centers @ np.array([1.0, 10.0, 100.0]))]
    assert np.abs(found - expect).max() < 0.15  # the mean of 100 points of std 0.3: error ~ 0.03
    assert eigengap_count(out.eigenvalues) == 4
    assert np.all(np.diff(out.eigenvalues) >= -1e-12)


def test_labels_numbered_by_size_and_deterministic():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.2, (50, 2)), rng.normal(4, 0.2, (120, 2)),
                        rng.normal(-4, 0.2, (80, 2))])
    a = spectral_clustering(x, 3, seed=3)
    b = spectral_clustering(x, 3, seed=3)
    assert list(a.sizes) == [120, 80, 50]
    assert np.array_equal(a.labels, b.labels)
    assert np.all(a.labels[50:170] == 0)


def test_kmeans_reaches_a_fixed_point():
    x, _ = blobs(np.array([[0.0, 0.0], [3.0, 3.0]]), n=80)
    labels, centers, inertia = kmeans(x, 2, seed=5)
    # Lloyd's fixed point: every point is nearest its own centre, every centre the mean of its points
    assert np.array_equal(((x[:, None] - centers[None]) ** 2).sum(-1).argmin(1), labels)
    for c in range(2):
        assert np.allclose(centers[c], x[labels == c].mean(0))
    assert inertia == pytest.approx(((x - centers[labels]) ** 2).sum())


@pytest.mark.parametrize("call, match", [
    (lambda: spectral_clustering(np.zeros(5), 2), "points must be an array"),
    (lambda: spectral_clustering(np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), 2), "finite"),
    (lambda: spectral_clustering(RNG.uniform(size=(10, 2)), 10), "n_clusters must be less"),
    (lambda: spectral_clustering(RNG.uniform(size=(10, 2)), 0), "n_clusters"),
    (lambda: spectral_clustering(RNG.uniform(size=(10, 2)), 2, n_neighbors=10), "n_neighbors"),
    (lambda: kmeans(RNG.uniform(size=(3, 2)), 4), "n_clusters must be at most"),
    (lambda: eigengap_count([0.0, 0.5]), "at least 3"),
    (lambda: eigengap_count([0.0, 0.5, 0.2, 0.9]), "ascending"),
    (lambda: eigengap_count([0.0, 0.1, 0.5], max_clusters=1), "max_clusters"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()

