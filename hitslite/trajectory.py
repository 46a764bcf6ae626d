"""Trajectories: uniformly sampled states and the linear interpolation that fills a time grid.

* :class:`Trajectory` — ``t [T]``, ``x [B, T, *S]``, ``dt`` and where it came from; every forecast,
  data set and rollout of the package returns one.
* :func:`interpolate_gaps` — the states at some integer indices of a uniform grid, linearly
  interpolated onto all of it (HiTS Algorithm 1, lines 11–12: where no level of a hierarchy landed).

This module depends on nothing else of the package but :mod:`hitslite.io` (atomic writes), so every
other module may import it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_write

__all__ = ["Trajectory", "interpolate_gaps"]


@dataclass
class Trajectory:
    """A batch of uniformly sampled trajectories.

    Attributes
    ----------
    t : ``[T]`` float64 sample times, ``t[k] = t[0] + k * dt``.
    x : ``[B, T, *S]`` states (batch, time, state).
    dt : sampling step.
    meta : provenance (recipe, solver, tolerances ...).
    """

    t: torch.Tensor
    x: torch.Tensor
    dt: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.x, torch.Tensor):
            self.x = torch.as_tensor(self.x)
        if not isinstance(self.t, torch.Tensor):
            self.t = torch.as_tensor(self.t, dtype=torch.float64)
        if self.x.ndim < 3:
            raise ValueError(
                f"Trajectory.x must have shape [batch, time, *state] (>= 3-D), got {tuple(self.x.shape)}"
            )
        if self.t.ndim != 1 or self.t.shape[0] != self.x.shape[1]:
            raise ValueError(
                f"Trajectory.t must have shape [time] = [{self.x.shape[1]}], got {tuple(self.t.shape)}"
            )
        if not (isinstance(self.dt, (int, float)) and self.dt > 0):
            raise ValueError(f"Trajectory.dt must be a positive number, got {self.dt!r}")
        self.dt = float(self.dt)

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    @property
    def n_steps(self) -> int:
        """Number of steps (``T - 1``)."""
        return self.x.shape[1] - 1

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[2:])

    def to(self, *args, **kwargs) -> Trajectory:
        """A copy with ``x`` moved/cast like ``Tensor.to`` (``t`` stays float64 on the CPU)."""
        return Trajectory(self.t, self.x.to(*args, **kwargs), self.dt, dict(self.meta))

    def subsample(self, stride: int) -> Trajectory:
        """Every ``stride``-th sample: a trajectory with step ``stride * dt``."""
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be a positive int, got {stride!r}")
        return Trajectory(self.t[::stride], self.x[:, ::stride], self.dt * stride, dict(self.meta))

    def __getitem__(self, index) -> Trajectory:
        """Select trajectories (batch axis): ``traj[:10]``, ``traj[[0, 3]]``."""
        x = self.x[index]
        if x.ndim == self.x.ndim - 1:
            x = x[None]
        return Trajectory(self.t, x, self.dt, dict(self.meta))

    def __repr__(self) -> str:
        return (
            f"Trajectory(batch={self.batch_size}, steps={self.n_steps}, state={self.state_shape}, "
            f"dt={self.dt:g}, dtype={self.x.dtype}, device={self.x.device})"
        )

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (``.npz``) atomically."""
        arrays = {
            "t": self.t.cpu().numpy(),
            "x": self.x.detach().cpu().numpy(),
            "dt": np.array(self.dt),
            "meta": np.array(json.dumps(self.meta, sort_keys=True, default=str)),
        }
        atomic_write(Path(path), lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                t=torch.from_numpy(z["t"]),
                x=torch.from_numpy(z["x"]),
                dt=float(z["dt"]),
                meta=json.loads(str(z["meta"])),
            )


def interpolate_gaps(known_idx: torch.Tensor, known_x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Fill the uniform grid ``0 .. n_steps`` from states known at some of its indices.

    ``known_x [B, M, *S]`` are the states at the sorted integer indices ``known_idx [M]``, which
    must include ``0`` and reach ``n_steps`` or beyond. Returns ``[B, n_steps + 1, *S]``: at a known
    index the known state itself (bit for bit), between two known indices ``a < j < b`` the linear
    interpolation ``x_a + (j - a) / (b - a) * (x_b - x_a)``. This is how
    :meth:`~hitslite.multiscale.Hierarchy.forecast` fills the output steps no level landed on, and
    how :meth:`~hitslite.neural.Latent.forecast` interpolates decoded states (``interpolate="state"``).
    Weights follow ``known_x``'s dtype and device; ``known_idx`` stays on the CPU.
    """
    grid = torch.arange(n_steps + 1)
    lo = torch.searchsorted(known_idx, grid, right=True) - 1
    hi = torch.clamp(lo + 1, max=known_idx.numel() - 1)
    span = (known_idx[hi] - known_idx[lo]).clamp(min=1)
    w = ((grid - known_idx[lo]) / span).to(known_x.dtype).to(known_x.device)
    w = w.reshape(1, -1, *([1] * (known_x.ndim - 2)))
    lo, hi = lo.to(known_x.device), hi.to(known_x.device)
    x_lo, x_hi = known_x[:, lo], known_x[:, hi]
    # at known indices (w = 0) take the state itself: (1 - 0) * x + 0 * inf would be NaN
    return torch.where(w == 0, x_lo, (1 - w) * x_lo + w * x_hi)
