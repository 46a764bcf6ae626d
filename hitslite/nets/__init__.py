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

One module per family: :mod:`hitslite.nets.coordinates` (L-HiTS), :mod:`hitslite.nets.led` (LED fields),
:mod:`hitslite.nets.particles` (LED particles), the shared parts in :mod:`hitslite.nets.common`; every
name is importable from ``hitslite.nets``.
"""

from .common import ResidualMLP
from .coordinates import PCA, TABLE5_FHN_HIDDEN, TABLE6_KS_HIDDEN, Autoencoder, reconstruction_loss
from .led import ConvAutoencoder, LEDAutoencoder, kl_divergence, led_autoencoder_loss
from .particles import (
    MDN_EPS,
    MDN_SCALE_FLOOR,
    MixtureDensityDecoder,
    ParticleAutoencoder,
    PermutationInvariantEncoder,
    mdn_loss,
    particle_autoencoder_loss,
)

__all__ = [
    "Autoencoder", "PCA", "reconstruction_loss", "TABLE5_FHN_HIDDEN", "TABLE6_KS_HIDDEN",
    "ResidualMLP", "LEDAutoencoder", "ConvAutoencoder", "kl_divergence", "led_autoencoder_loss",
    "PermutationInvariantEncoder", "MixtureDensityDecoder", "ParticleAutoencoder", "mdn_loss",
    "particle_autoencoder_loss", "MDN_EPS", "MDN_SCALE_FLOOR",
]
