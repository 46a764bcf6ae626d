"""The four sequences of HiTS Sec. 3.2 (Table 1): the KS solution and three labelled stand-ins.

The paper benchmarks sequence generation on a Kuramoto–Sivashinsky solution, 22 POD
coefficients of an IBPM simulation of the cylinder wake at Re = 100, a 2-second excerpt of
Bach's Fugue No. 1 (BWV 846) and a 175-frame video of blooming flowers (App. A.3). Only the
first can be regenerated here (by our own ETDRK4 solver); the other three are **stand-ins**
built by this module with the same shapes and the same preprocessing:

* :func:`fluid_sequence` — an *analytic* vortex street (Lamb–Oseen vortices shed alternately
  behind a cylinder and advected downstream, on top of a Gaussian velocity deficit); the
  streamwise velocity on a grid is reduced to its first 22 POD coefficients, as App. A.3 does
  with the IBPM field. It is exactly periodic (a limit cycle), like the Re = 100 wake.
* :func:`music_sequence` — a *synthesized* three-voice, fugue-like piece (a subject in C major
  answered at the fifth and in the bass, plucked-string envelopes), sampled at 1102 Hz for 2 s
  and time-delay embedded with 128 delays: a ``2077 x 128`` sequence, the shape of App. A.3.
* :func:`video_sequence` — a *procedurally generated* 175-frame RGB clip of three flowers
  opening at staggered times over swaying grass, reduced to 64 PCA coefficients (PCA fitted on
  the training frames only).

:func:`sequence_dataset` returns any of the four, cached under ``data/cache`` by
:func:`~hitslite.data.cached`. :func:`normalise` applies the reference code's normalisation,
``(x - mean) / ptp`` with scalar mean and peak-to-peak range (the authors' code normalised so).
All sequences are a batch of one trajectory, ``x [1, T, D]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .data import DATA_VERSION, Trajectory, cached

__all__ = [
    "SEQUENCES",
    "sequence_dataset",
    "fluid_sequence",
    "music_sequence",
    "video_sequence",
    "video_frames",
    "video_decoder",
    "normalise",
    "denormalise",
    "Normalisation",
    "delay_embed",
]

#: the four sequences of HiTS Table 1; ``True`` marks a stand-in for data we cannot download
SEQUENCES = {"ks": False, "fluid": True, "music": True, "video": True}


# ----------------------------------------------------------------------------------------
# Normalisation (the reference code: mean / peak-to-peak over the whole array)
# ----------------------------------------------------------------------------------------
class Normalisation:
    """``x -> (x - mean) / ptp`` with scalar ``mean`` and ``ptp = max - min`` of the training data."""

    def __init__(self, mean: float, ptp: float):
        if not (math.isfinite(mean) and math.isfinite(ptp) and ptp > 0):
            raise ValueError(f"need a finite mean and a positive finite ptp, got {mean!r}, {ptp!r}")
        self.mean, self.ptp = float(mean), float(ptp)

    @classmethod
    def fit(cls, x: torch.Tensor) -> Normalisation:
        return cls(float(x.mean()), float(x.max() - x.min()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.ptp

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.ptp + self.mean

    def __repr__(self) -> str:
        return f"Normalisation(mean={self.mean:.4g}, ptp={self.ptp:.4g})"


def normalise(traj: Trajectory) -> tuple[Trajectory, Normalisation]:
    """``(x - mean) / ptp`` of ``traj.x [B, T, *S]`` (scalars over the whole array), and the map used.

    The reference code normalises every sequence this way before training; errors are
    reported back in the data's own units with :meth:`Normalisation.inverse`.
    """
    if not isinstance(traj, Trajectory):
        raise TypeError(f"traj must be a Trajectory, got {type(traj).__name__}")
    norm = Normalisation.fit(traj.x)
    meta = dict(traj.meta, normalisation={"mean": norm.mean, "ptp": norm.ptp})
    return Trajectory(traj.t, norm(traj.x), traj.dt, meta), norm


def denormalise(x, norm: Normalisation):
    """Inverse of :func:`normalise` for a tensor or a Trajectory."""
    if isinstance(x, Trajectory):
        return Trajectory(x.t, norm.inverse(x.x), x.dt, dict(x.meta))
    return norm.inverse(x)


def pca_coefficients(snapshots: np.ndarray, n_components: int, n_train: int) -> np.ndarray:
    """Coefficients ``[T, n_components]`` of mean-subtracted ``snapshots [T, P]`` on the leading
    principal directions of the first ``n_train`` snapshots (the training part only)."""
    if not 1 <= n_train <= snapshots.shape[0]:
        raise ValueError(f"n_train must be in [1, {snapshots.shape[0]}], got {n_train!r}")
    if not 1 <= n_components <= min(n_train, snapshots.shape[1]):
        raise ValueError(
            f"n_components must be in [1, {min(n_train, snapshots.shape[1])}], got {n_components!r}"
        )
    train = snapshots[:n_train]
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    return (snapshots - mean) @ vt[:n_components].T


def delay_embed(signal: np.ndarray | torch.Tensor, delays: int) -> torch.Tensor:
    """Time-delay embedding ``[T - delays + 1, delays]``: row ``n`` is ``signal[n : n + delays]``."""
    s = torch.as_tensor(signal, dtype=torch.float64)
    if s.ndim != 1:
        raise ValueError(f"signal must be 1-D [T], got shape {tuple(s.shape)}")
    if isinstance(delays, bool) or not isinstance(delays, int) or not 1 <= delays <= s.shape[0]:
        raise ValueError(f"delays must be an int in [1, {s.shape[0]}], got {delays!r}")
    return s.unfold(0, delays, 1).clone()


# ----------------------------------------------------------------------------------------
# Fluid-flow stand-in: analytic vortex street -> 22 POD coefficients
# ----------------------------------------------------------------------------------------
def _vortex_street_u(
    t: float,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    period: float,
    convection: float,
    offset: float,
    circulation: float,
    core: float,
    viscosity: float,
    deficit: float,
) -> np.ndarray:
    """Streamwise velocity of a free stream (U = 1) minus a Gaussian wake deficit plus alternately
    signed Lamb-Oseen vortices shed every half ``period`` at ``x = 1``, ``y = +-offset``."""
    u = 1.0 - deficit * np.exp(-((Y / (0.6 + 0.08 * np.clip(X, 0, None))) ** 2)) * (X > 0.0)
    # every vortex shed before t that is still inside the domain (x < 14)
    n_last = math.floor(t / (period / 2))
    age_max = (14.0 - 1.0) / convection
    for n in range(n_last, n_last - int(age_max / (period / 2)) - 2, -1):
        age = t - n * period / 2
        if age < 0 or age > age_max:
            continue
        sign = 1.0 if n % 2 == 0 else -1.0
        xv, yv = 1.0 + convection * age, sign * offset
        sigma2 = core**2 + 4 * viscosity * age
        r2 = (X - xv) ** 2 + (Y - yv) ** 2 + 1e-12
        strength = sign * circulation * math.exp(-0.02 * age) * (1 - math.exp(-age / 0.5))
        u += -strength / (2 * math.pi) * (Y - yv) / r2 * (1 - np.exp(-r2 / sigma2))
    return u * (X**2 + Y**2 > 0.25)  # no flow inside the cylinder (radius 0.5)


def fluid_sequence(
    n_snapshots: int = 1001,
    *,
    n_modes: int = 22,
    dt: float = 0.2,
    grid=(64, 32),
    period: float = 5.96,
    n_train: int | None = None,
) -> Trajectory:
    """STAND-IN for the IBPM cylinder wake of HiTS App. A.3: 22 POD coefficients ``[1, T, 22]``.

    An analytic vortex street (see the module docstring) sampled every ``dt`` on a
    ``grid = (nx, ny)`` over ``[-2, 14] x [-4, 4]``; the shedding ``period`` (Strouhal number
    1 / period = 0.17 for a unit diameter and speed, as at Re = 100) is not a multiple of ``dt``.
    POD (PCA of the mean-subtracted streamwise velocity) is fitted on the first ``n_train``
    snapshots (default: all of them, the paper's protocol, where the whole sequence is the
    training sequence).
    """
    nx, ny = grid
    xs, ys = np.linspace(-2, 14, nx), np.linspace(-4, 4, ny)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    t0 = 10 * period  # start on the limit cycle: the domain is already full of vortices
    params = dict(
        period=period, convection=0.85, offset=0.4, circulation=2.2, core=0.35, viscosity=0.01, deficit=0.6
    )
    field = np.stack([_vortex_street_u(t0 + k * dt, X, Y, **params).ravel() for k in range(n_snapshots)])
    coeffs = pca_coefficients(field, n_modes, n_snapshots if n_train is None else n_train)
    t = torch.arange(n_snapshots, dtype=torch.float64) * dt
    return Trajectory(
        t, torch.from_numpy(coeffs)[None], dt, {"stand_in": True, "source": "analytic vortex street"}
    )


# ----------------------------------------------------------------------------------------
# Music stand-in: a synthesized three-voice fugue-like excerpt at 1102 Hz, 128 delays
# ----------------------------------------------------------------------------------------
#: a subject in C major (MIDI pitch, length in eighth notes), in the spirit of BWV 846's
_SUBJECT = [
    (48, 1),
    (50, 1),
    (52, 1),
    (53, 3),
    (55, 1),
    (53, 1),
    (52, 1),
    (57, 2),
    (50, 1),
    (55, 2),
    (53, 1),
    (52, 1),
    (50, 1),
    (52, 2),
    (48, 2),
]


def _voice(entries_at: float, transpose: int, rate: float, n: int, eighth: float, gain: float) -> np.ndarray:
    out = np.zeros(n)
    t_note = entries_at
    tt = np.arange(n) / rate
    nyquist = rate / 2
    for pitch, length in _SUBJECT * 2:
        dur = length * eighth
        f0 = 440.0 * 2 ** ((pitch + transpose - 69) / 12)
        on = (tt >= t_note) & (tt < t_note + dur + 0.15)
        age = tt[on] - t_note
        env = (1 - np.exp(-age / 0.01)) * np.exp(-age / (0.6 * dur + 0.05))
        tone = np.zeros_like(age)
        for k, amp in ((1, 1.0), (2, 0.45), (3, 0.2)):
            if k * f0 < 0.9 * nyquist:  # no aliasing
                tone += amp * np.sin(2 * np.pi * k * f0 * age)
        out[on] += gain * env * tone
        t_note += dur
    return out


def music_sequence(*, rate: int = 1102, seconds: float = 2.0, delays: int = 128) -> Trajectory:
    """STAND-IN for the Bach excerpt of HiTS App. A.3: ``[1, 2077, 128]`` delay vectors.

    A synthesized fugue-like signal (subject in the middle voice, the answer a fifth up after
    0.5 s, the subject an octave down after 1 s; harmonics below Nyquist only) sampled at
    ``rate`` Hz for ``seconds`` s, then embedded with ``delays`` delays
    (:func:`delay_embed`): ``1102 * 2 - 128 + 1 = 2077`` states of dimension 128.
    """
    n = int(round(rate * seconds))
    eighth = 0.125
    signal = (
        _voice(0.0, 0, rate, n, eighth, 1.0)
        + _voice(0.5, 7, rate, n, eighth, 0.8)
        + _voice(1.0, -12, rate, n, eighth, 0.9)
    )
    x = delay_embed(signal, delays)
    t = torch.arange(x.shape[0], dtype=torch.float64) / rate
    return Trajectory(t, x[None], 1.0 / rate, {"stand_in": True, "source": "synthesized fugue-like signal"})


# ----------------------------------------------------------------------------------------
# Video stand-in: procedurally generated blooming flowers -> 64 PCA coefficients
# ----------------------------------------------------------------------------------------
def video_frames(n_frames: int = 175, height: int = 45, width: int = 80) -> np.ndarray:
    """The stand-in clip: ``[n_frames, height, width, 3]`` RGB in [0, 1], three flowers opening.

    Each flower's opening ``b(t)`` is a logistic ramp starting at its own time; petals are a
    smooth polar shape ``r < R b (0.55 + 0.45 |cos(k theta / 2 + spin t)|)`` whose colour
    deepens as it opens; the background is grass whose stripes sway sinusoidally.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    yy, xx = yy / height, xx / width * (width / height)
    frames = np.empty((n_frames, height, width, 3))
    flowers = [  # centre (x, y), radius, petals, start frame, colour when open, spin
        ((0.45, 0.45), 0.28, 5, 10, (0.95, 0.35, 0.55), 0.010),
        ((1.05, 0.55), 0.24, 6, 55, (0.95, 0.85, 0.25), -0.012),
        ((1.45, 0.35), 0.20, 8, 100, (0.65, 0.40, 0.90), 0.015),
    ]
    for f in range(n_frames):
        sway = 0.03 * np.sin(2 * np.pi * f / 60)
        stripes = 0.5 + 0.5 * np.sin(40 * (xx + sway * (1 - yy)) + 3 * yy)
        img = np.stack([0.15 + 0.05 * stripes, 0.45 + 0.15 * stripes + 0.1 * yy, 0.15 + 0.05 * stripes], -1)
        for (cx, cy), radius, k, start, colour, spin in flowers:
            b = 1 / (1 + np.exp(-(f - start - 25) / 8))
            dx, dy = xx - cx, yy - cy
            r, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
            shape = radius * b * (0.55 + 0.45 * np.abs(np.cos(k * theta / 2 + spin * f)))
            petal = 1 / (1 + np.exp(-(shape - r) / 0.01))
            bud = np.array([0.3, 0.6, 0.25])
            col = (1 - b) * bud + b * np.array(colour)
            img = img * (1 - petal[..., None]) + petal[..., None] * col
            centre = 1 / (1 + np.exp(-(0.05 * (0.4 + 0.6 * b) - r) / 0.008))
            img = img * (1 - centre[..., None]) + centre[..., None] * np.array([0.95, 0.8, 0.1])
        frames[f] = np.clip(img, 0, 1)
    return frames


