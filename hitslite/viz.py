"""Figures the chapters share. Every function draws on ``ax`` (created if None) and returns it."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import Trajectory

__all__ = ["plot_step_errors", "plot_phase_portrait", "plot_schedule", "step_colors", "plot_spacetime",
           "plot_spacetime_rows", "plot_cost_curves"]


def step_colors(n: int):
    """``n`` colours from fine (dark blue) to coarse (yellow), the HiTS figures' convention."""
    return plt.cm.viridis(np.linspace(0.0, 0.92, max(n, 1)))


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def plot_step_errors(t, curves: Mapping[str, torch.Tensor], *, highlight: str | None = None, ax=None,
                     title: str | None = None):
    """log10 of the per-step MSE against time for each entry of ``curves`` (HiTS Figs. 2 and 5).

    ``curves`` maps a label to an error ``[T]`` on the time grid ``t [T]``; the ``highlight``
    curve (the multiscale scheme) is drawn thick and black on top.
    """
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    t = _np(t)
    colors = step_colors(len(curves))
    for (label, err), c in zip(curves.items(), colors):
        if label == highlight:
            continue
        ax.plot(t, np.log10(np.maximum(_np(err), 1e-300)), color=c, lw=1.2, label=label)
    if highlight is not None:
        ax.plot(t, np.log10(np.maximum(_np(curves[highlight]), 1e-300)), color="k", lw=2.4, label=highlight)
    ax.set_xlabel("time")
    ax.set_ylabel("log10 MSE")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


def plot_phase_portrait(traj: Trajectory, *, dims=(0, 1), n: int = 20, ax=None, style: str = "-", label=None,
                        color=None):
    """The first ``n`` trajectories of ``traj`` in the plane of state components ``dims``."""
    ax = ax or plt.subplots(figsize=(4, 4))[1]
    x = _np(traj.x[:n])
    for i in range(x.shape[0]):
        ax.plot(x[i, :, dims[0]], x[i, :, dims[1]], style, lw=0.8, color=color,
                label=label if i == 0 else None)
    ax.set_xlabel(f"x{dims[0]}")
    ax.set_ylabel(f"x{dims[1]}")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_schedule(hierarchy, n_steps: int, *, dt: float | None = None, ax=None):
    """HiTS Fig. 3 as a diagram: which output indices each level computes, one row per level.

    A dot marks a state a level computes; the count of sequential calls per level is shown.
    """
    stages = hierarchy.schedule(n_steps, dt)
    ax = ax or plt.subplots(figsize=(8, 0.5 + 0.45 * len(hierarchy.levels)))[1]
    colors = step_colors(len(hierarchy.levels))[::-1]
    for st in stages:
        idx = [j + m * st.stride for j in st.sources for m in range(1, st.n_substeps + 1)]
        idx = [j for j in idx if j <= n_steps]
        ax.scatter(idx, [st.level] * len(idx), s=12, color=colors[st.level])
        ax.annotate(f"{st.calls} call(s) x batch {len(st.sources)}", (n_steps * 1.05, st.level),
                    fontsize=7, va="center")
    ax.scatter([0], [-0.6], marker="*", s=60, color="k")
    ax.set_yticks(range(len(hierarchy.levels)), [f"dt={d:g}" for d in hierarchy.dts])
    ax.invert_yaxis()
    ax.set_xlabel("output step index")
    ax.set_xlim(-1, n_steps * 1.4)
    return ax


def plot_spacetime(ax, traj: Trajectory, length: float, title: str, cmap: str = "RdBu_r", index: int = 0):
    """The field of trajectory ``index`` of ``traj`` (``x [B, T, n]``) as a space-time image: time along
    the horizontal axis, the periodic domain ``[0, length]`` up (used in Ch. 7)."""
    x = _np(traj.x[index])
    ax.imshow(x.T, origin="lower", aspect="auto", cmap=cmap,
              extent=[float(traj.t[0]), float(traj.t[-1]), 0, length])
    ax.set_xlabel("t")
    ax.set_ylabel("x")
    ax.set_title(title)
    return ax


def plot_spacetime_rows(panels, titles, extent, nrows: int = 1):
    """Rows of (truth, prediction, ``|error|``) space-time images, truth and prediction on one colour scale
    (used in Ch. 9). ``panels`` holds ``(truth [T, n], prediction [T, n])`` per row, ``titles`` three
    titles per row, ``extent`` the images' ``[t0, t1, x0, x1]``. Returns the figure."""
    fig, axes = plt.subplots(nrows, 3, figsize=(12, 2.8 * nrows), squeeze=False)
    for row, (truth, prediction) in enumerate(panels):
        truth, prediction = torch.as_tensor(truth), torch.as_tensor(prediction)
        err = (prediction - truth).abs()
        lim = float(truth.abs().max())
        for ax, img, cmap, kw in zip(axes[row], (truth, prediction, err), ("RdBu_r", "RdBu_r", "magma"),
                                     ({"vmin": -lim, "vmax": lim}, {"vmin": -lim, "vmax": lim}, {})):
            im = ax.imshow(_np(img).T, aspect="auto", origin="lower", cmap=cmap, extent=extent, **kw)
            fig.colorbar(im, ax=ax, fraction=0.04)
        for ax, title in zip(axes[row], titles[row]):
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("time")
        axes[row][0].set_ylabel("node")
    fig.tight_layout()
    return fig


#: marker and colour of each method family in :func:`plot_cost_curves`
_FAMILY_STYLE = {"neural hierarchy": ("*", "C3"), "hybrid": ("s", "C2"), "RK4": ("o", "C0"),
                 "DOP853": ("^", "C1")}


def plot_cost_curves(rows, *, ax=None, title: str | None = None):
    """Test MSE against wall time, one line per method family (``hitslite.bench perf``'s ``error_vs_time``
    rows of one system: dicts with ``family``, ``seconds`` and ``mse``), both axes logarithmic. A family's
    points are joined in order of time; a diverged or failed run (non-finite) is left out. Lower left
    is better: at a given error, the leftmost family wins."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.4))
    families = list(dict.fromkeys(r["family"] for r in rows))
    if not families:
        raise ValueError("rows must hold at least one method (dicts with family, seconds and mse)")
    for family in families:
        pts = sorted((r["seconds"], r["mse"]) for r in rows if r["family"] == family
                     and r["seconds"] is not None and r["mse"] is not None
                     and np.isfinite(r["seconds"]) and np.isfinite(r["mse"]) and r["mse"] > 0)
        if not pts:
            continue
        marker, color = _FAMILY_STYLE.get(family, ("x", "k"))
        ax.loglog(*zip(*pts), marker=marker, color=color, label=family, ms=9 if marker == "*" else 5,
                  lw=1)
    ax.set_xlabel("wall time of the forecast (s)")
    ax.set_ylabel("test MSE")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax
