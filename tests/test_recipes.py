"""hitslite.recipes.train_hits: runs, selects on validation only, refuses bad input, is reproducible."""

import math

import numpy as np
import pytest
import torch

import hitslite as hl
from hitslite import recipes
from hitslite.experiments import RECIPE_SYSTEMS, recipe_study
from hitslite.experiments import recipe as recipe_module
from hitslite.recipes import TimeScales, default_dt, default_levels, estimate_time_scales, train_hits

TINY = dict(levels=[0, 1, 2], dt=0.05, hidden=(8,), n_trajectories=6, n_steps=40, max_epochs=2,
            progress=False)


@pytest.fixture
def tiny(one_thread):
    return train_hits("harmonic_oscillator", **TINY)


def test_runs_and_reports(tiny):
    assert [s.dt for s in tiny.levels] == pytest.approx([0.05, 0.1, 0.2])
    assert len(tiny.single_test_mse) == 3 and all(math.isfinite(e) for e in tiny.single_test_mse)
    assert math.isfinite(tiny.multiscale_test_mse)
    chosen = tiny.levels[tiny.selection.lower: tiny.selection.upper + 1]
    assert tiny.hierarchy.dts == [s.dt for s in chosen][::-1]
    assert tiny.gain == pytest.approx(min(tiny.single_test_mse) / tiny.multiscale_test_mse)
    text = tiny.summary()
    assert "coupled levels" in text and "best single" in text
    assert tiny.settings["epochs"] == 2 and tiny.settings["n_forward"] == 5  # p = 5, HiTS App. A.1


def test_multiscale_error_is_the_hierarchy_forecast(tiny):
    test = tiny.data["test"]
    with torch.no_grad():
        pred = tiny.hierarchy.forecast(test.x[:, 0].float(), test.n_steps, dt=test.dt).x
    assert float(((pred.double() - test.x) ** 2).mean()) == pytest.approx(tiny.multiscale_test_mse, rel=1e-6)


def test_selection_uses_validation_only(monkeypatch, one_thread):
    seen = {}
    real_select, real_compare = recipes.select_levels, recipes.compare_levels

    def spy_select(steppers, val):
        seen["select"] = val
        return real_select(steppers, val)

    def spy_compare(levels, test, lower, upper, **kw):
        seen.setdefault("compare", []).append(test)
        return real_compare(levels, test, lower, upper, **kw)

    monkeypatch.setattr(recipes, "select_levels", spy_select)
    monkeypatch.setattr(recipes, "compare_levels", spy_compare)
    result = train_hits("harmonic_oscillator", **TINY)
    val, test = result.data["val"], result.data["test"]
    assert torch.equal(seen["select"].x, val.x.float())
    assert seen["select"].x.shape[0] == val.batch_size
    assert not torch.allclose(seen["select"].x[:, 0].double(), test.x[:, 0].to(seen["select"].x).double())
    assert len(seen["compare"]) == 1 and seen["compare"][0] is test  # the test split, once, at the end


def test_deterministic_with_a_seed(one_thread):
    a = train_hits("harmonic_oscillator", **TINY)
    b = train_hits("harmonic_oscillator", **TINY)
    assert a.single_test_mse == b.single_test_mse and a.multiscale_test_mse == b.multiscale_test_mse
    for sa, sb in zip(a.levels, b.levels):
        for pa, pb in zip(sa.parameters(), sb.parameters()):
            assert torch.equal(pa, pb)
    c = train_hits("harmonic_oscillator", **{**TINY, "seed": 1})
    assert c.multiscale_test_mse != a.multiscale_test_mse


def test_global_generator_untouched(one_thread):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_hits("harmonic_oscillator", **TINY)
    assert torch.equal(torch.rand(3), expected)


def test_budget_sizes_the_epochs(one_thread):
    result = train_hits("harmonic_oscillator", **{**TINY, "max_epochs": None}, budget_s=0.5)
    assert result.settings["epochs"] >= 1
    assert result.seconds["train"] < 10


def test_accepts_user_splits(one_thread):
    splits = hl.ode_splits("harmonic_oscillator", dt=0.1, n_steps=40, n_trajectories=5, seed=3)
    result = train_hits("harmonic_oscillator", data=splits, levels=[0, 1], hidden=(8,), max_epochs=1,
                        progress=False)
    assert result.dt == pytest.approx(0.1) and result.data["test"] is splits["test"]


def test_time_scales_of_the_harmonic_oscillator():
    scales = estimate_time_scales(hl.get_system("harmonic_oscillator"))  # eigenvalues +-i everywhere
    assert scales.fast == pytest.approx(2 * np.pi, rel=1e-6)
    assert scales.slow == pytest.approx(2 * np.pi, rel=1e-6)
    assert default_dt(scales) == pytest.approx(0.05)            # 2 pi / 100 = 0.063, rounded down to 5e-2
    assert default_levels(scales, 0.05) == list(range(6))        # coarsest 0.05 * 32 = 1.6 ~ 2 pi / 4


