"""ETDRK4 (Kuramoto–Sivashinsky) and lattice Boltzmann (FitzHugh–Nagumo): numbers, not shapes."""

import math

import numpy as np
import pytest
import torch

import hitslite as h
from hitslite.pde import etdrk4_coefficients
from hitslite.steppers import Repeated


@pytest.fixture(autouse=True)
def _one_thread():
    # These steppers work on small tensors; on a shared 2-core machine one intra-op thread is
    # both faster and far steadier than two.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ks_attractor_states(system, n, seed=0, t_transient=100.0, dt=0.025):
    x0 = system.sample_initial(n, torch.Generator().manual_seed(seed))
    return Repeated(h.ETDRK4(system, dt), round(t_transient / dt))(x0)


# ------------------------------------------------------------------------------------------
# ETDRK4
# ------------------------------------------------------------------------------------------
def test_etdrk4_converges_at_order_four():
    # Kassam & Trefethen's (2005) test problem: L = 32 pi, 128 modes, u0 = cos(x/16)(1 + sin(x/16)).
    system = h.get_system("ks", L=32 * math.pi, n=128, initial="kassam_trefethen")
    x0 = system.sample_initial(1)
    T = 5.0
    ref = Repeated(h.ETDRK4(system, 5e-4), round(T / 5e-4))(x0)
    dts = [0.1, 0.05, 0.025, 0.0125]
    errors = [float((Repeated(h.ETDRK4(system, dt), round(T / dt))(x0) - ref).abs().max()) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 3.7 <= slope <= 4.3, (slope, errors)


def test_etdrk4_agrees_with_rk4_on_the_pseudospectral_rhs():
    # an independent discretisation of the same semi-discrete system (RK4 needs a small step: stiff)
    system = h.get_system("ks", n=32)
    x0 = system.sample_initial(3, torch.Generator().manual_seed(3))
    a = Repeated(h.ETDRK4(system, 0.01), 200)(x0)  # both to T = 2
    b = Repeated(h.RK4(system, 5e-4), 4000)(x0)
    assert float((a - b).abs().max()) < 1e-7


def test_etdrk4_coefficients_match_closed_forms_where_they_are_safe():
    lin = np.array([-50.0, -5.0, -1.0, 1.5])
    c = etdrk4_coefficients(lin, 0.1)
    z = 0.1 * lin
    assert np.allclose(c["Q"], 0.1 * (np.exp(z / 2) - 1) / z, rtol=1e-12)
    assert np.allclose(c["f2"], 0.1 * (2 + z + np.exp(z) * (z - 2)) / z**3, rtol=1e-9)
    # z -> 0 limits (1/6, 1/6, 1/6 times dt for f1, f2, f3): the contour integral stays accurate
    c0 = etdrk4_coefficients(np.array([0.0, 1e-12]), 0.1)
    assert np.allclose(c0["f1"], 0.1 / 6, rtol=1e-10) and np.allclose(c0["f3"], 0.1 / 6, rtol=1e-10)


def test_ks_mean_is_conserved():
    system = h.get_system("ks")
    offsets = torch.tensor([0.0, 0.3, -0.2, 1.0])[:, None]
    x0 = system.sample_initial(4, torch.Generator().manual_seed(1)) + offsets
    traj = h.rollout(Repeated(h.ETDRK4(system, 0.025), 10), x0, 200)  # 50 time units
    mean = traj.x.mean(dim=-1)
    assert float((mean - mean[:, :1]).abs().max()) < 1e-12


def test_ks_solver_step_is_converged():
    """The data sets' dt = 0.025 is converged: measured on 2 attractor states against dt = 0.0025."""
    system = h.get_system("ks")
    x = _ks_attractor_states(system, 2)
    ref = Repeated(h.ETDRK4(system, 0.0025), 4000)(x)  # to T = 10
    err = float((Repeated(h.ETDRK4(system, 0.025), 400)(x) - ref).abs().max() / ref.abs().max())
    assert err < 1e-6
    assert system.solver_dt == 0.025


def test_ks_l22_largest_lyapunov_exponent_is_0048():
    # Cvitanovic, Davidchack & Siminos (2010) and LED SI 8.4: Lambda_1 = 0.048 for L = 22
    system = h.get_system("ks")
    gen = torch.Generator().manual_seed(7)
    x = Repeated(h.ETDRK4(system, 0.05), 4000)(system.sample_initial(12, gen))
    lam = h.lyapunov_exponent(h.ETDRK4(system, 0.05), x, n_renorm=2000, steps_per_renorm=20, generator=gen)
    # Chaotic: another CPU gives other trajectories, so the tolerance comes from the measured seed-to-seed
    # spread of this 12-trajectory mean (seeds 7-14: 0.0485 +- 0.0005, at most 2.3 % from 0.048); 5 % is
    # six standard deviations of that spread, and still fails a stepper off by a tenth.
    assert abs(float(lam.mean()) - 0.048) < 0.05 * 0.048, lam


def test_etdrk4_batch_equals_per_sample_and_float32_follows_input():
    system = h.get_system("ks", preset="lhits")
    x0 = system.sample_initial(3, torch.Generator().manual_seed(2))
    stepper = h.ETDRK4(system, 0.05)
    batch = h.rollout(stepper, x0, 50).x
    single = torch.cat([h.rollout(stepper, x0[i : i + 1], 50).x for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-13, rtol=0)
    x32 = h.rollout(stepper, x0.float(), 50).x
    assert x32.dtype == torch.float32
    assert float((x32.double() - batch).abs().max()) < 1e-4


def test_etdrk4_rejects_wrong_sizes():
    system = h.get_system("ks")
    with pytest.raises(ValueError, match="dt"):
        h.ETDRK4(system, 0.0)
    with pytest.raises(ValueError, match="shape"):
        h.ETDRK4(system, 0.1)(torch.zeros(2, 63, dtype=torch.float64))
    with pytest.raises(ValueError, match="n"):
        h.get_system("ks", n=0)
    with pytest.raises(ValueError, match="L"):
        h.get_system("ks", L=-22.0)
    with pytest.raises(ValueError, match="preset"):
        h.get_system("ks", preset="nope")


# ------------------------------------------------------------------------------------------
# Lattice Boltzmann
# ------------------------------------------------------------------------------------------
def _fhn_smooth_state(system):
    x = system.grid()
    u = 0.8 * torch.tanh((x - 8.0) / 2.0) + 0.1 * torch.cos(math.pi * x / system.L)
    v = 0.2 * torch.cos(2 * math.pi * x / system.L)
    return torch.stack([u, v])[None]


def test_lattice_boltzmann_converges_to_finite_differences_of_eq29():
    # diffusive scaling: dt ∝ dx^2 keeps omega fixed; LB vs method-of-lines FD on the same grid
    T = 4.0
    errors, dxs = [], []
    for n in (26, 51, 101, 201):
        system = h.get_system("fhn", n=n)
        dt = 0.005 * (system.dx / 0.2) ** 2
        x0 = _fhn_smooth_state(system)
        lb = Repeated(h.LatticeBoltzmann(system, dt), round(T / dt))(x0)
        fd = h.data.fhn_fd_reference(system, x0, [0.0, T])[:, -1]
        errors.append(float((lb - fd).abs().max()))
        dxs.append(system.dx)
    slope = np.polyfit(np.log(dxs), np.log(errors), 1)[0]
    assert 1.8 <= slope <= 2.2, (slope, errors)
    assert errors[2] < 1e-2  # the paper's dx = 0.2, dt = 0.005


def test_lattice_boltzmann_conserves_mass_in_pure_diffusion_with_no_flux_walls():
    system = h.get_system("fhn")
    x0 = h.data.fhn_initial_conditions(system, 6)
    lb = h.LatticeBoltzmann(system, 0.005, reaction=False)
    traj = h.rollout(Repeated(lb, 100), x0, 40)  # 20 time units, 4000 steps
    mass = traj.x.sum(dim=-1)  # [B, T, 2]
    assert float((mass - mass[:, :1]).abs().max()) < 1e-11
    # and it diffuses: every profile flattens
    assert bool((traj.x[:, -1].std(dim=-1) < 0.8 * traj.x[:, 0].std(dim=-1)).all())


def test_lattice_boltzmann_relaxation_follows_eq39_and_starts_at_equilibrium():
    system = h.get_system("fhn")
    lb = h.LatticeBoltzmann(system, 0.005)
    assert lb.omega[0] == pytest.approx(2 / (1 + 3 * 1.0 * 0.005 / 0.2**2))
    assert lb.omega[1] == pytest.approx(0.8)
    x0 = h.data.fhn_initial_conditions(system, 2)
    f = lb.init_carry(x0)
    assert f.shape == (2, 2, 3, 101)
    assert torch.allclose(f, (x0 / 3)[:, :, None].expand_as(f))
    # one step from a uniform state is the explicit reaction update (no diffusion, no wall effect)
    flat = torch.full((1, 2, 101), 0.3, dtype=torch.float64)
    expected = flat + 0.005 * system.reaction(flat)
    assert torch.allclose(lb(flat), expected, atol=1e-15)


def test_lattice_boltzmann_batch_equals_per_sample_and_works_with_rollout():
    system = h.get_system("fhn")
    x0 = h.data.fhn_initial_conditions(system, 3)
    lb = Repeated(h.LatticeBoltzmann(system, 0.005), 20)
    batch = h.rollout(lb, x0, 20).x
    single = torch.cat([h.rollout(lb, x0[i : i + 1], 20).x for i in range(3)])
    assert torch.equal(batch, single)
    assert batch.shape == (3, 21, 2, 101)


def test_lattice_boltzmann_rejects_unstable_relaxation_and_bad_sizes():
    system = h.get_system("fhn")
    with pytest.raises(ValueError, match="omega"):
        h.LatticeBoltzmann(system, 0.005, omega=(2.5, 1.0))
    with pytest.raises(ValueError, match="omega"):
        h.LatticeBoltzmann(system, 0.005, omega=(0.0, 1.0))
    with pytest.raises(ValueError, match="omega"):
        h.LatticeBoltzmann(h.get_system("fhn", Du=0.0), 0.005)  # omega = 2: marginal, not allowed
    with pytest.raises(ValueError, match="dt"):
        h.LatticeBoltzmann(system, -0.005)
    with pytest.raises(ValueError, match="n"):
        h.get_system("fhn", n=0)
    with pytest.raises(ValueError, match="L"):
        h.get_system("fhn", L=0.0)
    with pytest.raises(ValueError, match="Dv"):
        h.get_system("fhn", Dv=-1.0)
    with pytest.raises(ValueError, match="shape"):
        h.LatticeBoltzmann(system)(torch.zeros(1, 2, 50))


# ------------------------------------------------------------------------------------------
# Data sets
# ------------------------------------------------------------------------------------------
def test_fhn_dataset_follows_the_led_recipe_and_is_cached():
    traj = h.fhn_dataset("val", n_steps=5)
    assert traj.x.shape == (2, 6, 2, 101)
    assert traj.dt == pytest.approx(1.0) and float(traj.t[0]) == pytest.approx(2.0)
    again = h.fhn_dataset("val", n_steps=5)
    assert torch.equal(traj.x, again.x) and "cache_file" in again.meta
    assert h.fhn_dataset("test", n_steps=2).x.shape[0] == 1
    with pytest.raises(ValueError, match="horizon"):
        h.fhn_dataset("test", horizon="forever")


def test_fhn_splits_pool_families_from_one_run_and_match_the_per_split_recipe():
    from hitslite.data import FHN_SPLIT_ICS, fhn_initial_conditions, fhn_splits

    one = fhn_splits(n_steps=3, save_every=10, seeds=(0,))
    for split in FHN_SPLIT_ICS:
        alone = h.fhn_dataset(split, n_steps=3, save_every=10)
        assert torch.equal(one[split].x, alone.x) and torch.equal(one[split].t, alone.t)
    two = fhn_splits(n_steps=3, save_every=10, seeds=(3, 0))
    assert {k: v.x.shape[0] for k, v in two.items()} == {"train": 6, "val": 4, "test": 2}
    assert torch.equal(two["train"].x[3:], one["train"].x)  # families in the order of seeds
    undropped = fhn_splits(n_steps=1, save_every=10, t_drop=0.0, seeds=(3, 0))
    x0 = torch.cat([fhn_initial_conditions(n=6, seed=3), fhn_initial_conditions(n=6, seed=0)])
    assert torch.equal(undropped["test"].x[:, 0], x0[[5, 11]])  # initial condition 5 of each family
    with pytest.raises(ValueError, match="seeds"):
        fhn_splits(n_steps=3, seeds=(1, 1))


def test_ks_dataset_presets_and_size_knob():
    traj = h.ks_dataset("train", preset="lhits", n_trajectories=2, n_steps=10)
    assert traj.x.shape == (2, 11, 120) and traj.dt == pytest.approx(0.05)
    led = h.ks_dataset("val", n_steps=4, transient=10.0)
    assert led.x.shape == (1, 5, 64) and led.dt == pytest.approx(0.25)
    assert float(led.t[0]) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="save_dt"):
        h.ks_dataset("train", n_steps=2, transient=0.0, save_dt=0.01, solver_dt=0.025)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pde_steppers_on_cuda_match_cpu():
    ks = h.get_system("ks")
    x = ks.sample_initial(4, torch.Generator().manual_seed(0))
    step = h.ETDRK4(ks, 0.025)
    cpu = h.rollout(step, x, 100).x
    gpu = h.rollout(step.to("cuda"), x.cuda(), 100).x
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-9
    fhn = h.get_system("fhn")
    x = h.data.fhn_initial_conditions(fhn, 3)
    lb = h.LatticeBoltzmann(fhn)
    cpu = h.rollout(lb, x, 200).x
    gpu = h.rollout(lb.to("cuda"), x.cuda(), 200).x
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-10


@pytest.mark.parametrize("reaction", [True, False])
@pytest.mark.parametrize("compiled", [True, False])
def test_lattice_boltzmann_advance_equals_repeated_steps_bit_for_bit(reaction, compiled, monkeypatch):
    """advance (one compiled kernel when numba is installed) makes exactly the numbers of step."""
    import hitslite.pde as pde

    if compiled and pde.lb_kernel() is None:
        pytest.skip("numba is not installed: advance loops over step (the other case covers it)")
    if not compiled:
        monkeypatch.setattr(pde, "_LB_KERNEL", [None])
    system = h.get_system("fhn")
    lb = pde.LatticeBoltzmann(system, 0.005, reaction=reaction)
    x0 = h.data.fhn_initial_conditions(system, 3)
    x, f = x0, lb.init_carry(x0)
    with torch.no_grad():
        for _ in range(57):
            x, f = lb.step(x, f)
        x_fast, f_fast = lb.advance(x0, None, 57)
    assert torch.equal(f_fast, f) and torch.equal(x_fast, x)
    assert torch.equal(lb.advance(x0, f_fast, 0)[1], f_fast)
    with pytest.raises(ValueError, match="n_steps"):
        lb.advance(x0, None, -1)
