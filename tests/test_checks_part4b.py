"""Cases for the exercise checks of Chapter 15 (``hitslite.checks.part4b``).

Every check passes a right answer and fails typical wrong ones and a constant, names the failed case, and
never prints the expected value. The right answers are written here from the chapter's formulas (not the
library's own functions, which are what the checks compare against).
"""

import math

import numpy as np
import pytest
import torch

from hitslite import checks
from hitslite.adaptive import AdaptiveHierarchy
from hitslite.checks.part4b import check_marching_controller


def failed(capsys, *words):
    """The last check failed, and its message names each of ``words`` (the case, the hint)."""
    out = capsys.readouterr().out
    assert "NOT YET" in out, out
    for word in words:
        assert word in out, f"{word!r} not in {out!r}"


def rms(d):
    return d.reshape(d.shape[0], -1).pow(2).mean(dim=1).sqrt()


# ------------------------------------------------------------------------------------------------
# the step-doubling indicator
# ------------------------------------------------------------------------------------------------
def indicator(coarse, fine, x, *, fine_steps=None, how="rms"):
    r = round(coarse.dt / fine.dt) if fine_steps is None else fine_steps
    z = x
    for _ in range(r):
        z = fine(z)
    d = (coarse(x) - z).reshape(x.shape[0], -1)
    if how == "sum":
        return d.pow(2).sum(dim=1).sqrt()
    if how == "batch":
        return d.pow(2).mean().sqrt()
    if how == "max":
        return d.abs().amax(dim=1)
    return d.pow(2).mean(dim=1).sqrt()


def test_check_step_doubling_indicator(capsys):
    assert checks.check_step_doubling_indicator(indicator) is True
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x).numpy()) is True
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x)[:, None]) is True
    capsys.readouterr()
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x, fine_steps=1)) is False
    failed(capsys, "ratio 2", "not with one")
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x, fine_steps=2)) is False
    failed(capsys, "ratio 3")  # two fine steps are right only for doubling
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x, how="sum")) is False
    failed(capsys, "MEAN")
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x, how="batch")) is False
    failed(capsys, "one number per trajectory")
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x, how="max")) is False
    failed(capsys, "largest size")
    assert checks.check_step_doubling_indicator(lambda c, f, x: indicator(c, f, x) ** 2) is False
    failed(capsys, "ROOT")
    assert checks.check_step_doubling_indicator(lambda c, f, x: torch.full((x.shape[0],), 0.01)) is False
    failed(capsys, "states (5, 2)")
    assert checks.check_step_doubling_indicator(lambda c, f, x: 1 / 0) is False
    failed(capsys, "ZeroDivisionError")
    assert checks.check_step_doubling_indicator(0.01) is False
    failed(capsys, "pass your function")


# ------------------------------------------------------------------------------------------------
# the hierarchical surplus
# ------------------------------------------------------------------------------------------------
def surplus(a, b, interior, *, reduce="max", shift=False):
    r = interior.shape[1] + 1
    m = torch.arange(1, r, dtype=a.dtype)
    w = ((m - 1) / max(r - 2, 1) if shift else m / r).reshape(1, -1, *([1] * (a.ndim - 1)))
    d = (interior - (a[:, None] + w * (b - a)[:, None])).reshape(a.shape[0], r - 1, -1)
    per = d.pow(2).mean(dim=2).sqrt()
    return per.amax(dim=1) if reduce == "max" else per.mean(dim=1)


def test_check_interpolation_surplus(capsys):
    assert checks.check_interpolation_surplus(surplus) is True
    assert checks.check_interpolation_surplus(lambda a, b, i: surplus(a, b, i).tolist()) is True
    capsys.readouterr()
    assert checks.check_interpolation_surplus(lambda a, b, i: surplus(a, b, i, reduce="mean")) is False
    failed(capsys, "r = 3", "LARGEST")
    assert checks.check_interpolation_surplus(lambda a, b, i: surplus(a, b, i, shift=True)) is False
    failed(capsys, "r = 2")  # the points sit at 0 ... 1 instead of 1/r ... (r-1)/r

    def norm(a, b, i):
        r = i.shape[1] + 1
        w = (torch.arange(1, r, dtype=a.dtype) / r).reshape(1, -1, *([1] * (a.ndim - 1)))
        d = (i - (a[:, None] + w * (b - a)[:, None])).reshape(a.shape[0], r - 1, -1)
        return d.norm(dim=2).amax(dim=1)

    assert checks.check_interpolation_surplus(norm) is False
    failed(capsys, "r = 2", "Euclidean")
    assert checks.check_interpolation_surplus(lambda a, b, i: (i - a[:, None]).abs().sum()) is False
    failed(capsys, "one number per trajectory")
    assert checks.check_interpolation_surplus(lambda a, b, i: np.zeros(a.shape[0])) is False
    failed(capsys, "r = 2", "other values")
    assert checks.check_interpolation_surplus("surplus") is False
    failed(capsys, "pass your function")


