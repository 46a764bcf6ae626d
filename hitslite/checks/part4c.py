"""Checks for the exercises of Chapter 14 (the three methods head to head): the predictability time, the
sequential depth of Algorithm 1 and the Wasserstein distance of two samples, rebuilt by the student and
judged on cases the checks draw themselves, against :func:`hitslite.metrics.nad`,
:meth:`hitslite.multiscale.Hierarchy.cost` and ``scipy.stats.wasserstein_distance``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .common import as_integer, as_number, call_student, linear_stepper, report, shown

__all__ = ["check_predictability_time", "check_sequential_depth", "check_wasserstein_1d"]


def _first_above(curve: torch.Tensor, threshold: float) -> int | None:
    above = (curve > threshold).nonzero()
    return int(above[0]) if len(above) else None


def _predictability(pred, truth, dt, lyapunov, threshold=0.1, *, offset=1, per_start_range=True,
                    lyap_units=True, mean_first=True):
    """Reference and its typical slips: the first time the mean NAD over the forecasts exceeds
    ``threshold``."""
    from ..metrics import nad

    p, q = pred[:, 1:], truth[:, 1:]
    if per_start_range:
        curves = nad(p, q)
    else:  # one range for all forecasts together
        ptp = q.amax() - q.amin()
        curves = (p - q).abs().flatten(2).mean(dim=2) / ptp
    if mean_first:
        i = _first_above(curves.mean(0), threshold)
        if i is None:
            return math.inf
        t = (i + offset) * dt
    else:  # median of the per-forecast times
        times = []
        for c in curves:
            j = _first_above(c, threshold)
            times.append(math.inf if j is None else (j + offset) * dt)
        t = float(np.median(times))
    return t * lyapunov if lyap_units else t


def check_predictability_time(predictability_time: Callable) -> bool:
    """Exercise (Ch. 14): ``predictability_time(pred, truth, dt, lyapunov, threshold=0.1)`` with forecasts and
    truths ``[M, T + 1, N]`` (index 0 the common initial state, excluded) returns the first time at which
    the NAD (LED eq. 22, each forecast's own true range), averaged over the ``M`` forecasts, exceeds
    ``threshold``, in Lyapunov times (``time * lyapunov``); ``math.inf`` if it never does. Judged on
    forecasts the check draws: errors growing exponentially at random rates, different ranges per
    forecast, a forecast that never crosses, steps of 0.25 and 1."""
    name = "predictability time"
    if not callable(predictability_time):
        return report(False, name, f"pass your function predictability_time(pred, truth, dt, lyapunov, "
                       f"threshold=0.1), not {shown(predictability_time)}: the check runs it on its own data")
    gen = torch.Generator().manual_seed(1401)
    cases = [(0.25, 0.048, 0.1, 6, 200, 1.0), (1.0, 0.05, 0.2, 5, 120, 1.0), (0.25, 0.048, 0.1, 4, 60, 1e-4)]
    for dt, lyap, threshold, m, t, growth in cases:
        x = torch.linspace(0, 2 * math.pi, 33, dtype=torch.float64)[:-1]
        amp = 1 + 4 * torch.rand(m, 1, 1, generator=gen, dtype=torch.float64)  # ranges differ per forecast
        phase = torch.rand(m, 1, 1, generator=gen, dtype=torch.float64) * 6
        time = torch.arange(t + 1, dtype=torch.float64)[None, :, None] * dt
        truth = amp * torch.sin(x[None, None] + phase + 0.3 * time)
        rate = growth * (0.05 + 0.1 * torch.rand(m, 1, 1, generator=gen, dtype=torch.float64))
        noise = torch.randn(m, 1, 32, generator=gen, dtype=torch.float64)
        pred = truth + amp * 1e-3 * noise * torch.exp(rate * time / dt)
        want = _predictability(pred, truth, dt, lyap, threshold)
        label = f"{m} forecasts of {t} steps of {dt:g}, threshold {threshold:g}"
        out, err = call_student(predictability_time, pred.clone(), truth.clone(), dt, lyap, threshold)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = as_number(out)
        if got is None:
            return report(False, name, f"for {label} return one number (a float; math.inf if the NAD never "
                           f"exceeds the threshold), got {shown(out)}")
        if math.isinf(want):
            if not math.isinf(got):
                return report(False, name, f"for {label} the mean NAD never exceeds the threshold: return "
                               "math.inf, not the horizon or a step index")
            continue
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        slips = {
            "index 0 is the initial state every forecast shares: the first step after it is at time dt, "
            "not 0": _predictability(pred, truth, dt, lyap, threshold, offset=0),
            "each forecast's NAD divides by ITS OWN true field's range (max - min over space and time)":
                _predictability(pred, truth, dt, lyap, threshold, per_start_range=False),
            "return Lyapunov times: multiply the time by the Lyapunov exponent":
                _predictability(pred, truth, dt, lyap, threshold, lyap_units=False),
            "average the NAD over the forecasts first, then find where that mean curve first exceeds the "
            "threshold": _predictability(pred, truth, dt, lyap, threshold, mean_first=False),
        }
        for hint, value in slips.items():
            if math.isfinite(value) and math.isclose(got, value, rel_tol=1e-6):
                return report(False, name, f"for {label}: {hint}")
        return report(False, name, f"for {label} your time is not the first crossing of the mean NAD: NAD "
                       "per forecast and step (mean absolute error over space / the true range), mean over "
                       "forecasts, first step above the threshold, times dt, times the Lyapunov exponent")
    return report(True, name, "")


def _depth_slips(strides: list[int], n_steps: int) -> dict[str, int]:
    """Sequential depths a student gets with the typical slips (strides coarsest first, in output steps)."""
    n_top = math.ceil(n_steps / strides[0])
    inner = [math.floor((a - 1) / b) for a, b in zip(strides, strides[1:])]
    return {
        "every finer level runs from all known states at once, one batched call per step: do not multiply "
        "by the number of coarse intervals": n_top + sum(k * n_top for k in inner),
        "the coarsest level needs ceil(n_steps / its stride) steps to reach or pass the horizon":
            n_steps // strides[0] + sum(inner),
        "a level fills the gap up to the next known state, which it does not compute itself: "
        "(stride of the coarser level - 1) // its stride steps": n_top + sum(a // b for a, b in
                                                                              zip(strides, strides[1:])),
    }


def check_sequential_depth(sequential_depth: Callable) -> bool:
    """Exercise (Ch. 14): ``sequential_depth(strides, n_steps)`` for a hierarchy whose level steps are
    ``strides`` output steps (coarsest first) returns how many stepper calls Algorithm 1 makes one after
    another to cover ``n_steps`` output steps. Judged against :meth:`hitslite.multiscale.Hierarchy.cost`
    on level sets the check draws (ratios 2 to 5, one to five levels, horizons that are and are not
    multiples of the coarsest stride)."""
    from ..multiscale import Hierarchy

    name = "sequential depth"
    if not callable(sequential_depth):
        return report(False, name, f"pass your function sequential_depth(strides, n_steps), not "
                       f"{shown(sequential_depth)}: the check runs it on level sets of its own")
    rng = np.random.default_rng(1402)
    cases = [([1], 37), ([2, 1], 40), ([16, 8, 4, 2, 1], 1000), ([64, 8, 1], 129)]
    for _ in range(4):
        ratios = rng.integers(2, 6, size=int(rng.integers(1, 5)))
        strides = [int(s) for s in np.cumprod(ratios[::-1])[::-1]] + [1]
        cases.append((strides[int(rng.integers(0, 2)):], int(rng.integers(50, 3000))))
    eye = torch.eye(2, dtype=torch.float64)
    for strides, n_steps in cases:
        want = Hierarchy([linear_stepper(eye, 0.01 * s) for s in strides]).cost(n_steps, 0.01)["calls"]
        label = f"strides {strides}, {n_steps} output steps"
        out, err = call_student(sequential_depth, list(strides), n_steps)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = as_integer(out)
        if got is None:
            return report(False, name, f"for {label} return one whole number, got {shown(out)}")
        if got == want:
            continue
        for hint, value in _depth_slips(strides, n_steps).items():
            if value != want and got == value:
                return report(False, name, f"for {label}: {hint}")
        return report(False, name, f"for {label} your depth is {'too large' if got > want else 'too small'}: "
                       "the coarsest level's steps plus, for each finer level, the steps it takes from every "
                       "known state in one batched call")
    return report(True, name, "")


def check_wasserstein_1d(wasserstein_1d: Callable) -> bool:
    """Exercise (Ch. 14): ``wasserstein_1d(a, b)`` for two samples of the same size (tensors of any shape,
    flattened) returns the Wasserstein-1 distance of their empirical distributions (LED eq. 24). Judged
    against ``scipy.stats.wasserstein_distance`` on samples the check draws (shifted, scaled, of different
    shapes, with ties)."""
    from scipy.stats import wasserstein_distance

    name = "Wasserstein distance"
    if not callable(wasserstein_1d):
        return report(False, name, f"pass your function wasserstein_1d(a, b), not {shown(wasserstein_1d)}: "
                       "the check runs it on samples of its own")
    gen = torch.Generator().manual_seed(1403)
    cases = [
        (torch.randn(500, generator=gen, dtype=torch.float64),
         0.5 + torch.randn(500, generator=gen, dtype=torch.float64), "two normals, one of them shifted"),
        (torch.randn(20, 30, generator=gen, dtype=torch.float64),
         2 * torch.randn(600, generator=gen, dtype=torch.float64), "shapes [20, 30] and [600], scaled by 2"),
        (torch.randint(0, 4, (7, 9, 4), generator=gen).double(),
         torch.randint(1, 6, (252,), generator=gen).double(), "integers with ties"),
    ]
    for a, b, label in cases:
        want = wasserstein_distance(a.flatten().numpy(), b.flatten().numpy())
        out, err = call_student(wasserstein_1d, a.clone(), b.clone())
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = as_number(out)
        if got is None:
            return report(False, name, f"for {label} return one number, got {shown(out)}")
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12):
            continue
        fa, fb = a.flatten(), b.flatten()
        slips = {
            "sort both samples first: the distance pairs the i-th smallest of one with the i-th smallest "
            "of the other": float((fa - fb).abs().mean()),
            "it is the mean ABSOLUTE difference of the sorted samples (Wasserstein-1), not its square":
                float(((fa.sort().values - fb.sort().values) ** 2).mean()),
            "the distance between the distributions, not between their means":
                float(abs(fa.mean() - fb.mean())),
        }
        for hint, value in slips.items():
            if not math.isclose(value, want, rel_tol=1e-6) and math.isclose(got, value, rel_tol=1e-6):
                return report(False, name, f"for {label}: {hint}")
        return report(False, name, f"for {label} your distance is off: the mean over i of |i-th smallest "
                       "of a - i-th smallest of b| for samples of equal size")
    return report(True, name, "")
