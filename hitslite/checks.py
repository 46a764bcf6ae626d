"""Self-checks for the exercises: ``check_<exercise>(answer, ...)`` prints PASS or a hint and returns a bool.

Every check follows the same rules, and ``tests/test_checks.py`` holds each one to them with a right and a
wrong answer:

* the reference comes from the package itself or from an invariant, never from a number typed in by hand
  (the one literature value used, the KS Lyapunov exponent, is named and sourced);
* a check that judges a student's *function* calls it on inputs it draws itself and says which case failed;
* a failure prints a hint, never the expected value;
* a number may be a Python number, a numpy scalar or a 0-d tensor; an array a numpy array or a tensor.

One check per exercise of every chapter, grouped by chapter, hence the length (past ~500 lines).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "check_flow_map", "check_rk4_order", "check_sequential_calls", "check_best_single_step",
    "check_interpolation", "check_two_pass_selection",
    "check_speedup", "check_error_horizon",
    "check_noise_std",
    "check_lstm_hidden", "check_spectral_radius",
    "check_etdrk4_order", "check_lyapunov_exponent", "check_uniform_variance",
    "check_pca_test_error", "check_pca_leak", "check_energy_dimension",
    "check_lhits_map_calls", "check_latent_speedup", "check_analogue_error",
    "check_mnad", "check_warmup_ratio", "check_led_flop_ratio",
    "check_schedule_speedup", "check_solver_phase_nad", "check_saturation_nad",
    "check_particle_moments", "check_self_similar_wd", "check_multiscale_speedup",
    "check_permutation_invariance",
]

#: Largest Lyapunov exponent of Kuramoto–Sivashinsky with L = 22 (LED SI 8.4), the invariant
#: :func:`check_lyapunov_exponent` judges estimates against.
KS_L22_LYAPUNOV = 0.048


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _report(ok: bool, name: str, hint: str) -> bool:
    print(f"PASS  {name}" if ok else f"NOT YET  {name}: {hint}")
    return bool(ok)


def _number(x) -> float | None:
    """``x`` as a float if it is one real number (Python, numpy scalar, 0-d array or tensor), else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, torch.Tensor):
        ok = x.ndim == 0 and x.dtype != torch.bool and not x.is_complex()
        return float(x) if ok else None
    if isinstance(x, np.ndarray):
        ok = x.ndim == 0 and (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating))
        return float(x) if ok else None
    if isinstance(x, numbers.Real):
        return float(x)
    return None


def _integer(x) -> int | None:
    """``x`` as an int if it is a whole number (any of the types of :func:`_number`), else None."""
    v = _number(x)
    return int(v) if v is not None and math.isfinite(v) and v == int(v) else None


def _tensor(x) -> torch.Tensor | None:
    """``x`` (tensor, numpy array, nested list) as a float64 CPU tensor, or None."""
    try:
        if isinstance(x, torch.Tensor):
            return x.detach().to(device="cpu", dtype=torch.float64)
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        return None


def _shown(x) -> str:
    """The student's own answer, briefly (arrays by their shape)."""
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim > 0:
        return f"{type(x).__name__} of shape {tuple(x.shape)}"
    return repr(x)


def _close(answer, want: float, rel: float, abs_tol: float = 0.0) -> bool:
    got = _number(answer)
    return got is not None and math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol)


def _not_a_number(name: str, answer, what: str = "one number") -> bool:
    return _report(False, name, f"expected {what} (a float, numpy scalar or 0-d tensor), "
                   f"got {_shown(answer)}")


def _call(fn, *args):
    """``(value, None)`` or ``(None, 'Name: message')`` when calling the student's ``fn`` raised."""
    try:
        return fn(*args), None
    except Exception as err:  # noqa: BLE001 - any failure of the student's code is reported, not raised
        return None, f"{type(err).__name__}: {err}"


