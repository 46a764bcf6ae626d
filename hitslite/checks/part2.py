"""Checks for the exercises of Part II (PDEs, coordinates, L-HiTS), Chapters 7-9."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch

from .common import (
    as_integer,
    as_number,
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
    "KS_L22_LYAPUNOV",
    "check_etdrk4_coefficients", "check_lyapunov_exponent", "check_uniform_variance",
    "check_pca_test_error", "check_energy_dimension", "check_autoencoder_step",
    "check_lhits_forecast", "check_analogue_error",
]

#: Largest Lyapunov exponent of Kuramoto–Sivashinsky with L = 22 (LED SI 8.4), the invariant
#: :func:`check_lyapunov_exponent` judges estimates against.
KS_L22_LYAPUNOV = 0.048


# ============================================================================================
# Chapter 7 (classical PDE and particle solvers)
# ============================================================================================
ETDRK4_COEFFICIENTS = ("E", "E2", "Q", "f1", "f2", "f3")


def _etdrk4_cases() -> list[tuple[str, np.ndarray, float]]:
    """Diagonal operators (their symbols) and steps the ETDRK4 check draws: a KS symbol with its zero
    mode, eigenvalues within 1e-10 .. 1e-2 of zero (where the closed forms cancel), and a stiff spread."""
    rng = np.random.default_rng(2005)
    k = 2 * np.pi * np.arange(33) / rng.uniform(18.0, 26.0)
    near_zero = rng.choice([-1.0, 1.0], 10) * 10.0 ** rng.uniform(-10, -2, 10)
    stiff = np.concatenate([-(10.0 ** rng.uniform(-1, 4, 10)), rng.uniform(0.1, 2.0, 3)])
    return [("a KS-like symbol k^2 - k^4 (with its zero mode)", k**2 - k**4, 0.025),
            ("eigenvalues close to zero", near_zero, float(rng.uniform(0.05, 0.5))),
            ("a stiff operator (eigenvalues from -1e4 to 2)", stiff, float(rng.uniform(0.01, 0.1)))]


def check_etdrk4_coefficients(coefficients: Callable) -> bool:
    """Exercise (Ch. 7): ``coefficients(lin, dt) -> {"E", "E2", "Q", "f1", "f2", "f3": arrays like lin}``,
    the ETDRK4 coefficients of the diagonal operator with symbol ``lin`` (a real 1-D array) and step
    ``dt``. Judged against :func:`hitslite.pde.etdrk4_coefficients` on operators the check draws,
    among them eigenvalues so close to zero that the closed forms lose every digit."""
    from ..pde import etdrk4_coefficients

    name = "ETDRK4 coefficients"
    if not callable(coefficients):
        return report(False, name, f"pass your function coefficients(lin, dt), not {shown(coefficients)}: "
                       "the check calls it on operators of its own")
    for label, lin, dt in _etdrk4_cases():
        want = etdrk4_coefficients(lin, dt)
        out, err = call_student(coefficients, lin.copy(), dt)
        if err:
            return report(False, name, f"for {label} (dt = {dt:.3g}) your function raised {err}")
        if not isinstance(out, dict) or any(key not in out for key in ETDRK4_COEFFICIENTS):
            got = sorted(out) if isinstance(out, dict) else shown(out)
            return report(False, name, "return a dict with the keys 'E', 'E2', 'Q', 'f1', 'f2', 'f3' (one "
                           f"array like lin each), got {got}")
        for key in ETDRK4_COEFFICIENTS:
            got, ref = output_array(out[key]), torch.as_tensor(want[key])
            if got is not None and got.ndim == 0:
                got = got.expand(ref.shape)
            wrong = mismatch(got, ref, rtol=1e-8, atol=1e-14 * dt)
            if wrong is None:
                continue
            if got is None or got.shape != ref.shape:
                return report(False, name, f"for {label}, your {key} is {wrong}: one real value per "
                               "eigenvalue (take the real part of the contour mean)")
            bad = ~torch.isclose(got, ref, rtol=1e-8, atol=1e-14 * dt)
            z = torch.as_tensor(dt * lin)[bad].abs()
            if bool((z < 1e-2).all()):
                hint = ("only where z = dt·lin is close to 0 (|z| < 1e-2): the closed forms cancel there "
                        "(and divide 0 by 0 at z = 0). Average each function over points on a circle of "
                        "radius 1 around z instead (Kassam & Trefethen, Sec. 7.2)")
            elif key in ("E", "E2"):
                hint = "E = exp(z) and E2 = exp(z/2), with z = dt·lin"
            else:
                hint = ("check the formula against Sec. 7.2 (Q uses e^{z/2}, f1..f3 are divided by z^3), the "
                        "factor dt in front, and that z = dt·lin")
            return report(False, name, f"for {label} (dt = {dt:.3g}) your {key} is off at "
                           f"{int(bad.sum())} of {bad.numel()} eigenvalues: {hint}")
    return report(True, name, "")


def check_lyapunov_exponent(estimate: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Exercise (Ch. 7): ``estimate(x0 [B, 64]) -> [B]`` estimates the largest Lyapunov exponent of KS with
    L = 22 from raw initial states (transient included). The check draws four initial states of
    ``get_system("ks", preset="led")`` itself and accepts a mean within 25% of :data:`KS_L22_LYAPUNOV`."""
    from ..systems import get_system

    name = "Lyapunov exponent"
    if not callable(estimate):
        return report(False, name, f"pass your function estimate(x0) -> one exponent per initial state, not "
                       f"{shown(estimate)}: the check runs it from initial states of its own")
    x0 = get_system("ks", preset="led").sample_initial(4, torch.Generator().manual_seed(2024))
    out, err = call_student(estimate, x0.clone())
    if err:
        return report(False, name, f"estimate(x0 [4, 64]) raised {err}")
    lam = as_tensor(out)
    if lam is None or lam.shape != (4,) or not bool(torch.isfinite(lam).all()):
        return report(False, name, f"estimate(x0 [4, 64]) should return 4 finite exponents, got "
                       f"{shown(out)}")
    mean = float(lam.mean())
    ok = abs(mean - KS_L22_LYAPUNOV) <= 0.25 * KS_L22_LYAPUNOV
    return report(ok, name, f"from the check's four initial states your estimates average {mean:.4f}: start "
                   "on the attractor (drop >= 100 time units), renormalise every ~1 time unit, divide the "
                   "sum of log-stretchings by the total time, and average over >= 1000 time units")


