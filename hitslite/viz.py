"""Figures the chapters share. Every function draws on ``ax`` (created if None) and returns it."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import Trajectory

__all__ = ["plot_step_errors", "plot_phase_portrait", "plot_schedule", "step_colors"]


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
