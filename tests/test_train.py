import math

import pytest
import torch

import hitslite as h
from hitslite.train import make_windows, multistep_loss


@pytest.fixture(scope="module")
def oscillator():
    system = h.get_system("harmonic_oscillator")
    g = torch.Generator().manual_seed(0)
    t = 0.02 * torch.arange(101, dtype=torch.float64)

    def make(n):
        return h.Trajectory(t=t, x=system.exact_solution(system.sample_initial(n, g), t), dt=0.02)

    return make(200), make(50)


def test_windows_follow_eq_6(oscillator):
    train, _ = oscillator
    w = make_windows(train, 4, 5)
    assert w.shape == (200, 6, 2)
    assert torch.equal(w[3, 2], train.x[3, 8])
    assert make_windows(train, 4, 5, starts="all").shape == (200 * (101 - 20), 6, 2)
    w = make_windows(train, 2, 3, starts=7, generator=torch.Generator().manual_seed(0))
    assert w.shape == (1400, 4, 2)
    with pytest.raises(ValueError, match="too short"):
        make_windows(train, 50, 5)


def test_multistep_loss_vanishes_for_the_exact_flow(oscillator):
    train, _ = oscillator
    system = h.get_system("harmonic_oscillator")
    w = make_windows(train, 1, 5)
    assert float(multistep_loss(h.RK4(system, 0.02), w)) < 1e-18


def test_gradients_reach_every_parameter(oscillator):
    train, _ = oscillator
    net = h.ResNetStepper(2, 0.08, hidden=[32, 32, 32])
    loss = multistep_loss(net, make_windows(train, 4, 5).float())
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_small_training_run_reaches_a_stated_loss(oscillator):
    train, val = oscillator
    torch.manual_seed(0)
    net = h.ResNetStepper(2, 0.08, hidden=[64, 64])
    tr, va = make_windows(train, 4, 3, starts="all").float(), make_windows(val, 4, 3).float()
    with torch.no_grad():
        before = float(multistep_loss(net, va))
    result = h.fit(net, tr, va, max_epochs=40, batch_size=256, progress=False)
    with torch.no_grad():
        after = float(multistep_loss(net, va))
    assert after < 2e-5 < before  # a 3-step rollout of the rotation by 0.08, learned in 40 epochs
    assert after == pytest.approx(result.best_loss, rel=1e-5)  # best weights restored
    assert len(result.history["val"]) == result.epochs and result.stop_reason


def test_learning_rate_halves_when_validation_stalls(oscillator):
    train, val = oscillator
    torch.manual_seed(0)
    net = h.ResNetStepper(2, 0.04, hidden=[16])
    result = h.fit(net, make_windows(train, 2, 2).float(), make_windows(val, 2, 2).float(), max_epochs=30,
                   lr=0.05, batch_size=64, patience=None, lr_halving_patience=1, min_lr=1e-5, progress=False)
    lrs, vals = result.history["lr"], result.history["val"]
    best_so_far = [min(vals[: i + 1]) for i in range(len(vals))]
    # lrs[i] is the rate used in epoch i: halved after every earlier epoch without a better validation loss
    stalls = [sum(1 for j in range(1, i) if vals[j] >= best_so_far[j - 1]) for i in range(len(vals))]
    assert stalls[-1] >= 1
    assert lrs == [max(1e-5, 0.05 / 2**n) for n in stalls]


def test_cosine_decay_follows_a_half_cosine_from_lr_to_min_lr(oscillator):
    train, val = oscillator
    torch.manual_seed(0)
    net = h.ResNetStepper(2, 0.04, hidden=[16])
    tr, va = make_windows(train, 2, 2).float(), make_windows(val, 2, 2).float()
    result = h.fit(net, tr, va, max_epochs=12, lr=0.01, min_lr=1e-4, cosine_decay=True, batch_size=64,
                   patience=None, progress=False)
    want = [1e-4 + 0.5 * (0.01 - 1e-4) * (1 + math.cos(math.pi * e / 12)) for e in range(12)]
    assert result.history["lr"] == pytest.approx(want, rel=1e-12)
    assert result.history["lr"][0] == pytest.approx(0.01) and result.history["lr"][-1] < 3e-4
    with pytest.raises(ValueError, match="one"):
        h.fit(net, tr, va, max_epochs=2, cosine_decay=True, lr_halving_patience=3, progress=False)


