"""Adaptive hierarchical stepping (``hitslite.adaptive``): the indicators, the two controllers' limits, their
cost reports, and bad input.

Exact flow maps of a linear system ``x' = A x`` (the matrix exponential) make the step-doubling indicator
vanish; planted errors make it large; ``tol = 0`` and ``tol = inf`` reduce each scheme to a fixed scheme
computed independently (a rollout, or :class:`~hitslite.multiscale.Hierarchy`); counting wrappers check
the reported cost.
"""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm

import hitslite as hl
from hitslite.adaptive import AdaptiveHierarchy, interpolation_surplus, step_doubling_indicator
from hitslite.steppers import Stepper
from hitslite.trajectory import interpolate_gaps

#: a damped rotation: x' = A x with eigenvalues -0.1 +- 2i (a period near pi)
A = np.array([[-0.1, 2.0], [-2.0, -0.1]])


class Exact(Stepper):
    """The exact flow map of x' = A x over ``dt``: x -> expm(A dt) x (plus an optional planted error)."""

    def __init__(self, dt, matrix=A, bias=0.0):
        super().__init__()
        self.dt = dt
        self.register_buffer("m", torch.tensor(expm(matrix * dt)))
        self.bias = bias

    def forward(self, x):
        return x @ self.m.T.to(x) + self.bias


