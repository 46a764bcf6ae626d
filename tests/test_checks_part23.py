"""Cases for the exercise checks of Chapters 7-13 (``hitslite.checks.part2``, ``part3``, ``part4``).

Every check passes a right answer and fails a typical wrong one and a constant, and never prints the
expected value. A check that judges a *function* is given a correct implementation written here from
the chapter's formulas (not the library's own function, which is what the check compares against), and
the usual slips: an off-by-one window, a forgotten normalisation, a wrong axis.
"""

import numpy as np
import pytest
import torch
from checkcases import assert_hidden, number_types

import hitslite as hl
from hitslite import checks, recipes
from hitslite.checks.part3 import alternation_variant
from hitslite.metrics import analogue_error, moments, nad, wasserstein
from hitslite.nets import reconstruction_loss


def failed(capsys, *words):
    """The last check failed, and its message names each of ``words`` (the case, the hint)."""
    out = capsys.readouterr().out
    assert "NOT YET" in out, out
    for word in words:
        assert word in out, f"{word!r} not in {out!r}"


def test_an_unwritten_stub_is_not_judged(capsys):
    """The student edition's stub raises NotImplementedError("Exercise N.k (label): hint"): a check lets it
    through (the reader sees the exercise's hint, and the smoke test of the editions sees the stub), while
    any other error of the student's function is reported as a failed case."""
    def stub(*args):
        raise NotImplementedError("Exercise 9.1 (ex-lhits-forecast): encode, forecast, decode")

    with pytest.raises(NotImplementedError, match=r"^Exercise 9\.1"):
        checks.check_lhits_forecast(stub)
    with pytest.raises(NotImplementedError, match=r"^Exercise 13\.1"):
        checks.check_time_scales(lambda s: (_ for _ in ()).throw(NotImplementedError("Exercise 13.1 (x): y")))

    def not_a_stub(*args):
        raise NotImplementedError("something else")

    assert checks.check_lhits_forecast(not_a_stub) is False
    failed(capsys, "raised NotImplementedError")


# ------------------------------------------------------------------------------------------------
# Chapter 7
# ------------------------------------------------------------------------------------------------
def contour_coefficients(lin, dt, points=32):
    """Kassam & Trefethen's contour-integral ETDRK4 coefficients, as Sec. 7.2 writes them."""
    z = dt * np.asarray(lin, dtype=float)
    r = np.exp(1j * np.pi * (np.arange(1, points + 1) - 0.5) / points)
    zr = z[:, None] + r[None, :]
    ez = np.exp(zr)

    def mean(a):
        return np.real(a.mean(axis=1))

    return {"E": np.exp(z), "E2": np.exp(z / 2), "Q": dt * mean((np.exp(zr / 2) - 1) / zr),
            "f1": dt * mean((-4 - zr + ez * (4 - 3 * zr + zr**2)) / zr**3),
            "f2": dt * mean((2 + zr + ez * (zr - 2)) / zr**3),
            "f3": dt * mean((-4 - 3 * zr - zr**2 + ez * (4 - zr)) / zr**3)}


