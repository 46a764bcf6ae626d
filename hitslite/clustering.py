"""Spectral clustering of points in a few dimensions: the metastable states of a latent trajectory.

LED (Vlachas et al., Fig. 4 and SI Figs. 22-23) projects the latent states of a long forecast on their
first principal components, finds high-density regions where the dynamics linger (metastable states)
and decodes each region's centre into a configuration of the full system. This module does the
clustering step, with NumPy and SciPy only:

1. a symmetric ``k``-nearest-neighbour graph with self-tuning Gaussian weights
   :math:`W_{ij} = \\exp(-d_{ij}^2 / (\\sigma_i \\sigma_j))`, :math:`\\sigma_i` the distance of point ``i``
   to its ``k``-th neighbour (Zelnik-Manor & Perona 2004), so that dense and sparse regions are
   treated alike;
2. the normalised Laplacian :math:`L = I - D^{-1/2} W D^{-1/2}`; the eigenvectors of its
   ``n_clusters`` smallest eigenvalues, rows scaled to unit length (Ng, Jordan & Weiss 2001);
3. k-means (k-means++ starts, best of ``n_init``) on those rows.

The eigenvalues are returned too: ``n`` well-separated groups give ``n`` eigenvalues near 0 and a gap
after them, which :func:`eigengap_count` reads as a suggested number of clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh
from scipy.spatial import cKDTree

from . import validate

#: eigenvalues below this are zero (connected components of the graph), up to round-off
ZERO_EIGENVALUE = 1e-10

__all__ = ["Clusters", "kmeans", "spectral_clustering", "eigengap_count"]


@dataclass(frozen=True)
class Clusters:
    """What :func:`spectral_clustering` returns.

    ``labels [N]`` (ints ``0 .. n_clusters-1``, numbered by decreasing size), ``centers [n_clusters, D]``
    (the mean of each cluster's points, in the input coordinates), ``sizes [n_clusters]`` and
    ``eigenvalues`` (the smallest eigenvalues of the normalised Laplacian, ascending; at least
    ``n_clusters + 1`` of them).
    """

    labels: np.ndarray
    centers: np.ndarray
    eigenvalues: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Points per cluster ``[n_clusters]`` (decreasing)."""
        return np.bincount(self.labels, minlength=len(self.centers))


def _points(points) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"points must be an array [N, D] with N >= 2 and D >= 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("points must be finite (found NaN or inf)")
    return x


def kmeans(points, n_clusters: int, *, n_init: int = 10, max_iter: int = 300, seed: int = 0):
    """Lloyd's k-means with k-means++ starts; the best (least within-cluster sum of squares) of ``n_init``.

    Returns ``(labels [N], centers [n_clusters, D], inertia)``. Deterministic for a given ``seed``.
    """
    x = _points(points)
    n_clusters = validate.positive_int("n_clusters", n_clusters)
    if n_clusters > x.shape[0]:
        raise ValueError(f"n_clusters must be at most the number of points {x.shape[0]}, got {n_clusters}")
    n_init = validate.positive_int("n_init", n_init)
    max_iter = validate.positive_int("max_iter", max_iter)
    rng = np.random.default_rng(validate.nonnegative_int("seed", seed))
    best = None
    for _ in range(n_init):
        centers = [x[rng.integers(len(x))]]
        for _ in range(1, n_clusters):  # k-means++: the next start far from those chosen
            d2 = np.min(((x[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
            centers.append(x[rng.choice(len(x), p=p)])
        centers = np.asarray(centers)
        labels = None
        for _ in range(max_iter):
            d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
            new = d2.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for c in range(n_clusters):
                members = x[labels == c]
                # an emptied cluster restarts at the point farthest from its centre
                centers[c] = members.mean(axis=0) if len(members) else x[d2.min(axis=1).argmax()]
        inertia = float(((x - centers[labels]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (labels.copy(), centers.copy(), inertia)
    return best


def spectral_clustering(points, n_clusters: int, *, n_neighbors: int = 10, n_eigenvalues: int | None = None,
                        seed: int = 0) -> Clusters:
    """Cluster ``points [N, D]`` (NumPy or torch) into ``n_clusters`` groups; see the module.

    ``n_neighbors``: the graph's ``k`` (and the neighbour that sets each point's scale);
    ``n_eigenvalues``: how many of the Laplacian's smallest eigenvalues to return (default
    ``max(n_clusters + 1, 10)``, capped at ``N``). Dense eigendecomposition: meant for ``N`` up to a few
    thousand (subsample a longer trajectory first).
    """
    x = _points(points)
    n = x.shape[0]
    n_clusters = validate.positive_int("n_clusters", n_clusters)
    if n_clusters >= n:
        raise ValueError(f"n_clusters must be less than the number of points {n}, got {n_clusters}")
    n_neighbors = validate.positive_int("n_neighbors", n_neighbors)
    if n_neighbors >= n:
        raise ValueError(f"n_neighbors must be less than the number of points {n}, got {n_neighbors}")
    n_eig = max(n_clusters + 1, 10) if n_eigenvalues is None else validate.positive_int("n_eigenvalues",
                                                                                          n_eigenvalues)
    n_eig = min(max(n_eig, n_clusters + 1), n)
    dist, idx = cKDTree(x).query(x, k=n_neighbors + 1)  # column 0: the point itself
    sigma = np.maximum(dist[:, -1], np.finfo(float).tiny)
    w = np.zeros((n, n))
    rows = np.repeat(np.arange(n), n_neighbors)
    cols = idx[:, 1:].ravel()
    w[rows, cols] = np.exp(-dist[:, 1:].ravel() ** 2 / (sigma[rows] * sigma[cols]))
    w = np.maximum(w, w.T)  # symmetric: i ~ j if either is among the other's neighbours
    degree = w.sum(axis=1)
    inv_sqrt = 1 / np.sqrt(degree)
    lap = np.eye(n) - inv_sqrt[:, None] * w * inv_sqrt[None, :]
    values, vectors = eigh(lap, subset_by_index=[0, n_eig - 1])
    embed = vectors[:, :n_clusters]
    embed = embed / np.maximum(np.linalg.norm(embed, axis=1, keepdims=True), np.finfo(float).tiny)
    labels, _, _ = kmeans(embed, n_clusters, seed=seed)
    order = np.argsort(-np.bincount(labels, minlength=n_clusters), kind="stable")  # largest first
    relabel = np.empty(n_clusters, dtype=int)
    relabel[order] = np.arange(n_clusters)
    labels = relabel[labels]
    centers = np.stack([x[labels == c].mean(axis=0) for c in range(n_clusters)])
    return Clusters(labels=labels, centers=centers, eigenvalues=np.clip(values, 0.0, None))


def eigengap_count(eigenvalues, max_clusters: int | None = None) -> int:
    r"""The number of clusters ``k >= 2`` after which the Laplacian's smallest ``eigenvalues`` (ascending)
    jump most, relative to the size of the next one: the ``k`` maximising
    :math:`(\lambda_{k+1} - \lambda_k) / \lambda_{k+1}` (1-based), searched up to ``max_clusters``.

    Relative, because the eigenvalues of a noisy graph grow steadily: ``k`` groups separated by much less
    than their own spread give ``k`` eigenvalues far below the rest (ratio near 1), while an absolute gap
    would pick wherever the steady growth happens to step most.
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    if ev.ndim != 1 or len(ev) < 3 or not np.isfinite(ev).all() or np.any(np.diff(ev) < -1e-9):
        raise ValueError(f"eigenvalues must be a finite ascending 1-D array of at least 3, got {ev!r}")
    top = len(ev) - 1 if max_clusters is None else min(validate.positive_int("max_clusters", max_clusters),
                                                        len(ev) - 1)
    if top < 2:
        raise ValueError(f"max_clusters must be at least 2, got {max_clusters}")
    ev = np.clip(ev, 0.0, None)
    nxt = ev[2 : top + 1]  # lambda_{k+1} for k = 2 .. top
    rel = (nxt - ev[1:top]) / np.maximum(nxt, ZERO_EIGENVALUE)  # round-off zeros make no gap
    return int(np.argmax(rel)) + 2
