"""Error measures shared by chapters, benchmarks and tests.

Forecast errors (HiTS): :func:`mse_per_step`, :func:`integrated_mse`.
LED comparison measures (LED SI Sec. 7 and Sec. 8):

* :func:`nad`, :func:`mnad` — normalised absolute difference, LED eqs. (22)-(23);
* :func:`wasserstein` — 1-D Wasserstein distance, eq. (24), marginal mean for random vectors;
* :func:`l1_histogram_distance` with :func:`rice_bins` — L1 distance of normalised histograms (SI 7.3);
* :func:`power_spectrum`, :func:`periodic_derivatives`, :func:`derivative_density`,
  :func:`derivative_density_distance` — Kuramoto–Sivashinsky climate (SI 8.4, Fig. 41);
* :func:`moments` — first two moments M1, M2 of particle configurations (SI 8.1–8.2).

Inputs. Forecast/reference pairs are :class:`~hitslite.data.Trajectory` objects, tensors or numpy
arrays ``[B, T, *S]`` of equal shape; samples and fields are tensors or numpy arrays (a Trajectory is
read through its ``x``). Everything is computed in float64 on the CPU.

Outputs, one rule: a single number is a Python ``float``; curves indexed by trajectory and time
(:func:`mse_per_step`, :func:`nad`, per-channel :func:`mnad`, :func:`moments`) are float64 CPU
``torch.Tensor`` s; spectra, derivative fields, histograms and their edges — things one plots with
matplotlib — are float64 ``numpy.ndarray`` s.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from . import validate
from .data import Trajectory

__all__ = [
    "mse_per_step",
    "integrated_mse",
    "nad",
    "mnad",
    "wasserstein",
    "rice_bins",
    "l1_histogram_distance",
    "power_spectrum",
    "periodic_derivatives",
    "derivative_density",
    "derivative_density_distance",
    "moments",
    "dominant_period",
    "analogue_error",
]


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _tensor(x, name: str) -> torch.Tensor:
    """``x`` (Trajectory, tensor or numpy array) as a float64 CPU tensor."""
    x = x.x if isinstance(x, Trajectory) else x
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a Trajectory, a torch.Tensor or a numpy.ndarray, "
                        f"got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def _array(x, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array with at least one element, all finite."""
    a = _tensor(x, name).numpy()
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _pair(pred, truth) -> tuple[torch.Tensor, torch.Tensor]:
    if not all(isinstance(v, (Trajectory, torch.Tensor, np.ndarray)) for v in (pred, truth)):
        raise TypeError("pred and truth must be Trajectory objects, tensors or numpy arrays "
                        "[batch, time, *state]")
    p, q = _tensor(pred, "pred"), _tensor(truth, "truth")
    if p.shape != q.shape:
        raise ValueError(f"pred and truth must have the same shape [batch, time, *state], got "
                         f"{tuple(p.shape)} and {tuple(q.shape)}")
    if p.ndim < 3:
        raise ValueError(f"expected [batch, time, *state] (>= 3-D), got {tuple(p.shape)}")
    return p, q


def _is_count(b) -> bool:
    return isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 1


def _marginals(x: np.ndarray, axis: int | None, name: str) -> list[np.ndarray]:
    """The 1-D samples to compare: all of ``x`` flattened, or one per index along ``axis``."""
    if axis is None:
        return [x.ravel()]
    if not isinstance(axis, int) or isinstance(axis, bool) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be None or an int in [{-x.ndim}, {x.ndim - 1}] for {name} of shape "
                         f"{x.shape}, got {axis!r}")
    return [m.ravel() for m in np.moveaxis(x, axis, 0)]


def _paired_marginals(a, b, axis) -> list[tuple[np.ndarray, np.ndarray]]:
    x, y = _array(a, "a"), _array(b, "b")
    ma, mb = _marginals(x, axis, "a"), _marginals(y, axis, "b")
    if len(ma) != len(mb):
        raise ValueError(f"a and b must have the same size along axis={axis} (the variables of the random "
                         f"vector), got shapes {x.shape} and {y.shape}")
    return list(zip(ma, mb))


