"""LED particle zoo entries (LED Sec. 3.1, SI 8.1-8.2): build, train end to end on a tiny recipe, load."""

import copy
import math

import pytest
import torch

import hitslite as hl
import hitslite.zoo.particles as zp
from hitslite import zoo
from hitslite.nets import ParticleAutoencoder

pytestmark = pytest.mark.usefixtures("one_thread")


NAMES = ("led_particles_1d", "led_particles_3d")


def _tiny(name: str) -> dict:
    cfg = copy.deepcopy(zoo.ENTRIES[name].config)
    cfg["data"] = {"n_trajectories": 2, "n_steps": 30, "seed": 0, "N": 100, "dt": 5e-3}
    cfg["warm_up"] = 8
    cfg["autoencoder"]["architecture"].update(width=16, layers=1, feature_dim=16, hidden=8)
    cfg["autoencoder"]["particles_per_sample"] = 40
    cfg["autoencoder"]["train"] = {**cfg["autoencoder"]["train"], "max_epochs": 3, "batch_size": 16}
    cfg["rnn"].update(hidden=[4, 8][: len(cfg["rnn"]["hidden"])], propagation_length=12, bptt_length=5,
                      burn_in=2, window_starts=3, train={**cfg["rnn"]["train"], "max_epochs": 3})
    return cfg


@pytest.mark.parametrize("name", NAMES)
def test_entries_match_the_paper_and_build(name):
    entry = zoo.ENTRIES[name]
    cfg = entry.config
    dim = 1 if name.endswith("1d") else 3
    assert cfg["dim"] == dim and cfg["dt"] == 0.5 and cfg["warm_up"] == 60
    kernels = cfg["autoencoder"]["architecture"]["kernels"]
    assert (cfg["latent_dim"], kernels) == ((1, 4) if dim == 1 else (8, 5))
    assert cfg["rnn"]["bptt_length"] == 100 and 100 in cfg["rnn"]["hidden"]
    family = entry.build(cfg)
    assert isinstance(family, zp.ParticleLED)
    n_params = sum(p.numel() for p in family.parameters())
    assert n_params * 4 < 2 * 2**20  # each entry stays below 2 MB
    x = torch.rand(2, 5, 1000, dim) - 0.5
    z = family.autoencoder.encode(x)
    assert z.shape == (2, 5, cfg["latent_dim"])
    loss = zp.subsampled_particle_loss(family.autoencoder, x[:, 0], particles=50,
                                       generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is not None for p in family.autoencoder.parameters())


def test_subsampling_keeps_distinct_particles_and_evaluation_is_fixed():
    x = torch.arange(2 * 10 * 1, dtype=torch.float32).reshape(2, 10, 1)
    sub = zp.subsample_particles(x, 4, torch.Generator().manual_seed(0))
    assert sub.shape == (2, 4, 1)
    for b in range(2):
        kept = set(sub[b, :, 0].tolist())
        assert len(kept) == 4 and kept <= set(x[b, :, 0].tolist())
    assert zp.subsample_particles(x, 20) is x
    model = ParticleAutoencoder(1, 1, width=8, layers=1, feature_dim=8)
    data = torch.rand(3, 50, 1) - 0.5
    with torch.no_grad():  # evaluation: the same subset every call
        a = zp.subsampled_particle_loss(model, data, particles=10)
        b = zp.subsampled_particle_loss(model, data, particles=10)
    assert float(a) == float(b)
    with pytest.raises(ValueError, match="n must be a positive int"):
        zp.subsample_particles(x, 0)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_training_runs_end_to_end(name, tmp_path):
    cfg = _tiny(name)
    family, metrics = zp.train_particle_led(cfg, workdir=tmp_path, device="cpu", progress=False)
    assert metrics["selected"] in family.propagators and family.selected == metrics["selected"]
    assert math.isfinite(metrics["autoencoder"]["val_nll_per_particle"])
    for m in metrics["propagators"].values():
        assert m["val_rmse"] >= 0 and "m1_mae" in m["validation_forecast"]
    assert (tmp_path / "autoencoder.done.pt").exists()
    # resumable: a second call reads the finished parts instead of training again
    again, metrics2 = zp.train_particle_led(cfg, workdir=tmp_path, device="cpu", progress=False)
    assert metrics2["autoencoder"] == metrics["autoencoder"]
    # an LED forecast, latent and multiscale, with the micro solver restarted at the right time
    val = zp.particle_data(cfg)["val"]
    system = hl.get_system("advection_diffusion", dim=cfg["dim"], N=100, dt=5e-3)
    t0 = float(val.t[cfg["warm_up"] - 1])
    run = zp.led_runs(family, system, val.x[:, :cfg["warm_up"]], 6, runs=2, t0=t0, seed=0, macro_steps=2,
                      micro_steps=1)
    assert run.x.shape == (4, 7, 100, cfg["dim"]) and float(run.x.abs().max()) <= 0.5
    assert run.meta["micro_mask"].tolist() == [False, False, False, True, False, False, True]
    assert float(run.t[0]) == pytest.approx(t0)