def check_uniform_variance(variance: float, positions=None, L: float = 1.0) -> bool:
    """Exercise (Ch. 7): ``positions [..., N, 1]`` (or ``[N]``) of particles reflected in ``[-L/2, L/2]``
    after a long time are uniform there, and ``variance`` is their variance. Judged against the stationary
    invariant: all inside the box, a Kolmogorov–Smirnov distance to the uniform law within sampling noise,
    and a variance within 5% of L^2 / 12."""
    name = "stationary variance"
    if positions is None:
        return report(False, name, "pass the simulated positions too: "
                       "check_uniform_variance(variance, positions)")
    x, got, L = as_tensor(positions), as_number(variance), float(L)
    if x is None or x.numel() < 100:
        return report(False, name, f"positions should hold at least 100 particles, got {shown(positions)}")
    x = x.flatten()
    if got is None or not math.isclose(got, float(x.var()), rel_tol=0.02):
        return report(False, name, f"got {shown(variance)}, which is not the variance of the positions you "
                       "passed: the variance is the mean squared distance from the mean (not the std)")
    if bool((x.abs() > L / 2 + 1e-9).any()):
        return report(False, name, "some particles lie outside [-L/2, L/2]: the walls must reflect them")
    u = torch.sort((x + L / 2) / L).values
    n = u.numel()
    ks = float(torch.maximum(torch.arange(1, n + 1) / n - u, u - torch.arange(n) / n).max())
    ok = ks <= 3 / math.sqrt(n) and abs(got - L**2 / 12) <= 0.05 * L**2 / 12
    return report(ok, name, "your particles are not yet spread uniformly over the box: a uniform density on "
                   "an interval of length L has variance L^2/12; simulate for a few diffusion times L^2/D")


