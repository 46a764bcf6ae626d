"""L-HiTS (Sec. 3.3, Algorithm 1): ``Latent`` composes coordinates with steppers and hierarchies."""

import math

import pytest
import torch
from torch import nn

import hitslite as h
from hitslite.data import Trajectory
from hitslite.nets import PCA
from hitslite.neural import Latent, ResNetStepper
from hitslite.steppers import Stepper

torch.set_num_threads(1)  # small networks are far slower with several threads on a busy machine


class Counting(nn.Module):
    """Identity that counts its calls and the states it saw."""

    def __init__(self):
        super().__init__()
        self.calls = self.states = 0

    def forward(self, x):
        self.calls += 1
        self.states += x.shape[:-1].numel()
        return x


def random_levels(dim=3, n=4, dt=0.05, seed=0):
    torch.manual_seed(seed)
    return [ResNetStepper(dim, dt * 2**k, hidden=(16,)) for k in range(n)]


def test_identity_coordinates_give_the_inner_stepper_in_rollout(gen):
    (s,) = random_levels(n=1)
    x0 = torch.randn(5, 3, generator=gen)
    with torch.no_grad():
        direct = h.rollout(s, x0, 40).x
        latent = h.rollout(Latent(nn.Identity(), s, nn.Identity()), x0, 40).x
    assert torch.equal(direct, latent)


def test_identity_coordinates_give_the_inner_hierarchy(gen):
    levels = random_levels()
    x0 = torch.randn(5, 3, generator=gen)
    with torch.no_grad():
        direct = h.Hierarchy(levels).forecast(x0, 100).x
        as_levels = h.Hierarchy([Latent(nn.Identity(), s, nn.Identity()) for s in levels]).forecast(x0, 100).x
        wrapped = Latent(nn.Identity(), h.Hierarchy(levels), nn.Identity()).forecast(x0, 100)
    assert torch.equal(direct, as_levels)
    assert torch.equal(direct, wrapped.x)
    assert torch.equal(direct, wrapped.meta["latent"].x)


def test_forecast_encodes_once_and_decodes_once(gen):
    levels = random_levels()
    enc, dec = Counting(), Counting()
    x0 = torch.randn(5, 3, generator=gen)
    with torch.no_grad():
        out = Latent(enc, h.Hierarchy(levels), dec).forecast(x0, 100)
    assert (enc.calls, enc.states) == (1, 5)
    assert (dec.calls, dec.states) == (1, 5 * 101)  # every output state, in one batched call
    assert out.x.shape == (5, 101, 3)


def test_rollout_keeps_the_latent_state_in_the_carry(gen):
    (s,) = random_levels(n=1)
    enc, dec = Counting(), Counting()
    with torch.no_grad():
        h.rollout(Latent(enc, s, dec), torch.randn(2, 3, generator=gen), 30)
    assert enc.calls == 1 and dec.calls == 30  # never re-encoded


class Rotation(Stepper):
    """Exact flow map of z' = (z2, -z1) over ``dt``, times a planted growth ``1 + eps`` per step."""

    def __init__(self, dt, eps=1e-3):
        super().__init__()
        self.dt, self.eps = dt, eps

    def forward(self, z):
        c, s = math.cos(self.dt), math.sin(self.dt)
        return (1 + self.eps) * torch.stack([c * z[:, 0] + s * z[:, 1], -s * z[:, 0] + c * z[:, 1]], dim=-1)