# ============================================================================================
# Chapter 1 (flow maps) — also used by Ch. 3–6 and 9
# ============================================================================================
def check_flow_map(flow_map: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise (Ch. 1): ``flow_map(x [B, 2], dt) -> [B, 2]`` is the harmonic oscillator's exact flow map,
    compared with the system's ``exact_solution`` on states and steps drawn here."""
    from .systems import get_system

    name = "flow map"
    if not callable(flow_map):
        return _report(False, name, f"pass your function flow_map(x, dt), got {_shown(flow_map)}")
    system = get_system("harmonic_oscillator")
    x = system.sample_initial(64, torch.Generator().manual_seed(0))
    for dt in (0.008, 0.5, 3.0):
        out, err = _call(flow_map, x.clone(), dt)
        if err:
            return _report(False, name, f"flow_map(x, {dt}) raised {err}")
        got = _tensor(out)
        if got is None or got.shape != x.shape:
            return _report(False, name, f"flow_map(x [64, 2], {dt}) should return shape (64, 2), got "
                           f"{_shown(out)}")
        want = system.exact_solution(x, torch.tensor([dt], dtype=torch.float64))[:, 0]
        if not torch.allclose(got, want, rtol=0, atol=1e-10):
            return _report(False, name, f"wrong states for dt = {dt} (keep float64): x(t) is x0 rotated "
                           "clockwise by the angle t, since x' = y, y' = -x")
    return _report(True, name, "")


def _judge_order(name: str, error, steps, lo: float, hi: float, floor: float) -> bool:
    """Run ``error(dt)`` at every step size, fit the slope of log(error) against log(dt), judge it."""
    if not callable(error):
        return _report(False, name, f"pass your function error(dt) — the error of one run with step dt — "
                       f"not {_shown(error)}: the check runs it and fits the order itself")
    hs = [_number(h) for h in (steps if isinstance(steps, (Sequence, np.ndarray, torch.Tensor)) else [])]
    if len(hs) < 3 or any(h is None or not h > 0 for h in hs) or len(set(hs)) != len(hs):
        return _report(False, name, "steps must be at least three different positive step sizes")
    errors = []
    for h in hs:
        out, err = _call(error, h)
        if err:
            return _report(False, name, f"error({h:g}) raised {err}")
        e = _number(out)
        if e is None or not math.isfinite(e) or e <= 0:
            return _report(False, name, f"error({h:g}) should return one positive finite number, got "
                           f"{_shown(out)}")
        errors.append(e)
    by_step = [e for _, e in sorted(zip(hs, errors))]
    if min(errors) < floor:
        return _report(False, name, f"error at the smallest step is {min(errors):.1e}, down at round-off "
                       f"(~{floor:.0e}), where it stops shrinking: use larger steps")
    if any(a >= b for a, b in zip(by_step, by_step[1:])):
        return _report(False, name, "your error does not shrink as the step shrinks: compare the state at "
                       "the same final time for every step size, against a reference far more accurate "
                       "than all")
    order = float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    return _report(lo <= order <= hi, name, f"your errors fall like dt^{order:.2f}, which is not the "
                   "method's order: use step sizes in the asymptotic range, the same final time for all, "
                   "and a reference whose own error is far below your smallest one")


def check_rk4_order(error: Callable[[float], float], steps: Sequence[float]) -> bool:
    """Exercise (Ch. 1, 4): ``error(dt)`` is the global error of one RK4 (or hybrid) run with step ``dt``;
    the check evaluates it at ``steps``, fits the order itself and accepts 3.8–4.2."""
    return _judge_order("RK4 order", error, steps, 3.8, 4.2, 1e-13)


def check_sequential_calls(answer: int, dts: Sequence[float], n_steps: int, dt: float | None = None) -> bool:
    """Exercise (Ch. 1–6, 9): sequential stepper calls Algorithm 1 needs for ``n_steps`` with levels ``dts``
    (the reference is :meth:`~hitslite.multiscale.Hierarchy.cost`)."""
    from .multiscale import Hierarchy
    from .steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, x):
            return x

    got = _integer(answer)
    if got is None:
        return _not_a_number("sequential calls", answer, "a whole number")
    want = Hierarchy([_Probe(float(d)) for d in dts]).cost(int(n_steps), dt)["calls"]
    return _report(got == want, "sequential calls",
                   f"got {got}. The coarsest level steps ceil(n * dt / dt_0) times; every finer level "
                   "takes (ratio to the next coarser level - 1) steps, all starting points batched together")