def _periodic_field(u, length, name: str = "u") -> tuple[np.ndarray, float]:
    x = _array(u, name)
    if x.ndim < 1 or x.shape[-1] < 3:
        raise ValueError(f"{name} must be a periodic field [..., N] with N >= 3 grid points, "
                         f"got shape {x.shape}")
    if isinstance(length, bool) or not isinstance(length, numbers.Real) or not 0 < length < math.inf:
        raise ValueError(f"length must be the positive period L of the domain, got {length!r}")
    return x, float(length)


# --------------------------------------------------------------------------------------------
# forecast errors
# --------------------------------------------------------------------------------------------
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


def nad(pred, truth, *, channel_axis: int | None = None) -> torch.Tensor:
    r"""Normalised absolute difference at every time step (LED eq. 22): ``[B, T]`` or ``[B, T, C]``.

    .. math::
        \mathrm{NAD}_b(t_j) = \frac{1}{N_x}\sum_{i=1}^{N_x}
            \frac{|y_b(x_i, t_j) - \hat y_b(x_i, t_j)|}{\max_{i,j} y_b(x_i, t_j) - \min_{i,j} y_b(x_i, t_j)}

    ``pred`` (:math:`\hat y`) and ``truth`` (:math:`y`) are Trajectory objects, tensors or arrays
    ``[B, T, *S]``. The range in the denominator is that of the **true** field of trajectory ``b``
    (one initial condition, as in the LED code) over all of space and over the ``T`` steps given.

    With ``channel_axis`` (an axis of ``S``, counted in the full ``[B, T, *S]`` layout, e.g. ``2``
    or ``-2`` for FitzHugh–Nagumo states ``[B, T, 2, 101]`` holding ``u`` and ``v``), each channel has
    its own range and its own mean over space, and the result is ``[B, T, C]``.

    Raises ``ValueError`` when a true field is constant (zero range: NAD undefined).
    """
    p, q = _pair(pred, truth)
    if channel_axis is not None:
        if (isinstance(channel_axis, bool) or not isinstance(channel_axis, int)
                or not -p.ndim <= channel_axis < p.ndim or channel_axis % p.ndim < 2):
            raise ValueError(f"channel_axis must be None or a state axis in [2, {p.ndim - 1}] (or its "
                             f"negative) of [batch, time, *state] {tuple(p.shape)}, got {channel_axis!r}")
        p, q = p.movedim(channel_axis, 2), q.movedim(channel_axis, 2)  # [B, T, C, *rest]
        p, q = (p.flatten(3), q.flatten(3)) if p.ndim > 3 else (p.unsqueeze(-1), q.unsqueeze(-1))
    else:
        p, q = p.flatten(2).unsqueeze(2), q.flatten(2).unsqueeze(2)
    # p, q: [B, T, C, space]; range per trajectory and channel over time and space
    ptp = q.amax(dim=(1, 3)) - q.amin(dim=(1, 3))  # [B, C]
    if bool((ptp == 0).any()):
        b, c = (int(i) for i in (ptp == 0).nonzero()[0])
        where = f"trajectory {b}" + (f", channel {c}" if channel_axis is not None else "")
        raise ValueError(f"truth is constant over space and time in {where}: its range max - min is 0, "
                         "so NAD (LED eq. 22) is undefined")
    out = (p - q).abs().mean(dim=3) / ptp[:, None, :]  # [B, T, C]
    return out if channel_axis is not None else out[..., 0]


def mnad(pred, truth, *, channel_axis: int | None = None) -> float | torch.Tensor:
    r"""Mean normalised absolute difference (LED eq. 23): NAD of :func:`nad` averaged over time.

    :math:`\mathrm{MNAD} = \frac{1}{N_T}\sum_j \mathrm{NAD}(t_j)`, further averaged over the ``B``
    trajectories (every trajectory has the same ``T``, so this is the mean of the per-trajectory
    MNADs). Returns a ``float``, or a ``[C]`` tensor (one MNAD per channel) with ``channel_axis``.
    """
    d = nad(pred, truth, channel_axis=channel_axis)
    return d.mean(dim=(0, 1)) if channel_axis is not None else float(d.mean())


