"""Checks for the exercises of Part I (HiTS), Chapters 1-2: flow maps, training one NNTS, coupling."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .common import (
    as_integer,
    as_number,
    as_tensor,
    biased,
    call_student,
    close,
    counted,
    judge_order,
    linear_stepper,
    mismatch,
    not_a_number,
    output_array,
    report,
    seeded,
    shown,
)

__all__ = [
    "check_flow_map",
    "check_rk4_order",
    "check_sequential_calls",
    "check_multistep_loss",
    "check_training_loop",
    "check_best_single_step",
    "check_interpolation",
    "check_multiscale_forecast",
    "check_two_pass_selection",
]


# ============================================================================================
# Chapter 1 (flow maps) — also used by Ch. 3–6 and 9
# ============================================================================================
def check_flow_map(flow_map: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise (Ch. 1): ``flow_map(x [B, 2], dt) -> [B, 2]`` is the harmonic oscillator's exact flow map,
    compared with the system's ``exact_solution`` on states and steps drawn here."""
    from ..systems import get_system

    name = "flow map"
    if not callable(flow_map):
        return report(False, name, f"pass your function flow_map(x, dt), got {shown(flow_map)}")
    system = get_system("harmonic_oscillator")
    x = system.sample_initial(64, torch.Generator().manual_seed(0))
    for dt in (0.008, 0.5, 3.0):
        out, err = call_student(flow_map, x.clone(), dt)
        if err:
            return report(False, name, f"flow_map(x, {dt}) raised {err}")
        got = as_tensor(out)
        if got is None or got.shape != x.shape:
            return report(False, name, f"flow_map(x [64, 2], {dt}) should return shape (64, 2), got "
                           f"{shown(out)}")
        want = system.exact_solution(x, torch.tensor([dt], dtype=torch.float64))[:, 0]
        if not torch.allclose(got, want, rtol=0, atol=1e-10):
            return report(False, name, f"wrong states for dt = {dt} (keep float64): x(t) is x0 rotated "
                           "clockwise by the angle t, since x' = y, y' = -x")
    return report(True, name, "")




def check_rk4_order(error: Callable[[float], float], steps: Sequence[float]) -> bool:
    """Exercise (Ch. 1, 4): ``error(dt)`` is the global error of one RK4 (or hybrid) run with step ``dt``;
    the check evaluates it at ``steps``, fits the order itself and accepts 3.8–4.2."""
    return judge_order("RK4 order", error, steps, 3.8, 4.2, 1e-13)


def check_sequential_calls(answer: int, dts: Sequence[float], n_steps: int, dt: float | None = None) -> bool:
    """Exercise (Ch. 1, the book's one counting exercise): sequential stepper calls Algorithm 1 needs for
    ``n_steps`` with levels ``dts`` (the reference is :meth:`~hitslite.multiscale.Hierarchy.cost`)."""
    from ..multiscale import Hierarchy
    from ..steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, x):
            return x

    got = as_integer(answer)
    if got is None:
        return not_a_number("sequential calls", answer, "a whole number")
    want = Hierarchy([_Probe(float(d)) for d in dts]).cost(int(n_steps), dt)["calls"]
    return report(got == want, "sequential calls",
                   f"got {got}. The coarsest level steps ceil(n * dt / dt_0) times; every finer level "
                   "takes (ratio to the next coarser level - 1) steps, all starting points batched together")


def _random_resnet(dim: int, seed: int, dtype=torch.float64):
    """A ResNet stepper with weights drawn from ``seed`` (large enough that its steps move the state)."""
    from ..neural import ResNetStepper

    def build():
        model = ResNetStepper(dim, 0.1, hidden=[16, 16]).to(dtype)
        with torch.no_grad():
            for w in model.parameters():
                w.normal_(0.0, 0.4)
        return model

    return seeded(seed, build)


