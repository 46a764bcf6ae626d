"""Checks for the exercises of Part II (PDEs, coordinates, L-HiTS), Chapters 7-9."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .common import (
    as_integer,
    as_number,
    as_tensor,
    call_student,
    close,
    judge_order,
    judge_timing,
    report,
    shown,
)

__all__ = [
    "KS_L22_LYAPUNOV",
    "check_etdrk4_order", "check_lyapunov_exponent", "check_uniform_variance", "check_pca_test_error",
    "check_pca_leak", "check_energy_dimension", "check_lhits_map_calls", "check_latent_speedup",
    "check_analogue_error"
]

#: Largest Lyapunov exponent of Kuramoto–Sivashinsky with L = 22 (LED SI 8.4), the invariant
#: :func:`check_lyapunov_exponent` judges estimates against.
KS_L22_LYAPUNOV = 0.048


# ============================================================================================
# Chapter 7 (classical PDE and particle solvers)
# ============================================================================================
def check_etdrk4_order(error: Callable[[float], float], steps: Sequence[float]) -> bool:
    """Exercise (Ch. 7): ``error(dt)`` is ETDRK4's global error on Kassam & Trefethen's problem with step
    ``dt``; the check evaluates it at ``steps``, fits the order itself and accepts 3.7–4.3."""
    return judge_order("ETDRK4 order", error, steps, 3.7, 4.3, 1e-12)


def check_lyapunov_exponent(estimate: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Exercise (Ch. 7): ``estimate(x0 [B, 64]) -> [B]`` estimates the largest Lyapunov exponent of KS with
    L = 22 from raw initial states (transient included). The check draws four initial states of
    ``get_system("ks", preset="led")`` itself and accepts a mean within 25% of :data:`KS_L22_LYAPUNOV`."""
    from ..systems import get_system

    name = "Lyapunov exponent"
    if not callable(estimate):
        return report(False, name, f"pass your function estimate(x0) -> one exponent per initial state, not "
                       f"{shown(estimate)}: the check runs it from initial states of its own")
    x0 = get_system("ks", preset="led").sample_initial(4, torch.Generator().manual_seed(2024))
    out, err = call_student(estimate, x0.clone())
    if err:
        return report(False, name, f"estimate(x0 [4, 64]) raised {err}")
    lam = as_tensor(out)
    if lam is None or lam.shape != (4,) or not bool(torch.isfinite(lam).all()):
        return report(False, name, f"estimate(x0 [4, 64]) should return 4 finite exponents, got "
                       f"{shown(out)}")
    mean = float(lam.mean())
    ok = abs(mean - KS_L22_LYAPUNOV) <= 0.25 * KS_L22_LYAPUNOV
    return report(ok, name, f"from the check's four initial states your estimates average {mean:.4f}: start "
                   "on the attractor (drop >= 100 time units), renormalise every ~1 time unit, divide the "
                   "sum of log-stretchings by the total time, and average over >= 1000 time units")


def check_uniform_variance(variance: float, positions=None, L: float = 1.0) -> bool:
    """Exercise (Ch. 7): ``positions [..., N, 1]`` (or ``[N]``) of particles reflected in ``[-L/2, L/2]``
    after a long time are uniform there, and ``variance`` is their variance. Judged against the stationary
    invariant: all inside the box, a Kolmogorov–Smirnov distance to the uniform law within sampling noise,
    and a variance within 5% of L^2 / 12."""
    name = "stationary variance"
    if positions is None:
        return report(False, name, "pass the simulated positions too: "
                       "check_uniform_variance(variance, positions)")
    x, got, L = as_tensor(positions), as_number(variance), float(L)
    if x is None or x.numel() < 100:
        return report(False, name, f"positions should hold at least 100 particles, got {shown(positions)}")
    x = x.flatten()
    if got is None or not math.isclose(got, float(x.var()), rel_tol=0.02):
        return report(False, name, f"got {shown(variance)}, which is not the variance of the positions you "
                       "passed: the variance is the mean squared distance from the mean (not the std)")
    if bool((x.abs() > L / 2 + 1e-9).any()):
        return report(False, name, "some particles lie outside [-L/2, L/2]: the walls must reflect them")
    u = torch.sort((x + L / 2) / L).values
    n = u.numel()
    ks = float(torch.maximum(torch.arange(1, n + 1) / n - u, u - torch.arange(n) / n).max())
    ok = ks <= 3 / math.sqrt(n) and abs(got - L**2 / 12) <= 0.05 * L**2 / 12
    return report(ok, name, "your particles are not yet spread uniformly over the box: a uniform density on "
                   "an interval of length L has variance L^2/12; simulate for a few diffusion times L^2/D")