def video_sequence(
    n_frames: int = 175,
    *,
    n_components: int = 64,
    height: int = 45,
    width: int = 80,
    n_train: int | None = None,
) -> Trajectory:
    """STAND-IN for the flower video of HiTS App. A.3: 64 PCA coefficients ``[1, 175, 64]``.

    :func:`video_frames` flattened to ``[T, height * width * 3]``; PCA is fitted on the first
    ``n_train`` frames only (default: all, the paper's protocol — the whole clip is the training
    sequence) and applied to every frame. One frame is one time unit.
    """
    frames = video_frames(n_frames, height, width).reshape(n_frames, -1)
    coeffs = pca_coefficients(frames, n_components, n_frames if n_train is None else n_train)
    t = torch.arange(n_frames, dtype=torch.float64)
    return Trajectory(
        t, torch.from_numpy(coeffs)[None], 1.0, {"stand_in": True, "source": "procedural flowers"}
    )


def video_decoder(
    n_frames: int = 175,
    *,
    n_components: int = 64,
    height: int = 45,
    width: int = 80,
    n_train: int | None = None,
):
    """The map from :func:`video_sequence` coefficients ``[..., n_components]`` back to frames
    ``[..., height, width, 3]`` (the same PCA, refitted on the same training frames)."""
    frames = video_frames(n_frames, height, width).reshape(n_frames, -1)
    train = frames[: n_frames if n_train is None else n_train]
    mean = train.mean(axis=0)
    basis = np.linalg.svd(train - mean, full_matrices=False)[2][:n_components]

    def decode(coeffs) -> np.ndarray:
        c = np.asarray(torch.as_tensor(coeffs).detach().cpu().double())
        return np.clip((c @ basis + mean).reshape(*c.shape[:-1], height, width, 3), 0, 1)

    return decode


# ----------------------------------------------------------------------------------------
def sequence_dataset(name: str, *, refresh: bool = False) -> Trajectory:
    """One of the four sequences of HiTS Table 1, cached: ``"ks"``, ``"fluid"``, ``"music"``, ``"video"``.

    ``"ks"`` is :func:`~hitslite.data.ks_dataset` with ``preset="hits"`` (512 nodes on
    (0, 16 pi), 4001 snapshots, App. A.3); the others are the stand-ins of this module. Returns
    the raw (un-normalised) float64 trajectory ``x [1, T, D]``; ``meta['stand_in']`` says which
    is which.
    """
    if name not in SEQUENCES:
        raise ValueError(f"name must be one of {sorted(SEQUENCES)}, got {name!r}")
    if name == "ks":
        from .data import ks_dataset

        traj = ks_dataset("train", preset="hits", refresh=refresh)
        traj.meta["stand_in"] = False
        return traj
    builders = {"fluid": fluid_sequence, "music": music_sequence, "video": video_sequence}
    recipe = {
        "name": f"seqgen-{name}",
        "builder": builders[name].__name__,
        "version": DATA_VERSION,
        "stand_in": True,
    }
    return cached(recipe, builders[name], refresh=refresh)
