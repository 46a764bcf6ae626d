"""Every exercise self-check passes a right answer and fails a wrong one, returns a bool, accepts numpy
scalars / 0-d tensors and arrays / tensors interchangeably, and never prints the expected value.

Each ``check_x`` of :mod:`hitslite.checks` has a ``test_check_x`` here; ``test_every_check_is_tested``
fails when a new check arrives without one.
"""

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import hitslite as hl
from hitslite import checks
from hitslite.metrics import analogue_error, integrated_mse, mnad, moments, nad, wasserstein
from hitslite.nets import PCA, PermutationInvariantEncoder


def number_types(x):
    """The same number as a Python float, a numpy scalar and a 0-d tensor."""
    return [float(x), np.float64(x), torch.tensor(float(x), dtype=torch.float64)]


def assert_hidden(capsys, want):
    """The last check failed and its output does not contain the expected value in any usual format."""
    out = capsys.readouterr().out
    assert "NOT YET" in out
    shown = {f"{want:.{p}g}" for p in range(3, 7)} | {repr(want), repr(float(want))}
    if abs(want) >= 100:
        shown.add(f"{want:.0f}")
    for text in shown:
        assert text not in out, f"the failure message gives away the expected value {text}: {out}"


def test_every_check_is_tested():
    names = [n for n in dir(checks) if n.startswith("check_") and callable(getattr(checks, n))]
    assert len(names) >= 30
    # the right/wrong cases live in this file and in tests/test_checks_*.py (one per Part)
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


def test_check_latent_speedup():
    def full():
        return torch.zeros(2, 9, 4)

    assert checks.check_latent_speedup(torch.tensor(4.0), full, full) is True
    assert checks.check_latent_speedup(np.float64(0.25), full, lambda: torch.zeros(2, 9, 5)) is False
    assert checks.check_latent_speedup(4.0, 0.02, 0.005) is False


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


# ------------------------------------------------------------------------------------------------
# Chapter 7
# ------------------------------------------------------------------------------------------------
def test_check_etdrk4_order(capsys):
    steps = [0.2, 0.1, 0.05, 0.025]
    assert checks.check_etdrk4_order(lambda h: 2e-3 * h**4 * (1 + 0.05 * h), steps) is True
    assert checks.check_etdrk4_order(lambda h: torch.tensor(2e-3 * h**4), steps) is True
    assert checks.check_etdrk4_order(4.0, steps) is False
    assert checks.check_etdrk4_order(lambda h: h**3, steps) is False
    assert checks.check_etdrk4_order(lambda h: 1e-16 * h**4, steps) is False
    assert "NOT YET" in capsys.readouterr().out


def test_check_lyapunov_exponent(capsys):
    seen = []

    def estimate(x0):
        seen.append(tuple(x0.shape))
        return torch.full((x0.shape[0],), 0.05, dtype=torch.float64)

    assert checks.check_lyapunov_exponent(estimate) is True
    assert seen == [(4, 64)]  # the check draws its own initial states of KS, L = 22
    assert checks.check_lyapunov_exponent(lambda x0: np.full(x0.shape[0], 0.044)) is True
    assert checks.check_lyapunov_exponent(0.048) is False  # typing the literature value no longer passes
    assert checks.check_lyapunov_exponent(lambda x0: torch.tensor(0.048)) is False  # one number, not four
    capsys.readouterr()
    assert checks.check_lyapunov_exponent(lambda x0: torch.full((x0.shape[0],), 0.1)) is False
    assert_hidden(capsys, checks.KS_L22_LYAPUNOV)


def test_check_uniform_variance(capsys):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2000, 1, generator=gen, dtype=torch.float64) - 0.5
    for variance in number_types(float(x.var())):
        assert checks.check_uniform_variance(variance, x) is True
    assert checks.check_uniform_variance(float(x.numpy().var()), x.numpy()) is True  # population variance
    assert checks.check_uniform_variance(1 / 12) is False  # the textbook value alone no longer passes
    assert checks.check_uniform_variance(float(x.std()), x) is False  # std, not variance
    assert checks.check_uniform_variance(float((1.2 * x).var()), 1.2 * x) is False  # outside the box
    capsys.readouterr()
    peaked = (0.1 * torch.randn(2000, generator=gen, dtype=torch.float64)).clamp(-0.5, 0.5)  # not relaxed yet
    assert checks.check_uniform_variance(float(peaked.var()), peaked) is False
    assert_hidden(capsys, 1 / 12)
    biased = torch.sqrt(torch.rand(2000, generator=gen, dtype=torch.float64)) - 0.5  # density 2u: not uniform
    assert checks.check_uniform_variance(float(biased.var()), biased) is False


