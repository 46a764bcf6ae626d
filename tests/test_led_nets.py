"""LED networks (SI 6.1-6.4): residual MLP, (V)AE, permutation-invariant encoder, mixture density decoder."""

import functools
import math

import pytest
import torch

from hitslite.nets import (
    MDN_SCALE_FLOOR,
    ConvAutoencoder,
    LEDAutoencoder,
    MixtureDensityDecoder,
    ParticleAutoencoder,
    PermutationInvariantEncoder,
    ResidualMLP,
    kl_divergence,
    led_autoencoder_loss,
    mdn_loss,
    particle_autoencoder_loss,
)
from hitslite.train import fit

torch.set_num_threads(1)  # small networks are far slower with several threads on a busy machine


def assert_every_parameter_has_gradient(module):
    for name, p in module.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        assert float(p.grad.abs().sum()) > 0, name


# ------------------------------------------------------------------------------------------ ResidualMLP
def test_residual_mlp_is_the_documented_formula_and_trains_every_parameter(gen):
    torch.manual_seed(0)
    net = ResidualMLP(7, 3, width=16, layers=3)
    x = torch.randn(2, 5, 7, generator=gen)
    y = net(x)
    assert y.shape == (2, 5, 3)
    h = torch.tanh(x @ net.input.weight.T + net.input.bias)
    for block in net.blocks:
        h = h + torch.tanh(h @ block.weight.T + block.bias)
    assert torch.allclose(y, h @ net.output.weight.T + net.output.bias, atol=1e-6)
    y.square().sum().backward()
    assert_every_parameter_has_gradient(net)
    assert len(net.blocks) == 3 and ResidualMLP(4, 2, layers=0)(torch.randn(3, 4)).shape == (3, 2)


# ------------------------------------------------------------------------------------------ LEDAutoencoder
@pytest.mark.parametrize("scaling", ["standard", "minmax"])
def test_led_autoencoder_shapes_scaling_and_round_trip(gen, scaling):
    x = 0.3 + 2.0 * torch.randn(3, 7, 2, 101, generator=gen)  # [B, T, *S] like FHN [u; v]
    ae = LEDAutoencoder((2, 101), 4, width=32, layers=2, scaling=scaling).fit_scaling(x)
    scaled = ae.normalize(x).reshape(-1, 202)
    if scaling == "standard":  # N(0, 1) per component (LED Tables 5, 7, 8)
        assert torch.allclose(scaled.mean(0), torch.zeros(202), atol=1e-5)
        assert torch.allclose(scaled.std(0, correction=0), torch.ones(202), atol=1e-5)
    else:  # [0, 1] per component (Tables 1, 3)
        assert torch.allclose(scaled.min(0).values, torch.zeros(202), atol=1e-6)
        assert torch.allclose(scaled.max(0).values, torch.ones(202), atol=1e-6)
    assert torch.allclose(ae.denormalize(ae.normalize(x)), x, atol=1e-5)
    z = ae.encode(x)
    assert z.shape == (3, 7, 4)
    assert ae.decode(z).shape == x.shape and ae(x).shape == x.shape
    assert ae.encode(x[0, 0]).shape == (4,)  # a single state
    # decode undoes the scaling: outputs are in physical units
    assert torch.allclose(ae.decode(z), ae.denormalize(ae.decoder(z).reshape(3, 7, 2, 101)), atol=1e-5)


