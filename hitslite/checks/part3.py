"""Checks for the exercises of Part III (LED), Chapters 10-12."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .common import as_number, as_tensor, call_student, close, report, shown

__all__ = [
    "check_mnad", "check_warmup_ratio", "check_led_flop_ratio", "check_schedule_speedup",
    "check_solver_phase_nad", "check_saturation_nad", "check_particle_moments", "check_self_similar_wd",
    "check_multiscale_speedup", "check_permutation_invariance"
]


# ============================================================================================
# Part III, Chapters 10-11 (LED on FHN and KS)
# ============================================================================================
def check_mnad(answer: float, pred, truth, channel: int) -> bool:
    """Exercise (Ch. 10): the MNAD (LED SI eqs. 22-23) of one channel of ``pred [B, T, C, n]``."""
    from ..metrics import mnad

    want = float(mnad(as_tensor(pred), as_tensor(truth), channel_axis=2)[channel])
    return report(close(answer, want, 1e-6), "MNAD", f"got {shown(answer)}; divide |y - y_hat| by the "
                   "range (max - min) of the TRUE field over all space and time, average over space, then "
                   "over time")


def check_warmup_ratio(answer: float, led, states, warm_up: int, steps: int = 50) -> bool:
    """Exercise (Ch. 10): mean activator NAD over ``steps`` steps after a one-state warm-up divided by
    the same after a ``warm_up``-state warm-up (trajectories ``states [B, T, 2, n]``)."""
    from ..metrics import nad

    states = states if isinstance(states, torch.Tensor) else torch.as_tensor(np.asarray(states))
    with torch.no_grad():
        truth = states[:, warm_up - 1: warm_up + steps]
        short = led.forecast(states[:, warm_up - 1: warm_up], steps).x
        full = led.forecast(states[:, :warm_up], steps).x
    want = float(nad(short, truth, channel_axis=2)[..., 0].mean()
                 / nad(full, truth, channel_axis=2)[..., 0].mean())
    return report(close(answer, want, 1e-3), "warm-up ratio", f"got {shown(answer)}; forecast {steps} "
                   f"steps after warm-ups of 1 and {warm_up} states, NAD of channel 0 against the truth from "
                   "the last warm-up state on, mean over time, short / full")


def check_led_flop_ratio(answer: float, latent_dim: int, hidden: int = 32) -> bool:
    """Exercise (Ch. 10): operations of 200 LB steps (2 x 3 x 101 populations, ~10 each) over one
    LSTM step (4 H (d_z + H) + H d_z multiply-adds)."""
    want = (200 * 2 * 3 * 101 * 10) / (4 * hidden * (latent_dim + hidden) + hidden * latent_dim)
    return report(close(answer, want, 0.05), "operation ratio", f"got {shown(answer)}; count the lattice-"
                   "Boltzmann operations per time unit (steps x channels x populations x nodes x ~10) and "
                   "the LSTM's (gates and read-out), with d_z your latent size, and divide LB by LSTM")


def _judge_speedup_formula(name: str, answer, rho, latent_speedup) -> bool:
    def formula(r, s):
        return (1 + r) / (1 + r / s)

    hint = ("per cycle of T_m + T_mu steps the solver alone costs (T_m + T_mu) c_S and the scheme "
            "T_m c_L + T_mu c_S; divide, write T_m = rho T_mu and c_S / c_L = S_latent")
    if callable(answer):  # a formula S(rho, s_latent): judged on pairs drawn here
        for r, s in ((5.0, 10.0), (0.5, 3.0), (20.0, 1.5), (100.0, 400.0)):
            out, err = call_student(answer, r, s)
            if err:
                return report(False, name, f"your S({r:g}, {s:g}) raised {err}")
            if not close(out, formula(r, s), 1e-6):
                return report(False, name, f"your S(rho={r:g}, S_latent={s:g}) is off; {hint}")
        return report(True, name, "")
    if rho is None or latent_speedup is None:
        return report(False, name, "pass rho and the latent speed-up your number was computed for")
    return report(close(answer, formula(float(rho), float(latent_speedup)), 1e-3), name,
                   f"got {shown(answer)}; {hint}")


def check_schedule_speedup(answer, rho: float | None = None, latent_speedup: float | None = None) -> bool:
    """Exercise (Ch. 11): S(rho) of an alternating LED schedule with ``T_m = rho T_mu``, ignoring encoding
    and decoding: your value for ``rho`` and ``latent_speedup``, or your formula ``S(rho, s_latent)`` itself
    (then judged on pairs drawn by the check)."""
    return _judge_speedup_formula("schedule speed-up", answer, rho, latent_speedup)


def check_solver_phase_nad(answer: float, pred, truth, *, T_m: int, T_mu: int) -> bool:
    """Exercise (Ch. 11): mean activator NAD over the solver's steps of a schedule (macro first)."""
    from ..metrics import nad

    pred, truth = as_tensor(pred), as_tensor(truth)
    n = pred.shape[1]
    mask = torch.zeros(n, dtype=torch.bool)
    pos = 0
    while pos < n - 1:
        pos += T_m
        mask[pos + 1: min(pos + T_mu, n - 1) + 1] = True
        pos += T_mu
    want = float(nad(pred, truth, channel_axis=2)[..., 0].mean(0)[mask].mean())
    return report(close(answer, want, 0.05), "NAD on solver steps", f"got {shown(answer)}; average the "
                   "activator NAD (mean over starts) over the steps the solver computed (micro_mask is "
                   "True), not over the hand-over states or the latent phases")


