"""Checks for the exercises of Part I (HiTS), Chapters 3-6: benchmarks, hybrids, noise, sequences."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .common import (
    as_integer,
    as_tensor,
    biased,
    call_student,
    close,
    counted,
    judge_timing,
    mismatch,
    not_a_number,
    output_array,
    report,
    shown,
)

__all__ = [
    "check_error_metrics",
    "check_interpolation_floor",
    "check_speedup",
    "check_error_horizon",
    "check_hybrid_forecast",
    "check_noise_std",
    "check_noisy_observations",
    "check_lstm_hidden",
    "check_spectral_radius",
    "check_esn_readout",
]


# ============================================================================================
# Chapter 3 (nonlinear benchmarks) and 4 (hybrids)
# ============================================================================================




def check_error_metrics(mse_per_step: Callable, integrated_mse: Callable) -> bool:
    """Exercise (Ch. 3): ``mse_per_step(pred, truth) -> [T]`` (the squared error at each time step, averaged
    over trajectories and every state component) and ``integrated_mse(pred, truth) -> one number`` (its
    mean over the time steps too, Table 6's measure), for forecasts ``[B, T, *S]``. Judged against
    :mod:`hitslite.metrics` on forecasts the check draws, states of one, two and two-by-three components."""
    from .. import metrics

    name = "error metrics"
    if not (callable(mse_per_step) and callable(integrated_mse)):
        return report(False, name, "pass your two functions, mse_per_step(pred, truth) and "
                       "integrated_mse(pred, truth): the check runs them on forecasts of its own")
    gen = torch.Generator().manual_seed(33)
    for shape in ((4, 11, 2), (3, 7, 1), (5, 6, 2, 3)):
        truth = torch.randn(shape, generator=gen, dtype=torch.float64)
        # a forecast whose error grows in time and differs between trajectories and components
        growth = torch.linspace(0.01, 1.0, shape[1], dtype=torch.float64)
        growth = growth.reshape(1, -1, *[1] * (len(shape) - 2))
        pred = truth + growth * torch.rand(shape, generator=gen, dtype=torch.float64) * 3
        label = f"forecasts of shape {list(shape)} [B, T, *state]"
        out, err = call_student(mse_per_step, pred.clone(), truth.clone())
        if err:
            return report(False, name, f"mse_per_step on {label} raised {err}")
        wrong = mismatch(output_array(out), metrics.mse_per_step(pred, truth), rtol=1e-6, atol=0.0)
        if wrong:
            return report(False, name, f"mse_per_step on {label} returned {wrong}: one value per time step "
                           "(axis 1), the mean of the squared error over trajectories and every state "
                           "component (no square root)")
        out, err = call_student(integrated_mse, pred.clone(), truth.clone())
        if err:
            return report(False, name, f"integrated_mse on {label} raised {err}")
        if not close(out, metrics.integrated_mse(pred, truth), 1e-6):
            return report(False, name, f"integrated_mse on {label} returned {shown(out)}, not the mean "
                           "of the squared error over trajectories, time steps and state components (one "
                           "number)")
    return report(True, name, "")


def _interpolation_floor(x: torch.Tensor, stride: int) -> float:
    """Integrated MSE of linear interpolation of ``x [B, T, *S]`` from its samples ``0, stride, …``."""
    grid = torch.arange(x.shape[1])
    left = (grid // stride) * stride
    right = (left + stride).clamp(max=x.shape[1] - 1)
    w = ((grid - left) / stride).to(x.dtype).reshape(1, -1, *[1] * (x.ndim - 2))
    return float(((x[:, left] + w * (x[:, right] - x[:, left]) - x) ** 2).mean())


def check_interpolation_floor(floor: Callable) -> bool:
    """Exercise (Ch. 3): ``floor(x [B, T, *S], stride) -> one number`` is the integrated MSE of linearly
    interpolating the true trajectories ``x`` from their samples ``0, stride, 2 stride, …`` (``T - 1`` a
    multiple of ``stride``) back onto every sample: the error a level of that step makes even with perfect
    states, the right arm of Fig. 6A's U. Judged against linear interpolation on trajectories the check
    draws (strides from 1, where the floor is zero, to the whole horizon)."""
    name = "interpolation floor"
    if not callable(floor):
        return report(False, name, f"pass your function floor(x, stride), not {shown(floor)}: the check "
                       "runs it on trajectories of its own")
    gen = torch.Generator().manual_seed(37)
    t = torch.linspace(0, 6, 65, dtype=torch.float64)
    for shape, strides in (((6, 65, 2), (1, 4, 16, 64)), ((3, 65, 2, 3), (8, 2))):
        freq = 0.5 + 2 * torch.rand(shape[0], 1, *shape[2:], generator=gen, dtype=torch.float64)
        phase = 2 * math.pi * torch.rand(shape[0], 1, *shape[2:], generator=gen, dtype=torch.float64)
        x = torch.sin(freq * t.reshape(1, -1, *[1] * (len(shape) - 2)) + phase) + 0.3 * t.reshape(
            1, -1, *[1] * (len(shape) - 2))
        for stride in strides:
            label = f"x of shape {list(shape)}, stride {stride}"
            out, err = call_student(floor, x.clone(), stride)
            if err:
                return report(False, name, f"for {label} your function raised {err}")
            if not close(out, _interpolation_floor(x, stride), 1e-6, 1e-15):
                return report(False, name, f"for {label} got {shown(out)}: keep the samples 0, stride, "
                               "2 stride, … (they lie on the interpolant), interpolate linearly in between, "
                               "and average the squared difference from x over trajectories, every time step "
                               "and every state component (one number)")
    return report(True, name, "")


def check_speedup(answer: float, slow, fast: Callable[[], object] | None = None) -> bool:
    """Exercise (Ch. 4): the speed-up ``answer`` of a fast computation over a slow one.

    ``slow`` is either a :class:`~hitslite.multiscale.LevelComparison` (Ch. 3: the finest coupled level
    alone over the multiscale forecast, read from the comparison), or, with ``fast``, the two computations
    as functions without arguments (Ch. 4): the check runs them, checks that they forecast the same states
    over the same horizon and that ``answer`` is a positive ratio. It does not time them: wall times
    depend on the machine and its load.
    """
    return judge_timing("speed-up", answer, slow, fast)


def check_error_horizon(answer: float, t, curve, threshold: float = 1.0) -> bool:
    """Exercise (Ch. 3): the first time at which the per-step MSE ``curve [T]`` (times ``t [T]``) reaches
    ``threshold`` (``inf`` if it never does)."""
    curve, t = as_tensor(curve), as_tensor(t)
    above = (curve >= threshold).nonzero()
    want = float(t[above[0, 0]]) if len(above) else math.inf
    return report(close(answer, want, 1e-9), "error horizon", f"got {shown(answer)}; find the first index "
                   f"where the per-step MSE is at least {threshold:g} and read the time there (inf if it "
                   "never is)")


def check_hybrid_forecast(hybrid: Callable) -> bool:
    """Exercise (Ch. 4): ``hybrid(coarse, fine, x0 [B, D], n_steps) -> [B, n_steps + 1, D]`` is Algorithm 2:
    the coarse stepper (step ``m`` times the fine one's) from ``x0`` until it reaches or passes ``n_steps``,
    then the classical fine stepper (RK4) ``m - 1`` times from all coarse states at once, on the fine grid.
    Judged against :class:`hitslite.multiscale.Hierarchy` ``([coarse, fine])`` on coarse steppers with a
    planted error, RK4 on two systems, and horizons the check draws, and by its calls: ``m - 1`` batched
    RK4 calls, not one chain per coarse state."""
    from ..multiscale import Hierarchy
    from ..steppers import RK4, Repeated
    from ..systems import get_system

    name = "hybrid forecast"
    if not callable(hybrid):
        return report(False, name, "pass your function hybrid(coarse, fine, x0, n_steps), not "
                       f"{shown(hybrid)}: the check runs it on steppers of its own")
    gen = torch.Generator().manual_seed(44)
    cases = (("van_der_pol", 0.05, 8, 40), ("hyperbolic", 0.02, 5, 23), ("van_der_pol", 0.1, 4, 3))
    for system_name, h, m, n in cases:
        system = get_system(system_name)
        fine = RK4(system, h)
        x0 = system.sample_initial(6, gen)
        # the "network": m RK4 steps plus a planted error, so that it differs from the fine level
        bias = 1e-3 * torch.randn(x0.shape[1:], generator=gen, dtype=torch.float64)
        coarse = counted(biased(Repeated(RK4(system, h), m), bias))
        counted_fine = counted(fine)
        with torch.no_grad():
            want = Hierarchy([coarse.inner, fine]).forecast(x0, n).x
        label = f"{system_name}, RK4 step {h:g}, coarse step {m} of them, n_steps = {n}"
        out, err = call_student(hybrid, coarse, counted_fine, x0.clone(), n)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        wrong = mismatch(output_array(out), want, rtol=1e-9, atol=1e-12)
        if wrong:
            return report(False, name, f"for {label} your forecast has {wrong}: step the coarse stepper "
                           "from x0 ceil(n_steps / m) times; from every coarse state take m - 1 RK4 steps; "
                           "put the states in time order on the fine grid and keep the first n_steps + 1")
        if counted_fine.calls != m - 1 or coarse.calls != -(-n // m):
            return report(False, name, f"for {label} the values are right but your forecast called RK4 "
                           f"{counted_fine.calls} times and the coarse stepper {coarse.calls} times: step "
                           "all coarse states as one batch, so that RK4 is called once per sub-step")
    return report(True, name, "")


# ============================================================================================
# Chapter 5 (noise)
# ============================================================================================
def check_noise_std(answer, component_std, level: float, interpretation: str = "std") -> bool:
    """Exercise (Ch. 5): the noise standard deviation per component for a noise ``level`` given as a
    fraction of each component's standard deviation (``"std"``) or of its variance (``"variance"``)."""
    if interpretation not in ("std", "variance"):
        raise ValueError(f"interpretation must be 'std' or 'variance', got {interpretation!r}")
    std, got, q = as_tensor(component_std), as_tensor(answer), float(level)
    want = q * std if interpretation == "std" else math.sqrt(q) * std
    ok = got is not None and got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-6))
    hint = ("a fraction q of each component's standard deviation: scale the per-component stds by q"
            if interpretation == "std" else
            "noise with a fraction q of the variance has variance q * std^2: take its square root")
    return report(ok, f"noise std ({interpretation})", f"got {shown(answer)}; one value per component, "
                   f"shaped like the stds; {hint}")


