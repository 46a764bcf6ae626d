"""Coarse projective integration: the closed-form amplification of a linear system, first-order
convergence in the jump, the micro solver reproduced when nothing is projected, lattice Boltzmann as the
micro model, and bad input."""

import math

import pytest
import torch

import hitslite as hl
from hitslite.equation_free import micro_fraction, projective_integration
from hitslite.steppers import Stepper


class ExactLinear(Stepper):
    """x' = diag(rates) x, stepped exactly: the micro model whose projective integration has a closed form."""

    def __init__(self, rates, dt):
        super().__init__()
        self.rates = torch.tensor(rates, dtype=torch.float64)
        self.dt = dt

    def forward(self, x):
        return x * torch.exp(self.rates * self.dt)


def amplification(rate, h, heal, estimate, jump):
    """G(lambda) of one cycle (the module's formula)."""
    burst = math.exp(rate * (heal + estimate) * h)
    return burst * (1 + jump * h * (1 - math.exp(-rate * estimate * h)) / (estimate * h))


def test_one_cycle_multiplies_each_component_by_the_closed_form_amplification():
    rates, h, heal, est, jump = [-200.0, -0.5, 0.1], 0.01, 5, 3, 40
    micro = ExactLinear(rates, h)
    x0 = torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)
    cycle = heal + est + jump
    out = projective_integration(micro, x0, 3 * cycle, heal_steps=heal, estimate_steps=est, jump_steps=jump)
    for n in (1, 2, 3):
        gains = [amplification(r, h, heal, est, jump) ** n for r in rates]
        expect = torch.tensor(gains, dtype=torch.float64) * x0[0]
        assert torch.allclose(out.x[0, n * cycle], expect, rtol=1e-12, atol=1e-15)
    # the fast component is damped (|G| < 1e-3 here); the line between bursts is the projection
    assert abs(float(out.x[0, cycle, 0])) < 1e-3
    e = heal + est
    slope = (out.x[0, e] - out.x[0, heal]) / (est * h)
    assert torch.allclose(out.x[0, e + 7], out.x[0, e] + 7 * h * slope, rtol=1e-10)
    assert out.meta["micro_steps"] == 3 * (heal + est)  # three cycles fill the horizon exactly
    assert out.meta["micro_fraction"] == pytest.approx((heal + est) / cycle)
    assert out.t[-1] == pytest.approx(3 * cycle * h)


def test_slow_component_converges_at_first_order_in_the_jump():
    rate, h, horizon = -0.2, 0.01, 8.0
    micro = ExactLinear([-300.0, rate], h)
    x0 = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    heal, est = 5, 4  # healing damps the fast rate by exp(-15): the burst must outlast it
    errors = []
    for jump in (10, 20, 40, 80):  # Delta = 0.1 ... 0.8
        cycle = heal + est + jump
        n = round(horizon / h / cycle) * cycle
        out = projective_integration(micro, x0, n, heal_steps=heal, estimate_steps=est, jump_steps=jump)
        exact = math.exp(rate * float(out.t[-1]))
        errors.append(abs(float(out.x[0, -1, 1]) - exact) / exact)
        assert abs(float(out.x[0, -1, 0])) < 1e-6  # the fast component stays damped
    orders = [math.log2(b / a) for a, b in zip(errors, errors[1:])]
    assert all(0.85 < p < 1.3 for p in orders), (errors, orders)  # first order in Delta


def test_without_jumps_it_is_the_micro_solver():
    system = hl.get_system("harmonic_oscillator")
    rk = hl.RK4(system, 0.01)
    x0 = system.sample_initial(4, torch.Generator().manual_seed(0))
    out = projective_integration(rk, x0, 60, heal_steps=0, estimate_steps=7, jump_steps=0)
    assert torch.equal(out.x, hl.rollout(rk, x0, 60).x)
    assert out.meta["micro_fraction"] == 1.0


def test_lattice_boltzmann_bursts_follow_the_solver_and_short_jumps_stay_close():
    fhn = hl.get_system("fhn")
    lb = hl.Repeated(hl.LatticeBoltzmann(fhn, 0.005), 50)  # micro step 0.25 time units
    x0 = hl.fhn_dataset("test", n_steps=1).x[:, 0].double()  # the test initial condition
    truth = hl.rollout(lb, x0, 80).x
    burst_only = projective_integration(lb, x0, 80, heal_steps=0, estimate_steps=80, jump_steps=0)
    assert torch.equal(burst_only.x, truth)  # one burst: the solver itself
    short = projective_integration(lb, x0, 80, heal_steps=1, estimate_steps=2, jump_steps=1)
    long = projective_integration(lb, x0, 80, heal_steps=1, estimate_steps=2, jump_steps=8)
    err = {k: float((v.x - truth).abs().mean() / truth.abs().mean()) for k, v in
           (("short", short), ("long", long))}
    assert err["short"] < err["long"] < 0.5, err
    assert err["short"] < 0.05, err


@pytest.mark.parametrize("kwargs, match", [
    ({"heal_steps": -1, "estimate_steps": 1, "jump_steps": 0}, "heal_steps"),
    ({"heal_steps": 0, "estimate_steps": 0, "jump_steps": 0}, "estimate_steps"),
    ({"heal_steps": 0, "estimate_steps": 1, "jump_steps": 1.5}, "jump_steps"),
])
def test_bad_settings_name_the_argument(kwargs, match):
    micro = ExactLinear([-1.0], 0.1)
    with pytest.raises(ValueError, match=match):
        projective_integration(micro, torch.ones(1, 1, dtype=torch.float64), 10, **kwargs)
    with pytest.raises(ValueError, match=match):
        micro_fraction(kwargs["heal_steps"], kwargs["estimate_steps"], kwargs["jump_steps"])


def test_bad_micro_and_state():
    with pytest.raises(TypeError, match="micro must be a hitslite Stepper"):
        projective_integration(lambda x: x, torch.ones(1, 1), 5, heal_steps=0, estimate_steps=1, jump_steps=1)
    with pytest.raises(ValueError, match="n_steps"):
        projective_integration(ExactLinear([-1.0], 0.1), torch.ones(1, 1, dtype=torch.float64), 0,
                               heal_steps=0, estimate_steps=1, jump_steps=1)
    with pytest.raises(hl.ForecastDivergedError):
        projective_integration(ExactLinear([800.0], 1.0), torch.ones(1, 1, dtype=torch.float64), 40,
                               heal_steps=0, estimate_steps=1, jump_steps=3)
