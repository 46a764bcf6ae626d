"""Learned steppers.

* :class:`MLP` — a plain feed-forward network (ReLU hidden layers, linear output).
* :class:`ResNetStepper` — HiTS eqs. (7)–(8): x_{n+1} = x_n + F̂(x_n), one network per step size.

Neural steppers compute in their parameters' dtype (float32 by default) and return the input's
dtype, so they mix with float64 classical steppers inside a hybrid hierarchy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .steppers import Stepper

__all__ = ["MLP", "ResNetStepper", "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


class MLP(nn.Module):
    """Feed-forward network ``sizes[0] -> ... -> sizes[-1]``: Linear + activation, last layer linear.

    ``MLP([2, 128, 128, 2])`` has two hidden layers of width 128. Input ``[..., sizes[0]]``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu"):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be >= 2 positive ints (input, ..., output), got {sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)
        self.sizes = sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResNetStepper(Stepper):
    r"""A neural time-stepper with a skip connection (HiTS eqs. 7–8).

    .. math:: \hat x_{t+\Delta t} = x_t + \hat F(x_t;\,\theta),

    where :math:`\hat F` is an :class:`MLP` with ReLU hidden layers: the network learns the
    *increment* of the flow map over one step ``dt``, not the map itself.

    Parameters
    ----------
    state_shape : the shape ``S`` of one state (an int for a vector state); input is ``[B, *S]``.
    dt : the step size this network was (or will be) trained for.
    hidden : widths of the hidden layers; HiTS Table 2 uses three layers (e.g. 128, 128, 128).
    """

    def __init__(self, state_shape: int | Sequence[int], dt: float, hidden: Sequence[int] = (128, 128, 128),
                 activation: str = "relu"):
        super().__init__()
        shape = (state_shape,) if isinstance(state_shape, int) else tuple(state_shape)
        if not shape or any(not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"state_shape must be a positive int or tuple of them, got {state_shape!r}")
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
        self.state_shape = shape
        self.dt = float(dt)
        dim = math.prod(shape)
        self.increment = MLP([dim, *hidden, dim], activation)
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.state_shape:
            raise ValueError(
                f"ResNetStepper expects states of shape [batch, {', '.join(map(str, self.state_shape))}], "
                f"got {tuple(x.shape)}"
            )
        w = self.increment.net[0].weight
        dx = self.increment(x.reshape(x.shape[0], -1).to(w.dtype)).reshape(x.shape)
        return x + dx.to(x.dtype)

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}, state_shape={self.state_shape}, hidden={list(self.hidden)}"