def _noise_test_data(gen: torch.Generator) -> torch.Tensor:
    """Clean "training trajectories" ``[48, 240, 3]``: oscillations whose amplitude differs from one
    trajectory to the next (0.3 to 3), with per-component scales 0.2, 1, 5 and offsets 1, -2, 0.5."""
    t = torch.linspace(0, 12, 240, dtype=torch.float64)
    amp = torch.exp(torch.empty(48, 1, 1, dtype=torch.float64).uniform_(math.log(0.3), math.log(3.0),
                                                                           generator=gen))
    phase = 2 * math.pi * torch.rand(48, 1, 3, generator=gen, dtype=torch.float64)
    freq = torch.tensor([0.7, 1.3, 2.1], dtype=torch.float64)
    scale = torch.tensor([0.2, 1.0, 5.0], dtype=torch.float64)
    offset = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return offset + scale * amp * torch.sin(freq * t[None, :, None] + phase)


def check_noisy_observations(observe: Callable) -> bool:
    """Exercise (Ch. 5): ``observe(x [B, T, D], level, generator) -> [B, T, D]`` returns noisy observations
    of the clean training trajectories ``x`` as HiTS App. B.2 (the authors' code) defines them: independent
    Gaussian noise on every sample and component, with standard deviation ``level`` times that component's
    standard deviation over all of ``x``, drawn from ``generator``. Judged by its statistics against
    :func:`hitslite.data.add_noise` on data the check draws (components of very different scales,
    trajectories of different amplitudes): per-component noise level, the same level in every trajectory,
    zero mean, no correlation between neighbouring samples or components, reproducible from the
    generator, and ``x`` left unchanged."""
    from ..data import Trajectory, add_noise

    name = "noisy observations"
    if not callable(observe):
        return report(False, name, f"pass your function observe(x, level, generator), not {shown(observe)}: "
                       "the check runs it on trajectories of its own")
    x = _noise_test_data(torch.Generator().manual_seed(55))
    d = x.shape[-1]
    scale = x.reshape(-1, d).std(dim=0)
    for level in (0.02, 0.2):
        label = f"level {level:g}, x [48, 240, 3]"
        ref = add_noise(Trajectory(torch.arange(x.shape[1]) * 0.05, x, 0.05), level, scale, seed=7).x - x
        kept = x.clone()
        out, err = call_student(observe, x, level, torch.Generator().manual_seed(1))
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = output_array(out)
        if got is None or got.shape != x.shape or not bool(torch.isfinite(got).all()):
            return report(False, name, f"for {label} return noisy states shaped like x, got {shown(out)}")
        if not torch.equal(x, kept):
            return report(False, name, "your function changed x itself: return x + noise as a new tensor "
                           "(the clean data are needed again, e.g. for the other noise level)")
        noise = got - x
        flat, flat_ref = noise.reshape(-1, d), ref.reshape(-1, d)
        if float(noise.abs().max()) == 0.0:
            return report(False, name, f"for {label} your observations equal x: add the noise")
        centred = noise - noise.mean(dim=(0, 1))
        lag = (centred[:, 1:] * centred[:, :-1]).mean(dim=(0, 1)) / centred.var(dim=(0, 1))
        cross = torch.corrcoef(flat.T) - torch.eye(d, dtype=flat.dtype)
        if bool((lag.abs() > 0.05).any()) or float(cross.abs().max()) > 0.05:
            return report(False, name, f"for {label} the noise is correlated between neighbouring times or "
                           "between components: draw an independent value for every trajectory, time and "
                           "component (torch.randn(x.shape, generator=generator))")
        n = flat.shape[0]
        if bool((flat.mean(dim=0).abs() > 5 * flat.std(dim=0) / math.sqrt(n)).any()):
            return report(False, name, f"for {label} the noise does not have mean zero: draw it from a "
                           "centred Gaussian (torch.randn), not torch.rand")
        ratio = flat.std(dim=0) / flat_ref.std(dim=0)
        if not bool(((ratio - 1).abs() < 0.06).all()):
            off = [i for i in range(d) if abs(float(ratio[i]) - 1) >= 0.06]
            return report(False, name, f"for {label} the noise has the wrong size in component(s) "
                           f"{off}: its standard deviation is level times that component's standard "
                           "deviation over all trajectories and times (x.reshape(-1, D).std(0)), not the "
                           "variance, not one scale for all components")
        per_traj = noise.std(dim=1) / ref.std(dim=1)  # [B, D]
        amp_order = x.std(dim=1).mean(dim=1).argsort()
        low, high = per_traj[amp_order[:16]].mean(), per_traj[amp_order[-16:]].mean()
        if not abs(float(high / low) - 1) < 0.1:
            return report(False, name, f"for {label} the noise is {float(high / low):.2g} times larger on "
                           "the large-amplitude trajectories than on the small ones: take one standard "
                           "deviation per component over the whole training set, not per trajectory")
        again, err = call_student(observe, x, level, torch.Generator().manual_seed(1))
        other, err2 = call_student(observe, x, level, torch.Generator().manual_seed(2))
        if err or err2 or output_array(again) is None or not torch.equal(output_array(again), got) \
                or output_array(other) is None or torch.equal(output_array(other), got):
            return report(False, name, f"for {label} the same generator seed does not give the same noise "
                           "(or another seed gives the same): draw with the generator you are given, "
                           "torch.randn(..., generator=generator), not the global random state")
    return report(True, name, "")


