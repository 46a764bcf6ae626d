"""Self-checks for the exercises: ``check_<exercise>(answer)`` prints PASS or a hint, returns a bool.

Checks compute their reference answers with the package itself — nothing is typed in by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["check_flow_map", "check_rk4_order", "check_sequential_calls", "check_best_single_step"]


def _report(ok: bool, name: str, hint: str) -> bool:
    print(f"PASS  {name}" if ok else f"NOT YET  {name}: {hint}")
    return ok


def check_flow_map(flow_map: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise (Ch. 1): ``flow_map(x [B, 2], dt) -> [B, 2]`` is the harmonic oscillator's exact flow map."""
    from .systems import get_system

    system = get_system("harmonic_oscillator")
    gen = torch.Generator().manual_seed(0)
    x = system.sample_initial(64, gen)
    worst = 0.0
    for dt in (0.008, 0.5, 3.0):
        try:
            got = torch.as_tensor(flow_map(x.clone(), dt), dtype=torch.float64)
        except Exception as err:  # noqa: BLE001 - report any failure to the student
            return _report(False, "flow map", f"calling flow_map(x, {dt}) raised {type(err).__name__}: {err}")
        if got.shape != x.shape:
            return _report(False, "flow map", f"expected shape {tuple(x.shape)}, got {tuple(got.shape)}")
        want = system.exact_solution(x, torch.tensor([dt], dtype=torch.float64))[:, 0]
        worst = max(worst, float((got - want).abs().max()))
    return _report(worst < 1e-10, "flow map",
                   f"max error {worst:.2e}; x(t) is x0 rotated clockwise by the angle t (x' = y, y' = -x)")


def check_rk4_order(order: float) -> bool:
    """Exercise (Ch. 1): the fitted convergence order of RK4 should be 4 (accept 3.8–4.2)."""
    ok = isinstance(order, (int, float)) and 3.8 <= order <= 4.2
    return _report(ok, "RK4 order", f"got {order!r}; fit log(error) against log(h) (slope of a straight line), "
                   "using step sizes where the error is far above round-off (~1e-13)")


def check_sequential_calls(answer: int, dts: Sequence[float], n_steps: int, dt: float | None = None) -> bool:
    """Exercise (Ch. 1/2): sequential stepper calls Algorithm 1 needs for ``n_steps`` with levels ``dts``."""
    from .multiscale import Hierarchy
    from .steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, x):
            return x

    want = Hierarchy([_Probe(d) for d in dts]).cost(n_steps, dt)["calls"]
    return _report(answer == want, "sequential calls",
                   f"got {answer!r}. The coarsest level steps ceil(n * dt / dt_0) times; every finer level "
                   "takes (ratio to the next coarser level - 1) steps, all starting points batched together")


def check_best_single_step(answer: float, errors: dict[float, float]) -> bool:
    """Exercise (Ch. 1): ``answer`` is the step size whose single-scale forecast has the least error."""
    best = min(errors, key=errors.get)
    ok = isinstance(answer, (int, float)) and math.isclose(answer, best, rel_tol=1e-9)
    return _report(ok, "best single step size", f"got {answer!r}; compare the integrated MSE of each single-scale "
                   "forecast over the whole horizon (smallest wins)")


# ============================================================================================
# Chapter 2 (multiscale coupling)
# ============================================================================================
__all__ += ["check_interpolation", "check_two_pass_selection"]


def check_interpolation(fill: Callable) -> bool:
    """Exercise (Ch. 2): ``fill(known_idx [M], known_x [B, M, D], n_steps) -> [B, n_steps + 1, D]``
    interpolates linearly between the states at the sorted integer indices ``known_idx``."""
    from .multiscale import _interpolate

    gen = torch.Generator().manual_seed(0)
    for known in ([0, 8, 16, 24], [0, 3, 4, 10, 12], [0, 5]):
        idx = torch.tensor(known)
        x = torch.randn(3, len(known), 2, generator=gen, dtype=torch.float64)
        n = known[-1]
        try:
            got = torch.as_tensor(fill(idx, x, n), dtype=torch.float64)
        except Exception as err:  # noqa: BLE001 - report any failure to the student
            return _report(False, "interpolation", f"fill raised {type(err).__name__}: {err}")
        want = _interpolate(idx, x, n)
        if got.shape != want.shape:
            return _report(False, "interpolation", f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}")
        if not torch.allclose(got, want, atol=1e-12):
            return _report(False, "interpolation", f"wrong values for known indices {known}: between indices a < j < b "
                           "use x_a + (j - a) / (b - a) * (x_b - x_a), and keep x_j where j is known")
    return _report(True, "interpolation", "")


