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
  process (:func:`_speedups`): the solver over about ``solver_seconds`` of whole units (its cost per unit
  is constant), LED latent-only over ``latent_units`` steps, and multiscale LED over whole
  ``(T_m, T_mu)`` cycles covering at least ``schedule_units`` steps, for each ``rho`` in
  ``speedup_rhos``; the fastest of ``rounds`` interleaved rounds of each. Beside each measured S sits the
  cost model's ``S(rho) = (1 + rho) / (1 + rho / S_latent)`` (the solver runs a share ``1 / (1 + rho)``
  of the time, the latent steps the rest), which ignores the encodes and decodes at each hand-over.

The paper ran 400 runs from one initial condition to T_f = 3000; the defaults here (2 starts x 16 runs
x 40 time units, about 20 CPU minutes, nearly all of it the Pe = 1 truth) are stated in the record.
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

__all__ = ["PECLET_PAPER", "check_arguments", "moment_distances", "peclet_study", "speedup_model"]

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


def moment_distances(x: torch.Tensor, ref, runs: int) -> dict:
    """Wasserstein distance between the run distributions of M1 and M2 of ``x [B * runs, T, N, d]`` and
    reference moments ``ref`` (:func:`hitslite.zoo.particles.run_moments` of the truth), at every time
    after the first: ``{"M1": {"mean": float, "curve": [T - 1]}, "M2": ...}``, the curve averaged over the
    starts and the mean over starts and times."""
    from ..zoo import particles as zp

    pred = zp.run_moments(x, runs)
    out = {}
    for i, m in enumerate(("M1", "M2")):
        wd = zp.moment_errors(pred[i][:, :, 1:], ref[i][:, :, 1:])["wd"]  # times after t0: [starts, horizon]
        out[m] = {"mean": float(wd.mean()), "curve": wd.mean(0).tolist()}
    return out


def _speedups(family, system, one, t0, *, t_mu, speedup_rhos, timing, seed) -> dict:
    """S of latent-only and multiscale LED over the micro solver for one run (batch 1), timed in this process.

    The solver's cost per unit is constant: it is timed over as many whole units as take about
    ``timing["solver_seconds"]``; LED latent-only over ``timing["latent_units"]`` steps; each multiscale
    schedule over whole cycles covering at least ``timing["schedule_units"]`` steps. A single short timing on
    a shared machine is noisy (a 3-unit solver timing at Pe = 100 varied by 50 % between calls), so all of
    them are repeated in ``timing["rounds"]`` interleaved rounds and the fastest of each is kept."""
    from ..zoo import particles as zp

    led = family.led(n_particles=one.shape[-2], generator=torch.Generator().manual_seed(seed + 5))
    micro = zp.micro_solver(system, seed=seed + 6, t0=t0)
    first = measure_speedup(led, micro, one, 1, macro_steps=1, micro_steps=0, t0=t0)
    first = first["solver_seconds_per_unit"]
    solver_units = max(1, min(100, math.ceil(timing["solver_seconds"] / first)))
    latent_units = timing["latent_units"]
    plan = {}
    for r in speedup_rhos:
        t_m = int(round(r * t_mu))
        cycles = max(1, math.ceil(timing["schedule_units"] / (t_m + t_mu)))
        plan[f"rho={r:g}"] = (cycles * (t_m + t_mu), t_m, t_mu)
    solver_best, latent_best, led_best = math.inf, math.inf, dict.fromkeys(plan, math.inf)
    with torch.no_grad():
        for _ in range(timing["rounds"]):
            base = measure_speedup(led, micro, one, solver_units, macro_steps=latent_units, micro_steps=0,
                                   led_steps=latent_units, t0=t0)
            solver_best = min(solver_best, base["solver_seconds_per_unit"])
            latent_best = min(latent_best, base["led_seconds_per_unit"])
            for key, (n, t_m, t_micro) in plan.items():
                traj = led.multiscale_forecast(one, n, micro, macro_steps=t_m, micro_steps=t_micro, t0=t0)
                sec = sum(v for k, v in traj.meta["seconds"].items() if k != "warm_up")
                led_best[key] = min(led_best[key], sec / (n * led.dt))
    s_latent = solver_best / latent_best
    schedules = {"latent": {"rho": None, "T_m": latent_units, "T_mu": 0, "steps_timed": latent_units,
                            "led_seconds_per_unit": latent_best, "S": s_latent, "model": s_latent}}
    for key, (n, t_m, t_micro) in plan.items():
        schedules[key] = {"rho": t_m / t_micro, "T_m": t_m, "T_mu": t_micro, "steps_timed": n,
                          "led_seconds_per_unit": led_best[key], "S": solver_best / led_best[key],
                          "model": speedup_model(s_latent, t_m / t_micro)}
    return {"solver_seconds_per_unit": solver_best, "solver_units": solver_units, "batch": int(one.shape[0]),
            **timing, "schedules": schedules}