# ============================================================================================
# Chapter 6 (sequence generation)
# ============================================================================================
def check_lstm_hidden(hidden: int, dim: int, target: int) -> bool:
    """Exercise (Ch. 6): the LSTM width whose Table 3 count is closest to ``target`` for states of ``dim``
    (reference: :func:`hitslite.baselines.match_hidden`)."""
    from ..baselines import match_hidden, table3_count

    got = as_integer(hidden)
    if got is None or got < 1:
        return not_a_number("LSTM width", hidden, "a positive whole number")
    want = match_hidden("LSTM", int(target), int(dim))
    return report(got == want, "LSTM width",
                   f"got {got} ({table3_count('LSTM', int(dim), got)} parameters, target {target}); an LSTM "
                   "layer has 4 H (D + H) weights and 8 H biases, the read-out H D + D: solve the quadratic "
                   "in H and compare the counts of the integers on either side")


def check_spectral_radius(matrix, rho: float) -> bool:
    """Exercise (Ch. 6): square ``matrix`` (tensor or array) has spectral radius ``rho`` (to 1e-4)."""
    m, rho = as_tensor(matrix), float(rho)
    if m is None or m.ndim != 2 or m.shape[0] != m.shape[1]:
        return report(False, "spectral radius", f"expected a square matrix, got {shown(matrix)}")
    radius = float(torch.linalg.eigvals(m).abs().max())
    return report(abs(radius - rho) <= 1e-4 * rho, "spectral radius",
                   f"the largest |eigenvalue| of your matrix is {radius:.6g}; divide by the current spectral "
                   "radius (not the largest entry or the 2-norm) and multiply by the target")



