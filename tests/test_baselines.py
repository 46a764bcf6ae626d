"""Sequence-generation baselines (HiTS Sec. 3.2): sizes, learning, reservoir, stand-in data, errors."""

import math

import numpy as np
import pytest
import torch

from hitslite.baselines import (
    SEQUENCE_TASKS,
    ClockworkRNN,
    EchoStateNetwork,
    LSTMGenerator,
    effective_parameter_count,
    hits_parameter_count,
    match_hidden,
    parameter_count,
    table3_count,
)
from hitslite.neural import ResNetStepper
from hitslite.sequences import delay_embed, music_sequence, normalise, pca_coefficients, video_sequence
from hitslite.steppers import rollout
from hitslite.train import fit, teacher_forcing_loss

torch.set_num_threads(1)  # small recurrent ops are far slower with several threads on a busy machine


def _periodic(n_steps=96, period=16):
    """A tiny periodic sequence ``[1, n_steps + 1, 2]``: a circle traversed every ``period`` steps."""
    n = torch.arange(n_steps + 1, dtype=torch.float32)
    return (
        0.4
        * torch.stack([torch.sin(2 * math.pi * n / period), torch.cos(2 * math.pi * n / period)], -1)[None]
    )


# ---------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("task", sorted(SEQUENCE_TASKS))
def test_hits_count_reproduces_table3(task):
    spec = SEQUENCE_TASKS[task]
    assert hits_parameter_count(spec["dim"], spec["hidden"]) == spec["table3"]["HiTS"]


@pytest.mark.parametrize("task", sorted(SEQUENCE_TASKS))
def test_matched_baselines_within_two_percent_of_table3(task):
    spec = SEQUENCE_TASKS[task]
    target, dim = spec["table3"]["HiTS"], spec["dim"]
    modules = 4 if task in ("fluid", "video") else 5
    for kind in ("LSTM", "ESN", "CW-RNN"):
        h = match_hidden(kind, target, dim, multiple_of=modules if kind == "CW-RNN" else 1)
        ours = table3_count(kind, dim, h)
        assert abs(ours / target - 1) < 0.02, (kind, h, ours, target)
        assert abs(ours / spec["table3"][kind] - 1) < 0.02  # and to the paper's own baseline count


def test_table3_count_is_the_modules_parameter_count():
    assert parameter_count(LSTMGenerator(7, 13)) == table3_count("LSTM", 7, 13)
    assert parameter_count(EchoStateNetwork(7, 30)) == table3_count("ESN", 7, 30)
    cw = ClockworkRNN(7, 12, periods=(1, 4, 16))
    assert parameter_count(cw) == table3_count("CW-RNN", 7, 12)
    # three modules of 4 units: 6 blocks of 16 recurrent weights are free, 3 are masked
    assert effective_parameter_count(cw) == parameter_count(cw) - 3 * 16


def test_paper_sizes_reproduce_table3_exactly():
    # KS (App. A.3 / REFERENCE_CODE_FACTS): LSTM 740, CW-RNN 1570 hidden units, ESN 7950 read-out units
    assert table3_count("LSTM", 512, 740) == 4091232
    assert table3_count("CW-RNN", 512, 1570) == 4076232
    assert table3_count("ESN", 512, 7950) == 4070400


def test_zoo_configs_match_within_two_percent():
    from hitslite.zoo import ENTRIES

    for task in SEQUENCE_TASKS:
        c = ENTRIES[f"seqgen_{task}"].config
        target = hits_parameter_count(c["state_dim"], c["hidden"])
        hits = sum(parameter_count(ResNetStepper(c["state_dim"], 1.0, hidden=[h])) for h in c["hidden"])
        assert hits == target == c["parameters"]
        for kind, key in (("LSTM", "lstm"), ("ESN", "esn"), ("CW-RNN", "cwrnn")):
            size = c[key]["hidden"] if key != "esn" else c[key]["units"]
            assert abs(table3_count(kind, c["state_dim"], size) / target - 1) < 0.02, (task, kind)


# ---------------------------------------------------------------------------------------- learning
def _generation_error(model, seq):
    with torch.no_grad():
        pred = rollout(model, seq[:, 0], seq.shape[1] - 1).x
    return float(((pred - seq) ** 2).mean())


def test_lstm_overfits_a_periodic_sequence():
    torch.manual_seed(0)
    seq = _periodic()
    model = LSTMGenerator(2, 16)
    before = _generation_error(model, seq)
    fit(
        model,
        seq,
        loss_fn=teacher_forcing_loss,
        batch_size=1,
        max_epochs=400,
        patience=None,
        lr=1e-2,
        lr_halving_patience=40,
        progress=False,
    )
    after = _generation_error(model, seq)
    assert after < 1e-3 and after < 1e-2 * before


def test_cwrnn_overfits_a_periodic_sequence():
    torch.manual_seed(0)
    seq = _periodic(64)
    model = ClockworkRNN(2, 24, periods=(1, 2, 4))
    before = _generation_error(model, seq)
    fit(
        model,
        seq,
        loss_fn=teacher_forcing_loss,
        batch_size=1,
        max_epochs=300,
        patience=None,
        lr=1e-2,
        lr_halving_patience=40,
        progress=False,
    )
    after = _generation_error(model, seq)
    assert after < 1e-3 and after < 1e-2 * before


def test_esn_fits_a_periodic_sequence_in_closed_form():
    seq = _periodic()
    esn = EchoStateNetwork(2, 100, spectral_radius=0.9, input_scale=1.0, seed=3)
    train_mse = esn.fit_readout(seq, ridge=1e-8)
    assert train_mse < 1e-8
    assert _generation_error(esn, seq) < 1e-4


