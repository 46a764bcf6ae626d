"""Checks for the exercises of Chapter 15 (adaptive hierarchical stepping): the step-doubling indicator, the
hierarchical surplus and the marching controller, rebuilt by the student and judged against
:mod:`hitslite.adaptive` on steppers and states the checks draw themselves."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .common import as_integer, call_student, linear_stepper, mismatch, output_array, report, shown

__all__ = ["check_step_doubling_indicator", "check_interpolation_surplus", "check_marching_controller"]

#: the linear system the drawn steppers integrate: a damped rotation x' = A x (decay rate 0.8, frequency 2),
#: so that a controller's indicator shrinks along a trajectory and coarser levels become acceptable
_DAMPED_ROTATION = ((-0.8, 2.0), (-2.0, -0.8))


def _flow(dt: float, dim: int, gen: torch.Generator, spoil: float) -> torch.Tensor:
    """The exact flow matrix of a damped rotation over ``dt`` (on the first two components; the rest decay),
    plus a random error of size ``spoil``: every drawn stepper is a slightly different map."""
    a = torch.zeros(dim, dim, dtype=torch.float64)
    a[:2, :2] = torch.tensor(_DAMPED_ROTATION, dtype=torch.float64)
    for k in range(2, dim):
        a[k, k] = -0.5
    return torch.linalg.matrix_exp(a * dt) + spoil * torch.randn(dim, dim, generator=gen, dtype=torch.float64)


def _rms(d: torch.Tensor) -> torch.Tensor:
    return d.reshape(d.shape[0], -1).pow(2).mean(dim=1).sqrt()


def _per_trajectory(name: str, label: str, out, want: torch.Tensor, variants: dict[str, torch.Tensor],
                    generic: str) -> bool | None:
    """None when ``out`` matches ``want`` ``[B]``; else the report, naming the slip when ``out`` matches
    one of the typical ``variants`` (hint -> value), never showing ``want``."""
    got = output_array(out)
    if got is not None and got.ndim >= 1 and got.numel() == want.numel():
        got = got.reshape(want.shape)  # [B, 1] is fine too
    wrong = mismatch(got, want, rtol=1e-7, atol=1e-13)
    if not wrong:
        return None
    if got is None or got.ndim == 0 or got.numel() != want.numel():
        return report(False, name, f"for {label} return one number per trajectory, a tensor [B] (got "
                       f"{shown(out)}): the RMS runs over the state components, not over the batch")
    for hint, value in variants.items():
        if not mismatch(got, value, rtol=1e-7, atol=1e-13):
            return report(False, name, f"for {label}: {hint}")
    return report(False, name, f"for {label} your indicator has {wrong}: {generic}")


def check_step_doubling_indicator(indicator: Callable) -> bool:
    """Exercise (Ch. 15): ``indicator(coarse, fine, x [B, *S]) -> [B]`` is the RMS over the state components
    of one step of ``coarse`` minus ``r = coarse.dt / fine.dt`` steps of ``fine``, per trajectory. Judged
    against :func:`hitslite.adaptive.step_doubling_indicator` on linear steppers the check draws (ratios 2,
    3 and 4, vector and matrix states, a batch of one)."""
    from ..adaptive import step_doubling_indicator

    name = "step-doubling indicator"
    if not callable(indicator):
        return report(False, name, f"pass your function indicator(coarse, fine, x), not {shown(indicator)}: "
                       "the check runs it on steppers of its own")
    gen = torch.Generator().manual_seed(1501)
    for big, ratio, shape, batch in ((0.4, 2, (2,), 5), (0.3, 3, (3,), 4), (0.2, 4, (2,), 1),
                                     (0.5, 2, (2, 2), 3)):
        dim = shape[-1]
        coarse = linear_stepper(_flow(big, dim, gen, 0.02), big)
        fine = linear_stepper(_flow(big / ratio, dim, gen, 0.005), big / ratio)
        x = torch.randn(batch, *shape, generator=gen, dtype=torch.float64)
        want = step_doubling_indicator(coarse, fine, x)[0]
        label = f"steps {big:g} and {big / ratio:g} (ratio {ratio}), states {tuple(x.shape)}"
        out, err = call_student(indicator, coarse, fine, x.clone())
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        y = coarse(x)
        z = x
        for _ in range(ratio):
            z = fine(z)
        d = (y - z).reshape(batch, -1)
        variants = {
            "compare with r = coarse.dt / fine.dt steps of the fine stepper, not with one":
                _rms(y - fine(x)),
            "take the root of the MEAN of the squares over the state components (not of their sum)":
                d.pow(2).sum(dim=1).sqrt(),
            "take the square root of the mean square (the ROOT mean square)": d.pow(2).mean(dim=1),
            "the root mean square of the differences, not their largest size": d.abs().amax(dim=1),
        }
        verdict = _per_trajectory(name, label, out, want, variants,
                                  "one coarse step and r fine steps from the same x, then the root mean "
                                  "square of the difference over each trajectory's state components")
        if verdict is not None:
            return verdict
    return report(True, name, "")


def check_interpolation_surplus(surplus: Callable) -> bool:
    """Exercise (Ch. 15): ``surplus(x_start [B, *S], x_end [B, *S], interior [B, r - 1, *S]) -> [B]`` is the
    largest (over the interior points) RMS (over the state components) distance of ``interior[:, m - 1]``
    from the straight line at the fraction ``m / r``. Judged against
    :func:`hitslite.adaptive.interpolation_surplus` on states the check draws (r = 2 ... 5)."""
    from ..adaptive import interpolation_surplus

    name = "hierarchical surplus"
    if not callable(surplus):
        return report(False, name, f"pass your function surplus(x_start, x_end, interior), not "
                       f"{shown(surplus)}: the check runs it on states of its own")
    gen = torch.Generator().manual_seed(1502)
    for r, shape, batch in ((2, (2,), 4), (3, (3,), 5), (4, (2,), 1), (5, (2, 2), 3)):
        a = torch.randn(batch, *shape, generator=gen, dtype=torch.float64)
        b = torch.randn(batch, *shape, generator=gen, dtype=torch.float64)
        interior = torch.randn(batch, r - 1, *shape, generator=gen, dtype=torch.float64)
        want = interpolation_surplus(a, b, interior)
        label = f"r = {r}, states {tuple(a.shape)}"
        out, err = call_student(surplus, a.clone(), b.clone(), interior.clone())
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        m = torch.arange(1, r, dtype=torch.float64).reshape(1, -1, *([1] * len(shape)))

        def dist(weights, reduce="max", how="rms", a=a, b=b, interior=interior):
            line = a[:, None] + weights * (b - a)[:, None]
            d = (interior - line).reshape(interior.shape[0], interior.shape[1], -1)
            per = d.pow(2).mean(dim=2).sqrt() if how == "rms" else d.pow(2).sum(dim=2).sqrt()
            return per.amax(dim=1) if reduce == "max" else per.mean(dim=1)

        variants = {"the LARGEST distance over the interior points, not their mean": dist(m / r, "mean")}
        if r > 2:
            variants["the interior point m lies at the fraction m / r of the interval (m = 1 ... r - 1)"] = \
                dist((m - 1) / (r - 2))
        variants["the root MEAN square over the state components, not the Euclidean norm"] = \
            dist(m / r, how="norm")
        verdict = _per_trajectory(name, label, out, want, variants,
                                  "for each interior point m, the RMS over the state components of "
                                  "interior[:, m - 1] minus (1 - m/r) x_start + (m/r) x_end; then the "
                                  "largest")
        if verdict is not None:
            return verdict
    return report(True, name, "")


def check_marching_controller(march: Callable) -> bool:
    """Exercise (Ch. 15): ``march(levels, x0 [B, *S], n_steps, tol, grow) -> (taken, states)``, the
    step-doubling controller on one time grid shared by the batch: ``levels`` coarsest first, ``taken`` the
    level index of every accepted step (until the finest grid's ``n_steps`` is reached or passed),
    ``states [B, len(taken) + 1, *S]`` the accepted states from ``x0`` on. Judged against
    :class:`hitslite.adaptive.AdaptiveHierarchy` (``scheme="marching"``) on hierarchies of linear steppers
    the check draws, with rejections, growth, a batch the worst trajectory decides, and both limits."""
    from ..adaptive import AdaptiveHierarchy

    name = "marching controller"
    if not callable(march):
        return report(False, name, f"pass your function march(levels, x0, n_steps, tol, grow), not "
                       f"{shown(march)}: the check runs it on hierarchies of its own")
    gen = torch.Generator().manual_seed(1503)
    h = 0.05
    # (strides in finest steps, coarsest first; tol; grow; batch; n_steps): refinement and growth, a batch
    # whose worst trajectory decides, a ratio of 3, and the two limits
    cases = (((4, 2, 1), 0.01, 0.5, 1, 60), ((8, 4, 2, 1), 0.01, 0.5, 3, 64), ((6, 2, 1), 0.01, 0.8, 2, 60),
             ((4, 2, 1), 0.0, 0.5, 2, 20), ((4, 2, 1), math.inf, 0.5, 2, 20))
    for strides, tol, grow, batch, n in cases:
        spoil = [0.02 / 1.5**k for k in range(len(strides))]  # coarser levels err more
        levels = [linear_stepper(_flow(s * h, 2, gen, e), s * h) for s, e in zip(strides, spoil)]
        x0 = torch.randn(batch, 2, generator=gen, dtype=torch.float64)

        def reference(g, levels=levels, x0=x0, n=n, tol=tol):
            ref = AdaptiveHierarchy(levels, tol=tol, scheme="marching", grow=g).forecast(x0, n)
            return ref.meta["step_levels"][0], ref.x

        want_levels, want_x = reference(grow)
        label = (f"levels of {', '.join(str(s) for s in strides)} finest steps, tol = {tol:g}, "
                 f"grow = {grow:g}, a batch of {batch}, n_steps = {n}")
        out, err = call_student(march, levels, x0.clone(), n, tol, grow)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            return report(False, name, f"for {label} return (taken, states), got {shown(out)}")
        try:
            taken = [as_integer(v) for v in out[0]]
        except TypeError:
            taken = [None]
        if None in taken:
            return report(False, name, f"for {label} taken must be a list of level indices (ints), got "
                           f"{shown(out[0])}")
        got = output_array(out[1])
        if got is None or tuple(got.shape) != (batch, len(taken) + 1, 2):
            return report(False, name, f"for {label} states must be [B, len(taken) + 1, *S] (x0 first), got "
                           f"{shown(out[1])}")
        # walk along both runs to the first difference: a wrong state comes before the decisions it spoils
        j = 0
        for k, (mine, theirs) in enumerate(zip([None, *taken], [None, *want_levels])):
            if mine != theirs:
                break
            j += strides[mine] if mine is not None else 0
            if j <= n and mismatch(got[:, k], want_x[:, j], rtol=1e-9, atol=1e-12):
                hint = ("the first state must be x0 itself" if k == 0 else "an accepted step keeps the "
                        "coarse candidate's own state, one step of levels[i] from x (not the end of the "
                        "finer chain)")
                return report(False, name, f"for {label} your state after accepted step {k} is off: {hint}")
        if taken != want_levels:
            if taken == reference(1.0)[0]:
                hint = "grow back one level only when the accepted step's indicator is below grow * tol"
            elif taken == reference(1e-300)[0]:
                hint = ("after an accepted step whose indicator is below grow * tol (and after every step of "
                        "the finest level) try one level coarser next")
            elif batch > 1:
                hint = ("the batch shares one time grid: accept when the LARGEST indicator of the batch is "
                        "below tol; otherwise refine to the next finer level at the same state")
            else:
                hint = ("at level i compare one step of levels[i] with r = stride_i / stride_(i+1) steps of "
                        "levels[i + 1] from the same state (RMS over the state components); accept when it "
                        "is below tol, else refine at the same state; the finest level is always accepted; "
                        "stop once the finest grid's n_steps is reached or passed")
            return report(False, name, f"for {label} the levels of your accepted steps differ: {hint}")
    return report(True, name, "")