# ============================================================================================
# Chapters 8-9 (learned coordinates, L-HiTS)
# ============================================================================================
def _snapshots(gen: torch.Generator, b: int, t: int, n: int, rank: int, offset: float) -> torch.Tensor:
    """Low-rank snapshots ``[b, t, n]`` far from the origin (a PCA that forgets to centre fails)."""
    basis = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0][:, :rank].T
    scales = torch.logspace(0.5, -0.5, rank, dtype=torch.float64)
    z = torch.randn(b, t, rank, generator=gen, dtype=torch.float64) * scales
    return offset + z @ basis + 0.05 * torch.randn(b, t, n, generator=gen, dtype=torch.float64)


def _pca_mse(fit_on: torch.Tensor, test: torch.Tensor, z: int) -> float:
    from ..nets import PCA

    return float(((PCA(test.shape[-1], z).fit(fit_on)(test) - test) ** 2).mean())


def check_pca_test_error(pca_test_error: Callable) -> bool:
    """Exercise (Ch. 8): ``pca_test_error(train, test, z) -> float``, the test reconstruction MSE (mean over
    snapshots and components) of a ``z``-mode PCA fitted on the *training* snapshots ``[B, T, n]``.
    Judged against :class:`hitslite.nets.PCA` on snapshots the check draws (train and test from
    different trajectories, with a mean far from zero)."""
    name = "PCA test error"
    if not callable(pca_test_error):
        return report(False, name, f"pass your function pca_test_error(train, test, z), not "
                       f"{shown(pca_test_error)}: the check runs it on snapshots of its own")
    gen = torch.Generator().manual_seed(8)
    for n, rank, z in ((12, 5, 2), (9, 4, 3)):
        offset = float(torch.empty(()).uniform_(2.0, 4.0, generator=gen))
        train = _snapshots(gen, 3, 40, n, rank, offset)
        shift = 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
        test = _snapshots(gen, 2, 30, n, rank, offset) + shift
        want = _pca_mse(train, test, z)
        out, err = call_student(pca_test_error, train.clone(), test.clone(), z)
        case = f"snapshots of {n} components, z = {z}"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        got = as_number(out)
        if got is None:
            return report(False, name, f"for {case} your function should return one number, got {shown(out)}")
        if close(got, want, 1e-6):
            continue
        if close(got, _pca_mse(test, test, z), 1e-6):
            hint = "you fitted the basis on the test snapshots (the leak): fit mean and modes on train only"
        else:
            hint = ("centre with the *training* mean, keep the first z right singular vectors of the centred "
                    "training snapshots (flattened to [B*T, n]), project the test snapshots and lift them "
                    "back, and average the squared error over every snapshot and component")
        return report(False, name, f"for {case} your error is off: {hint}")
    return report(True, name, "")


def check_energy_dimension(energy_dimension: Callable) -> bool:
    """Exercise (Ch. 8): ``energy_dimension(snapshots [..., n], fraction) -> int``, the smallest number of
    PCA modes holding ``fraction`` of the variance of the centred snapshots. Judged on snapshots with
    spectra the check designs (and a mean far from zero)."""
    name = "energy dimension"
    if not callable(energy_dimension):
        return report(False, name, f"pass your function energy_dimension(snapshots, fraction), not "
                       f"{shown(energy_dimension)}: the check runs it on snapshots of its own")
    gen = torch.Generator().manual_seed(99)
    for n, decay, fraction in ((10, 0.55, 0.99), (16, 0.8, 0.9), (8, 0.3, 0.5)):
        q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0]
        z = torch.randn(4, 200, n, generator=gen, dtype=torch.float64) * decay ** torch.arange(n)
        x = 5.0 + z @ q.T
        flat = x.reshape(-1, n)
        s2 = torch.linalg.svdvals(flat - flat.mean(dim=0)) ** 2
        want = int((torch.cumsum(s2, 0) / s2.sum() < fraction).sum()) + 1
        out, err = call_student(energy_dimension, x.clone(), fraction)
        case = f"{n} components, fraction {fraction:g}"
        if err:
            return report(False, name, f"for {case} your function raised {err}")
        if as_integer(out) != want:
            return report(False, name, f"for {case} your count is off ({shown(out)}): centre the snapshots, "
                           "square the singular values (variance, not amplitude), accumulate their share "
                           "and return the first count (from 1) at which it reaches the fraction")
    return report(True, name, "")


