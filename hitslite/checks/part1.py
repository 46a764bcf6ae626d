"""Checks for the exercises of Part I (HiTS), Chapters 1-6."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .common import (
    as_integer,
    as_number,
    as_tensor,
    call_student,
    close,
    judge_order,
    judge_timing,
    not_a_number,
    report,
    shown,
)

__all__ = [
    "check_flow_map", "check_rk4_order", "check_sequential_calls", "check_best_single_step",
    "check_interpolation", "check_two_pass_selection", "check_speedup", "check_error_horizon",
    "check_noise_std", "check_lstm_hidden", "check_spectral_radius"
]


# ============================================================================================
# Chapter 1 (flow maps) — also used by Ch. 3–6 and 9
# ============================================================================================
def check_flow_map(flow_map: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise (Ch. 1): ``flow_map(x [B, 2], dt) -> [B, 2]`` is the harmonic oscillator's exact flow map,
    compared with the system's ``exact_solution`` on states and steps drawn here."""
    from ..systems import get_system

    name = "flow map"
    if not callable(flow_map):
        return report(False, name, f"pass your function flow_map(x, dt), got {shown(flow_map)}")
    system = get_system("harmonic_oscillator")
    x = system.sample_initial(64, torch.Generator().manual_seed(0))
    for dt in (0.008, 0.5, 3.0):
        out, err = call_student(flow_map, x.clone(), dt)
        if err:
            return report(False, name, f"flow_map(x, {dt}) raised {err}")
        got = as_tensor(out)
        if got is None or got.shape != x.shape:
            return report(False, name, f"flow_map(x [64, 2], {dt}) should return shape (64, 2), got "
                           f"{shown(out)}")
        want = system.exact_solution(x, torch.tensor([dt], dtype=torch.float64))[:, 0]
        if not torch.allclose(got, want, rtol=0, atol=1e-10):
            return report(False, name, f"wrong states for dt = {dt} (keep float64): x(t) is x0 rotated "
                           "clockwise by the angle t, since x' = y, y' = -x")
    return report(True, name, "")




def check_rk4_order(error: Callable[[float], float], steps: Sequence[float]) -> bool:
    """Exercise (Ch. 1, 4): ``error(dt)`` is the global error of one RK4 (or hybrid) run with step ``dt``;
    the check evaluates it at ``steps``, fits the order itself and accepts 3.8–4.2."""
    return judge_order("RK4 order", error, steps, 3.8, 4.2, 1e-13)


def check_sequential_calls(answer: int, dts: Sequence[float], n_steps: int, dt: float | None = None) -> bool:
    """Exercise (Ch. 1–6, 9): sequential stepper calls Algorithm 1 needs for ``n_steps`` with levels ``dts``
    (the reference is :meth:`~hitslite.multiscale.Hierarchy.cost`)."""
    from ..multiscale import Hierarchy
    from ..steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, x):
            return x

    got = as_integer(answer)
    if got is None:
        return not_a_number("sequential calls", answer, "a whole number")
    want = Hierarchy([_Probe(float(d)) for d in dts]).cost(int(n_steps), dt)["calls"]
    return report(got == want, "sequential calls",
                   f"got {got}. The coarsest level steps ceil(n * dt / dt_0) times; every finer level "
                   "takes (ratio to the next coarser level - 1) steps, all starting points batched together")


def check_best_single_step(answer: float, errors: Mapping[float, float]) -> bool:
    """Exercise (Ch. 1, 3, 5): ``answer`` is the step size whose single-scale forecast has the least error."""
    table = {float(k): as_number(v) for k, v in errors.items()}
    if any(v is None for v in table.values()):
        raise TypeError("errors must map step sizes to single numbers")
    best = min(table, key=table.get)
    ok = close(answer, best, 1e-9)
    return report(ok, "best single step size", f"got {shown(answer)}; compare the integrated MSE of each "
                   "single-scale forecast over the whole horizon (smallest wins) and answer with its step "
                   "size")


