"""Euler–Maruyama particles with reflecting walls (LED SI 8.1–8.2): statistics, walls, randomness."""

import math

import pytest
import torch

import hitslite as h
from hitslite.steppers import Repeated

pytestmark = pytest.mark.usefixtures("one_thread")


def test_presets_match_the_paper():
    one = h.get_system("advection_diffusion", dim=1)
    got = (one.D, one.A, one.omega, one.L, one.N, one.dt, one.save_dt)
    assert got == (0.2, (1.0,), (0.1,), 1.0, 1000, 1e-3, 0.5)
    three = h.get_system("advection_diffusion", dim=3)
    assert three.A == (1.0, 1.5, 0.0) and three.omega == (0.2, 1.0, 0.5) and three.state_shape == (1000, 3)
    assert three.peclet == pytest.approx(9.0, abs=0.05)  # LED eq. (6): Pe = 9
    for D, dt, pe in [(0.02, 1e-2, 100), (0.2, 1e-3, 10), (2.0, 1e-4, 1)]:
        s = h.get_system("advection_diffusion", dim=3, preset="peclet", D=D)
        assert s.dt == dt and s.peclet == pytest.approx(pe, rel=0.01)


def test_reflection_folds_any_excursion_back_into_the_box():
    s = h.get_system("advection_diffusion", dim=1)
    x = torch.tensor([0.2, 0.6, -0.7, 1.6, -2.45, 0.5, -0.5])
    assert torch.allclose(s.reflect(x), torch.tensor([0.2, 0.4, -0.3, -0.4, -0.45, 0.5, -0.5]), atol=1e-6)


def test_particles_never_leave_the_box():
    s = h.get_system("advection_diffusion", dim=3, D=2.0, A=(30.0, -20.0, 5.0), omega=(0.5, 2.0, 1.0), N=500)
    em = h.EulerMaruyama(s, dt=1e-2, seed=0)  # steps of ~0.14 + 0.3: many wall hits
    traj = h.rollout(em, torch.zeros(2, 500, 3), 500)
    assert float(traj.x.abs().max()) <= s.L / 2


def test_free_variance_grows_as_D_t_then_relaxes_to_uniform():
    D, N = 0.2, 4000
    s = h.get_system("advection_diffusion", dim=3, D=D, A=(0.0, 0.0, 0.0), N=N)
    em = h.EulerMaruyama(s, seed=1)
    traj = h.rollout(Repeated(em, 10), torch.zeros(2, N, 3, dtype=torch.float64), 300)  # to t = 3
    var = traj.x.var(dim=2).mean(dim=(0, 2))  # per-axis variance, averaged
    for k in (2, 5):  # t = 0.02, 0.05: sqrt(D t) <= 0.1, walls at 0.5 not yet felt
        t = float(traj.t[k])
        assert var[k] == pytest.approx(D * t, rel=0.05)
    assert float(var[-50:].mean()) == pytest.approx(1 / 12, rel=0.03)  # uniform on [-1/2, 1/2]


def test_drift_is_A_cos_omega_t_in_the_carry_time():
    # D = 0: x(t) = A sin(omega t) / omega (small A: never reaches a wall); EM is first order
    s = h.get_system("advection_diffusion", dim=3, D=0.0, A=(0.1, 0.2, 0.0), omega=(0.2, 1.0, 0.5), N=1)
    errors = []
    for dt in (1e-2, 5e-3):
        x0 = torch.zeros(1, 1, 3, dtype=torch.float64)
        traj = h.rollout(h.EulerMaruyama(s, dt=dt), x0, round(2.0 / dt))
        exact = torch.tensor(s.A) * torch.sin(torch.tensor(s.omega) * 2.0) / torch.tensor(s.omega)
        errors.append(float((traj.x[0, -1, 0] - exact).abs().max()))
    assert errors[1] < 1e-3 and errors[0] / errors[1] == pytest.approx(2.0, rel=0.1)
    # the carry's time advances; a later start time shifts the drift
    em = h.EulerMaruyama(s, dt=0.1, t0=math.pi / 2)
    out, (t, _) = em.step(torch.zeros(1, 1, 3, dtype=torch.float64), em.init_carry(torch.zeros(1, 1, 3)))
    assert t == pytest.approx(math.pi / 2 + 0.1)
    assert out[0, 0, 1].abs() < 1e-12  # cos(1.0 * pi / 2) = 0


