"""Coordinates (L-HiTS Sec. 3.1): PCA baseline and MLP autoencoder."""

import pytest
import torch

from hitslite.nets import PCA, TABLE5_FHN_HIDDEN, TABLE6_KS_HIDDEN, Autoencoder, reconstruction_loss
from hitslite.train import fit

torch.set_num_threads(1)  # small networks are far slower with several threads on a busy machine


def low_rank_data(gen, n_samples=300, n=12, rank=3, noise=0.05):
    """Snapshots near a rank-``rank`` affine subspace of R^n, float64 ``[n_samples, n]``."""
    basis = torch.randn(rank, n, generator=gen, dtype=torch.float64)
    coeffs = torch.randn(n_samples, rank, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0])
    return 0.7 + coeffs @ basis + noise * torch.randn(n_samples, n, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("z", [1, 2, 3, 5, 11])
def test_pca_training_error_equals_discarded_singular_value_energy(gen, z):
    x = low_rank_data(gen)
    pca = PCA(12, z).fit(x)
    mse = float(((pca(x) - x) ** 2).mean())
    s = torch.linalg.svdvals(x - x.mean(dim=0))
    expected = float((s[z:] ** 2).sum() / x.numel())
    assert mse == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert pca.discarded_energy() == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_pca_full_rank_is_exact_and_keeps_leading_axes(gen):
    x = low_rank_data(gen).reshape(3, 100, 2, 6)  # [B, T, *S] with a 2-D state
    pca = PCA((2, 6), 12).fit(x)
    z = pca.encode(x)
    assert z.shape == (3, 100, 12)
    assert torch.allclose(pca.decode(z), x, atol=1e-10)


def test_pca_truncate_equals_a_smaller_fit(gen):
    x = low_rank_data(gen)
    big, small = PCA(12, 6).fit(x), PCA(12, 2).fit(x)
    cut = big.truncate(2)
    assert torch.allclose(cut(x), small(x), atol=1e-12)
    assert cut.discarded_energy() == pytest.approx(small.discarded_energy(), rel=1e-12)
    with pytest.raises(ValueError, match="latent_dim"):
        big.truncate(7)


def test_pca_is_fitted_on_what_it_is_given_only(gen):
    train, test = low_rank_data(gen), low_rank_data(gen)
    pca = PCA(12, 2).fit(train)
    refit = PCA(12, 2).fit(test)  # what the authors' code did: refit on the test data (a leak)
    honest = float(((pca(test) - test) ** 2).mean())
    leaky = float(((refit(test) - test) ** 2).mean())
    assert leaky <= honest  # refitting on test can only flatter PCA on test (Eckart–Young)


def test_autoencoder_gradients_reach_every_parameter(gen):
    ae = Autoencoder((2, 101), 2, hidden=TABLE5_FHN_HIDDEN)
    x = torch.randn(16, 2, 101, generator=gen)
    ae.fit_scaling(x)
    loss = reconstruction_loss(ae, x[:, None])
    loss.backward()
    for name, p in ae.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    # the scaling is data, not a parameter: fitted on the training states, not trained
    assert {n for n, _ in ae.named_buffers()} == {"shift", "scale"}


def test_autoencoder_table_sizes_shapes_and_scaling(gen):
    ae = Autoencoder(120, 8)
    assert ae.encoder.sizes == [120, *TABLE6_KS_HIDDEN, 8]
    assert ae.decoder.sizes == [8, *reversed(TABLE6_KS_HIDDEN), 120]
    x = 3 * torch.randn(4, 50, 120, generator=gen)
    ae.fit_scaling(x)
    scaled = (x.reshape(-1, 120) - ae.shift) / ae.scale
    assert float(scaled.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(scaled.max()) == pytest.approx(1.0, abs=1e-6)
    assert ae.encode(x).shape == (4, 50, 8)
    assert ae(x).shape == x.shape


def test_autoencoder_beats_pca_on_a_planted_curve(gen):
    """A curve in R^12 (a nonlinear 1-D manifold): one latent coordinate suffices for the AE, not for PCA."""
    s = torch.rand(1000, 1, generator=gen) * 6.0 - 3.0
    freqs = torch.arange(1, 7, dtype=torch.float32)
    x = torch.cat([torch.sin(s * freqs / 2), torch.cos(s * freqs / 2)], dim=1)
    train, val = x[:800], x[800:]
    torch.manual_seed(0)
    ae = Autoencoder(12, 1, hidden=(32, 32)).fit_scaling(train)
    fit(ae, train[:, None], val[:, None], loss_fn=reconstruction_loss, batch_size=100, max_epochs=150,
        patience=30, lr_halving_patience=10, progress=False, lr=3e-3)
    with torch.no_grad():
        ae_mse = float(((ae(val) - val) ** 2).mean())
    pca_mse = float(((PCA(12, 1).fit(train)(val) - val) ** 2).mean())
    assert ae_mse < 0.2 * pca_mse


@pytest.mark.parametrize("make, match", [
    (lambda: Autoencoder(120, 0), "latent_dim"),
    (lambda: Autoencoder((2, 0), 2), "state_shape"),
    (lambda: Autoencoder(120, 2, hidden=(10, -1)), "hidden"),
    (lambda: PCA(10, 11), "latent_dim"),
    (lambda: PCA("ten", 2), "state_shape"),
])
def test_bad_construction_names_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_argument(gen):
    ae = Autoencoder(120, 8)
    with pytest.raises(ValueError, match="x must have shape"):
        ae.encode(torch.randn(4, 64))
    with pytest.raises(ValueError, match="z must have shape"):
        ae.decode(torch.randn(4, 3))
    with pytest.raises(ValueError, match="not fitted"):
        PCA(12, 2).encode(torch.randn(3, 12))
    with pytest.raises(ValueError, match="at least 2"):
        PCA(12, 2).fit(torch.randn(1, 12))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ae.encode([0.0] * 120)