def check_multistep_loss(multistep_loss: Callable) -> bool:
    """Exercise (Ch. 1): ``multistep_loss(model, windows [N, P + 1, D], p) -> 0-d tensor`` is HiTS eq. (9):
    ``p`` steps of ``model`` from ``windows[:, 0]``, each fed its own prediction, the squared error against
    ``windows[:, 1..p]`` averaged over windows, state and the ``p`` steps (windows may hold more states
    than ``p + 1``; the rest are ignored). Judged against :func:`hitslite.train.multistep_loss` on random
    ResNet steppers and windows the check draws; the result must carry the gradient for training."""
    from ..train import multistep_loss as reference

    name = "multistep loss"
    if not callable(multistep_loss):
        return report(False, name, f"pass your function multistep_loss(model, windows, p), not "
                       f"{shown(multistep_loss)}: the check calls it on models and windows of its own")
    gen = torch.Generator().manual_seed(9)
    for case, (p, n, length, dim) in enumerate(((1, 40, 2, 2), (3, 32, 7, 3), (5, 24, 9, 2))):
        model = _random_resnet(dim, 90 + case)
        windows = torch.randn(n, length, dim, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            want = float(reference(model, windows[:, : p + 1]))
        label = f"p = {p}, windows of {length} states [{n}, {length}, {dim}]"
        out, err = call_student(multistep_loss, model, windows.clone(), p)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = out if isinstance(out, torch.Tensor) and out.numel() == 1 else None
        if got is None:
            return report(False, name, f"for {label} return the loss as a one-number tensor (training "
                           f"backpropagates through it), got {shown(out)}")
        if not math.isclose(float(got.detach().double()), want, rel_tol=1e-6, abs_tol=1e-15):
            return report(False, name, f"wrong loss for {label}: step the model p times from windows[:, 0], "
                           "feeding it its own prediction (not the true state), compare step k with "
                           "windows[:, k] for k = 1..p only, and average the squared error over windows, "
                           "state components and the p steps")
        if not got.requires_grad:
            return report(False, name, f"for {label} the loss has no gradient: keep it a tensor built from "
                           "the model's outputs (no .item(), float() or torch.no_grad() inside)")
    return report(True, name, "")


def _linear_windows(n: int, p: int, gen: torch.Generator) -> torch.Tensor:
    """Windows ``[n, p + 1, 2]`` of the damped rotation x -> 0.97 R(0.3) x from states in [-1, 1]^2."""
    c, s = math.cos(0.3), math.sin(0.3)
    a = 0.97 * torch.tensor([[c, s], [-s, c]])
    x = 2 * torch.rand(n, 2, generator=gen) - 1
    states = [x]
    for _ in range(p):
        states.append(states[-1] @ a.T)
    return torch.stack(states, dim=1)


def check_training_loop(train_loop: Callable) -> bool:
    """Exercise (Ch. 1): ``train_loop(model, train_windows, val_windows, epochs, lr) -> validation losses``
    (one per epoch) trains ``model`` in place by minimising the multistep loss (eq. 9) with a gradient
    optimiser and returns the validation loss after each epoch. The check draws a small ResNet stepper
    and windows of a damped rotation, runs the loop, and judges the model it trained with
    :func:`hitslite.train.multistep_loss` on the validation windows: the loss must fall at least tenfold,
    and the returned history must end at (or have its minimum at) the trained model's loss."""
    from ..neural import ResNetStepper
    from ..train import multistep_loss as reference

    name = "training loop"
    if not callable(train_loop):
        return report(False, name, "pass your function train_loop(model, train_windows, val_windows, epochs, "
                       f"lr), not {shown(train_loop)}: the check trains a model of its own with it")
    gen = torch.Generator().manual_seed(31)
    train_w, val_w = _linear_windows(512, 2, gen), _linear_windows(128, 2, gen)
    model = seeded(32, lambda: ResNetStepper(2, 1.0, hidden=[32]))
    epochs, lr = 40, 1e-2
    with torch.no_grad():
        before = float(reference(model, val_w))
    weights = [w.detach().clone() for w in model.parameters()]
    out, err = call_student(train_loop, model, train_w.clone(), val_w.clone(), epochs, lr)
    if err:
        return report(False, name, f"train_loop(model, train_windows [512, 3, 2], val_windows [128, 3, 2], "
                       f"epochs={epochs}, lr={lr}) raised {err}")
    model.eval()
    with torch.no_grad():
        after = float(reference(model, val_w))
    history = [as_number(v) for v in out] if isinstance(out, (Sequence, np.ndarray, torch.Tensor)) else None
    if history is None or len(history) != epochs or any(v is None or not math.isfinite(v) for v in history):
        return report(False, name, f"return the validation loss after each of the {epochs} epochs ({epochs} "
                       f"finite numbers), got {shown(out)}")
    if all(torch.equal(w, v) for w, v in zip(weights, model.parameters())):
        return report(False, name, "the model's weights did not change: train the model you are given, in "
                       "place (an optimiser over model.parameters(), and optimiser.step() after backward)")
    if not after <= 0.1 * before:
        return report(False, name, f"after {epochs} epochs the validation loss of the trained model is "
                       f"{after / before:.2g} times its initial value (at least a tenfold drop was "
                       "expected): for each minibatch zero the gradients, compute your multistep loss, call "
                       "backward() and step the optimiser (descending, not ascending, the loss)")
    if not any(math.isclose(v, after, rel_tol=1e-3, abs_tol=1e-12) for v in (history[-1], min(history))):
        return report(False, name, "your history does not end at the trained model's validation loss: after "
                       "each epoch compute the multistep loss on the validation windows (model.eval(), "
                       "torch.no_grad()), not the training loss")
    return report(True, name, "")


def check_best_single_step(answer: float, errors: Mapping[float, float]) -> bool:
    """Exercise (Ch. 5): ``answer`` is the step size whose single-scale forecast has the least error."""
    table = {float(k): as_number(v) for k, v in errors.items()}
    if any(v is None for v in table.values()):
        raise TypeError("errors must map step sizes to single numbers")
    best = min(table, key=table.get)
    ok = close(answer, best, 1e-9)
    return report(ok, "best single step size", f"got {shown(answer)}; compare the integrated MSE of each "
                   "single-scale forecast over the whole horizon (smallest wins) and answer with its step "
                   "size")


# ============================================================================================
# Chapter 2 (multiscale coupling)
# ============================================================================================
def check_interpolation(fill: Callable) -> bool:
    """Exercise (Ch. 2): ``fill(known_idx [M], known_x [B, M, D], n_steps) -> [B, n_steps + 1, D]``
    interpolates linearly between the states at the sorted integer indices ``known_idx`` (compared with
    ``numpy.interp`` on index sets and states drawn here)."""
    name = "interpolation"
    if not callable(fill):
        return report(False, name, f"pass your function fill(known_idx, known_x, n_steps), got "
                       f"{shown(fill)}")
    gen = torch.Generator().manual_seed(0)
    for known in ([0, 8, 16, 24], [0, 3, 4, 10, 12], [0, 5]):
        idx = torch.tensor(known)
        x = torch.randn(3, len(known), 2, generator=gen, dtype=torch.float64)
        n = known[-1]
        out, err = call_student(fill, idx, x.clone(), n)
        if err:
            return report(False, name, f"fill with known indices {known} raised {err}")
        got = as_tensor(out)
        want = torch.from_numpy(np.stack([np.stack([np.interp(np.arange(n + 1), known, x[b, :, d].numpy())
                                                     for d in range(x.shape[2])], axis=-1)
                                           for b in range(x.shape[0])]))
        if got is None or got.shape != want.shape:
            return report(False, name, f"for known indices {known} expected shape {tuple(want.shape)} "
                           f"[B, n_steps + 1, D], got {shown(out)}")
        if not torch.allclose(got, want, atol=1e-12):
            return report(False, name, f"wrong values for known indices {known}: between indices a < j < b "
                           "use x_a + (j - a) / (b - a) * (x_b - x_a), and keep x_j where j is known")
    return report(True, name, "")


def check_multiscale_forecast(forecast: Callable) -> bool:
    """Exercise (Ch. 2): ``forecast(steppers, x0 [B, D], n_steps) -> [B, n_steps + 1, D]`` is the fill stage
    of Algorithm 1 on the finest level's grid, ``steppers`` ordered coarsest first, each step an integer
    multiple of the next finer one. Judged against :meth:`hitslite.multiscale.Hierarchy.forecast` on
    hierarchies of random linear steppers the check draws (every level a different map), and by its
    sequential calls: one batched call per sub-step, as many as :meth:`~hitslite.multiscale.Hierarchy.cost`
    counts."""
    from ..multiscale import Hierarchy

    name = "multiscale forecast"
    if not callable(forecast):
        return report(False, name, "pass your function forecast(steppers, x0, n_steps), not "
                       f"{shown(forecast)}: the check runs it on hierarchies of its own")
    gen = torch.Generator().manual_seed(23)
    h = 0.05
    # (strides in output samples, coarsest first; n_steps; state dim): nested ratios of 2, 3 and 8, and
    # horizons the coarsest level overshoots (the output stops at n_steps)
    for strides, n, dim in (((4, 2, 1), 16, 2), ((9, 3, 1), 25, 3), ((8, 1), 19, 2), ((12, 6, 2, 1), 30, 2)):
        maps = [torch.eye(dim, dtype=torch.float64)
                + 0.15 * torch.randn(dim, dim, generator=gen, dtype=torch.float64) for _ in strides]
        levels = [counted(linear_stepper(a, s * h)) for a, s in zip(maps, strides)]
        x0 = torch.randn(5, dim, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            want = Hierarchy([level.inner for level in levels]).forecast(x0, n).x
        calls = Hierarchy(levels).cost(n)["calls"]
        label = f"levels of {', '.join(str(s) for s in strides)} output steps, n_steps = {n}"
        out, err = call_student(forecast, levels, x0.clone(), n)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        wrong = mismatch(output_array(out), want, rtol=1e-9, atol=1e-12)
        if wrong:
            return report(False, name, f"for {label} your forecast has {wrong}: the coarsest level "
                           "steps from x0 until it reaches or passes n_steps; then each finer level steps "
                           "(ratio to the next coarser level - 1) times from every state known so far; keep "
                           "states on the finest level's grid and return the first n_steps + 1")
        used = sum(level.calls for level in levels)
        if used != calls:
            more = "more" if used > calls else "fewer"
            return report(False, name, f"for {label} the values are right but your forecast made {used} "
                           f"sequential stepper calls, {more} than Algorithm 1 makes: stack every known "
                           "state into one batch and call each finer level once per sub-step")
    return report(True, name, "")


def check_two_pass_selection(select: Callable) -> bool:
    """Exercise (Ch. 2): ``select(steppers, val) -> (lower, upper)`` reproduces HiTS Sec. 2.3's two passes
    (compared with :func:`hitslite.select_levels` on a planted case with a unique answer)."""
    from ..multiscale import select_levels
    from ..steppers import RK4, Repeated, rollout
    from ..systems import get_system

    name = "two-pass selection"
    if not callable(select):
        return report(False, name, f"pass your function select(steppers, val), got {shown(select)}")
    system = get_system("harmonic_oscillator")
    fine = RK4(system, 0.01)
    exact = [Repeated(fine, 2**k) for k in range(6)]
    biases = [3e-3, 1e-4, 2e-5, 0.0, 0.1, 0.1]  # distinct, so neither pass has a tie
    steppers = [biased(level, torch.tensor(b, dtype=torch.float64)) for level, b in zip(exact, biases)]
    val = rollout(fine, system.sample_initial(8, torch.Generator().manual_seed(5)), 256)
    want = select_levels(steppers, val)
    out, err = call_student(select, steppers, val)
    if err:
        return report(False, name, f"select raised {err}")
    try:
        got = tuple(as_integer(v) for v in out)
    except TypeError:
        got = None
    if got is None or len(got) != 2 or None in got:
        return report(False, name, f"select should return two indices (lower, upper), got {shown(out)}")
    return report(got == (want.lower, want.upper), name,
                   f"got {got} on a planted six-level case; pass 1 scores steppers[0..u] for every u and "
                   "keeps the best u; pass 2 scores steppers[l..u] for every l <= u and keeps the best l "
                   "(validation MSE of the forecast)")
