"""LED (hitslite.led, RecurrentStepper, truncated BPTT): compositions reproduce their parts."""

import copy
import functools

import pytest
import torch

from hitslite.data import fhn_initial_conditions
from hitslite.led import LED, measure_speedup
from hitslite.neural import RecurrentStepper
from hitslite.particles import EulerMaruyama
from hitslite.pde import LatticeBoltzmann
from hitslite.steppers import ForecastDivergedError, Repeated, rollout
from hitslite.systems import get_system
from hitslite.train import fit, truncated_bptt_loss


class _Linear(torch.nn.Module):
    """A fixed linear encoder/decoder pair (exact inverse on its range)."""

    def __init__(self, n, d, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
        self.register_buffer("q", q)
        self.n = n
        self.state_shape = (2, n // 2)

    def encode(self, x):
        return x.reshape(*x.shape[:-2], -1) @ self.q

    def decode(self, z):
        return (z @ self.q.T).reshape(*z.shape[:-1], 2, self.n // 2)


@pytest.fixture(scope="module")
def fhn_setup():
    fhn = get_system("fhn")
    micro = Repeated(LatticeBoltzmann(fhn, 0.005), 20)  # coarse step 0.1 keeps the test fast
    x0 = fhn_initial_conditions(fhn)[:2]
    warm = rollout(micro, x0.to(torch.float64), 6).x  # [B, 7, 2, 101]
    coords = _Linear(2 * fhn.n, 4)
    rnn = RecurrentStepper(4, 8, dt=0.1).double()
    return fhn, micro, warm, LED(coords, rnn, coords)


@pytest.mark.parametrize("output", ["bounded", "linear", "residual"])
def test_recurrent_stepper_teacher_forced_equals_stepping(gen, output):
    for cell in ("lstm", "gru"):
        rnn = RecurrentStepper(3, 5, cell=cell, layers=2, dt=0.5, output=output).double()
        z = torch.randn(4, 7, 3, generator=gen, dtype=torch.float64)
        rnn.fit_scaling(z)
        pred, carry = rnn.teacher_forced(z, return_carry=True)
        c = rnn.init_carry(z[:, 0])
        for k in range(7):
            y, c = rnn.step(z[:, k], c)
            torch.testing.assert_close(y, pred[:, k])
        flat = lambda cc: torch.cat([t.flatten() for t in (cc if isinstance(cc, tuple) else (cc,))])  # noqa: E731
        torch.testing.assert_close(flat(c), flat(carry))


def test_recurrent_stepper_bounded_output_stays_in_training_range(gen):
    rnn = RecurrentStepper(2, 6, output="bounded")
    z = torch.randn(10, 20, 2, generator=gen)
    rnn.fit_scaling(z)
    with torch.no_grad():
        rnn.readout.weight.mul_(100.0)
        traj = rollout(rnn, z[:, 0], 50)
    lo, hi = z.amin((0, 1)), z.amax((0, 1))
    span = hi - lo
    assert (traj.x[:, 1:] >= lo - 0.05 * span - 1e-5).all()
    assert (traj.x[:, 1:] <= hi + 0.05 * span + 1e-5).all()


def test_residual_read_out_starts_near_persistence(gen):
    """With a zero read-out the residual cell is exactly persistence; the increment scale is the
    standard deviation of the training increments."""
    z = torch.cumsum(0.01 * torch.randn(4, 50, 3, generator=gen), dim=1)
    rnn = RecurrentStepper(3, 8, output="residual").fit_scaling(z)
    torch.testing.assert_close(rnn.increment_scale, (z[:, 1:] - z[:, :-1]).reshape(-1, 3).std(0))
    with torch.no_grad():
        rnn.readout.weight.zero_()
        rnn.readout.bias.zero_()
    torch.testing.assert_close(rnn.teacher_forced(z), z)
    with pytest.raises(ValueError, match="trajectories"):
        RecurrentStepper(3, 8, output="residual").fit_scaling(z[:, 0])


def test_recurrent_stepper_rejects_bad_arguments():
    with pytest.raises(ValueError, match="cell"):
        RecurrentStepper(2, 4, cell="rnn")
    with pytest.raises(ValueError, match="latent_dim"):
        RecurrentStepper(0, 4)
    rnn = RecurrentStepper(2, 4)
    with pytest.raises(ValueError, match="latent_dim 2"):
        rnn.teacher_forced(torch.zeros(1, 5, 3))


def test_truncated_bptt_gradients_reach_every_parameter_and_training_fits(gen):
    t = torch.linspace(0, 12, 121)
    z = torch.stack([torch.sin(t + p) for p in torch.linspace(0, 3, 8)], 0)[..., None]
    z = torch.cat([z, torch.cos(t)[None, :, None].expand(8, -1, -1)], -1)  # [8, 121, 2]
    rnn = RecurrentStepper(2, 16, cell="gru", dt=0.1).fit_scaling(z)
    loss = truncated_bptt_loss(rnn, z, chunk=30, burn_in=5)
    loss.backward()
    for name, p in rnn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    rnn.zero_grad()
    before = float(loss.detach())
    fit(rnn, z, None, loss_fn=functools.partial(truncated_bptt_loss, chunk=30, burn_in=5), lr=1e-2,
        batch_size=8, max_epochs=150, patience=None, progress=False)
    after = float(truncated_bptt_loss(rnn, z, chunk=30, burn_in=5).detach())
    assert after < before / 20
    with pytest.raises(ValueError, match="chunk"):
        truncated_bptt_loss(rnn, z, chunk=0)
    with pytest.raises(ValueError, match="burn_in"):
        truncated_bptt_loss(rnn, z, chunk=10, burn_in=200)


def test_truncated_bptt_equals_full_bptt_loss_value(gen):
    rnn = RecurrentStepper(2, 4, cell="lstm").double()
    z = torch.randn(3, 41, 2, generator=gen, dtype=torch.float64)
    full = torch.mean((rnn.teacher_forced(z[:, :-1]) - z[:, 1:]) ** 2)
    torch.testing.assert_close(truncated_bptt_loss(rnn, z, chunk=7), full)



def test_input_noise_perturbs_training_inputs_only(gen):
    rnn = RecurrentStepper(2, 4, cell="gru").double()
    z = torch.randn(3, 41, 2, generator=gen, dtype=torch.float64)
    rnn.fit_scaling(z)
    rnn.scale.mul_(3.0)  # noise is in units of the cell's input scale
    clean = truncated_bptt_loss(rnn, z, chunk=7)

    def noisy(seed, **kw):
        return truncated_bptt_loss(rnn, z, chunk=7, input_noise=0.05,
                                   generator=torch.Generator().manual_seed(seed), **kw)

    rnn.eval()  # fit() scores validation in eval mode: no noise, the exact loss
    torch.testing.assert_close(noisy(0), clean)
    rnn.train()
    a, b, c = noisy(0), noisy(0), noisy(1)
    assert not torch.equal(a, clean) and torch.equal(a, b) and not torch.equal(a, c)
    # the same noise added by hand to the inputs (targets untouched) gives the same loss
    noise = torch.randn(3, 40, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    inputs = z[:, :-1] + 0.05 * rnn.scale * noise
    torch.testing.assert_close(a, torch.mean((rnn.teacher_forced(inputs) - z[:, 1:]) ** 2))
    for bad in (-0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="input_noise"):
            truncated_bptt_loss(rnn, z, chunk=7, input_noise=bad)

def test_alternation_with_zero_macro_steps_is_the_micro_solver(fhn_setup):
    _, micro, warm, led = fhn_setup
    out = led.multiscale_forecast(warm, 13, micro, macro_steps=0, micro_steps=5)
    ref = rollout(micro, warm[:, -1], 13)
    assert torch.equal(out.x, ref.x)
    assert out.meta["micro_mask"].all()


def test_warm_up_then_zero_macro_steps_returns_the_encoded_truth(fhn_setup):
    _, _, warm, led = fhn_setup
    out = led.forecast(warm, 0)
    # the warm-up encodes every state in one batch; a matrix product of another batch size may round
    # differently in the last bit (5.6e-16 measured on one CPU), so equal up to float64 round-off
    torch.testing.assert_close(out.meta["latent"].x[:, 0], led.encode(warm[:, -1]), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.x[:, 0], led.decode(led.encode(warm[:, -1])))


def test_latent_forecast_equals_warm_up_then_rollout_of_the_cell(fhn_setup):
    _, _, warm, led = fhn_setup
    out = led.forecast(warm, 9, decode=False)
    z = led.encode(warm)
    carry = led.propagator.init_carry(z[:, 0])
    for k in range(z.shape[1] - 1):
        _, carry = led.propagator.step(z[:, k], carry)
    ref = rollout(led.propagator, z[:, -1], 9, carry=carry).x
    torch.testing.assert_close(out.x, ref)


def test_alternation_schedule_restarts_solver_from_decoded_state(fhn_setup):
    _, micro, warm, led = fhn_setup
    out = led.multiscale_forecast(warm, 12, micro, macro_steps=3, micro_steps=2)
    assert out.meta["micro_mask"].int().tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    # the first micro phase starts from decode(z_3): its first state is one LB step from there
    z3 = out.meta["latent"].x[:, 3]
    start = led.decode(z3)
    torch.testing.assert_close(out.x[:, 4], micro.step(start, micro.restart_carry(start, 0.3))[0])
    # solver states are re-encoded into the latent trajectory
    torch.testing.assert_close(out.meta["latent"].x[:, 5], led.encode(out.x[:, 5]))
    assert out.meta["rho"] == 1.5


def test_hidden_state_is_fed_the_solver_states(fhn_setup):
    """After a micro phase the cell's carry equals teacher forcing over the whole latent history."""
    _, micro, warm, led = fhn_setup
    out = led.multiscale_forecast(warm, 7, micro, macro_steps=2, micro_steps=3, decode=False)
    z_hist = torch.cat([led.encode(warm[:, :-1]), out.x[:, :5]], dim=1)
    _, carry = led.propagator.teacher_forced(z_hist, return_carry=True)
    y, _ = led.propagator.step(out.x[:, 5], carry)
    torch.testing.assert_close(y, out.x[:, 6])


def test_particle_micro_restart_keeps_time_and_generator():
    ad = get_system("advection_diffusion", dim=1)
    em = EulerMaruyama(ad, dt=0.01, seed=3)
    x = torch.zeros(2, 50, 1, dtype=torch.float64)
    carry = em.init_carry(x)
    _, carry = em.step(x, carry)
    t, g = em.restart_carry(x, 7.5, carry)
    assert t == 7.5 and g is carry[1]
    rep = Repeated(em, 5)
    assert rep.restart_carry(x, 2.0, carry)[0] == 2.0


def test_led_latent_part_is_a_latent_registered_once(fhn_setup):
    """LED = a Latent (autoencoder + recurrent propagator) plus the alternation with the solver. The
    Latent is a view of LED's own modules: one set of weights, LED's state_dict keys."""
    from hitslite.neural import Latent

    _, _, warm, led = fhn_setup
    assert isinstance(led.latent, Latent) and led.latent.inner is led.propagator
    assert led.latent.dt == led.dt
    assert {k.split(".")[0] for k in led.state_dict()} == {"encoder", "propagator"}
    assert [n for n, _ in led.named_children()] == ["encoder", "propagator"]
    z = led.encode(warm[:, -1])
    assert torch.equal(z, led.latent.encode(warm[:, -1])) and torch.equal(led.decode(z), led.latent.decode(z))
    other = LED(_Linear(202, 4, seed=1), RecurrentStepper(4, 8, dt=0.1).double(), led.latent.decode)
    assert {k.split(".")[0] for k in other.state_dict()} == {"encoder", "propagator"}  # a plain decoder
    other.load_state_dict(led.state_dict())
    torch.testing.assert_close(other.forecast(warm, 4).x, led.forecast(warm, 4).x, rtol=0, atol=0)
    twin = copy.deepcopy(led)  # the view follows the copy: its modules are the copy's
    assert twin.latent.inner is twin.propagator and twin.latent.encoder is twin.encoder
    assert twin.propagator is not led.propagator


def test_forecast_runs_an_led_from_its_warm_up_window(fhn_setup):
    from hitslite.steppers import forecast

    _, _, warm, led = fhn_setup
    torch.testing.assert_close(forecast(led, warm, 5).x, led.forecast(warm, 5).x, rtol=0, atol=0)
    assert forecast(led, warm, 5, led.dt).x.shape == (warm.shape[0], 6, *warm.shape[2:])
    with pytest.raises(ValueError, match="propagator's step"):
        forecast(led, warm, 5, 2 * led.dt)


def test_led_rejects_bad_inputs(fhn_setup):
    _, micro, warm, led = fhn_setup
    with pytest.raises(ValueError, match="x_warm"):
        led.forecast(warm[:, 0], 3)
    with pytest.raises(ValueError, match="micro.dt"):
        led.multiscale_forecast(warm, 3, Repeated(micro.inner, 3), macro_steps=1, micro_steps=1)
    with pytest.raises(ValueError, match="both be 0"):
        led.multiscale_forecast(warm, 3, micro, macro_steps=0, micro_steps=0)
    with pytest.raises(ValueError, match="needs a micro solver"):
        led.multiscale_forecast(warm, 3, None, macro_steps=1, micro_steps=1)
    with pytest.raises(TypeError, match="propagator"):
        LED(led.encode, torch.nn.Linear(2, 2), led.decode)


def test_diverging_latent_forecast_is_reported(fhn_setup):
    _, _, warm, led = fhn_setup
    bad = RecurrentStepper(4, 8, dt=0.1, output="linear").double()
    with torch.no_grad():
        bad.scale.fill_(float("inf"))
    with pytest.raises(ForecastDivergedError):
        LED(led.encode, bad, led.decode).forecast(warm, 5)


def test_measure_speedup_reports_both_timings(fhn_setup):
    _, micro, warm, led = fhn_setup
    res = measure_speedup(led, micro, warm, 4, macro_steps=4, micro_steps=0)
    assert res["S"] > 0 and res["solver_seconds_per_unit"] > 0 and res["led_seconds_per_unit"] > 0
    assert res["rho"] == float("inf") and res["batch"] == warm.shape[0]


def test_measure_speedup_times_led_over_its_own_horizon(fhn_setup):
    """``led_steps``: the solver over 2 steps, LED over 6; both reported per time unit, S their ratio."""
    _, micro, warm, led = fhn_setup
    res = measure_speedup(led, micro, warm, 2, macro_steps=6, micro_steps=0, led_steps=6)
    assert res["S"] == pytest.approx(res["solver_seconds_per_unit"] / res["led_seconds_per_unit"])
    assert res["led_seconds_per_unit"] > 0 and res["rho"] == float("inf")
    with pytest.raises(ValueError, match="led_steps"):
        measure_speedup(led, micro, warm, 2, macro_steps=2, micro_steps=0, led_steps=0)