def test_randomness_is_explicit_and_reproducible():
    s = h.get_system("advection_diffusion", dim=1, N=100)
    x0 = torch.zeros(3, 100, 1)
    a = h.rollout(h.EulerMaruyama(s, seed=5), x0, 20).x
    b = h.rollout(h.EulerMaruyama(s, seed=5), x0, 20).x
    c = h.rollout(h.EulerMaruyama(s, seed=6), x0, 20).x
    assert torch.equal(a, b) and not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(h.EulerMaruyama(s, generator=g1)(x0), h.EulerMaruyama(s, generator=g2)(x0))


def test_batch_equals_per_sample_without_noise():
    s = h.get_system("advection_diffusion", dim=3, D=0.0, N=50)
    x0 = torch.rand(4, 50, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    em = Repeated(h.EulerMaruyama(s), 100)
    batch = h.rollout(em, x0, 10).x
    single = torch.cat([h.rollout(em, x0[i : i + 1], 10).x for i in range(4)])
    assert torch.equal(batch, single)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="N"):
        h.get_system("advection_diffusion", N=0)
    with pytest.raises(ValueError, match="L"):
        h.get_system("advection_diffusion", L=-1.0)
    with pytest.raises(ValueError, match="D"):
        h.get_system("advection_diffusion", D=-0.1)
    with pytest.raises(ValueError, match="dim"):
        h.get_system("advection_diffusion", dim=2)
    with pytest.raises(ValueError, match="A and omega"):
        h.get_system("advection_diffusion", dim=3, A=(1.0,))
    s = h.get_system("advection_diffusion")
    with pytest.raises(ValueError, match="dt"):
        h.EulerMaruyama(s, dt=0.0)
    with pytest.raises(ValueError, match="either generator or seed"):
        h.EulerMaruyama(s, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="shape"):
        h.EulerMaruyama(s)(torch.zeros(2, 10, 3))


def test_particle_dataset_recipe_and_size_knob():
    traj = h.particle_dataset("train", dim=3, n_steps=3)
    assert traj.x.shape == (1, 4, 1000, 3) and traj.dt == pytest.approx(0.5)
    assert traj.x.dtype == torch.float32 and float(traj.x.abs().max()) <= 0.5
    assert torch.equal(traj.x, h.particle_dataset("train", dim=3, n_steps=3).x)  # cached
    pe = h.particle_dataset("val", dim=3, preset="peclet", D=0.02, n_steps=2, N=100)
    assert pe.dt == pytest.approx(1.0) and pe.x.shape == (1, 3, 100, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_euler_maruyama_runs_on_cuda_with_a_device_generator():
    s = h.get_system("advection_diffusion", dim=3)
    em = h.EulerMaruyama(s, seed=0)
    x = h.rollout(em, torch.zeros(2, 1000, 3, device="cuda"), 100).x
    assert x.is_cuda and float(x.abs().max()) <= 0.5
    with pytest.raises(ValueError, match="generator"):
        h.EulerMaruyama(s, generator=torch.Generator())(torch.zeros(1, 10, 3, device="cuda"))
    s0 = h.get_system("advection_diffusion", dim=3, D=0.0)
    x0 = torch.rand(2, 1000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    cpu = h.rollout(h.EulerMaruyama(s0), x0, 200).x
    gpu = h.rollout(h.EulerMaruyama(s0), x0.cuda(), 200).x
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-12