def test_fit_resumes_from_a_checkpoint_and_matches_an_uninterrupted_run(oscillator, tmp_path):
    train, val = oscillator
    tr, va = make_windows(train, 2, 2).float(), make_windows(val, 2, 2).float()

    def fresh():
        torch.manual_seed(1)
        return h.ResNetStepper(2, 0.04, hidden=[16])

    full = fresh()
    h.fit(full, tr, va, max_epochs=12, batch_size=32, progress=False, patience=None)

    calls = {"n": 0}

    def crashing_loss(stepper, batch):
        calls["n"] += 1
        if calls["n"] > 8 * 7:  # 7 epochs of 7 batches, then a validation: crash in epoch 8
            raise KeyboardInterrupt
        return multistep_loss(stepper, batch)

    ckpt = tmp_path / "run.pt"
    net = fresh()
    with pytest.raises(KeyboardInterrupt):
        h.fit(net, tr, va, loss_fn=crashing_loss, max_epochs=12, batch_size=32, progress=False, patience=None,
              checkpoint=ckpt, checkpoint_every=5)
    assert ckpt.exists()
    net = fresh()
    result = h.fit(net, tr, va, max_epochs=12, batch_size=32, progress=False, patience=None, checkpoint=ckpt)
    assert result.epochs == 12 and len(result.history["train"]) == 12 and not ckpt.exists()
    for a, b in zip(net.parameters(), full.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_fit_levels_trains_one_stepper_per_power_of_two(oscillator, tmp_path):
    train, val = oscillator
    steppers, results = h.fit_levels(lambda dt: h.ResNetStepper(2, dt, hidden=[16]), train.to(torch.float32),
                                     val.to(torch.float32), levels=[0, 2], n_forward=2, max_epochs=3,
                                     progress=False, checkpoint_dir=tmp_path)
    assert [s.dt for s in steppers] == [pytest.approx(0.02), pytest.approx(0.08)]
    assert all(r.epochs == 3 for r in results)
    assert (tmp_path / "level2.done.pt").exists()


def test_fit_rejects_bad_input(oscillator):
    net = h.ResNetStepper(2, 0.02)
    with pytest.raises(ValueError, match="windows of shape"):
        h.fit(net, torch.zeros(10, 2))
    with pytest.raises(ValueError, match="val windows"):
        h.fit(net, torch.zeros(10, 3, 2), torch.zeros(10, 4, 2))
    with pytest.raises(ValueError, match="expects states of shape"):
        net(torch.zeros(4, 3))


def test_resnet_stack_evaluates_every_level_like_its_stepper():
    torch.manual_seed(0)
    steppers = [h.ResNetStepper(3, 0.01 * 2**k, hidden=[8, 8]) for k in range(4)]
    stack = h.neural.ResNetStack(steppers)
    x = torch.randn(4, 5, 3)
    assert torch.allclose(stack(x), torch.stack([s(x[l]) for l, s in enumerate(steppers)]), atol=1e-6)
    with pytest.raises(ValueError, match="ResNetStack expects"):
        stack(torch.randn(3, 5, 3))
    with pytest.raises(ValueError, match="share state_shape"):
        h.neural.ResNetStack([h.ResNetStepper(3, 0.1, hidden=[8]), h.ResNetStepper(3, 0.2, hidden=[9])])


def test_batched_level_training_matches_one_by_one(oscillator):
    """Stacked weights with per-level Adam train each level as fit() would (same data, same init)."""
    train, val = oscillator

    def make(dt):
        torch.manual_seed(round(dt * 1000))
        return h.ResNetStepper(2, dt, hidden=[16, 16])

    kw = dict(levels=[0, 1, 2], n_forward=2, starts="first", max_epochs=1, batch_size=400, patience=None,
              progress=False)
    one, r_one = h.fit_levels(make, train.to(torch.float32), val.to(torch.float32), **kw)
    many, r_many = h.fit_levels(make, train.to(torch.float32), val.to(torch.float32), batched=True, **kw)
    # one full-batch epoch: identical Adam steps, so identical weights and losses
    for a, b in zip(one, many):
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.allclose(p, q, atol=1e-6)
    assert [r.best_loss for r in r_one] == pytest.approx([r.best_loss for r in r_many], rel=1e-4)


def test_batched_training_stops_levels_independently_and_resumes(oscillator, tmp_path):
    train, val = oscillator
    torch.manual_seed(0)
    make = lambda dt: h.ResNetStepper(2, dt, hidden=[16])  # noqa: E731
    steppers, results = h.fit_levels(make, train.to(torch.float32), val.to(torch.float32), levels=[0, 3],
                                     n_forward=2, max_epochs=40, patience=3, lr=0.05, progress=False,
                                     batched=True, checkpoint_dir=tmp_path)
    assert all(r.stop_reason for r in results)
    for s, r in zip(steppers, results):
        with torch.no_grad():
            loss = float(multistep_loss(s, make_windows(val.to(torch.float32), round(s.dt / 0.02), 2)))
        assert loss == pytest.approx(r.best_loss, rel=1e-4)  # each level holds its own best weights
    assert not (tmp_path / "stack.pt").exists()


def test_batched_training_resumes_after_a_crash(oscillator, tmp_path, monkeypatch):
    train, val = oscillator
    tr = [make_windows(train.to(torch.float32), 2**k, 2) for k in (0, 2)]
    va = [make_windows(val.to(torch.float32), 2**k, 2) for k in (0, 2)]

    def fresh():
        torch.manual_seed(3)
        return [h.ResNetStepper(2, 0.02 * 2**k, hidden=[8]) for k in (0, 2)]

    full = fresh()
    h.train.fit_stack(full, tr, va, max_epochs=8, batch_size=64, patience=None, progress=False)

    original, calls = h.train.stack_window_losses, {"n": 0}

    def crashing(stack, batch):
        calls["n"] += 1
        if calls["n"] > 5 * 5:  # 4 batches + 1 validation per epoch: crash during epoch 6
            raise KeyboardInterrupt
        return original(stack, batch)

    monkeypatch.setattr(h.train, "stack_window_losses", crashing)
    ckpt = tmp_path / "stack.pt"
    with pytest.raises(KeyboardInterrupt):
        h.train.fit_stack(fresh(), tr, va, max_epochs=8, batch_size=64, patience=None, progress=False,
                          checkpoint=ckpt, checkpoint_every=2)
    assert ckpt.exists()
    monkeypatch.setattr(h.train, "stack_window_losses", original)
    resumed = fresh()
    results = h.train.fit_stack(resumed, tr, va, max_epochs=8, batch_size=64, patience=None, progress=False,
                                checkpoint=ckpt)
    assert all(r.epochs == 8 and len(r.history["val"]) == 8 for r in results) and not ckpt.exists()
    for a, b in zip(resumed, full):
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.allclose(p, q, atol=1e-6)


# ---- fit refuses silent garbage (issue 19) --------------------------------------------------------------
@pytest.fixture
def small_windows(oscillator):
    train, val = oscillator
    return make_windows(train, 2, 2).float(), make_windows(val, 2, 2).float()


@pytest.mark.parametrize("where", ["train", "val"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_fit_refuses_nan_or_inf_windows_naming_the_argument(small_windows, where, bad):
    tr, va = (w.clone() for w in small_windows)
    (tr if where == "train" else va)[7, 1, 0] = bad
    net = h.ResNetStepper(2, 0.04, hidden=[8])
    with pytest.raises(ValueError, match=rf"^{where} contains NaN or Inf.*window 7"):
        h.fit(net, tr, va, max_epochs=2, progress=False)


@pytest.mark.parametrize("where", ["train", "val"])
def test_fit_refuses_zero_windows(small_windows, where):
    tr, va = small_windows
    tr, va = (tr[:0], va) if where == "train" else (tr, va[:0])
    with pytest.raises(ValueError, match=rf"^{where} holds 0 windows"):
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr, va, max_epochs=2, progress=False)


def test_fit_raises_when_training_diverges_instead_of_returning_the_initial_weights(small_windows):
    tr, va = small_windows
    torch.manual_seed(0)
    net = h.ResNetStepper(2, 0.04, hidden=[16])
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at epoch 1\b.*smaller lr"):
        h.fit(net, tr, va, lr=1e6, max_epochs=20, progress=False)
    with pytest.raises(FloatingPointError, match=r"training loss became nan at epoch 3\b"):  # no val set
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr, loss_fn=_nan_from_epoch_3(), batch_size=32,
              max_epochs=5, progress=False)


def _nan_from_epoch_3():
    calls = {"n": 0}

    def loss(stepper, batch):
        calls["n"] += 1
        value = multistep_loss(stepper, batch)
        return value * float("nan") if calls["n"] > 2 * 7 else value  # 7 batches of 32 per epoch
    return loss


def test_fit_stack_refuses_garbage_too(small_windows):
    tr, va = small_windows
    bad = tr.clone()
    bad[0, 0, 0] = float("nan")
    steppers = [h.ResNetStepper(2, 0.02 * 2**k, hidden=[8]) for k in (0, 1)]
    with pytest.raises(ValueError, match=r"train\[1\] contains NaN"):
        h.train.fit_stack(steppers, [tr, bad], [va, va], max_epochs=2, progress=False)
    with pytest.raises(ValueError, match=r"val\[0\] holds 0 windows"):
        h.train.fit_stack(steppers, [tr, tr], [va[:0], va], max_epochs=2, progress=False)
    with pytest.raises(FloatingPointError, match=r"level \d.*epoch 1\b.*smaller lr"):
        h.train.fit_stack(steppers, [tr, tr], [va, va], lr=1e6, max_epochs=5, progress=False)


def test_fit_checkpoints_hold_no_pickled_objects_and_refuse_another_run(small_windows, tmp_path):
    tr, va = small_windows
    ckpt = tmp_path / "run.pt"

    def crash_in_epoch_3(stepper, batch):
        crash_in_epoch_3.n = getattr(crash_in_epoch_3, "n", 0) + 1
        if crash_in_epoch_3.n > 2 * 8:
            raise KeyboardInterrupt
        return multistep_loss(stepper, batch)

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr, va, loss_fn=crash_in_epoch_3, max_epochs=6,
              batch_size=32, patience=None, progress=False, checkpoint=ckpt, checkpoint_every=2)
    state = torch.load(ckpt, weights_only=True)  # readable without unpickling objects
    assert state["format"] == "hitslite-checkpoint"
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"run\.pt belongs to a different run.*'hyperparameters'.*delete it"):
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr, va, lr=5e-3, max_epochs=6, batch_size=32,
              patience=None, progress=False, checkpoint=ckpt)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"different run.*'train'"):
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr[1:], va, max_epochs=6, batch_size=32, patience=None,
              progress=False, checkpoint=ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:200])  # torn
    with pytest.raises(ValueError, match="unreadable.*delete it"):
        h.fit(h.ResNetStepper(2, 0.04, hidden=[8]), tr, va, max_epochs=6, batch_size=32, patience=None,
              progress=False, checkpoint=ckpt)