def planted_data(gen, n_traj, n_steps, dt, embed):
    """Oscillator trajectories in a random plane of R^16: ``x = embed(z)``, exact in time."""
    r = 0.5 + torch.rand(n_traj, 1, generator=gen, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(n_traj, 1, generator=gen, dtype=torch.float64)
    t = dt * torch.arange(n_steps + 1, dtype=torch.float64)
    z = torch.stack([r * torch.cos(phase - t), r * torch.sin(phase - t)], dim=-1)  # [B, T, 2]
    return Trajectory(t=t, x=embed(z), dt=dt)


def test_latent_hierarchy_beats_each_of_its_single_levels_on_a_planted_case(gen):
    basis = torch.linalg.qr(torch.randn(16, 2, generator=gen, dtype=torch.float64))[0]  # [16, 2]
    offset = torch.randn(16, generator=gen, dtype=torch.float64)

    def embed(z):
        return z @ basis.T + offset

    dt, n_steps = 0.01, 1024
    train = planted_data(gen, 20, n_steps, dt, embed)
    val = planted_data(gen, 10, n_steps, dt, embed)
    test = planted_data(gen, 10, n_steps, dt, embed)
    pca = PCA(16, 2).fit(train.x)  # training data only; the plane is recovered exactly
    assert pca.discarded_energy() < 1e-20
    levels = [Rotation(dt * 2**k) for k in range(7)]  # NNTS 0..6, each with the same planted error
    # PCA may rotate or reflect the plane, so the latent steppers act in PCA coordinates: conjugate them
    # by the (orthogonal) map between PCA and planted coordinates, found from the data.
    to_planted = pca.components @ basis  # [2, 2]

    class InPCA(Stepper):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.dt = inner, inner.dt

        def forward(self, y):
            return self.inner(y @ to_planted) @ to_planted.T

    latent_levels = [InPCA(s) for s in levels]
    val_latent = Trajectory(t=val.t, x=pca.encode(val.x), dt=dt)
    selection = h.select_levels(latent_levels, val_latent)  # validation only
    model = Latent(pca, selection.hierarchy, pca)
    x0 = test.x[:, 0]
    err = float(((model.forecast(x0, n_steps, dt=dt).x - test.x) ** 2).mean())
    singles = {k: float(((Latent(pca, s, pca).forecast(x0, n_steps, dt=dt).x - test.x) ** 2).mean())
               for k, s in enumerate(latent_levels)}
    assert err < min(singles.values()), (err, singles)
    assert selection.upper > selection.lower  # a genuine coupling was chosen, on validation data


def test_latent_rejects_bad_arguments(gen):
    (s,) = random_levels(n=1)
    with pytest.raises(TypeError, match="encoder"):
        Latent(3, s, nn.Identity())
    with pytest.raises(TypeError, match="decoder"):
        Latent(nn.Identity(), s, "decode")
    with pytest.raises(TypeError, match="stepper"):
        Latent(nn.Identity(), object(), nn.Identity())
    with pytest.raises(ValueError, match="x0"):
        Latent(nn.Identity(), s, nn.Identity()).forecast(torch.randn(3), 10)
    wrapped = Latent(nn.Identity(), h.Hierarchy(random_levels()), nn.Identity())
    with pytest.raises(TypeError, match="forecast"):
        h.rollout(wrapped, torch.randn(2, 3, generator=gen), 5)
    with pytest.raises(ValueError, match="system"):
        h.data.lhits_splits("lorenz")


def test_latent_with_an_autoencoder_moves_with_to_and_saves_its_weights():
    from hitslite.nets import Autoencoder

    ae = Autoencoder(12, 2, hidden=(8,))
    model = Latent(ae, h.Hierarchy(random_levels(dim=2)), ae)
    names = {n.split(".")[0] for n in model.state_dict()}
    assert names == {"encoder", "inner"}  # the autoencoder once, plus the levels
    model.double()
    out = model.forecast(torch.randn(3, 12, dtype=torch.float64), 20)
    assert out.x.dtype == torch.float64 and out.x.shape == (3, 21, 12)


# FHN only. On the chaotic KS attractor the pattern is not a claim of the book (Chapter 9): over 5120 steps
# every model has lost the trajectory, and the coarse flow maps that coupling needs are not determined by
# the data. (It used to be a non-strict xfail that in fact passed, by 3 % among forecasts that are all lost:
# coupled 1.40 against the best single level's 1.44 — a ranking of chance, not a result to test.)
@pytest.mark.real_cache
@pytest.mark.parametrize("system", ["fhn"])
def test_pretrained_lhits_beats_every_single_latent_level(system):
    """The pattern of L-HiTS Tables 3–4 on our zoo weights and our test split (full test horizon)."""
    from hitslite import zoo

    name = f"lhits_{system}"
    assert name in zoo.pinned_entries(), f"{name} is committed: it must be in the zoo, never skipped"
    model = zoo.load_pretrained(name)
    lower, upper = zoo.selected(name).choice
    test = zoo.lhits_data(name)["test"]
    x0 = test.x[:, 0]

    def mse(lower, upper):
        with torch.no_grad():
            pred = model.hierarchy(lower, upper).forecast(x0, test.n_steps, dt=test.dt, check_finite=False).x
        err = float(((pred - test.x) ** 2).mean())
        return err if math.isfinite(err) else math.inf

    err = mse(lower, upper)
    singles = [mse(k, k) for k in range(len(model))]
    assert err < min(singles), (err, singles)


def test_state_interpolation_decodes_only_computed_states(gen):
    levels = random_levels()[2:]  # finest step 4 dt: three of four output states are interpolated
    dec = Counting()
    x0 = torch.randn(5, 3, generator=gen)
    with torch.no_grad():
        latent = Latent(nn.Identity(), h.Hierarchy(levels), dec).forecast(x0, 100, dt=0.05)
        calls_latent = dec.states
        state = Latent(nn.Identity(), h.Hierarchy(levels), dec).forecast(x0, 100, dt=0.05,
                                                                         interpolate="state")
    assert dec.states - calls_latent < calls_latent / 3  # decoded about a quarter of the states
    assert torch.allclose(latent.x, state.x, atol=1e-6)  # identity decoder: both interpolations agree
    with pytest.raises(ValueError, match="interpolate"):
        Latent(nn.Identity(), h.Hierarchy(levels), dec).forecast(x0, 10, interpolate="cubic")


@pytest.mark.parametrize("system", ["fhn", "ks"])
def test_latent_dimension_sweep_entry_is_the_main_entry_at_other_sizes(system):
    """lhits_dim_sweep_* (Table 1, Fig. 6): the main L-HiTS recipe, only the latent size changes."""
    from hitslite import zoo

    main, sweep = zoo.ENTRIES[f"lhits_{system}"], zoo.ENTRIES[f"lhits_dim_sweep_{system}"]
    dims = sweep.config["latent_dims"]
    assert main.config["autoencoder"]["latent_dim"] not in dims and len(dims) == 5
    for key in ("data", "levels", "hidden", "train", "seed", "dt"):
        assert sweep.config[key] == main.config[key], key
    module = sweep.build(sweep.config)
    assert isinstance(module, zoo.LatentDimensionSweep) and list(module.keys()) == [f"z{z}" for z in dims]
    for z in dims:
        assert module[f"z{z}"].autoencoder.latent_dim == z and len(module[f"z{z}"]) == 11
    x = torch.randn(3, main.config["state_dim"])
    sum(s(x).pow(2).mean() for s in module).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in module.parameters())