def check_esn_readout(fit_readout: Callable) -> bool:
    """Exercise (Ch. 6): ``fit_readout(esn, x [B, T, D], ridge) -> W_out [D, N]`` is the echo-state network's
    read-out: ridge regression of the next states ``x[:, 1:]`` on the reservoir states driven by
    ``x[:, :-1]`` (``esn.states``), with the penalty ``ridge`` relative to the mean diagonal of
    ``R^T R``, solved in float64. Judged against
    :meth:`hitslite.baselines.EchoStateNetwork.fit_readout` on random reservoirs and sequences the check
    draws (the reservoir handed to the student refuses to fit itself)."""
    from ..baselines import EchoStateNetwork

    class _Sealed(EchoStateNetwork):
        def fit_readout(self, *args, **kwargs):
            raise NotImplementedError("this reservoir does not fit its own read-out: solve the ridge "
                                      "regression yourself from esn.states(...)")

    name = "ESN read-out"
    if not callable(fit_readout):
        return report(False, name, "pass your function fit_readout(esn, x, ridge), not "
                       f"{shown(fit_readout)}: the check runs it on reservoirs of its own")
    gen = torch.Generator().manual_seed(66)
    for dim, units, batch, steps, ridge, seed in ((3, 60, 2, 80, 1e-2, 1), (2, 40, 1, 150, 1e-6, 2)):
        options = {"spectral_radius": 0.8, "input_scale": 0.5, "seed": seed}
        t = torch.linspace(0, 10, steps)
        phase = 2 * math.pi * torch.rand(batch, 1, dim, generator=gen)
        x = torch.sin(torch.arange(1, dim + 1) * t[None, :, None] + phase) \
            + 0.1 * torch.randn(batch, steps, dim, generator=gen)
        reference = EchoStateNetwork(dim, units, **options)
        reference.fit_readout(x, ridge=ridge)
        want = reference.readout.detach().double()
        label = f"a reservoir of {units} units, x [{batch}, {steps}, {dim}], ridge {ridge:g}"
        out, err = call_student(fit_readout, _Sealed(dim, units, **options), x.clone(), ridge)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = output_array(out)
        if got is None or got.shape != want.shape:
            return report(False, name, f"for {label} return W_out of shape [D, N] = {list(want.shape)} (the "
                           f"read-out maps a reservoir state to a state), got {shown(out)}")
        error = float((got - want).norm() / want.norm())
        if not error < 1e-4:
            return report(False, name, f"for {label} your read-out differs from the ridge solution by "
                           f"{error:.1e} (relative): pair the reservoir state driven by x[:, :n + 1] with "
                           "the target x[:, n + 1] (states of x[:, :-1], targets x[:, 1:]); add beta * I to "
                           "R^T R with beta = ridge times the mean of its diagonal; solve in float64")
    return report(True, name, "")
