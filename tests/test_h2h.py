"""Chapter 14's head-to-head: the LED cells on the L-HiTS autoencoders (``hitslite.zoo.h2h``) and the
shared protocol (``hitslite.experiments.h2h``)."""

import math

import numpy as np
import pytest
import torch

from hitslite import zoo
from hitslite.experiments import h2h
from hitslite.metrics import nad
from hitslite.multiscale import Hierarchy
from hitslite.trajectory import Trajectory
from hitslite.zoo.h2h import subsample, varying


@pytest.mark.parametrize("system", ["fhn", "ks"])
def test_led_entry_reuses_the_lhits_autoencoder(system):
    """The LED entry's autoencoder is the committed L-HiTS one, and its manifest names those weights."""
    led = zoo.load_pretrained(f"led_lhits_{system}")
    lhits = zoo.load_pretrained(f"lhits_{system}")
    mine, theirs = led.autoencoder.state_dict(), lhits.autoencoder.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    source = zoo.read_manifest(f"led_lhits_{system}")["metrics"]["autoencoder_source"]
    assert source["entry"] == f"lhits_{system}"
    assert source["files"] == zoo.read_manifest(f"lhits_{system}")["files"]
    sel = zoo.selected(f"led_lhits_{system}")
    assert sel.choice in led.propagators and sel.score == min(sel.scores.values())
    config = zoo.get_entry(f"led_lhits_{system}").config
    assert led.led(sel.choice).dt == pytest.approx(config["dt"])


def test_subsample_and_bad_stride():
    t = torch.arange(11, dtype=torch.float64) * 0.1
    tr = Trajectory(t=t, x=torch.arange(22.0).reshape(1, 11, 2), dt=0.1)
    sub = subsample(tr, 5)
    assert sub.dt == pytest.approx(0.5) and sub.x.shape == (1, 3, 2)
    assert torch.equal(sub.x[0, :, 0], torch.tensor([0.0, 10.0, 20.0]))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="stride"):
            subsample(tr, bad)


def test_varying_flags_fields_at_rest():
    x = torch.randn(3, 5, 202)
    x[1] = 0.25  # at rest in both fields
    x[2, :, 101:] = -0.1  # v at rest, u moving: NAD of v undefined
    assert varying(x, "fhn").tolist() == [True, False, False]
    assert varying(x[:, :, :101], "ks").tolist() == [True, False, True]


def test_starts_align_warm_up_and_truth():
    t = torch.arange(101, dtype=torch.float64)
    x = t.reshape(1, -1, 1).repeat(2, 1, 3)  # the state is the sample index
    tr = Trajectory(t=t, x=x, dt=1.0)
    warm, fine, horizon, n = h2h.common_starts(tr, 5, warm_up=4, horizon=3, every=6)
    # coarse grid 0, 5, ..., 100 (21 states); windows of 4 + 3 coarse steps every 6 coarse steps
    assert (horizon, n) == (3, 3) and warm.shape == (6, 4, 3) and fine.shape == (6, 16, 3)
    assert torch.equal(warm[:, -1], fine[:, 0])  # the last warm-up state is every forecast's start
    assert warm[0, :, 0].tolist() == [0, 5, 10, 15] and fine[0, -1, 0] == 30
    assert warm[2, 0, 0] == 30  # the second start, first trajectory second (starts outermost)
    with pytest.raises(ValueError, match="horizon"):
        h2h.common_starts(tr, 5, warm_up=4, horizon=30, every=None)


def test_scores_match_the_metrics():
    gen = torch.Generator().manual_seed(0)
    truth = torch.randn(4, 21, 16, generator=gen, dtype=torch.float64)
    pred = truth + 0.05 * torch.arange(21, dtype=torch.float64)[None, :, None] * torch.randn(
        4, 1, 16, generator=gen, dtype=torch.float64)
    s = h2h.score_forecasts(pred, truth, "ks", 0.25)
    curve = nad(pred[:, 1:], truth[:, 1:]).mean(0)
    assert s["mse"] == pytest.approx(float(((pred - truth)[:, 1:] ** 2).mean()))
    assert s["mnad"] == pytest.approx(float(curve.mean()))
    first = int((curve > 0.1).nonzero()[0]) + 1
    assert s["lyapunov_times_to_nad_0_1"] == pytest.approx(first * 0.25 * h2h.KS_LYAPUNOV)
    assert h2h.score_forecasts(truth, truth, "ks", 0.25)["lyapunov_times_to_nad_0_1"] is None
    diverged = h2h.score_forecasts(pred * math.inf, truth, "ks", 0.25)
    assert diverged["diverged"] and diverged["mse"] == math.inf