def check_best_single_step(answer: float, errors: Mapping[float, float]) -> bool:
    """Exercise (Ch. 1, 3, 5): ``answer`` is the step size whose single-scale forecast has the least error."""
    table = {float(k): _number(v) for k, v in errors.items()}
    if any(v is None for v in table.values()):
        raise TypeError("errors must map step sizes to single numbers")
    best = min(table, key=table.get)
    ok = _close(answer, best, 1e-9)
    return _report(ok, "best single step size", f"got {_shown(answer)}; compare the integrated MSE of each "
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
        return _report(False, name, f"pass your function fill(known_idx, known_x, n_steps), got "
                       f"{_shown(fill)}")
    gen = torch.Generator().manual_seed(0)
    for known in ([0, 8, 16, 24], [0, 3, 4, 10, 12], [0, 5]):
        idx = torch.tensor(known)
        x = torch.randn(3, len(known), 2, generator=gen, dtype=torch.float64)
        n = known[-1]
        out, err = _call(fill, idx, x.clone(), n)
        if err:
            return _report(False, name, f"fill with known indices {known} raised {err}")
        got = _tensor(out)
        want = torch.from_numpy(np.stack([np.stack([np.interp(np.arange(n + 1), known, x[b, :, d].numpy())
                                                     for d in range(x.shape[2])], axis=-1)
                                           for b in range(x.shape[0])]))
        if got is None or got.shape != want.shape:
            return _report(False, name, f"for known indices {known} expected shape {tuple(want.shape)} "
                           f"[B, n_steps + 1, D], got {_shown(out)}")
        if not torch.allclose(got, want, atol=1e-12):
            return _report(False, name, f"wrong values for known indices {known}: between indices a < j < b "
                           "use x_a + (j - a) / (b - a) * (x_b - x_a), and keep x_j where j is known")
    return _report(True, name, "")


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

    name = "two-pass selection"
    if not callable(select):
        return _report(False, name, f"pass your function select(steppers, val), got {_shown(select)}")
    system = get_system("harmonic_oscillator")
    fine = RK4(system, 0.01)
    exact = [Repeated(fine, 2**k) for k in range(6)]
    biases = [3e-3, 1e-4, 2e-5, 0.0, 0.1, 0.1]  # distinct, so neither pass has a tie
    steppers = [_Biased(level, b) for level, b in zip(exact, biases)]
    val = rollout(fine, system.sample_initial(8, torch.Generator().manual_seed(5)), 256)
    want = select_levels(steppers, val)
    out, err = _call(select, steppers, val)
    if err:
        return _report(False, name, f"select raised {err}")
    try:
        got = tuple(_integer(v) for v in out)
    except TypeError:
        got = None
    if got is None or len(got) != 2 or None in got:
        return _report(False, name, f"select should return two indices (lower, upper), got {_shown(out)}")
    return _report(got == (want.lower, want.upper), name,
                   f"got {got} on a planted six-level case; pass 1 scores steppers[0..u] for every u and "
                   "keeps the best u; pass 2 scores steppers[l..u] for every l <= u and keeps the best l "
                   "(validation MSE of the forecast)")


# ============================================================================================
# Chapter 3 (nonlinear benchmarks), 4 (hybrids), 9 (L-HiTS): measured speed-ups
# ============================================================================================
def _forecast_shape(out):
    x = getattr(out, "x", out)
    return tuple(x.shape) if isinstance(x, torch.Tensor) else None


def _judge_timing(name: str, answer, slow, fast) -> bool:
    got = _number(answer)
    if got is None or not (got > 0 and math.isfinite(got)):
        return _not_a_number(name, answer, "one positive number")
    if hasattr(slow, "multiscale_seconds") and hasattr(slow, "single_seconds") and fast is None:
        want = slow.single_seconds[slow.lower] / slow.multiscale_seconds
        return _report(math.isclose(got, want, rel_tol=1e-6), name, f"got {got!r}; divide the time of the "
                       "finest *coupled* level alone (levels[lower], not levels[0]) by the time of the "
                       "multiscale forecast, both from the same comparison")
    if not (callable(slow) and callable(fast)):
        return _report(False, name, "pass the two computations as functions without arguments, the slow one "
                       "first (e.g. lambda: model.forecast(x0, n)), so the check can run them")
    # Wall times depend on the machine and its load, so the check does not time anything (a timed
    # assertion would fail at random on a busy machine): it checks that the two computations run and
    # forecast the same thing (same shape), and that the answer is a speed-up, a positive ratio.
    with torch.no_grad():
        out, err = _call(lambda: (_forecast_shape(slow()), _forecast_shape(fast())))
    if err:
        return _report(False, name, f"running your computations raised {err}")
    ok = out[0] is not None and out[0] == out[1]
    return _report(ok, name, "the two functions must each return a forecast (a tensor or a Trajectory) of "
                   "the same states over the same horizon, so that their times compare like with like")


def check_speedup(answer: float, slow, fast: Callable[[], object] | None = None) -> bool:
    """Exercise (Ch. 3, 4): the speed-up ``answer`` of a fast computation over a slow one.

    ``slow`` is either a :class:`~hitslite.multiscale.LevelComparison` (Ch. 3: the finest coupled level
    alone over the multiscale forecast, read from the comparison), or, with ``fast``, the two computations
    as functions without arguments (Ch. 4): the check runs them, checks that they forecast the same states
    over the same horizon and that ``answer`` is a positive ratio. It does not time them: wall times
    depend on the machine and its load.
    """
    return _judge_timing("speed-up", answer, slow, fast)


def check_error_horizon(answer: float, t, curve, threshold: float = 1.0) -> bool:
    """Exercise (Ch. 3): the first time at which the per-step MSE ``curve [T]`` (times ``t [T]``) reaches
    ``threshold`` (``inf`` if it never does)."""
    curve, t = _tensor(curve), _tensor(t)
    above = (curve >= threshold).nonzero()
    want = float(t[above[0, 0]]) if len(above) else math.inf
    return _report(_close(answer, want, 1e-9), "error horizon", f"got {_shown(answer)}; find the first index "
                   f"where the per-step MSE is at least {threshold:g} and read the time there (inf if it "
                   "never is)")


# ============================================================================================
# Chapter 5 (noise)
# ============================================================================================
def check_noise_std(answer, component_std, level: float, interpretation: str = "std") -> bool:
    """Exercise (Ch. 5): the noise standard deviation per component for a noise ``level`` given as a
    fraction of each component's standard deviation (``"std"``) or of its variance (``"variance"``)."""
    if interpretation not in ("std", "variance"):
        raise ValueError(f"interpretation must be 'std' or 'variance', got {interpretation!r}")
    std, got, q = _tensor(component_std), _tensor(answer), float(level)
    want = q * std if interpretation == "std" else math.sqrt(q) * std
    ok = got is not None and got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-6))
    hint = ("a fraction q of each component's standard deviation: scale the per-component stds by q"
            if interpretation == "std" else
            "noise with a fraction q of the variance has variance q * std^2: take its square root")
    return _report(ok, f"noise std ({interpretation})", f"got {_shown(answer)}; one value per component, "
                   f"shaped like the stds; {hint}")


