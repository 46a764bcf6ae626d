"""The Péclet study (LED Fig. 5, SI 8.2.4): its zoo entries, the speed-up cost model, bad input, and a small
real run whose record says what it claims."""

import math

import pytest
import torch

import hitslite as hl
import hitslite.zoo.particles as zp
from hitslite import zoo
from hitslite.experiments import peclet as pc

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("pe", [100, 10, 1])
def test_entries_follow_the_paper(pe):
    name = zp.PECLET_ENTRIES[pe]
    cfg = zoo.ENTRIES[name].config
    D = zp.PECLET_DIFFUSIVITIES[pe]
    assert cfg["data"]["preset"] == "peclet" and cfg["data"]["D"] == D
    assert cfg["dt"] == 1.0 and cfg["latent_dim"] == 8 and cfg["rnn"]["hidden"] == [40]  # SI 8.2.4
    # 500 training and 500 validation samples
    assert cfg["data"]["n_trajectories"] * cfg["data"]["n_steps"] == 500
    system = hl.get_system("advection_diffusion", dim=3, preset="peclet", D=D)
    assert system.peclet == pytest.approx(pe, rel=0.01)  # |A|_2 = 2.0, L = 1
    assert system.dt == {100: 1e-2, 10: 1e-3, 1: 1e-4}[pe] and system.save_dt == 1.0
    # everything but the data, Δt and the LSTM size is the 3-D entry's
    base = zp.LED_PARTICLES_3D_CONFIG
    assert cfg["autoencoder"] == base["autoencoder"]
    assert {k: v for k, v in cfg["rnn"].items() if k != "hidden"} == \
        {k: v for k, v in base["rnn"].items() if k != "hidden"}


@pytest.mark.parametrize("pe", [100, 10, 1])
def test_committed_weights_load_and_chose_on_validation(pe):
    name = zp.PECLET_ENTRIES[pe]
    if not (zoo.zoo_dir() / name / "manifest.json").exists():
        pytest.skip("zoo weights not present")
    family = zp.load_particle_led(name)
    assert family.selected == "lstm40" and zoo.selected(name).source.startswith("validation split")
    z = family.autoencoder.encode(torch.rand(2, 1000, 3) - 0.5)
    assert z.shape == (2, 8) and torch.isfinite(z).all()


def test_speedup_model_limits_and_shape():
    s = 50.0
    assert pc.speedup_model(s, 0) == 1.0  # the solver alone
    assert pc.speedup_model(s, math.inf) == s  # latent only
    values = [pc.speedup_model(s, r) for r in (1, 4, 9, 19, 49, 1e6)]
    assert all(a < b for a, b in zip(values, values[1:])) and values[-1] < s
    # the time shares: 1 / (1 + rho) of the time at the solver's cost, the rest at 1 / s of it
    rho = 9.0
    cost = 1 / (1 + rho) + rho / (1 + rho) / s
    assert pc.speedup_model(s, rho) == pytest.approx(1 / cost, rel=1e-12)
    assert pc.speedup_model(1.0, rho) == pytest.approx(1.0)  # a latent step as dear as the solver: no gain


@pytest.mark.parametrize("kwargs, message", [
    ({"s_latent": 0.0, "rho": 1.0}, "s_latent must be > 0"),
    ({"s_latent": float("nan"), "rho": 1.0}, "s_latent"),
    ({"s_latent": 10.0, "rho": -1.0}, "rho must be >= 0"),
    ({"s_latent": 10.0, "rho": float("nan")}, "rho must be >= 0"),
])
def test_speedup_model_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pc.speedup_model(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"pecletes": ()}, "pecletes must name"),
    ({"pecletes": (9,)}, r"pecletes must be among \[100, 10, 1\], got 9"),
    ({"runs": 1}, "runs must be >= 2"),
    ({"starts": 0}, "starts"),
    ({"horizon": 0}, "horizon"),
    ({"t_mu": 0}, "t_mu"),
    ({"rhos": (0,)}, "rhos must be positive"),
    ({"speedup_rhos": (float("inf"),)}, "speedup_rhos must be positive"),
    ({"rhos": (0.1,), "t_mu": 2}, r"rho \* t_mu >= 1"),
    ({"solver_seconds": 0.0}, "solver_seconds must be > 0"),
    ({"rounds": 0}, "rounds"),
    ({"latent_units": -1}, "latent_units"),
])
def test_study_refuses_bad_arguments_before_any_work(kwargs, message, monkeypatch):
    monkeypatch.setattr(pc, "_one_peclet", lambda *a, **kw: pytest.fail("must not run"))
    with pytest.raises(ValueError, match=message):
        pc.peclet_study(**kwargs)


def testmoment_distances_of_an_ensemble_against_itself_is_zero_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2 * 4, 5, 50, 3, generator=gen) - 0.5  # 2 starts x 4 runs, 5 times, 50 particles
    ref = zp.run_moments(x, 4)
    same = pc.moment_distances(x, ref, 4)
    assert same["M1"]["mean"] == 0.0 and same["M2"]["mean"] == 0.0 and len(same["M1"]["curve"]) == 4
    shifted = pc.moment_distances(x + 0.01, ref, 4)  # M1 moves by exactly 0.01 in every run; M2 not at all
    assert shifted["M1"]["mean"] == pytest.approx(0.01, rel=1e-5) and shifted["M2"]["mean"] < 1e-9


@pytest.mark.slow
def test_small_study_record_is_consistent():
    """Pe = 100 (the cheapest micro solver: 100 steps per unit) at a toy size, about 5 s."""
    if not (zoo.zoo_dir() / "led_peclet_100" / "manifest.json").exists():
        pytest.skip("zoo weights not present")
    horizon = 4
    record = pc.peclet_study((100,), starts=1, runs=3, horizon=horizon, rhos=(1,), speedup_rhos=(1, 9),
                             solver_seconds=0.05, latent_units=10, schedule_units=10, rounds=2)
    assert record["protocol"]["split"] == "test" and list(record["peclet"]) == ["100"]
    row = record["peclet"]["100"]
    assert row["micro_steps_per_unit"] == 100 and row["peclet"] == pytest.approx(100, rel=0.01)
    assert set(row["wd"]) == {"self-similar", "autoencoder", "latent", "rho=1"}
    for moments in row["wd"].values():
        for m in ("M1", "M2"):
            assert len(moments[m]["curve"]) == horizon  # one value per time after the warm-up
            assert moments[m]["mean"] == pytest.approx(sum(moments[m]["curve"]) / horizon)  # one start
            assert moments[m]["mean"] >= 0
    speed = row["speedup"]
    sched = speed["schedules"]
    assert speed["rounds"] == 2 and speed["solver_units"] >= 1 and speed["batch"] == 1
    assert sched["latent"]["S"] == sched["latent"]["model"] > 1  # LED's latent step beats 100 solver steps
    assert sched["latent"]["steps_timed"] == 10
    for key in ("rho=1", "rho=9"):
        cycle = sched[key]["T_m"] + sched[key]["T_mu"]
        assert sched[key]["T_mu"] == 2 and sched[key]["T_m"] == 2 * sched[key]["rho"]
        assert sched[key]["steps_timed"] % cycle == 0 and sched[key]["steps_timed"] >= 10  # whole cycles
        # S is the solver's seconds per unit over LED's, both as recorded
        per_unit = sched[key]["led_seconds_per_unit"]
        assert sched[key]["S"] == pytest.approx(speed["solver_seconds_per_unit"] / per_unit)
        assert sched[key]["model"] == pytest.approx(pc.speedup_model(sched["latent"]["S"], sched[key]["rho"]))
