"""LED across Péclet numbers (LED Fig. 5, SI 8.2.4 and Fig. 29; ``python -m hitslite.bench peclet``).

The 3-D particles with drift amplitude ``|A|_2 = 2`` and diffusion ``D = 0.02, 0.2, 2``: Péclet numbers
``Pe = L |A|_2 / D = 100, 10, 1``. The micro solver must resolve the diffusion, so its step falls with
``D`` (δt = 1e-2, 1e-3, 1e-4) while LED's coarse step stays Δt = 1: the more diffusive the system, the
dearer the truth and the larger LED's possible speed-up. :func:`peclet_study` measures both sides of that
trade for the zoo's three Péclet entries (``led_peclet_100``, ``led_peclet_10``, ``led_peclet_1``):

* **error** — for each start of the test split (warmed up on its first ``warm_up`` states), ``runs``
  micro-solver runs are the truth; a second, independent set of ``runs`` gives the *self-similar* error
  (two true ensembles differ too), and encoding that second set and sampling it back from the decoder
  gives the *autoencoder* floor (what a perfect latent propagator would score). LED runs latent-only and
  multiscale (``T_m = rho T_mu`` latent steps alternating with ``T_mu`` solver steps) for each ``rho``
  in ``rhos``. Each is scored by the Wasserstein distance between its distribution over runs of the
  moments M1 and M2 and the truth's, at every time after the warm-up, averaged over time and starts
  (SI eq. 24, as Ch. 12);
* **speed-up** — S = solver seconds / LED seconds per time unit for one run (batch 1), timed in the same
  process: the solver over ``solver_units`` coarse steps (its cost per unit is constant), LED latent-only
  over ``latent_units`` steps and over whole ``(T_m, T_mu)`` cycles (at least ``latent_units`` steps) for
  each ``rho`` in ``speedup_rhos`` (a forecast has a fixed cost per call, the first decode, which a few
  steps would not amortise). Beside each measured S sits the
  cost model's ``S(rho) = (1 + rho) / (1 + rho / S_latent)`` (the solver runs a share ``1 / (1 + rho)``
  of the time, the latent steps the rest), which ignores the encodes and decodes at each hand-over.

The paper ran 400 runs from one initial condition to T_f = 3000; the defaults here (2 starts x 16 runs
x 40 time units, about 25 CPU minutes, nearly all of it the Pe = 1 truth) are stated in the record.
"""

from __future__ import annotations

import math
import time

import torch

from .. import validate
from ..device import describe_device
from ..led import measure_speedup
from ..pde_data import particle_dataset
from ..systems import PECLET_DT, get_system

__all__ = ["PECLET_PAPER", "check_arguments", "peclet_study", "speedup_model"]

#: What the LED paper states about the study (Fig. 5, SI 8.2.4, Fig. 29), for the paper-vs-book rows.
PECLET_PAPER = {
    "peclet": [100, 10, 1],
    "D": [0.02, 0.2, 2.0],
    "micro_dt": [1e-2, 1e-3, 1e-4],
    "coarse_dt": 1.0,
    "runs": 400,
    "initial_conditions": 1,
    "T_f": 3000,
    "latent_dim": 8,
    "lstm": 40,
    "samples": "500 training + 500 validation",
    "error_trend": "WD of M1 and M2 falls as Pe falls (Fig. 5A-B, Fig. 29)",
    "speedup_trend": "S grows by orders of magnitude as Pe falls (Fig. 5C)",
}


def speedup_model(s_latent: float, rho: float) -> float:
    """The cost model of multiscale LED: the solver runs a share ``1 / (1 + rho)`` of the time, latent
    propagation (``s_latent`` times faster) the rest, so ``S = (1 + rho) / (1 + rho / s_latent)``.
    ``rho = inf`` gives ``s_latent``; ``rho = 0`` gives 1 (the solver alone)."""
    s_latent = validate.finite_float("s_latent", s_latent)
    if not s_latent > 0:
        raise ValueError(f"s_latent must be > 0, got {s_latent!r}")
    rho = float(rho)
    if not rho >= 0:
        raise ValueError(f"rho must be >= 0 (or inf), got {rho!r}")
    if rho == float("inf"):
        return s_latent
    return (1.0 + rho) / (1.0 + rho / s_latent)


def _moment_wd(x, ref, runs):
    from ..zoo import particles as zp

    pred = zp.run_moments(x, runs)
    out = {}
    for i, m in enumerate(("M1", "M2")):
        wd = zp.moment_errors(pred[i][:, :, 1:], ref[i][:, :, 1:])["wd"]  # times after t0: [starts, horizon]
        out[m] = {"mean": float(wd.mean()), "curve": wd.mean(0).tolist()}
    return out