def test_true_runs_batch_independent_runs_per_start():
    system = hl.get_system("advection_diffusion", dim=1, N=50, dt=5e-3)
    x0 = torch.zeros(2, 50, 1)
    runs = zp.true_runs(system, x0, 4, runs=3, t0=1.0, seed=0, chunk=3, progress=False)
    assert runs.x.shape == (6, 5, 50, 1) and float(runs.t[0]) == 1.0 and runs.dt == 0.5
    assert not torch.equal(runs.x[0, -1], runs.x[1, -1])  # different noise per run
    again = zp.true_runs(system, x0, 4, runs=3, t0=1.0, seed=0, chunk=2, progress=False)
    assert torch.equal(runs.x, again.x)  # chunking does not change the stream
    m1, m2 = zp.run_moments(runs.x, 3)
    assert m1.shape == (2, 3, 5)
    err = zp.moment_errors(m2, m2)
    assert float(err["wd"].abs().max()) == 0 and float(err["l1"].abs().max()) == 0


def _pretrained(name):
    # both particle entries are committed: a missing or broken one is a failure (ZooError), never a skip
    assert name in zoo.pinned_entries(), name
    return zp.load_particle_led(name)


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_weights_load_with_their_selection(name):
    family = _pretrained(name)
    manifest = zoo.read_manifest(name)
    assert family.selected == zoo.selected(name).choice in family.propagators
    assert all((zoo.zoo_dir() / name / f).stat().st_size < 2 * 2**20 for f in manifest["files"])
    dim = manifest["config"]["dim"]
    x = torch.rand(1, 60, 1000, dim) - 0.5
    led = family.led(n_particles=30, generator=torch.Generator().manual_seed(0))
    out = led.forecast(x, 3)
    assert out.x.shape == (1, 4, 30, dim) and bool(torch.isfinite(out.x).all())


@pytest.mark.slow
@pytest.mark.real_cache
@pytest.mark.parametrize("name", NAMES)
def test_pretrained_weights_reproduce_recorded_validation_metrics(name):
    family = _pretrained(name)
    metrics = zoo.read_manifest(name)["metrics"]
    cfg = zoo.read_manifest(name)["config"]
    val = zp.particle_data(cfg, splits=("val",))["val"]  # cached after the first run (a minute in 3-D)
    snaps = val.x.reshape(-1, 1, *val.x.shape[2:])
    with torch.no_grad():  # the recorded validation NLL, on the same fixed particle subsets
        nll = float(zp.subsampled_particle_loss(family.autoencoder, snaps,
                                                particles=cfg["autoencoder"]["particles_per_sample"],
                                                eval_seed=cfg["seed"] + 1))
    assert nll == pytest.approx(metrics["autoencoder"]["val_nll_per_particle"], rel=1e-4, abs=1e-5)
    score = zp.particle_validation_score(family, val, warm_up=cfg["warm_up"])
    recorded = metrics["propagators"][family.selected]["validation_forecast"]["m1_mae"]
    assert score["m1_mae"] == pytest.approx(recorded, rel=1e-3)
