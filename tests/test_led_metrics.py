"""LED comparison measures (LED SI 7, 8.1-8.4): NAD/MNAD, Wasserstein, L1 histogram distance, KS spectrum and
(u_x, u_xx) density, particle moments — checked against hand-written references and exact cases."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from hitslite.data import Trajectory
from hitslite.metrics import (
    derivative_density,
    derivative_density_distance,
    l1_histogram_distance,
    mnad,
    moments,
    nad,
    periodic_derivatives,
    power_spectrum,
    rice_bins,
    wasserstein,
)

KS_LENGTH = 22.0  # LED SI 8.4: KS on [0, 22), N = 64
KS_N = 64


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _nad_reference(p, q):
    """Eq. 22 written out with loops: per trajectory b, range of the true field over space and time."""
    B, T = q.shape[:2]
    out = np.zeros((B, T))
    for b in range(B):
        r = q[b].max() - q[b].min()
        for t in range(T):
            out[b, t] = np.mean(np.abs(q[b, t] - p[b, t])) / r
    return out


# ------------------------------------------------------------------------------------------ NAD
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 4, 3, 6)])
def test_nad_matches_a_loop_reference(rng, shape):
    q = rng.normal(size=shape)
    p = q + 0.3 * rng.normal(size=shape)
    got = nad(torch.from_numpy(p), torch.from_numpy(q))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64 and got.shape == shape[:2]
    np.testing.assert_allclose(got.numpy(), _nad_reference(p, q), rtol=1e-13)
    assert mnad(p, q) == pytest.approx(_nad_reference(p, q).mean(), rel=1e-13)  # numpy inputs too


def test_constant_offset_gives_offset_over_range(rng):
    R, c = 2.5, 0.125
    q = R * rng.uniform(size=(4, 6, 9))
    q[:, 0, 0], q[:, 3, 5] = 0.0, R  # every trajectory spans exactly [0, R]
    p = q + c
    d = nad(Trajectory(t=torch.arange(6.0), x=torch.from_numpy(p), dt=1.0), torch.from_numpy(q))
    np.testing.assert_allclose(d.numpy(), c / R, rtol=1e-13)
    assert mnad(p, q) == pytest.approx(c / R, rel=1e-13)


def test_nad_uses_each_trajectorys_own_range(rng):
    q = rng.uniform(size=(2, 3, 5))
    q[1] = 10.0 * q[0]  # same error, ten times the range -> a tenth of the NAD
    p = q + 0.1
    d = nad(p, q)
    np.testing.assert_allclose(d[1].numpy(), d[0].numpy() / 10, rtol=1e-13)
    np.testing.assert_allclose(d.numpy(), 0.1 / np.ptp(q.reshape(2, -1), axis=1)[:, None] * np.ones((2, 3)),
                               rtol=1e-12)


def test_nad_per_channel_fhn_layout(rng):
    B, T, N = 2, 4, 11  # FHN states [B, T, 2, N]: u and v
    q = rng.uniform(size=(B, T, 2, N))
    q[:, :, 1] *= 0.2  # v has a much smaller range than u
    c = np.array([0.05, 0.01])
    p = q + c[None, None, :, None]
    per = nad(p, q, channel_axis=2)
    assert per.shape == (B, T, 2)
    assert torch.equal(per, nad(p, q, channel_axis=-2))
    for k in range(2):
        np.testing.assert_allclose(per[..., k].numpy(), _nad_reference(p[:, :, k], q[:, :, k]), rtol=1e-13)
    m = mnad(p, q, channel_axis=2)
    assert m.shape == (2,)
    np.testing.assert_allclose(m.numpy(), per.mean(dim=(0, 1)).numpy())
    # channel axis last, and a channel axis with nothing behind it ([B, T, C])
    np.testing.assert_allclose(nad(np.moveaxis(p, 2, 3), np.moveaxis(q, 2, 3), channel_axis=3).numpy(),
                               per.numpy(), rtol=1e-14)
    single = nad(p[..., 0], q[..., 0], channel_axis=2)
    np.testing.assert_allclose(single.numpy(), c / np.ptp(q[..., 0], axis=1)[:, None, :] * np.ones((B, T, 2)),
                               rtol=1e-12)


def test_nad_rejects_bad_input():
    q = torch.rand(2, 3, 4)
    with pytest.raises(ValueError, match="same shape"):
        nad(q, q[:, :2])
    with pytest.raises(TypeError, match="pred and truth"):
        nad(q.tolist(), q)
    with pytest.raises(ValueError, match="channel_axis"):
        nad(q, q, channel_axis=1)
    q[1] = 3.0
    with pytest.raises(ValueError, match="trajectory 1"):
        nad(q + 1, q)


# ------------------------------------------------------------------------------------------ Wasserstein
def test_wasserstein_equals_scipy_on_small_samples(rng):
    a, b = rng.normal(size=7), rng.normal(size=(3, 4))  # sizes may differ; b is flattened
    assert wasserstein(a, b) == wasserstein_distance(a, b.ravel())
    assert wasserstein(torch.from_numpy(a), torch.from_numpy(b)) == wasserstein_distance(a, b.ravel())


@pytest.mark.parametrize("mu", [0.5, -1.5])
def test_wasserstein_of_shifted_normals_is_the_shift(rng, mu):
    a, b = rng.normal(size=20000), mu + rng.normal(size=20000)
    assert wasserstein(a, b) == pytest.approx(abs(mu), abs=0.04)


def test_wasserstein_marginal_mean(rng):
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(40, 3)) + [0.0, 1.0, 2.0]
    want = np.mean([wasserstein_distance(a[:, k], b[:, k]) for k in range(3)])
    assert wasserstein(a, b, axis=-1) == pytest.approx(want, rel=1e-14)
    with pytest.raises(ValueError, match="same size along axis"):
        wasserstein(a, b[:, :2], axis=-1)
    with pytest.raises(ValueError, match="NaN"):
        wasserstein(np.array([0.0, np.nan]), a)


# ------------------------------------------------------------------------------------------ L1 histograms
def test_rice_rule_is_exact_in_integers():
    assert [rice_bins(n) for n in (1, 8, 27, 1000, 1001)] == [2, 4, 6, 20, 21]
    for n in range(1, 3000):
        k = rice_bins(n)
        assert k ** 3 >= 8 * n > (k - 1) ** 3  # k = ceil(2 n^(1/3)) without rounding error
    with pytest.raises(ValueError, match="n must be"):
        rice_bins(0)


def test_l1_histogram_distance_limits(rng):
    a = rng.uniform(size=1000)
    assert l1_histogram_distance(a, a.copy()) == 0.0
    assert l1_histogram_distance(a, a + 2.0) == pytest.approx(2.0, abs=1e-12)  # disjoint supports
    d = l1_histogram_distance(a, rng.normal(0.5, 0.3, size=800))
    assert 0.0 < d < 2.0


def test_l1_histogram_distance_default_grid(rng):
    a, b = rng.normal(size=500), rng.normal(0.3, 1.2, size=300)
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), rice_bins(500) + 1)
    p, _ = np.histogram(a, edges, density=True)
    q, _ = np.histogram(b, edges, density=True)
    want = np.sum(np.abs(p - q) * np.diff(edges))
    assert l1_histogram_distance(a, b) == pytest.approx(want, rel=1e-12)
    assert l1_histogram_distance(torch.from_numpy(a), b, bins=10, range=(-2.0, 2.0)) != pytest.approx(want)
    two = np.stack([a[:300], b], axis=-1), np.stack([b, a[:300]], axis=-1)
    assert l1_histogram_distance(*two, axis=-1) == pytest.approx(l1_histogram_distance(a[:300], b), rel=1e-12)


# ------------------------------------------------------------------------------------------ KS statistics
def test_power_spectrum_of_a_sine_and_parseval(rng):
    x = np.arange(KS_N) * KS_LENGTH / KS_N
    m, A = 3, 1.7
    k, E = power_spectrum(A * np.sin(2 * np.pi * m * x / KS_LENGTH)[None, None], length=KS_LENGTH)
    assert k.shape == E.shape == (KS_N // 2 + 1,)
    np.testing.assert_allclose(k, 2 * np.pi * np.arange(KS_N // 2 + 1) / KS_LENGTH)
    assert E[m] == pytest.approx(A ** 2 / 4, rel=1e-13)
    assert np.delete(E, m).max() < 1e-28
    for n in (KS_N, 63):  # even N has a Nyquist mode counted once, odd N does not
        u = torch.from_numpy(rng.normal(size=(3, 5, n)))
        _, E = power_spectrum(u, length=KS_LENGTH)
        weight = np.full(E.shape, 2.0)
        weight[0] = 1.0
        if n % 2 == 0:
            weight[-1] = 1.0
        assert np.sum(weight * E) == pytest.approx(float((u ** 2).mean()), rel=1e-12)


def _sine_errors(n, length=KS_LENGTH, spacing=None):
    kw = 2 * np.pi / length
    x = np.arange(n) * length / n
    ux, uxx = periodic_derivatives(np.sin(kw * x), length=length)
    if spacing is not None:  # the LED reference code's spacing: rescale our differences to it
        ux, uxx = ux * (length / n) / spacing, uxx * (length / n) ** 2 / spacing ** 2
    return np.abs(ux - kw * np.cos(kw * x)).max(), np.abs(uxx + kw ** 2 * np.sin(kw * x)).max()


def test_periodic_derivatives_use_spacing_L_over_N():
    ex, exx = _sine_errors(KS_N)
    assert ex < 1e-3 and exx < 1e-3
    bx, bxx = _sine_errors(KS_N, spacing=KS_LENGTH / (KS_N - 1))  # the reference code's L / (N - 1)
    assert bx > 1e-3 and bxx > 1e-3


def test_periodic_derivatives_converge_at_second_order():
    errs = np.array([_sine_errors(n) for n in (32, 64, 128)])
    orders = np.log2(errs[:-1] / errs[1:])
    np.testing.assert_allclose(orders, 2.0, atol=0.05)


def test_derivative_density(rng):
    x = np.arange(KS_N) * KS_LENGTH / KS_N
    phase = rng.uniform(0, 2 * np.pi, size=(4, 10, 1))
    u = np.sin(2 * np.pi * x / KS_LENGTH + phase) + 0.5 * np.cos(4 * np.pi * x / KS_LENGTH + 2 * phase)
    dens, ex, ey = derivative_density(torch.from_numpy(u), length=KS_LENGTH)
    nb = rice_bins(u.size)
    assert dens.shape == (nb, nb) and ex.shape == ey.shape == (nb + 1,)
    assert np.sum(dens * np.outer(np.diff(ex), np.diff(ey))) == pytest.approx(1.0, rel=1e-12)
    assert derivative_density_distance(u, u.copy(), length=KS_LENGTH) == 0.0
    other = derivative_density_distance(2 * u, u, length=KS_LENGTH, bins=12)
    assert 0.5 < other <= 2.0
    with pytest.raises(ValueError, match="length"):
        derivative_density(u, length=0.0)


# ------------------------------------------------------------------------------------------ particles
def test_moments_of_a_known_configuration():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, -1.0], [2.0, 1.0]])  # N = 4 particles in d = 2
    m1, m2 = moments(x)
    assert torch.equal(m1, torch.tensor([2.0, 1.0], dtype=torch.float64))
    assert torch.equal(m2, torch.tensor([2.0, 2.0], dtype=torch.float64))  # population variance
    a1, a2 = moments(x.numpy(), average_dims=True)
    assert float(a1) == 1.5 and float(a2) == 2.0
    batch = torch.stack([x, x + 1.0]).unsqueeze(0)  # [B=1, T=2, N, d]
    b1, b2 = moments(batch)
    assert b1.shape == (1, 2, 2) and torch.equal(b1[0, 1], m1 + 1) and torch.equal(b2[0, 1], m2)
    with pytest.raises(ValueError, match="positions"):
        moments(torch.zeros(5))


def test_dominant_period_recovers_a_known_period_between_frequency_bins():
    from hitslite.metrics import dominant_period

    t = np.arange(4000) * 0.5
    periods = np.array([37.3, 190.0, 211.7])
    signal = np.sin(2 * np.pi * t[None] / periods[:, None] + 0.3) + 0.2 * np.sin(2 * np.pi * t[None] / 7.0)
    got = dominant_period(torch.as_tensor(signal), 0.5)
    np.testing.assert_allclose(got, periods, rtol=5e-3)
    with pytest.raises(ValueError, match="signal"):
        dominant_period(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="dt"):
        dominant_period(signal, 0.0)


def test_analogue_error_is_small_for_a_state_and_large_for_a_folding_projection():
    """Harmonic oscillators of several amplitudes: (x, v) is a state, x alone is not (the sign of v is
    lost)."""
    from hitslite.metrics import analogue_error

    t = torch.arange(2000) * 0.05
    amp = torch.linspace(0.5, 1.5, 6)[:, None]
    phase = torch.linspace(0, 2, 6)[:, None]
    xv = torch.stack([amp * torch.cos(t + phase), -amp * torch.sin(t + phase)], -1)  # [6, 2000, 2]
    quarter = round(math.pi / 2 / 0.05)
    g = torch.Generator().manual_seed(0)
    state = analogue_error(xv, xv, quarter, n_queries=300, generator=g)
    folded = analogue_error(xv[..., :1], xv, quarter, n_queries=300, generator=g)
    assert state < 1e-3 * float(xv.var()) and folded > 0.1 * float(xv.var())
    # self-matches inside the exclusion window are skipped: a single trajectory still has later loops
    assert analogue_error(xv[:1], xv[:1], 1, n_queries=50, exclude=10, generator=g) < 1e-3
    with pytest.raises(ValueError, match="stride"):
        analogue_error(xv, xv, 2000)
    with pytest.raises(ValueError, match="coords"):
        analogue_error(xv[0], xv[0], 1)