# ------------------------------------------------------------------------------------------------
# the marching controller
# ------------------------------------------------------------------------------------------------
def march(levels, x0, n_steps, tol, grow=0.5, *, keep="coarse", worst=True, growth="rule"):
    """Step doubling as Sec. 15.2 writes it: candidate level i checked against r steps of level i + 1."""
    finest = levels[-1].dt
    strides = [round(s.dt / finest) for s in levels]
    x, j, i, taken, states = x0, 0, 0, [], [x0]
    while j < n_steps:
        y, e = levels[i](x), None
        if i < len(levels) - 1:
            z = x
            for _ in range(strides[i] // strides[i + 1]):
                z = levels[i + 1](z)
            per = rms(y - z)
            e = float(per.max() if worst else per[0])
            if not e < tol:
                i += 1
                continue
            if keep == "fine":
                y = z
        x, j = y, j + strides[i]
        taken.append(i)
        states.append(x)
        grow_now = {"rule": e is None or e < grow * tol, "always": True, "never": e is None}[growth]
        if i > 0 and grow_now:
            i -= 1
    return taken, torch.stack(states, dim=1)


def test_the_drawn_controller_cases_reject_and_grow():
    """The cases the check draws exercise what the exercise asks for (not only the coarsest level)."""
    seen = []

    def spy(levels, x0, n_steps, tol, grow):
        ref = AdaptiveHierarchy(levels, tol=tol, scheme="marching", grow=grow).forecast(x0, n_steps)
        seen.append((ref.meta["rejected"], ref.meta["step_levels"][0]))
        return march(levels, x0, n_steps, tol, grow)

    assert check_marching_controller(spy) is True
    rejected = [r for r, _ in seen]
    assert sum(r > 0 for r in rejected) >= 3
    grew = [any(b < a for a, b in zip(lv, lv[1:])) for _, lv in seen]
    assert sum(grew) >= 3
    assert len({tuple(lv) for _, lv in seen}) == len(seen)


def test_check_marching_controller(capsys):
    assert checks.check_marching_controller(march) is True
    assert checks.check_marching_controller(
        lambda *a: (np.array(march(*a)[0]), march(*a)[1].numpy())) is True
    capsys.readouterr()
    assert checks.check_marching_controller(lambda *a: march(*a, keep="fine")) is False
    failed(capsys, "tol = 0.01", "coarse candidate's own state")
    assert checks.check_marching_controller(lambda *a: march(*a, growth="always")) is False
    failed(capsys, "grow back one level only when")
    assert checks.check_marching_controller(lambda *a: march(*a, growth="never")) is False
    failed(capsys, "try one level coarser next")
    assert checks.check_marching_controller(lambda *a: march(*a, worst=False)) is False
    failed(capsys, "a batch of 3", "LARGEST indicator")
    def constant(levels, x0, n, tol, grow):
        return [0] * 3, x0[:, None].repeat(1, 4, 1)

    assert checks.check_marching_controller(constant) is False
    failed(capsys, "a batch of 1", "differ")
    assert checks.check_marching_controller(lambda *a: march(*a)[0]) is False
    failed(capsys, "return (taken, states)")
    assert checks.check_marching_controller(lambda *a: (march(*a)[0], march(*a)[1][:, 1:])) is False
    failed(capsys, "x0 first")
    assert checks.check_marching_controller(None) is False
    failed(capsys, "pass your function")


def test_the_checks_let_an_unwritten_stub_through():
    def stub(*args):
        raise NotImplementedError("Exercise 15.1 (ex-indicator): write your solution here")

    for check in (checks.check_step_doubling_indicator, checks.check_interpolation_surplus,
                  checks.check_marching_controller):
        with pytest.raises(NotImplementedError, match=r"^Exercise 15\.1"):
            check(stub)


def test_limits_of_the_controller_cases_hold_for_the_written_answer():
    """tol = 0 takes only the finest level, tol = inf only the coarsest (the check's last two cases)."""
    gen = torch.Generator().manual_seed(0)
    from hitslite.checks.common import linear_stepper

    levels = [linear_stepper(torch.eye(2, dtype=torch.float64) + 0.1 * torch.randn(2, 2, generator=gen,
                                                                                   dtype=torch.float64), s)
              for s in (0.4, 0.2, 0.1)]
    x0 = torch.randn(2, 2, generator=gen, dtype=torch.float64)
    assert set(march(levels, x0, 12, 0.0)[0]) == {2}
    assert set(march(levels, x0, 12, math.inf)[0]) == {0}
