"""Coordinates: autoencoders (L-HiTS, LED) and a PCA baseline with one ``encode`` / ``decode`` interface.

L-HiTS Sec. 3.1 learns a restriction :math:`z = f_E(x)` (eq. 7) and a lifting
:math:`\\hat x = f_D(z)` (eq. 8) with an autoencoder trained on the reconstruction loss (eq. 10).

* :class:`Autoencoder` — ReLU MLP encoder ``n -> hidden -> z`` and its mirror image as decoder;
  the defaults are the paper's Table 6 sizes (KS: 120 : 120 : 100 : z : 100 : 120 : 120). Table 5
  gives 100 : 100 : 100 : z for FHN (``hidden=(100, 100, 100)``, input 202).
* :class:`PCA` — the linear baseline, fitted on *training* data only. (The authors' code refit the
  PCA on the test data before measuring its test error — a leak that flatters PCA; we do not.)

Both map states ``x [..., *S]`` to latent vectors ``z [..., z]`` and back, so any leading axes
(``[B, *S]`` snapshots or ``[B, T, *S]`` trajectories) pass through unchanged.

Data scaling: the reference code min-max scaled the FHN data. :class:`Autoencoder` carries an
affine scaling as buffers, fitted on training data by :meth:`Autoencoder.fit_scaling` (per state
component, to [0, 1]); ``encode`` applies it and ``decode`` undoes it, so the autoencoder's
inputs and outputs are always in physical units and its errors compare directly with PCA's.

LED (Vlachas et al., SI Sec. 6.1–6.4) adds the networks of its coarse-graining step:

* :class:`ResidualMLP` — the SI's "layers of width ``w``, residual connections, tanh".
* :class:`LEDAutoencoder` — residual MLP autoencoder, optionally variational (SI 6.2, eq. 9), with
  ``N(0, 1)`` or min-max data scaling (Tables 5, 7, 8); trained with :func:`led_autoencoder_loss`
  (reconstruction MSE in scaled units, plus ``beta`` times :func:`kl_divergence` for a VAE).
  :class:`ConvAutoencoder` is its convolutional sibling for periodic 1-D fields (KS).
* :class:`PermutationInvariantEncoder` — particles ``x [..., N, d_x] -> z [..., d_z]`` through a
  per-particle map, a mean over particles and a final map (SI 6.3, Fig. 10): any ``N``, any order.
* :class:`MixtureDensityDecoder` — ``z ->`` a mixture of ``K`` full-covariance Gaussians over an
  auxiliary ``v = softplus^{-1}((x - low) / (high - low))`` (SI 6.4, eqs. 10–12, Fig. 11); it gives
  the log-likelihood of particle positions (with the Jacobian of ``x -> v``) and samples positions.
* :class:`ParticleAutoencoder` — the two together; :func:`mdn_loss` and
  :func:`particle_autoencoder_loss` are its negative log-likelihood losses for
  :func:`~hitslite.train.fit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from . import validate
from .neural import ACTIVATIONS, MLP
from .validate import int_at_least as _count
from .validate import nonnegative_float as _nonnegative
from .validate import positive_int as _positive_int

__all__ = [
    "Autoencoder", "PCA", "reconstruction_loss", "TABLE5_FHN_HIDDEN", "TABLE6_KS_HIDDEN",
    "ResidualMLP", "LEDAutoencoder", "ConvAutoencoder", "kl_divergence", "led_autoencoder_loss",
    "PermutationInvariantEncoder", "MixtureDensityDecoder", "ParticleAutoencoder", "mdn_loss",
    "particle_autoencoder_loss",
]

#: L-HiTS Table 5 (FHN): AE architecture 100 : 100 : 100 : z (mirrored), on states of 202 values.
TABLE5_FHN_HIDDEN = (100, 100, 100)
#: L-HiTS Table 6 (KS): AE architecture 120 : 120 : 100 : z (mirrored), on states of 120 values.
TABLE6_KS_HIDDEN = (120, 120, 100)


def _shape(state_shape, name: str = "state_shape") -> tuple[int, ...]:
    scalar = isinstance(state_shape, int) and not isinstance(state_shape, bool)
    shape = (state_shape,) if scalar else state_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = ()
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"{name} must be a positive int or a tuple of them, got {state_shape!r}")
    return shape


def _check_state(x, shape: tuple[int, ...], who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"x must have shape [..., {', '.join(map(str, shape))}] for this {who}, "
                         f"got {tuple(x.shape)}")


def _check_training_states(x, shape: tuple[int, ...], who: str) -> torch.Tensor:
    """Training states ``x [..., *S]`` for a fit: the right shape, at least one state, all finite
    (one NaN in a min, max, mean or SVD would poison every later encode)."""
    _check_state(x, shape, who)
    validate.nonempty_batch("x", x.reshape(-1, *shape))
    validate.finite_tensor("x", x)
    return x


class _Coordinates(nn.Module):
    """Shared shape handling: subclasses map flat states ``[N, n]`` to ``[N, z]`` and back."""

    state_shape: tuple[int, ...]
    latent_dim: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Restriction (L-HiTS eq. 7): ``x [..., *S] -> z [..., latent_dim]`` (floating point)."""
        _check_state(x, self.state_shape, type(self).__name__)
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