def _one_peclet(pe: int, *, starts, runs, horizon, t_mu, rhos, speedup_rhos, timing, seed, device,
                progress) -> dict:
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
    wd = {"self-similar": moment_distances(truth_b.x.cpu(), ref, runs),
          "autoencoder": moment_distances(decoded.cpu(), ref, runs)}
    schedules = {"latent": (horizon, 0), **{f"rho={r:g}": (int(round(r * t_mu)), t_mu) for r in rhos}}
    with torch.no_grad():
        for k, (label, (t_m, t_micro)) in enumerate(schedules.items()):
            run = zp.led_runs(family, system, warm, horizon, runs=runs, t0=t0, seed=seed + 10 + 2 * k,
                              macro_steps=t_m, micro_steps=t_micro, warm_latent=z_warm)
            wd[label] = moment_distances(run.x.cpu(), ref, runs)
            log(f"{label}: WD M1 {wd[label]['M1']['mean']:.4f}, M2 {wd[label]['M2']['mean']:.4f}")
    m2_true = ref[1][:, :, 1:]

    speed = _speedups(family, system, warm[:1], t0, t_mu=t_mu, speedup_rhos=speedup_rhos, timing=timing,
                      seed=seed)
    log(f"S latent {speed['schedules']['latent']['S']:.0f}; " + ", ".join(
        f"{k} {v['S']:.1f} (model {v['model']:.1f})" for k, v in speed["schedules"].items() if v["rho"]))
    return {
        "entry": name, "D": D, "peclet": system.peclet, "micro_dt": system.dt, "coarse_dt": system.save_dt,
        "micro_steps_per_unit": round(system.save_dt / system.dt), "t0": t0, "warm_up": warm_up,
        "micro_seconds_per_run_unit": micro_seconds / (n_configs * horizon),
        "mean_M2_truth": float(m2_true.mean()), "spread_M2_truth": float(m2_true.std(1).mean()),
        "wd": wd, "speedup": speed,
        "seconds": time.perf_counter() - start,
    }


def check_arguments(pecletes=(100, 10, 1), *, starts: int = 2, runs: int = 16, horizon: int = 40,
                    t_mu: int = 2, rhos=(4, 9), speedup_rhos=(1, 4, 9, 19, 49)):
    """:func:`peclet_study`'s arguments checked (a clear error naming the bad one) and normalised:
    ``(pecletes, starts, runs, horizon, t_mu)``."""
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
    for arg, values in (("rhos", rhos), ("speedup_rhos", speedup_rhos)):
        for r in values:
            ok = isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r > 0
            if not (ok and round(r * t_mu) >= 1):
                raise ValueError(f"{arg} must be positive numbers with rho * t_mu >= 1, got {r!r}")
    return pecletes, starts, runs, horizon, t_mu


def peclet_study(pecletes=(100, 10, 1), *, starts: int = 2, runs: int = 16, horizon: int = 40, t_mu: int = 2,
                 rhos=(4, 9), speedup_rhos=(1, 4, 9, 19, 49), solver_seconds: float = 1.0,
                 latent_units: int = 100, schedule_units: int = 20, rounds: int = 3, seed: int = 0,
                 device=None, progress: bool = False) -> dict:
    """LED's error and speed-up at Péclet numbers ``pecletes`` (subset of 100, 10, 1); see the module
    docstring. ``starts`` initial conditions of the test split, ``runs`` runs each, ``horizon`` coarse
    steps (Δt = 1) after the warm-up; multiscale schedules with ``T_mu = t_mu`` solver steps per cycle.
    Returns the record ``python -m hitslite.bench peclet`` writes (``benchmarks/results/peclet.json``)."""
    pecletes, starts, runs, horizon, t_mu = check_arguments(
        pecletes, starts=starts, runs=runs, horizon=horizon, t_mu=t_mu, rhos=rhos, speedup_rhos=speedup_rhos)
    solver_seconds = validate.finite_float("solver_seconds", solver_seconds)
    if solver_seconds <= 0:
        raise ValueError(f"solver_seconds must be > 0, got {solver_seconds!r}")
    timing = {"solver_seconds": solver_seconds,
              "latent_units": validate.positive_int("latent_units", latent_units),
              "schedule_units": validate.positive_int("schedule_units", schedule_units),
              "rounds": validate.positive_int("rounds", rounds)}
    from ..zoo import particles as zp

    device = torch.device(device or "cpu")
    record = {
        "about": "LED across Péclet numbers (LED Fig. 5, SI 8.2.4): WD of the run distributions of M1 and M2 "
                 "against the micro solver, and the speed-up S against rho",
        "device": describe_device(device),
        "protocol": {"starts": starts, "runs": runs, "horizon": horizon, "t_mu": t_mu, "rhos": list(rhos),
                     "speedup_rhos": list(speedup_rhos), **timing, "seed": seed,
                     "split": "test", "speedup_batch": 1},
        "paper": PECLET_PAPER,
        "micro_dt": {str(pe): PECLET_DT[zp.PECLET_DIFFUSIVITIES[pe]] for pe in pecletes},
        "peclet": {},
    }
    for pe in pecletes:
        record["peclet"][str(pe)] = _one_peclet(
            pe, starts=starts, runs=runs, horizon=horizon, t_mu=t_mu, rhos=tuple(rhos),
            speedup_rhos=tuple(speedup_rhos), timing=timing, seed=seed, device=device,
            progress=progress)
    return record
