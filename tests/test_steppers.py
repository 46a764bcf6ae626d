import math

import numpy as np
import pytest
import torch

import hitslite as h
from hitslite.steppers import Stepper

ODE_SYSTEMS = ["harmonic_oscillator", "hyperbolic", "cubic", "van_der_pol", "hopf", "lorenz"]


def test_rk4_converges_at_order_four_on_the_harmonic_oscillator(gen):
    system = h.get_system("harmonic_oscillator")
    x0 = system.sample_initial(16, gen)
    T = 2 * math.pi
    steps = [0.2, 0.1, 0.05, 0.025, 0.0125]
    errors = []
    for dt in steps:
        n = round(T / dt)
        traj = h.rollout(h.RK4(system, T / n), x0, n)
        exact = system.exact_solution(x0, traj.t)
        errors.append(float((traj.x - exact).abs().max()))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 3.8 <= slope <= 4.2, (slope, errors)


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_every_ode_rollout_agrees_with_solve_ivp(name, gen):
    system = h.get_system(name)
    x0 = system.sample_initial(6, gen)
    dt = 1e-4 if name == "lorenz" else 1e-3
    n = 2000
    traj = h.rollout(h.RK4(system, dt), x0, n)
    ref = h.solve_reference(system, x0, traj.t)
    scale = 1.0 + ref.abs().max()
    assert float((traj.x - ref).abs().max() / scale) < 1e-9


def test_ground_truth_is_accurate_to_its_tolerance(gen):
    system = h.get_system("harmonic_oscillator")
    x0 = system.sample_initial(64, gen)
    t = torch.linspace(0, 50, 501, dtype=torch.float64)
    err = (h.solve_reference(system, x0, t) - system.exact_solution(x0, t)).abs().max()
    assert float(err) < 1e-9  # the HiTS code's rtol = 1e-3 gives errors many orders larger


def test_repeated_equals_m_steps(gen):
    system = h.get_system("van_der_pol")
    x0 = system.sample_initial(4, gen)
    fine = h.RK4(system, 0.01)
    rep = h.Repeated(fine, 7)
    assert rep.dt == pytest.approx(0.07)
    assert torch.equal(rep(x0), h.rollout(fine, x0, 7).x[:, -1])


def test_rollout_shapes_time_grid_and_dtype_follow_input(gen):
    system = h.get_system("lorenz")
    x0 = system.sample_initial(3, gen).float()
    traj = h.rollout(h.RK4(system, 1e-3), x0, 10, t0=2.0)
    assert traj.x.shape == (3, 11, 3) and traj.x.dtype == torch.float32
    assert torch.allclose(traj.t, 2.0 + 1e-3 * torch.arange(11, dtype=torch.float64))
    assert torch.equal(traj.x[:, 0], x0)


def test_forecast_dispatches_by_method_and_a_stepper_forecasts_by_rollout(gen):
    system = h.get_system("van_der_pol")
    x0 = system.sample_initial(3, gen)
    rk = h.RK4(system, 0.02)
    traj = h.forecast(rk, x0, 25)
    ref = h.rollout(rk, x0, 25)
    assert torch.equal(traj.x, ref.x) and torch.equal(traj.t, ref.t) and traj.dt == rk.dt
    assert traj.meta["known"].all() and traj.meta["dts"] == [rk.dt]
    hier = h.Hierarchy([h.Repeated(rk, 4), rk])
    assert torch.equal(h.forecast(hier, x0, 25).x, hier.forecast(x0, 25).x)
    with pytest.raises(TypeError, match="forecast"):
        h.forecast(torch.nn.Linear(2, 2), x0, 3)


def test_a_stepper_forecasts_a_finer_grid_as_a_one_level_hierarchy(gen):
    """``Stepper.forecast`` with ``dt`` dividing the step: its own steps, interpolated; the numbers of
    ``Hierarchy([s]).forecast`` bit for bit, also when the horizon ends between two of its steps."""
    system = h.get_system("hyperbolic")
    x0 = system.sample_initial(4, gen)
    coarse = h.RK4(system, 0.08)
    for n in (40, 37, 1, 0):
        got = h.forecast(coarse, x0, n, 0.01)
        assert got.x.shape == (4, n + 1, 2) and got.dt == 0.01
        if n:
            want = h.Hierarchy([coarse]).forecast(x0, n, dt=0.01)
            assert torch.equal(got.x, want.x) and torch.equal(got.t, want.t)
            assert torch.equal(got.meta["known"], want.meta["known"])
    assert torch.equal(got.x[:, 0], x0)
    with pytest.raises(ValueError, match="integer multiple"):
        h.forecast(coarse, x0, 10, 0.03)
    with pytest.raises(h.ForecastDivergedError, match="step 3"):  # own states 1, 1e200, inf at 0, 2, 4
        h.forecast(_Blowup(), torch.ones(2, 1, dtype=torch.float64), 9, 0.5)


class _Blowup(Stepper):
    dt = 1.0

    def forward(self, x):
        return x * 1e200


def test_diverging_rollout_is_reported_with_its_step():
    with pytest.raises(h.ForecastDivergedError, match="step 2") as info:
        h.rollout(_Blowup(), torch.ones(2, 1, dtype=torch.float64), 5)
    assert info.value.step == 2
    raw = h.rollout(_Blowup(), torch.ones(2, 1, dtype=torch.float64), 5, check_finite=False)
    assert not torch.isfinite(raw.x).all()


def test_bad_inputs_name_the_argument():
    system = h.get_system("harmonic_oscillator")
    with pytest.raises(ValueError, match="x0 must have shape"):
        h.rollout(h.RK4(system, 0.1), torch.zeros(2), 3)
    with pytest.raises(ValueError, match="n_steps"):
        h.rollout(h.RK4(system, 0.1), torch.zeros(1, 2), -1)
    with pytest.raises(ValueError, match="dt must be"):
        h.RK4(system, 0.0)
    with pytest.raises(ValueError, match="m must be"):
        h.Repeated(h.RK4(system, 0.1), 0)
    with pytest.raises(ValueError, match="unknown system"):
        h.get_system("lorentz")
    with pytest.raises(ValueError, match="unknown parameter"):
        h.get_system("van_der_pol", mu=2.0, nu=1.0)
    with pytest.raises(ValueError, match="finite number"):
        h.get_system("van_der_pol", mu=float("nan"))


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_systems_know_their_shape_and_sampling_region(name, gen):
    system = h.get_system(name)
    x0 = system.sample_initial(500, gen)
    assert x0.shape == (500, system.dim) == (500, *system.state_shape)
    if name == "harmonic_oscillator":
        assert float(x0.norm(dim=1).max()) <= 1.0  # unit disk, HiTS Sec. 2.1
    else:
        for i, (lo, hi) in enumerate(system.region):
            assert lo <= float(x0[:, i].min()) and float(x0[:, i].max()) <= hi
    f = system.rhs(x0)
    assert f.shape == x0.shape
    assert np.allclose(system.rhs(x0.numpy()), f.numpy())  # same field for NumPy and torch
