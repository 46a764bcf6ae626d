"""Checks for the exercises of Chapter 13 (HiTS on your own system): the two rules ``train_hits`` applies
before it trains anything, rebuilt by the student and judged against :mod:`hitslite.recipes`."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .common import as_integer, as_number, call_student, report, shown

__all__ = ["check_time_scales", "check_step_and_levels"]


def _linear(matrix: np.ndarray):
    """The vector field ``x -> A x`` on the last axis, for NumPy arrays and torch tensors alike."""
    def field(x):
        if isinstance(x, np.ndarray):
            return x @ matrix.T
        import torch

        return x @ torch.as_tensor(matrix.T, dtype=x.dtype)
    return field


def _time_scale_systems():
    """(label, system) pairs the time-scale check draws: a rotation with damping (complex eigenvalues), a
    stiff linear system whose slow scale hits the cap, and two nonlinear systems of the book (2-D, 3-D)."""
    from ..systems import ODESystem, get_system

    rng = np.random.default_rng(13)
    a, w = rng.uniform(0.05, 0.3), rng.uniform(1.0, 3.0)
    rotation = np.array([[-a, w], [-w, -a]])
    q = np.linalg.qr(rng.normal(size=(2, 2)))[0]
    stiff = q @ np.diag([-rng.uniform(5.0, 20.0), -rng.uniform(1e-4, 1e-3)]) @ q.T
    def linear(name, matrix, box):
        return ODESystem(name=name, state_shape=(2,), vector_field=_linear(matrix), region=(box, box))

    return [
        ("a damped rotation", linear("check_rotation", rotation, (-1.0, 1.0))),
        ("a stiff linear system", linear("check_stiff", stiff, (-2.0, 2.0))),
        ("Van der Pol", get_system("van_der_pol")),
        ("Lorenz (3-D)", get_system("lorenz")),
    ]


def check_time_scales(time_scales: Callable) -> bool:
    """Exercise (Ch. 13): ``time_scales(system) -> (fast, slow)`` from central-difference Jacobians at 256
    states ``system.sample_initial(256, torch.Generator().manual_seed(0))``. Judged against
    :func:`hitslite.recipes.estimate_time_scales` on systems the check draws: complex eigenvalues, a slow
    scale beyond the cap, a nonlinear 2-D and a 3-D system."""
    from ..recipes import estimate_time_scales

    name = "time scales"
    if not callable(time_scales):
        return report(False, name, f"pass your function time_scales(system), not {shown(time_scales)}: the "
                       "check runs it on systems of its own")
    for label, system in _time_scale_systems():
        want = estimate_time_scales(system)
        out, err = call_student(time_scales, system)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = tuple(as_number(v) for v in out) if isinstance(out, (tuple, list)) and len(out) == 2 else None
        if got is None or None in got:
            return report(False, name, f"for {label} return two numbers (fast, slow), got {shown(out)}")
        ok_fast = math.isclose(got[0], want.fast, rel_tol=1e-5)
        ok_slow = math.isclose(got[1], want.slow, rel_tol=1e-5)
        if ok_fast and ok_slow:
            continue
        if math.isclose(got[0], want.slow, rel_tol=1e-5) and math.isclose(got[1], want.fast, rel_tol=1e-5):
            hint = "you swapped them: the fast scale comes from the LARGEST |eigenvalue|"
        elif ok_fast:
            hint = ("2 pi over the median of the smallest |eigenvalue| per state, that rate floored at the "
                    "fast rate / recipes.MAX_SCALE_RATIO before you invert it")
        else:
            hint = ("2 pi over the median (over the 256 states) of the largest modulus |lambda| of the "
                    "Jacobian's eigenvalues — moduli of complex eigenvalues, not their real parts")
        which = "slow" if ok_fast else "fast"
        return report(False, name, f"for {label} your {which} scale is off: {hint}")
    return report(True, name, "")


def check_step_and_levels(step_and_levels: Callable) -> bool:
    """Exercise (Ch. 13): ``step_and_levels(fast, slow) -> (dt, L)``: ``dt`` is ``fast / 100`` rounded down
    to 1, 2 or 5 times a power of ten, ``L`` the number of levels whose coarsest step ``dt 2^(L-1)`` is
    nearest in log2 to ``slow / 4``, with 3 <= L <= 11. Judged against :func:`hitslite.recipes.default_dt`
    and :func:`~hitslite.recipes.default_levels` on pairs the check draws (and on the edge cases)."""
    from ..recipes import TimeScales, default_dt, default_levels

    name = "step and levels"
    if not callable(step_and_levels):
        return report(False, name, f"pass your function step_and_levels(fast, slow), not "
                       f"{shown(step_and_levels)}: the check runs it on time scales of its own")
    rng = np.random.default_rng(31)
    fast = 10.0 ** rng.uniform(-3, 2.5, 8)
    cases = [(float(f), float(f * 10.0 ** rng.uniform(0, 2))) for f in fast]
    cases += [(0.5, 0.5), (5.0, 1.0), (2e-3, 50.0), (0.7, 7.0)]  # dt on a 1-2-5 value; L = 3; L = 11
    for f, s in cases:
        scales = TimeScales(f, s)
        dt = default_dt(scales)
        levels = len(default_levels(scales, dt))
        out, err = call_student(step_and_levels, f, s)
        case = f"fast = {f:.4g}, slow = {s:.4g}"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            return report(False, name, f"for {case} return (dt, L), got {shown(out)}")
        got_dt, got_l = as_number(out[0]), as_integer(out[1])
        if got_dt is None or not math.isclose(got_dt, dt, rel_tol=1e-9):
            return report(False, name, f"for {case} your dt is off ({shown(out[0])}): the largest of 1, 2, 5 "
                           "times a power of ten that does not exceed fast / 100 (round down, not to the "
                           "nearest)")
        if got_l != levels:
            return report(False, name, f"for {case} your number of levels is off ({shown(out[1])}): the "
                           "coarsest step dt 2^(L-1) is the power of two times dt nearest to slow / 4 in "
                           "log2, so L - 1 = round(log2(slow / 4 / dt)), then clipped to 3 <= L <= 11")
    return report(True, name, "")