@pytest.mark.real_cache
def test_table1_rows_agree_with_compare_lhits_and_their_per_step_curves():
    """lhits_by_latent_dim (Table 1, Fig. 6): every latent size of the zoo; at the main entry's size the
    same forecast as compare_lhits; each row's MSE is the mean of its per-step curve (equal weights)."""
    from hitslite import zoo
    from hitslite.experiments import LHITS_PAPER_TABLE1, compare_lhits, lhits_by_latent_dim
    from hitslite.experiments.lhits import lhits_models_by_dim

    assert "lhits_dim_sweep_fhn" in zoo.pinned_entries()  # committed: a missing entry fails, never skips
    table = lhits_by_latent_dim("fhn")
    assert sorted(table["by_dim"]) == sorted(LHITS_PAPER_TABLE1["fhn"]) == [1, 2, 4, 6, 8, 10]
    main = compare_lhits("fhn", repeats=1, singles=False)
    row = table["by_dim"][main["lhits"]["latent_dim"]]
    assert row["levels"] == main["lhits"]["levels"]
    assert row["test_mse"] == pytest.approx(main["lhits"]["test_mse"], rel=1e-6)
    assert row["latent_mse"] == pytest.approx(main["lhits"]["latent_mse"], rel=1e-6)
    for z, row in table["by_dim"].items():
        curve = row["mse_per_step"]
        assert curve.shape == (table["n_steps"] + 1,) and table["times"].shape == curve.shape
        assert float(curve.double().mean()) == pytest.approx(row["test_mse"], rel=1e-4), z
    x0 = zoo.lhits_data("lhits_fhn")["test"].x[:, 0]
    for z, (model, _) in lhits_models_by_dim("fhn").items():  # at t = 0 the forecast is decode(encode(x0))
        with torch.no_grad():
            first = float(((model.autoencoder(x0) - x0) ** 2).mean())
        assert float(table["by_dim"][z]["mse_per_step"][0]) == pytest.approx(first, rel=1e-5), z
    # split="train" scores the training trajectories with the same models and level range
    own = compare_lhits("fhn", repeats=1, singles=False, split="train")
    train = zoo.lhits_data("lhits_fhn")["train"]
    assert (own["split"], own["n_test_trajectories"]) == ("train", train.batch_size)
    assert own["lhits"]["levels"] == main["lhits"]["levels"]
    assert own["lhits"]["test_mse"] != main["lhits"]["test_mse"]
    with pytest.raises(ValueError, match="split"):
        compare_lhits("fhn", split="holdout")
    with pytest.raises(ValueError, match="n_steps"):
        lhits_by_latent_dim("fhn", n_steps=0)
    with pytest.raises(ValueError, match="system"):
        lhits_by_latent_dim("lorenz")