# ------------------------------------------------------------------------------------------------
# Chapters 8-9
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def small_splits(monkeypatch):
    """A small low-rank stand-in for the L-HiTS snapshots, so the PCA checks need no generated data."""
    gen = torch.Generator().manual_seed(3)
    basis = torch.randn(4, 10, generator=gen, dtype=torch.float64)

    def snapshots(b):
        z = torch.randn(b, 30, 4, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0, 0.5])
        return z @ basis + 0.05 * torch.randn(b, 30, 10, generator=gen, dtype=torch.float64)

    splits = {"train": snapshots(4), "val": snapshots(2), "test": snapshots(2)}
    monkeypatch.setattr(checks.part2, "lhits_snapshots", lambda system: splits)
    return splits


def pca_error(fit_on, test, z):
    return float(((PCA(10, z).fit(fit_on)(test) - test) ** 2).mean())


def test_check_pca_test_error(small_splits, capsys):
    want = pca_error(small_splits["train"], small_splits["test"], 2)
    for answer in number_types(want):
        assert checks.check_pca_test_error(answer, system="ks", z=2) is True
    leaky = pca_error(small_splits["test"], small_splits["test"], 2)
    assert checks.check_pca_test_error(leaky, system="ks", z=2) is False
    assert_hidden(capsys, want)


def test_check_pca_leak(small_splits, capsys):
    honest = pca_error(small_splits["train"], small_splits["test"], 2)
    leaky = pca_error(small_splits["test"], small_splits["test"], 2)
    assert checks.check_pca_leak(np.float64(honest), torch.tensor(leaky), system="fhn", z=2) is True
    assert checks.check_pca_leak(leaky, honest, system="fhn", z=2) is False
    out = capsys.readouterr().out
    for want in (honest, leaky):
        assert f"{want:.4g}" not in out and f"{want:.3g}" not in out


def test_check_energy_dimension(small_splits, capsys):
    flat = small_splits["train"].reshape(-1, 10)
    s2 = torch.linalg.svdvals(flat - flat.mean(dim=0)) ** 2
    want = int((torch.cumsum(s2, 0) / s2.sum() < 0.99).sum()) + 1
    for answer in (want, np.int64(want), torch.tensor(want)):
        assert checks.check_energy_dimension(answer, system="ks") is True
    assert checks.check_energy_dimension(want - 1, system="ks") is False
    assert "NOT YET" in capsys.readouterr().out


def test_check_lhits_map_calls(capsys):
    assert checks.check_lhits_map_calls(1, 1) is True
    assert checks.check_lhits_map_calls(np.int64(1), torch.tensor(1)) is True
    assert checks.check_lhits_map_calls(2, 1) is False
    out = capsys.readouterr().out
    assert "once" not in out and "(1, 1)" not in out
    assert checks.check_lhits_map_calls(1, 101) is False  # a decode per output state


def test_check_analogue_error(capsys):
    t = torch.arange(400) * 0.1
    x = torch.stack([torch.cos(t + p) for p in (0.0, 1.0, 2.0)])[..., None]  # [3, 400, 1]
    want = analogue_error(x, x, 16, n_queries=50, generator=torch.Generator().manual_seed(3)) / float(x.var())
    for answer in number_types(want):
        assert checks.check_analogue_error(answer, x, 16, n_queries=50, seed=3) is True
    assert checks.check_analogue_error(want, x.numpy(), 16, n_queries=50, seed=3) is True
    assert checks.check_analogue_error(want * 1.1 + 1e-3, x, 16, n_queries=50, seed=3) is False
    assert_hidden(capsys, want)
    assert checks.check_analogue_error("small", x, 16, n_queries=50, seed=3) is False


