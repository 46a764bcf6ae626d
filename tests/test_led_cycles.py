"""FHN's two mirror-image cycles: the branch classifier, the solver's symmetry, the cycles study's record."""

import math

import numpy as np
import pytest
import torch

from hitslite import bench, zoo
from hitslite.experiments import cycle_branch, led_fhn_cycles
from hitslite.metrics import dominant_period, mnad
from hitslite.pde import LatticeBoltzmann
from hitslite.steppers import Repeated, rollout
from hitslite.systems import get_system
from hitslite.zoo.led import forecast_windows, led_data


def _split(name):
    return led_data("led_fhn", splits=(name,))[name]


def test_cycle_branch_mirror_flips_it_and_rest_is_zero():
    train = _split("train").x
    b = cycle_branch(train)
    assert set(b.tolist()) <= {-1, 0, 1} and (b == 1).any() and (b == -1).any()
    assert torch.equal(cycle_branch(train.flip(-1)), -b)
    rest = torch.full((2, 200, 2, 101), 0.3)
    assert torch.equal(cycle_branch(rest), torch.zeros(2, dtype=torch.int64))
    # a front held on the right half of the domain is on the + side, its mirror on the - side
    right = torch.zeros(1, 10, 2, 101)
    right[..., 0, 60:] = 1.0
    assert cycle_branch(right).item() == 1 and cycle_branch(right.flip(-1)).item() == -1


@pytest.mark.parametrize("kwargs, match", [
    ({"states": torch.zeros(3, 10, 101)}, "states must have shape"),
    ({"states": torch.zeros(1, 10, 3, 101)}, "states must have shape"),
    ({"states": torch.zeros(1, 10, 2, 101), "tail": 0}, "tail must be"),
    ({"states": torch.zeros(1, 10, 2, 101), "tol": -1.0}, "tol must be"),
])
def test_cycle_branch_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cycle_branch(**kwargs)


@pytest.mark.parametrize("kwargs, match", [({"horizon": 100}, "horizon must be"),
                                           ({"horizon": 8000.5}, "horizon must be"),
                                           ({"starts": 0}, "starts must be"),
                                           ({"starts": 25}, "starts must be"),
                                           ({"validation_horizon": 100}, "validation_horizon must be")])
def test_cycles_study_bad_input_is_named_before_any_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        led_fhn_cycles(**kwargs)


def test_bench_refuses_a_short_horizon_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("hitslite.experiments.led_fhn_cycles", lambda **kw: pytest.fail("must not run"))
    with pytest.raises(SystemExit):
        bench.main(["led_cycles", "--fhn-horizon", "100", "--out", str(tmp_path / "x.json")])
    assert "--fhn-horizon must be >= 400" in capsys.readouterr().err


def test_cycles_study_record_reproduces_its_parts():
    """A small study (one start, 400 units, one one-epoch seed): the solver is mirror-symmetric to round-off;
    the zoo cell's scores on both cycles are those of a forecast made here from the same starts; every
    period error is relative to the truth's period; the branch counts cover every trajectory."""
    rec = led_fhn_cycles(horizon=400, starts=1, seeds=(0,), max_epochs=1, validation_horizon=400)
    assert rec["mirror_defect"] < 1e-10
    assert rec["test_branch"] in (-1, 1)
    for split, counts in rec["branches"].items():
        assert sum(counts.values()) == _split(split).x.shape[0]
    assert set(rec["cells"]) == {"zoo", "plain-0", "mirrored-0"}
    family = zoo.load_pretrained("led_fhn")
    led = family.led(rec["variant"])
    test = _split("test")
    warm, _ = forecast_windows(test, warm_up=75, horizon=1, every=(test.x.shape[1] - 75) // 24)
    warm = warm[:1].double()
    with torch.no_grad():
        x = led.forecast(warm.flip(-1), 400, check_finite=False).x
    truth_period = rec["true_period"]
    mirror = rec["cells"]["zoo"]["-"]
    period = float(np.median(dominant_period(x[:, 1:, 0].mean(-1), 1.0)))
    assert mirror["period"] == pytest.approx(period, rel=1e-9)
    for cell in rec["cells"].values():
        for side in ("+", "-"):
            assert cell[side]["period_error"] == pytest.approx(cell[side]["period"] / truth_period - 1)
            assert math.isfinite(cell[side]["mnad_u"]) and math.isfinite(cell[side]["mnad_v"])
    assert set(rec["zoo_rho1"]) == {"+", "-"} and set(rec["selected_rho1"]) == {"+", "-"}
    # selection looks at validation only: the least validation MNAD, over starts on both cycles
    assert rec["selected"] == min(rec["validation"], key=rec["validation"].get)
    assert set(rec["validation"]) == set(rec["cells"])
    assert sorted(rec["validation_branches"]) == [-1, -1, 1, 1]
    if rec["selected"] == "zoo":
        assert rec["selected_rho1"] == rec["zoo_rho1"]
    # the mirror starts' truth is the solver's run from them: the MNAD computed here is the recorded one
    lb = Repeated(LatticeBoltzmann(get_system("fhn"), 0.005), 200)
    with torch.no_grad():
        truth = rollout(lb, warm[:, -1].flip(-1), 400).x
    per = mnad(x, truth, channel_axis=2)
    assert mirror["mnad_u"] == pytest.approx(float(per[0]), rel=1e-6)
    assert mirror["mnad_v"] == pytest.approx(float(per[1]), rel=1e-6)