@pytest.mark.parametrize("system", ["fhn", "ks"])
def test_autoencoders_retrained_alone_start_from_the_entries_initial_weights(system):
    """zoo.lhits_autoencoders(retrain=True) trains each autoencoder alone (Chapter 8): it must start from
    the same weights as the autoencoder inside lhits_<system> / lhits_dim_sweep_<system>."""
    from hitslite import zoo
    from hitslite.zoo.lhits import lhits_initial_autoencoder

    main, sweep = zoo.ENTRIES[f"lhits_{system}"], zoo.ENTRIES[f"lhits_dim_sweep_{system}"]
    built = {main.config["autoencoder"]["latent_dim"]: main.build(main.config).autoencoder}
    built.update({m.autoencoder.latent_dim: m.autoencoder for m in sweep.build(sweep.config).values()})
    assert sorted(built) == zoo.LHITS_SWEEP_DIMS
    for z, ae in built.items():
        alone = lhits_initial_autoencoder(system, z)  # what retrain=True fits
        pairs = zip(alone.state_dict().values(), ae.state_dict().values())
        assert all(torch.equal(a, b) for a, b in pairs), z
    with pytest.raises(ValueError, match="system"):
        zoo.lhits_autoencoders("lorenz")


@pytest.mark.real_cache
def test_lhits_autoencoders_are_those_inside_the_lhits_entries():
    from hitslite import zoo

    assert "lhits_dim_sweep_ks" in zoo.pinned_entries()  # committed: a missing entry fails, never skips
    aes = zoo.lhits_autoencoders("ks")
    assert sorted(aes) == zoo.LHITS_SWEEP_DIMS
    assert all(not ae.training for ae in aes.values())
    main = zoo.load_pretrained("lhits_ks").autoencoder
    assert all(torch.equal(a, b) for a, b in zip(aes[8].state_dict().values(), main.state_dict().values()))
    sweep = zoo.load_pretrained("lhits_dim_sweep_ks")
    assert all(torch.equal(a, b) for a, b in zip(aes[4].state_dict().values(),
                                                  sweep["z4"].autoencoder.state_dict().values()))


def test_latent_over_a_single_stepper_forecasts_it_as_a_one_level_hierarchy(gen):
    """``Latent(enc, s, dec).forecast`` runs ``forecast(s, ...)``: a coarse single stepper's states
    interpolated onto ``dt`` (Tables 3-4). ``interpolate="state"`` decodes only the computed states,
    also when the horizon ends between two of them (it forecasts on to the next one)."""
    s = random_levels(n=4)[-1]  # dt 0.4
    dec = Counting()
    x0 = torch.randn(3, 3, generator=gen)
    with torch.no_grad():
        want = h.Hierarchy([s]).forecast(x0, 37, dt=0.05).x
        latent = Latent(nn.Identity(), s, dec).forecast(x0, 37, dt=0.05)
        states_latent = dec.states
        state = Latent(nn.Identity(), s, dec).forecast(x0, 37, dt=0.05, interpolate="state")
    assert torch.equal(latent.x, want)
    assert torch.allclose(state.x, want, atol=1e-6)
    assert dec.states - states_latent == 3 * 6  # states 0, 8, ..., 40: six per trajectory
    assert latent.meta["known"].sum() == 5 and latent.meta["dts"] == [s.dt]
