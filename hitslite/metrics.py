"""Error measures shared by chapters, benchmarks and tests.

All take forecasts and references as :class:`~hitslite.data.Trajectory` or tensors
``[B, T, *S]`` of equal shape.
"""

from __future__ import annotations

import torch

from .data import Trajectory

__all__ = ["mse_per_step", "integrated_mse"]


def _pair(pred, truth) -> tuple[torch.Tensor, torch.Tensor]:
    p = pred.x if isinstance(pred, Trajectory) else pred
    q = truth.x if isinstance(truth, Trajectory) else truth
    if not isinstance(p, torch.Tensor) or not isinstance(q, torch.Tensor):
        raise TypeError("pred and truth must be Trajectory objects or tensors [batch, time, *state]")
    if p.shape != q.shape:
        raise ValueError(f"pred and truth must have the same shape [batch, time, *state], got "
                         f"{tuple(p.shape)} and {tuple(q.shape)}")
    if p.ndim < 3:
        raise ValueError(f"expected [batch, time, *state] (>= 3-D), got {tuple(p.shape)}")
    return p.detach().to(torch.float64).cpu(), q.detach().to(torch.float64).cpu()


def mse_per_step(pred, truth) -> torch.Tensor:
    """Mean squared error at each time step, averaged over trajectories and state: ``[T]``.

    The quantity HiTS Fig. 2 and Fig. 5 plot (on a log10 axis).
    """
    p, q = _pair(pred, truth)
    return ((p - q) ** 2).mean(dim=[d for d in range(p.ndim) if d != 1])


def integrated_mse(pred, truth) -> float:
    """Mean over trajectories, time steps and state of the squared error (HiTS Table 6's measure)."""
    p, q = _pair(pred, truth)
    return float(((p - q) ** 2).mean())