def test_head_to_head_ks_short():
    """A short KS protocol: every method from the same states; the solver at the data's step reproduces
    the data; the depths are the models' own; the metrics are those of the forecasts returned."""
    rec = h2h.head_to_head("ks", repeats=1, protocol={"horizon": 20, "every": 400,
                                                      "solver_dts": (0.05, 0.5)})
    assert rec["horizon_steps"] == 20 and rec["grid_dt"] == pytest.approx(0.25)
    n = rec["n_starts"]
    assert rec["truth"].shape == (n, 21, 120)
    for row in rec["rows"]:
        pred = rec["prediction"][row["method"]]
        assert pred.shape == rec["truth"].shape
        assert row["mse"] == pytest.approx(float(((pred[:, 1:].double() - rec["truth"][:, 1:].double()) ** 2)
                                                 .mean()), rel=1e-6)
        assert row["train_seconds"] > 0 and row["seconds"] > 0
    by = {r["method"]: r for r in rec["rows"]}
    lo, up = by["hits_full"]["levels"]
    full = list(zoo.load_pretrained("hits_full_ks"))[lo:up + 1]
    assert by["hits_full"]["depth"] == Hierarchy(full).cost(20 * 5, 0.05)["calls"]
    assert by["led"]["depth"] == h2h.H2H_PROTOCOL["ks"]["warm_up"] + 20 + 1
    reference, coarse = rec["solver"]
    assert reference["mse"] < 1e-8  # the data's own solver, from the same states
    assert reference["depth"] == 20 * 5 * round(0.05 / 0.025) and coarse["depth"] == 10
    assert 0 < coarse["mse"] < by["led"]["mse"] * 10


def test_head_to_head_rejects_bad_arguments():
    with pytest.raises(ValueError, match="system"):
        h2h.head_to_head("lorenz")
    with pytest.raises(ValueError, match="repeats"):
        h2h.head_to_head("ks", repeats=0)


def test_training_recipe_end_to_end(tmp_path, monkeypatch):
    """The entry's training on a tiny config: the committed autoencoder is copied and frozen, one cell per
    read-out is trained on the encoded, subsampled data, scored on validation, and the best one chosen."""
    from hitslite.zoo.h2h import H2H_CONFIGS
    from hitslite.zoo.registry import ZooEntry, register_entry

    rnn = {**H2H_CONFIGS["ks"]["rnn"], "window_starts": 2, "architecture": {"hidden": 8, "cell": "gru"},
           "train": {"lr": 1e-3, "batch_size": 8, "max_epochs": 1, "patience": None, "target_loss": 1e-10}}
    config = {**H2H_CONFIGS["ks"], "rnn": rnn, "validation": {"warm_up": 10, "horizon": 5, "every": 400}}
    name = "tiny_led_lhits_test"
    base = zoo.get_entry("led_lhits_ks")
    register_entry(ZooEntry(name, "tests only", config, base.build, base.train, data=base.data,
                            read_selection=base.read_selection))
    try:
        zoo.train_entry(name, directory=tmp_path, progress=False)
        manifest = zoo.read_manifest(name, tmp_path)
        metrics = manifest["metrics"]
        assert set(metrics["variants"]) == {"residual", "bounded"}
        assert metrics["autoencoder_source"]["files"] == zoo.read_manifest("lhits_ks")["files"]
        scores = {k: v["validation"]["mnad"] for k, v in metrics["variants"].items()}
        assert metrics["selected"] == min(scores, key=scores.get)
        assert all(v["validation"]["starts"] == 5 * 3 for v in metrics["variants"].values())
        model = zoo.load_pretrained(name, directory=tmp_path)
        ae = zoo.load_pretrained("lhits_ks").autoencoder.state_dict()
        assert all(torch.equal(v, ae[k]) for k, v in model.autoencoder.state_dict().items())
        assert all(p.requires_grad for p in model.parameters())  # unfrozen again after training
        assert zoo.selected(name, directory=tmp_path).choice == metrics["selected"]
    finally:
        del zoo.ENTRIES[name]


def test_led_period_by_data_record():
    """The period ablation's record on a one-epoch cell: both cells scored on the same starts, the truth's
    period that of the validation data, the errors relative to it."""
    from hitslite.experiments import led_fhn_period_by_data
    from hitslite.metrics import dominant_period

    rec = led_fhn_period_by_data(max_epochs=1)
    val = zoo.lhits_data("lhits_fhn")["val"].x
    moving = val[varying(val, "fhn")].unflatten(-1, (2, 101))
    assert rec["n_starts"] == moving.shape[0] and rec["horizon"] == val.shape[1] - 60
    truth = float(np.median(dominant_period(moving[:, 60:, 0].mean(-1), 1.0)))
    assert rec["truth_period"] == pytest.approx(truth, rel=1e-3)
    for name in ("led_data", "attractor_data"):
        assert rec[name]["period_error"] == pytest.approx(rec[name]["period"] / rec["truth_period"] - 1)
        assert math.isfinite(rec[name]["mnad"])
