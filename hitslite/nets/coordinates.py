"""L-HiTS coordinates: the MLP :class:`Autoencoder` (Tables 5-6), the :class:`PCA` baseline fitted on training
data only, and the reconstruction loss (eq. 10)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..neural import MLP
from ..validate import positive_int as _positive_int
from .common import (
    Coordinates,
    check_training_states,
    state_shape_of,
)

__all__ = ["Autoencoder", "PCA", "reconstruction_loss", "TABLE5_FHN_HIDDEN", "TABLE6_KS_HIDDEN"]

#: L-HiTS Table 5 (FHN): AE architecture 100 : 100 : 100 : z (mirrored), on states of 202 values.
TABLE5_FHN_HIDDEN = (100, 100, 100)
#: L-HiTS Table 6 (KS): AE architecture 120 : 120 : 100 : z (mirrored), on states of 120 values.
TABLE6_KS_HIDDEN = (120, 120, 100)


class Autoencoder(Coordinates):
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
        self.state_shape = state_shape_of(state_shape)
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
        check_training_states(x, self.state_shape, "Autoencoder")
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


class PCA(Coordinates):
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
        self.state_shape = state_shape_of(state_shape)
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
        check_training_states(x, self.state_shape, "PCA")
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