# ------------------------------------------------------------------------------------------------
# Chapters 10-11
# ------------------------------------------------------------------------------------------------
def fields(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(*shape, generator=gen, dtype=torch.float64)
    return truth + 0.3 * torch.randn(*shape, generator=gen, dtype=torch.float64), truth


def test_check_mnad(capsys):
    pred, truth = fields((2, 20, 2, 8), 0)
    y, y_hat = truth[:, :, 1], pred[:, :, 1]  # by hand: range of the true field per trajectory
    ptp = (y.amax(dim=(1, 2)) - y.amin(dim=(1, 2)))[:, None]
    want = float(((y - y_hat).abs().mean(dim=2) / ptp).mean())
    assert math.isclose(want, float(mnad(pred, truth, channel_axis=2)[1]))
    for answer in number_types(want):
        assert checks.check_mnad(answer, pred, truth, channel=1) is True
    assert checks.check_mnad(want, pred.numpy(), truth.numpy(), channel=1) is True
    wrong = float(((y - y_hat).abs().mean(dim=2) / (y_hat.amax() - y_hat.amin())).mean())  # range of pred
    assert checks.check_mnad(wrong, pred, truth, channel=1) is False
    assert_hidden(capsys, want)


class FakeLED:
    """Forecasts hold the last warm-up state, off by an amount that shrinks with the warm-up length."""

    def forecast(self, x_warm, n_steps):
        last = x_warm[:, -1:]
        return SimpleNamespace(x=last.expand(-1, n_steps + 1, *last.shape[2:]) + 1.0 / x_warm.shape[1])


def test_check_warmup_ratio(capsys):
    gen = torch.Generator().manual_seed(0)
    states = torch.randn(2, 80, 2, 6, generator=gen, dtype=torch.float64)
    led, warm = FakeLED(), 10
    truth = states[:, warm - 1: warm + 50]
    short = led.forecast(states[:, warm - 1: warm], 50).x
    full = led.forecast(states[:, :warm], 50).x
    want = float(nad(short, truth, channel_axis=2)[..., 0].mean()
                 / nad(full, truth, channel_axis=2)[..., 0].mean())
    for answer in number_types(want):
        assert checks.check_warmup_ratio(answer, led, states, warm) is True
    assert checks.check_warmup_ratio(1 / want, led, states, warm) is False
    assert_hidden(capsys, want)


def test_check_led_flop_ratio(capsys):
    d = 8
    want = 200 * 2 * 3 * 101 * 10 / (4 * 32 * (d + 32) + 32 * d)
    for answer in number_types(want):
        assert checks.check_led_flop_ratio(answer, d) is True
    assert checks.check_led_flop_ratio(200 * 2 * 3 * 101 * 10 / (4 * 32 * (d + 32)) * 2, d) is False
    assert_hidden(capsys, want)


def speedup_formula(rho, s_latent):
    return (1 + rho) / (1 + rho / s_latent)


def test_check_schedule_speedup(capsys):
    want = speedup_formula(5, 12.0)
    for answer in number_types(want):
        assert checks.check_schedule_speedup(answer, rho=5, latent_speedup=np.float64(12.0)) is True
    assert checks.check_schedule_speedup(speedup_formula) is True  # the formula, on pairs the check draws
    assert checks.check_schedule_speedup(1 + 5 / 12.0, rho=5, latent_speedup=12.0) is False
    assert_hidden(capsys, want)
    assert checks.check_schedule_speedup(lambda r, s: 1 + r) is False  # right only for S_latent -> inf
    assert checks.check_schedule_speedup(want) is False  # a value without its inputs


def test_check_solver_phase_nad(capsys):
    pred, truth = fields((2, 121, 2, 5), 1)
    j = torch.arange(121)
    solver_steps = (j >= 1) & ((j - 1) % 60 >= 50)  # 50 latent steps, then 10 solver steps, repeated
    curve = nad(pred, truth, channel_axis=2)[..., 0].mean(0)
    want = float(curve[solver_steps].mean())
    for answer in number_types(want):
        assert checks.check_solver_phase_nad(answer, pred, truth, T_m=50, T_mu=10) is True
    assert checks.check_solver_phase_nad(want, pred.numpy(), truth.numpy(), T_m=50, T_mu=10) is True
    capsys.readouterr()
    wrong = float(curve[j >= 1].mean()) * 1.5  # every step, not only the solver's
    assert checks.check_solver_phase_nad(wrong, pred, truth, T_m=50, T_mu=10) is False
    assert_hidden(capsys, want)


def test_check_saturation_nad(capsys):
    _, truth = fields((4, 10, 6), 2)
    want = float(nad(torch.roll(truth, 1, dims=0), truth).mean())
    for answer in number_types(want):
        assert checks.check_saturation_nad(answer, truth) is True
    assert checks.check_saturation_nad(want, truth.numpy()) is True
    assert checks.check_saturation_nad(0.0, truth) is False
    assert_hidden(capsys, want)


# ------------------------------------------------------------------------------------------------
# Chapter 12
# ------------------------------------------------------------------------------------------------
def test_check_particle_moments(capsys):
    c = torch.rand(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    m1 = float(c.mean(dim=0).mean())
    m2 = float(((c - c.mean(dim=0)) ** 2).mean(dim=0).mean())
    for a, b in zip(number_types(m1), number_types(m2)):
        assert checks.check_particle_moments(a, b, c) is True
    assert checks.check_particle_moments(m1, m2, c.numpy()) is True
    assert checks.check_particle_moments(m1, float(c.var(dim=0).mean()), c) is False  # N - 1
    assert_hidden(capsys, float(moments(c, average_dims=True)[1]))


def test_check_self_similar_wd(capsys):
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(6, 3, 50, 1, generator=gen, dtype=torch.float64)
    b = torch.rand(6, 3, 50, 1, generator=gen, dtype=torch.float64)
    want = wasserstein(moments(a[:4, -1], average_dims=True)[1], moments(b[:4, -1], average_dims=True)[1])
    for answer in number_types(want):
        assert checks.check_self_similar_wd(answer, a, b, runs=4) is True
    assert checks.check_self_similar_wd(want, a.numpy(), b.numpy(), runs=4) is True
    wrong = wasserstein(moments(a[:, -1], average_dims=True)[1], moments(b[:, -1], average_dims=True)[1])
    assert checks.check_self_similar_wd(wrong, a, b, runs=4) is False  # every run, not the first `runs`
    assert_hidden(capsys, want)


def test_check_multiscale_speedup(capsys):
    want = speedup_formula(5, 30.0)
    for answer in number_types(want):
        assert checks.check_multiscale_speedup(answer, torch.tensor(30.0), rho=5) is True
    assert checks.check_multiscale_speedup(speedup_formula) is True
    assert checks.check_multiscale_speedup(30.0 / (1 + 5), 30.0, rho=5) is False
    assert_hidden(capsys, want)
    assert checks.check_multiscale_speedup(lambda r, s: s) is False


def chapter_reversal_gap(encode, x):  # the solution of Ch. 12
    with torch.no_grad():
        return float((encode(x) - encode(x.flip(dims=[-2]))).abs().max())


def test_check_permutation_invariance(capsys):
    torch.manual_seed(0)
    model = PermutationInvariantEncoder(3, 4, feature_dim=16, width=16, layers=2)
    x = torch.rand(6, 50, 3, generator=torch.Generator().manual_seed(1)) - 0.5
    assert checks.check_permutation_invariance(chapter_reversal_gap, model, x) is True
    assert checks.check_permutation_invariance(chapter_reversal_gap, model.encode, x.numpy()) is True
    assert checks.check_permutation_invariance(0.0, model, x) is False  # a number cannot be judged
    assert checks.check_permutation_invariance(lambda e, c: 0.0, model, x) is False  # the old loophole
    for dim in (0, -1):  # the time axis, the coordinates
        def wrong_axis(encode, c, dim=dim):
            with torch.no_grad():
                return float((encode(c) - encode(c.flip(dims=[dim]))).abs().max())

        assert checks.check_permutation_invariance(wrong_axis, model, x) is False
    assert "NOT YET" in capsys.readouterr().out