def closed_form_coefficients(lin, dt):
    z = dt * np.asarray(lin, dtype=float)
    with np.errstate(all="ignore"):
        return {"E": np.exp(z), "E2": np.exp(z / 2), "Q": dt * (np.exp(z / 2) - 1) / z,
                "f1": dt * (-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3,
                "f2": dt * (2 + z + np.exp(z) * (z - 2)) / z**3,
                "f3": dt * (-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3}


def test_check_etdrk4_coefficients(capsys):
    assert checks.check_etdrk4_coefficients(contour_coefficients) is True
    assert checks.check_etdrk4_coefficients(lambda lin, dt: contour_coefficients(lin, dt, 64)) is True
    as_tensors = lambda lin, dt: {k: torch.tensor(v) for k, v in contour_coefficients(lin, dt).items()}  # noqa: E731
    assert checks.check_etdrk4_coefficients(as_tensors) is True
    complex_mean = lambda lin, dt: {k: v + 0j for k, v in contour_coefficients(lin, dt).items()}  # noqa: E731
    assert checks.check_etdrk4_coefficients(complex_mean) is True  # a complex array with zero imaginary part
    capsys.readouterr()
    assert checks.check_etdrk4_coefficients(closed_form_coefficients) is False  # cancels near z = 0
    failed(capsys, "close to 0", "circle")
    no_dt = lambda lin, dt: {**contour_coefficients(lin, dt), "f2": contour_coefficients(lin, dt)["f2"] / dt}  # noqa: E731
    assert checks.check_etdrk4_coefficients(no_dt) is False
    failed(capsys, "f2")
    half = lambda lin, dt: {**contour_coefficients(lin, dt), "E2": np.exp(dt * lin)}  # noqa: E731
    assert checks.check_etdrk4_coefficients(half) is False
    failed(capsys, "E2")
    assert checks.check_etdrk4_coefficients(lambda lin, dt: dict.fromkeys(("E", "E2", "Q", "f1", "f2", "f3"),
                                                                          0.1)) is False
    as_list = lambda lin, dt: list(contour_coefficients(lin, dt).values())  # noqa: E731
    assert checks.check_etdrk4_coefficients(as_list) is False
    assert checks.check_etdrk4_coefficients(0.025) is False
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


# ------------------------------------------------------------------------------------------------
# Chapter 8
# ------------------------------------------------------------------------------------------------
def svd_pca_error(train, test, z, *, centre=True):
    """PCA by hand: the first z right singular vectors of the centred training snapshots."""
    x = train.reshape(-1, train.shape[-1])
    mu = x.mean(dim=0) if centre else torch.zeros(x.shape[-1], dtype=x.dtype)
    v = torch.linalg.svd(x - mu, full_matrices=False)[2][:z].T
    y = test.reshape(-1, test.shape[-1])
    return float(((mu + (y - mu) @ v @ v.T - y) ** 2).mean())


def test_check_pca_test_error(capsys):
    assert checks.check_pca_test_error(svd_pca_error) is True
    assert checks.check_pca_test_error(lambda tr, te, z: np.float64(svd_pca_error(tr, te, z))) is True
    capsys.readouterr()
    assert checks.check_pca_test_error(lambda tr, te, z: svd_pca_error(te, te, z)) is False  # the leak
    failed(capsys, "z = 2", "test snapshots")
    assert checks.check_pca_test_error(lambda tr, te, z: svd_pca_error(tr, te, z, centre=False)) is False
    assert checks.check_pca_test_error(lambda tr, te, z: svd_pca_error(tr, te, z + 1)) is False
    assert checks.check_pca_test_error(lambda tr, te, z: 0.01) is False
    assert checks.check_pca_test_error(0.01) is False
    assert "NOT YET" in capsys.readouterr().out


def count_modes(x, fraction, *, centre=True, square=True):
    flat = x.reshape(-1, x.shape[-1])
    s = torch.linalg.svdvals(flat - flat.mean(dim=0) if centre else flat)
    s = s**2 if square else s
    return int((torch.cumsum(s, 0) / s.sum() < fraction).sum()) + 1


def test_check_energy_dimension(capsys):
    assert checks.check_energy_dimension(count_modes) is True
    assert checks.check_energy_dimension(lambda x, f: torch.tensor(count_modes(x, f))) is True
    capsys.readouterr()
    assert checks.check_energy_dimension(lambda x, f: count_modes(x, f) - 1) is False  # counted from 0
    failed(capsys, "fraction 0.99")
    assert checks.check_energy_dimension(lambda x, f: count_modes(x, f, centre=False)) is False
    assert checks.check_energy_dimension(lambda x, f: count_modes(x, f, square=False)) is False
    assert checks.check_energy_dimension(lambda x, f: 4) is False
    assert checks.check_energy_dimension(8) is False
    assert "NOT YET" in capsys.readouterr().out


def by_hand_step(model, optimizer, batch):
    """Eq. (10) in scaled units, written out: s(x) against f_D(f_E(s(x)))."""
    s = (batch - model.shift) / model.scale
    loss = ((model.decoder(model.encoder(s)) - s) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_check_autoencoder_step(capsys):
    assert checks.check_autoencoder_step(by_hand_step) is True

    def physical_over_scale(model, optimizer, batch):  # the same loss, via encode/decode
        loss = (((model(batch) - batch) / model.scale) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss  # a tensor that still requires grad

    assert checks.check_autoencoder_step(physical_over_scale) is True
    capsys.readouterr()

    def physical(model, optimizer, batch):  # forgets the scaling
        loss = ((model(batch) - batch) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def no_zero_grad(model, optimizer, batch):
        loss = reconstruction_loss(model, batch)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def no_step(model, optimizer, batch):
        loss = reconstruction_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        return float(loss.detach())

    def summed(model, optimizer, batch):
        return 16 * by_hand_step(model, optimizer, batch)

    assert checks.check_autoencoder_step(physical) is False
    failed(capsys, "step 1", "scaled units")
    assert checks.check_autoencoder_step(no_zero_grad) is False
    failed(capsys, "step 2", "zero_grad")
    assert checks.check_autoencoder_step(no_step) is False
    failed(capsys, "optimizer.step()")
    assert checks.check_autoencoder_step(summed) is False
    assert checks.check_autoencoder_step(lambda m, o, b: 0.1) is False
    assert checks.check_autoencoder_step(0.1) is False
    assert "NOT YET" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Chapter 9
# ------------------------------------------------------------------------------------------------
def composed_lhits(autoencoder, levels, x0, n_steps, dt):
    z0 = autoencoder.encode(x0)
    return autoencoder.decode(hl.Hierarchy(levels).forecast(z0, n_steps, dt=dt).x)


def test_check_lhits_forecast(capsys):
    assert checks.check_lhits_forecast(composed_lhits) is True
    as_trajectory = lambda ae, lv, x0, n, dt: hl.Latent(ae, hl.Hierarchy(lv), ae).forecast(x0, n, dt=dt)  # noqa: E731
    assert checks.check_lhits_forecast(as_trajectory) is True  # a Trajectory is read by its .x
    capsys.readouterr()
    state_interp = lambda ae, lv, x0, n, dt: hl.Latent(ae, hl.Hierarchy(lv), ae).forecast(  # noqa: E731
        x0, n, dt=dt, interpolate="state")
    assert checks.check_lhits_forecast(state_interp) is False  # decode, then interpolate: not Algorithm 1
    failed(capsys, "0.4, 0.8", "latent space")
    latent_only = lambda ae, lv, x0, n, dt: hl.Hierarchy(lv).forecast(ae.encode(x0), n, dt=dt).x  # noqa: E731
    assert checks.check_lhits_forecast(latent_only) is False
    failed(capsys, "decoded states")
    per_level = lambda ae, lv, x0, n, dt: hl.Hierarchy([hl.Latent(ae, s, ae) for s in lv]).forecast(  # noqa: E731
        x0, n, dt=dt)  # encodes and decodes at every call
    assert checks.check_lhits_forecast(per_level) is False
    one_short = lambda ae, lv, x0, n, dt: composed_lhits(ae, lv, x0, n - 1, dt)  # noqa: E731
    assert checks.check_lhits_forecast(one_short) is False
    zeros = lambda ae, lv, x0, n, dt: torch.zeros(x0.shape[0], n + 1, x0.shape[1])  # noqa: E731
    assert checks.check_lhits_forecast(zeros) is False
    assert checks.check_lhits_forecast("Latent") is False
    assert "NOT YET" in capsys.readouterr().out


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
# Chapter 10
# ------------------------------------------------------------------------------------------------
def nad_by_hand(pred, truth):
    ptp = truth.amax(dim=(1, 2)) - truth.amin(dim=(1, 2))  # range of each TRUE trajectory over space and time
    return (pred - truth).abs().mean(dim=2) / ptp[:, None]


def test_check_nad(capsys):
    assert checks.check_nad(nad_by_hand) is True
    assert checks.check_nad(lambda p, t: nad_by_hand(p, t).numpy()) is True
    capsys.readouterr()
    per_time = lambda p, t: (p - t).abs().mean(dim=2) / (t.amax(dim=2) - t.amin(dim=2))  # noqa: E731
    assert checks.check_nad(per_time) is False
    failed(capsys, "3 trajectories", "all times")
    whole_batch = lambda p, t: (p - t).abs().mean(dim=2) / (t.max() - t.min())  # noqa: E731
    assert checks.check_nad(whole_batch) is False
    of_forecast = lambda p, t: (p - t).abs().mean(dim=2) / (p.amax(dim=(1, 2)) - p.amin(dim=(1, 2)))[:, None]  # noqa: E731
    assert checks.check_nad(of_forecast) is False  # the forecast's range
    assert checks.check_nad(lambda p, t: nad_by_hand(p, t).mean()) is False  # the MNAD, not the NAD
    assert checks.check_nad(lambda p, t: torch.full(p.shape[:2], 0.1)) is False
    assert checks.check_nad(0.1) is False
    assert "NOT YET" in capsys.readouterr().out


def led_by_hand(led, x_warm, n_steps, *, teacher=slice(None, -1)):
    z = led.encode(x_warm)
    carry = led.propagator.init_carry(z[:, 0])
    fed = z[:, teacher]
    if fed.shape[1] > 0:
        _, carry = led.propagator.teacher_forced(fed, carry, return_carry=True)
    states = [z[:, -1]]
    for _ in range(n_steps):
        z_next, carry = led.propagator.step(states[-1], carry)
        states.append(z_next)
    return led.decode(torch.stack(states, dim=1))


def led_step_by_step(led, x_warm, n_steps):  # the warm-up as a loop of single steps: the same numbers
    z = led.encode(x_warm)
    carry = None
    for k in range(z.shape[1] - 1):
        _, carry = led.propagator.step(z[:, k], carry)
    states = [z[:, -1]]
    for _ in range(n_steps):
        z_next, carry = led.propagator.step(states[-1], carry)
        states.append(z_next)
    return led.decode(torch.stack(states, dim=1))


def test_check_led_forecast(capsys):
    assert checks.check_led_forecast(led_by_hand) is True
    assert checks.check_led_forecast(led_step_by_step) is True
    capsys.readouterr()
    assert checks.check_led_forecast(lambda led, x, n: led_by_hand(led, x, n, teacher=slice(None))) is False
    failed(capsys, "LSTM", "warm-up of 5 states", "z_{-1}")  # fed z_0 twice
    assert checks.check_led_forecast(lambda led, x, n: led_by_hand(led, x, n, teacher=slice(0, 0))) is False
    assert checks.check_led_forecast(lambda led, x, n: led_by_hand(led, x, n)[:, 1:]) is False  # no z_0
    assert checks.check_led_forecast(lambda led, x, n: led_by_hand(led, x, n + 1)[:, 1:]) is False  # one late
    assert checks.check_led_forecast(lambda led, x, n: x[:, -1:].expand(-1, n + 1, *x.shape[2:])) is False
    assert checks.check_led_forecast(None) is False
    assert "NOT YET" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Chapter 11
# ------------------------------------------------------------------------------------------------
def fields(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(*shape, generator=gen, dtype=torch.float64)
    return truth + 0.3 * torch.randn(*shape, generator=gen, dtype=torch.float64), truth


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


def alternation_by_hand(led, solver, x_warm, n_steps, T_m, T_mu):
    """SI 6.6 written out: T_m latent steps, T_mu solver steps from the decoded state, fed to the cell."""
    z, carry = led.warm_up(x_warm)
    out, pos = [led.decode(z)], 0
    while pos < n_steps:
        for _ in range(min(T_m, n_steps - pos)):
            z, carry = led.propagator.step(z, carry)
            out.append(led.decode(z))
            pos += 1
        if pos == n_steps:
            break
        x, states = led.decode(z), []
        for _ in range(min(T_mu, n_steps - pos)):
            x = solver(x)
            states.append(x)
        z_solver = led.encode(torch.stack(states, dim=1))
        seen = torch.cat([z[:, None], z_solver[:, :-1]], dim=1)  # the hand-over state, then all but the last
        _, carry = led.propagator.teacher_forced(seen, carry, return_carry=True)
        out += states
        pos += len(states)
        z = z_solver[:, -1]
    return torch.stack(out, dim=1)


def test_check_alternation(capsys):
    assert checks.check_alternation(alternation_by_hand) is True
    capsys.readouterr()
    assert checks.check_alternation(lambda *a: alternation_variant(*a, "none")) is False
    failed(capsys, "T_m = 3, T_mu = 2", "teacher-force")
    assert checks.check_alternation(lambda *a: alternation_variant(*a, "new")) is False
    failed(capsys, "hand-over state")
    solver_first = lambda led, s, x, n, a, b: alternation_by_hand(led, s, x, n, b, a)  # noqa: E731
    assert checks.check_alternation(solver_first) is False  # the phases swapped
    latent_only = lambda led, solver, x, n, a, b: led.forecast(x, n).x  # noqa: E731
    assert checks.check_alternation(latent_only) is False

    def decoded_everywhere(led, solver, x, n, a, b):  # decode(encode(.)) of the solver's states
        out = alternation_by_hand(led, solver, x, n, a, b)
        return led.decode(led.encode(out))

    assert checks.check_alternation(decoded_everywhere) is False
    zeros = lambda led, s, x, n, a, b: torch.zeros(x.shape[0], n + 1, *x.shape[2:])  # noqa: E731
    assert checks.check_alternation(zeros) is False
    assert checks.check_alternation(10) is False
    assert "NOT YET" in capsys.readouterr().out



def test_check_saturation_nad(capsys):
    _, truth = fields((4, 10, 6), 2)
    want = float(nad(torch.roll(truth, 1, dims=0), truth).mean())
    for answer in number_types(want):
        assert checks.check_saturation_nad(answer, truth) is True
    assert checks.check_saturation_nad(want, truth.numpy()) is True
    assert checks.check_saturation_nad(0.0, truth) is False
    assert_hidden(capsys, want)


# ------------------------------------------------------------------------------------------------


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




def set_encoder_by_hand(phi, g, x):
    return g(phi(x + 0.5).mean(dim=-2))  # the box [-1/2, 1/2]^d onto [0, 1]^d, phi per particle, mean, g


def test_check_set_encoder(capsys):
    assert checks.check_set_encoder(set_encoder_by_hand) is True
    assert checks.check_set_encoder(lambda phi, g, x: set_encoder_by_hand(phi, g, x).detach().numpy()) is True
    capsys.readouterr()
    assert checks.check_set_encoder(lambda phi, g, x: g(phi(x + 0.5).sum(dim=-2))) is False
    failed(capsys, "(5, 40, 3)", "average")
    assert checks.check_set_encoder(lambda phi, g, x: g(phi(x).mean(dim=-2))) is False
    failed(capsys, "[0, 1]")
    first = lambda phi, g, x: g(phi(x + 0.5)[..., 0, :])  # noqa: E731
    assert checks.check_set_encoder(first) is False  # the first particle only
    assert checks.check_set_encoder(lambda phi, g, x: g(phi(x + 0.5).mean(dim=0))) is False  # wrong axis
    weights = lambda x: torch.linspace(0.5, 1.5, x.shape[-2], dtype=x.dtype)[:, None]  # noqa: E731
    ordered = lambda phi, g, x: g((weights(x) * phi(x + 0.5)).mean(dim=-2))  # noqa: E731
    assert checks.check_set_encoder(ordered) is False  # depends on the order of the particles
    blind = lambda phi, g, x: g(torch.zeros(*x.shape[:-2], 6, dtype=x.dtype))  # noqa: E731
    assert checks.check_set_encoder(blind) is False  # does not look at the particles
    assert checks.check_set_encoder(lambda phi, g, x: torch.zeros(4)) is False
    assert checks.check_set_encoder(0.0) is False
    assert "NOT YET" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Chapter 13
# ------------------------------------------------------------------------------------------------
def jacobian_scales(system, *, modulus=True, cap=True):
    x = system.sample_initial(256, torch.Generator().manual_seed(0)).numpy()
    h = 1e-6 * max(1.0, float(np.abs(x).max()))
    columns = [(system.rhs(x + h * e) - system.rhs(x - h * e)) / (2 * h) for e in np.eye(x.shape[1])]
    jac = np.stack(columns, axis=-1)
    eig = np.linalg.eigvals(jac)
    rates = np.abs(eig) if modulus else np.abs(eig.real)
    fast = np.median(rates.max(axis=1))
    slow = np.median(rates.min(axis=1))
    slow = max(slow, fast / recipes.MAX_SCALE_RATIO) if cap else slow
    return 2 * np.pi / fast, 2 * np.pi / slow


def test_check_time_scales(capsys):
    assert checks.check_time_scales(jacobian_scales) is True
    capsys.readouterr()
    assert checks.check_time_scales(lambda s: jacobian_scales(s, cap=False)) is False
    failed(capsys, "stiff linear system", "MAX_SCALE_RATIO")
    assert checks.check_time_scales(lambda s: jacobian_scales(s, modulus=False)) is False
    failed(capsys, "damped rotation", "moduli")
    assert checks.check_time_scales(lambda s: jacobian_scales(s)[::-1]) is False
    failed(capsys, "swapped")
    assert checks.check_time_scales(lambda s: tuple(t / (2 * np.pi) for t in jacobian_scales(s))) is False
    assert checks.check_time_scales(lambda s: (2 * np.pi, 2 * np.pi)) is False
    assert checks.check_time_scales((1.0, 10.0)) is False
    assert "NOT YET" in capsys.readouterr().out


def rule_by_hand(fast, slow, *, down=True, offset=1):
    target = fast / 100
    power = 10.0 ** np.floor(np.log10(target))
    if down:
        dt = max(m * power for m in (1, 2, 5) if m * power <= target * (1 + 1e-12))
    else:
        dt = min((m * power for m in (1, 2, 5, 10)), key=lambda v: abs(np.log(v / target)))
    top = round(np.log2(max(slow / 4 / dt, 1.0)))
    return dt, min(max(top, 2), 10) + offset


def test_check_step_and_levels(capsys):
    assert checks.check_step_and_levels(rule_by_hand) is True
    assert checks.check_step_and_levels(lambda f, s: (np.float64(rule_by_hand(f, s)[0]),
                                                      np.int64(rule_by_hand(f, s)[1]))) is True
    capsys.readouterr()
    assert checks.check_step_and_levels(lambda f, s: rule_by_hand(f, s, offset=0)) is False
    failed(capsys, "number of levels")
    assert checks.check_step_and_levels(lambda f, s: rule_by_hand(f, s, down=False)) is False
    failed(capsys, "round down")
    def unclipped(f, s):
        dt = rule_by_hand(f, s)[0]
        return dt, round(np.log2(max(s / 4 / dt, 1))) + 1

    assert checks.check_step_and_levels(unclipped) is False
    assert checks.check_step_and_levels(lambda f, s: (f / 100, 5)) is False
    assert checks.check_step_and_levels((0.01, 8)) is False
    assert "NOT YET" in capsys.readouterr().out