def check_autoencoder_step(train_step: Callable) -> bool:
    """Exercise (Ch. 8): ``train_step(model, optimizer, batch) -> loss`` makes one optimisation step of an
    :class:`~hitslite.nets.Autoencoder` on snapshots ``batch [N, n]`` with the reconstruction loss of
    eq. (10) in the model's min-max scaled units, and returns that loss (before the step). The check runs
    two steps on small random autoencoders and data of its own and compares the loss values and the
    parameters after each step with :func:`hitslite.nets.reconstruction_loss` and the same optimiser."""
    from ..nets import Autoencoder, reconstruction_loss

    name = "autoencoder training step"
    if not callable(train_step):
        return report(False, name, f"pass your function train_step(model, optimizer, batch), not "
                       f"{shown(train_step)}: the check runs it on autoencoders of its own")
    gen = torch.Generator().manual_seed(10)
    for seed, (n, z, hidden, lr) in enumerate(((7, 2, (9,), 1e-2), (5, 3, (6, 4), 3e-3))):
        model = seeded(seed, lambda n=n, z=z, hidden=hidden: Autoencoder(n, z, hidden=hidden).double())
        spread = torch.logspace(-1, 1, n, dtype=torch.float64)
        data = 3.0 + spread * torch.randn(40, n, generator=gen, dtype=torch.float64)
        model.fit_scaling(data)
        ref, mine = copy.deepcopy(model), copy.deepcopy(model)
        opt_ref = torch.optim.Adam(ref.parameters(), lr=lr)
        opt_mine = torch.optim.Adam(mine.parameters(), lr=lr)
        for step in range(2):
            batch = data[torch.randperm(40, generator=gen)[:16]]
            loss = reconstruction_loss(ref, batch)
            opt_ref.zero_grad()
            loss.backward()
            opt_ref.step()
            before = [p.detach().clone() for p in mine.parameters()]
            out, err = call_student(train_step, mine, opt_mine, batch.clone())
            case = f"autoencoder {n} -> {z}, step {step + 1}"
            if err:
                return report(False, name, f"for the {case} your function raised {err}")
            got = as_number(out.detach() if isinstance(out, torch.Tensor) else out)
            if got is None:
                return report(False, name, f"for the {case} return the loss as one number, got {shown(out)}")
            if not close(got, float(loss.detach()), 1e-8):
                return report(False, name, f"for the {case} your loss is off: compute it before the step, "
                               "in scaled units s(x) = (x - model.shift) / model.scale, as the mean (not the "
                               "sum) of the squared difference between s(x) and its reconstruction")
            same = all(torch.allclose(a, b, rtol=1e-7, atol=1e-10)
                       for a, b in zip(mine.parameters(), ref.parameters()))
            if not same:
                hint = ("the weights did not move: call optimizer.step()"
                        if all(torch.equal(a, b) for a, b in zip(mine.parameters(), before))
                        else "clear the old gradients first (optimizer.zero_grad()), then loss.backward(), "
                             "then optimizer.step() — once each")
                return report(False, name, f"after the {case} your weights differ from one Adam step: {hint}")
    return report(True, name, "")