def check_two_pass_selection(select: Callable) -> bool:
    """Exercise (Ch. 2): ``select(steppers, val) -> (lower, upper)`` reproduces HiTS Sec. 2.3's two passes
    (compared with :func:`hitslite.select_levels` on a planted case with a unique answer)."""
    from .multiscale import select_levels
    from .steppers import RK4, Repeated, Stepper, rollout
    from .systems import get_system

    class _Biased(Stepper):  # a level with a planted error per step
        def __init__(self, inner, bias):
            super().__init__()
            self.inner, self.bias, self.dt = inner, bias, inner.dt

        def forward(self, x):
            return self.inner(x) + self.bias

    system = get_system("harmonic_oscillator")
    fine = RK4(system, 0.01)
    exact = [Repeated(fine, 2**k) for k in range(6)]
    biases = [3e-3, 1e-4, 2e-5, 0.0, 0.1, 0.1]  # distinct, so neither pass has a tie
    steppers = [_Biased(level, b) for level, b in zip(exact, biases)]
    val = rollout(fine, system.sample_initial(8, torch.Generator().manual_seed(5)), 256)
    want = select_levels(steppers, val)
    try:
        got = tuple(select(steppers, val))
    except Exception as err:  # noqa: BLE001
        return _report(False, "two-pass selection", f"select raised {type(err).__name__}: {err}")
    return _report(got == (want.lower, want.upper), "two-pass selection",
                   f"got {got}; pass 1 scores steppers[0..u] for every u and keeps the best u; pass 2 scores "
                   "steppers[l..u] for every l <= u and keeps the best l (validation MSE of the forecast)")

# ============================================================================================
# Chapter 3 (nonlinear benchmarks)
# ============================================================================================
__all__ += ["check_speedup", "check_error_horizon"]


def check_speedup(answer: float, finest_seconds: float, multiscale_seconds: float) -> bool:
    """Exercise (Ch. 3): the speed-up of the multiscale forecast over its finest level alone."""
    want = finest_seconds / multiscale_seconds
    ok = isinstance(answer, (int, float)) and math.isclose(answer, want, rel_tol=1e-6)
    return _report(ok, "speed-up", f"got {answer!r}; divide the time of the finest coupled level alone by the "
                   "time of the multiscale forecast (both measured in the same run)")


def check_error_horizon(answer: float, t, curve, threshold: float = 1.0) -> bool:
    """Exercise (Ch. 3): the first time at which the per-step MSE ``curve`` reaches ``threshold``."""
    curve = torch.as_tensor(curve)
    above = (curve >= threshold).nonzero()
    want = float(torch.as_tensor(t)[above[0, 0]]) if len(above) else math.inf
    ok = isinstance(answer, (int, float)) and math.isclose(answer, want, rel_tol=1e-9)
    return _report(ok, "error horizon", f"got {answer!r}; find the first index where the per-step MSE is at least "
                   f"{threshold:g} and read the time there (inf if it never is)")

# ============================================================================================
# Chapter 5 (noise)
# ============================================================================================
__all__ += ["check_noise_std"]