class Counted(Stepper):
    """Counts calls and states pushed through ``inner``."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.dt = inner, inner.dt
        self.calls = self.states = 0

    def forward(self, x):
        self.calls += 1
        self.states += x.shape[0]
        return self.inner(x)


def exact_levels(ks=(3, 2, 1, 0), planted=None, h=0.01):
    """Exact steppers of step h * 2**k, coarsest first; ``planted={k: bias}`` spoils some of them."""
    planted = planted or {}
    return [Exact(h * 2**k, bias=planted.get(k, 0.0)) for k in ks]


def exact_solution(x0, t):
    return torch.stack([x0 @ torch.tensor(expm(A * float(s))).T for s in t], dim=1)


@pytest.fixture
def x0(gen):
    return torch.randn(4, 2, generator=gen, dtype=torch.float64)


# ----------------------------------------------------------------------------------------
# the indicators
# ----------------------------------------------------------------------------------------
def test_exact_flow_maps_make_the_step_doubling_indicator_vanish(x0):
    coarse, fine = Exact(0.4), Exact(0.1)
    e, y, chain = step_doubling_indicator(coarse, fine, x0)
    assert e.shape == (4,) and chain.shape == (4, 4, 2)
    assert float(e.max()) < 1e-13
    assert torch.allclose(chain[:, -1], y, atol=1e-13)
    spoiled, _, _ = step_doubling_indicator(Exact(0.4, bias=0.01), fine, x0)
    assert torch.allclose(spoiled, torch.full((4,), 0.01, dtype=torch.float64), atol=1e-12)  # RMS of 0.01


def test_step_doubling_indicator_is_the_local_error_of_rk4(gen):
    """For RK4 (order 4) the indicator is O(H^5): it falls 32-fold when H halves."""
    system = hl.get_system("harmonic_oscillator")
    x = system.sample_initial(6, gen)
    steps = [0.4, 0.2, 0.1, 0.05]
    errors = [float(step_doubling_indicator(hl.RK4(system, H), hl.RK4(system, H / 2), x)[0].mean())
              for H in steps]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 4.8 < slope < 5.2, slope


def test_surplus_is_the_interpolation_error_of_the_interior_states(x0):
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    exact = exact_solution(x0, t)  # [B, 5, 2]
    s = interpolation_surplus(exact[:, 0], exact[:, -1], exact[:, 1:-1])
    line = exact[:, :1] + (t[1:-1, None] / t[-1]) * (exact[:, -1:] - exact[:, :1])
    by_hand = ((exact[:, 1:-1] - line) ** 2).mean(dim=2).sqrt().max(dim=1).values
    assert torch.allclose(s, by_hand, rtol=1e-12)
    assert float(s.min()) > 0.05  # a quarter turn of a rotation is far from straight
    straight = exact[:, :1] + torch.linspace(0, 1, 5, dtype=torch.float64)[None, :, None] * (
        exact[:, -1:] - exact[:, :1])
    assert float(interpolation_surplus(straight[:, 0], straight[:, -1], straight[:, 1:-1]).max()) < 1e-15


# ----------------------------------------------------------------------------------------
# marching (step doubling)
# ----------------------------------------------------------------------------------------
def test_marching_with_exact_flow_maps_always_takes_the_coarsest_level(x0):
    ada = AdaptiveHierarchy(exact_levels(), tol=1e-10, scheme="marching")
    traj = ada.forecast(x0, 200)
    assert traj.meta["rejected"] == 0
    assert set(traj.meta["step_levels"][0]) == {0}
    assert torch.allclose(traj.x[:, ::8], exact_solution(x0, traj.t[::8]), atol=1e-12)


def test_marching_refines_a_wrong_coarse_level_and_beats_it(x0):
    levels = exact_levels(planted={3: 0.05})  # the coarsest level is off by 0.05 per step
    truth = exact_solution(x0, 0.01 * torch.arange(201))
    ada = AdaptiveHierarchy(levels, tol=0.01, scheme="marching").forecast(x0, 200)
    coarse_only = levels[0].forecast(x0, 200, dt=0.01)
    assert 0 not in ada.meta["step_levels"][0] and ada.meta["rejected"] > 0
    err_ada = float(((ada.x - truth) ** 2).mean())
    err_coarse = float(((coarse_only.x - truth) ** 2).mean())
    assert err_ada < 1e-3 * err_coarse


def test_marching_limits_are_the_finest_and_the_coarsest_level(x0):
    levels = exact_levels(planted={3: 0.02, 2: -0.01, 1: 0.003, 0: 0.001})  # every level a little wrong
    finest = AdaptiveHierarchy(levels, tol=0.0, scheme="marching").forecast(x0, 100)
    assert torch.equal(finest.x, hl.rollout(levels[-1], x0, 100).x)
    assert set(finest.meta["step_levels"][0]) == {3} and finest.meta["known"].all()
    coarsest = AdaptiveHierarchy(levels, tol=math.inf, scheme="marching").forecast(x0, 100)
    assert torch.equal(coarsest.x, levels[0].forecast(x0, 100, dt=0.01).x)
    assert set(coarsest.meta["step_levels"][0]) == {0} and coarsest.meta["rejected"] == 0


def test_marching_shares_one_grid_and_the_worst_trajectory_decides():
    levels = exact_levels(ks=(2, 1, 0))
    calm = torch.zeros(1, 2, dtype=torch.float64)  # the fixed point: every level agrees
    lively = torch.tensor([[1.0, 0.0]], dtype=torch.float64)

    class Spoiled(Stepper):  # wrong only away from the fixed point
        def __init__(self):
            super().__init__()
            self.inner, self.dt = levels[0], levels[0].dt

        def forward(self, x):
            return self.inner(x) + 0.02 * x

    levels = [Spoiled(), *levels[1:]]
    alone = AdaptiveHierarchy(levels, tol=0.005, scheme="marching").forecast(calm, 40)
    assert set(alone.meta["step_levels"][0]) == {0}
    both = AdaptiveHierarchy(levels, tol=0.005, scheme="marching").forecast(torch.cat([calm, lively]), 40)
    assert both.meta["step_levels"][0] == both.meta["step_levels"][1]
    assert max(both.meta["step_levels"][0]) > 0


# ----------------------------------------------------------------------------------------
# the hierarchical scheme (adaptive Algorithm 1)
# ----------------------------------------------------------------------------------------
def test_hierarchical_limits_are_algorithm_1_over_all_levels_and_over_the_two_coarsest(x0):
    levels = exact_levels(ks=(4, 3, 2, 1, 0), planted={4: 0.01, 3: -0.004, 2: 0.002, 1: 0.001})
    n = 160  # a multiple of the coarsest stride: no step beyond the horizon
    full = AdaptiveHierarchy(levels, tol=0.0).forecast(x0, n)
    fixed = hl.Hierarchy(levels)
    assert torch.allclose(full.x, fixed.forecast(x0, n).x, rtol=0, atol=1e-13)
    assert full.meta["cost"] == fixed.cost(n)
    assert full.meta["known"].all()
    probe = AdaptiveHierarchy(levels, tol=math.inf).forecast(x0, n)
    two = hl.Hierarchy(levels[:2])
    assert torch.allclose(probe.x, two.forecast(x0, n, dt=0.01).x, rtol=0, atol=1e-13)
    assert probe.meta["cost"] == two.cost(n, dt=0.01)


def test_hierarchical_refines_where_the_straight_line_fails():
    """A fast rotation is refined, a trajectory near the fixed point is not, each on its own grid."""
    levels = exact_levels(ks=(5, 4, 3, 2, 1, 0))
    x0 = torch.tensor([[1.0, 0.0], [1e-4, 0.0]], dtype=torch.float64)
    traj = AdaptiveHierarchy(levels, tol=1e-3).forecast(x0, 320)
    evals = traj.meta["evaluations_per_trajectory"]
    assert evals[0] > 4 * evals[1]
    assert evals[1] == 10 + 10  # the coarse chain and the probe level only
    truth = exact_solution(x0, traj.t)
    coarse = AdaptiveHierarchy(levels, tol=math.inf).forecast(x0, 320)
    assert float(((traj.x - truth)[0] ** 2).mean()) < 0.01 * float(((coarse.x - truth)[0] ** 2).mean())
    # each row is what that trajectory gets alone
    for b in range(2):
        alone = AdaptiveHierarchy(levels, tol=1e-3).forecast(x0[b:b + 1], 320)
        assert torch.allclose(alone.x[0], traj.x[b], rtol=0, atol=1e-13)
        assert alone.meta["step_levels"][0] == traj.meta["step_levels"][b]


def test_output_grid_is_interpolate_gaps_of_the_known_states(x0):
    levels = exact_levels(ks=(4, 3, 2, 1), planted={3: 0.01})
    traj = AdaptiveHierarchy(levels, tol=0.02).forecast(x0, 96, dt=0.01)  # output finer than the levels
    for b in range(x0.shape[0]):
        idx = traj.meta["known"][b].nonzero().squeeze(1)
        assert torch.equal(interpolate_gaps(idx, traj.x[b:b + 1, idx], 96), traj.x[b:b + 1])
        levels_seen = traj.meta["level"][b][idx[1:]]
        assert (levels_seen >= 0).all() and traj.meta["level"][b, 0] == -1
        assert len(traj.meta["step_levels"][b]) == len(idx) - 1
        starts = torch.tensor(traj.meta["step_times"][b], dtype=torch.float64)
        steps = torch.tensor(traj.meta["dts"], dtype=torch.float64)[levels_seen]
        assert torch.allclose(starts + steps, 0.01 * idx[1:].double())


@pytest.mark.parametrize("scheme", ["hierarchical", "marching"])
def test_reported_cost_matches_an_independent_count(x0, scheme):
    levels = [Counted(s) for s in exact_levels(planted={3: 0.02, 1: 0.004})]
    traj = AdaptiveHierarchy(levels, tol=0.005, scheme=scheme).forecast(x0, 150)
    calls = sum(s.calls for s in levels)
    states = sum(s.states for s in levels)
    assert traj.meta["cost"]["calls"] == calls
    assert sum(traj.meta["evaluations_per_trajectory"]) == states
    assert traj.meta["cost"]["evaluations"] == pytest.approx(states / x0.shape[0])
    if scheme == "marching":
        assert states == calls * x0.shape[0]


def test_gradients_flow_through_the_hierarchical_forecast(x0):
    weight = torch.zeros((), dtype=torch.float64, requires_grad=True)

    class Scaled(Stepper):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.dt = inner, inner.dt

        def forward(self, x):
            return self.inner(x) * (1 + weight)

    levels = [Scaled(s) for s in exact_levels()]
    start = x0.clone().requires_grad_(True)
    traj = AdaptiveHierarchy(levels, tol=1e-3).forecast(start, 80)
    traj.x.pow(2).sum().backward()
    assert start.grad is not None and torch.isfinite(start.grad).all() and float(weight.grad) != 0


def test_divergence_is_reported(x0):
    levels = exact_levels(planted={3: float("nan")})
    with pytest.raises(hl.ForecastDivergedError):
        AdaptiveHierarchy(levels, tol=1e-3).forecast(x0, 40)
    traj = AdaptiveHierarchy(levels, tol=1e-3).forecast(x0, 40, check_finite=False)
    assert torch.isnan(traj.x).any()
    # marching rejects a NaN candidate and refines instead
    marched = AdaptiveHierarchy(levels, tol=1e-3, scheme="marching").forecast(x0, 40)
    assert torch.isfinite(marched.x).all() and 0 not in marched.meta["step_levels"][0]


# ----------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------
def test_bad_input_names_the_argument(x0):
    good = exact_levels()
    with pytest.raises(ValueError, match="levels must hold at least two"):
        AdaptiveHierarchy(good[:1], tol=0.1)
    with pytest.raises(TypeError, match=r"levels\[1\]"):
        AdaptiveHierarchy([good[0], "stepper"], tol=0.1)
    with pytest.raises(ValueError, match="levels must have steps"):
        AdaptiveHierarchy([Exact(0.03), Exact(0.02)], tol=0.1)
    with pytest.raises(ValueError, match="levels must have steps"):
        AdaptiveHierarchy([Exact(0.02), Exact(0.02)], tol=0.1)
    with pytest.raises(TypeError, match="levels must be a sequence"):
        AdaptiveHierarchy(good[0], tol=0.1)
    for tol in (-1.0, float("nan"), True, "0.1", None):
        with pytest.raises(ValueError, match="tol must be"):
            AdaptiveHierarchy(good, tol=tol)
    with pytest.raises(ValueError, match="scheme must be one of"):
        AdaptiveHierarchy(good, tol=0.1, scheme="rk45")
    for grow in (0.0, 1.5):
        with pytest.raises(ValueError, match="grow must"):
            AdaptiveHierarchy(good, tol=0.1, grow=grow)
    ada = AdaptiveHierarchy(good, tol=torch.tensor(0.1))
    assert ada.tol == pytest.approx(0.1) and ada.dts == [0.08, 0.04, 0.02, 0.01]
    assert AdaptiveHierarchy(hl.Hierarchy(good), tol=0.1).dts == ada.dts
    with pytest.raises(TypeError, match="x0"):
        ada.forecast([[0.0, 1.0]], 10)
    with pytest.raises(TypeError, match="x0"):
        ada.forecast(torch.zeros(2, 2, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="x0 must be a tensor of shape"):
        ada.forecast(torch.zeros(2, dtype=torch.float64), 10)
    with pytest.raises(ValueError, match="x0 must hold"):
        ada.forecast(torch.zeros(0, 2, dtype=torch.float64), 10)
    with pytest.raises(ValueError, match="n_steps"):
        ada.forecast(x0, 0)
    with pytest.raises(ValueError, match="dt must divide"):
        ada.forecast(x0, 10, dt=0.03)
    with pytest.raises(ValueError, match="coarse.dt"):
        step_doubling_indicator(Exact(0.03), Exact(0.02), x0)
    with pytest.raises(ValueError, match="coarse.dt must be at least twice"):
        step_doubling_indicator(Exact(0.02), Exact(0.02), x0)
    with pytest.raises(TypeError, match="fine"):
        step_doubling_indicator(Exact(0.02), None, x0)
    with pytest.raises(ValueError, match="interior"):
        interpolation_surplus(x0, x0, x0)
    with pytest.raises(ValueError, match="x_start and x_end"):
        interpolation_surplus(x0, x0[:2], x0[:, None])
