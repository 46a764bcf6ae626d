"""Checks for the exercises of Part III (LED), Chapters 10-12."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .common import (
    as_tensor,
    call_student,
    close,
    mismatch,
    output_array,
    report,
    seeded,
    shown,
)

__all__ = [
    "check_nad", "check_led_forecast", "check_schedule_speedup", "check_alternation",
    "check_saturation_nad", "check_particle_moments", "check_self_similar_wd", "check_set_encoder",
]


# ============================================================================================
# Part III, Chapters 10-11 (LED on FHN and KS)
# ============================================================================================
def check_nad(nad_fn: Callable) -> bool:
    """Exercise (Ch. 10): ``nad_fn(pred, truth) -> [B, T]``, the NAD (LED SI eq. 22) of one channel's
    fields ``[B, T, n]``. Judged against :func:`hitslite.metrics.nad` on fields the check draws, whose
    trajectories have different ranges (and whose forecasts have ranges of their own)."""
    from ..metrics import nad

    name = "NAD"
    if not callable(nad_fn):
        return report(False, name, f"pass your function nad(pred, truth), not {shown(nad_fn)}: the check "
                       "runs it on fields of its own")
    gen = torch.Generator().manual_seed(22)
    for b, t, n in ((3, 7, 9), (2, 12, 5)):
        scale = torch.logspace(-1, 1, b, dtype=torch.float64)[:, None, None]
        truth = scale * (torch.randn(b, t, n, generator=gen, dtype=torch.float64)
                         + torch.linspace(0, 2, t, dtype=torch.float64)[:, None])
        pred = 1.5 * truth + 0.3 * scale * torch.randn(b, t, n, generator=gen, dtype=torch.float64)
        want = nad(pred, truth)
        out, err = call_student(nad_fn, pred.clone(), truth.clone())
        case = f"{b} trajectories of {t} steps on {n} nodes"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        wrong = mismatch(output_array(out), want, rtol=1e-8, atol=1e-12)
        if wrong:
            return report(False, name, f"for {case} your NAD has {wrong}: one value per trajectory and "
                           "time; |y - y_hat| averaged over the nodes, divided by the range (max - min) of "
                           "the TRUE field of that trajectory over all nodes AND all times (not per time "
                           "step, not over the whole batch, not the forecast's range)")
    return report(True, name, "")


def _small_led(seed: int, cell: str, state_shape: tuple[int, ...], latent_dim: int = 3):
    """A small random float64 LED (autoencoder and recurrent cell) with a non-trivial latent scaling."""
    from ..led import LED
    from ..nets import Autoencoder
    from ..neural import RecurrentStepper

    def build():
        ae = Autoencoder(state_shape, latent_dim, hidden=(8,)).double()
        rnn = RecurrentStepper(latent_dim, hidden=6, cell=cell, dt=1.0).double()
        with torch.no_grad():
            rnn.fit_scaling(ae.encode(torch.randn(64, *state_shape, dtype=torch.float64)))
        return LED(ae, rnn, ae)

    return seeded(seed, build)


def check_led_forecast(led_forecast: Callable) -> bool:
    """Exercise (Ch. 10): ``led_forecast(led, x_warm [B, W, *S], n_steps) -> [B, n_steps + 1, *S]``: encode
    the warm-up states, teacher-force ``led.propagator`` on all but the last, then propagate ``n_steps``
    latent steps from the last and decode (index 0 is ``decode(z_0)``). Judged against
    :meth:`hitslite.led.LED.forecast` on small random LEDs (an LSTM and a GRU) the check draws, with a
    warm-up of several states and one of a single state."""
    name = "LED forecast"
    if not callable(led_forecast):
        return report(False, name, f"pass your function led_forecast(led, x_warm, n_steps), not "
                       f"{shown(led_forecast)}: the check runs it on models of its own")
    gen = torch.Generator().manual_seed(23)
    for seed, (cell, shape, warm, n_steps, batch) in enumerate((("lstm", (2, 4), 5, 7, 3),
                                                                ("gru", (6,), 1, 4, 2))):
        led = _small_led(30 + seed, cell, shape)
        x_warm = torch.randn(batch, warm, *shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            want = led.forecast(x_warm, n_steps).x
            out, err = call_student(led_forecast, led, x_warm.clone(), n_steps)
        states = "states" if warm > 1 else "state"
        case = f"an {cell.upper()} with a warm-up of {warm} {states} and {n_steps} steps"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        wrong = mismatch(output_array(out), want, rtol=1e-6, atol=1e-9)
        if wrong:
            return report(False, name, f"for {case} your forecast has {wrong}: the cell is teacher-forced on "
                           "z_{-W+1} .. z_{-1} (all warm-up states but the last; none when W = 1), then runs "
                           "freely from z_0 with that carry; return decode of z_0, z_1, .., z_n "
                           "([B, n + 1, *S])")
    return report(True, name, "")


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


def check_saturation_nad(answer: float, truth) -> bool:
    """Exercise (Ch. 11): NAD between true trajectories i and i+1 (cyclically), mean over all."""
    from ..metrics import nad

    truth = as_tensor(truth)
    want = float(nad(torch.roll(truth, 1, dims=0), truth).mean())
    return report(close(answer, want, 1e-3), "saturation NAD", f"got {shown(answer)}; compare each true "
                   "trajectory with another one (torch.roll over the batch) with nad(), mean over everything")


def alternation_variant(led, solver, x_warm, n_steps, T_m, T_mu, feed):
    """LED's alternation written out, with the teacher forcing of the solver phases as ``feed``:
    ``"none"`` or ``"new"`` (the solver's new states only) — the two usual slips, named in the hints."""
    with torch.no_grad():
        z, carry = led.warm_up(x_warm)
        out, pos = [led.decode(z)], 0
        while pos < n_steps:
            for _ in range(min(T_m, n_steps - pos)):
                z, carry = led.propagator.step(z, carry)
                out.append(led.decode(z))
                pos += 1
            if pos >= n_steps:
                break
            x, states = led.decode(z).to(x_warm.dtype), []
            for _ in range(min(T_mu, n_steps - pos)):
                x = solver(x)
                states.append(x)
            zs = led.encode(torch.stack(states, dim=1))
            if feed == "new":
                _, carry = led.propagator.teacher_forced(zs, carry, return_carry=True)
            out += states
            pos += len(states)
            z = zs[:, -1]
        return torch.stack(out, dim=1)


def check_alternation(alternate: Callable) -> bool:
    """Exercise (Ch. 11): ``alternate(led, solver, x_warm, n_steps, T_m, T_mu) -> [B, n_steps + 1, *S]``
    is LED's multiscale forecast (SI 6.6) with a carry-free ``solver`` (one coarse step, ``x -> x_next``):
    after the warm-up, ``T_m`` latent steps, then ``T_mu`` solver steps from the decoded state whose
    encodings are fed to the cell, and so on. Judged against :meth:`hitslite.led.LED.multiscale_forecast`
    on small random LEDs and a cheap nonlinear solver the check draws, with horizons that end inside a
    phase."""
    from ..steppers import Stepper

    class CheapSolver(Stepper):
        def __init__(self):
            super().__init__()
            self.dt = 1.0

        def forward(self, x):
            return 0.8 * x + 0.3 * torch.tanh(x.flatten(1).roll(1, dims=-1).reshape(x.shape))

    name = "multiscale alternation"
    if not callable(alternate):
        return report(False, name, f"pass your function alternate(led, solver, x_warm, n_steps, T_m, T_mu), "
                       f"not {shown(alternate)}: the check runs it on models of its own")
    solver = CheapSolver()
    gen = torch.Generator().manual_seed(24)
    for seed, (cell, shape, T_m, T_mu, n_steps) in enumerate((("lstm", (2, 4), 3, 2, 12),
                                                              ("gru", (5,), 4, 3, 9),
                                                              ("lstm", (5,), 2, 4, 7))):
        led = _small_led(40 + seed, cell, shape)
        x_warm = torch.randn(2, 4, *shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            want = led.multiscale_forecast(x_warm, n_steps, solver, macro_steps=T_m, micro_steps=T_mu).x
            out, err = call_student(alternate, led, solver, x_warm.clone(), n_steps, T_m, T_mu)
        case = f"T_m = {T_m}, T_mu = {T_mu} over {n_steps} steps"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        got = output_array(out)
        wrong = mismatch(got, want, rtol=1e-6, atol=1e-9)
        if wrong is None:
            continue
        hint = ("latent phase first; states of a latent phase are decoded latents, states of a solver phase "
                "the solver's own; each solver phase starts from the decoded last latent state, and the next "
                "latent phase from the encoding of the solver's last state")
        if got is not None and got.shape == want.shape:
            for feed, slip in (("none", "the solver's states never reach the cell: teacher-force it on them"),
                               ("new", "the cell must see each state once, in order: the hand-over state "
                                       "(the last latent) and then the solver's states except the last, "
                                       "which starts the next latent phase")):
                if torch.allclose(got, alternation_variant(led, solver, x_warm, n_steps, T_m, T_mu, feed),
                                  rtol=1e-6, atol=1e-9):
                    hint = slip
        return report(False, name, f"for {case} your forecast has {wrong}: {hint}")
    return report(True, name, "")


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


def check_set_encoder(encode_set: Callable) -> bool:
    """Exercise (Ch. 12): ``encode_set(phi, g, x [..., N, d]) -> z [..., d_z]`` is LED's permutation-invariant
    encoder (SI 6.3) on the box ``[-1/2, 1/2]^d``: scale each particle into ``[0, 1]^d``, apply ``phi`` to
    each, average over the particles, apply ``g``. Judged on fixed random weights against
    :class:`hitslite.nets.PermutationInvariantEncoder` on configurations the check draws (different N and
    leading axes), and for invariance under a random reordering of the particles."""
    from ..nets import PermutationInvariantEncoder

    name = "set encoder"
    if not callable(encode_set):
        return report(False, name, f"pass your function encode_set(phi, g, x), not {shown(encode_set)}: the "
                       "check runs it on an encoder of its own")
    gen = torch.Generator().manual_seed(25)
    for seed, (d, dz, shape) in enumerate(((3, 4, (5, 40)), (1, 2, (2, 3, 17)))):
        enc = seeded(50 + seed, lambda d=d, dz=dz: PermutationInvariantEncoder(d, dz, feature_dim=6, width=8,
                                                                              layers=2).double())
        x = torch.rand(*shape, d, generator=gen, dtype=torch.float64) - 0.5
        x[..., 0, :] = 0.45  # one particle in every configuration sits near a wall
        case = f"configurations {tuple(x.shape)}"
        with torch.no_grad():
            want = enc(x)
            out, err = call_student(encode_set, enc.phi, enc.g, x.clone())
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        got = output_array(out)
        wrong = mismatch(got, want, rtol=1e-6, atol=1e-9)
        if wrong:
            hint = "z = g(mean over the particles (axis -2) of phi(x + 1/2))"
            if got is not None and got.shape == want.shape:
                with torch.no_grad():
                    if torch.allclose(got, enc.g(enc.phi(x + 0.5).sum(dim=-2)), rtol=1e-6, atol=1e-9):
                        hint = "average the features over the particles, do not add them (N would change z)"
                    elif torch.allclose(got, enc.g(enc.phi(x).mean(dim=-2)), rtol=1e-6, atol=1e-9):
                        hint = "map the box [-1/2, 1/2]^d onto [0, 1]^d before phi"
            return report(False, name, f"for {case} your latent states have {wrong}: {hint}")
        perm = torch.randperm(x.shape[-2], generator=gen)
        with torch.no_grad():
            out2, err = call_student(encode_set, enc.phi, enc.g, x[..., perm, :].clone())
        if err or mismatch(output_array(out2), want, rtol=1e-6, atol=1e-9):
            return report(False, name, f"for {case} with the particles reordered your latent states change: "
                           "pool over the particle axis (-2) with a symmetric operation")
    return report(True, name, "")
