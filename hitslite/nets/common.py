"""What the coordinate networks share: state-shape checks, the ``encode``/``decode`` base class, the
residual MLP of LED, box and random-draw helpers."""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import validate
from ..neural import ACTIVATIONS
from ..validate import int_at_least as _count


def state_shape_of(state_shape, name: str = "state_shape") -> tuple[int, ...]:
    scalar = isinstance(state_shape, int) and not isinstance(state_shape, bool)
    shape = (state_shape,) if scalar else state_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = ()
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"{name} must be a positive int or a tuple of them, got {state_shape!r}")
    return shape


def check_state(x, shape: tuple[int, ...], who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"x must have shape [..., {', '.join(map(str, shape))}] for this {who}, "
                         f"got {tuple(x.shape)}")


def check_training_states(x, shape: tuple[int, ...], who: str) -> torch.Tensor:
    """Training states ``x [..., *S]`` for a fit: the right shape, at least one state, all finite
    (one NaN in a min, max, mean or SVD would poison every later encode)."""
    check_state(x, shape, who)
    validate.nonempty_batch("x", x.reshape(-1, *shape))
    validate.finite_tensor("x", x)
    return x


class Coordinates(nn.Module):
    """Shared shape handling: subclasses map flat states ``[N, n]`` to ``[N, z]`` and back."""

    state_shape: tuple[int, ...]
    latent_dim: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Restriction (L-HiTS eq. 7): ``x [..., *S] -> z [..., latent_dim]`` (floating point)."""
        check_state(x, self.state_shape, type(self).__name__)
        validate.floating_tensor("x", x)
        lead = x.shape[: x.ndim - len(self.state_shape)]
        flat = x.reshape(-1, math.prod(self.state_shape))
        return self._encode_flat(flat).reshape(*lead, self.latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Lifting (L-HiTS eq. 8): ``z [..., latent_dim] -> x [..., *S]``."""
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape [..., {self.latent_dim}], got {tuple(z.shape)}")
        validate.floating_tensor("z", z)
        lead = z.shape[:-1]
        return self._decode_flat(z.reshape(-1, self.latent_dim)).reshape(*lead, *self.state_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction (L-HiTS eq. 9): ``decode(encode(x))``, same shape as ``x``."""
        return self.decode(self.encode(x))


def check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return activation


def box(low, high, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The box ``[low, high]^dim`` as float64 tensors ``[dim]`` (scalars are broadcast)."""
    out = []
    for name, value in (("low", low), ("high", high)):
        try:
            t = torch.as_tensor(value, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a number or a sequence of {dim} numbers, "
                             f"got {value!r}") from None
        if t.numel() == 1:
            t = t.expand(dim).clone()
        if t.numel() != dim or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be a finite number or a sequence of {dim} of them, got {value!r}")
        out.append(t)
    if not bool((out[1] > out[0]).all()):
        raise ValueError(f"high must exceed low in every dimension, got low={low!r}, high={high!r}")
    return out[0], out[1]


def randn_from(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal draws with ``like``'s dtype and device, from ``generator`` if given
    (drawn on the generator's device, then moved, so a CPU generator also drives CUDA tensors)."""
    if generator is None:
        return torch.randn(shape, dtype=like.dtype, device=like.device)
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=generator.device).to(like.device)


def rand_from(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform draws on [0, 1); see :func:`randn_from`."""
    if generator is None:
        return torch.rand(shape, dtype=like.dtype, device=like.device)
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=generator.device).to(like.device)


class ResidualMLP(nn.Module):
    r"""Residual MLP (LED SI 6.1–6.3: "layers of ``width`` hidden units, residual connections, tanh").

    .. math::
        h_0 = \sigma(W_0 x + b_0), \qquad
        h_k = h_{k-1} + \sigma(W_k h_{k-1} + b_k)\quad (k = 1, \dots, \text{layers}), \qquad
        y = W_{\text{out}}\, h_{\text{layers}} + b_{\text{out}},

    with :math:`\sigma` the activation: an input layer ``in_dim -> width``, ``layers`` residual
    blocks of ``width`` units and a linear output layer ``width -> out_dim``. (The LED code adds
    the skip inside the activation, :math:`\sigma(W h + b + h)`; the form above keeps an exact
    identity path through every block.) ``layers=0`` is a one-hidden-layer MLP.

    Input ``x [..., in_dim]``, output ``[..., out_dim]``; computes in the parameters' dtype, so cast
    the input (the wrappers below do).
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 100, layers: int = 5,
                 activation: str = "tanh"):
        super().__init__()
        self.in_dim = _count("in_dim", in_dim, 1)
        self.out_dim = _count("out_dim", out_dim, 1)
        self.width = _count("width", width, 1)
        self.layers = _count("layers", layers, 0)
        self.activation = check_activation(activation)
        self.input = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.output = nn.Linear(width, out_dim)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1:] != (self.in_dim,):
            raise ValueError(f"x must have shape [..., {self.in_dim}], got {tuple(x.shape)}")
        h = self.act(self.input(x))
        for block in self.blocks:
            h = h + self.act(block(h))
        return self.output(h)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, out_dim={self.out_dim}, width={self.width}, layers={self.layers}, "
                f"activation={self.activation!r}")