def check_noise_std(answer, component_std, level: float, interpretation: str = "std") -> bool:
    """Exercise (Ch. 5): the noise standard deviation per component for a noise ``level`` given as a
    fraction of each component's standard deviation (``"std"``) or of its variance (``"variance"``)."""
    if interpretation not in ("std", "variance"):
        raise ValueError(f"interpretation must be 'std' or 'variance', got {interpretation!r}")
    std = torch.as_tensor(component_std, dtype=torch.float64)
    want = level * std if interpretation == "std" else math.sqrt(level) * std
    try:
        got = torch.as_tensor(answer, dtype=torch.float64)
        ok = got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-6))
    except (TypeError, ValueError, RuntimeError):
        ok = False
    return _report(ok, f"noise std ({interpretation})", f"got {answer!r}; a fraction q of the variance is a "
                   "fraction sqrt(q) of the standard deviation")

# ============================================================================================
# Chapter 7 (classical PDE and particle solvers; issue 3)
# ============================================================================================
__all__ += ["check_etdrk4_order", "check_lyapunov_exponent", "check_uniform_variance"]


def check_etdrk4_order(order: float) -> bool:
    """Exercise (Ch. 7): the fitted global order of ETDRK4 on Kassam & Trefethen's problem (accept 3.7–4.3)."""
    ok = bool(isinstance(order, (int, float)) and 3.7 <= order <= 4.3)
    return _report(ok, "ETDRK4 order", f"got {order!r}; use step sizes where the error is well above round-off "
                   "(~1e-12) and a reference with a step at least 10x smaller than the smallest tested")


def check_lyapunov_exponent(lam: float) -> bool:
    """Exercise (Ch. 7): the largest Lyapunov exponent of KS with L = 22 (0.048; accept ±25% for a short run)."""
    lam = float(lam) if isinstance(lam, (int, float, torch.Tensor)) else float("nan")
    ok = bool(math.isfinite(lam) and abs(lam - 0.048) <= 0.25 * 0.048)
    return _report(ok, "Lyapunov exponent", f"got {lam:.4f}; start on the attractor (drop >= 100 time units), "
                   "renormalise every ~1 time unit and average over >= 1000 time units and several trajectories")


def check_uniform_variance(variance: float, L: float = 1.0) -> bool:
    """Exercise (Ch. 7): the stationary per-axis variance of particles reflected in [-L/2, L/2] is L^2/12."""
    want = L**2 / 12
    ok = bool(isinstance(variance, (int, float)) and abs(variance - want) <= 0.05 * want)
    return _report(ok, "stationary variance", f"got {variance!r}, expected about {want:.4f}: a uniform density "
                   "on an interval of length L has variance L^2/12; wait a few diffusion times L^2/D")


# ============================================================================================
# Chapter 6 (sequence generation; issue 5)
# ============================================================================================
__all__ += ["check_lstm_hidden", "check_spectral_radius"]


def check_lstm_hidden(hidden: int, dim: int, target: int) -> bool:
    """Exercise (Ch. 6): the LSTM width whose Table 3 count is closest to ``target`` for states of ``dim``."""
    from .baselines import match_hidden, table3_count

    want = match_hidden("LSTM", target, dim)
    got = table3_count("LSTM", dim, hidden) if isinstance(hidden, int) and hidden > 0 else None
    return _report(hidden == want, "LSTM width",
                   f"got {hidden!r} ({got} parameters, target {target}); an LSTM layer has 4 H (D + H) "
                   "weights and 8 H biases, the read-out H D + D: solve the quadratic in H")