class Autoencoder(_Coordinates):
    r"""MLP autoencoder (L-HiTS Sec. 3.1, Fig. 2): ReLU hidden layers, linear latent and output layers.

    .. math::
        z = f_E\big(s(x)\big), \qquad \hat x = s^{-1}\big(f_D(z)\big), \qquad
        s(x) = (x - x_{\min}) / (x_{\max} - x_{\min}),

    with :math:`f_E` = ``MLP([n, *hidden, z])`` and :math:`f_D` = ``MLP([z, *reversed(hidden), n])``
    and :math:`s` the min-max scaling fitted on training data (identity until
    :meth:`fit_scaling` is called). Trained on the reconstruction MSE, eq. (10).

    Parameters
    ----------
    state_shape : int or tuple of int
        Shape ``S`` of one state, e.g. ``120`` (KS) or ``(2, 101)`` (FHN, ``[u; v]``).
    latent_dim : int
        ``z``, the number of latent coordinates.
    hidden : sequence of int
        Encoder hidden widths; the decoder mirrors them. Default: Table 6 (KS), ``(120, 120, 100)``;
        Table 5 (FHN) uses ``(100, 100, 100)``.
    activation : str
        Hidden activation; the paper uses ReLU.
    """

    def __init__(self, state_shape: int | Sequence[int], latent_dim: int,
                 hidden: Sequence[int] = TABLE6_KS_HIDDEN, activation: str = "relu"):
        super().__init__()
        self.state_shape = _shape(state_shape)
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        hidden = list(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
        n = math.prod(self.state_shape)
        self.hidden = tuple(hidden)
        self.encoder = MLP([n, *hidden, latent_dim], activation)
        self.decoder = MLP([latent_dim, *reversed(hidden), n], activation)
        self.register_buffer("shift", torch.zeros(n))
        self.register_buffer("scale", torch.ones(n))

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor) -> Autoencoder:
        """Fit the min-max scaling on training states ``x [..., *S]`` (per component); returns self.

        Components that never change get scale 1, so they map to 0 instead of dividing by zero.
        ``x`` must hold at least one state and be finite (``ValueError`` otherwise).
        """
        _check_training_states(x, self.state_shape, "Autoencoder")
        flat = x.reshape(-1, math.prod(self.state_shape)).to(self.shift)
        lo, hi = flat.min(dim=0).values, flat.max(dim=0).values
        span = hi - lo
        self.shift.copy_(lo)
        self.scale.copy_(torch.where(span > 0, span, torch.ones_like(span)))
        return self

    def _encode_flat(self, x):
        w = self.encoder.net[0].weight
        return self.encoder((x.to(w.dtype) - self.shift) / self.scale)

    def _decode_flat(self, z):
        w = self.decoder.net[0].weight
        return self.decoder(z.to(w.dtype)) * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"state_shape={self.state_shape}, latent_dim={self.latent_dim}, hidden={list(self.hidden)}"


