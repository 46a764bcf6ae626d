"""Every exercise self-check passes a right answer and fails a wrong one, returns a bool, accepts numpy
scalars / 0-d tensors and arrays / tensors interchangeably, and never prints the expected value.

Each ``check_x`` of :mod:`hitslite.checks` has a ``test_check_x`` here; ``test_every_check_is_tested``
fails when a new check arrives without one.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from checkcases import assert_hidden, number_types

import hitslite as hl
from hitslite import checks
from hitslite.metrics import integrated_mse


def test_every_check_is_tested():
    names = [n for n in dir(checks) if n.startswith("check_") and callable(getattr(checks, n))]
    assert len(names) >= 30
    # the right/wrong cases live in this file and in tests/test_checks_*.py (Chapters 7-13: *_part23.py)
    sources = "".join(f.read_text() for f in Path(__file__).parent.glob("test_checks*.py"))
    untested = [n for n in names if f"def test_{n}(" not in sources]
    assert not untested, f"checks without a test case: {untested}"
    assert sorted(names) == sorted(n for n in checks.__all__ if n.startswith("check_"))


# ------------------------------------------------------------------------------------------------
# Chapter 1
# ------------------------------------------------------------------------------------------------
def rotation(x, dt):
    c, s = np.cos(dt), np.sin(dt)
    return torch.stack([c * x[:, 0] + s * x[:, 1], -s * x[:, 0] + c * x[:, 1]], dim=-1)


def test_check_flow_map(capsys):
    assert checks.check_flow_map(rotation) is True
    assert checks.check_flow_map(lambda x, dt: rotation(x, dt).numpy()) is True  # arrays as well as tensors
    assert checks.check_flow_map(lambda x, dt: rotation(x, -dt)) is False  # counter-clockwise
    assert checks.check_flow_map(lambda x, dt: x[:, :1]) is False
    assert checks.check_flow_map(lambda x, dt: rotation(x, dt) if dt < 1 else x) is False
    assert "dt = 3.0" in capsys.readouterr().out  # says which case failed
    assert checks.check_flow_map(0.5) is False


def test_check_rk4_order(capsys):
    oscillator = hl.get_system("harmonic_oscillator")
    x0 = oscillator.sample_initial(8, torch.Generator().manual_seed(0))

    def error(dt):  # RK4 on the oscillator against its exact solution at t = 2
        end = hl.rollout(hl.RK4(oscillator, dt), x0, round(2 / dt)).x[:, -1]
        exact = oscillator.exact_solution(x0, torch.tensor([2.0], dtype=torch.float64))[:, 0]
        return float((end - exact).abs().max())

    steps = [0.1, 0.05, 0.025, 0.0125]
    assert checks.check_rk4_order(error, steps) is True
    assert checks.check_rk4_order(lambda h: torch.tensor(3 * h**4), np.array(steps)) is True
    assert checks.check_rk4_order(lambda h: np.float64(3 * h**4), steps) is True
    assert checks.check_rk4_order(4.0, steps) is False  # typing the textbook order no longer passes
    assert checks.check_rk4_order(lambda h: h**2, steps) is False
    assert checks.check_rk4_order(lambda h: 1e-15 * h**4, steps) is False  # round-off, not the method
    assert checks.check_rk4_order(lambda h: 1 / h**4, steps) is False  # error grows as dt shrinks
    assert checks.check_rk4_order(lambda h: [h, h], steps) is False
    assert checks.check_rk4_order(error, [0.1]) is False
    assert "NOT YET" in capsys.readouterr().out


def test_check_sequential_calls(capsys):
    dts = [0.008 * 2**k for k in range(8)]
    for answer in (16 + 7, np.int64(23), torch.tensor(23), 23.0):
        assert checks.check_sequential_calls(answer, dts, 2048) is True
    assert checks.check_sequential_calls(24, [1, 6, 36, 216, 1296], 4000, dt=1) is True
    assert checks.check_sequential_calls(2048, dts, 2048) is False
    assert_hidden(capsys, 23)
    assert checks.check_sequential_calls(23.5, dts, 2048) is False
    assert checks.check_sequential_calls("23", dts, 2048) is False


def test_check_best_single_step(capsys):
    errors = {0.008: 3e-3, 0.064: 1e-4, 1.024: 2e-2}
    for answer in number_types(0.064):
        assert checks.check_best_single_step(answer, errors) is True
    assert checks.check_best_single_step(0.064, {np.float64(k): torch.tensor(v) for k, v in errors.items()})
    assert checks.check_best_single_step(0.008, errors) is False
    assert_hidden(capsys, 0.064)


# ------------------------------------------------------------------------------------------------
# Chapter 2
# ------------------------------------------------------------------------------------------------
def chapter_fill(known_idx, known_x, n_steps):  # the solution of Ch. 2
    grid = torch.arange(n_steps + 1)
    right = torch.searchsorted(known_idx, grid).clamp(max=len(known_idx) - 1)
    left = torch.where(known_idx[right] == grid, right, right - 1)
    a, b = known_idx[left], known_idx[right]
    w = ((grid - a) / (b - a).clamp(min=1)).to(known_x.dtype)[None, :, None]
    return known_x[:, left] + w * (known_x[:, right] - known_x[:, left])


def test_check_interpolation(capsys):
    assert checks.check_interpolation(chapter_fill) is True
    assert checks.check_interpolation(lambda i, x, n: chapter_fill(i, x, n).numpy()) is True

    def nearest(known_idx, known_x, n_steps):
        grid = torch.arange(n_steps + 1)
        return known_x[:, (grid[:, None] - known_idx[None]).abs().argmin(1)]

    assert checks.check_interpolation(nearest) is False
    assert "known indices" in capsys.readouterr().out
    assert checks.check_interpolation(lambda i, x, n: x) is False
    assert checks.check_interpolation(lambda i, x, n: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out


def chapter_select(steppers, val):  # the solution of Ch. 2
    def score(group):
        with torch.no_grad():
            x0 = val.x[:, 0].to(torch.float64)
            return integrated_mse(hl.Hierarchy(group).forecast(x0, val.n_steps, dt=val.dt), val)

    upper_scores = {u: score(steppers[: u + 1]) for u in range(len(steppers))}
    upper = min(upper_scores, key=lambda u: (upper_scores[u], -u))
    lower_scores = {l: score(steppers[l: upper + 1]) for l in range(upper + 1)}
    lower = min(lower_scores, key=lambda l: (lower_scores[l], -l))
    return lower, upper


def test_check_two_pass_selection(capsys):
    assert checks.check_two_pass_selection(chapter_select) is True
    assert checks.check_two_pass_selection(lambda s, v: tuple(np.int64(i) for i in chapter_select(s, v)))
    assert checks.check_two_pass_selection(lambda s, v: (0, len(s) - 1)) is False
    assert checks.check_two_pass_selection(lambda s, v: 3) is False
    assert "NOT YET" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Chapters 3, 4, 9: speed-ups
# ------------------------------------------------------------------------------------------------
def test_check_speedup(capsys):
    oscillator = hl.get_system("harmonic_oscillator")
    fine = hl.RK4(oscillator, 0.01)
    test = hl.rollout(fine, oscillator.sample_initial(4, torch.Generator().manual_seed(0)), 64)
    comparison = hl.multiscale.compare_levels([fine, hl.Repeated(fine, 2), hl.Repeated(fine, 4)], test, 1, 2)
    comparison = dataclasses.replace(comparison, single_seconds=[1.0, 0.5, 0.2], multiscale_seconds=0.1)
    for answer in number_types(5.0):
        assert checks.check_speedup(answer, comparison) is True
    assert checks.check_speedup(10.0, comparison) is False  # levels[0], not the finest coupled level
    assert_hidden(capsys, 5.0)

    def slow():
        return torch.zeros(3, 11, 2)

    def fast():
        return hl.data.Trajectory(t=torch.arange(11.0), x=torch.ones(3, 11, 2), dt=1.0)

    assert checks.check_speedup(5.0, slow, fast) is True
    assert checks.check_speedup(0.2, slow, fast) is True  # a slow-down is a ratio too; the check never times
    assert checks.check_speedup(5.0, slow, lambda: torch.zeros(3, 6, 2)) is False  # not the same horizon
    assert checks.check_speedup(5.0, slow, lambda: None) is False  # not a forecast
    assert checks.check_speedup(-5.0, slow, fast) is False
    assert checks.check_speedup(5.0, 1.0, 0.2) is False  # bare numbers cannot be judged
    assert checks.check_speedup("fast", slow, fast) is False
    assert "NOT YET" in capsys.readouterr().out


def test_check_error_horizon(capsys):
    t = torch.arange(100) * 0.01
    curve = torch.exp(torch.linspace(-5, 2, 100))
    want = float(t[(curve >= 1).nonzero()[0, 0]])
    for answer in number_types(want):
        assert checks.check_error_horizon(answer, t, curve) is True
    assert checks.check_error_horizon(want, t.numpy(), curve.numpy()) is True
    assert checks.check_error_horizon(math.inf, t, curve * 1e-3) is True  # never reaches 1
    assert checks.check_error_horizon(float((curve >= 1).nonzero()[0, 0]), t, curve) is False  # an index
    assert_hidden(capsys, want)


# ------------------------------------------------------------------------------------------------
# Chapter 5
# ------------------------------------------------------------------------------------------------
def test_check_noise_std(capsys):
    std = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    assert checks.check_noise_std(0.01 * std, std, 0.01, "std") is True
    assert checks.check_noise_std((0.1 * std).numpy(), std.numpy(), 0.01, "variance") is True
    assert checks.check_noise_std(0.01 * std, std, 0.01, "variance") is False
    assert checks.check_noise_std(0.01 * std[:2], std, 0.01, "std") is False
    out = capsys.readouterr().out
    assert "0.005" not in out and "0.05" not in out  # the expected stds
    with pytest.raises(ValueError):
        checks.check_noise_std(std, std, 0.01, "both")


# ------------------------------------------------------------------------------------------------
# Chapter 6
# ------------------------------------------------------------------------------------------------
def test_check_lstm_hidden(capsys):
    for answer in (49, np.int64(49), torch.tensor(49)):  # Table 4's 15 388 parameters, D = 22
        assert checks.check_lstm_hidden(answer, dim=22, target=15388) is True
    assert checks.check_lstm_hidden(50, dim=22, target=15388) is False
    assert_hidden(capsys, 49)
    assert checks.check_lstm_hidden(-3, dim=22, target=15388) is False


def test_check_spectral_radius(capsys):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, 50, generator=gen, dtype=torch.float64)
    scaled = w * (0.9 / torch.linalg.eigvals(w).abs().max())
    assert checks.check_spectral_radius(scaled, 0.9) is True
    assert checks.check_spectral_radius(scaled.numpy(), np.float64(0.9)) is True
    assert checks.check_spectral_radius(w * (0.9 / torch.linalg.matrix_norm(w, 2)), 0.9) is False
    assert checks.check_spectral_radius(scaled[:, :10], 0.9) is False
    assert "NOT YET" in capsys.readouterr().out