def check_spectral_radius(matrix: torch.Tensor, rho: float) -> bool:
    """Exercise (Ch. 6): square ``matrix`` has spectral radius ``rho`` (largest eigenvalue modulus, 1e-4)."""
    m = torch.as_tensor(matrix, dtype=torch.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        return _report(False, "spectral radius", f"expected a square matrix, got shape {tuple(m.shape)}")
    radius = float(torch.linalg.eigvals(m).abs().max())
    return _report(abs(radius - rho) <= 1e-4 * rho, "spectral radius",
                   f"largest |eigenvalue| is {radius:.6g}, wanted {rho:g}; divide by the current spectral "
                   "radius (not the largest entry or the 2-norm) and multiply by rho")


# ============================================================================================
# Chapters 8-9 (learned coordinates, L-HiTS; issue 6)
# ============================================================================================
__all__ += ["check_pca_test_error", "check_pca_leak", "check_energy_dimension", "check_lhits_map_calls",
            "check_latent_speedup"]


def _lhits_flat(system: str):
    from .data import lhits_splits

    splits = lhits_splits(system)
    return {k: v.x.reshape(*v.x.shape[:2], -1) for k, v in splits.items()}


def check_pca_test_error(mse: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): test reconstruction MSE of a PCA with ``z`` modes fitted on the *training* split."""
    from .nets import PCA

    x = _lhits_flat(system)
    want = float(((PCA(x["train"].shape[-1], z).fit(x["train"])(x["test"]) - x["test"]) ** 2).mean())
    ok = isinstance(mse, (int, float)) and math.isclose(float(mse), want, rel_tol=1e-3)
    return _report(ok, "PCA test error", f"got {mse!r}, expected {want:.4g}: fit on the training snapshots "
                   "only, "
                   "then average the squared error over every test snapshot and component")


def check_pca_leak(honest: float, leaky: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): PCA test error fitted on train (``honest``) and refit on test (``leaky``)."""
    from .nets import PCA

    x = _lhits_flat(system)
    n = x["train"].shape[-1]
    want_h = float(((PCA(n, z).fit(x["train"])(x["test"]) - x["test"]) ** 2).mean())
    want_l = float(((PCA(n, z).fit(x["test"])(x["test"]) - x["test"]) ** 2).mean())
    ok = all(isinstance(v, (int, float)) for v in (honest, leaky))
    ok = ok and math.isclose(honest, want_h, rel_tol=1e-3) and math.isclose(leaky, want_l, rel_tol=1e-3)
    return _report(ok, "PCA leak", f"got ({honest!r}, {leaky!r}), expected ({want_h:.4g}, {want_l:.4g}); the "
                   "leaky PCA is fitted on the very test snapshots it is scored on, so by Eckart–Young it "
                   "can only look better")


def check_energy_dimension(z: int, system: str, fraction: float = 0.99) -> bool:
    """Exercise (Ch. 8): smallest number of PCA modes holding ``fraction`` of the training variance."""
    x = _lhits_flat(system)["train"]
    flat = x.reshape(-1, x.shape[-1])
    s2 = torch.linalg.svdvals(flat - flat.mean(dim=0)) ** 2
    want = int((torch.cumsum(s2, 0) / s2.sum() < fraction).sum()) + 1
    return _report(z == want, "energy dimension", f"got {z!r}; sort the squared singular values of the "
                   "centred "
                   "training snapshots, accumulate, and find the first index where the share reaches "
                   f"{fraction:g} (count from 1)")


def check_lhits_map_calls(encoder_calls: int, decoder_calls: int) -> bool:
    """Exercise (Ch. 9): how many times ``Latent.forecast`` calls the encoder and the decoder."""
    ok = (encoder_calls, decoder_calls) == (1, 1)
    return _report(ok, "encoder/decoder calls", f"got ({encoder_calls!r}, {decoder_calls!r}); Algorithm 1 "
                   "encodes x0 once (line 3) and decodes the whole interpolated latent trajectory in one "
                   "batch (line 13)")


def check_latent_speedup(ratio: float, full_seconds: float, latent_seconds: float) -> bool:
    """Exercise (Ch. 9): the prediction-time ratio full-state HiTS / L-HiTS from your two timings."""
    want = full_seconds / latent_seconds
    ok = isinstance(ratio, (int, float)) and math.isclose(float(ratio), want, rel_tol=1e-6)
    return _report(ok, "speed-up", f"got {ratio!r}, expected {want:.3g}: divide the full-state time by the "
                   "latent time")


def check_analogue_error(answer: float, x, stride: int, *, n_queries: int, seed: int) -> bool:
    """Exercise (Ch. 9): the analogue error of trajectories ``x [B, T, n]`` scored in ``x`` itself, relative
    to ``x``'s variance, with ``torch.Generator().manual_seed(seed)`` drawing the queries."""
    import torch

    from .metrics import analogue_error

    want = analogue_error(x, x, stride, n_queries=n_queries, generator=torch.Generator().manual_seed(seed))
    want /= float(x.var())
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-6)
    return _report(ok, "analogue error", f"got {answer!r}, expected {want:.4g}: analogue_error(x, x, stride, ...) "
                   "divided by x.var(), with the generator seeded as stated")


