"""LED coarse-graining networks for particles (SI 6.3-6.4): the permutation-invariant encoder, the
mixture-density decoder, the two together, and their negative log-likelihood losses."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..neural import ACTIVATIONS
from ..validate import int_at_least as _count
from ..validate import nonnegative_float as _nonnegative
from .common import (
    ResidualMLP,
    box,
    rand_from,
    randn_from,
)

__all__ = [
    "MDN_SCALE_FLOOR", "MDN_EPS", "PermutationInvariantEncoder", "MixtureDensityDecoder",
    "ParticleAutoencoder", "mdn_loss", "particle_autoencoder_loss"
]

#: LED SI 6.4: lower bound added to the softplus diagonal of each Cholesky factor (in units of ``v``),
#: so that no mixture component collapses onto a point and its log-density stays finite.
MDN_SCALE_FLOOR = 1e-4
#: LED SI 6.4: scaled positions ``s`` are clamped to ``[eps, 1 - eps]`` before ``v = softplus^{-1}(s)``
#: (``softplus^{-1}(0) = -inf``).
MDN_EPS = 1e-6
#: ``softplus^{-1}(1) = log(e - 1)``: the largest ``v`` whose position lies inside the box.
_V_MAX = math.log(math.e - 1.0)


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
        lo, hi = box(low, high, particle_dim)
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
        lo, hi = box(low, high, d)
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
        idx = torch.searchsorted(cdf.contiguous(), rand_from((b, n), cdf, generator)).clamp(max=k - 1)
        loc = torch.gather(loc.reshape(b, k, d), 1, idx[..., None].expand(b, n, d))
        tril = torch.gather(tril.reshape(b, k, d, d), 1, idx[..., None, None].expand(b, n, d, d))
        v = loc + (tril @ randn_from((b, n, d, 1), loc, generator)).squeeze(-1)
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