def test_fit_levels_refuses_a_finished_level_of_another_run(oscillator, tmp_path):
    train, val = oscillator
    kw = dict(levels=[1], n_forward=2, max_epochs=2, progress=False, checkpoint_dir=tmp_path)
    make = lambda dt: h.ResNetStepper(2, dt, hidden=[8])  # noqa: E731
    h.fit_levels(make, train.to(torch.float32), val.to(torch.float32), **kw)
    assert (tmp_path / "level1.done.pt").exists()
    with pytest.raises(ValueError, match=r"level1\.done\.pt belongs to a different run.*'run'"):
        h.fit_levels(make, train.to(torch.float32), val.to(torch.float32), **{**kw, "max_epochs": 3})


def test_fit_resumes_noise_generators_bound_into_the_loss(small_windows, tmp_path):
    """A loss drawing noise from its own generator: a resumed run draws what an uninterrupted one did."""
    import functools

    tr, va = small_windows

    def noisy(stepper, batch, *, generator, fail_after=None, calls=None):
        if calls is not None:
            calls.append(1)
            if fail_after is not None and len(calls) > fail_after:
                raise KeyboardInterrupt
        if stepper.training:
            batch = batch + 0.01 * torch.randn(batch.shape, generator=generator)
        return multistep_loss(stepper, batch)

    def fresh():
        torch.manual_seed(2)
        return h.ResNetStepper(2, 0.04, hidden=[8])

    kw = dict(max_epochs=6, batch_size=32, patience=None, progress=False)
    full = fresh()
    h.fit(full, tr, va, loss_fn=functools.partial(noisy, generator=torch.Generator().manual_seed(9)), **kw)
    ckpt = tmp_path / "noisy.pt"
    with pytest.raises(KeyboardInterrupt):
        h.fit(fresh(), tr, va, checkpoint=ckpt, checkpoint_every=2, **kw,
              loss_fn=functools.partial(noisy, generator=torch.Generator().manual_seed(9),
                                        fail_after=3 * 8 + 2, calls=[]))
    resumed = fresh()
    h.fit(resumed, tr, va, checkpoint=ckpt, **kw,
          loss_fn=functools.partial(noisy, generator=torch.Generator().manual_seed(9)))
    for a, b in zip(resumed.parameters(), full.parameters()):
        assert torch.equal(a, b)


