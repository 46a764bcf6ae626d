import os

import pytest
import torch

import hitslite as h
from hitslite.data import cache_key, cached


def test_trajectory_validates_shapes():
    with pytest.raises(ValueError, match=r"\[batch, time, \*state\]"):
        h.Trajectory(t=torch.arange(3.0), x=torch.zeros(3, 2), dt=1.0)
    with pytest.raises(ValueError, match="Trajectory.t"):
        h.Trajectory(t=torch.arange(4.0), x=torch.zeros(1, 3, 2), dt=1.0)
    with pytest.raises(ValueError, match="dt"):
        h.Trajectory(t=torch.arange(3.0), x=torch.zeros(1, 3, 2), dt=0.0)


def test_trajectory_roundtrip_and_subsample(tmp_path):
    traj = h.Trajectory(t=0.1 * torch.arange(9, dtype=torch.float64), x=torch.randn(2, 9, 3), dt=0.1,
                        meta={"a": 1})
    traj.save(tmp_path / "t.npz")
    back = h.Trajectory.load(tmp_path / "t.npz")
    assert torch.equal(back.x, traj.x) and back.dt == traj.dt and back.meta == {"a": 1}
    sub = traj.subsample(4)
    assert sub.dt == pytest.approx(0.4) and sub.x.shape == (2, 3, 3)
    assert torch.equal(sub.x[:, 1], traj.x[:, 4])


def test_cache_is_reused_and_written_atomically(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return h.Trajectory(t=torch.arange(2.0), x=torch.ones(1, 2, 1), dt=1.0)

    recipe = {"name": "demo", "n": 3}
    first = cached(recipe, build, directory=tmp_path)
    second = cached(recipe, build, directory=tmp_path)
    assert len(calls) == 1 and torch.equal(first.x, second.x)
    assert second.meta["recipe"] == recipe
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    cached(recipe, build, directory=tmp_path, refresh=True)
    assert len(calls) == 2


def test_cache_key_changes_with_every_parameter():
    base = {"name": "x", "n": 3, "dt": 0.01, "params": {"mu": 2.0}, "region": [[-1, 1]]}
    keys = {cache_key(base)}
    for change in ({"n": 4}, {"dt": 0.02}, {"params": {"mu": 2.5}}, {"region": [[-1, 2]]}, {"name": "y"}):
        keys.add(cache_key({**base, **change}))
    assert len(keys) == 6
    assert cache_key(dict(reversed(list(base.items())))) == cache_key(base)  # order does not matter


def test_ode_dataset_is_cached_and_splits_differ():
    kw = dict(n_trajectories=5, n_steps=20)
    a = h.ode_dataset("van_der_pol", "train", **kw)
    b = h.ode_dataset("van_der_pol", "train", **kw)
    assert a.meta["cache_file"] == b.meta["cache_file"] and torch.equal(a.x, b.x)
    c = h.ode_dataset("van_der_pol", "test", **kw)
    assert not torch.allclose(a.x[:, 0], c.x[:, 0])
    d = h.ode_dataset("van_der_pol", "train", seed=1, **kw)
    assert d.meta["cache_file"] != a.meta["cache_file"]
    assert a.x.shape == (5, 21, 2) and a.dt == 0.01 and a.x.dtype == torch.float64


def test_ode_dataset_defaults_follow_table_2():
    system = h.get_system("cubic")
    assert system.n_samples == (3200, 320, 320) and system.dt == 0.01 and system.n_steps == 5120
    lorenz = h.get_system("lorenz")
    assert lorenz.dt == 5e-4 and lorenz.n_samples == (6400, 640, 640) and lorenz.warmup == 5.0


def test_lorenz_trajectories_start_on_the_attractor():
    traj = h.ode_dataset("lorenz", "val", n_trajectories=4, n_steps=10)
    # initial states sampled in [-0.1, 0.1]^3 but recorded after a 5-time-unit warm-up
    assert float(traj.x[:, 0].abs().max()) > 1.0


def test_ode_dataset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        h.ode_dataset("cubic", "training")
    with pytest.raises(ValueError, match="n_trajectories"):
        h.ode_dataset("cubic", "train", n_trajectories=0)


def test_noise_has_the_requested_size_and_spares_the_test_split():
    from hitslite import zoo
    from hitslite.data import add_noise

    traj = h.ode_dataset("hyperbolic", "val", n_trajectories=50, n_steps=200)
    scale = traj.x.reshape(-1, 2).std(dim=0)
    noisy = add_noise(traj, 0.02, scale, seed=1)
    residual = (noisy.x - traj.x).reshape(-1, 2)
    assert torch.allclose(residual.std(dim=0), 0.02 * scale, rtol=0.02)
    assert torch.equal(add_noise(traj, 0.02, scale, seed=1).x, noisy.x)  # seeded
    with pytest.raises(ValueError, match="level"):
        add_noise(traj, -0.1, scale)
    config = {**zoo.ENTRIES["hyperbolic"].config, "noise": 0.01,
              "data": {"seed": 0, "n_trajectories": 8, "n_steps": 50}}
    clean = h.ode_splits("hyperbolic", seed=0, n_trajectories=8, n_steps=50)
    noisy_splits = zoo.level_set_splits(config)
    assert torch.equal(noisy_splits["test"].x, clean["test"].x)
    assert not torch.equal(noisy_splits["train"].x, clean["train"].x)


def test_data_reexports_the_modules_below_it():
    """hitslite.data is the one place to import data things from: the trajectory, the cache and the
    PDE / particle data sets live in modules below it (no import circle) and are re-exported."""
    from hitslite import cache, data, pde_data, trajectory

    assert data.Trajectory is trajectory.Trajectory is h.Trajectory
    for module in (cache, pde_data):
        for name in module.__all__:
            assert getattr(data, name) is getattr(module, name), name
    assert not hasattr(data, "_repo_root")  # public now: data.repo_root


def test_split_seeds_follow_the_split_order():
    from hitslite.data import SPLITS, split_seed

    assert [split_seed(s, 2) for s in SPLITS] == [2000, 2001, 2002]
    assert split_seed("train") == 0
    with pytest.raises(ValueError, match="split must be one of"):
        split_seed("training")


def test_integer_ratio_and_one_of_name_the_argument():
    from hitslite import validate

    assert validate.integer_ratio("save_dt", 0.25, 0.05) == 5
    assert validate.integer_ratio("t_drop", 1000.0, 0.005) == 200000
    with pytest.raises(ValueError, match=r"save_dt must be an integer multiple of 0.1, got 0.25 .*solver"):
        validate.integer_ratio("save_dt", 0.25, 0.1, hint="a whole number of solver steps")
    with pytest.raises(ValueError, match="save_dt must be a positive finite number"):
        validate.integer_ratio("save_dt", 0.0, 0.1)
    assert validate.one_of("split", "val", ("train", "val")) == "val"
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'val'\), got 'test'"):
        validate.one_of("split", "test", ("train", "val"))