# ============================================================================================
# Chapter 2 (multiscale coupling)
# ============================================================================================
def check_interpolation(fill: Callable) -> bool:
    """Exercise (Ch. 2): ``fill(known_idx [M], known_x [B, M, D], n_steps) -> [B, n_steps + 1, D]``
    interpolates linearly between the states at the sorted integer indices ``known_idx`` (compared with
    ``numpy.interp`` on index sets and states drawn here)."""
    name = "interpolation"
    if not callable(fill):
        return report(False, name, f"pass your function fill(known_idx, known_x, n_steps), got "
                       f"{shown(fill)}")
    gen = torch.Generator().manual_seed(0)
    for known in ([0, 8, 16, 24], [0, 3, 4, 10, 12], [0, 5]):
        idx = torch.tensor(known)
        x = torch.randn(3, len(known), 2, generator=gen, dtype=torch.float64)
        n = known[-1]
        out, err = call_student(fill, idx, x.clone(), n)
        if err:
            return report(False, name, f"fill with known indices {known} raised {err}")
        got = as_tensor(out)
        want = torch.from_numpy(np.stack([np.stack([np.interp(np.arange(n + 1), known, x[b, :, d].numpy())
                                                     for d in range(x.shape[2])], axis=-1)
                                           for b in range(x.shape[0])]))
        if got is None or got.shape != want.shape:
            return report(False, name, f"for known indices {known} expected shape {tuple(want.shape)} "
                           f"[B, n_steps + 1, D], got {shown(out)}")
        if not torch.allclose(got, want, atol=1e-12):
            return report(False, name, f"wrong values for known indices {known}: between indices a < j < b "
                           "use x_a + (j - a) / (b - a) * (x_b - x_a), and keep x_j where j is known")
    return report(True, name, "")


def check_two_pass_selection(select: Callable) -> bool:
    """Exercise (Ch. 2): ``select(steppers, val) -> (lower, upper)`` reproduces HiTS Sec. 2.3's two passes
    (compared with :func:`hitslite.select_levels` on a planted case with a unique answer)."""
    from ..multiscale import select_levels
    from ..steppers import RK4, Repeated, Stepper, rollout
    from ..systems import get_system

    class _Biased(Stepper):  # a level with a planted error per step
        def __init__(self, inner, bias):
            super().__init__()
            self.inner, self.bias, self.dt = inner, bias, inner.dt

        def forward(self, x):
            return self.inner(x) + self.bias

    name = "two-pass selection"
    if not callable(select):
        return report(False, name, f"pass your function select(steppers, val), got {shown(select)}")
    system = get_system("harmonic_oscillator")
    fine = RK4(system, 0.01)
    exact = [Repeated(fine, 2**k) for k in range(6)]
    biases = [3e-3, 1e-4, 2e-5, 0.0, 0.1, 0.1]  # distinct, so neither pass has a tie
    steppers = [_Biased(level, b) for level, b in zip(exact, biases)]
    val = rollout(fine, system.sample_initial(8, torch.Generator().manual_seed(5)), 256)
    want = select_levels(steppers, val)
    out, err = call_student(select, steppers, val)
    if err:
        return report(False, name, f"select raised {err}")
    try:
        got = tuple(as_integer(v) for v in out)
    except TypeError:
        got = None
    if got is None or len(got) != 2 or None in got:
        return report(False, name, f"select should return two indices (lower, upper), got {shown(out)}")
    return report(got == (want.lower, want.upper), name,
                   f"got {got} on a planted six-level case; pass 1 scores steppers[0..u] for every u and "
                   "keeps the best u; pass 2 scores steppers[l..u] for every l <= u and keeps the best l "
                   "(validation MSE of the forecast)")


# ============================================================================================
# Chapter 3 (nonlinear benchmarks), 4 (hybrids), 9 (L-HiTS): measured speed-ups
# ============================================================================================