# --------------------------------------------------------------------------------------------
# distances between distributions
# --------------------------------------------------------------------------------------------
def wasserstein(a, b, *, axis: int | None = None) -> float:
    r"""Wasserstein distance between the empirical distributions of two samples (LED eq. 24).

    .. math:: \mathrm{WD}(Z_1, Z_2) = \int_0^1 |F_{Z_1}^{-1}(\tau) - F_{Z_2}^{-1}(\tau)|\, d\tau

    computed by ``scipy.stats.wasserstein_distance``. ``a`` and ``b`` (tensors or arrays, sample
    sizes may differ) are flattened into one sample each. With ``axis`` the samples are random vectors
    whose variables lie along ``axis`` (e.g. ``axis=-1`` for particles ``[..., N, d]``); the result is
    the mean over variables of the WD of each marginal, as LED SI 7.2 reports for multivariate
    variables. Returns a ``float``.
    """
    from scipy.stats import wasserstein_distance  # here: scipy.stats is slow to import

    pairs = _paired_marginals(a, b, axis)
    return float(np.mean([wasserstein_distance(x, y) for x, y in pairs]))


def rice_bins(n: int) -> int:
    r"""Number of histogram bins by the Rice rule, :math:`\lceil 2\, n^{1/3} \rceil` (LED SI 7.3).

    Computed in integers (the smallest ``k`` with ``k^3 >= 8 n``), so perfect cubes are exact:
    ``rice_bins(27) == 6``, where ``math.ceil(2 * 27 ** (1 / 3))`` would give 7.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (number of observations), got {n!r}")
    n = int(n)
    k = max(1, int(round(2 * n ** (1 / 3))) - 1)
    while k ** 3 < 8 * n:
        k += 1
    return k


def _l1_density(x: np.ndarray, y: np.ndarray, bins, range) -> float:
    edges = np.histogram_bin_edges(np.concatenate([x, y]), bins=bins, range=range)
    p, _ = np.histogram(x, bins=edges)
    q, _ = np.histogram(y, bins=edges)
    for name, h in (("a", p), ("b", q)):
        if h.sum() == 0:
            raise ValueError(f"no observation of {name} lies in range={range!r}: its histogram is empty")
    width = np.diff(edges)
    p = p / (p.sum() * width)
    q = q / (q.sum() * width)
    return float(np.sum(np.abs(p - q) * width))


def l1_histogram_distance(a, b, *, bins: int | None = None, range: tuple[float, float] | None = None,
                          axis: int | None = None) -> float:
    r"""L1 distance of the normalised histograms of two samples on the same grid (LED SI 7.3).

    .. math:: \mathrm{L1\text{-}NHD} = \int |p(z) - q(z)|\, dz = \sum_i |p_i - q_i|\, \Delta z_i \in [0, 2]

    where :math:`p_i, q_i` are histogram **densities** (each integrates to one over the grid; numpy's
    ``density=True``), so 0 means identical histograms and 2 means no bin shared. The paper only says
    "normalized histograms"; densities make the value independent of the bin width, and equal to the
    total-variation distance (times two) of the binned distributions.

    The grid: ``bins`` equal bins (default :func:`rice_bins` of the number of observations of ``a``)
    on ``range`` (default: the joint min and max of ``a`` and ``b``). Observations outside a given
    ``range`` are ignored and each histogram is normalised over the ones inside. ``axis``: as in
    :func:`wasserstein`, the mean over marginals of a random vector (Rice bins per marginal).
    Returns a ``float``.
    """
    if bins is not None and not _is_count(bins):
        raise ValueError(f"bins must be None (Rice rule) or a positive int, got {bins!r}")
    if range is not None:
        try:
            lo, hi = range
            ok = math.isfinite(lo) and math.isfinite(hi) and lo < hi
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"range must be None or finite (low, high) with low < high, got {range!r}")
    out = [_l1_density(x, y, bins if bins is not None else rice_bins(x.size), range)
           for x, y in _paired_marginals(a, b, axis)]
    return float(np.mean(out))


# --------------------------------------------------------------------------------------------
# Kuramoto–Sivashinsky climate: spectrum and (u_x, u_xx) density
# --------------------------------------------------------------------------------------------
def power_spectrum(u, *, length: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Spatial power spectrum of periodic fields ``u [..., N]`` (LED SI 8.4, Fig. 41a).

    .. math:: E_m = \Big\langle \frac{|\hat u_m|^2}{N^2} \Big\rangle,\qquad
              \hat u_m = \sum_{n=0}^{N-1} u_n e^{-2\pi i m n / N},\quad m = 0, \dots, \lfloor N/2 \rfloor

    averaged over all leading axes (trajectories, time). With this normalisation a mode
    :math:`A \sin(k_m x)` contributes :math:`E_m = A^2/4`, and Parseval reads
    :math:`\langle \overline{u^2} \rangle = E_0 + 2\sum_{0<m<N/2} E_m + E_{N/2}` (the last term only for
    even ``N``): the interior modes of ``rfft`` stand for ``m`` and ``N - m``.

    ``length``: the period ``L`` of the domain (22 for the LED KS runs). Returns numpy arrays
    ``(k, E)``, both ``[N // 2 + 1]``, with wavenumbers :math:`k_m = 2\pi m / L`.
    """
    x, L = _periodic_field(u, length)
    n = x.shape[-1]
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2 / n ** 2
    spec = spec.reshape(-1, spec.shape[-1]).mean(axis=0)
    k = 2 * np.pi * np.arange(n // 2 + 1) / L
    return k, spec


def periodic_derivatives(u, *, length: float) -> tuple[np.ndarray, np.ndarray]:
    r"""``(u_x, u_xx)`` of periodic fields ``u [..., N]`` by 2nd-order central differences.

    .. math:: u_x \approx \frac{u_{i+1} - u_{i-1}}{2\,\Delta x}, \qquad
              u_{xx} \approx \frac{u_{i+1} - 2u_i + u_{i-1}}{\Delta x^2}, \qquad \Delta x = L / N

    with indices mod ``N``; error :math:`O(\Delta x^2)`. The grid of a periodic domain of length
    ``L`` has ``N`` points ``x_i = i L / N`` (the point ``x = L`` is ``x = 0`` again), so the spacing
    is ``L / N``. The LED reference code divided by ``L / (N - 1)`` — every derivative too small by
    the factor ``(N - 1) / N`` (u_xx by its square), an O(1/N) error (1.6 % for the KS grid N = 64).
    Returns two numpy arrays shaped like ``u``.
    """
    x, L = _periodic_field(u, length)
    dx = L / x.shape[-1]
    right, left = np.roll(x, -1, axis=-1), np.roll(x, 1, axis=-1)
    return (right - left) / (2 * dx), (right - 2 * x + left) / dx ** 2


def _bins2(bins, n: int) -> tuple[int, int]:
    if bins is None:
        return (rice_bins(n),) * 2
    pair = (bins, bins) if _is_count(bins) else bins
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(_is_count(b) for b in pair):
        raise ValueError(f"bins must be None (Rice rule), a positive int or a pair of them, got {bins!r}")
    return int(pair[0]), int(pair[1])


def _range2(range) -> tuple[tuple[float, float], tuple[float, float]] | None:
    if range is None:
        return None
    try:
        (a, b), (c, d) = range
        ok = all(math.isfinite(v) for v in (a, b, c, d)) and a < b and c < d
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"range must be None or ((ux_low, ux_high), (uxx_low, uxx_high)), finite with "
                         f"low < high, got {range!r}")
    return (float(a), float(b)), (float(c), float(d))


