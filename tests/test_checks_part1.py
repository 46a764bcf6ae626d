"""The build checks of Part I (Chapters 1-6): each passes the chapter's solution and fails typical wrong
implementations and constants, saying which case failed and never printing the expected value.

The solutions here are the ones in the chapters' ``solution`` cells (kept in step by hand: the chapters
run them through the same checks under ``pytest --nbmake``).
"""

import copy
import math

import numpy as np
import torch

import hitslite as hl
from hitslite import checks


# ------------------------------------------------------------------------------------------------
# Chapter 1: the multistep loss and a training loop
# ------------------------------------------------------------------------------------------------
def chapter_multistep_loss(model, windows, p):  # the solution of Ch. 1
    x = windows[:, 0]
    total = 0.0
    for k in range(1, p + 1):
        x = model(x)
        total = total + ((x - windows[:, k]) ** 2).mean()
    return total / p


def chapter_train(model, train_windows, val_windows, epochs, lr, batch_size=64):  # the solution of Ch. 1
    p = train_windows.shape[1] - 1
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    history = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(train_windows.shape[0], generator=gen)
        for start in range(0, len(order), batch_size):
            batch = train_windows[order[start : start + batch_size]]
            optimiser.zero_grad()
            loss = chapter_multistep_loss(model, batch, p)
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            history.append(float(chapter_multistep_loss(model, val_windows, p)))
    return history


def test_check_multistep_loss(capsys):
    assert checks.check_multistep_loss(chapter_multistep_loss) is True
    assert checks.check_multistep_loss(lambda m, w, p: hl.train.multistep_loss(m, w)) is False  # every state
    assert "p = 3" in capsys.readouterr().out  # says which case failed (p = 1 windows hold 2 states)

    def off_by_one(model, windows, p):  # compares the prediction with the state it started from
        x, total = windows[:, 0], 0.0
        for k in range(p):
            x = model(x)
            total = total + ((x - windows[:, k]) ** 2).mean()
        return total / p

    def summed(model, windows, p):  # forgets the 1/p
        return chapter_multistep_loss(model, windows, p) * p

    def teacher_forced(model, windows, p):  # steps from the true states, not its own predictions
        return sum(((model(windows[:, k - 1]) - windows[:, k]) ** 2).mean() for k in range(1, p + 1)) / p

    def detached(model, windows, p):
        return chapter_multistep_loss(model, windows, p).detach()

    for wrong in (off_by_one, summed, teacher_forced, detached, lambda m, w, p: torch.tensor(0.1),
                  lambda m, w, p: float(chapter_multistep_loss(m, w, p).detach())):
        assert checks.check_multistep_loss(wrong) is False
    out = capsys.readouterr().out
    assert "gradient" in out and "NOT YET" in out
    assert checks.check_multistep_loss(0.5) is False


def test_check_training_loop(capsys):
    assert checks.check_training_loop(chapter_train) is True

    def keeps_best(model, train_windows, val_windows, epochs, lr):  # restoring the best weights is fine
        history = chapter_train(model, train_windows, val_windows, epochs, lr)
        return history

    assert checks.check_training_loop(keeps_best) is True

    def no_step(model, train_windows, val_windows, epochs, lr):
        p = train_windows.shape[1] - 1
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        history = []
        for _ in range(epochs):
            optimiser.zero_grad()
            chapter_multistep_loss(model, train_windows, p).backward()
            with torch.no_grad():
                history.append(float(chapter_multistep_loss(model, val_windows, p)))
        return history

    def ascent(model, train_windows, val_windows, epochs, lr):
        p = train_windows.shape[1] - 1
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, maximize=True)
        history = []
        for _ in range(epochs):
            optimiser.zero_grad()
            chapter_multistep_loss(model, train_windows, p).backward()
            optimiser.step()
            with torch.no_grad():
                history.append(float(chapter_multistep_loss(model, val_windows, p)))
        return history

    def train_history(model, train_windows, val_windows, epochs, lr):  # reports the training loss
        chapter_train(model, train_windows, val_windows, epochs, lr)
        with torch.no_grad():
            return [float(chapter_multistep_loss(model, train_windows, 2))] * epochs

    def on_a_copy(model, train_windows, val_windows, epochs, lr):  # trains a copy, not the model given
        return chapter_train(copy.deepcopy(model), train_windows, val_windows, epochs, lr)

    for wrong in (no_step, ascent, train_history, on_a_copy, lambda *a: [0.0] * 40, lambda *a: 1e-9):
        assert checks.check_training_loop(wrong) is False
    out = capsys.readouterr().out
    assert "NOT YET" in out and "did not change" in out and "validation windows" in out
    assert checks.check_training_loop("train") is False