def test_variational_encode_is_the_deterministic_mean_and_sampling_is_reparameterised(gen):
    ae = LEDAutoencoder(12, 3, width=16, layers=1, variational=True).eval()
    x = torch.randn(5, 12, generator=gen)
    mu, logvar = ae.encode_distribution(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert torch.equal(ae.encode(x), ae.encode(x)) and torch.allclose(ae.encode(x), mu)
    z1 = ae.sample(mu, logvar, torch.Generator().manual_seed(3))
    z2 = ae.sample(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2) and not torch.allclose(z1, mu)
    with pytest.raises(ValueError, match="variational"):
        LEDAutoencoder(12, 3).encode_distribution(x)


def test_kl_divergence_matches_closed_form_and_vanishes_at_the_prior(gen):
    assert float(kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3))) == 0.0
    mu, logvar = torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.randn(6, 3, generator=gen,
                                                                                   dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert torch.allclose(kl_divergence(mu, logvar), expected, rtol=1e-12)


def test_led_autoencoder_loss_reaches_every_parameter_and_noise_only_in_training(gen):
    x = torch.randn(8, 2, 30, generator=gen) * torch.tensor([1.0, 0.01])[:, None]
    vae = LEDAutoencoder((2, 30), 2, width=16, layers=2, variational=True).fit_scaling(x)
    loss = led_autoencoder_loss(vae, x[:, None], beta=0.1, noise=0.1,
                                generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert_every_parameter_has_gradient(vae)
    assert {n for n, _ in vae.named_buffers()} == {"shift", "scale"}  # scaling is data, not trained

    ae = LEDAutoencoder((2, 30), 2, width=16, layers=2).fit_scaling(x)
    noisy = functools.partial(led_autoencoder_loss, noise=0.5, generator=torch.Generator().manual_seed(1))
    ae.eval()
    assert torch.equal(noisy(ae, x), led_autoencoder_loss(ae, x))  # no noise in eval mode
    target = ae.normalize(x).reshape(8, -1)
    expected = ((ae.decoder(ae.encoder(target)) - target) ** 2).mean()
    assert torch.allclose(led_autoencoder_loss(ae, x), expected)
    ae.train()
    assert not torch.equal(noisy(ae, x), led_autoencoder_loss(ae, x))


@pytest.mark.parametrize("variational", [False, True])
def test_led_autoencoder_overfits_a_one_parameter_family_with_fit(variational):
    """16 states of a curve in R^10: latent_dim=1 suffices, and the loss works as fit's loss_fn."""
    a = torch.linspace(-1, 1, 16)[:, None]
    x = torch.cat([torch.sin(a * torch.arange(1, 6)), torch.cos(a * torch.arange(1, 6))], dim=1)
    torch.manual_seed(0)
    ae = LEDAutoencoder(10, 1, width=32, layers=2, variational=variational).fit_scaling(x)
    loss_fn = functools.partial(led_autoencoder_loss, beta=1e-6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ae.eval()
        before = float(loss_fn(ae, x[:, None]))
    res = fit(ae, x[:, None], loss_fn=loss_fn, lr=1e-2, batch_size=16, max_epochs=400, patience=None,
              progress=False)
    with torch.no_grad():
        after = float(loss_fn(ae, x[:, None]))
        recon = float(((ae(x) - x) ** 2).mean())
    assert after < before / 100, (before, after, res.stop_reason)
    assert recon < 1e-2 * float(x.var())


def test_conv_autoencoder_is_periodic_and_shares_the_led_interface(gen):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 64, generator=gen)  # [B, T, n]: KS fields on LED's 64-point periodic grid
    cae = ConvAutoencoder(64, 8, channels=(4, 8), variational=True).fit_scaling(x)
    assert cae.encode(x).shape == (3, 5, 8) and cae(x).shape == x.shape
    mu, logvar = cae.encode_distribution(x)
    assert torch.allclose(mu, cae.encode(x)) and logvar.shape == (3, 5, 8)
    # circular padding: rotating the field by 2**len(channels) points rotates the feature maps by one
    f = cae.features(x[:, 0, None])
    assert torch.allclose(cae.features(x[:, 0, None].roll(4, dims=-1)), f.roll(1, dims=-1), atol=1e-5)
    loss = led_autoencoder_loss(cae.train(), x, beta=0.1, noise=0.1,
                                generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert_every_parameter_has_gradient(cae)
    two = ConvAutoencoder((2, 16), 3, channels=(4,), kernel_size=3, scaling="minmax")
    assert two.decode(two.encode(torch.randn(7, 2, 16))).shape == (7, 2, 16)
    with pytest.raises(ValueError, match="divisible"):
        ConvAutoencoder(60, 2, channels=(4, 4, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        ConvAutoencoder(64, 2, kernel_size=4)


# ------------------------------------------------------------------------------------------ particles
def test_permutation_invariant_encoder_ignores_order_and_number_of_particles(gen):
    torch.manual_seed(0)
    enc = PermutationInvariantEncoder(3, 8, feature_dim=32, width=16, layers=2)
    x = torch.rand(2, 1000, 3, generator=gen) - 0.5
    z = enc(x)
    assert z.shape == (2, 8)
    perm = torch.randperm(1000, generator=gen)
    assert torch.allclose(enc(x[:, perm]), z, atol=1e-6)
    assert enc(x[:, :400]).shape == (2, 8)  # trained on N = 1000, runs on N = 400 (SI 8.2.3)
    assert enc(x.reshape(2, 1, 1000, 3)).shape == (2, 1, 8)  # any leading axes
    # a configuration and the same one with every particle duplicated: the same mean feature
    assert torch.allclose(enc(torch.cat([x, x], dim=1)), z, atol=1e-6)
    # the box is mapped onto [0, 1]^d first: another box, the same map of the scaled positions
    other = PermutationInvariantEncoder(3, 8, feature_dim=32, width=16, layers=2, low=0.0, high=2.0)
    other.load_state_dict(enc.state_dict() | {"low": other.low, "high": other.high})
    assert torch.allclose(other(2 * (x + 0.5)), z, atol=1e-6)


def _decoder(particle_dim, seed=0, **kw):
    torch.manual_seed(seed)
    sizes = {"kernels": 4, "width": 16, "layers": 2, "hidden": 12}
    return MixtureDensityDecoder(3, particle_dim, **(sizes | kw))


def _x_grid(low, high):
    """Positions in (low, high), dense near the lower wall (where the density lives on a log scale)."""
    s = torch.cat([torch.logspace(-9, -2, 2000, dtype=torch.float64)[:-1],
                   torch.linspace(0.01, 1.0, 20001, dtype=torch.float64)])
    return low + (high - low) * s


def test_mdn_density_of_positions_integrates_to_one_in_1d(gen):
    """The Jacobian of x -> v makes log_prob a density over the box; the mixture's mass beyond
    softplus(v) = 1 is the atom at the upper wall (wall_mass), so the two add up to one."""
    dec = _decoder(1, kernels=3).double()
    z = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    x = _x_grid(-0.5, 0.5)
    with torch.no_grad():
        density = dec.log_prob(x[:, None, None, None], z).exp()  # [M, 4]: one particle per point
        integral = torch.trapezoid(density, x, dim=0)
        wall = dec.wall_mass(z)[:, 0]
    assert float(wall.min()) > 1e-3  # a fresh network does put mass beyond the wall
    assert torch.allclose(integral + wall, torch.ones(4, dtype=torch.float64), atol=1e-6)
    # a mixture well inside the box: the density alone integrates to one
    with torch.no_grad():
        dec.loc.weight.zero_()
        dec.loc.bias.fill_(-2.0)  # s = softplus(-2) ~ 0.13
        dec.diag.weight.zero_()
        dec.diag.bias.fill_(-1.0)  # sd = softplus(-1) ~ 0.31
        density = dec.log_prob(x[:, None, None, None], z).exp()
        assert float(dec.wall_mass(z).max()) < 1e-12
    assert torch.allclose(torch.trapezoid(density, x, dim=0), torch.ones(4, dtype=torch.float64), atol=1e-2)


def test_mdn_loss_gradients_are_finite_and_reach_every_parameter(gen):
    model = ParticleAutoencoder(2, 3, feature_dim=16, width=16, layers=2, kernels=3, hidden=12)
    x = torch.rand(5, 200, 2, generator=gen) - 0.5
    x[0, 0] = torch.tensor([0.5, -0.5])  # particles on the walls: clamped, still finite
    loss = mdn_loss(model.encoder, model.decoder, x)
    assert torch.isfinite(loss)
    loss.backward()
    assert_every_parameter_has_gradient(model)
    assert torch.equal(particle_autoencoder_loss(model, x), loss.detach())


def test_mdn_samples_match_the_mixture_moments_in_2d(gen):
    dec = _decoder(2, seed=1).double()
    z = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    n = 40000
    with torch.no_grad():
        v = dec.sample_auxiliary(z, n, torch.Generator().manual_seed(7))  # [2, n, 2]
        dist = dec.distribution(z)
        logits, loc, tril = dec.mixture_parameters(z)
    assert v.shape == (2, n, 2)
    # means and variances of v, within 4 standard errors
    mean, var = v.mean(1), v.var(1)
    assert ((mean - dist.mean).abs() < 4 * (var / n).sqrt()).all()
    m4 = ((v - mean[:, None]) ** 4).mean(1)
    assert ((var - dist.variance).abs() < 4 * ((m4 - var**2) / n).sqrt()).all()
    # the full covariance: sum_k pi_k (Sigma_k + mu_k mu_k^T) - m m^T
    pi = torch.softmax(logits, -1)[..., None, None]
    second = (pi * (tril @ tril.transpose(-1, -2) + loc[..., :, None] * loc[..., None, :])).sum(-3)
    cov = second - dist.mean[..., :, None] * dist.mean[..., None, :]
    d = v - mean[:, None]
    prod = d[..., 0] * d[..., 1]
    emp = prod.mean(1)
    assert float(cov[:, 0, 1].abs().min()) > 1e-3  # the kernels are correlated: a real check
    assert ((emp - cov[:, 0, 1]).abs() < 4 * (prod.var(1) / n).sqrt()).all()


def test_mdn_positions_lie_in_the_box_with_the_predicted_mean_and_wall_mass(gen):
    low, high = torch.tensor([-0.5, 0.0]), torch.tensor([0.5, 2.0])
    dec = _decoder(2, seed=2, low=low.tolist(), high=high.tolist()).double()
    z = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    n = 40000
    with torch.no_grad():
        x = dec.sample(z, n, torch.Generator().manual_seed(5))
        v = dec.sample_auxiliary(z, n, torch.Generator().manual_seed(5))
        mean, wall = dec.mean(z), dec.wall_mass(z)
    assert x.shape == (3, n, 2)
    assert bool((x >= low.double()).all()) and bool((x <= high.double()).all())
    assert torch.allclose(x, dec.from_auxiliary(v))  # same generator, same draws
    se = (x.var(1) / n).sqrt()
    assert ((x.mean(1) - mean).abs() < 4 * se).all()
    at_wall = (x == high.double()).double().mean(1)
    assert ((at_wall - wall).abs() < 4 * (wall * (1 - wall) / n).sqrt() + 1e-9).all()


def test_mdn_log_prob_is_permutation_invariant_and_broadcasts(gen):
    dec = _decoder(3, seed=3)
    x = torch.rand(2, 300, 3, generator=gen) - 0.5
    z = torch.randn(2, 3, generator=gen)
    lp = dec.log_prob(x, z)
    assert lp.shape == (2,)
    assert torch.allclose(dec.log_prob(x[:, torch.randperm(300, generator=gen)], z), lp, atol=1e-6)
    assert torch.allclose(dec.log_prob(x[0], z[0]), lp[0], atol=1e-6)
    assert dec.log_prob(x[:, None], torch.randn(4, 3, generator=gen)).shape == (2, 4)
    # one particle = the per-particle terms of the mean
    single = dec.log_prob(x[0, :, None], z[0])
    assert torch.allclose(single.mean(), lp[0], atol=1e-5)


def test_mdn_cholesky_factors_are_lower_triangular_with_floored_diagonal(gen):
    dec = _decoder(3, seed=4)
    with torch.no_grad():
        dec.diag.bias.fill_(-100.0)  # softplus -> 0: the floor keeps the covariance positive definite
        logits, loc, tril = dec.mixture_parameters(torch.randn(5, 3, generator=gen))
    assert logits.shape == (5, 4) and loc.shape == (5, 4, 3) and tril.shape == (5, 4, 3, 3)
    assert torch.equal(tril, tril.tril())
    assert torch.allclose(tril.diagonal(dim1=-2, dim2=-1), torch.full((5, 4, 3), MDN_SCALE_FLOOR))


def test_particle_autoencoder_trains_with_fit_and_decodes_configurations(gen):
    torch.manual_seed(0)
    model = ParticleAutoencoder(1, 2, feature_dim=16, width=16, layers=1, kernels=2, hidden=8, n_particles=50)
    centres = torch.rand(32, 1, 1, generator=gen) * 0.6 - 0.3
    data = (centres + 0.05 * torch.randn(32, 100, 1, generator=gen)).clamp(-0.5, 0.5)  # [B, N, d_x]
    with torch.no_grad():
        before = float(particle_autoencoder_loss(model, data))
    res = fit(model, data, loss_fn=particle_autoencoder_loss, lr=3e-3, batch_size=8, max_epochs=15,
              patience=None, progress=False)
    assert res.best_loss < before
    z = model.encode(data[:3])
    assert z.shape == (3, 2) and model.latent_dim == 2
    assert model.decode(z).shape == (3, 50, 1)
    assert model.decode(z, 7, torch.Generator().manual_seed(0)).shape == (3, 7, 1)
    assert model.log_prob(data[:3]).shape == (3,)


@pytest.mark.parametrize("make, match", [
    (lambda: ResidualMLP(0, 2), "in_dim"),
    (lambda: ResidualMLP(3, 2, layers=-1), "layers"),
    (lambda: ResidualMLP(3, 2, activation="sigmoid"), "activation"),
    (lambda: LEDAutoencoder(10, 0), "latent_dim"),
    (lambda: LEDAutoencoder(10, 2, scaling="robust"), "scaling"),
    (lambda: LEDAutoencoder(10, 2, variational=1), "variational"),
    (lambda: LEDAutoencoder(10, 2, width=0), "width"),
    (lambda: PermutationInvariantEncoder(0, 2), "particle_dim"),
    (lambda: PermutationInvariantEncoder(2, 2, low=0.5, high=-0.5), "high"),
    (lambda: PermutationInvariantEncoder(2, 2, low=[0.0, 0.0, 0.0]), "low"),
    (lambda: MixtureDensityDecoder(2, 1, kernels=0), "kernels"),
    (lambda: MixtureDensityDecoder(2, 1, hidden=0), "hidden"),
    (lambda: MixtureDensityDecoder(2, 1, scale_floor=0.0), "scale_floor"),
    (lambda: MixtureDensityDecoder(2, 1, eps=0.7), "eps"),
    (lambda: ParticleAutoencoder(1, 2, n_particles=0), "n_particles"),
])
def test_bad_construction_names_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_argument():
    ae = LEDAutoencoder(10, 2, width=8, layers=1)
    with pytest.raises(ValueError, match="noise"):
        led_autoencoder_loss(ae, torch.randn(4, 10), noise=-0.1)
    with pytest.raises(ValueError, match="beta"):
        led_autoencoder_loss(ae, torch.randn(4, 10), beta=math.nan)
    with pytest.raises(ValueError, match="x must have shape"):
        led_autoencoder_loss(ae, torch.randn(4, 11))
    enc = PermutationInvariantEncoder(3, 2, feature_dim=8, width=8, layers=1)
    with pytest.raises(ValueError, match=r"\[\.\.\., N, 3\]"):
        enc(torch.randn(5, 2))
    dec = MixtureDensityDecoder(2, 3, width=8, layers=1, hidden=4)
    with pytest.raises(ValueError, match="z must have shape"):
        dec.sample(torch.randn(4, 3), 10)
    with pytest.raises(ValueError, match="n_particles"):
        dec.sample(torch.randn(4, 2), 0)
    with pytest.raises(ValueError, match="mu and logvar"):
        kl_divergence(torch.zeros(2, 3), torch.zeros(2, 2))


def test_float64_parameters_compute_in_float64(gen):
    ae = LEDAutoencoder(6, 2, width=8, layers=1, variational=True).double()
    assert ae.encode(torch.randn(3, 6)).dtype == torch.float64
    assert led_autoencoder_loss(ae.train(), torch.randn(3, 6), noise=0.1).dtype == torch.float64
    model = ParticleAutoencoder(2, 2, feature_dim=8, width=8, layers=1, kernels=2, hidden=4).double()
    x = torch.rand(3, 20, 2) - 0.5  # float32 input
    assert model.encode(x).dtype == torch.float64 and model.log_prob(x).dtype == torch.float64
    assert model.decode(model.encode(x), 5).dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_parity():
    torch.manual_seed(0)
    model = ParticleAutoencoder(3, 4, feature_dim=16, width=16, layers=2, kernels=3, hidden=8).double()
    x = torch.rand(4, 100, 3, dtype=torch.float64) - 0.5
    cpu = model.log_prob(x)
    gpu_model = model.cuda()
    assert torch.allclose(gpu_model.log_prob(x.cuda()).cpu(), cpu, rtol=1e-9)
    z = gpu_model.encode(x.cuda())
    sample = gpu_model.decode(z, 10, torch.Generator().manual_seed(0))  # a CPU generator drives CUDA draws
    assert sample.device.type == "cuda" and sample.shape == (4, 10, 3)
    ae = LEDAutoencoder((2, 8), 2, width=8, layers=1, variational=True).cuda()
    loss = led_autoencoder_loss(ae, torch.randn(5, 2, 8, device="cuda"), noise=0.1,
                                generator=torch.Generator().manual_seed(0))
    assert loss.device.type == "cuda" and torch.isfinite(loss)