def derivative_density(u, *, length: float, bins=None,
                       range=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Joint density of :math:`(u_x, u_{xx})` over all points of periodic fields ``u [..., N]``.

    The KS "climate" picture of LED Fig. 8D–E and Fig. 41c–d. Derivatives from
    :func:`periodic_derivatives` (central differences, spacing ``L / N``). ``bins``: an int or a pair
    (default :func:`rice_bins` of the number of points, per axis); ``range``:
    ``((ux_low, ux_high), (uxx_low, uxx_high))`` (default the data's min and max).
    Returns numpy arrays ``(density [bins_ux, bins_uxx], ux_edges, uxx_edges)``, the density
    integrating to one over the grid (``numpy.histogram2d(..., density=True)``).
    """
    ux, uxx = periodic_derivatives(u, length=length)
    dens, ex, ey = np.histogram2d(ux.ravel(), uxx.ravel(), bins=_bins2(bins, ux.size),
                                  range=_range2(range), density=True)
    return dens, ex, ey


def derivative_density_distance(u_pred, u_true, *, length: float, bins=None, range=None) -> float:
    r"""L1 distance of the :math:`(u_x, u_{xx})` densities of two sets of periodic fields.

    .. math:: \iint |p(u_x, u_{xx}) - q(u_x, u_{xx})|\, du_x\, du_{xx} \in [0, 2]

    both densities on one grid: ``bins`` per axis (default :func:`rice_bins` of the number of points
    of ``u_true``), ``range`` as in :func:`derivative_density` (default the joint min and max of both;
    points outside a given range are ignored and each density normalised over the points inside).
    The 2-D analogue of :func:`l1_histogram_distance`. Returns a ``float``.
    """
    px, pxx = (v.ravel() for v in periodic_derivatives(u_pred, length=length))
    tx, txx = (v.ravel() for v in periodic_derivatives(u_true, length=length))
    rng = _range2(range)
    if rng is None:
        rng = tuple((min(p.min(), t.min()), max(p.max(), t.max())) for p, t in ((px, tx), (pxx, txx)))
        rng = tuple((lo - 0.5, hi + 0.5) if lo == hi else (lo, hi) for lo, hi in rng)
    nb = _bins2(bins, tx.size)
    hp, ex, ey = np.histogram2d(px, pxx, bins=nb, range=rng)
    hq, _, _ = np.histogram2d(tx, txx, bins=nb, range=rng)
    for name, h in (("u_pred", hp), ("u_true", hq)):
        if h.sum() == 0:
            raise ValueError(f"no (u_x, u_xx) point of {name} lies in range={range!r}: "
                             "its histogram is empty")
    area = np.outer(np.diff(ex), np.diff(ey))
    p, q = hp / (hp.sum() * area), hq / (hq.sum() * area)
    return float(np.sum(np.abs(p - q) * area))


def dominant_period(signal, dt: float) -> np.ndarray:
    """Period of the strongest oscillation in ``signal [..., T]`` sampled every ``dt``.

    The mean is removed, a Hann window applied, and the largest peak of the one-sided amplitude
    spectrum (zero frequency excluded) is refined by a parabola through the logarithms of it and its
    two neighbours, so periods that do not divide the record length come out to a fraction of a
    frequency bin. Returns ``[...]`` periods in the units of ``dt``. Chapter 11 uses it to compare the
    period of a forecast front with the truth's.
    """
    x = np.asarray(signal.detach().cpu() if isinstance(signal, torch.Tensor) else signal, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] < 8:
        raise ValueError(f"signal must have shape [..., T >= 8], got {x.shape}")
    dt = validate.positive_float("dt", dt)
    n = x.shape[-1]
    x = (x - x.mean(-1, keepdims=True)) * np.hanning(n)
    amp = np.abs(np.fft.rfft(x, axis=-1))
    amp[..., 0] = 0.0
    k = np.clip(amp.argmax(-1), 1, amp.shape[-1] - 2)
    lo, mid, hi = (np.log(np.take_along_axis(amp, (k + o)[..., None], -1)[..., 0] + 1e-300)
                   for o in (-1, 0, 1))
    denom = lo - 2 * mid + hi
    shift = np.where(denom != 0, 0.5 * (lo - hi) / np.where(denom != 0, denom, 1.0), 0.0)
    return n * dt / (k + np.clip(shift, -0.5, 0.5))


def analogue_error(coords: torch.Tensor, states: torch.Tensor, stride: int, *, n_queries: int = 1000,
                   exclude: int = 100, generator: torch.Generator | None = None,
                   chunk: int = 250) -> float:
    """Do the coordinates determine the future? The method of analogues (Lorenz 1969).

    For ``n_queries`` random points ``(b, t)`` of trajectories ``coords [B, T, d]`` (with
    ``t + stride < T``) the nearest other point in coordinate space is found — excluding points of the
    same trajectory within ``exclude`` steps, which are near only because they are adjacent in time —
    and its future ``stride`` steps later is used as the forecast. Returns the mean squared error of
    that forecast, scored in ``states [B, T, *S]`` (pass ``states = coords`` to score in the
    coordinates themselves). Zero data noise and dense data give zero error exactly when the future
    is a function of the coordinates; a value that grows with ``stride`` far faster than a smooth flow
    map's error says that states with the same coordinates part ways: the coordinates are not a state.
    """
    validate.tensor("coords", coords, "[B, T, d]")
    validate.tensor("states", states, "[B, T, *S]")
    if coords.ndim != 3 or states.ndim < 2 or states.shape[:2] != coords.shape[:2]:
        raise ValueError(f"coords must be [B, T, d] and states [B, T, ...] with the same B, T; got "
                         f"{tuple(coords.shape)} and {tuple(states.shape)}")
    n_b, n_t = coords.shape[:2]
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride < n_t:
        raise ValueError(f"stride must be an int in [1, {n_t}), got {stride!r}")
    n_queries = validate.positive_int("n_queries", n_queries)
    exclude = validate.nonnegative_int("exclude", exclude)
    chunk = validate.positive_int("chunk", chunk)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    n = n_t - stride
    pts = coords[:, :n].reshape(n_b * n, -1).double()
    future = states[:, stride:].reshape(n_b * n, -1).double()
    traj, time_ = torch.arange(n_b).repeat_interleave(n), torch.arange(n).repeat(n_b)
    queries = torch.randint(0, n_b * n, (n_queries,), generator=generator)
    err = 0.0
    for start in range(0, n_queries, chunk):
        q = queries[start:start + chunk]
        d = torch.cdist(pts[q], pts)
        near_in_time = (traj[q][:, None] == traj[None]) & ((time_[q][:, None] - time_[None]).abs() < exclude)
        d[near_in_time] = math.inf
        err += float(((future[q] - future[d.argmin(1)]) ** 2).sum())
    return err / (n_queries * future.shape[1])


# --------------------------------------------------------------------------------------------
# particles
# --------------------------------------------------------------------------------------------
def moments(positions, *, average_dims: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""First two moments of particle configurations ``x [..., N, d]`` (LED SI 8.1–8.2): ``(M1, M2)``.

    .. math:: M_1 = \frac{1}{N}\sum_{n=1}^N x^n, \qquad M_2 = \frac{1}{N}\sum_{n=1}^N (x^n - M_1)^2

    per dimension, over the ``N`` particles (axis ``-2``); ``M2`` is the population variance (divisor
    ``N``). Both are ``[..., d]`` float64 tensors, e.g. ``[B, T, d]`` for a Trajectory of
    advection–diffusion states ``[B, T, N, d]``. ``average_dims=True`` averages them over the ``d``
    dimensions, ``[...]``, as the paper does for the 3-D case ("All metrics are averaged over the three
    dimensions", SI 8.2).
    """
    x = _tensor(positions, "positions")
    if x.ndim < 2 or x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"positions must be particle configurations [..., N, d] with N, d >= 1, "
                         f"got shape {tuple(x.shape)}")
    m1 = x.mean(dim=-2)
    m2 = ((x - m1.unsqueeze(-2)) ** 2).mean(dim=-2)
    if average_dims:
        return m1.mean(dim=-1), m2.mean(dim=-1)
    return m1, m2