def check_speedup(answer: float, slow, fast: Callable[[], object] | None = None) -> bool:
    """Exercise (Ch. 3, 4): the speed-up ``answer`` of a fast computation over a slow one.

    ``slow`` is either a :class:`~hitslite.multiscale.LevelComparison` (Ch. 3: the finest coupled level
    alone over the multiscale forecast, read from the comparison), or, with ``fast``, the two computations
    as functions without arguments (Ch. 4): the check runs them, checks that they forecast the same states
    over the same horizon and that ``answer`` is a positive ratio. It does not time them: wall times
    depend on the machine and its load.
    """
    return judge_timing("speed-up", answer, slow, fast)


def check_error_horizon(answer: float, t, curve, threshold: float = 1.0) -> bool:
    """Exercise (Ch. 3): the first time at which the per-step MSE ``curve [T]`` (times ``t [T]``) reaches
    ``threshold`` (``inf`` if it never does)."""
    curve, t = as_tensor(curve), as_tensor(t)
    above = (curve >= threshold).nonzero()
    want = float(t[above[0, 0]]) if len(above) else math.inf
    return report(close(answer, want, 1e-9), "error horizon", f"got {shown(answer)}; find the first index "
                   f"where the per-step MSE is at least {threshold:g} and read the time there (inf if it "
                   "never is)")


# ============================================================================================
# Chapter 5 (noise)
# ============================================================================================
def check_noise_std(answer, component_std, level: float, interpretation: str = "std") -> bool:
    """Exercise (Ch. 5): the noise standard deviation per component for a noise ``level`` given as a
    fraction of each component's standard deviation (``"std"``) or of its variance (``"variance"``)."""
    if interpretation not in ("std", "variance"):
        raise ValueError(f"interpretation must be 'std' or 'variance', got {interpretation!r}")
    std, got, q = as_tensor(component_std), as_tensor(answer), float(level)
    want = q * std if interpretation == "std" else math.sqrt(q) * std
    ok = got is not None and got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-6))
    hint = ("a fraction q of each component's standard deviation: scale the per-component stds by q"
            if interpretation == "std" else
            "noise with a fraction q of the variance has variance q * std^2: take its square root")
    return report(ok, f"noise std ({interpretation})", f"got {shown(answer)}; one value per component, "
                   f"shaped like the stds; {hint}")


# ============================================================================================
# Chapter 6 (sequence generation)
# ============================================================================================
def check_lstm_hidden(hidden: int, dim: int, target: int) -> bool:
    """Exercise (Ch. 6): the LSTM width whose Table 3 count is closest to ``target`` for states of ``dim``
    (reference: :func:`hitslite.baselines.match_hidden`)."""
    from ..baselines import match_hidden, table3_count

    got = as_integer(hidden)
    if got is None or got < 1:
        return not_a_number("LSTM width", hidden, "a positive whole number")
    want = match_hidden("LSTM", int(target), int(dim))
    return report(got == want, "LSTM width",
                   f"got {got} ({table3_count('LSTM', int(dim), got)} parameters, target {target}); an LSTM "
                   "layer has 4 H (D + H) weights and 8 H biases, the read-out H D + D: solve the quadratic "
                   "in H and compare the counts of the integers on either side")


def check_spectral_radius(matrix, rho: float) -> bool:
    """Exercise (Ch. 6): square ``matrix`` (tensor or array) has spectral radius ``rho`` (to 1e-4)."""
    m, rho = as_tensor(matrix), float(rho)
    if m is None or m.ndim != 2 or m.shape[0] != m.shape[1]:
        return report(False, "spectral radius", f"expected a square matrix, got {shown(matrix)}")
    radius = float(torch.linalg.eigvals(m).abs().max())
    return report(abs(radius - rho) <= 1e-4 * rho, "spectral radius",
                   f"the largest |eigenvalue| of your matrix is {radius:.6g}; divide by the current spectral "
                   "radius (not the largest entry or the 2-norm) and multiply by the target")