# ============================================================================================
# Chapter 6 (sequence generation)
# ============================================================================================
def check_lstm_hidden(hidden: int, dim: int, target: int) -> bool:
    """Exercise (Ch. 6): the LSTM width whose Table 3 count is closest to ``target`` for states of ``dim``
    (reference: :func:`hitslite.baselines.match_hidden`)."""
    from .baselines import match_hidden, table3_count

    got = _integer(hidden)
    if got is None or got < 1:
        return _not_a_number("LSTM width", hidden, "a positive whole number")
    want = match_hidden("LSTM", int(target), int(dim))
    return _report(got == want, "LSTM width",
                   f"got {got} ({table3_count('LSTM', int(dim), got)} parameters, target {target}); an LSTM "
                   "layer has 4 H (D + H) weights and 8 H biases, the read-out H D + D: solve the quadratic "
                   "in H and compare the counts of the integers on either side")


def check_spectral_radius(matrix, rho: float) -> bool:
    """Exercise (Ch. 6): square ``matrix`` (tensor or array) has spectral radius ``rho`` (to 1e-4)."""
    m, rho = _tensor(matrix), float(rho)
    if m is None or m.ndim != 2 or m.shape[0] != m.shape[1]:
        return _report(False, "spectral radius", f"expected a square matrix, got {_shown(matrix)}")
    radius = float(torch.linalg.eigvals(m).abs().max())
    return _report(abs(radius - rho) <= 1e-4 * rho, "spectral radius",
                   f"the largest |eigenvalue| of your matrix is {radius:.6g}; divide by the current spectral "
                   "radius (not the largest entry or the 2-norm) and multiply by the target")