# ----------------------------------------------------------------------------------------
# Part III, Chapters 10-11 (LED on FHN and KS)
# ----------------------------------------------------------------------------------------
def check_mnad(answer: float, pred, truth, channel: int) -> bool:
    """Exercise (Ch. 10): the MNAD (LED SI eqs. 22-23) of one channel of ``pred [B, T, C, n]``."""
    from .metrics import mnad

    want = float(mnad(pred, truth, channel_axis=2)[channel])
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-6)
    return _report(ok, "MNAD", f"got {answer!r}, expected {want:.5g}: divide |y - y_hat| by the range (max - min) "
                   "of the TRUE field over all space and time, average over space, then over time")


def check_warmup_ratio(answer: float, led, states: torch.Tensor, warm_up: int, steps: int = 50) -> bool:
    """Exercise (Ch. 10): mean activator NAD over ``steps`` steps after a one-state warm-up divided by
    the same after a ``warm_up``-state warm-up (trajectories ``states [B, T, 2, n]``)."""
    from .metrics import nad

    with torch.no_grad():
        truth = states[:, warm_up - 1: warm_up + steps]
        short = led.forecast(states[:, warm_up - 1: warm_up], steps).x
        full = led.forecast(states[:, :warm_up], steps).x
    want = float(nad(short, truth, channel_axis=2)[..., 0].mean() / nad(full, truth, channel_axis=2)[..., 0].mean())
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-3)
    return _report(ok, "warm-up ratio", f"got {answer!r}, expected {want:.3g}: forecast {steps} steps after "
                   f"warm-ups of 1 and {warm_up} states, NAD of channel 0 against the truth from the last "
                   "warm-up state on, mean over time, short / full")


def check_led_flop_ratio(answer: float, latent_dim: int, hidden: int = 32) -> bool:
    """Exercise (Ch. 10): operations of 200 LB steps (2 x 3 x 101 populations, ~10 each) over one
    LSTM step (4 H (d_z + H) + H d_z multiply-adds)."""
    want = (200 * 2 * 3 * 101 * 10) / (4 * hidden * (latent_dim + hidden) + hidden * latent_dim)
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=0.05)
    return _report(ok, "operation ratio", f"got {answer!r}, expected about {want:.0f}: LB 200 x 2 x 3 x 101 x 10; "
                   f"LSTM 4 x {hidden} x (d_z + {hidden}) + {hidden} x d_z")


def check_schedule_speedup(answer: float, rho: float, latent_speedup: float) -> bool:
    """Exercise (Ch. 11): S(rho) = (1 + rho) / (1 + rho / S_latent) of an alternating LED schedule."""
    want = (1 + rho) / (1 + rho / latent_speedup)
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-3)
    return _report(ok, "schedule speed-up", f"got {answer!r}, expected {want:.3g}: per cycle the solver alone "
                   "costs (T_m + T_mu) c_S, the scheme T_m c_L + T_mu c_S; divide and write c_S / c_L = S_latent")


def check_solver_phase_nad(answer: float, pred, truth, *, T_m: int, T_mu: int) -> bool:
    """Exercise (Ch. 11): mean activator NAD over the solver's steps of a schedule (macro first)."""
    from .metrics import nad

    n = pred.shape[1]
    mask = torch.zeros(n, dtype=torch.bool)
    pos = 0
    while pos < n - 1:
        pos += T_m
        mask[pos + 1: min(pos + T_mu, n - 1) + 1] = True
        pos += T_mu
    want = float(nad(pred, truth, channel_axis=2)[..., 0].mean(0)[mask].mean())
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=0.05)
    return _report(ok, "NAD on solver steps", f"got {answer!r}, expected about {want:.4g}: average the "
                   "activator NAD (mean over starts) over the steps where micro_mask is True")