def test_teacher_forced_matches_stepping_with_carry():
    seq = _periodic(20)
    for model in (LSTMGenerator(2, 8), EchoStateNetwork(2, 20), ClockworkRNN(2, 6, periods=(1, 3))):
        carry, preds = model.init_carry(seq[:, 0]), []
        for n in range(seq.shape[1]):
            y, carry = model.step(seq[:, n], carry)
            preds.append(y)
        torch.testing.assert_close(model.teacher_forced(seq), torch.stack(preds, 1), rtol=1e-5, atol=1e-6)


def test_clockwork_slow_modules_hold_their_state():
    model = ClockworkRNN(2, 6, periods=(1, 4))
    x = torch.randn(3, 2)
    carry = model.init_carry(x)
    _, (h1, _) = model.step(x, carry)  # n = 0: every module updates
    _, (h2, n) = model.step(x, (h1, 1))  # n = 1: only the fast module
    assert n == 2
    torch.testing.assert_close(h2[:, 3:], h1[:, 3:])
    assert not torch.allclose(h2[:, :3], h1[:, :3])
    # the recurrent matrix is block upper-triangular: the slow module ignores the fast one
    w = model.recurrent.weight * model.mask
    assert torch.all(w[3:, :3] == 0)


# ---------------------------------------------------------------------------------------- reservoir
@pytest.mark.parametrize("rho, degree", [(0.9, 10), (0.5, 200), (1.3, 5)])
def test_esn_reservoir_has_requested_spectral_radius(rho, degree):
    esn = EchoStateNetwork(3, 200, spectral_radius=rho, degree=degree, seed=1)
    radius = float(torch.linalg.eigvals(esn.reservoir.double()).abs().max())
    assert radius == pytest.approx(rho, rel=1e-5)


def test_esn_reservoir_is_rebuilt_from_its_seed_and_not_saved():
    a, b = EchoStateNetwork(3, 50, seed=7), EchoStateNetwork(3, 50, seed=7)
    assert torch.equal(a.reservoir, b.reservoir) and torch.equal(a.w_in, b.w_in)
    assert not torch.equal(a.reservoir, EchoStateNetwork(3, 50, seed=8).reservoir)
    assert list(a.state_dict()) == ["readout"]


def test_ridge_zero_is_the_pseudo_inverse():
    seq = _periodic(40)
    esn = EchoStateNetwork(2, 30, seed=0)
    esn.fit_readout(seq, ridge=0.0)
    r = esn.states(seq[:, :-1])[0].double()
    want = (torch.linalg.pinv(r) @ seq[0, 1:].double()).T
    torch.testing.assert_close(esn.readout.double(), want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------- data
def test_stand_in_shapes_follow_appendix_a3():
    music = music_sequence()
    assert tuple(music.x.shape) == (1, 2077, 128)  # 1102 Hz x 2 s, 128 delays
    assert music.dt == pytest.approx(1 / 1102)
    # consecutive delay vectors are the same signal shifted by one sample
    torch.testing.assert_close(music.x[0, 1:, :-1], music.x[0, :-1, 1:])
    video = video_sequence(n_components=64)
    assert tuple(video.x.shape) == (1, 175, 64)


def test_pca_is_fitted_on_the_training_part_only():
    rng = np.random.default_rng(0)
    snaps = rng.standard_normal((30, 12))
    a = pca_coefficients(snaps, 3, n_train=20)
    changed = snaps.copy()
    changed[20:] = 100 * rng.standard_normal((10, 12))  # test part altered: training coefficients unchanged
    again = pca_coefficients(changed, 3, n_train=20)
    torch.testing.assert_close(torch.from_numpy(again[:20]), torch.from_numpy(a[:20]))


def test_normalise_mean_ptp_round_trip():
    traj = music_sequence()
    normed, norm = normalise(traj)
    assert float(normed.x.max() - normed.x.min()) == pytest.approx(1.0)
    assert float(normed.x.mean()) == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(norm.inverse(normed.x), traj.x)


# ---------------------------------------------------------------------------------------- errors
def test_bad_input_errors():
    with pytest.raises(ValueError, match="multiple of the number of modules"):
        ClockworkRNN(2, 7, periods=(1, 4))
    with pytest.raises(ValueError, match="strictly increasing"):
        ClockworkRNN(2, 8, periods=(4, 1))
    with pytest.raises(ValueError, match="spectral_radius"):
        EchoStateNetwork(2, 10, spectral_radius=0.0)
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        LSTMGenerator(2, 0)
    with pytest.raises(ValueError, match=r"shape \[batch, 2\]"):
        LSTMGenerator(2, 4).step(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"shape \[batch, time, 2\]"):
        ClockworkRNN(2, 4, periods=(1, 2)).teacher_forced(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="torch.Tensor"):
        EchoStateNetwork(2, 10).step([0.0, 1.0])
    with pytest.raises(ValueError, match="ridge"):
        EchoStateNetwork(2, 10).fit_readout(_periodic(10), ridge=-1.0)
    with pytest.raises(ValueError, match="kind"):
        match_hidden("GRU", 1000, 4)
    with pytest.raises(ValueError, match="windows"):
        teacher_forcing_loss(LSTMGenerator(2, 4), torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match="delays"):
        delay_embed(np.zeros(10), 11)
    from hitslite.sequences import sequence_dataset

    with pytest.raises(ValueError, match="name must be one of"):
        sequence_dataset("bach")
