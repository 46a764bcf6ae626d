"""LED coarse-graining networks for fields (SI 6.1-6.2): residual-MLP and convolutional (variational)
autoencoders with built-in data scaling, and their loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..neural import ACTIVATIONS
from ..validate import nonnegative_float as _nonnegative
from ..validate import positive_int as _positive_int
from .common import (
    Coordinates,
    ResidualMLP,
    check_activation,
    check_state,
    check_training_states,
    randn_from,
    state_shape_of,
)

__all__ = ["ScaledAutoencoder", "LEDAutoencoder", "ConvAutoencoder", "kl_divergence", "led_autoencoder_loss"]

class ScaledAutoencoder(Coordinates):
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
        check_training_states(x, self.state_shape, type(self).__name__)
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
        check_state(x, self.state_shape, type(self).__name__)
        flat = x.reshape(*x.shape[: x.ndim - len(self.state_shape)], -1)
        return ((flat.to(self.shift) - self.shift) / self.scale).to(self._dtype).reshape(x.shape)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse scaling :math:`s^{-1}(y)`: scaled ``y [..., *S]`` -> physical units."""
        check_state(y, self.state_shape, type(self).__name__)
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
        check_state(x, self.state_shape, type(self).__name__)
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
        return mu + torch.exp(0.5 * logvar) * randn_from(mu.shape, mu, generator)

    def extra_repr(self) -> str:
        return (f"state_shape={self.state_shape}, latent_dim={self.latent_dim}, "
                f"variational={self.variational}, scaling={self.scaling!r}")


class LEDAutoencoder(ScaledAutoencoder):
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
        self.state_shape = state_shape_of(state_shape)
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


class ConvAutoencoder(ScaledAutoencoder):
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
        self.state_shape = state_shape_of(state_shape)
        if len(self.state_shape) > 2:
            raise ValueError(f"state_shape must be n or (channels, n) for a 1-D field, got {state_shape!r}")
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        channels = tuple(channels)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels!r}")
        odd = isinstance(kernel_size, int) and not isinstance(kernel_size, bool) and kernel_size % 2 == 1
        if not odd or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        check_activation(activation)
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
    if not isinstance(model, ScaledAutoencoder):
        raise TypeError(f"model must be an LEDAutoencoder or ConvAutoencoder, got {type(model).__name__}")
    beta, noise = _nonnegative("beta", beta), _nonnegative("noise", noise)
    n = math.prod(model.state_shape)
    target = model.normalize(batch).reshape(-1, n)
    noisy = model.training and noise > 0
    inp = target + noise * randn_from(target.shape, target, generator) if noisy else target
    mu, logvar = model._heads(inp)
    z = model.sample(mu, logvar, generator) if model.variational and model.training else mu
    loss = torch.mean((model._raw_decode(z) - target) ** 2)
    if model.variational and beta > 0:
        loss = loss + beta * kl_divergence(mu, logvar)
    return loss