def check_saturation_nad(answer: float, truth) -> bool:
    """Exercise (Ch. 11): NAD between true trajectories i and i+1 (cyclically), mean over all."""
    from .metrics import nad

    want = float(nad(torch.roll(torch.as_tensor(truth), 1, dims=0), truth).mean())
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-3)
    return _report(ok, "saturation NAD", f"got {answer!r}, expected {want:.3g}: compare each true trajectory "
                   "with another one (torch.roll over the batch) with nad(), mean over everything")


# ----------------------------------------------------------------------------------------
# Part III, Chapter 12 (LED on stochastic particles) -- begin
# ----------------------------------------------------------------------------------------
__all__ += ["check_particle_moments", "check_self_similar_wd", "check_multiscale_speedup",
            "check_permutation_invariance"]


def check_particle_moments(m1: float, m2: float, configuration: torch.Tensor) -> bool:
    """Exercise (Ch. 12): M1 and M2 of one configuration ``[N, d]``, each averaged over the d dimensions."""
    from .metrics import moments

    want1, want2 = (float(v) for v in moments(configuration, average_dims=True))
    ok = all(isinstance(v, (int, float)) for v in (m1, m2))
    ok = ok and math.isclose(m1, want1, rel_tol=1e-4, abs_tol=1e-7)
    ok = ok and math.isclose(m2, want2, rel_tol=1e-4)
    return _report(ok, "particle moments", f"got ({m1!r}, {m2!r}), expected ({want1:.5g}, {want2:.5g}): mean "
                   "over the particles (axis 0) per dimension, population variance (divide by N, not N - 1), "
                   "then average the d values")


def check_self_similar_wd(answer: float, truth_a: torch.Tensor, truth_b: torch.Tensor, runs: int) -> bool:
    """Exercise (Ch. 12): Wasserstein distance between the M2 of two independent true ensembles
    ``[B * runs, T, N, d]`` at the last time, first initial condition."""
    from .metrics import moments, wasserstein

    m2 = [moments(x[:runs, -1], average_dims=True)[1] for x in (truth_a, truth_b)]
    want = wasserstein(m2[0], m2[1])
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-6, abs_tol=1e-12)
    return _report(ok, "self-similar WD", f"got {answer!r}, expected {want:.4g}: take M2 (averaged over "
                   f"dimensions) of runs 0..{runs - 1} at the last time in each set, then the WD of the two "
                   "samples")


def check_multiscale_speedup(answer: float, s_latent: float, rho: float) -> bool:
    """Exercise (Ch. 12): speed-up of alternating rho latent units per solver unit, ignoring encode/decode."""
    want = (1 + rho) / (1 + rho / s_latent)
    ok = isinstance(answer, (int, float)) and math.isclose(float(answer), want, rel_tol=1e-3)
    return _report(ok, "multiscale speed-up", f"got {answer!r}, expected {want:.4g}: a cycle costs T_mu + "
                   "T_m solver units alone, and T_mu + T_m / S_latent with LED; divide the two")


def check_permutation_invariance(max_diff: float, model, configurations: torch.Tensor) -> bool:
    """Exercise (Ch. 12): largest ``|z(s) - z(reversed s)|`` of a permutation-invariant encoder on
    configurations ``[..., N, d]``."""
    with torch.no_grad():
        reversed_z = model.encode(configurations.flip(dims=[-2]))
        want = float((model.encode(configurations) - reversed_z).abs().max())
    ok = isinstance(max_diff, (int, float)) and float(max_diff) <= max(10 * want, 1e-5)
    return _report(ok, "permutation invariance", f"got {max_diff!r}; reversing the particle order changes "
                   f"the mean of the features only by round-off (here {want:.1e}); flip dimension -2 (the "
                   "particles), not the time or the coordinates")
# ----------------------------------------------------------------------------------------
# Part III, Chapter 12 (LED on stochastic particles) -- end
# ----------------------------------------------------------------------------------------