# ============================================================================================
# Chapter 7 (classical PDE and particle solvers)
# ============================================================================================
def check_etdrk4_order(error: Callable[[float], float], steps: Sequence[float]) -> bool:
    """Exercise (Ch. 7): ``error(dt)`` is ETDRK4's global error on Kassam & Trefethen's problem with step
    ``dt``; the check evaluates it at ``steps``, fits the order itself and accepts 3.7–4.3."""
    return _judge_order("ETDRK4 order", error, steps, 3.7, 4.3, 1e-12)


def check_lyapunov_exponent(estimate: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Exercise (Ch. 7): ``estimate(x0 [B, 64]) -> [B]`` estimates the largest Lyapunov exponent of KS with
    L = 22 from raw initial states (transient included). The check draws four initial states of
    ``get_system("ks", preset="led")`` itself and accepts a mean within 25% of :data:`KS_L22_LYAPUNOV`."""
    from .systems import get_system

    name = "Lyapunov exponent"
    if not callable(estimate):
        return _report(False, name, f"pass your function estimate(x0) -> one exponent per initial state, not "
                       f"{_shown(estimate)}: the check runs it from initial states of its own")
    x0 = get_system("ks", preset="led").sample_initial(4, torch.Generator().manual_seed(2024))
    out, err = _call(estimate, x0.clone())
    if err:
        return _report(False, name, f"estimate(x0 [4, 64]) raised {err}")
    lam = _tensor(out)
    if lam is None or lam.shape != (4,) or not bool(torch.isfinite(lam).all()):
        return _report(False, name, f"estimate(x0 [4, 64]) should return 4 finite exponents, got "
                       f"{_shown(out)}")
    mean = float(lam.mean())
    ok = abs(mean - KS_L22_LYAPUNOV) <= 0.25 * KS_L22_LYAPUNOV
    return _report(ok, name, f"from the check's four initial states your estimates average {mean:.4f}: start "
                   "on the attractor (drop >= 100 time units), renormalise every ~1 time unit, divide the "
                   "sum of log-stretchings by the total time, and average over >= 1000 time units")


def check_uniform_variance(variance: float, positions=None, L: float = 1.0) -> bool:
    """Exercise (Ch. 7): ``positions [..., N, 1]`` (or ``[N]``) of particles reflected in ``[-L/2, L/2]``
    after a long time are uniform there, and ``variance`` is their variance. Judged against the stationary
    invariant: all inside the box, a Kolmogorov–Smirnov distance to the uniform law within sampling noise,
    and a variance within 5% of L^2 / 12."""
    name = "stationary variance"
    if positions is None:
        return _report(False, name, "pass the simulated positions too: "
                       "check_uniform_variance(variance, positions)")
    x, got, L = _tensor(positions), _number(variance), float(L)
    if x is None or x.numel() < 100:
        return _report(False, name, f"positions should hold at least 100 particles, got {_shown(positions)}")
    x = x.flatten()
    if got is None or not math.isclose(got, float(x.var()), rel_tol=0.02):
        return _report(False, name, f"got {_shown(variance)}, which is not the variance of the positions you "
                       "passed: the variance is the mean squared distance from the mean (not the std)")
    if bool((x.abs() > L / 2 + 1e-9).any()):
        return _report(False, name, "some particles lie outside [-L/2, L/2]: the walls must reflect them")
    u = torch.sort((x + L / 2) / L).values
    n = u.numel()
    ks = float(torch.maximum(torch.arange(1, n + 1) / n - u, u - torch.arange(n) / n).max())
    ok = ks <= 3 / math.sqrt(n) and abs(got - L**2 / 12) <= 0.05 * L**2 / 12
    return _report(ok, name, "your particles are not yet spread uniformly over the box: a uniform density on "
                   "an interval of length L has variance L^2/12; simulate for a few diffusion times L^2/D")


# ============================================================================================
# Chapters 8-9 (learned coordinates, L-HiTS)
# ============================================================================================
def _lhits_flat(system: str):
    from .data import lhits_splits

    splits = lhits_splits(system)
    return {k: v.x.reshape(*v.x.shape[:2], -1) for k, v in splits.items()}


def _pca_mse(fit_on: torch.Tensor, test: torch.Tensor, z: int) -> float:
    from .nets import PCA

    return float(((PCA(test.shape[-1], z).fit(fit_on)(test) - test) ** 2).mean())


def check_pca_test_error(mse: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): test reconstruction MSE of a PCA with ``z`` modes fitted on the *training* split."""
    x = _lhits_flat(system)
    want = _pca_mse(x["train"], x["test"], z)
    return _report(_close(mse, want, 1e-3), "PCA test error", f"got {_shown(mse)}; fit on the training "
                   "snapshots only, then average the squared error over every test snapshot and component")


def check_pca_leak(honest: float, leaky: float, system: str, z: int) -> bool:
    """Exercise (Ch. 8): PCA test error fitted on train (``honest``) and refit on test (``leaky``)."""
    x = _lhits_flat(system)
    ok_h = _close(honest, _pca_mse(x["train"], x["test"], z), 1e-3)
    ok_l = _close(leaky, _pca_mse(x["test"], x["test"], z), 1e-3)
    wrong = " and ".join(w for w, ok in (("honest", ok_h), ("leaky", ok_l)) if not ok)
    return _report(ok_h and ok_l, "PCA leak", f"your {wrong} value is off; honest: fit on the training "
                   "snapshots, score on the test ones; leaky: fit on the very test snapshots it is scored on")


def check_energy_dimension(z: int, system: str, fraction: float = 0.99) -> bool:
    """Exercise (Ch. 8): smallest number of PCA modes holding ``fraction`` of the training variance."""
    x = _lhits_flat(system)["train"]
    flat = x.reshape(-1, x.shape[-1])
    s2 = torch.linalg.svdvals(flat - flat.mean(dim=0)) ** 2
    want = int((torch.cumsum(s2, 0) / s2.sum() < fraction).sum()) + 1
    return _report(_integer(z) == want, "energy dimension", f"got {_shown(z)}; sort the squared singular "
                   "values of the centred training snapshots, accumulate, and find the first index where the "
                   f"share reaches {fraction:g} (count from 1)")


def check_lhits_map_calls(encoder_calls: int, decoder_calls: int) -> bool:
    """Exercise (Ch. 9): how many times one ``Latent.forecast`` calls the encoder and the decoder — counted
    here by running :meth:`~hitslite.neural.Latent.forecast` of a three-level probe hierarchy."""
    from .multiscale import Hierarchy
    from .neural import Latent
    from .steppers import Stepper

    class _Probe(Stepper):
        def __init__(self, step):
            super().__init__()
            self.dt = step

        def forward(self, z):
            return 0.9 * z

    calls = {"encode": 0, "decode": 0}

    def encode(x):
        calls["encode"] += 1
        return x[..., :2]

    def decode(z):
        calls["decode"] += 1
        return torch.cat([z, z], dim=-1)

    x0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Latent(encode, Hierarchy([_Probe(4.0), _Probe(2.0), _Probe(1.0)]), decode).forecast(x0, 16)
    got = (_integer(encoder_calls), _integer(decoder_calls))
    return _report(got == (calls["encode"], calls["decode"]), "encoder/decoder calls",
                   f"got ({encoder_calls!r}, {decoder_calls!r}); wrap encode and decode in functions that "
                   "count, run ONE Latent.forecast, and read the counters; Algorithm 1 touches the full "
                   "state only in line 3 (encode) and line 13 (decode), each applied to a whole batch")


def check_latent_speedup(ratio: float, full: Callable[[], object], latent: Callable[[], object]) -> bool:
    """Exercise (Ch. 9): the prediction-time ratio full-state HiTS / L-HiTS. ``full`` and ``latent`` are the
    two forecasts as functions without arguments; the check runs them (it does not time them, see
    :func:`check_speedup`) and checks that they forecast the same states and ``ratio`` is positive."""
    return _judge_timing("latent speed-up", ratio, full, latent)


def check_analogue_error(answer: float, x, stride: int, *, n_queries: int, seed: int) -> bool:
    """Exercise (Ch. 9): the analogue error of trajectories ``x [B, T, n]`` scored in ``x`` itself, relative
    to ``x``'s variance, with ``torch.Generator().manual_seed(seed)`` drawing the queries."""
    from .metrics import analogue_error

    x = _tensor(x)
    want = analogue_error(x, x, int(stride), n_queries=n_queries,
                          generator=torch.Generator().manual_seed(seed)) / float(x.var())
    return _report(_close(answer, want, 1e-6), "analogue error", f"got {_shown(answer)}; "
                   "analogue_error(x, x, stride, ...) divided by x.var(), with a generator seeded as stated")


# ============================================================================================
# Part III, Chapters 10-11 (LED on FHN and KS)
# ============================================================================================
def check_mnad(answer: float, pred, truth, channel: int) -> bool:
    """Exercise (Ch. 10): the MNAD (LED SI eqs. 22-23) of one channel of ``pred [B, T, C, n]``."""
    from .metrics import mnad

    want = float(mnad(_tensor(pred), _tensor(truth), channel_axis=2)[channel])
    return _report(_close(answer, want, 1e-6), "MNAD", f"got {_shown(answer)}; divide |y - y_hat| by the "
                   "range (max - min) of the TRUE field over all space and time, average over space, then "
                   "over time")


def check_warmup_ratio(answer: float, led, states, warm_up: int, steps: int = 50) -> bool:
    """Exercise (Ch. 10): mean activator NAD over ``steps`` steps after a one-state warm-up divided by
    the same after a ``warm_up``-state warm-up (trajectories ``states [B, T, 2, n]``)."""
    from .metrics import nad

    states = states if isinstance(states, torch.Tensor) else torch.as_tensor(np.asarray(states))
    with torch.no_grad():
        truth = states[:, warm_up - 1: warm_up + steps]
        short = led.forecast(states[:, warm_up - 1: warm_up], steps).x
        full = led.forecast(states[:, :warm_up], steps).x
    want = float(nad(short, truth, channel_axis=2)[..., 0].mean()
                 / nad(full, truth, channel_axis=2)[..., 0].mean())
    return _report(_close(answer, want, 1e-3), "warm-up ratio", f"got {_shown(answer)}; forecast {steps} "
                   f"steps after warm-ups of 1 and {warm_up} states, NAD of channel 0 against the truth from "
                   "the last warm-up state on, mean over time, short / full")


def check_led_flop_ratio(answer: float, latent_dim: int, hidden: int = 32) -> bool:
    """Exercise (Ch. 10): operations of 200 LB steps (2 x 3 x 101 populations, ~10 each) over one
    LSTM step (4 H (d_z + H) + H d_z multiply-adds)."""
    want = (200 * 2 * 3 * 101 * 10) / (4 * hidden * (latent_dim + hidden) + hidden * latent_dim)
    return _report(_close(answer, want, 0.05), "operation ratio", f"got {_shown(answer)}; count the lattice-"
                   "Boltzmann operations per time unit (steps x channels x populations x nodes x ~10) and "
                   "the LSTM's (gates and read-out), with d_z your latent size, and divide LB by LSTM")


def _judge_speedup_formula(name: str, answer, rho, latent_speedup) -> bool:
    def formula(r, s):
        return (1 + r) / (1 + r / s)

    hint = ("per cycle of T_m + T_mu steps the solver alone costs (T_m + T_mu) c_S and the scheme "
            "T_m c_L + T_mu c_S; divide, write T_m = rho T_mu and c_S / c_L = S_latent")
    if callable(answer):  # a formula S(rho, s_latent): judged on pairs drawn here
        for r, s in ((5.0, 10.0), (0.5, 3.0), (20.0, 1.5), (100.0, 400.0)):
            out, err = _call(answer, r, s)
            if err:
                return _report(False, name, f"your S({r:g}, {s:g}) raised {err}")
            if not _close(out, formula(r, s), 1e-6):
                return _report(False, name, f"your S(rho={r:g}, S_latent={s:g}) is off; {hint}")
        return _report(True, name, "")
    if rho is None or latent_speedup is None:
        return _report(False, name, "pass rho and the latent speed-up your number was computed for")
    return _report(_close(answer, formula(float(rho), float(latent_speedup)), 1e-3), name,
                   f"got {_shown(answer)}; {hint}")


def check_schedule_speedup(answer, rho: float | None = None, latent_speedup: float | None = None) -> bool:
    """Exercise (Ch. 11): S(rho) of an alternating LED schedule with ``T_m = rho T_mu``, ignoring encoding
    and decoding: your value for ``rho`` and ``latent_speedup``, or your formula ``S(rho, s_latent)`` itself
    (then judged on pairs drawn by the check)."""
    return _judge_speedup_formula("schedule speed-up", answer, rho, latent_speedup)


def check_solver_phase_nad(answer: float, pred, truth, *, T_m: int, T_mu: int) -> bool:
    """Exercise (Ch. 11): mean activator NAD over the solver's steps of a schedule (macro first)."""
    from .metrics import nad

    pred, truth = _tensor(pred), _tensor(truth)
    n = pred.shape[1]
    mask = torch.zeros(n, dtype=torch.bool)
    pos = 0
    while pos < n - 1:
        pos += T_m
        mask[pos + 1: min(pos + T_mu, n - 1) + 1] = True
        pos += T_mu
    want = float(nad(pred, truth, channel_axis=2)[..., 0].mean(0)[mask].mean())
    return _report(_close(answer, want, 0.05), "NAD on solver steps", f"got {_shown(answer)}; average the "
                   "activator NAD (mean over starts) over the steps the solver computed (micro_mask is "
                   "True), not over the hand-over states or the latent phases")


def check_saturation_nad(answer: float, truth) -> bool:
    """Exercise (Ch. 11): NAD between true trajectories i and i+1 (cyclically), mean over all."""
    from .metrics import nad

    truth = _tensor(truth)
    want = float(nad(torch.roll(truth, 1, dims=0), truth).mean())
    return _report(_close(answer, want, 1e-3), "saturation NAD", f"got {_shown(answer)}; compare each true "
                   "trajectory with another one (torch.roll over the batch) with nad(), mean over everything")


# ============================================================================================
# Part III, Chapter 12 (LED on stochastic particles)
# ============================================================================================
def check_particle_moments(m1: float, m2: float, configuration) -> bool:
    """Exercise (Ch. 12): M1 and M2 of one configuration ``[N, d]``, each averaged over the d dimensions."""
    from .metrics import moments

    want1, want2 = (float(v) for v in moments(_tensor(configuration), average_dims=True))
    ok1, ok2 = _close(m1, want1, 1e-4, 1e-7), _close(m2, want2, 1e-4)
    wrong = " and ".join(w for w, ok in (("M1", ok1), ("M2", ok2)) if not ok)
    return _report(ok1 and ok2, "particle moments", f"your {wrong} is off; mean over the particles (axis 0) "
                   "per dimension, population variance (divide by N, not N - 1), then average the d values")


def check_self_similar_wd(answer: float, truth_a, truth_b, runs: int) -> bool:
    """Exercise (Ch. 12): Wasserstein distance between the M2 of two independent true ensembles
    ``[B * runs, T, N, d]`` at the last time, first initial condition."""
    from .metrics import moments, wasserstein

    m2 = [moments(_tensor(x)[:runs, -1], average_dims=True)[1] for x in (truth_a, truth_b)]
    want = wasserstein(m2[0], m2[1])
    return _report(_close(answer, want, 1e-6, 1e-12), "self-similar WD", f"got {_shown(answer)}; take M2 "
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
        return _report(False, name, f"pass your function reversal_gap(encode, x), not "
                       f"{_shown(reversal_gap)}: the check runs it on an encoder that is not permutation "
                       "invariant too")
    encode = model.encode if hasattr(model, "encode") else model
    x = configurations
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    with torch.no_grad():
        scale = float(encode(x).abs().max())
        out, err = _call(reversal_gap, encode, x)
    if err:
        return _report(False, name, f"reversal_gap on the model raised {err}")
    gap = _number(out)
    if gap is None or not (0 <= gap <= 1e-4 * max(1.0, scale)):
        return _report(False, name, f"on the model your gap is {_shown(out)}, far above round-off: reverse "
                       "the particles (dimension -2), not the time or the coordinates, and take max "
                       "|difference|")

    gen = torch.Generator().manual_seed(7)
    probe_x = torch.rand(5, 40, 3, generator=gen, dtype=torch.float64) - 0.5
    weights = torch.linspace(1.0, 2.0, 40, dtype=torch.float64)[:, None]

    def ordered_encode(c):  # a weighted sum over particles: depends on their order
        return (weights * c).sum(dim=-2)

    want = float((ordered_encode(probe_x) - ordered_encode(probe_x.flip(dims=[-2]))).abs().max())
    out, err = _call(reversal_gap, ordered_encode, probe_x.clone())
    if err:
        return _report(False, name, f"reversal_gap on an order-dependent encoder raised {err}")
    return _report(_close(out, want, 1e-6), name, "on an encoder that weights particles by position your "
                   "function gives the wrong gap: encode x and x.flip(dims=[-2]) (the particle axis), and "
                   "return the largest absolute difference of the two latent states")
