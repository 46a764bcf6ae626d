"""LED zoo entries: registered, trainable end to end (tiny), pretrained weights reproduce their record."""

import copy

import pytest
import torch

from hitslite import zoo
from hitslite.led import LED
from hitslite.zoo.led import (
    LED_FHN_CONFIG,
    forecast_windows,
    led_data,
    led_validation_score,
    train_led_family,
)


def test_led_entries_are_registered_and_verified():
    for name in ("led_fhn", "led_ks"):
        assert name in zoo.ENTRIES
        manifest = zoo.verify(name)
        assert manifest["config_hash"] == zoo.ENTRIES[name].config_hash
        sel = zoo.selected(name)
        assert sel.kind == "led" and sel.choice in manifest["metrics"]["variants"]
        assert sel.score == min(sel.scores.values())


def test_tiny_led_training_runs_end_to_end(tmp_path):
    cfg = copy.deepcopy(LED_FHN_CONFIG)
    cfg["data"] = {"n_steps": 40}
    cfg["warm_up"] = 10
    cfg["variants"] = [{"latent_dim": 2, "variational": False}, {"latent_dim": 2, "variational": True}]
    cfg["autoencoder"]["train"].update(max_epochs=2)
    cfg["rnn"].update(propagation_length=20, bptt_length=10, burn_in=2, window_starts=3)
    cfg["rnn"]["train"].update(max_epochs=2)
    family, metrics = train_led_family(cfg, workdir=tmp_path, device="cpu", progress=False)
    assert set(metrics["variants"]) == {"ae2", "vae2"} and metrics["selected"] in {"ae2", "vae2"}
    assert (tmp_path / "ae2.done.pt").exists() and (tmp_path / "ae2-ae.done.pt").exists()
    led = family.led("ae2")
    assert isinstance(led, LED)
    warm = torch.zeros(1, 10, 2, 101)
    assert led.forecast(warm, 3).x.shape == (1, 4, 2, 101)
    # a rerun resumes from the finished variants instead of training again
    again, metrics2 = train_led_family(cfg, workdir=tmp_path, device="cpu", progress=False)
    assert metrics2["variants"]["ae2"]["validation"] == metrics["variants"]["ae2"]["validation"]
    with pytest.raises(KeyError, match="variant"):
        family.led("ae9")


def test_forecast_windows_cut_warm_up_and_truth():
    traj = led_data("led_fhn", splits=("val",))["val"]
    warm, truth = forecast_windows(traj, warm_up=60, horizon=100, every=200)
    assert warm.shape[1:] == (60, 2, 101) and truth.shape[1:] == (101, 2, 101)
    assert warm.shape[0] == truth.shape[0] == traj.batch_size * 2
    torch.testing.assert_close(warm[:, -1], truth[:, 0])
    with pytest.raises(ValueError, match="too short"):
        forecast_windows(traj, warm_up=60, horizon=1000, every=10)


@pytest.mark.slow
def test_pretrained_led_fhn_reproduces_its_validation_record():
    family = zoo.load_pretrained("led_fhn")
    sel = zoo.selected("led_fhn")
    val = led_data("led_fhn", splits=("val",))["val"]
    warm_up = LED_FHN_CONFIG["warm_up"]
    score = led_validation_score(family.led(sel.choice), val, warm_up=warm_up, channel_axis=1)
    assert score["mnad"] == pytest.approx(sel.score, rel=1e-4)


@pytest.mark.slow
def test_pretrained_led_ks_reproduces_its_validation_record_and_forecasts_a_lyapunov_time():
    """The selected KS variant: its validation record, and NAD < 0.1 for a Lyapunov time on validation
    starts (issue 7's mark; the chapter measures it on test trajectories)."""
    from hitslite.metrics import nad
    from hitslite.zoo.led import LED_KS_CONFIG

    family = zoo.load_pretrained("led_ks")
    sel = zoo.selected("led_ks")
    name = sel.choice
    val = led_data("led_ks", splits=("val",))["val"]
    score = led_validation_score(family.led(name), val, **LED_KS_CONFIG["validation"])
    # The validation data are canonical (regenerated from committed anchors, hitslite.canonical). Measured:
    # with the solver's coefficients perturbed in their last bits (another CPU) the score moves by 3e-8
    # relative; on KS data generated directly on five CPU configurations (other trajectories of the
    # attractor) it spread over 0.016-0.025. rel=1e-4 tells the two apart.
    assert score["mnad"] == pytest.approx(sel.score, rel=1e-4)
    lyapunov_steps = round(1 / 0.048 / LED_KS_CONFIG["dt"])
    warm, truth = forecast_windows(val, warm_up=60, horizon=lyapunov_steps, every=250)
    with torch.no_grad():
        curve = nad(family.led(name).forecast(warm, lyapunov_steps).x, truth).mean(0)
    assert float(curve.max()) < 0.1