def check_saturation_nad(answer: float, truth) -> bool:
    """Exercise (Ch. 11): NAD between true trajectories i and i+1 (cyclically), mean over all."""
    from ..metrics import nad

    truth = as_tensor(truth)
    want = float(nad(torch.roll(truth, 1, dims=0), truth).mean())
    return report(close(answer, want, 1e-3), "saturation NAD", f"got {shown(answer)}; compare each true "
                   "trajectory with another one (torch.roll over the batch) with nad(), mean over everything")


# ============================================================================================
# Part III, Chapter 12 (LED on stochastic particles)
# ============================================================================================
def check_particle_moments(m1: float, m2: float, configuration) -> bool:
    """Exercise (Ch. 12): M1 and M2 of one configuration ``[N, d]``, each averaged over the d dimensions."""
    from ..metrics import moments

    want1, want2 = (float(v) for v in moments(as_tensor(configuration), average_dims=True))
    ok1, ok2 = close(m1, want1, 1e-4, 1e-7), close(m2, want2, 1e-4)
    wrong = " and ".join(w for w, ok in (("M1", ok1), ("M2", ok2)) if not ok)
    return report(ok1 and ok2, "particle moments", f"your {wrong} is off; mean over the particles (axis 0) "
                   "per dimension, population variance (divide by N, not N - 1), then average the d values")


def check_self_similar_wd(answer: float, truth_a, truth_b, runs: int) -> bool:
    """Exercise (Ch. 12): Wasserstein distance between the M2 of two independent true ensembles
    ``[B * runs, T, N, d]`` at the last time, first initial condition."""
    from ..metrics import moments, wasserstein

    m2 = [moments(as_tensor(x)[:runs, -1], average_dims=True)[1] for x in (truth_a, truth_b)]
    want = wasserstein(m2[0], m2[1])
    return report(close(answer, want, 1e-6, 1e-12), "self-similar WD", f"got {shown(answer)}; take M2 "
                   f"(averaged over dimensions) of runs 0..{runs - 1} at the last time in each set, then the "
                   "WD of the two samples")


def check_multiscale_speedup(answer, s_latent: float | None = None, rho: float | None = None) -> bool:
    """Exercise (Ch. 12): speed-up of alternating rho latent units per solver unit, ignoring encode/decode:
    your value for ``s_latent`` and ``rho``, or your formula ``S(rho, s_latent)`` (judged on drawn pairs)."""
    return _judge_speedup_formula("multiscale speed-up", answer, rho, s_latent)


def check_permutation_invariance(reversal_gap: Callable, model, configurations) -> bool:
    """Exercise (Ch. 12): ``reversal_gap(encode, x [..., N, d]) -> float`` is the largest
    ``|encode(x) - encode(x with the particle order reversed)|``.

    Judged twice: on ``model`` (an object with ``encode``, or a callable) and ``configurations`` it must be
    round-off (the encoder is permutation invariant), and on an order-dependent probe encoder and
    configurations drawn here it must equal the check's own value (so a function that returns 0, or flips
    the time or coordinate axis, fails).
    """
    name = "permutation invariance"
    if not callable(reversal_gap):
        return report(False, name, f"pass your function reversal_gap(encode, x), not "
                       f"{shown(reversal_gap)}: the check runs it on an encoder that is not permutation "
                       "invariant too")
    encode = model.encode if hasattr(model, "encode") else model
    x = configurations
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    with torch.no_grad():
        scale = float(encode(x).abs().max())
        out, err = call_student(reversal_gap, encode, x)
    if err:
        return report(False, name, f"reversal_gap on the model raised {err}")
    gap = as_number(out)
    if gap is None or not (0 <= gap <= 1e-4 * max(1.0, scale)):
        return report(False, name, f"on the model your gap is {shown(out)}, far above round-off: reverse "
                       "the particles (dimension -2), not the time or the coordinates, and take max "
                       "|difference|")

    gen = torch.Generator().manual_seed(7)
    probe_x = torch.rand(5, 40, 3, generator=gen, dtype=torch.float64) - 0.5
    weights = torch.linspace(1.0, 2.0, 40, dtype=torch.float64)[:, None]

    def ordered_encode(c):  # a weighted sum over particles: depends on their order
        return (weights * c).sum(dim=-2)

    want = float((ordered_encode(probe_x) - ordered_encode(probe_x.flip(dims=[-2]))).abs().max())
    out, err = call_student(reversal_gap, ordered_encode, probe_x.clone())
    if err:
        return report(False, name, f"reversal_gap on an order-dependent encoder raised {err}")
    return report(close(out, want, 1e-6), name, "on an encoder that weights particles by position your "
                   "function gives the wrong gap: encode x and x.flip(dims=[-2]) (the particle axis), and "
                   "return the largest absolute difference of the two latent states")