def test_default_levels_are_clipped():
    assert default_levels(TimeScales(1.0, 1.0), 1.0) == [0, 1, 2]
    assert default_levels(TimeScales(1.0, 1e6), 1e-3) == list(range(11))


@pytest.mark.parametrize("kwargs, match", [
    (dict(budget_s=-1.0), "budget_s"),
    (dict(levels=[2, 1]), "levels"),
    (dict(levels=[]), "levels"),
    (dict(hidden=(0,)), "hidden"),
    (dict(n_trajectories={"train": 4}), "n_trajectories"),
    (dict(n_trajectories=0), "n_trajectories"),
    (dict(dt=-0.1), "dt"),
    (dict(seed=-1), "seed"),
    (dict(max_epochs=0), "max_epochs"),
    (dict(levels=[0, 1, 2, 3, 4]), "levels"),  # 5 * 16 = 80 steps > n_steps = 40
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_hits("harmonic_oscillator", **{**TINY, **kwargs})


def test_bad_system_and_data():
    with pytest.raises(ValueError, match="system"):
        train_hits(42, **TINY)
    with pytest.raises(ValueError, match="unknown system"):
        train_hits("no_such_system", **TINY)
    with pytest.raises(ValueError, match="data"):
        train_hits("harmonic_oscillator", data={"train": None}, levels=[0], max_epochs=1)
    splits = hl.ode_splits("harmonic_oscillator", dt=0.1, n_steps=20, n_trajectories=3)
    with pytest.raises(ValueError, match="either data"):
        train_hits("harmonic_oscillator", data=splits, dt=0.1, levels=[0], max_epochs=1)


@pytest.mark.slow
def test_coupling_beats_the_best_single_level(one_thread):
    """The chapter's claim, on the damped pendulum of Chapter 13, with a fixed number of epochs."""
    result = train_hits(RECIPE_SYSTEMS["damped_pendulum"](), max_epochs=300, progress=False)
    assert result.multiscale_test_mse < min(result.single_test_mse)


def test_recipe_study_records_what_it_claims(one_thread, monkeypatch):
    """The study's record on a tiny run: the gain is the best single level over the chosen hierarchy, the
    chosen range is the validation choice, the diagnostic range is the best on test, shares lie in [0, 1]."""
    system = RECIPE_SYSTEMS["lotka_volterra"]()
    calls = []
    real = recipe_module.train_hits

    def tiny(system, **kwargs):
        kwargs.update(levels=[0, 1, 2], dt=0.1, hidden=(8,), n_trajectories=8, n_steps=40, max_epochs=2)
        result = real(system, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(recipe_module, "train_hits", tiny)
    record = recipe_study([system, "selkov"], seeds=(0, 1), budget_s=1.0, progress=False)
    assert record["seeds"] == [0, 1] and set(record["systems"]) == {"lotka_volterra", "selkov"}
    runs = record["systems"]["lotka_volterra"]["runs"] + record["systems"]["selkov"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 0, 1]
    for run, result in zip(runs, calls):
        assert run["gain"] == pytest.approx(min(run["single_test_mse"]) / run["multiscale_test_mse"])
        again = hl.select_levels(result.levels, result.data["val"].to(torch.float32))
        assert run["chosen"] == [again.lower, again.upper]
        assert run["gain_of_best_range_on_test"] >= run["gain"] - 1e-12
        assert 0.0 <= run["wins_per_trajectory"] <= 1.0 and run["n_test"] == 8
    entry = record["systems"]["selkov"]
    assert entry["beats_on_every_seed"] == all(g > 1 for g in entry["gains"])
    for bad in ([], (-1,)):
        with pytest.raises(ValueError, match="seeds"):
            recipe_study(["selkov"], seeds=bad, progress=False)
    with pytest.raises(ValueError, match="systems"):
        recipe_study(["pendulum_typo"], progress=False)
    with pytest.raises(ValueError, match="budget_s"):
        recipe_study(["selkov"], budget_s=0, progress=False)
    with pytest.raises(ValueError, match="jobs"):
        recipe_study(["selkov"], jobs=0, progress=False)
    with pytest.raises(ValueError, match="systems: with jobs = 2, pass names"):
        recipe_study([system], jobs=2, progress=False)


@pytest.mark.slow
def test_recipe_study_in_parallel_keeps_the_order_of_its_runs():
    """Two worker processes (spawned, so the real recipe runs: half a second of training each)."""
    record = recipe_study(["selkov"], seeds=(1, 0), budget_s=0.5, jobs=2, progress=False)
    runs = record["systems"]["selkov"]["runs"]
    assert [r["seed"] for r in runs] == [1, 0] and record["jobs"] == 2
    assert all(r["n_test"] == recipes.DEFAULT_TRAJECTORIES["test"] and r["epochs"] >= 1 for r in runs)