class PCA(_Coordinates):
    r"""Principal component analysis as a linear encoder/decoder, fitted on training data only.

    With the training snapshots stacked as rows of :math:`X` (``N x n``), mean :math:`\mu` and thin
    SVD :math:`X - \mu = U \Sigma V^\top`,

    .. math:: z = V_z^\top (x - \mu), \qquad \hat x = \mu + V_z z,

    where :math:`V_z` holds the first ``z`` right singular vectors. On the training data the
    reconstruction MSE (mean over snapshots and components) equals the discarded energy
    :math:`\sum_{i > z} \sigma_i^2 / (N n)` (Eckart–Young); :meth:`discarded_energy` returns it.

    Parameters
    ----------
    state_shape : int or tuple of int
        Shape ``S`` of one state.
    latent_dim : int
        Number of principal components kept.

    Notes
    -----
    The L-HiTS authors' code refit the PCA on the test data before reporting its test error
    (a leak); :meth:`fit` is meant to be called on the training split only.
    """

    def __init__(self, state_shape: int | Sequence[int], latent_dim: int):
        super().__init__()
        self.state_shape = _shape(state_shape)
        n = math.prod(self.state_shape)
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        if latent_dim > n:
            raise ValueError(f"latent_dim must be at most the state size {n}, got {latent_dim}")
        self.register_buffer("mean", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("components", torch.zeros(latent_dim, n, dtype=torch.float64))
        self.register_buffer("singular_values", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("n_samples", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> PCA:
        """Fit on training states ``x [..., *S]`` (all leading axes are samples, all finite); returns self."""
        _check_training_states(x, self.state_shape, "PCA")
        flat = x.reshape(-1, math.prod(self.state_shape)).to(torch.float64)
        if flat.shape[0] < 2:
            raise ValueError(f"x must hold at least 2 states to fit a PCA, got {flat.shape[0]}")
        mean = flat.mean(dim=0)
        _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        if vh.shape[0] < self.latent_dim:
            raise ValueError(f"x holds {flat.shape[0]} states, fewer than latent_dim={self.latent_dim}")
        self.mean.copy_(mean)
        self.components.copy_(vh[: self.latent_dim])
        self.singular_values.zero_()
        self.singular_values[: s.numel()] = s
        self.n_samples.fill_(flat.shape[0])
        return self

    def truncate(self, latent_dim: int) -> PCA:
        """A new PCA keeping the first ``latent_dim`` of these components: equal to refitting with
        ``latent_dim`` on the same data, without another SVD."""
        self._check_fitted()
        bad = isinstance(latent_dim, bool) or not isinstance(latent_dim, int)
        if bad or not 1 <= latent_dim <= self.latent_dim:
            raise ValueError(f"latent_dim must be an int in [1, {self.latent_dim}], got {latent_dim!r}")
        out = PCA(self.state_shape, latent_dim).to(self.mean.device)
        out.mean.copy_(self.mean)
        out.components.copy_(self.components[:latent_dim])
        out.singular_values.copy_(self.singular_values)
        out.n_samples.copy_(self.n_samples)
        return out

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been called (or fitted buffers loaded)."""
        return int(self.n_samples) > 0

    def discarded_energy(self, latent_dim: int | None = None) -> float:
        """Training reconstruction MSE predicted by the spectrum: ``sum_{i > z} s_i^2 / (N n)``."""
        z = self.latent_dim if latent_dim is None else _positive_int("latent_dim", latent_dim)
        if not self.fitted:
            raise ValueError("this PCA is not fitted; call fit(train_states) first")
        s2 = self.singular_values.pow(2)
        return float(s2[z:].sum() / (int(self.n_samples) * s2.numel()))

    def _check_fitted(self):
        if not self.fitted:
            raise ValueError("this PCA is not fitted; call fit(train_states) first")

    def _encode_flat(self, x):
        self._check_fitted()
        return ((x.to(self.mean) - self.mean) @ self.components.T).to(x.dtype)

    def _decode_flat(self, z):
        self._check_fitted()
        return (self.mean + z.to(self.mean) @ self.components).to(z.dtype)

    def extra_repr(self) -> str:
        return f"state_shape={self.state_shape}, latent_dim={self.latent_dim}"


def reconstruction_loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """L-HiTS eq. (10) in scaled units: MSE between ``s(x)`` and ``s(decode(encode(x)))``.

    ``batch [N, *S]`` (or ``[N, 1, *S]``, a window of one state, as :func:`~hitslite.train.fit`
    passes windows). Measured after the autoencoder's min-max scaling so that components with
    small ranges (FHN's ``v``) weigh as much as large ones; this is a ``loss_fn`` for ``fit``.
    """
    x = batch[:, 0] if batch.ndim == len(model.state_shape) + 2 else batch
    n = math.prod(model.state_shape)
    flat = x.reshape(-1, n)
    target = (flat.to(model.shift) - model.shift) / model.scale
    w = model.decoder.net[0].weight
    recon = model.decoder(model.encoder(target.to(w.dtype)))
    return torch.mean((recon - target) ** 2)


# ----------------------------------------------------------------------------------------
# LED (SI Sec. 6.1-6.4): residual MLPs, (variational) autoencoders, particle encoder/decoder
# ----------------------------------------------------------------------------------------
#: LED SI 6.4: lower bound added to the softplus diagonal of each Cholesky factor (in units of ``v``),
#: so that no mixture component collapses onto a point and its log-density stays finite.
MDN_SCALE_FLOOR = 1e-4
#: LED SI 6.4: scaled positions ``s`` are clamped to ``[eps, 1 - eps]`` before ``v = softplus^{-1}(s)``
#: (``softplus^{-1}(0) = -inf``).
MDN_EPS = 1e-6
#: ``softplus^{-1}(1) = log(e - 1)``: the largest ``v`` whose position lies inside the box.
_V_MAX = math.log(math.e - 1.0)


def _check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return activation


def _box(low, high, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
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


def _randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal draws with ``like``'s dtype and device, from ``generator`` if given
    (drawn on the generator's device, then moved, so a CPU generator also drives CUDA tensors)."""
    if generator is None:
        return torch.randn(shape, dtype=like.dtype, device=like.device)
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=generator.device).to(like.device)


def _rand(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform draws on [0, 1); see :func:`_randn`."""
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
        self.activation = _check_activation(activation)
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


class _ScaledAutoencoder(_Coordinates):
    """Shared by LED's autoencoders: data scaling buffers, (variational) encoder heads, sampling.

    Subclasses set ``state_shape``, ``latent_dim``, ``variational`` and ``scaling``, call
    :meth:`_init_scaling`, and map scaled flat states ``[N, n]`` to the encoder's raw output
    ``[N, d_z]`` (``[N, 2 d_z]`` = ``(mu, logvar)`` when variational) in :meth:`_raw_encode` and
    latents ``[N, d_z]`` to scaled flat states in :meth:`_raw_decode`.
    """

    variational: bool
    scaling: str

    def _init_scaling(self, variational, scaling) -> None:
        if not isinstance(variational, bool):
            raise ValueError(f"variational must be True or False, got {variational!r}")
        if scaling not in ("standard", "minmax"):
            raise ValueError(f"scaling must be 'standard' or 'minmax', got {scaling!r}")
        self.variational, self.scaling = variational, scaling
        n = math.prod(self.state_shape)
        self.register_buffer("shift", torch.zeros(n))
        self.register_buffer("scale", torch.ones(n))

    def _raw_encode(self, scaled_flat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _raw_decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor):
        """Fit the data scaling on training states ``x [..., *S]`` (per component); returns self.

        ``"standard"``: shift = mean, scale = standard deviation (population, ``correction=0``);
        ``"minmax"``: shift = min, scale = max - min. Constant components get scale 1. ``x`` must
        hold at least one state and be finite (``ValueError`` otherwise: one NaN would make every
        later encode NaN).
        """
        _check_training_states(x, self.state_shape, type(self).__name__)
        flat = x.reshape(-1, math.prod(self.state_shape)).to(self.shift)
        if self.scaling == "standard":
            shift, spread = flat.mean(dim=0), flat.std(dim=0, correction=0)
        else:
            shift = flat.min(dim=0).values
            spread = flat.max(dim=0).values - shift
        self.shift.copy_(shift)
        self.scale.copy_(torch.where(spread > 0, spread, torch.ones_like(spread)))
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The scaling :math:`s(x)`: ``x [..., *S]`` in physical units -> scaled, in the parameters' dtype."""
        _check_state(x, self.state_shape, type(self).__name__)
        flat = x.reshape(*x.shape[: x.ndim - len(self.state_shape)], -1)
        return ((flat.to(self.shift) - self.shift) / self.scale).to(self._dtype).reshape(x.shape)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse scaling :math:`s^{-1}(y)`: scaled ``y [..., *S]`` -> physical units."""
        _check_state(y, self.state_shape, type(self).__name__)
        flat = y.reshape(*y.shape[: y.ndim - len(self.state_shape)], -1)
        return (flat.to(self.shift) * self.scale + self.shift).reshape(y.shape)

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _heads(self, scaled_flat: torch.Tensor):
        """Scaled flat states ``[N, n]`` -> ``(mu, logvar)`` (``logvar`` None unless variational)."""
        out = self._raw_encode(scaled_flat.to(self._dtype))
        return out.chunk(2, dim=-1) if self.variational else (out, None)

    def _encode_flat(self, x):
        return self._heads((x.to(self.shift) - self.shift) / self.scale)[0]

    def _decode_flat(self, z):
        return self._raw_decode(z.to(self._dtype)).to(self.scale) * self.scale + self.shift

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""LED SI eq. (9): ``x [..., *S] -> (mu [..., d_z], logvar [..., d_z])`` of :math:`q(z | x)`.

        Only for ``variational=True``; ``logvar`` is :math:`\log\sigma_z^2`, unconstrained.
        """
        if not self.variational:
            raise ValueError("encode_distribution needs a variational autoencoder (variational=True)")
        _check_state(x, self.state_shape, type(self).__name__)
        lead = x.shape[: x.ndim - len(self.state_shape)]
        mu, logvar = self._heads(self.normalize(x).reshape(-1, math.prod(self.state_shape)))
        return mu.reshape(*lead, self.latent_dim), logvar.reshape(*lead, self.latent_dim)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Reparameterised draw :math:`z = \mu + e^{\log\sigma^2 / 2} \odot \epsilon`,
        :math:`\epsilon \sim \mathcal N(0, I)`: ``[..., d_z]``, differentiable in ``mu`` and ``logvar``."""
        if mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
                             f"{tuple(logvar.shape)}")
        return mu + torch.exp(0.5 * logvar) * _randn(mu.shape, mu, generator)

    def extra_repr(self) -> str:
        return (f"state_shape={self.state_shape}, latent_dim={self.latent_dim}, "
                f"variational={self.variational}, scaling={self.scaling!r}")


class LEDAutoencoder(_ScaledAutoencoder):
    r"""LED's residual MLP autoencoder, deterministic (SI 6.1) or variational (SI 6.2, eq. 9).

    .. math::
        \tilde x = s(x), \qquad (\mu_z, \log\sigma_z^2) = \mathcal E(\tilde x), \qquad
        z \sim \mathcal N\big(\mu_z, \operatorname{diag}(\sigma_z^2)\big)\ \text{(eq. 9)}, \qquad
        \hat x = s^{-1}\big(\mathcal D(z)\big),

    where :math:`\mathcal E` = ``ResidualMLP(n -> 2 d_z)`` (``n -> d_z`` and :math:`z = \mu_z` when
    not variational) and :math:`\mathcal D` = ``ResidualMLP(d_z -> n)``. :meth:`encode` always
    returns the mean :math:`\mu_z` (deterministic: the latent state LED forecasts);
    :meth:`encode_distribution` gives :math:`(\mu_z, \log\sigma_z^2)` and :meth:`sample` draws
    :math:`z = \mu_z + \sigma_z \odot \epsilon` (reparameterised, differentiable).

    :math:`s` is the data scaling, per state component, fitted on training data by
    :meth:`fit_scaling` (identity until then): ``"standard"`` — :math:`(x - \text{mean}) / \text{std}`,
    the tables' :math:`\mathcal N(0, 1)` (LED Tables 5–8, FHN and KS); ``"minmax"`` — to [0, 1]
    (Tables 1, 3). :meth:`encode` applies it and :meth:`decode` undoes it, so states are in
    physical units, like :class:`Autoencoder`. :meth:`normalize` / :meth:`denormalize` expose
    :math:`s` and :math:`s^{-1}`. Trained with :func:`led_autoencoder_loss`.

    Inputs ``x [..., *S]`` with any leading axes (``[B, *S]`` or ``[B, T, *S]``); latents ``[..., d_z]``.

    Parameters
    ----------
    state_shape : int or tuple of int
        Shape ``S`` of one state, e.g. ``(2, 101)`` (FHN ``[u; v]``) or ``64`` (KS, LED grid).
    latent_dim : int
        :math:`d_z`.
    width, layers : int
        Hidden width and number of residual blocks of encoder and decoder (:class:`ResidualMLP`).
        Defaults: LED Table 5 (FHN) 3 x 100; Table 8 (KS) uses ``width=50, layers=5``.
    activation : str
        Hidden activation, ``"tanh"`` in all LED tables.
    variational : bool
        Encoder outputs mean and log-variance (SI 6.2); the tables try both.
    scaling : str
        The data scaling :meth:`fit_scaling` fits: ``"standard"`` or ``"minmax"``.
    """

    def __init__(self, state_shape: int | Sequence[int], latent_dim: int, width: int = 100, layers: int = 3,
                 activation: str = "tanh", variational: bool = False, scaling: str = "standard"):
        super().__init__()
        self.state_shape = _shape(state_shape)
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        self._init_scaling(variational, scaling)
        n = math.prod(self.state_shape)
        encoded = 2 * latent_dim if variational else latent_dim  # (mu, logvar) or z
        self.encoder = ResidualMLP(n, encoded, width, layers, activation)
        self.decoder = ResidualMLP(latent_dim, n, width, layers, activation)

    def _raw_encode(self, scaled_flat):
        return self.encoder(scaled_flat)

    def _raw_decode(self, z):
        return self.decoder(z)


class ConvAutoencoder(_ScaledAutoencoder):
    r"""Convolutional autoencoder for periodic 1-D fields (KS; LED SI 8.4).

    The LED paper's KS tables list residual MLPs (Table 8: 5 x 50), while the authors' released
    code selected a convolutional autoencoder for KS; this is a compact one of that kind, not a
    copy of their architecture.

    Encoder: ``len(channels)`` blocks of a circularly padded ``Conv1d`` (kernel ``kernel_size``),
    the activation and an average pooling by 2, then a linear layer from the flattened features to
    ``d_z`` (``2 d_z`` when variational, as in :class:`LEDAutoencoder`). Decoder, mirrored: a linear
    layer to the coarsest features, then per block a nearest-neighbour upsampling by 2 and a circular
    ``Conv1d`` (with the activation, except the last one, which is linear). Circular padding makes
    every convolution commute with periodic shifts of the grid: a rotation of the field by
    ``2 ** len(channels)`` points rotates the encoder's feature maps by one point.

    The data scaling, :meth:`encode` / :meth:`decode` / :meth:`encode_distribution` and the loss
    :func:`led_autoencoder_loss` are those of :class:`LEDAutoencoder`.

    Parameters
    ----------
    state_shape : int or tuple of int
        ``n`` grid points (one field, e.g. KS ``u``) or ``(c, n)`` fields on one periodic grid;
        ``n`` must be divisible by ``2 ** len(channels)``.
    latent_dim : int
        :math:`d_z` (LED KS: 8).
    channels : sequence of int
        Feature channels of the encoder blocks (the decoder mirrors them).
    kernel_size : int
        Odd convolution width.
    activation : str
        ``"elu"`` by default (the LED code's CELU with :math:`\alpha = 1` is the same function).
    variational, scaling
        As in :class:`LEDAutoencoder`.
    """

    def __init__(self, state_shape: int | Sequence[int], latent_dim: int,
                 channels: Sequence[int] = (8, 16, 32), kernel_size: int = 5, activation: str = "elu",
                 variational: bool = False, scaling: str = "standard"):
        super().__init__()
        self.state_shape = _shape(state_shape)
        if len(self.state_shape) > 2:
            raise ValueError(f"state_shape must be n or (channels, n) for a 1-D field, got {state_shape!r}")
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        channels = tuple(channels)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels!r}")
        odd = isinstance(kernel_size, int) and not isinstance(kernel_size, bool) and kernel_size % 2 == 1
        if not odd or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        _check_activation(activation)
        c_in, n = (1, *self.state_shape) if len(self.state_shape) == 1 else self.state_shape
        if n % 2 ** len(channels):
            raise ValueError(f"state_shape: {n} grid points are not divisible by 2**len(channels) = "
                             f"{2 ** len(channels)}")
        self._init_scaling(variational, scaling)
        self.channels, self.kernel_size = channels, kernel_size
        self._fields, self._coarse = (c_in, n), (channels[-1], n // 2 ** len(channels))

        def conv(a, b):
            return nn.Conv1d(a, b, kernel_size, padding=kernel_size // 2, padding_mode="circular")

        act = ACTIVATIONS[activation]
        down, sizes = [], (c_in, *channels)
        for a, b in zip(sizes[:-1], sizes[1:]):
            down += [conv(a, b), act(), nn.AvgPool1d(2)]
        self.features = nn.Sequential(*down)
        flat = math.prod(self._coarse)
        self.to_latent = nn.Linear(flat, 2 * latent_dim if variational else latent_dim)
        self.from_latent = nn.Linear(latent_dim, flat)
        up, rev = [], sizes[::-1]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), conv(a, b)]
            if i < len(channels) - 1:
                up.append(act())
        self.reconstruct = nn.Sequential(*up)

    def _raw_encode(self, scaled_flat):
        return self.to_latent(self.features(scaled_flat.reshape(-1, *self._fields)).flatten(1))

    def _raw_decode(self, z):
        return self.reconstruct(self.from_latent(z).reshape(-1, *self._coarse)).flatten(1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", channels={list(self.channels)}, kernel_size={self.kernel_size}"


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence of :math:`\mathcal N(\mu, \operatorname{diag}\sigma^2)` from :math:`\mathcal N(0, I)`.

    .. math:: \mathrm{KL} = \tfrac12 \sum_{j=1}^{d_z} \big(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2\big),

    summed over the latent axis and averaged over all leading axes (per sample): a scalar.
    ``mu, logvar [..., d_z]``. LED SI 6.2.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}")
    return 0.5 * torch.sum(torch.exp(logvar) + mu**2 - 1.0 - logvar, dim=-1).mean()


def led_autoencoder_loss(model: LEDAutoencoder | ConvAutoencoder, batch: torch.Tensor, *, beta: float = 1.0,
                         noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""LED autoencoder training loss, in scaled units: reconstruction MSE (+ ``beta`` KL for a VAE).

    .. math::
        \mathcal L = \operatorname{mean}\big(\mathcal D(z) - \tilde x\big)^2
        + \beta\,\mathrm{KL}\big(q(z|\tilde x + \eta)\,\|\,\mathcal N(0, I)\big),
        \qquad \tilde x = s(x),\quad \eta = \text{noise}\cdot\epsilon,

    where :math:`z` is a reparameterised draw from :math:`q` in training mode and its mean
    :math:`\mu_z` in eval mode (the KL term is present in both; absent for a deterministic
    autoencoder). ``noise`` is the tables' "noise level in the data" as a fraction (10 % -> 0.1):
    Gaussian noise of that standard deviation in scaled units (a fraction of each component's
    standard deviation for ``"standard"`` scaling, of its range for ``"minmax"``) is added to the
    encoder input only in training mode; the target stays clean. ``beta`` weighs the KL term (the
    LED code's ``beta_vae_weight_max`` defaults to 1, which it anneals from 0).

    ``batch [..., *S]``: every leading axis is a sample, so both snapshots ``[N, *S]`` and the
    windows ``[N, 1, *S]`` that :func:`~hitslite.train.fit` passes work. With extra options, use
    ``functools.partial(led_autoencoder_loss, beta=..., noise=..., generator=...)`` as ``loss_fn``.
    """
    if not isinstance(model, _ScaledAutoencoder):
        raise TypeError(f"model must be an LEDAutoencoder or ConvAutoencoder, got {type(model).__name__}")
    beta, noise = _nonnegative("beta", beta), _nonnegative("noise", noise)
    n = math.prod(model.state_shape)
    target = model.normalize(batch).reshape(-1, n)
    inp = target + noise * _randn(target.shape, target, generator) if model.training and noise > 0 else target
    mu, logvar = model._heads(inp)
    z = model.sample(mu, logvar, generator) if model.variational and model.training else mu
    loss = torch.mean((model._raw_decode(z) - target) ** 2)
    if model.variational and beta > 0:
        loss = loss + beta * kl_divergence(mu, logvar)
    return loss


class PermutationInvariantEncoder(nn.Module):
    r"""Permutation-invariant encoder of a particle configuration (LED SI 6.3, Fig. 10).

    .. math::
        z = g\Big(\frac1N \sum_{i=1}^N \phi\big(\tilde x^i\big)\Big), \qquad
        \tilde x^i = \frac{x^i - \text{low}}{\text{high} - \text{low}} \in [0, 1]^{d_x},

    with :math:`\phi` = ``ResidualMLP(d_x -> d_p)`` applied to each particle independently and
    :math:`g` = ``ResidualMLP(d_p -> d_z)``. The mean makes :math:`z` invariant to the order of the
    particles and defined for any :math:`N` (a model trained on :math:`N = 1000` runs on
    :math:`N = 400`, SI 8.2.3). The fixed affine map of the box ``[low, high]^{d_x}`` onto
    :math:`[0, 1]^{d_x}` is the tables' min-max scaling with the box as the range (LED: box of
    side :math:`L = 1` centred at the origin, hence the defaults).

    Input ``x [..., N, d_x]``, output ``z [..., d_z]``.

    Parameters
    ----------
    particle_dim : int
        :math:`d_x`, the features of one particle (its position: 1 or 3 in LED).
    latent_dim : int
        :math:`d_z`.
    feature_dim : int
        :math:`d_p`, the per-particle feature size (Tables 1, 3: 200).
    width, layers, activation
        Of both :math:`\phi` and :math:`g` (LED: 5 x 100, tanh).
    low, high : float or sequence of float
        The box: one value for every dimension, or ``d_x`` values.
    """

    def __init__(self, particle_dim: int, latent_dim: int, feature_dim: int = 200, width: int = 100,
                 layers: int = 5, activation: str = "tanh", low=-0.5, high=0.5):
        super().__init__()
        self.particle_dim = _count("particle_dim", particle_dim, 1)
        self.latent_dim = _count("latent_dim", latent_dim, 1)
        self.feature_dim = _count("feature_dim", feature_dim, 1)
        lo, hi = _box(low, high, particle_dim)
        self.phi = ResidualMLP(particle_dim, feature_dim, width, layers, activation)
        self.g = ResidualMLP(feature_dim, latent_dim, width, layers, activation)
        self.register_buffer("low", lo.to(torch.get_default_dtype()))
        self.register_buffer("high", hi.to(torch.get_default_dtype()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., N, d_x] -> z [..., d_z]``."""
        _check_particles(x, self.particle_dim, type(self).__name__)
        w = self.phi.input.weight
        s = (x.to(self.low) - self.low) / (self.high - self.low)
        return self.g(self.phi(s.to(w.dtype)).mean(dim=-2))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Same as calling the module: ``x [..., N, d_x] -> z [..., d_z]``."""
        return self(x)

    def extra_repr(self) -> str:
        return (f"particle_dim={self.particle_dim}, latent_dim={self.latent_dim}, "
                f"feature_dim={self.feature_dim}")


def _check_particles(x, dim: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-1] != dim or x.shape[-2] < 1:
        raise ValueError(f"x must hold particles of shape [..., N, {dim}] (N >= 1) for this {who}, "
                         f"got {tuple(x.shape)}")


class MixtureDensityDecoder(nn.Module):
    r"""Mixture density decoder for bounded particle positions (LED SI 6.4, eqs. 10–12, Fig. 11).

    A latent state :math:`z` gives a mixture of :math:`K` multivariate normals over an auxiliary
    :math:`v \in \mathbb R^{d_x}` (eq. 10), from which each particle position is drawn
    independently:

    .. math::
        p(v | z) = \sum_{k=1}^K \pi^k(z)\, \mathcal N\big(v;\ \mu^k(z),\ L^k(z) L^k(z)^\top\big),
        \qquad x = \text{low} + (\text{high} - \text{low}) \odot \min\big(\operatorname{softplus}(v), 1\big).

    Network: :math:`h = \sigma(\text{trunk}(z))` with trunk = ``ResidualMLP(d_z -> hidden)``
    (``width``, ``layers``), then linear heads: mixing logits (softmax, eq. 12), means (linear),
    the diagonal of :math:`L^k` = softplus (eq. 11) + ``scale_floor`` (:data:`MDN_SCALE_FLOOR`), and
    its strictly lower entries (linear) — :math:`K(1 + 2 d_x) + K d_x (d_x - 1)/2` outputs.

    A position maps to :math:`v` by :math:`s = (x - \text{low}) / (\text{high} - \text{low})`
    clamped to :math:`[\epsilon, 1 - \epsilon]` (``eps`` = :data:`MDN_EPS`) and
    :math:`v = \operatorname{softplus}^{-1}(s) = \log(e^s - 1)`. :meth:`log_prob` is the density of
    the *position*, with the Jacobian :math:`\log|\partial v / \partial x|
    = \sum_j \big[-\log(1 - e^{-s_j}) - \log(\text{high}_j - \text{low}_j)\big]`.
    Since :math:`\operatorname{softplus}(v) > 1` for :math:`v > \log(e - 1)`, the mixture's mass
    there lands on the upper wall when sampling (positions are clipped to the box): the density
    integrates over the open box to 1 minus that mass (:meth:`wall_mass`, exact in 1-D).

    Shapes: ``z [..., d_z]``; positions ``x [..., N, d_x]``.

    Parameters
    ----------
    latent_dim, particle_dim : int
        :math:`d_z`, :math:`d_x`.
    kernels : int
        :math:`K` (LED: 4 for 1-D, 5 for 3-D).
    width, layers : int
        Of the residual trunk (LED: 5 x 100).
    hidden : int
        Units of the layer feeding the mixture heads (LED: 50).
    low, high : float or sequence of float
        The box: one value for every dimension, or ``d_x`` values (LED: side 1 centred at the origin).
    """

    def __init__(self, latent_dim: int, particle_dim: int, kernels: int = 5, width: int = 100,
                 layers: int = 5, hidden: int = 50, activation: str = "tanh", low=-0.5, high=0.5, *,
                 scale_floor: float = MDN_SCALE_FLOOR, eps: float = MDN_EPS):
        super().__init__()
        self.latent_dim = _count("latent_dim", latent_dim, 1)
        self.particle_dim = d = _count("particle_dim", particle_dim, 1)
        self.kernels = k = _count("kernels", kernels, 1)
        self.hidden = _count("hidden", hidden, 1)
        if _nonnegative("scale_floor", scale_floor) <= 0:
            raise ValueError(f"scale_floor must be > 0, got {scale_floor!r}")
        if not (isinstance(eps, (int, float)) and 0 < eps < 0.5):
            raise ValueError(f"eps must be a number in (0, 0.5), got {eps!r}")
        self.scale_floor, self.eps = float(scale_floor), float(eps)
        lo, hi = _box(low, high, d)
        self.trunk = ResidualMLP(latent_dim, hidden, width, layers, activation)
        self.act = ACTIVATIONS[activation]()
        self.logits = nn.Linear(hidden, k)
        self.loc = nn.Linear(hidden, k * d)
        self.diag = nn.Linear(hidden, k * d)
        self.offdiag = nn.Linear(hidden, k * d * (d - 1) // 2) if d > 1 else None
        rows, cols = torch.tril_indices(d, d, offset=-1)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)
        self.register_buffer("low", lo.to(torch.get_default_dtype()))
        self.register_buffer("high", hi.to(torch.get_default_dtype()))

    @property
    def _dtype(self) -> torch.dtype:
        return self.logits.weight.dtype

    def _check_z(self, z):
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape [..., {self.latent_dim}], got {tuple(z.shape)}")

    def mixture_parameters(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z [..., d_z] -> (logits [..., K], loc [..., K, d_x], scale_tril [..., K, d_x, d_x])``."""
        self._check_z(z)
        lead, k, d = z.shape[:-1], self.kernels, self.particle_dim
        h = self.act(self.trunk(z.to(self._dtype)))
        logits = self.logits(h)
        loc = self.loc(h).reshape(*lead, k, d)
        diag = nn.functional.softplus(self.diag(h)).reshape(*lead, k, d) + self.scale_floor
        tril = torch.diag_embed(diag)
        if self.offdiag is not None:
            off = torch.zeros_like(tril)
            off[..., self._rows, self._cols] = self.offdiag(h).reshape(*lead, k, -1)
            tril = tril + off
        return logits, loc, tril

    def distribution(self, z: torch.Tensor) -> torch.distributions.MixtureSameFamily:
        """Eq. (10): :math:`p(v | z)` over the auxiliary ``v``; batch shape ``z.shape[:-1]``, event ``[d_x]``.

        Also gives the mixture's mean and variance of ``v`` (``.mean``, ``.variance``).
        """
        logits, loc, tril = self.mixture_parameters(z)
        # valid by construction (softplus + floor diagonal); unchecked, so a NaN reaches fit's stopping rule
        return torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=logits, validate_args=False),
            torch.distributions.MultivariateNormal(loc, scale_tril=tril, validate_args=False),
            validate_args=False)

    def to_auxiliary(self, x: torch.Tensor) -> torch.Tensor:
        """Positions ``x [..., d_x]`` -> ``v = log(expm1(s))``, ``s`` the scaled position clamped to
        ``[eps, 1 - eps]``."""
        return torch.log(torch.expm1(self._unit(x))).to(self._dtype)

    def _unit(self, x):
        """Scaled positions ``s = (x - low) / (high - low)``, clamped to ``[eps, 1 - eps]``."""
        return ((x.to(self.low) - self.low) / (self.high - self.low)).clamp(self.eps, 1 - self.eps)

    def from_auxiliary(self, v: torch.Tensor) -> torch.Tensor:
        """``v [..., d_x]`` -> positions ``low + (high - low) * min(softplus(v), 1)`` (inside the box)."""
        s = nn.functional.softplus(v.to(self.low)).clamp(max=1.0)
        return self.low + (self.high - self.low) * s

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""Log-density of positions given the latent state, averaged over particles.

        .. math::
            \frac1N \sum_{i=1}^N \Big[\log p\big(v(x^i) | z\big)
            + \log\Big|\frac{\partial v}{\partial x}(x^i)\Big|\Big],
            \quad \log\Big|\frac{\partial v}{\partial x}\Big| = \sum_{j=1}^{d_x}
            \Big[-\log\big(1 - e^{-s_j}\big) - \log(\text{high}_j - \text{low}_j)\Big],

        a density over positions in the box (``N`` times it is the log-likelihood of the
        configuration, whose particles are independent given ``z``). ``x [..., N, d_x]``,
        ``z [..., d_z]`` with broadcastable leading axes; returns ``[...]``.
        """
        _check_particles(x, self.particle_dim, type(self).__name__)
        dist = self.distribution(z)
        s = self._unit(x)
        v = torch.log(torch.expm1(s)).to(self._dtype)
        log_jac = (-torch.log(-torch.expm1(-s)) - torch.log(self.high - self.low)).sum(dim=-1)
        lp = dist.log_prob(v.movedim(-2, 0)).movedim(0, -1)  # [..., N]
        return (lp + log_jac.to(lp.dtype)).mean(dim=-1)

    def sample_auxiliary(self, z: torch.Tensor, n_particles: int,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """``n_particles`` independent draws of ``v`` from eq. (10): ``z [..., d_z] -> v [..., n, d_x]``."""
        n = _count("n_particles", n_particles, 1)
        logits, loc, tril = self.mixture_parameters(z)
        lead, k, d = z.shape[:-1], self.kernels, self.particle_dim
        b = math.prod(lead)
        cdf = torch.softmax(logits.reshape(b, k), dim=-1).cumsum(dim=-1)
        idx = torch.searchsorted(cdf.contiguous(), _rand((b, n), cdf, generator)).clamp(max=k - 1)
        loc = torch.gather(loc.reshape(b, k, d), 1, idx[..., None].expand(b, n, d))
        tril = torch.gather(tril.reshape(b, k, d, d), 1, idx[..., None, None].expand(b, n, d, d))
        v = loc + (tril @ _randn((b, n, d, 1), loc, generator)).squeeze(-1)
        return v.reshape(*lead, n, d)

    def sample(self, z: torch.Tensor, n_particles: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """A configuration of ``n_particles`` positions in the box: ``z [..., d_z] -> x [..., n, d_x]``."""
        return self.from_auxiliary(self.sample_auxiliary(z, n_particles, generator))

    def _marginals(self, z):
        logits, loc, tril = self.mixture_parameters(z)
        return torch.softmax(logits, dim=-1), loc, tril.pow(2).sum(dim=-1).sqrt()  # [..., K], [..., K, d] x 2

    def wall_mass(self, z: torch.Tensor) -> torch.Tensor:
        r"""Probability that a sampled coordinate is clipped to the upper wall, ``[..., d_x]``:
        :math:`\sum_k \pi^k\, P(v_j > \log(e - 1))` under the marginal of kernel ``k``."""
        pi, loc, sd = self._marginals(z)
        return (pi[..., None] * torch.special.ndtr((loc - _V_MAX) / sd)).sum(dim=-2)

    def mean(self, z: torch.Tensor, *, nodes: int = 128) -> torch.Tensor:
        r"""Mean position :math:`E[x | z]` of the sampled particles, ``[..., d_x]``.

        Each coordinate needs only its marginal :math:`v_j \sim \mathcal N(\mu^k_j, \sigma^{k\,2}_j)`
        per kernel: with :math:`b = (\log(e-1) - \mu^k_j) / \sigma^k_j`,
        :math:`E[\min(\operatorname{softplus}(v_j), 1)] = \int_{-\infty}^{b} \operatorname{softplus}
        (\mu^k_j + \sigma^k_j u)\,\varphi(u)\,du + 1 - \Phi(b)`; the integral is computed by
        ``nodes``-point Gauss–Legendre quadrature on :math:`[-9, \min(b, 9)]` (the integrand is smooth
        there; :math:`\varphi(9) < 10^{-17}`).
        """
        import numpy as np

        pi, loc, sd = self._marginals(z)
        t, w = (torch.as_tensor(a, dtype=loc.dtype, device=loc.device)
                for a in np.polynomial.legendre.leggauss(_count("nodes", nodes, 2)))
        b = ((_V_MAX - loc) / sd).clamp(-9.0, 9.0)[..., None]  # [..., K, d, 1]
        half = (b + 9.0) / 2
        u = -9.0 + half * (t + 1)  # nodes mapped onto [-9, b]
        phi = torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi)
        inside = (half * w * nn.functional.softplus(loc[..., None] + sd[..., None] * u) * phi).sum(dim=-1)
        s_mean = (pi[..., None] * (inside + torch.special.ndtr(-b[..., 0]))).sum(dim=-2)
        return self.low + (self.high - self.low) * s_mean.to(self.low)

    def extra_repr(self) -> str:
        return (f"latent_dim={self.latent_dim}, particle_dim={self.particle_dim}, kernels={self.kernels}, "
                f"hidden={self.hidden}, scale_floor={self.scale_floor:g}, eps={self.eps:g}")


class ParticleAutoencoder(nn.Module):
    r"""LED's particle autoencoder: :class:`PermutationInvariantEncoder` + :class:`MixtureDensityDecoder`.

    ``encode(x [..., N, d_x]) -> z [..., d_z]``; ``decode(z) -> x [..., n, d_x]`` samples a
    configuration of ``n`` particles (default ``n_particles``, LED's N = 1000), so the pair plugs
    into :class:`~hitslite.neural.Latent` and LED's alternation of latent and particle dynamics.
    Trained by :func:`particle_autoencoder_loss` (negative log-likelihood, SI 6.4). Defaults are
    LED Tables 3–4 (3-D): 5 x 100 tanh residual networks, :math:`d_p = 200`, 5 kernels, 50 hidden units.
    """

    def __init__(self, particle_dim: int, latent_dim: int, *, feature_dim: int = 200, width: int = 100,
                 layers: int = 5, kernels: int = 5, hidden: int = 50, activation: str = "tanh",
                 low=-0.5, high=0.5, n_particles: int = 1000):
        super().__init__()
        self.encoder = PermutationInvariantEncoder(particle_dim, latent_dim, feature_dim, width, layers,
                                                   activation, low, high)
        self.decoder = MixtureDensityDecoder(latent_dim, particle_dim, kernels, width, layers, hidden,
                                             activation, low, high)
        self.particle_dim, self.latent_dim = particle_dim, latent_dim
        self.n_particles = _count("n_particles", n_particles, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., N, d_x] -> z [..., d_z]`` (any N, any particle order)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, n_particles: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """A sampled configuration ``z [..., d_z] -> x [..., n, d_x]``; ``n`` defaults to ``n_particles``."""
        return self.decoder.sample(z, self.n_particles if n_particles is None else n_particles, generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``decoder.log_prob(x, encode(x))``: per-particle mean log-density, ``[...]``."""
        return self.decoder.log_prob(x, self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode: ``x [..., N, d_x] -> z [..., d_z]``."""
        return self.encoder(x)

    def extra_repr(self) -> str:
        return (f"particle_dim={self.particle_dim}, latent_dim={self.latent_dim}, "
                f"n_particles={self.n_particles}")


def mdn_loss(encoder: nn.Module, decoder: MixtureDensityDecoder, batch: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (LED SI 6.4): ``-mean(decoder.log_prob(x, encoder(x)))``.

    ``batch [..., N, d_x]`` of configurations (every leading axis a sample); the value is per
    particle (see :meth:`MixtureDensityDecoder.log_prob`).
    """
    return -decoder.log_prob(batch, encoder(batch)).mean()


def particle_autoencoder_loss(model: ParticleAutoencoder, batch: torch.Tensor) -> torch.Tensor:
    """:func:`mdn_loss` of a :class:`ParticleAutoencoder`: a ``loss_fn`` for :func:`~hitslite.train.fit`
    on configurations ``[B, N, d_x]`` (or windows ``[B, 1, N, d_x]``)."""
    return mdn_loss(model.encoder, model.decoder, batch)