# ============================================================================================
# Chapters 8-9 (learned coordinates, L-HiTS)
# ============================================================================================
def lhits_snapshots(system: str) -> dict:
    """The L-HiTS data of ``system`` as ``{split: [trajectories, steps, flat state]}`` (what the PCA
    checks fit and score on)."""
    from ..data import lhits_splits

    splits = lhits_splits(system)
    return {k: v.x.reshape(*v.x.shape[:2], -1) for k, v in splits.items()}


def _pca_mse(fit_on: torch.Tensor, test: torch.Tensor, z: int) -> float:
    from ..nets import PCA

    return float(((PCA(test.shape[-1], z).fit(fit_on)(test) - test) ** 2).mean())


def check_pca_test_error(mse: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): test reconstruction MSE of a PCA with ``z`` modes fitted on the *training* split."""
    x = lhits_snapshots(system)
    want = _pca_mse(x["train"], x["test"], z)
    return report(close(mse, want, 1e-3), "PCA test error", f"got {shown(mse)}; fit on the training "
                   "snapshots only, then average the squared error over every test snapshot and component")


def check_pca_leak(honest: float, leaky: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): PCA test error fitted on train (``honest``) and refit on test (``leaky``)."""
    x = lhits_snapshots(system)
    ok_h = close(honest, _pca_mse(x["train"], x["test"], z), 1e-3)
    ok_l = close(leaky, _pca_mse(x["test"], x["test"], z), 1e-3)
    wrong = " and ".join(w for w, ok in (("honest", ok_h), ("leaky", ok_l)) if not ok)
    return report(ok_h and ok_l, "PCA leak", f"your {wrong} value is off; honest: fit on the training "
                   "snapshots, score on the test ones; leaky: fit on the very test snapshots it is scored on")


def check_energy_dimension(z: int, system: str, fraction: float = 0.99) -> bool:
    """Exercise (Ch. 8): smallest number of PCA modes holding ``fraction`` of the training variance."""
    x = lhits_snapshots(system)["train"]
    flat = x.reshape(-1, x.shape[-1])
    s2 = torch.linalg.svdvals(flat - flat.mean(dim=0)) ** 2
    want = int((torch.cumsum(s2, 0) / s2.sum() < fraction).sum()) + 1
    return report(as_integer(z) == want, "energy dimension", f"got {shown(z)}; sort the squared singular "
                   "values of the centred training snapshots, accumulate, and find the first index where the "
                   f"share reaches {fraction:g} (count from 1)")


def check_lhits_map_calls(encoder_calls: int, decoder_calls: int) -> bool:
    """Exercise (Ch. 9): how many times one ``Latent.forecast`` calls the encoder and the decoder — counted
    here by running :meth:`~hitslite.neural.Latent.forecast` of a three-level probe hierarchy."""
    from ..multiscale import Hierarchy
    from ..neural import Latent
    from ..steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, z):
            return 0.9 * z

    calls = {"encode": 0, "decode": 0}

    def encode(x):
        calls["encode"] += 1
        return x[..., :2]

    def decode(z):
        calls["decode"] += 1
        return torch.cat([z, z], dim=-1)

    x0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Latent(encode, Hierarchy([_Probe(4.0), _Probe(2.0), _Probe(1.0)]), decode).forecast(x0, 16)
    got = (as_integer(encoder_calls), as_integer(decoder_calls))
    return report(got == (calls["encode"], calls["decode"]), "encoder/decoder calls",
                   f"got ({encoder_calls!r}, {decoder_calls!r}); wrap encode and decode in functions that "
                   "count, run ONE Latent.forecast, and read the counters; Algorithm 1 touches the full "
                   "state only in line 3 (encode) and line 13 (decode), each applied to a whole batch")


def check_latent_speedup(ratio: float, full: Callable[[], object], latent: Callable[[], object]) -> bool:
    """Exercise (Ch. 9): the prediction-time ratio full-state HiTS / L-HiTS. ``full`` and ``latent`` are the
    two forecasts as functions without arguments; the check runs them (it does not time them, see
    :func:`check_speedup`) and checks that they forecast the same states and ``ratio`` is positive."""
    return judge_timing("latent speed-up", ratio, full, latent)


def check_analogue_error(answer: float, x, stride: int, *, n_queries: int, seed: int) -> bool:
    """Exercise (Ch. 9): the analogue error of trajectories ``x [B, T, n]`` scored in ``x`` itself, relative
    to ``x``'s variance, with ``torch.Generator().manual_seed(seed)`` drawing the queries."""
    from ..metrics import analogue_error

    x = as_tensor(x)
    want = analogue_error(x, x, int(stride), n_queries=n_queries,
                          generator=torch.Generator().manual_seed(seed)) / float(x.var())
    return report(close(answer, want, 1e-6), "analogue error", f"got {shown(answer)}; "
                   "analogue_error(x, x, stride, ...) divided by x.var(), with a generator seeded as stated")