def test_batched_training_can_be_extended_or_stopped_where_it_is(oscillator, tmp_path, monkeypatch):
    """max_epochs only bounds the loop: a checkpoint written by a 12-epoch run, interrupted after epoch 4,
    resumes under max_epochs = 4 (stopped there: the weights of a straight 4-epoch run) or 8 (extended: a
    straight 8-epoch run's), and refuses max_epochs = 2 (it cannot be rewound)."""
    train, val = oscillator
    tr = [make_windows(train.to(torch.float32), 2**k, 2) for k in (0, 2)]
    va = [make_windows(val.to(torch.float32), 2**k, 2) for k in (0, 2)]
    kw = dict(batch_size=64, patience=None, progress=False)

    def fresh():
        torch.manual_seed(5)
        return [h.ResNetStepper(2, 0.02 * 2**k, hidden=[8]) for k in (0, 2)]

    straight = {}
    for n in (4, 8):
        straight[n] = fresh()
        h.train.fit_stack(straight[n], tr, va, max_epochs=n, **kw)
    original, calls = h.train.stack_window_losses, {"n": 0}

    def crashing(stack, batch):
        calls["n"] += 1
        if calls["n"] > 5 * 4:  # 4 batches + 1 validation per epoch: crash in epoch 5, after the epoch-4 save
            raise KeyboardInterrupt
        return original(stack, batch)

    for n in (4, 8):
        ckpt = tmp_path / f"run{n}" / "stack.pt"
        ckpt.parent.mkdir()
        calls["n"] = 0
        monkeypatch.setattr(h.train, "stack_window_losses", crashing)
        with pytest.raises(KeyboardInterrupt):
            h.train.fit_stack(fresh(), tr, va, max_epochs=12, checkpoint=ckpt, checkpoint_every=4, **kw)
        monkeypatch.setattr(h.train, "stack_window_losses", original)
        if n == 4:
            with pytest.raises(ValueError, match="max_epochs must be >= the checkpoint's epoch 4"):
                h.train.fit_stack(fresh(), tr, va, max_epochs=2, checkpoint=ckpt, **kw)
        resumed = fresh()
        results = h.train.fit_stack(resumed, tr, va, max_epochs=n, checkpoint=ckpt, **kw)
        assert all(r.epochs == n for r in results)
        for a, b in zip(resumed, straight[n]):
            for p, q in zip(a.parameters(), b.parameters()):
                assert torch.allclose(p, q, atol=1e-6)
