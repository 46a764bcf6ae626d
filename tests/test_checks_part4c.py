"""Cases for the exercise checks of Chapter 14 (``hitslite.checks.part4c``).

Every check passes a right answer and fails typical wrong ones and a constant, names the failed case and the
slip, and never prints the expected value. The right answers are written here from the chapter's
definitions, not with the functions the checks compare against.
"""

import math

import numpy as np
import torch

from hitslite import checks


def failed(capsys, *words):
    out = capsys.readouterr().out
    assert "NOT YET" in out, out
    for word in words:
        assert word in out, f"{word!r} not in {out!r}"


# ------------------------------------------------------------------------------------------------
# predictability time
# ------------------------------------------------------------------------------------------------
def predictability(pred, truth, dt, lyapunov, threshold=0.1, *, offset=1, lyap=True, global_range=False,
                   median=False):
    p, q = pred[:, 1:], truth[:, 1:]
    if global_range:
        rng = q.amax() - q.amin()
    else:
        rng = (q.amax(dim=(1, 2)) - q.amin(dim=(1, 2)))[:, None]
    curves = (p - q).abs().mean(dim=2) / rng  # [M, T]

    def first_time(c):
        idx = np.flatnonzero(c.numpy() > threshold)
        return math.inf if idx.size == 0 else (idx[0] + offset) * dt

    t = float(np.median([first_time(c) for c in curves])) if median else first_time(curves.mean(0))
    return t * lyapunov if lyap else t


def test_check_predictability_time(capsys):
    assert checks.check_predictability_time(predictability) is True
    assert checks.check_predictability_time(lambda *a: torch.tensor(predictability(*a))) is True
    capsys.readouterr()
    assert checks.check_predictability_time(lambda *a: predictability(*a, offset=0)) is False
    failed(capsys, "index 0")
    assert checks.check_predictability_time(lambda *a: predictability(*a, lyap=False)) is False
    failed(capsys, "Lyapunov")
    assert checks.check_predictability_time(lambda *a: predictability(*a, global_range=True)) is False
    failed(capsys, "OWN true field")
    assert checks.check_predictability_time(lambda *a: predictability(*a, median=True)) is False
    failed(capsys, "mean curve")
    assert checks.check_predictability_time(lambda *a: 1.0) is False
    failed(capsys, "first crossing")


def test_predictability_time_never_crossing(capsys):
    def horizon_instead(pred, truth, dt, lyapunov, threshold=0.1):
        t = predictability(pred, truth, dt, lyapunov, threshold)
        return (pred.shape[1] - 1) * dt * lyapunov if math.isinf(t) else t

    assert checks.check_predictability_time(horizon_instead) is False
    failed(capsys, "math.inf")


def test_predictability_time_bad_input(capsys):
    assert checks.check_predictability_time(0.5) is False
    failed(capsys, "pass your function")
    assert checks.check_predictability_time(lambda *a: [1.0, 2.0]) is False
    failed(capsys, "one number")

    def crash(*a):
        raise IndexError("oops")

    assert checks.check_predictability_time(crash) is False
    failed(capsys, "raised IndexError")


# ------------------------------------------------------------------------------------------------
# sequential depth
# ------------------------------------------------------------------------------------------------
def depth(strides, n_steps, *, top=math.ceil, fill=lambda a, b: (a - 1) // b, per_interval=False):
    n_top = top(n_steps / strides[0])
    inner = [fill(a, b) for a, b in zip(strides, strides[1:])]
    return n_top + sum(k * n_top if per_interval else k for k in inner)


def test_check_sequential_depth(capsys):
    assert checks.check_sequential_depth(depth) is True
    assert checks.check_sequential_depth(lambda s, n: np.int64(depth(s, n))) is True
    assert checks.check_sequential_depth(lambda s, n: float(depth(s, n))) is True
    capsys.readouterr()
    assert checks.check_sequential_depth(lambda s, n: depth(s, n, per_interval=True)) is False
    failed(capsys, "batched call")
    assert checks.check_sequential_depth(lambda s, n: depth(s, n, top=math.floor)) is False
    failed(capsys, "ceil")
    assert checks.check_sequential_depth(lambda s, n: depth(s, n, fill=lambda a, b: a // b)) is False
    failed(capsys, "stride of the coarser level - 1")
    assert checks.check_sequential_depth(lambda s, n: 7) is False
    failed(capsys, "strides [1]")
    assert checks.check_sequential_depth(lambda s, n: depth(s, n) + 0.5) is False
    failed(capsys, "whole number")
    assert checks.check_sequential_depth("depth") is False
    failed(capsys, "pass your function")


# ------------------------------------------------------------------------------------------------
# Wasserstein distance
# ------------------------------------------------------------------------------------------------
def w1(a, b):
    sa, sb = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    return float(np.mean(np.abs(sa - sb)))


def test_check_wasserstein_1d(capsys):
    assert checks.check_wasserstein_1d(w1) is True
    assert checks.check_wasserstein_1d(lambda a, b: torch.tensor(w1(a, b))) is True
    capsys.readouterr()
    assert checks.check_wasserstein_1d(lambda a, b: float((a.flatten() - b.flatten()).abs().mean())) is False
    failed(capsys, "two normals", "sort both")
    assert checks.check_wasserstein_1d(
        lambda a, b: float(((a.flatten().sort().values - b.flatten().sort().values) ** 2).mean())) is False
    failed(capsys, "ABSOLUTE")
    assert checks.check_wasserstein_1d(lambda a, b: float(abs(a.mean() - b.mean()))) is False
    failed(capsys, "not between their means")
    assert checks.check_wasserstein_1d(lambda a, b: 0.0) is False
    failed(capsys, "two normals")
    assert checks.check_wasserstein_1d(lambda a, b: np.array([1.0, 2.0])) is False
    failed(capsys, "one number")


def test_checks_never_print_the_answer(capsys):
    from scipy.stats import wasserstein_distance

    gen = torch.Generator().manual_seed(1403)
    a = torch.randn(500, generator=gen, dtype=torch.float64)
    b = 0.5 + torch.randn(500, generator=gen, dtype=torch.float64)
    want = wasserstein_distance(a.numpy(), b.numpy())
    checks.check_wasserstein_1d(lambda a, b: 0.0)
    out = capsys.readouterr().out
    assert f"{want:.3f}" not in out and f"{want:.2g}" not in out