def _lhits_cases():
    """(autoencoder, latent levels, x0, n_steps, dt, label) for the L-HiTS check, all float64."""
    from ..nets import Autoencoder
    from ..neural import ResNetStepper

    cases = []
    gen = torch.Generator().manual_seed(12)
    for seed, (n, z, dts, dt, n_steps, batch) in enumerate((
            (6, 2, (0.1, 0.2, 0.4), 0.1, 13, 3),     # finest level on the output grid
            (5, 3, (0.4, 0.8), 0.1, 19, 2))):        # finest level coarser than the output grid
        def build(n=n, z=z, dts=dts):
            ae = Autoencoder(n, z, hidden=(8,)).double()
            levels = [ResNetStepper(z, h, hidden=(8,)).double() for h in dts]
            for level in levels:  # steps of a useful size, so the coarse maps matter
                for p in level.parameters():
                    p.data.mul_(0.5)
            return ae, levels

        ae, levels = seeded(20 + seed, build)
        x0 = torch.randn(batch, n, generator=gen, dtype=torch.float64)
        steps = ", ".join(f"{h:g}" for h in dts)
        label = f"levels with steps {steps} on an output grid of {dt:g}, {n_steps} steps"
        cases.append((ae, levels, x0, n_steps, dt, label))
    return cases


def check_lhits_forecast(lhits_forecast: Callable) -> bool:
    """Exercise (Ch. 9): ``lhits_forecast(autoencoder, levels, x0 [B, n], n_steps, dt) -> [B, n_steps+1, n]``
    is L-HiTS Algorithm 1 as a composition: encode ``x0`` once, forecast the latent state with the
    vectorised hierarchy of ``levels`` (interpolating in latent space onto the grid of ``dt``), decode every
    state. Judged against :meth:`hitslite.neural.Latent.forecast` on random small autoencoders and
    random latent steppers the check draws (one case whose finest level is coarser than ``dt``)."""
    from ..multiscale import Hierarchy
    from ..neural import Latent

    name = "L-HiTS forecast"
    if not callable(lhits_forecast):
        return report(False, name, "pass your function lhits_forecast(autoencoder, levels, x0, n_steps, "
                       f"dt), not {shown(lhits_forecast)}: the check runs it on models of its own")
    for ae, levels, x0, n_steps, dt, label in _lhits_cases():
        with torch.no_grad():
            model = Latent(ae, Hierarchy(levels), ae)
            want = model.forecast(x0, n_steps, dt=dt).x
            state_interp = model.forecast(x0, n_steps, dt=dt, interpolate="state").x
            out, err = call_student(lhits_forecast, ae, list(levels), x0.clone(), n_steps, dt)
        if err:
            return report(False, name, f"for {label} your function raised {err}")
        got = output_array(out)
        wrong = mismatch(got, want, rtol=1e-6, atol=1e-9)
        if wrong is None:
            continue
        same_shape = got is not None and got.shape == want.shape
        if same_shape and torch.allclose(got, state_interp, rtol=1e-6, atol=1e-9):
            hint = ("you decoded the computed states and interpolated in the full state: interpolate in "
                    "the latent space and decode every output state (Algorithm 1, lines 11-13)")
        elif got is not None and got.shape[-1] != want.shape[-1]:
            hint = "return decoded states (the full state), not latent ones"
        else:
            hint = ("encode x0 once, run hl.Hierarchy(levels).forecast(z0, n_steps, dt=dt) on the latent "
                    "state, and decode the whole latent trajectory in one call; index 0 is "
                    "decode(encode(x0))")
        return report(False, name, f"for {label} your forecast has {wrong}: {hint}")
    return report(True, name, "")


def check_analogue_error(answer: float, x, stride: int, *, n_queries: int, seed: int) -> bool:
    """Exercise (Ch. 9): the analogue error of trajectories ``x [B, T, n]`` scored in ``x`` itself, relative
    to ``x``'s variance, with ``torch.Generator().manual_seed(seed)`` drawing the queries."""
    from ..metrics import analogue_error

    x = as_tensor(x)
    want = analogue_error(x, x, int(stride), n_queries=n_queries,
                          generator=torch.Generator().manual_seed(seed)) / float(x.var())
    return report(close(answer, want, 1e-6), "analogue error", f"got {shown(answer)}; "
                   "analogue_error(x, x, stride, ...) divided by x.var(), with a generator seeded as stated")