def _one_peclet(pe: int, *, starts, runs, horizon, t_mu, rhos, speedup_rhos, solver_units, latent_units, seed,
                device, progress) -> dict:
    from ..zoo import particles as zp

    D = zp.PECLET_DIFFUSIVITIES[pe]
    name = zp.PECLET_ENTRIES[pe]
    family = zp.load_particle_led(name, device=device).eval()
    system = get_system("advection_diffusion", dim=3, preset="peclet", D=D)
    warm_up = zp.peclet_config(D)["warm_up"]
    test = particle_dataset("test", dim=3, preset="peclet", D=D, n_steps=warm_up - 1,
                            n_trajectories=starts, seed=0)
    warm = test.x.to(device)
    t0 = float(test.t[warm_up - 1])
    n_configs = starts * runs

    def log(msg):
        if progress:
            print(f"  Pe = {pe}: {msg}", flush=True)

    start = clock = time.perf_counter()
    truth = zp.true_runs(system, warm[:, -1], horizon, runs=runs, t0=t0, seed=seed + 1, progress=False)
    micro_seconds = time.perf_counter() - clock
    log(f"truth: {n_configs} runs x {horizon} units in {micro_seconds:.0f} s")
    truth_b = zp.true_runs(system, warm[:, -1], horizon, runs=runs, t0=t0, seed=seed + 2, progress=False)
    ref = zp.run_moments(truth.x.cpu(), runs)

    ae = family.autoencoder
    with torch.no_grad():
        z_warm = zp.encode_in_chunks(ae, warm)
        z_b = zp.encode_in_chunks(ae, truth_b.x)
        decoded = ae.decode(z_b, generator=torch.Generator().manual_seed(seed + 3))
    wd = {"self-similar": _moment_wd(truth_b.x.cpu(), ref, runs),
          "autoencoder": _moment_wd(decoded.cpu(), ref, runs)}
    schedules = {"latent": (horizon, 0), **{f"rho={r:g}": (int(round(r * t_mu)), t_mu) for r in rhos}}
    with torch.no_grad():
        for k, (label, (t_m, t_micro)) in enumerate(schedules.items()):
            run = zp.led_runs(family, system, warm, horizon, runs=runs, t0=t0, seed=seed + 10 + 2 * k,
                              macro_steps=t_m, micro_steps=t_micro, warm_latent=z_warm)
            wd[label] = _moment_wd(run.x.cpu(), ref, runs)
            log(f"{label}: WD M1 {wd[label]['M1']['mean']:.4f}, M2 {wd[label]['M2']['mean']:.4f}")
    m2_true = ref[1][:, :, 1:]

    # speed-up: one run, batch 1, timed in this process. The solver's cost per unit is constant, so it is
    # timed over `solver_units`; LED's forecasts carry a fixed cost per call (the first decode), so the
    # latent-only rate is taken over `latent_units` steps and each multiscale schedule over whole cycles
    one = warm[:1]
    led = family.led(n_particles=one.shape[-2], generator=torch.Generator().manual_seed(seed + 5))
    micro = zp.micro_solver(system, seed=seed + 6, t0=t0)

    def led_seconds(n_steps, t_m, t_micro):
        best = float("inf")
        with torch.no_grad():
            for _ in range(2):
                traj = led.multiscale_forecast(one, n_steps, micro if t_micro else None, macro_steps=t_m,
                                               micro_steps=t_micro, t0=t0)
                best = min(best, sum(v for key, v in traj.meta["seconds"].items() if key != "warm_up"))
        return best

    base = measure_speedup(led, micro, one, solver_units, macro_steps=solver_units, micro_steps=0, t0=t0,
                           repeats=2)
    solver_per_unit = base["solver_seconds_per_unit"]
    latent_per_unit = led_seconds(latent_units, latent_units, 0) / (latent_units * led.dt)
    s_latent = solver_per_unit / latent_per_unit
    speed = {"latent": {"rho": None, "T_m": latent_units, "T_mu": 0, "S": s_latent, "model": s_latent}}
    for r in speedup_rhos:
        t_m = int(round(r * t_mu))
        cycles = max(1, -(-latent_units // (t_m + t_mu)))  # whole cycles covering at least latent_units
        n = cycles * (t_m + t_mu)
        s = solver_per_unit * n * led.dt / led_seconds(n, t_m, t_mu)
        speed[f"rho={r:g}"] = {"rho": t_m / t_mu, "T_m": t_m, "T_mu": t_mu, "cycles": cycles, "S": s,
                               "model": speedup_model(s_latent, t_m / t_mu)}
    log(f"S latent {s_latent:.0f}; " + ", ".join(f"{k} {v['S']:.1f}" for k, v in speed.items() if v["rho"]))
    return {
        "entry": name, "D": D, "peclet": system.peclet, "micro_dt": system.dt, "coarse_dt": system.save_dt,
        "micro_steps_per_unit": round(system.save_dt / system.dt), "t0": t0, "warm_up": warm_up,
        "micro_seconds_per_run_unit": micro_seconds / (n_configs * horizon),
        "mean_M2_truth": float(m2_true.mean()), "spread_M2_truth": float(m2_true.std(1).mean()),
        "wd": wd,
        "speedup": {"solver_seconds_per_unit": solver_per_unit,
                    "led_latent_seconds_per_unit": latent_per_unit,
                    "solver_units": solver_units, "latent_units": latent_units, "schedules": speed},
        "seconds": time.perf_counter() - start,
    }


def check_arguments(pecletes=(100, 10, 1), *, starts: int = 2, runs: int = 16, horizon: int = 40,
                    t_mu: int = 2, rhos=(4, 9), speedup_rhos=(1, 4, 9, 19, 49), solver_units: int = 3):
    """:func:`peclet_study`'s arguments checked (a clear error naming the bad one) and normalised:
    ``(pecletes, starts, runs, horizon, t_mu, solver_units)``."""
    from ..zoo import particles as zp

    pecletes = tuple(pecletes)
    if not pecletes:
        raise ValueError("pecletes must name at least one of 100, 10, 1")
    for pe in pecletes:
        if pe not in zp.PECLET_ENTRIES:
            raise ValueError(f"pecletes must be among {list(zp.PECLET_ENTRIES)}, got {pe!r}")
    starts = validate.positive_int("starts", starts)
    runs = validate.positive_int("runs", runs)
    if runs < 2:
        raise ValueError(f"runs must be >= 2 (a distribution over runs), got {runs}")
    horizon = validate.positive_int("horizon", horizon)
    t_mu = validate.positive_int("t_mu", t_mu)
    solver_units = validate.positive_int("solver_units", solver_units)
    for arg, values in (("rhos", rhos), ("speedup_rhos", speedup_rhos)):
        for r in values:
            ok = isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r > 0
            if not (ok and round(r * t_mu) >= 1):
                raise ValueError(f"{arg} must be positive numbers with rho * t_mu >= 1, got {r!r}")
    return pecletes, starts, runs, horizon, t_mu, solver_units


def peclet_study(pecletes=(100, 10, 1), *, starts: int = 2, runs: int = 16, horizon: int = 40, t_mu: int = 2,
                 rhos=(4, 9), speedup_rhos=(1, 4, 9, 19, 49), solver_units: int = 3, latent_units: int = 100,
                 seed: int = 0, device=None, progress: bool = False) -> dict:
    """LED's error and speed-up at Péclet numbers ``pecletes`` (subset of 100, 10, 1); see the module
    docstring. ``starts`` initial conditions of the test split, ``runs`` runs each, ``horizon`` coarse
    steps (Δt = 1) after the warm-up; multiscale schedules with ``T_mu = t_mu`` solver steps per cycle.
    Returns the record ``python -m hitslite.bench peclet`` writes (``benchmarks/results/peclet.json``)."""
    pecletes, starts, runs, horizon, t_mu, solver_units = check_arguments(
        pecletes, starts=starts, runs=runs, horizon=horizon, t_mu=t_mu, rhos=rhos, speedup_rhos=speedup_rhos,
        solver_units=solver_units)
    latent_units = validate.positive_int("latent_units", latent_units)
    from ..zoo import particles as zp

    device = torch.device(device or "cpu")
    record = {
        "about": "LED across Péclet numbers (LED Fig. 5, SI 8.2.4): WD of the run distributions of M1 and M2 "
                 "against the micro solver, and the speed-up S against rho",
        "device": describe_device(device),
        "protocol": {"starts": starts, "runs": runs, "horizon": horizon, "t_mu": t_mu, "rhos": list(rhos),
                     "speedup_rhos": list(speedup_rhos), "solver_units": solver_units,
                     "latent_units": latent_units, "seed": seed,
                     "split": "test", "speedup_batch": 1},
        "paper": PECLET_PAPER,
        "micro_dt": {str(pe): PECLET_DT[zp.PECLET_DIFFUSIVITIES[pe]] for pe in pecletes},
        "peclet": {},
    }
    for pe in pecletes:
        record["peclet"][str(pe)] = _one_peclet(
            pe, starts=starts, runs=runs, horizon=horizon, t_mu=t_mu, rhos=tuple(rhos),
            speedup_rhos=tuple(speedup_rhos), solver_units=solver_units, latent_units=latent_units, seed=seed,
            device=device,
            progress=progress)
    return record