# ------------------------------------------------------------------------------------------------
# Chapter 2: the fill stage of Algorithm 1
# ------------------------------------------------------------------------------------------------
def chapter_multiscale_forecast(steppers, x0, n_steps):  # the solution of Ch. 2
    h = steppers[-1].dt
    strides = [round(s.dt / h) for s in steppers]
    n_ext = -(-n_steps // strides[0]) * strides[0]
    x = x0.new_zeros(x0.shape[0], n_ext + 1, *x0.shape[1:])
    x[:, 0] = x0
    for i, (stepper, s) in enumerate(zip(steppers, strides)):
        if i == 0:
            for j in range(1, n_ext // s + 1):
                x[:, j * s] = stepper(x[:, (j - 1) * s])
            continue
        starts = torch.arange(0, n_ext, strides[i - 1])  # every state known so far
        cur = x[:, starts]
        for m in range(1, strides[i - 1] // s):
            cur = stepper(cur.reshape(-1, *x0.shape[1:])).reshape(cur.shape)
            x[:, starts + m * s] = cur
    return x[:, : n_steps + 1]


def test_check_multiscale_forecast(capsys):
    assert checks.check_multiscale_forecast(chapter_multiscale_forecast) is True
    assert checks.check_multiscale_forecast(lambda s, x0, n: chapter_multiscale_forecast(s, x0, n).numpy())

    def one_state_at_a_time(steppers, x0, n_steps):  # right values, but one chain per known state
        return torch.stack([chapter_multiscale_forecast(steppers, x0[b : b + 1], n_steps)[0]
                            for b in range(x0.shape[0])])

    def from_coarse_only(steppers, x0, n_steps):  # finer levels start from the coarsest states only
        h = steppers[-1].dt
        strides = [round(s.dt / h) for s in steppers]
        n_ext = -(-n_steps // strides[0]) * strides[0]
        x = x0.new_zeros(x0.shape[0], n_ext + 1, x0.shape[1])
        x[:, 0] = x0
        for j in range(1, n_ext // strides[0] + 1):
            x[:, j * strides[0]] = steppers[0](x[:, (j - 1) * strides[0]])
        starts = torch.arange(0, n_ext, strides[0])
        for stepper, s in zip(steppers[1:], strides[1:]):
            cur = x[:, starts]
            for m in range(1, strides[0] // s):
                cur = stepper(cur.reshape(-1, x0.shape[1])).reshape(cur.shape)
                x[:, starts + m * s] = cur
        return x[:, : n_steps + 1]

    def finest_alone(steppers, x0, n_steps):
        return hl.rollout(steppers[-1], x0, n_steps).x

    def no_overshoot(steppers, x0, n_steps):  # the coarsest level stops short of the horizon
        ratio = round(steppers[0].dt / steppers[-1].dt)
        return chapter_multiscale_forecast(steppers, x0, n_steps - n_steps % ratio)

    assert checks.check_multiscale_forecast(one_state_at_a_time) is False
    assert "more than Algorithm 1" in capsys.readouterr().out
    for wrong in (from_coarse_only, finest_alone, no_overshoot, lambda s, x0, n: x0):
        assert checks.check_multiscale_forecast(wrong) is False
    out = capsys.readouterr().out
    assert "n_steps = " in out and "NOT YET" in out
    assert checks.check_multiscale_forecast(None) is False


# ------------------------------------------------------------------------------------------------
# Chapter 3: the per-step error and the integrated MSE
# ------------------------------------------------------------------------------------------------
def chapter_mse_per_step(pred, truth):  # the solution of Ch. 3
    err = (pred - truth) ** 2
    return err.transpose(0, 1).reshape(err.shape[1], -1).mean(dim=1)


def chapter_integrated_mse(pred, truth):
    return float(chapter_mse_per_step(pred, truth).mean())


def test_check_error_metrics(capsys):
    assert checks.check_error_metrics(chapter_mse_per_step, chapter_integrated_mse) is True
    assert checks.check_error_metrics(lambda p, t: chapter_mse_per_step(p, t).numpy(),
                                      lambda p, t: torch.tensor(chapter_integrated_mse(p, t))) is True

    def rmse(pred, truth):
        return chapter_mse_per_step(pred, truth).sqrt()

    def vector_states_only(pred, truth):  # right for [B, T, D], not for states of two axes
        return ((pred - truth) ** 2).mean(dim=(0, 2))

    def summed_state(pred, truth):
        return ((pred - truth) ** 2).sum(dim=-1).mean(dim=0)

    for wrong in (rmse, vector_states_only, summed_state, lambda p, t: torch.zeros(p.shape[1])):
        assert checks.check_error_metrics(wrong, chapter_integrated_mse) is False
    assert "mse_per_step on forecasts of shape" in capsys.readouterr().out

    def per_trajectory_sum(pred, truth):
        return float(((pred - truth) ** 2).reshape(pred.shape[0], -1).sum(dim=1).mean())

    for wrong in (per_trajectory_sum, lambda p, t: chapter_mse_per_step(p, t), lambda p, t: 0.01):
        assert checks.check_error_metrics(chapter_mse_per_step, wrong) is False
    out = capsys.readouterr().out
    assert "integrated_mse" in out and "NOT YET" in out
    assert checks.check_error_metrics(chapter_mse_per_step, 0.3) is False


def chapter_floor(x, stride):  # the solution of Ch. 3
    known = torch.arange(0, x.shape[1], stride)
    grid = torch.arange(x.shape[1])
    left = known[(grid // stride).clamp(max=len(known) - 1)]
    right = torch.clamp(left + stride, max=x.shape[1] - 1)
    w = ((grid - left) / stride).to(x.dtype).reshape(1, -1, *[1] * (x.ndim - 2))
    return float(((x[:, left] + w * (x[:, right] - x[:, left]) - x) ** 2).mean())


def test_check_interpolation_floor(capsys):
    assert checks.check_interpolation_floor(chapter_floor) is True
    assert checks.check_interpolation_floor(lambda x, s: torch.tensor(chapter_floor(x, s))) is True

    def by_numpy(x, stride):  # numpy.interp, component by component
        a = x.numpy().reshape(x.shape[0], x.shape[1], -1)
        grid = np.arange(x.shape[1])
        fit = np.stack([np.stack([np.interp(grid, grid[::stride], a[b, ::stride, d])
                                  for d in range(a.shape[2])], -1) for b in range(a.shape[0])])
        return float(((fit - a) ** 2).mean())

    assert checks.check_interpolation_floor(by_numpy) is True
    capsys.readouterr()

    def nearest(x, stride):  # holds the last sample instead of interpolating
        grid = torch.arange(x.shape[1])
        return float(((x[:, (grid // stride) * stride] - x) ** 2).mean())

    def rms(x, stride):
        return math.sqrt(chapter_floor(x, stride))

    def shifted(x, stride):  # samples 1, 1 + stride, ...: off by one
        return chapter_floor(x[:, 1:], stride) if stride > 1 else 0.0

    for wrong in (nearest, rms, shifted, lambda x, s: 0.0):
        assert checks.check_interpolation_floor(wrong) is False
    out = capsys.readouterr().out
    assert "stride 4" in out and "NOT YET" in out
    assert checks.check_interpolation_floor(0.1) is False


# ------------------------------------------------------------------------------------------------
# Chapter 4: the hybrid forecast (Algorithm 2)
# ------------------------------------------------------------------------------------------------
def chapter_hybrid(coarse, fine, x0, n_steps):  # the solution of Ch. 4
    m = round(coarse.dt / fine.dt)
    n_coarse = -(-n_steps // m)
    known = [x0]
    for _ in range(n_coarse):
        known.append(coarse(known[-1]))
    starts = torch.stack(known[:-1], dim=1)  # [B, n_coarse, D]
    x = x0.new_zeros(x0.shape[0], n_coarse * m + 1, x0.shape[1])
    x[:, ::m] = torch.stack(known, dim=1)
    cur = starts.reshape(-1, x0.shape[1])
    for j in range(1, m):
        cur = fine(cur)
        x[:, j::m][:, :n_coarse] = cur.reshape(starts.shape)
    return x[:, : n_steps + 1]


def test_check_hybrid_forecast(capsys):
    assert checks.check_hybrid_forecast(chapter_hybrid) is True
    assert checks.check_hybrid_forecast(lambda c, f, x0, n: hl.Hierarchy([c, f]).forecast(x0, n)) is True

    def sequential_gaps(coarse, fine, x0, n_steps):  # right values, one RK4 chain per coarse state
        return torch.cat([chapter_hybrid(coarse, fine, x0[b : b + 1], n_steps) for b in range(len(x0))])

    def rk4_alone(coarse, fine, x0, n_steps):
        return hl.rollout(fine, x0, n_steps).x

    def interpolated(coarse, fine, x0, n_steps):  # coarse states, linear interpolation in between
        m = round(coarse.dt / fine.dt)
        return hl.Hierarchy([coarse]).forecast(x0, n_steps, dt=coarse.dt / m).x

    def short(coarse, fine, x0, n_steps):  # floor instead of ceil: misses the end of the horizon
        m = round(coarse.dt / fine.dt)
        return chapter_hybrid(coarse, fine, x0, n_steps // m * m)

    assert checks.check_hybrid_forecast(sequential_gaps) is False
    assert "called RK4" in capsys.readouterr().out
    for wrong in (rk4_alone, interpolated, short, lambda c, f, x0, n: torch.zeros(len(x0), n + 1, 2)):
        assert checks.check_hybrid_forecast(wrong) is False
    out = capsys.readouterr().out
    assert "n_steps = " in out and "NOT YET" in out
    assert checks.check_hybrid_forecast("hybrid") is False


# ------------------------------------------------------------------------------------------------
# Chapter 5: noisy observations (App. B.2)
# ------------------------------------------------------------------------------------------------
def chapter_observe(x, level, generator):  # the solution of Ch. 5
    std = x.reshape(-1, x.shape[-1]).std(dim=0)
    return x + level * std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def test_check_noisy_observations(capsys):
    assert checks.check_noisy_observations(chapter_observe) is True
    assert checks.check_noisy_observations(lambda x, q, g: chapter_observe(x, q, g).numpy()) is True
    capsys.readouterr()

    def variance(x, level, generator):
        return chapter_observe(x, math.sqrt(level), generator)

    def one_scale(x, level, generator):
        return x + level * x.std() * torch.randn(x.shape, generator=generator, dtype=x.dtype)

    def per_trajectory(x, level, generator):
        std = x.std(dim=1, keepdim=True)
        return x + level * std * torch.randn(x.shape, generator=generator, dtype=x.dtype)

    def uniform(x, level, generator):
        std = x.reshape(-1, x.shape[-1]).std(dim=0)
        return x + level * std * math.sqrt(12) * torch.rand(x.shape, generator=generator, dtype=x.dtype)

    def frozen_in_time(x, level, generator):  # one draw per trajectory, repeated at every time
        std = x.reshape(-1, x.shape[-1]).std(dim=0)
        return x + level * std * torch.randn(x.shape[0], 1, x.shape[2], generator=generator, dtype=x.dtype)

    def global_state(x, level, generator):
        std = x.reshape(-1, x.shape[-1]).std(dim=0)
        return x + level * std * torch.randn(x.shape, dtype=x.dtype)

    def in_place(x, level, generator):
        x += chapter_observe(x, level, generator) - x
        return x

    for wrong, says in ((variance, "wrong size"), (one_scale, "wrong size"),
                        (per_trajectory, "per trajectory"), (uniform, "mean zero"),
                        (frozen_in_time, "correlated"), (global_state, "generator"),
                        (in_place, "changed x"), (lambda x, q, g: x, "add the noise")):
        assert checks.check_noisy_observations(wrong) is False
        out = capsys.readouterr().out
        assert says in out, (wrong, out)
        assert "level 0." in out or "changed x" in out  # names the case
    assert checks.check_noisy_observations(0.02) is False


# ------------------------------------------------------------------------------------------------
# Chapter 6: the echo-state read-out
# ------------------------------------------------------------------------------------------------
def chapter_readout(esn, x, ridge):  # the solution of Ch. 6
    r = esn.states(x[:, :-1]).reshape(-1, esn.units).double()
    y = x[:, 1:].reshape(-1, x.shape[-1]).double()
    gram = r.T @ r
    beta = ridge * gram.diagonal().mean()
    return torch.linalg.solve(gram + beta * torch.eye(esn.units, dtype=gram.dtype), r.T @ y).T


def test_check_esn_readout(capsys):
    assert checks.check_esn_readout(chapter_readout) is True
    assert checks.check_esn_readout(lambda e, x, b: chapter_readout(e, x, b).numpy()) is True

    def shifted(esn, x, ridge):  # pairs the state driven by x[n + 1] with the target x[n + 1]
        r = esn.states(x[:, 1:]).reshape(-1, esn.units).double()
        y = x[:, 1:].reshape(-1, x.shape[-1]).double()
        return torch.linalg.solve(r.T @ r + ridge * (r.T @ r).diagonal().mean() * torch.eye(esn.units,
                                  dtype=torch.float64), r.T @ y).T

    def absolute_ridge(esn, x, ridge):
        r = esn.states(x[:, :-1]).reshape(-1, esn.units).double()
        y = x[:, 1:].reshape(-1, x.shape[-1]).double()
        return torch.linalg.solve(r.T @ r + ridge * torch.eye(esn.units, dtype=torch.float64), r.T @ y).T

    def pseudo_inverse(esn, x, ridge):
        r = esn.states(x[:, :-1]).reshape(-1, esn.units).double()
        return (torch.linalg.pinv(r) @ x[:, 1:].reshape(-1, x.shape[-1]).double()).T

    def its_own(esn, x, ridge):  # lets the reservoir fit itself: refused
        esn.fit_readout(x, ridge=ridge)
        return esn.readout

    for wrong in (shifted, absolute_ridge, pseudo_inverse, its_own,
                  lambda e, x, b: chapter_readout(e, x, b).T,
                  lambda e, x, b: np.zeros((x.shape[-1], e.units))):
        assert checks.check_esn_readout(wrong) is False
    out = capsys.readouterr().out
    assert "ridge 0.01" in out and "does not fit its own read-out" in out and "NOT YET" in out
    assert checks.check_esn_readout([[0.0]]) is False
